/**
 * Command implementations. Each asks the engine for the work and shows the result; none computes.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import * as protocol from '../shared/engineProtocol';
import type { CheckpointEntry, DiscoverSettings, PromptSetEntry } from '../shared/engineProtocol';
import { discoverDefaults as d, discoverSettingKeys as key } from '../shared/methods';
import { CircuitPanel } from './circuitPanel';
import type { CheckpointsTree, TreeNode } from './checkpointsTree';
import { EngineClient, EngineError } from './engineClient';
import { showErrorMessage } from './notify';

export interface Context {
  readonly extension: vscode.ExtensionContext;
  readonly engine: EngineClient;
  readonly tree: CheckpointsTree;
  readonly log: vscode.LogOutputChannel;
  readonly refresh: () => Promise<void>;
}

const restrictedMessage = 'Circuitscope reads checkpoint files and runs models only in trusted workspaces (Restricted Mode is on). Trust this workspace to discover circuits.';

export function settings(): DiscoverSettings {
  const c = vscode.workspace.getConfiguration('circuitscope');
  const topN = c.get<number>(key.topN, d.topN);
  return {
    method: c.get(key.method, d.method),
    steps: c.get<number>(key.steps, d.steps),
    // 0 asks for the paper's share of edges, which the engine chooses per model.
    topN: topN > 0 ? topN : undefined,
    batchSize: c.get<number>(key.batchSize, d.batchSize),
    prependBos: c.get<boolean>(key.prependBos, d.prependBos),
    threads: c.get<number>(key.threads, d.threads),
    device: c.get<'auto' | 'cpu' | 'cuda'>(key.device, d.device),
    execution: c.get<'auto' | 'whole' | 'streamed'>(key.execution, d.execution),
    memoryBudgetMiB: c.get<number>(key.memoryBudgetMiB, d.memoryBudgetMiB),
  };
}

function workspaceRoot(): string | undefined {
  return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
}

/** Where discovered circuits go (setting circuitscope.resultsFolder, relative to the workspace). */
export function resultsDir(): string | undefined {
  const root = workspaceRoot();
  if (!root) return undefined;
  return path.resolve(root, vscode.workspace.getConfiguration('circuitscope').get<string>('resultsFolder', '.circuitscope'));
}

function cacheDir(): string {
  const folder = vscode.workspace.getConfiguration('circuitscope').get<string>('cacheFolder', '');
  return folder ? path.resolve(workspaceRoot() ?? '.', folder) : path.join(resultsDir() ?? '.', 'cache');
}

/** Whether an engine request ended because the user (or a script's token) cancelled it. */
function isCancellation(e: unknown): boolean {
  return e instanceof vscode.CancellationError || (e instanceof Error && /^cancelled$/.test(e.message));
}

/** Shows an engine failure; cancellation is not one. */
export function showError(ctx: Context, what: string, e: unknown): void {
  if (e instanceof vscode.CancellationError) return;
  // A stopped engine process is reported once by the engine client; its log line names the request.
  if (e instanceof EngineError && e.reported) {
    ctx.log.warn(`${what}: ${e.message}`);
    return;
  }
  const msg = e instanceof EngineError || e instanceof Error ? e.message : String(e);
  if (/^cancelled$/.test(msg)) return;
  ctx.log.error(`${what}: ${msg}`);
  showErrorMessage(`${what}: ${msg}`);
}

function trusted(): boolean {
  if (vscode.workspace.isTrusted) return true;
  void vscode.window.showWarningMessage(restrictedMessage);
  return false;
}

/** The folder a command was invoked on: an Explorer URI, a tree node, or nothing. */
function folderOf(arg: unknown): string | undefined {
  if (arg instanceof vscode.Uri) return arg.fsPath;
  const node = arg as TreeNode | undefined;
  if (node?.kind === 'checkpoint') return node.entry.dir;
  if (node?.kind === 'run') return node.dir;
  return undefined;
}

async function pickCheckpoint(ctx: Context, title: string, within?: string): Promise<string | undefined> {
  const run = ctx.tree.current?.runs.find((r) => path.resolve(r.dir) === path.resolve(within ?? ''));
  const candidates: CheckpointEntry[] = run ? [...run.checkpoints].reverse() : ctx.tree.allCheckpoints();
  const usable = candidates.filter((c) => !c.problem);
  if (usable.length === 0) {
    void vscode.window.showWarningMessage('Circuitscope: no usable checkpoint folder in the workspace (a folder with config.json, safetensors and a tokenizer).');
    return undefined;
  }
  if (usable.length === 1 && !run) return usable[0].dir;
  const pick = await vscode.window.showQuickPick(
    usable.map((c) => ({ label: path.basename(c.dir), description: c.summary ? `${c.summary.architecture} · ${c.summary.nLayers}×${c.summary.nHeads}` : '', detail: c.dir, dir: c.dir })),
    { title, placeHolder: run ? `A checkpoint of ${path.basename(run.dir)} (latest first)` : 'A checkpoint folder' },
  );
  return pick?.dir;
}

const lastPromptsKey = 'circuitscope.lastPromptSet';

async function pickPromptSet(ctx: Context): Promise<string | undefined> {
  const sets: PromptSetEntry[] = ctx.tree.current?.promptSets ?? [];
  const last = ctx.extension.workspaceState.get<string>(lastPromptsKey);
  const items = sets
    .map((s) => ({ label: path.basename(s.file), description: s.problem ?? `${s.prompts.length} prompts · ${s.format}`, detail: s.file, file: s.file as string | undefined }))
    .sort((a, b) => (a.file === last ? -1 : b.file === last ? 1 : 0));
  items.push({ label: '$(folder-opened) Browse…', description: 'a .jsonl, .csv or .json prompt set', detail: '', file: undefined });
  const pick = await vscode.window.showQuickPick(items, { title: 'Prompt set', placeHolder: last ? `Last used: ${path.basename(last)}` : 'Which prompts define the knowledge?' });
  if (!pick) return undefined;
  let file = pick.file;
  if (!file) {
    const uri = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { 'Prompt sets': ['jsonl', 'csv', 'json'] }, openLabel: 'Use Prompt Set' });
    file = uri?.[0]?.fsPath;
  }
  if (file) await ctx.extension.workspaceState.update(lastPromptsKey, file);
  return file;
}

/**
 * Runs an engine request under a cancellable progress notification fed by the engine's progress;
 * `also` (a script's or test's token) cancels it as the notification's Cancel button does.
 */
async function withEngineProgress<T>(ctx: Context, title: string, run: (token: string, cancel: vscode.CancellationToken) => Promise<T>, also?: vscode.CancellationToken): Promise<T> {
  const token = crypto.randomUUID();
  return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, async (progress, button) => {
    const either = new vscode.CancellationTokenSource();
    const subs = [button.onCancellationRequested(() => either.cancel()), also?.onCancellationRequested(() => either.cancel())];
    if (button.isCancellationRequested || also?.isCancellationRequested) either.cancel();
    const cancel = either.token;
    let last = 0;
    const sub = ctx.engine.onProgress((p) => {
      if (p.token !== token) return;
      if (p.cost) ctx.log.info(`${title}: ${p.message}`);
      const pct = p.fraction !== undefined ? Math.round(p.fraction * 100) : undefined;
      progress.report({ message: p.message, increment: pct !== undefined && pct > last ? pct - last : undefined });
      if (pct !== undefined) last = Math.max(last, pct);
    });
    try {
      return await run(token, cancel);
    } finally {
      sub.dispose();
      for (const s of subs) s?.dispose();
      either.dispose();
    }
  });
}

/** Arguments scripts and tests may pass instead of answering the pickers. */
export interface CommandOptions {
  readonly promptsFile?: string;
  /** Do not open the view afterwards. */
  readonly noView?: boolean;
  /** Cancels the run, as the progress notification's Cancel button does. */
  readonly cancel?: vscode.CancellationToken;
  /** Discover even when the results folder holds this discovery already (the toast's Recompute button). */
  readonly recompute?: boolean;
}

/** The toast of a Discover that reopened the existing circuit instead of computing it again. */
export const reusedMessage = 'Circuitscope: opened the existing circuit (same checkpoint, prompts and settings).';

export async function discoverCommand(ctx: Context, arg?: unknown, opts: CommandOptions = {}): Promise<string | undefined> {
  if (!trusted()) return undefined;
  const folder = folderOf(arg);
  const isRun = folder !== undefined && ctx.tree.current?.runs.some((r) => path.resolve(r.dir) === path.resolve(folder));
  const dir = folder && !isRun ? folder : await pickCheckpoint(ctx, 'Discover circuits in…', isRun ? folder : undefined);
  if (!dir) return undefined;
  const promptsFile = opts.promptsFile ?? (await pickPromptSet(ctx));
  if (!promptsFile) return undefined;
  const out = path.join(resultsDir() ?? path.dirname(dir), `${path.basename(dir)}--${path.basename(promptsFile).replace(/\.[^.]+$/, '')}.circuit.json`);
  const s = settings();
  try {
    // One request: the engine's first progress message is the cost estimate, and the result carries the view.
    const title = `Discovering circuits in ${path.basename(dir)}`;
    const recompute = opts.recompute === true;
    const result = await withEngineProgress(ctx, title, (token, cancel) => ctx.engine.request(protocol.discover, { token, dir, promptsFile, out, settings: s, recompute }, cancel), opts.cancel);
    if (result.reused) {
      ctx.log.info(`Opened the existing circuit of ${dir} on ${promptsFile} (same checkpoint content, prompts and settings; discovered in ${result.seconds.toFixed(1)} s): ${result.circuitFile}`);
      // Not awaited: the command returns while the toast waits for its button.
      void vscode.window.showInformationMessage(reusedMessage, 'Recompute').then((choice) => {
        if (choice === 'Recompute') void discoverCommand(ctx, vscode.Uri.file(dir), { ...opts, promptsFile, recompute: true });
      });
    } else {
      ctx.log.info(`Discovered ${result.edges} edges (faithfulness ${result.faithfulness.toFixed(3)}) in ${result.seconds.toFixed(1)} s: ${result.circuitFile}`);
    }
    await ctx.refresh();
    if (!opts.noView) CircuitPanel.show({ kind: 'circuit', circuit: result.view, circuitFile: result.circuitFile }, ctx.extension.extensionUri, ctx.log);
    return result.circuitFile;
  } catch (e) {
    showError(ctx, 'discovery failed', e);
    return undefined;
  }
}

export async function openCircuitCommand(ctx: Context, uri?: vscode.Uri): Promise<CircuitPanel | undefined> {
  if (!trusted()) return undefined;
  const file = uri?.fsPath ?? (await vscode.window.showOpenDialog({ filters: { 'Circuit files': ['json'] }, openLabel: 'Open Circuit' }))?.[0]?.fsPath;
  if (!file) return undefined;
  try {
    const circuit = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'Circuitscope: loading the circuit' }, () =>
      ctx.engine.request(protocol.circuitViewData, { circuitFile: file, settings: settings() }),
    );
    return CircuitPanel.show({ kind: 'circuit', circuit, circuitFile: file }, ctx.extension.extensionUri, ctx.log);
  } catch (e) {
    showError(ctx, `cannot open ${path.basename(file)}`, e);
    return undefined;
  }
}

export async function compareCommand(ctx: Context, arg?: unknown, many?: unknown[], opts: CommandOptions = {}): Promise<CircuitPanel | undefined> {
  if (!trusted()) return undefined;
  const chosen = (many ?? []).map(folderOf).filter((x): x is string => x !== undefined);
  let [dirA, dirB] = chosen.length >= 2 ? chosen : [folderOf(arg), undefined];
  dirA ??= await pickCheckpoint(ctx, 'Compare: the first checkpoint (A)');
  if (!dirA) return undefined;
  dirB ??= await pickCheckpoint(ctx, `Compare ${path.basename(dirA)} with… (B)`);
  if (!dirB) return undefined;
  const promptsFile = opts.promptsFile ?? (await pickPromptSet(ctx));
  if (!promptsFile) return undefined;
  const names = `${path.basename(dirA)} (A) and ${path.basename(dirB)} (B)`;
  const s = settings();
  const started = Date.now();
  ctx.log.info(`Comparing ${dirA} (A) and ${dirB} (B) on ${promptsFile}; ${s.method}, ${s.steps} steps, top-N ${s.topN ?? 'by model'}; cache ${cacheDir()}`);
  try {
    const r = await withEngineProgress(ctx, `Comparing ${path.basename(dirA)} and ${path.basename(dirB)}`, (token, cancel) =>
      ctx.engine.request(protocol.compare, { token, dirA: dirA!, dirB: dirB!, promptsFile, cacheDir: cacheDir(), settings: s }, cancel), opts.cancel,
    );
    const d = r.drift;
    ctx.log.info(
      `Compared ${names} in ${((Date.now() - started) / 1000).toFixed(1)} s: edge Jaccard ${d.edgeJaccard.toFixed(3)}, node Jaccard ${d.nodeJaccard.toFixed(3)}, ` +
        `${d.addedCount} added, ${d.removedCount} removed, ${d.signFlippedCount} sign-flipped; circuits ${r.circuitFileA}, ${r.circuitFileB}`,
    );
    if (opts.noView) return undefined;
    return CircuitPanel.show({ kind: 'compare', a: r.a, b: r.b, drift: r.drift, circuitFiles: [r.circuitFileA, r.circuitFileB] }, ctx.extension.extensionUri, ctx.log);
  } catch (e) {
    if (isCancellation(e)) ctx.log.info(`Comparison of ${names} cancelled after ${((Date.now() - started) / 1000).toFixed(1)} s; nothing written`);
    showError(ctx, 'comparison failed', e);
    return undefined;
  }
}

/**
 * Evolve: the circuits of every checkpoint of a run folder, as `circuitscope evolve`, written as
 * `<run>--<prompts>.evolve.json` in the results folder (the per-checkpoint circuits go to the cache).
 */
export async function evolveCommand(ctx: Context, arg?: unknown, opts: CommandOptions = {}): Promise<string | undefined> {
  if (!trusted()) return undefined;
  const runs = ctx.tree.current?.runs ?? [];
  let runDir = folderOf(arg);
  if (runDir === undefined || !runs.some((r) => path.resolve(r.dir) === path.resolve(runDir!))) {
    if (runs.length === 0) {
      void vscode.window.showWarningMessage('Circuitscope: no run folder (checkpoint-N folders) in the workspace.');
      return undefined;
    }
    const pick = await vscode.window.showQuickPick(
      runs.map((r) => ({ label: path.basename(r.dir), description: `${r.checkpoints.length} checkpoints`, detail: r.dir, dir: r.dir })),
      { title: 'Evolve: circuits across the checkpoints of…' },
    );
    runDir = pick?.dir;
  }
  if (!runDir) return undefined;
  const promptsFile = opts.promptsFile ?? (await pickPromptSet(ctx));
  if (!promptsFile) return undefined;
  const out = path.join(resultsDir() ?? runDir, `${path.basename(runDir)}--${path.basename(promptsFile).replace(/\.[^.]+$/, '')}.evolve.json`);
  try {
    const r = await withEngineProgress(
      ctx,
      `Following circuits across ${path.basename(runDir)}`,
      (token, cancel) => ctx.engine.request(protocol.evolve, { token, runDir: runDir!, promptsFile, out, cacheDir: cacheDir(), settings: settings() }, cancel),
      opts.cancel,
    );
    const shift = r.phaseShiftStep !== undefined ? `phase shift at step ${r.phaseShiftStep}` : 'no phase shift detected';
    ctx.log.info(`Evolved ${r.checkpoints} checkpoints (${r.cacheHits} from the cache) in ${r.seconds.toFixed(1)} s, ${shift}: ${r.outFile}`);
    if (!opts.noView) void vscode.window.showInformationMessage(`Circuitscope: ${r.checkpoints} checkpoints of ${path.basename(runDir)}, ${shift}; wrote ${path.basename(r.outFile)}.`);
    return r.outFile;
  } catch (e) {
    showError(ctx, 'evolve failed', e);
    return undefined;
  }
}

export async function addPromptSetCommand(ctx: Context): Promise<void> {
  const root = workspaceRoot();
  const target = await vscode.window.showSaveDialog({
    defaultUri: vscode.Uri.file(path.join(root ?? '.', 'prompts.jsonl')),
    filters: { 'Prompt sets': ['jsonl'] },
    saveLabel: 'Create Prompt Set',
  });
  if (!target) return;
  const example = {
    prompt: 'Lily had a big ball. She loved her',
    target: ' ball',
    corruptedPrompt: 'Lily had a big cat. She loved her',
    corruptedTarget: ' cat',
    subject: 'ball',
    relation: 'object',
  };
  if (!fs.existsSync(target.fsPath)) fs.writeFileSync(target.fsPath, JSON.stringify(example) + '\n');
  await vscode.window.showTextDocument(target);
  await ctx.refresh();
}
