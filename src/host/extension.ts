/**
 * Extension entry point: wiring only. Commands, views and the engine client are created here and
 * registered for disposal.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import * as engineProtocol from '../shared/engineProtocol';
import { describeModel } from '../shared/engineProtocol';
import { CheckpointsTree, type TreeNode } from './checkpointsTree';
import { CircuitTests } from './circuitTests';
import { createPromptSetFromFactsCommand, type FactsCommandOptions } from './factsCommand';
import { addPromptSetCommand, compareCommand, discoverCommand, evolveCommand, openCircuitCommand, resultsDir, showError, type CommandOptions, type Context } from './commands';
import { onDidStartDemo, openDemoRunCommand, type DemoRunOptions } from './demoRun';
import type { DemoChild } from './demoProcess';
import { EngineClient, EngineError } from './engineClient';
import { registerExports } from './exports';
import { checkUsable, convertCheckpointCommand, ProblemsView } from './problems';
import { onDidShowError, showErrorMessage } from './notify';

/** What activate() returns: for tests and for other extensions. */
export interface CircuitscopeApi {
  readonly engine: EngineClient;
  readonly tree: CheckpointsTree;
  /** Rescans the workspace now. */
  refresh(): Promise<void>;
  /**
   * The request types of this extension's own bundle. Another bundle's copies of vscode-jsonrpc's
   * RequestType are not interchangeable with these, so callers use these.
   */
  readonly protocol: typeof engineProtocol;
  /** Fires with the text of every error message the extension shows (tests count them). */
  readonly onDidShowError: vscode.Event<string>;
  /** The circuit regression tests of the Testing view. */
  readonly tests: CircuitTests;
  /** Fires when Open the Demo Run starts making the demo run (its child process and output folder). */
  readonly onDidStartDemo: vscode.Event<DemoChild>;
}

// Longer than 80 lines: a flat list of the extension's registrations (commands, views, watchers,
// providers), each one or two lines; splitting it would only hide which command does what.
export function activate(context: vscode.ExtensionContext): CircuitscopeApi {
  const log = vscode.window.createOutputChannel('Circuitscope', { log: true });
  const engine = new EngineClient(context.asAbsolutePath(path.join('dist', 'engine.js')), log);
  const tree = new CheckpointsTree();
  const problems = new ProblemsView();
  const view = vscode.window.createTreeView('circuits.checkpoints', { treeDataProvider: tree, canSelectMany: true, showCollapseAll: true });
  context.subscriptions.push(log, engine, view, problems);
  context.subscriptions.push(vscode.languages.registerCodeActionsProvider({ scheme: 'file' }, problems, { providedCodeActionKinds: ProblemsView.fixKinds }));

  const refresh = async (): Promise<void> => {
    if (!vscode.workspace.isTrusted) {
      tree.update(undefined, 'Restricted Mode: checkpoints are not read until the workspace is trusted.');
      await vscode.commands.executeCommand('setContext', 'circuitscope.checkpointFolders', []);
      return;
    }
    const roots = (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath);
    if (roots.length === 0) {
      tree.update(undefined, 'Open a folder with checkpoints to use Circuitscope.');
      return;
    }
    try {
      const scan = await engine.request(engineProtocol.scanWorkspace, { roots, resultsDir: resultsDir() });
      tree.update(scan);
      problems.update(scan.problems);
      // The Explorer shows Discover Circuits only on these folders: runs with a usable checkpoint, usable checkpoints.
      const usable = (c: engineProtocol.CheckpointEntry) => !c.problem;
      const folders = [...scan.runs.filter((r) => r.checkpoints.some(usable)).map((r) => r.dir), ...[...scan.runs.flatMap((r) => r.checkpoints), ...scan.checkpoints].filter(usable).map((c) => c.dir)];
      await vscode.commands.executeCommand('setContext', 'circuitscope.checkpointFolders', folders);
      // The walkthrough's steps are done when what they make exists, not when their command starts
      // (a Create Prompt Set from Facts that is cancelled makes nothing).
      await vscode.commands.executeCommand('setContext', 'circuitscope.hasCheckpoint', folders.length > 0);
      await vscode.commands.executeCommand('setContext', 'circuitscope.hasPromptSet', scan.promptSets.some((p) => !p.problem));
      await vscode.commands.executeCommand('setContext', 'circuitscope.hasCircuit', scan.results.length > 0);
    } catch (e) {
      // A stopped engine (the client reported it) leaves the last scan in the tree; the next change rescans.
      if (!(e instanceof EngineError && e.reported)) tree.update(undefined, `Scanning failed: ${(e as Error).message}`);
      showError(ctx, 'scanning the workspace failed', e);
    }
  };
  const ctx: Context = { extension: context, engine, tree, log, refresh };

  // Rescan when checkpoints, prompt sets or results change, at most once a second.
  let timer: NodeJS.Timeout | undefined;
  const soon = () => {
    clearTimeout(timer);
    timer = setTimeout(() => void refresh(), 1000);
  };
  const watcher = vscode.workspace.createFileSystemWatcher('**/{config.json,*.safetensors,*.safetensors.index.json,pytorch_model.bin,pytorch_model.bin.index.json,model.pt,model.pth,tokenizer.json,vocab.json,merges.txt,*.jsonl,*.csv,*.circuit.json}');
  context.subscriptions.push(watcher, watcher.onDidCreate(soon), watcher.onDidDelete(soon), watcher.onDidChange(soon));
  context.subscriptions.push(vscode.workspace.onDidChangeWorkspaceFolders(soon), vscode.workspace.onDidGrantWorkspaceTrust(soon), { dispose: () => clearTimeout(timer) });

  context.subscriptions.push(
    // Explorer menus pass (uri, selectedUris); scripts and tests may pass (uri, options).
    vscode.commands.registerCommand('circuits.discover', async (arg?: unknown, opts?: unknown) => {
      // An unusable checkpoint is refused with its reason before any prompt set is asked for.
      const dir = checkpointArg(arg, tree);
      if (dir && vscode.workspace.isTrusted && !(await checkUsable(engine, problems, dir, tree.allCheckpoints()).catch((e: unknown) => (showError(ctx, 'checking the checkpoint failed', e), false)))) return undefined;
      return discoverCommand(ctx, arg, isOptions(opts) ? opts : {});
    }),
    vscode.commands.registerCommand('circuits.convertCheckpoint', (arg?: unknown) => convertCheckpointCommand(problems, arg)),
    vscode.commands.registerCommand('circuits.revealInExplorer', (node?: unknown) => {
      const file = pathOf(node);
      return file ? vscode.commands.executeCommand('revealInExplorer', vscode.Uri.file(file)) : undefined;
    }),
    vscode.commands.registerCommand('circuits.copyPath', async (node?: unknown) => {
      const file = pathOf(node);
      if (file) await vscode.env.clipboard.writeText(file);
      return file;
    }),
    vscode.commands.registerCommand('circuits.openCircuit', (uri?: vscode.Uri) => openCircuitCommand(ctx, uri)),
    vscode.commands.registerCommand('circuits.compare', (arg?: unknown, many?: unknown, opts?: unknown) =>
      compareCommand(ctx, arg, Array.isArray(many) ? many : view.selection.length >= 2 ? [...view.selection] : undefined, isOptions(opts) ? opts : {}),
    ),
    vscode.commands.registerCommand('circuits.evolve', (arg?: unknown, opts?: unknown) => evolveCommand(ctx, arg, isOptions(opts) ? opts : {})),
    vscode.commands.registerCommand('circuits.refresh', () => refresh()),
    vscode.commands.registerCommand('circuits.addPromptSet', () => addPromptSetCommand(ctx)),
    vscode.commands.registerCommand('circuits.createPromptSetFromFacts', (arg?: unknown, opts?: FactsCommandOptions) => createPromptSetFromFactsCommand(ctx, arg, opts)),
    vscode.commands.registerCommand('circuits.openPromptFile', (node?: { entry?: { file: string } }) => (node?.entry ? vscode.window.showTextDocument(vscode.Uri.file(node.entry.file)) : undefined)),
    vscode.commands.registerCommand('circuits.describeCheckpoint', async (uri?: vscode.Uri) => {
      const target = uri ?? (await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, openLabel: 'Describe Checkpoint' }))?.[0];
      if (!target) return undefined;
      try {
        const s = await engine.request(describeModel, { dir: target.fsPath });
        const msg = `${s.architecture}: ${s.nLayers} layers × ${s.nHeads} heads, d_model ${s.dModel}, ${(s.parameters / 1e6).toFixed(2)}M parameters`;
        void vscode.window.showInformationMessage(msg);
        return s;
      } catch (e) {
        const err = e as EngineError;
        log.error(err.message);
        if (!err.reported) showErrorMessage(err.message);
        return undefined;
      }
    }),
    vscode.commands.registerCommand('circuits.showLog', () => log.show()),
    vscode.commands.registerCommand('circuits.openDemoRun', (opts?: unknown) => openDemoRunCommand(ctx, isDemoOptions(opts) ? opts : {})),
  );
  registerExports(ctx);
  const tests = new CircuitTests(ctx);
  context.subscriptions.push(tests);
  void refresh();
  void tests.discoverAll();
  return { engine, tree, refresh, protocol: engineProtocol, onDidShowError, tests, onDidStartDemo };
}

/** The file or folder of a tree node (or an Explorer URI): what Reveal in Explorer and Copy Path act on. */
function pathOf(node: unknown): string | undefined {
  if (node instanceof vscode.Uri) return node.fsPath;
  const n = node as TreeNode | undefined;
  switch (n?.kind) {
    case 'checkpoint':
      return n.entry.dir;
    case 'run':
      return n.dir;
    case 'promptSet':
      return n.entry.file;
    case 'result':
      return n.result.file;
    default:
      return undefined;
  }
}

/** The checkpoint folder Discover was invoked on (not a run folder: its checkpoint is picked after). */
function checkpointArg(arg: unknown, tree: CheckpointsTree): string | undefined {
  const n = arg as TreeNode | undefined;
  const dir = arg instanceof vscode.Uri ? arg.fsPath : n?.kind === 'checkpoint' ? n.entry.dir : undefined;
  if (!dir || tree.current?.runs.some((r) => path.resolve(r.dir) === path.resolve(dir))) return undefined;
  return dir;
}

function isOptions(x: unknown): x is CommandOptions {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && !(x instanceof vscode.Uri) && ('promptsFile' in x || 'noView' in x || 'cancel' in x);
}

function isDemoOptions(x: unknown): x is DemoRunOptions {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && !(x instanceof vscode.Uri) && ('location' in x || 'cancel' in x);
}

export function deactivate(): void {
  // Disposables registered on the context stop the engine.
}
