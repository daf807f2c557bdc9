/**
 * Circuit regression tests in VS Code's Testing view: every `*.circuit-test.json` of the workspace is
 * a test file item with one item per test; a run asks the engine (`tests/run`, as `circuitscope
 * test`) and shows each test's result with one child item per checkpoint. The host only lists and
 * reports: the engine discovers, caches and checks.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { circuitTestSuffix, parseCircuitTestFile, type TestFileResult, type TestOutcome } from '../shared/circuitTests';
import { runCircuitTests } from '../shared/engineProtocol';
import { settings, type Context } from './commands';
import { EngineError } from './engineClient';

/** What a finished run reported, by test item id: for tests and scripts (the Testing view shows the same). */
export type RunReport = Record<string, { readonly status: TestOutcome['status'] | 'skipped'; readonly message?: string }>;

export class CircuitTests implements vscode.Disposable {
  readonly controller = vscode.tests.createTestController('circuitscope.circuitTests', 'Circuit Tests');
  private readonly finished = new vscode.EventEmitter<RunReport>();
  /** Fires when a run ends, with every item it reported. */
  readonly onDidFinishRun = this.finished.event;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly ctx: Context) {
    const c = this.controller;
    c.resolveHandler = async (item) => {
      if (!item) await this.discoverAll();
    };
    c.refreshHandler = () => this.discoverAll();
    c.createRunProfile('Run', vscode.TestRunProfileKind.Run, (request, token) => this.run(request, token), true);
    const watcher = vscode.workspace.createFileSystemWatcher(`**/*${circuitTestSuffix}`);
    this.disposables.push(
      c,
      this.finished,
      watcher,
      watcher.onDidCreate((u) => void this.updateFile(u)),
      watcher.onDidChange((u) => void this.updateFile(u)),
      watcher.onDidDelete((u) => c.items.delete(u.toString())),
      vscode.workspace.onDidChangeWorkspaceFolders(() => void this.discoverAll()),
    );
  }

  /** Lists every test file of the workspace (skipping node_modules). */
  async discoverAll(): Promise<void> {
    const uris = await vscode.workspace.findFiles(`**/*${circuitTestSuffix}`, '**/node_modules/**');
    const ids = new Set(uris.map((u) => u.toString()));
    this.controller.items.forEach((item) => {
      if (!ids.has(item.id)) this.controller.items.delete(item.id);
    });
    await Promise.all(uris.map((u) => this.updateFile(u)));
  }

  /** (Re)reads one test file into its item: its tests as children, or the file's problems as the item's error. */
  async updateFile(uri: vscode.Uri): Promise<vscode.TestItem> {
    const c = this.controller;
    const label = vscode.workspace.asRelativePath(uri, false);
    const file = c.items.get(uri.toString()) ?? c.createTestItem(uri.toString(), label, uri);
    c.items.add(file);
    let text: string;
    try {
      text = new TextDecoder().decode(await vscode.workspace.fs.readFile(uri));
    } catch (e) {
      file.error = `cannot read the file: ${(e as Error).message}`;
      return file;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      file.error = `not valid JSON: ${(e as Error).message}`;
      file.children.replace([]);
      return file;
    }
    const r = parseCircuitTestFile(json);
    if ('problems' in r) {
      file.error = r.problems.map((p) => (p.at ? `${p.at}: ${p.message}` : p.message)).join('\n');
      file.children.replace([]);
      return file;
    }
    file.error = undefined;
    const lines = text.split('\n');
    const children = r.file.tests.map((t) => {
      const item = file.children.get(testId(uri, t.name)) ?? c.createTestItem(testId(uri, t.name), t.name, uri);
      // The test's line: where its name is written, else where its check is.
      const line = findLine(lines, [`"name": ${JSON.stringify(t.name)}`, `"name":${JSON.stringify(t.name)}`], t.index);
      if (line >= 0) item.range = new vscode.Range(line, 0, line, lines[line].length);
      item.description = describe(t.check.kind, r.file.checkpoints);
      return item;
    });
    file.children.replace(children);
    return file;
  }

  private async run(request: vscode.TestRunRequest, token: vscode.CancellationToken): Promise<void> {
    const run = this.controller.createTestRun(request);
    const report: RunReport = {};
    // Files to run, with the names of the tests asked for (undefined: every test of the file).
    const byFile = new Map<vscode.TestItem, Set<string> | undefined>();
    const excluded = new Set((request.exclude ?? []).map((i) => i.id));
    const roots: vscode.TestItem[] = [];
    if (request.include) roots.push(...request.include);
    else this.controller.items.forEach((i) => roots.push(i));
    for (const item of roots) {
      if (excluded.has(item.id)) continue;
      const file = item.parent ?? item;
      if (file === item) byFile.set(file, undefined);
      else if (!byFile.has(file) || byFile.get(file) !== undefined) byFile.set(file, new Set([...(byFile.get(file) ?? []), item.label]));
    }
    try {
      for (const [file, names] of byFile) {
        if (token.isCancellationRequested) break;
        await this.runFile(run, file, names, token, report);
      }
    } finally {
      run.end();
      this.finished.fire(report);
    }
  }

  private async runFile(run: vscode.TestRun, file: vscode.TestItem, names: Set<string> | undefined, token: vscode.CancellationToken, report: RunReport): Promise<void> {
    if (!vscode.workspace.isTrusted) {
      run.errored(file, new vscode.TestMessage('Circuitscope runs models only in trusted workspaces (Restricted Mode is on).'));
      report[file.id] = { status: 'error', message: 'restricted mode' };
      return;
    }
    await this.updateFile(file.uri!);
    const tests: vscode.TestItem[] = [];
    file.children.forEach((t) => {
      if (!names || names.has(t.label)) tests.push(t);
    });
    if (file.error) {
      const message = typeof file.error === 'string' ? file.error : file.error.value;
      run.errored(file, new vscode.TestMessage(message));
      report[file.id] = { status: 'error', message };
      return;
    }
    for (const t of tests) run.started(t);
    const progressToken = `tests-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    const sub = this.ctx.engine.onProgress((p) => {
      if (p.token === progressToken) run.appendOutput(`${p.message}\r\n`);
    });
    let result: TestFileResult;
    try {
      const s = settings();
      result = await this.ctx.engine.request(runCircuitTests, { token: progressToken, file: file.uri!.fsPath, names: names ? [...names] : undefined, prependBos: s.prependBos, threads: s.threads }, token);
    } catch (e) {
      const cancelled = token.isCancellationRequested;
      const message = cancelled ? 'cancelled' : (e as Error).message;
      if (!cancelled) this.ctx.log.error(`circuit tests ${file.uri!.fsPath}: ${message}`);
      for (const t of tests) {
        if (cancelled) run.skipped(t);
        else run.errored(t, new vscode.TestMessage(message));
        report[t.id] = { status: cancelled ? 'skipped' : 'error', message };
      }
      if (e instanceof EngineError || cancelled) return;
      throw e;
    } finally {
      sub.dispose();
    }
    this.ctx.log.info(`circuit tests ${file.uri!.fsPath}: ${result.passed} passed, ${result.failed} failed on ${result.checkpoints.length} checkpoints (${result.checkpoints.filter((c) => c.fromCache).length} from the cache) in ${result.seconds.toFixed(1)} s`);
    for (const outcome of result.tests) {
      const t = file.children.get(testId(file.uri!, outcome.name));
      if (t) this.report(run, t, outcome, report);
    }
  }

  /** One test's result: a child item per checkpoint with its own result, and the test's as a whole. */
  private report(run: vscode.TestRun, t: vscode.TestItem, o: TestOutcome, report: RunReport): void {
    const children = o.checkpoints.map((c) => {
      const name = c.checkpoint ? path.basename(c.checkpoint) : 'run';
      const child = this.controller.createTestItem(`${t.id}@${name}`, name, t.uri);
      child.range = t.range;
      child.description = c.message;
      return { child, c };
    });
    t.children.replace(children.map((x) => x.child));
    for (const { child, c } of children) {
      const message = new vscode.TestMessage(c.message);
      if (t.uri && t.range) message.location = new vscode.Location(t.uri, t.range);
      if (c.status === 'passed') run.passed(child);
      else if (c.status === 'failed') run.failed(child, message);
      else run.errored(child, message);
      report[child.id] = { status: c.status, message: c.message };
    }
    const bad = o.checkpoints.filter((c) => c.status !== 'passed');
    const summary = bad.length === 0 ? `passed on ${o.checkpoints.length} checkpoint${o.checkpoints.length === 1 ? '' : 's'}` : bad.map((c) => `${c.checkpoint ? path.basename(c.checkpoint) : 'run'}: ${c.message}`).join('\n');
    const message = new vscode.TestMessage(summary);
    if (t.uri && t.range) message.location = new vscode.Location(t.uri, t.range);
    if (o.status === 'passed') run.passed(t);
    else if (o.status === 'failed') run.failed(t, message);
    else run.errored(t, message);
    report[t.id] = { status: o.status, message: summary };
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}

export function testId(uri: vscode.Uri, name: string): string {
  return `${uri.toString()}#${name}`;
}

function describe(kind: string, checkpoints: string): string {
  return `${kind} · ${checkpoints}`;
}

/** The first line holding one of `needles`; else the line of the `index`-th test's opening brace, approximately (-1 when unknown). */
function findLine(lines: readonly string[], needles: readonly string[], index: number): number {
  const i = lines.findIndex((l) => needles.some((n) => l.includes(n)));
  if (i >= 0) return i;
  const start = lines.findIndex((l) => l.includes('"tests"'));
  if (start < 0) return -1;
  let seen = -1;
  for (let j = start; j < lines.length; j++) {
    if (/^\s*\{/.test(lines[j]) || (j === start && lines[j].includes('[{'))) seen++;
    if (seen === index) return j;
  }
  return -1;
}
