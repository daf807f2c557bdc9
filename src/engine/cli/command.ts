/**
 * What every CLI command module shares: the Command shape, flag parsing (each error a UserError that
 * names the flag), the common and discover flags, and the run helpers for long work (progress on
 * stderr, Ctrl-C, atomic JSON results). Commands parse flags and print; the work lives in the modules
 * that own it.
 */
import * as path from 'node:path';
import type { ParseArgsConfig } from 'node:util';
import { discoverDefaults, igConventions, methodNames, methodTable, metricKinds } from '../../shared/methods';
import { CancelledError, UserError } from '../errors';
import type { ModelOptions } from '../model/runner';
import { parseDeviceRequest } from '../runtime/device';
import { resolveDevice } from '../runtime/session';
import { outputPathProblem, writeFileAtomic } from '../util/atomicWrite';
import { interruptSignal, StderrProgress } from '../util/progress';
import { openWorkload, type Workload } from '../workload';

export type Values = Record<string, string | boolean | undefined>;

export interface Command {
  readonly summary: string;
  readonly usage: string;
  /** More lines for --help. */
  readonly details?: string;
  readonly options: NonNullable<ParseArgsConfig['options']>;
  run(positionals: string[], values: Values): Promise<void>;
}

export const common = {
  help: { type: 'boolean', short: 'h' },
  threads: { type: 'string' },
  device: { type: 'string' },
  execution: { type: 'string' },
  'memory-budget': { type: 'string' },
  'stage-layers': { type: 'string' },
  'no-bos': { type: 'boolean' },
} as const;

/** The --help lines of the `common` engine options. */
export const engineOptionsHelp = [
  'engine options:',
  '  --threads N             onnxruntime threads (0: one per core)',
  '  --device auto|cpu|cuda  where graphs run (auto: CUDA when its provider is installed)',
  '  --execution auto|whole|streamed',
  '                          one graph for the whole model, or block by block (stages whose weights are read',
  '                          when a pass needs them; any size fits, slower); auto streams when the float32',
  '                          weights exceed a third of the memory budget',
  '  --memory-budget SIZE    what auto plans for, e.g. 8GiB (default: a third of the memory, at most 80 % of the free)',
  '  --stage-layers N        layers per stage when streamed (default: from the budget)',
].join('\n');

export const promptOptions = { prompts: { type: 'string' }, template: { type: 'string' } } as const;

/** The flags of the discover settings that compare and evolve share with discover. */
export const discoverFlags = {
  method: { type: 'string' },
  steps: { type: 'string' },
  'ig-convention': { type: 'string' },
  'top-n': { type: 'string' },
  metric: { type: 'string' },
  'batch-size': { type: 'string' },
} as const;

/** A flag's value for a message: short, on one line. */
export function shown(v: unknown): string {
  const s = String(v);
  return JSON.stringify(s.length > 40 ? s.slice(0, 37) + '...' : s);
}

/** Ranges of the integer flags, checked before any work starts. */
export const flagRanges: Record<string, { readonly min: number; readonly max: number; readonly hint?: string }> = {
  threads: { min: 0, max: 256, hint: '0: one per core' },
  'stage-layers': { min: 1, max: 1000 },
  steps: { min: 1, max: 1000 },
  'batch-size': { min: 1, max: 4096 },
  'top-n': { min: 1, max: 1e9 },
  'node-top-n': { min: 1, max: 1e9 },
  'max-new-tokens': { min: 1, max: 100_000 },
  top: { min: 1, max: 1_000_000 },
  seed: { min: 0, max: 2 ** 32 - 1 },
};

/** An integer flag within its range (`flagRanges`, else 0 to 2^31 − 1). */
export function intFlag(values: Values, name: string, fallback: number): number {
  const v = values[name];
  if (v === undefined) return fallback;
  const { min, max, hint } = flagRanges[name] ?? { min: 0, max: 2 ** 31 - 1 };
  const n = typeof v === 'string' && /^\s*[+-]?\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UserError(`--${name} must be an integer from ${min} to ${max}${hint ? ` (${hint})` : ''}, got ${shown(v)}`);
  }
  return n;
}

/** A number flag; `positive` refuses 0 and negative values. */
export function floatFlag(values: Values, name: string, opts: { positive?: boolean } = {}): number | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  if (!Number.isFinite(n)) throw new UserError(`--${name} must be a number, got ${shown(v)}`);
  if (opts.positive && !(n > 0)) throw new UserError(`--${name} must be greater than 0, got ${shown(v)}`);
  return n;
}

/**
 * The file of an output flag (--out), checked before any work: not a folder, and its folder exists
 * or can be made (no part of the path is a file) and is writable. With `usage`, the flag is required.
 */
export function outFlag(values: Values, name: string): string | undefined;
export function outFlag(values: Values, name: string, usage: string): string;
export function outFlag(values: Values, name: string, usage?: string): string | undefined {
  const out = usage === undefined ? values[name] : required(values, name, usage);
  if (out === undefined) return undefined;
  if (typeof out !== 'string' || out === '') throw new UserError(`--${name} needs a file name`);
  const problem = outputPathProblem(out);
  if (problem) throw new UserError(`--${name} ${shown(out)}: ${problem}`);
  return out;
}

export function oneOf<T extends string>(values: Values, name: string, allowed: readonly T[], fallback: T): T {
  const v = values[name];
  if (v === undefined) return fallback;
  if (!allowed.includes(v as T)) throw new UserError(`--${name} must be one of ${allowed.join(', ')}; got ${shown(v)}`);
  return v as T;
}

export function required(values: Values, name: string, usage: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v === '') throw new UserError(`missing --${name} (usage: ${usage})`);
  return v;
}

export function needCheckpoint(positionals: string[], usage: string): string {
  if (positionals.length < 1) throw new UserError(`missing <checkpoint> (usage: ${usage})`);
  return positionals[0];
}

export function modelOptions(values: Values): ModelOptions {
  const device = parseDeviceRequest(values.device);
  // --device cuda without its provider fails here, before any work, with how to install it.
  if (device === 'cuda') resolveDevice(device);
  const execution = values.execution ?? discoverDefaults.execution;
  if (execution !== 'auto' && execution !== 'whole' && execution !== 'streamed') throw new UserError(`--execution ${shown(execution)} is not one of auto, whole, streamed`);
  const budget = values['memory-budget'];
  let memoryBudgetMiB: number | undefined;
  if (budget !== undefined) {
    const m = /^(\d+(?:\.\d+)?)\s*(MiB|GiB|M|G)?$/i.exec(String(budget));
    if (!m || !(Number(m[1]) > 0)) throw new UserError(`--memory-budget ${shown(budget)} is not a size such as 8GiB or 6000MiB`);
    memoryBudgetMiB = Number(m[1]) * (/^g/i.test(m[2] ?? 'M') ? 1024 : 1);
  }
  const stageLayers = values['stage-layers'] === undefined ? undefined : intFlag(values, 'stage-layers', 1);
  return { threads: intFlag(values, 'threads', discoverDefaults.threads), prependBos: !values['no-bos'], device, execution, memoryBudgetMiB, stageLayers };
}

/** The checkpoint `dir` and the prompt set of --prompts (and --template), opened once. */
export function openWorkloadOf(values: Values, dir: string): Promise<Workload> {
  return openWorkload({ dir, promptsFile: values.prompts as string, template: values.template as string | undefined, model: modelOptions(values) });
}

/** The discover settings of the discover flags, with the defaults record for what is left out. */
export function discoverOptions(values: Values) {
  return {
    method: oneOf(values, 'method', methodNames, discoverDefaults.method),
    steps: intFlag(values, 'steps', discoverDefaults.steps),
    igConvention: oneOf(values, 'ig-convention', igConventions, discoverDefaults.igConvention),
    metric: oneOf(values, 'metric', metricKinds, discoverDefaults.metric),
    batchSize: intFlag(values, 'batch-size', discoverDefaults.batchSize),
    topN: values['top-n'] === undefined ? undefined : intFlag(values, 'top-n', 0),
  };
}

/** The methods and defaults of the discover flags, for --help. */
export function discoverHelp(): string {
  const d = discoverDefaults;
  return [
    'methods (--method):',
    ...methodTable.map((m) => `  ${m.name.padEnd(Math.max(...methodTable.map((r) => r.name.length)))} ${m.description}${m.name === d.method ? ' (default)' : ''}${m.options.includes('steps') ? '; uses --steps' : ''}`),
    '',
    `defaults: --steps ${d.steps}, --batch-size ${d.batchSize}, --ig-convention ${d.igConvention}, --metric ${d.metric}, --selection ${d.selection}, ` +
      "--top-n: the paper's share of edges (8000 of GPT-2 small's 32,491)",
  ].join('\n');
}

export type OnProgress = (done: number, total: number, message: string) => void;

/**
 * Runs long work with progress on stderr and a clean Ctrl-C: `work` returns the summary for stdout;
 * a cancelled run prints `cancelledMessage`, writes nothing more and exits with 130.
 */
export async function cancellable(cancelledMessage: string, work: (signal: AbortSignal, onProgress: OnProgress) => Promise<string>): Promise<void> {
  const progress = new StderrProgress();
  const { signal, dispose } = interruptSignal();
  try {
    const summary = await work(signal, (d, t, m) => progress.update(d, t, m));
    progress.done();
    process.stdout.write(summary + '\n');
  } catch (e) {
    if (e instanceof CancelledError || signal.aborted) {
      progress.done(cancelledMessage);
      process.exitCode = 130;
      return;
    }
    throw e;
  } finally {
    dispose();
  }
}

/** Runs a long analysis whose result is written atomically as JSON to `out`. */
export function runAnalysis<R>(out: string, work: (signal: AbortSignal, onProgress: OnProgress) => Promise<R>, summary: (r: R) => string): Promise<void> {
  return cancellable(`cancelled; ${out} was not written`, async (signal, onProgress) => {
    const result = await work(signal, onProgress);
    writeFileAtomic(out, JSON.stringify(result, null, 1) + '\n');
    return `${summary(result)}\nwrote ${path.resolve(out)}`;
  });
}
