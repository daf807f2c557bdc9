/**
 * Open the Demo Run: the demo lab's checkpoint series in the tree. A demo run already made (in a
 * workspace folder's `demo-output`, the extension's global storage, or, from older versions, the
 * extension's own folder) is opened; otherwise the user chooses where to make it (the workspace or
 * the extension's global storage), and `circuitscope demo` runs there as a child process under a
 * cancellable progress notification (demoProcess.ts). Cancel stops the child; what the demo had
 * written stays (its writes are atomic, and its finished series are reused by the next run). The
 * host only launches and shows: the demo computes in its own process.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { settings, type Context } from './commands';
import { startDemo, type DemoChild } from './demoProcess';
import { showErrorMessage } from './notify';

/** Where a demo run is made: its `--out` folder. */
export interface DemoLocation {
  readonly place: 'workspace' | 'globalStorage';
  readonly outDir: string;
  readonly label: string;
  readonly description: string;
}

export interface DemoRunOptions {
  /** For scripts and tests: where to make the run, instead of asking. */
  readonly location?: DemoLocation['place'];
  /** Cancels the making of the run, as the progress notification's Cancel button does. */
  readonly cancel?: vscode.CancellationToken;
}

/** The file a finished demo writes last into its work folder (src/lab/report/demo.ts, demoReportPointer). */
const finishedMarker = 'demo-report.json';

/** Fires when a demo child process starts (tests and scripts read its pid and folder). */
const started = new vscode.EventEmitter<DemoChild>();
export const onDidStartDemo = started.event;

/** The run being made, so that a second invocation points at it instead of starting another. */
let current: DemoChild | undefined;

/** The places the demo can be made, the first workspace folder first. */
export function demoLocations(ctx: Context): DemoLocation[] {
  const root = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  const global = path.join(ctx.extension.globalStorageUri.fsPath, 'demo-output');
  return [
    ...(root ? [{ place: 'workspace' as const, outDir: path.join(root, 'demo-output'), label: '$(folder) In This Workspace', description: `${path.basename(root)}/demo-output: beside your files, listed in the tree with them` }] : []),
    { place: 'globalStorage' as const, outDir: global, label: '$(globe) In the Extension’s Storage', description: 'kept across workspaces; added to this window as a workspace folder' },
  ];
}

/** The work folder of a finished demo run, looked for in every place one is made (and the extension's folder, where older versions made it). */
export function findDemoRun(ctx: Context): string | undefined {
  const candidates = [...demoLocations(ctx).map((l) => path.join(l.outDir, 'work')), path.join(ctx.extension.extensionPath, 'demo-output', 'work')];
  return candidates.find((work) => fs.existsSync(path.join(work, finishedMarker)));
}

export async function openDemoRunCommand(ctx: Context, opts: DemoRunOptions = {}): Promise<string | undefined> {
  const made = findDemoRun(ctx);
  if (made) return showDemoRun(ctx, made);
  if (current) {
    void vscode.window.showInformationMessage(`Circuitscope: the demo run is being made in ${current.outDir}; its progress notification has a Cancel button.`);
    return undefined;
  }
  if (!vscode.workspace.isTrusted) {
    void vscode.window.showWarningMessage('Circuitscope runs models only in trusted workspaces (Restricted Mode is on). Trust this workspace to make the demo run.');
    return undefined;
  }
  const locations = demoLocations(ctx);
  const pick = opts.location
    ? locations.find((l) => l.place === opts.location)
    : await vscode.window.showQuickPick(locations, {
        title: 'Make the demo run: two small checkpoint series trained and analysed (about 5 minutes on two cores). Where?',
        placeHolder: 'Cancel stops it; finished series are kept and reused next time',
      });
  if (!pick) return undefined;
  const work = await makeDemoRun(ctx, pick, opts.cancel);
  return work ? showDemoRun(ctx, work) : undefined;
}

/** Runs `circuitscope demo --out <location>` under a cancellable progress notification; resolves with its work folder, or undefined. */
async function makeDemoRun(ctx: Context, where: DemoLocation, also?: vscode.CancellationToken): Promise<string | undefined> {
  const began = Date.now();
  const exit = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Circuitscope: making the demo run', cancellable: true }, async (progress, button) => {
    const child = startDemo({
      cli: ctx.extension.asAbsolutePath(path.join('dist', 'cli.js')),
      outDir: where.outDir,
      threads: settings().threads,
      onProgress: (p) => progress.report({ message: p.fraction === undefined ? p.message : `${p.message} (${Math.round(p.fraction * 100)} %)` }),
      onLine: (line) => ctx.log.info(`[demo] ${line}`),
    });
    current = child;
    ctx.log.info(`demo: making the demo run in ${where.outDir} (process ${child.pid ?? '?'})`);
    started.fire(child);
    const stop = () => {
      progress.report({ message: 'stopping after the current step…' });
      void child.stop();
    };
    const subs = [button.onCancellationRequested(stop), also?.onCancellationRequested(stop)];
    if (button.isCancellationRequested || also?.isCancellationRequested) stop();
    try {
      return await child.exited;
    } finally {
      for (const s of subs) s?.dispose();
      current = undefined;
    }
  });
  const seconds = ((Date.now() - began) / 1000).toFixed(0);
  const work = path.join(where.outDir, 'work');
  if (exit.code === 0 && fs.existsSync(path.join(work, finishedMarker))) {
    ctx.log.info(`demo: made in ${seconds} s: ${exit.stdout.trim().split('\n').join('; ')}`);
    return work;
  }
  if (exit.stopped) {
    ctx.log.info(`demo: cancelled after ${seconds} s; the report was not written, finished series stay in ${work}`);
    void vscode.window.showInformationMessage('Circuitscope: demo run cancelled. What it had finished stays in its folder, and the next Open the Demo Run reuses the finished series.');
    return undefined;
  }
  const why = exit.errors.at(-1) ?? (exit.signal ? `stopped by ${exit.signal}` : `exit code ${exit.code}`);
  ctx.log.error(`demo: failed after ${seconds} s (${exit.signal ?? `exit code ${exit.code}`}): ${exit.errors.join(' | ')}`);
  void showErrorMessage(`making the demo run failed: ${why}`, 'Show Log').then((choice) => choice && ctx.log.show());
  return undefined;
}

/** Adds the work folder to the workspace when it is outside it (the tree lists workspace folders), rescans, and shows the tree. */
async function showDemoRun(ctx: Context, work: string): Promise<string> {
  const inWorkspace = (vscode.workspace.workspaceFolders ?? []).some((f) => work.startsWith(f.uri.fsPath + path.sep));
  if (!inWorkspace) {
    vscode.workspace.updateWorkspaceFolders(vscode.workspace.workspaceFolders?.length ?? 0, 0, { uri: vscode.Uri.file(work), name: 'Circuitscope demo run' });
  }
  await ctx.refresh();
  await vscode.commands.executeCommand('circuits.checkpoints.focus');
  return work;
}
