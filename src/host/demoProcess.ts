/**
 * The demo lab's run as a child process of the extension host: `circuitscope demo --out DIR` (the
 * extension's own dist/cli.js), its progress read from the CLI's stderr lines, and a stop that asks
 * first (SIGINT: the demo stops after its current step) and kills after a grace period. The demo writes
 * every result atomically, so a stopped run leaves what was there intact; its finished series are
 * reused by the next run. No `vscode` here, so the launch and the stop are tested outside VS Code.
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** What the demo is doing, from one progress line. */
export interface DemoProgress {
  readonly message: string;
  /** The phase's share done, 0 to 1, when the line gives one. */
  readonly fraction?: number;
}

/**
 * A progress line of the CLI on a pipe (src/engine/util/progress.ts, StderrProgress):
 * `message NN% (12.3 s)`, or `message (12.3 s)` when the phase has no total.
 */
export function parseProgressLine(line: string): DemoProgress | undefined {
  const m = /^(.+?)(?: (\d{1,3})%)? \(\d+(?:\.\d+)? s\)$/.exec(line.trim());
  if (!m) return undefined;
  return m[2] === undefined ? { message: m[1] } : { message: m[1], fraction: Math.min(1, Number(m[2]) / 100) };
}

export interface DemoExit {
  /** The exit code (0: the demo finished and wrote its report; 130: it stopped when asked), or null when killed. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** True when stop() was called before the process ended. */
  readonly stopped: boolean;
  /** What the demo printed on stdout: its summary, ending with `wrote <report>`. */
  readonly stdout: string;
  /** The last lines of stderr that were not progress (the CLI prints a user error there alone). */
  readonly errors: string[];
}

export interface DemoChild {
  readonly pid: number | undefined;
  /** The output folder (`--out`). */
  readonly outDir: string;
  /** Settles when the process has ended. */
  readonly exited: Promise<DemoExit>;
  /** Asks the demo to stop (SIGINT), kills it after `graceMs`, and resolves once it has ended. */
  stop(graceMs?: number): Promise<DemoExit>;
}

export interface StartDemoOptions {
  /** The CLI script: the extension's dist/cli.js. */
  readonly cli: string;
  readonly outDir: string;
  /** Engine threads (0 or undefined: the CLI's default, one per core). */
  readonly threads?: number;
  readonly onProgress?: (p: DemoProgress) => void;
  /** Every stderr line, progress or not (for the log). */
  readonly onLine?: (line: string) => void;
}

/** Grace before a stop turns into a kill: the demo finishes a training step or a prompt batch in well under this. */
export const stopGraceMs = 5_000;

/**
 * Starts `circuitscope demo --out outDir` in its own process (forked like the engine: the host's Node
 * runs it), in the output folder's parent, creating the output folder first.
 */
export function startDemo(o: StartDemoOptions): DemoChild {
  fs.mkdirSync(o.outDir, { recursive: true });
  const args = ['demo', '--out', o.outDir, ...(o.threads && o.threads > 0 ? ['--threads', String(o.threads)] : [])];
  const child = fork(o.cli, args, {
    cwd: path.dirname(o.outDir),
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' },
  });
  let stopped = false;
  let stdout = '';
  const errors: string[] = [];
  let partial = '';
  const onStderrLine = (line: string) => {
    if (line.trim() === '') return;
    o.onLine?.(line);
    const p = parseProgressLine(line);
    if (p) o.onProgress?.(p);
    else {
      errors.push(line);
      if (errors.length > 20) errors.shift();
    }
  };
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split(/\r?\n|\r/);
    partial = lines.pop() ?? '';
    for (const line of lines) onStderrLine(line);
  });
  const exited = new Promise<DemoExit>((resolve) => {
    const done = (code: number | null, signal: NodeJS.Signals | null) => {
      if (partial) onStderrLine(partial);
      partial = '';
      resolve({ code, signal, stopped, stdout, errors });
    };
    child.once('error', (e) => {
      errors.push(e.message);
      done(null, null);
    });
    // 'close' comes after the pipes are drained, so stdout and the last stderr lines are in.
    child.once('close', done);
  });
  return {
    pid: child.pid,
    outDir: o.outDir,
    exited,
    stop: (graceMs = stopGraceMs) => {
      stopped = true;
      return stopChild(child, exited, graceMs);
    },
  };
}

async function stopChild(child: ChildProcess, exited: Promise<DemoExit>, graceMs: number): Promise<DemoExit> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGINT');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  }
  return exited;
}
