/**
 * Extension entry point: wiring only. Commands, views and the engine client are created here and
 * registered for disposal.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import * as engineProtocol from '../shared/engineProtocol';
import { describeModel } from '../shared/engineProtocol';
import { CheckpointsTree } from './checkpointsTree';
import { addPromptSetCommand, compareCommand, discoverCommand, openCircuitCommand, openDemoRunCommand, resultsDir, showError, type CommandOptions, type Context } from './commands';
import { EngineClient, EngineError } from './engineClient';
import { registerExports } from './exports';

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
}

export function activate(context: vscode.ExtensionContext): CircuitscopeApi {
  const log = vscode.window.createOutputChannel('Circuitscope', { log: true });
  const engine = new EngineClient(context.asAbsolutePath(path.join('dist', 'engine.js')), log);
  const tree = new CheckpointsTree();
  const view = vscode.window.createTreeView('circuits.checkpoints', { treeDataProvider: tree, canSelectMany: true, showCollapseAll: true });
  context.subscriptions.push(log, engine, view);

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
      // The Explorer shows Discover Circuits only on these folders.
      const folders = [...scan.runs.map((r) => r.dir), ...scan.runs.flatMap((r) => r.checkpoints.map((c) => c.dir)), ...scan.checkpoints.map((c) => c.dir)];
      await vscode.commands.executeCommand('setContext', 'circuitscope.checkpointFolders', folders);
    } catch (e) {
      tree.update(undefined, `Scanning failed: ${(e as Error).message}`);
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
  const watcher = vscode.workspace.createFileSystemWatcher('**/{config.json,*.safetensors,*.safetensors.index.json,*.jsonl,*.csv,*.circuit.json}');
  context.subscriptions.push(watcher, watcher.onDidCreate(soon), watcher.onDidDelete(soon), watcher.onDidChange(soon));
  context.subscriptions.push(vscode.workspace.onDidChangeWorkspaceFolders(soon), vscode.workspace.onDidGrantWorkspaceTrust(soon), { dispose: () => clearTimeout(timer) });

  context.subscriptions.push(
    // Explorer menus pass (uri, selectedUris); scripts and tests may pass (uri, options).
    vscode.commands.registerCommand('circuits.discover', (arg?: unknown, opts?: unknown) => discoverCommand(ctx, arg, isOptions(opts) ? opts : {})),
    vscode.commands.registerCommand('circuits.openCircuit', (uri?: vscode.Uri) => openCircuitCommand(ctx, uri)),
    vscode.commands.registerCommand('circuits.compare', (arg?: unknown, many?: unknown, opts?: unknown) =>
      compareCommand(ctx, arg, Array.isArray(many) ? many : view.selection.length >= 2 ? [...view.selection] : undefined, isOptions(opts) ? opts : {}),
    ),
    vscode.commands.registerCommand('circuits.refresh', () => refresh()),
    vscode.commands.registerCommand('circuits.addPromptSet', () => addPromptSetCommand(ctx)),
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
        void vscode.window.showErrorMessage(`Circuitscope: ${err.message}`);
        return undefined;
      }
    }),
    vscode.commands.registerCommand('circuits.showLog', () => log.show()),
    vscode.commands.registerCommand('circuits.openDemoRun', () => openDemoRunCommand(ctx)),
  );
  registerExports(ctx);
  void refresh();
  return { engine, tree, refresh, protocol: engineProtocol };
}

function isOptions(x: unknown): x is CommandOptions {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && !(x instanceof vscode.Uri) && ('promptsFile' in x || 'noView' in x);
}

export function deactivate(): void {
  // Disposables registered on the context stop the engine.
}
