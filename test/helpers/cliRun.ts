/**
 * Runs the built CLI (dist/cli.js) on generated inputs and classifies the outcome the way the fuzz
 * campaign of issue #15 did: a clean exit, a one-line user error, a crash (internal error or a stack
 * on the terminal), a hang (killed at the deadline), or a user error that leaks internal exception
 * text or spans several lines.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot, stories260K, tmpDir } from './tinyModels';

export const cliPath = path.join(repoRoot, 'dist/cli.js');

export interface CliResult {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
  readonly timedOut: boolean;
}

const env = { ...process.env, ORT_DISABLE_TELEMETRY: '1', ONNXRUNTIME_NODE_INSTALL: 'skip' };

/** Runs the CLI to completion (or the deadline), with a V8 heap limit so a blow-up fails fast. */
export function runCliSync(args: readonly string[], opts: { timeoutMs?: number; heapMb?: number; cwd?: string } = {}): CliResult {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [`--max-old-space-size=${opts.heapMb ?? 1024}`, cliPath, ...args], {
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 30_000,
    killSignal: 'SIGKILL',
    env,
    cwd: opts.cwd,
    maxBuffer: 64 * 1024 * 1024,
  });
  const timedOut = r.error !== undefined && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT';
  return { status: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '', ms: Date.now() - t0, timedOut };
}

/** The same, asynchronously (for running several cases at once). */
export function runCli(args: readonly string[], opts: { timeoutMs?: number; heapMb?: number } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [`--max-old-space-size=${opts.heapMb ?? 1024}`, cliPath, ...args], { env });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout = stdout.length < 1 << 20 ? stdout + d : stdout));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = stderr.length < 1 << 20 ? stderr + d : stderr));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 30_000);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr, ms: Date.now() - t0, timedOut });
    });
  });
}

export type Outcome = 'ok' | 'user-error' | 'crash' | 'hang' | 'bad-message';

/** Text that only an internal exception produces; a user error must never carry it. */
const internalText = [
  /is not a function/,
  /is not iterable/,
  /Cannot read propert/,
  /Cannot convert/,
  /of undefined/,
  /of null/,
  /Maximum call stack/,
  /Invalid array length/,
  /Invalid typed array length/,
  /Array buffer allocation failed/,
  /\bat \S+ \(.*:\d+:\d+\)/,
  /Unexpected token/,
  /in JSON at position/,
  /is not valid JSON/,
];

/** Why a user-error message is bad, or undefined when it is fine. */
export function messageProblem(stderr: string): string | undefined {
  // Progress lines (on stderr too, without a terminal) come before the message, which starts with
  // "circuitscope <command>:" and must be the last line.
  const all = stderr.split('\n').filter((l) => l.trim() !== '');
  const start = all.findIndex((l) => /^circuitscope( \S+)?: /.test(l));
  if (start < 0) return 'no "circuitscope <command>:" message';
  const lines = all.slice(start);
  if (lines.length !== 1) return `the message spans ${lines.length} lines`;
  const hit = internalText.find((re) => re.test(lines[0]));
  return hit ? `the message carries internal text (${hit})` : undefined;
}

export function classify(r: CliResult): Outcome {
  if (r.timedOut) return 'hang';
  if (r.signal !== null) return 'crash';
  if (/internal error|\n\s+at /.test(r.stderr)) return 'crash';
  if (r.status === 0) return 'ok';
  if (r.status !== 1 && r.status !== 2) return 'crash';
  return messageProblem(r.stderr) ? 'bad-message' : 'user-error';
}

/** A fresh copy of stories260K in a temporary folder (never in the repository), for mutation. */
export function stories260KCopy(root = tmpDir('cs-fuzz-')): string {
  const dir = path.join(root, 'ckpt');
  fs.mkdirSync(dir, { recursive: true });
  for (const f of fs.readdirSync(stories260K)) fs.copyFileSync(path.join(stories260K, f), path.join(dir, f));
  return dir;
}

/** The demo's prompt set on stories260K. */
export const storiesPrompts = path.join(repoRoot, 'demo/prompts/stories260k.jsonl');
