/**
 * The project's fuzz cases (issue #15), shared by the CI suite (test/engine/fuzz.test.ts) and the long
 * run (bench/fuzz.bench.ts). A case mutates one input of a CLI run on stories260K (config.json, the
 * safetensors file, tokenizer files, the shard index, a prompt set, a circuit file, or the flags) and
 * runs the built CLI. It passes when the CLI ends in a one-line user error, or succeeds with output
 * whose numbers are all finite (the oracle for silent wrong successes).
 */
import * as fc from 'fast-check';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { classify, messageProblem, runCli, stories260KCopy, type CliResult, type Outcome } from './cliRun';
import { deepJson, joinSafetensors, splitSafetensors } from './mutate';
import { tmpDir } from './tinyModels';

/** One edit of a JSON value or text, chosen by fast-check and applied deterministically. */
export type Op =
  | { readonly op: 'set'; readonly at: number; readonly value: unknown }
  | { readonly op: 'delete'; readonly at: number }
  | { readonly op: 'wrap'; readonly at: number }
  | { readonly op: 'truncate'; readonly at: number }
  | { readonly op: 'insert'; readonly at: number; readonly text: string }
  | { readonly op: 'duplicateKey'; readonly at: number };

const deepMark = '\u0001DEEP\u0001';

/** Values that readers must refuse or survive. */
export const weirdValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, -1, 0, 1, 1e300, -1e-9, 3e38, 2 ** 53, '', [], {}, true, false, '__proto__', 'constructor', 'a b c', deepMark, 'NaN', '\n'),
  fc.integer({ min: -1000, max: 100000 }),
  fc.double({ noNaN: false }),
  fc.string({ maxLength: 12 }),
  fc.array(fc.oneof(fc.integer(), fc.string({ maxLength: 4 }), fc.constant(null)), { maxLength: 4 }),
  fc.dictionary(fc.string({ maxLength: 4 }), fc.oneof(fc.integer(), fc.string({ maxLength: 4 })), { maxKeys: 3 }),
);

export const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: weirdValue }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('wrap' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('insert' as const), at: fc.nat(), text: fc.constantFrom(',', '"', '{', ']', '\u0000', '\n', 'x', '\\', '1e999', ' ') }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('duplicateKey' as const), at: fc.nat() }) },
);

type Path = (string | number)[];

function paths(v: unknown, at: Path = [], out: Path[] = [], limit = 4000): Path[] {
  if (out.length >= limit) return out;
  if (at.length > 0) out.push(at);
  if (Array.isArray(v)) v.slice(0, 50).forEach((x, i) => paths(x, [...at, i], out, limit));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v).slice(0, 200)) paths(x, [...at, k], out, limit);
  return out;
}

function parentOf(root: unknown, p: Path): { parent: Record<string | number, unknown>; key: string | number } {
  let cur = root as Record<string | number, unknown>;
  for (const k of p.slice(0, -1)) cur = cur[k] as Record<string | number, unknown>;
  return { parent: cur, key: p[p.length - 1] };
}

/** Applies ops to a JSON value; structural ops first, text ops on the serialized result. */
export function mutateJson(value: unknown, ops: readonly Op[]): string {
  const root = structuredClone(value);
  let text: string | undefined;
  for (const o of ops) {
    if (o.op === 'set' || o.op === 'delete' || o.op === 'wrap' || o.op === 'duplicateKey') {
      const all = paths(root);
      if (all.length === 0) continue;
      const p = all[o.at % all.length];
      const { parent, key } = parentOf(root, p);
      if (o.op === 'set') parent[key] = o.value;
      else if (o.op === 'delete') {
        if (Array.isArray(parent)) parent.splice(key as number, 1);
        else delete parent[key];
      } else if (o.op === 'wrap') parent[key] = [parent[key]];
      else if (!Array.isArray(parent) && typeof key === 'string') {
        // A duplicate key: written as text, since objects cannot hold one.
        text = (text ?? JSON.stringify(root)).replace(JSON.stringify(key) + ':', `${JSON.stringify(key)}:${JSON.stringify(o.at % 2 ? null : { dtype: 'F32', shape: [1], data_offsets: [0, 4] })},${JSON.stringify(key)}:`);
      }
    }
  }
  let out: string = text ?? JSON.stringify(root);
  out = out.replaceAll(JSON.stringify(deepMark), deepJson(3000));
  for (const o of ops) {
    if (o.op === 'truncate') out = out.slice(0, o.at % (out.length + 1));
    else if (o.op === 'insert') {
      const at = o.at % (out.length + 1);
      out = out.slice(0, at) + o.text + out.slice(at);
    }
  }
  return out;
}

export type Target = 'config' | 'safetensors' | 'tokenizer' | 'tokenizerConfig' | 'vocabMerges' | 'index' | 'prompts' | 'circuit' | 'flags';
export const targets: readonly Target[] = ['config', 'safetensors', 'tokenizer', 'tokenizerConfig', 'vocabMerges', 'index', 'prompts', 'circuit', 'flags'];

export interface FuzzCase {
  readonly target: Target;
  readonly ops: readonly Op[];
  /** For safetensors: a lie about the header length, a float patch, or a cut of the file. */
  readonly lengthDelta: number;
  readonly patch?: { readonly at: number; readonly value: number };
  readonly promptFormat: 'jsonl' | 'json' | 'csv' | 'facts' | 'ids-csv';
  readonly flags: readonly (readonly [string, string])[];
  readonly command: 'logits' | 'generate' | 'discover' | 'evaluate' | 'heads' | 'compare';
}

const flagNames = ['--threads', '--steps', '--batch-size', '--top-n', '--top', '--max-new-tokens', '--tau', '--threshold', '--selection', '--method', '--metric', '--ig-convention', '--ablation', '--formula', '--no-bos', '--out', '--seed'];
const flagValues = ['0', '1', '-1', '1e9', '99999999999', '100000', 'NaN', 'Infinity', '', 'x', '0.5', '3', 'eap', 'threshold', 'greedy', 'prob', '/', '.', '-5', ' 7', '2 3'];

export const caseArb: fc.Arbitrary<FuzzCase> = fc.record({
  target: fc.constantFrom(...targets),
  ops: fc.array(opArb, { minLength: 1, maxLength: 3 }),
  lengthDelta: fc.oneof(fc.constant(0), fc.integer({ min: -16, max: 16 })),
  patch: fc.option(fc.record({ at: fc.nat(), value: fc.constantFrom(NaN, Infinity, -Infinity, 3e38, -3e38, 1e30, 0) }), { nil: undefined }),
  promptFormat: fc.constantFrom('jsonl' as const, 'json' as const, 'csv' as const, 'facts' as const, 'ids-csv' as const),
  flags: fc.array(fc.tuple(fc.constantFrom(...flagNames), fc.constantFrom(...flagValues)), { maxLength: 3 }),
  command: fc.constantFrom('logits' as const, 'generate' as const, 'discover' as const, 'evaluate' as const, 'heads' as const, 'compare' as const),
});

/** Files every case starts from: stories260K, a small prompt set, and a circuit discovered on it. */
export interface FuzzBase {
  readonly dir: string;
  readonly prompts: string;
  readonly circuit: string;
  readonly circuitJson: unknown;
}

const promptRows = [
  { prompt: 'Lily had a big ball. She loved her', target: ' ball', corruptedPrompt: 'Lily had a big cat. She loved her', corruptedTarget: ' cat', subject: 'ball' },
  { prompt: 'Lily had a big cat. She loved her', target: ' cat', corruptedPrompt: 'Lily had a big dog. She loved her', corruptedTarget: ' dog', subject: 'cat' },
  { prompt: 'Lily had a big dog. She loved her', target: ' dog', corruptedPrompt: 'Lily had a big car. She loved her', corruptedTarget: ' car', subject: 'dog' },
];

export async function makeBase(): Promise<FuzzBase> {
  const root = tmpDir('cs-fuzzbase-');
  const dir = stories260KCopy(root);
  const prompts = path.join(root, 'base.jsonl');
  fs.writeFileSync(prompts, promptRows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  const circuit = path.join(root, 'base.circuit.json');
  const r = await runCli(['discover', dir, '--prompts', prompts, '--out', circuit, '--method', 'eap', '--top-n', '100'], { timeoutMs: 120_000 });
  if (r.status !== 0) throw new Error(`cannot make the fuzz base circuit: ${r.stderr}`);
  return { dir, prompts, circuit, circuitJson: JSON.parse(fs.readFileSync(circuit, 'utf8')) };
}

/** A checkpoint folder of links to the base files, with `replace` written as real files. */
function checkpointWith(base: FuzzBase, caseDir: string, replace: Record<string, string | Buffer | null>): string {
  const dir = path.join(caseDir, 'ckpt');
  fs.mkdirSync(dir, { recursive: true });
  for (const f of fs.readdirSync(base.dir)) if (!(f in replace)) fs.symlinkSync(path.join(base.dir, f), path.join(dir, f));
  for (const [f, v] of Object.entries(replace)) if (v !== null) fs.writeFileSync(path.join(dir, f), v);
  return dir;
}

function promptText(format: FuzzCase['promptFormat'], ops: readonly Op[]): { name: string; text: string } {
  switch (format) {
    case 'jsonl':
      return { name: 'p.jsonl', text: promptRows.map((r, i) => (i === 0 ? mutateJson(r, ops) : JSON.stringify(r))).join('\n') };
    case 'json':
      return { name: 'p.json', text: mutateJson(promptRows, ops) };
    case 'facts': {
      const facts = ['ball', 'cat', 'dog', 'car', 'bird', 'fish', 'tree', 'sun'].map((s, i) => ({ subject: s, object: ['red', 'big', 'sad', 'old'][i % 4], template: 'Lily had a {subject}. It was' }));
      return { name: 'facts.jsonl', text: facts.map((r, i) => (i === 0 ? mutateJson(r, ops) : JSON.stringify(r))).join('\n') };
    }
    case 'csv':
    case 'ids-csv': {
      const cells = format === 'csv' ? [['clean', 'corrupted', 'target', 'corrupted_target'], ...promptRows.map((r) => [r.prompt, r.corruptedPrompt, r.target, r.corruptedTarget])] : [['clean', 'corrupted', 'correct_idx', 'incorrect_idx'], ...promptRows.map((r) => [r.prompt, r.corruptedPrompt, '300', '301'])];
      // The CSV is mutated as a JSON array of rows, then written as CSV text (quotes and all).
      const rows = JSON.parse(mutateJson(cells, ops.filter((o) => o.op === 'set' || o.op === 'delete')) || '[]') as unknown;
      const lines = (Array.isArray(rows) ? rows : []).map((r) => (Array.isArray(r) ? r : [r]).map((c) => (typeof c === 'string' && /[",\n]/.test(c) ? `"${c.replaceAll('"', '""')}"` : String(c))).join(','));
      let text = lines.join('\n');
      for (const o of ops) if (o.op === 'insert') text = text.slice(0, o.at % (text.length + 1)) + o.text + text.slice(o.at % (text.length + 1));
      return { name: format === 'csv' ? 'p.csv' : 'ids.csv', text };
    }
  }
}

/** Writes the case's files under a fresh folder and returns the CLI arguments. */
export function buildCase(base: FuzzBase, c: FuzzCase): string[] {
  const caseDir = tmpDir('cs-fuzzcase-');
  const read = (f: string) => fs.readFileSync(path.join(base.dir, f), 'utf8');
  let dir = base.dir;
  let prompts = base.prompts;
  let circuit = base.circuit;
  let command = c.command;
  const out = path.join(caseDir, 'out.json');
  switch (c.target) {
    case 'config':
      dir = checkpointWith(base, caseDir, { 'config.json': mutateJson(JSON.parse(read('config.json')), c.ops) });
      break;
    case 'tokenizer':
      dir = checkpointWith(base, caseDir, { 'tokenizer.json': mutateJson(JSON.parse(read('tokenizer.json')), c.ops) });
      break;
    case 'tokenizerConfig':
      dir = checkpointWith(base, caseDir, { 'tokenizer_config.json': mutateJson(JSON.parse(read('tokenizer_config.json')), c.ops) });
      break;
    case 'vocabMerges': {
      const tj = JSON.parse(read('tokenizer.json')) as { model: { vocab: Record<string, number>; merges: (string | string[])[] } };
      const merges = tj.model.merges.map((m) => (Array.isArray(m) ? m.join(' ') : m));
      const mergesText = c.ops[0].at % 2 ? mergeTextMutation(merges, c.ops) : merges.join('\n');
      dir = checkpointWith(base, caseDir, { 'tokenizer.json': null, 'vocab.json': mutateJson(tj.model.vocab, c.ops.slice(1)), 'merges.txt': '#version: 0.2\n' + mergesText + '\n' });
      break;
    }
    case 'index': {
      const { header } = splitSafetensors(path.join(base.dir, 'model.safetensors'));
      const names = Object.keys(JSON.parse(header) as object).filter((k) => k !== '__metadata__');
      const index = { metadata: { total_size: 1 }, weight_map: Object.fromEntries(names.map((n) => [n, 'model.safetensors'])) };
      dir = checkpointWith(base, caseDir, { 'model.safetensors.index.json': mutateJson(index, c.ops) });
      break;
    }
    case 'safetensors': {
      const { header, data } = splitSafetensors(path.join(base.dir, 'model.safetensors'));
      const json = JSON.parse(header) as Record<string, { dtype: string; data_offsets: [number, number] }>;
      const headerText = c.ops.some((o) => o.op !== 'truncate') || c.lengthDelta === 0 ? mutateJson(json, c.ops) : header;
      const d = Buffer.from(data);
      if (c.patch) {
        const floats = Math.floor(d.length / 4);
        d.writeFloatLE(c.patch.value, 4 * (c.patch.at % floats));
      }
      dir = checkpointWith(base, caseDir, { 'model.safetensors': null });
      joinSafetensors(path.join(dir, 'model.safetensors'), headerText, d, c.lengthDelta);
      break;
    }
    case 'prompts': {
      const { name, text } = promptText(c.promptFormat, c.ops);
      prompts = path.join(caseDir, name);
      fs.writeFileSync(prompts, text);
      if (command === 'logits' || command === 'generate') command = 'discover';
      break;
    }
    case 'circuit':
      circuit = path.join(caseDir, 'x.circuit.json');
      fs.writeFileSync(circuit, mutateJson(base.circuitJson, c.ops));
      command = c.ops[0].at % 2 ? 'evaluate' : 'heads';
      break;
    case 'flags':
      break;
  }
  const flags = c.target === 'flags' ? c.flags.flatMap(([f, v]) => (f === '--no-bos' ? [f] : f === '--out' ? [f, v === '.' || v === '/' ? v : out] : [f, v])) : [];
  const has = (f: string) => flags.includes(f);
  const withOut = (args: string[]) => (has('--out') ? args : [...args, '--out', out]);
  switch (command) {
    case 'logits':
      return ['logits', dir, '--prompt', 'Once upon a time', '--json', ...flags];
    case 'generate':
      return ['generate', dir, '--prompt', 'Once upon a time', ...(has('--max-new-tokens') ? [] : ['--max-new-tokens', '3']), ...flags];
    case 'discover':
      return withOut(['discover', dir, '--prompts', prompts, ...(has('--method') ? [] : ['--method', 'eap']), ...(has('--top-n') ? [] : ['--top-n', '60']), ...flags]);
    case 'evaluate':
      return ['evaluate', dir, '--circuit', circuit, '--prompts', prompts, '--json', ...flags];
    case 'heads':
      return ['heads', dir, '--circuit', circuit, '--prompts', prompts, '--json', ...flags];
    case 'compare':
      return withOut(['compare', dir, base.dir, '--prompts', prompts, ...(has('--method') ? [] : ['--method', 'eap']), ...(has('--top-n') ? [] : ['--top-n', '60']), '--cache', path.join(caseDir, 'cache'), ...flags]);
  }
}

function mergeTextMutation(merges: string[], ops: readonly Op[]): string {
  const m = [...merges];
  for (const o of ops) {
    const i = o.at % Math.max(1, m.length);
    if (o.op === 'set') m[i] = String(typeof o.value === 'string' ? o.value : JSON.stringify(o.value));
    else if (o.op === 'delete') m.splice(i, 1);
    else if (o.op === 'insert') m[i] = (m[i] ?? '') + o.text;
  }
  return m.join('\n');
}

/** Every number in a JSON value is finite (JSON writes NaN and ±Inf as null; a numeric field that is null fails). */
function finiteNumbers(v: unknown, nullsOk: (p: string) => boolean, at = ''): string | undefined {
  if (v === null) return nullsOk(at) ? undefined : `${at} is null`;
  if (typeof v === 'number') return Number.isFinite(v) ? undefined : `${at} is ${v}`;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const p = finiteNumbers(v[i], nullsOk, `${at}[${i}]`);
      if (p) return p;
    }
  } else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      const p = finiteNumbers(x, nullsOk, `${at}.${k}`);
      if (p) return p;
    }
  }
  return undefined;
}

export type Verdict = Outcome | 'silent';

/** The oracle for a run that exited 0: its output must hold only finite numbers. */
export function silentProblem(args: readonly string[], r: CliResult): string | undefined {
  try {
    const cmd = args[0];
    if (cmd === 'logits' && args.includes('--json')) return finiteNumbers(JSON.parse(r.stdout), () => false);
    if (cmd === 'evaluate' && args.includes('--json')) return finiteNumbers(JSON.parse(r.stdout), () => false);
    if (cmd === 'discover') {
      const out = args[args.indexOf('--out') + 1];
      const j = JSON.parse(fs.readFileSync(out, 'utf8')) as { circuitscope: unknown; edges: unknown };
      // Unscored edges (exact patching skips none; upstream writes null for edges it never scored) are allowed.
      return finiteNumbers(j.circuitscope, (p) => p.endsWith('.dropped')) ?? finiteNumbers(j.edges, (p) => p.endsWith('.score') && false);
    }
    if (cmd === 'compare') {
      const out = args[args.indexOf('--out') + 1];
      return finiteNumbers(JSON.parse(fs.readFileSync(out, 'utf8')), (p) => /faithfulnessDelta|step/.test(p));
    }
  } catch (e) {
    return `exit 0 but the output cannot be read: ${(e as Error).message.split('\n')[0]}`;
  }
  return undefined;
}

export interface CaseResult {
  readonly verdict: Verdict;
  readonly args: readonly string[];
  readonly result: CliResult;
  readonly detail?: string;
}

/** Builds and runs one case. */
export async function runCase(base: FuzzBase, c: FuzzCase, timeoutMs = 30_000): Promise<CaseResult> {
  const args = buildCase(base, c);
  const result = await runCli(args, { timeoutMs, heapMb: 1024 });
  let verdict: Verdict = classify(result);
  let detail: string | undefined;
  if (verdict === 'ok') {
    detail = silentProblem(args, result);
    if (detail) verdict = 'silent';
  } else if (verdict === 'bad-message') detail = messageProblem(result.stderr);
  if (result.ms > timeoutMs * 0.8 && verdict !== 'hang') detail = `${detail ?? ''} (slow: ${result.ms} ms)`;
  return { verdict, args, result, detail };
}
