/**
 * Circuit regression tests: the `*.circuit-test.json` file format, its checks, and the results of a
 * run. The engine runs them (`circuitscope test`, the `tests/run` request); the extension lists them
 * in the Testing view. Pure: the caller parses the JSON and passes the value here.
 *
 * A file names a checkpoint (a run folder: every `checkpoint-N`; or one model folder), a prompt set,
 * optional discovery settings, and a list of tests. Each test is one check, run on every checkpoint
 * (or those it names):
 *   { "name": "subject edge", "edge": "a3.h4->logits" }            the edge is in the circuit
 *   { "name": "no MLP 0", "node": "m0", "inCircuit": false }        the node is not in the circuit
 *   { "name": "faithful", "faithfulness": { "min": 0.9, "edges": 500 } }  faithfulness of the top 500 edges
 *   { "name": "mover", "head": "a2.h1", "role": "mover" }           the head's role on the prompts
 *   { "name": "recall", "hit10": { "min": 0.5 } }                   Hit@10 of the circuit
 * Paths are relative to the test file.
 */
import { parseNodeId } from './circuit';
import { methodNames, metricKinds, type Method, type MetricKind } from './methods';
import type { HeadRole } from './analysis';

/** The file name ending that marks a circuit test file. */
export const circuitTestSuffix = '.circuit-test.json';

/** A bound on a figure: at least `min`, at most `max` (either or both). */
export interface Bound {
  readonly min?: number;
  readonly max?: number;
}

export type CircuitCheck =
  | { readonly kind: 'edge'; readonly edge: string; readonly inCircuit: boolean }
  | { readonly kind: 'node'; readonly node: string; readonly inCircuit: boolean }
  | { readonly kind: 'faithfulness'; readonly bound: Bound; readonly edges?: number }
  | { readonly kind: 'head'; readonly head: string; readonly role: HeadRole }
  | { readonly kind: 'hit10'; readonly bound: Bound };

/** Which checkpoints of the file's run a test runs on. */
export type CheckpointFilter = 'all' | 'first' | 'last' | readonly number[];

export interface CircuitTest {
  readonly name: string;
  readonly check: CircuitCheck;
  readonly checkpoints: CheckpointFilter;
  /** 0-based index in the file's `tests` array. */
  readonly index: number;
}

/** Discovery settings of a test file (the discover defaults for what is left out). */
export interface TestDiscoverSettings {
  readonly method?: Method;
  readonly steps?: number;
  readonly topN?: number;
  readonly metric?: MetricKind;
  readonly batchSize?: number;
}

export interface CircuitTestFile {
  /** A run folder or a model folder, as written (relative to the test file). */
  readonly checkpoints: string;
  readonly prompts: string;
  readonly template?: string;
  readonly discover: TestDiscoverSettings;
  /** The cache folder, as written; default `.circuitscope-cache` beside the test file. */
  readonly cache?: string;
  readonly prependBos?: boolean;
  readonly tests: readonly CircuitTest[];
}

/** The outcome of one test on one checkpoint. */
export interface CheckpointOutcome {
  readonly checkpoint: string;
  readonly step?: number;
  /** 'error': the check could not be made (an unknown edge, a head without subject spans). */
  readonly status: 'passed' | 'failed' | 'error';
  /** One line: what was measured and what was wanted. */
  readonly message: string;
  /** The measured figure, when there is one (a score, a faithfulness, Hit@10). */
  readonly value?: number;
}

export interface TestOutcome {
  readonly name: string;
  readonly index: number;
  readonly status: 'passed' | 'failed' | 'error';
  readonly checkpoints: CheckpointOutcome[];
}

export interface TestFileResult {
  readonly file: string;
  /** The checkpoint folders the file's tests ran on, in step order. */
  readonly checkpoints: { readonly dir: string; readonly step?: number; readonly fromCache: boolean }[];
  readonly tests: TestOutcome[];
  readonly passed: number;
  readonly failed: number;
  readonly seconds: number;
}

/** A test passes when it passes on every checkpoint it ran on; an error outranks a failure. */
export function overallStatus(outcomes: readonly CheckpointOutcome[]): TestOutcome['status'] {
  if (outcomes.some((o) => o.status === 'error')) return 'error';
  return outcomes.every((o) => o.status === 'passed') ? 'passed' : 'failed';
}

export function boundHolds(b: Bound, x: number): boolean {
  return Number.isFinite(x) && (b.min === undefined || x >= b.min) && (b.max === undefined || x <= b.max);
}

export function describeBound(b: Bound): string {
  return [b.min !== undefined ? `≥ ${b.min}` : '', b.max !== undefined ? `≤ ${b.max}` : ''].filter(Boolean).join(' and ');
}

/** A problem of a test file: where in the JSON (`tests[2].edge`) and what is wrong. */
export interface TestFileProblem {
  readonly at: string;
  readonly message: string;
}

const roles: readonly HeadRole[] = ['mover', 'relation', 'mixture'];
const shown = (v: unknown) => {
  const s = typeof v === 'string' ? JSON.stringify(v.length > 40 ? v.slice(0, 37) + '...' : v) : typeof v === 'object' ? (Array.isArray(v) ? 'an array' : v === null ? 'null' : 'an object') : String(v);
  return s;
};

/**
 * Validates a parsed test file. Returns the file, or the problems found (all of them, each with its
 * place), so that an editor can show them together.
 */
export function parseCircuitTestFile(json: unknown): { file: CircuitTestFile } | { problems: TestFileProblem[] } {
  const problems: TestFileProblem[] = [];
  const bad = (at: string, message: string) => void problems.push({ at, message });
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return { problems: [{ at: '', message: 'a circuit test file must be a JSON object with "checkpoints", "prompts" and "tests"' }] };
  const o = json as Record<string, unknown>;
  const str = (key: string, optional: boolean): string | undefined => {
    const v = o[key];
    if (v === undefined && optional) return undefined;
    if (typeof v !== 'string' || v === '') bad(key, `"${key}" must be a non-empty string${optional ? '' : ' (a path relative to this file)'}, got ${shown(v)}`);
    return typeof v === 'string' ? v : undefined;
  };
  const checkpoints = str('checkpoints', false) ?? '';
  const prompts = str('prompts', false) ?? '';
  const template = str('template', true);
  const cache = str('cache', true);
  if (o.prependBos !== undefined && typeof o.prependBos !== 'boolean') bad('prependBos', `"prependBos" must be true or false, got ${shown(o.prependBos)}`);
  const discover = parseDiscover(o.discover, bad);
  const tests: CircuitTest[] = [];
  if (!Array.isArray(o.tests) || o.tests.length === 0) bad('tests', `"tests" must be a non-empty array of tests, got ${shown(o.tests)}`);
  else {
    const names = new Set<string>();
    o.tests.forEach((t, i) => {
      const test = parseTest(t, i, bad);
      if (!test) return;
      if (names.has(test.name)) bad(`tests[${i}].name`, `two tests are named ${shown(test.name)}; names must differ`);
      names.add(test.name);
      tests.push(test);
    });
  }
  const known = new Set(['$schema', 'checkpoints', 'prompts', 'template', 'cache', 'prependBos', 'discover', 'tests']);
  for (const k of Object.keys(o)) if (!known.has(k)) bad(k, `unknown field ${shown(k)}; the fields are ${[...known].slice(1).join(', ')}`);
  if (problems.length > 0) return { problems };
  return { file: { checkpoints, prompts, template, cache, prependBos: o.prependBos as boolean | undefined, discover, tests } };
}

function positiveInt(v: unknown): boolean {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;
}

function parseDiscover(v: unknown, bad: (at: string, m: string) => void): TestDiscoverSettings {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    bad('discover', `"discover" must be an object of settings (method, steps, topN, metric, batchSize), got ${shown(v)}`);
    return {};
  }
  const d = v as Record<string, unknown>;
  for (const k of Object.keys(d)) if (!['method', 'steps', 'topN', 'metric', 'batchSize'].includes(k)) bad(`discover.${k}`, `unknown setting ${shown(k)}; the settings are method, steps, topN, metric, batchSize`);
  if (d.method !== undefined && !methodNames.includes(d.method as Method)) bad('discover.method', `"method" must be one of ${methodNames.join(', ')}, got ${shown(d.method)}`);
  if (d.metric !== undefined && !metricKinds.includes(d.metric as MetricKind)) bad('discover.metric', `"metric" must be one of ${metricKinds.join(', ')}, got ${shown(d.metric)}`);
  for (const k of ['steps', 'topN', 'batchSize']) if (d[k] !== undefined && !positiveInt(d[k])) bad(`discover.${k}`, `"${k}" must be a whole number ≥ 1, got ${shown(d[k])}`);
  return { method: d.method as Method | undefined, metric: d.metric as MetricKind | undefined, steps: d.steps as number | undefined, topN: d.topN as number | undefined, batchSize: d.batchSize as number | undefined };
}

function parseBound(v: unknown, at: string, bad: (at: string, m: string) => void): Bound | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    bad(at, `must be an object with "min" and/or "max", got ${shown(v)}`);
    return undefined;
  }
  const b = v as Record<string, unknown>;
  for (const k of ['min', 'max']) if (b[k] !== undefined && (typeof b[k] !== 'number' || !Number.isFinite(b[k]))) bad(`${at}.${k}`, `"${k}" must be a number, got ${shown(b[k])}`);
  if (b.min === undefined && b.max === undefined) bad(at, 'needs "min" or "max"');
  return { min: b.min as number | undefined, max: b.max as number | undefined };
}

const checkKeys = ['edge', 'node', 'faithfulness', 'head', 'hit10'] as const;

function parseTest(t: unknown, i: number, bad: (at: string, m: string) => void): CircuitTest | undefined {
  const at = `tests[${i}]`;
  if (typeof t !== 'object' || t === null || Array.isArray(t)) {
    bad(at, `each test must be an object, got ${shown(t)}`);
    return undefined;
  }
  const o = t as Record<string, unknown>;
  const kinds = checkKeys.filter((k) => o[k] !== undefined);
  if (kinds.length !== 1) {
    bad(at, `a test has exactly one check, one of ${checkKeys.join(', ')}; this one has ${kinds.length === 0 ? 'none' : kinds.join(' and ')}`);
    return undefined;
  }
  const kind = kinds[0];
  const name = typeof o.name === 'string' && o.name.trim() !== '' ? o.name : undefined;
  if (o.name !== undefined && name === undefined) bad(`${at}.name`, `"name" must be a non-empty string, got ${shown(o.name)}`);
  const inCircuit = o.inCircuit === undefined ? true : o.inCircuit;
  if (typeof inCircuit !== 'boolean') bad(`${at}.inCircuit`, `"inCircuit" must be true or false, got ${shown(o.inCircuit)}`);
  let check: CircuitCheck | undefined;
  const allowed = new Set<string>(['name', 'checkpoints', kind]);
  switch (kind) {
    case 'edge': {
      allowed.add('inCircuit');
      const e = o.edge;
      const m = typeof e === 'string' ? /^(.+)->([^<]+)(?:<([qkv])>)?$/.exec(e) : null;
      if (!m || !parseNodeId(m[1]) || !parseNodeId(m[2]) || m[1] === 'logits' || m[2] === 'input') bad(`${at}.edge`, `"edge" must be an edge name such as "a3.h4->logits" or "m0->a1.h2<q>", got ${shown(e)}`);
      else check = { kind, edge: e as string, inCircuit: inCircuit === true };
      break;
    }
    case 'node': {
      allowed.add('inCircuit');
      if (typeof o.node !== 'string' || !parseNodeId(o.node)) bad(`${at}.node`, `"node" must be a node name such as "a2.h1", "m0", "input" or "logits", got ${shown(o.node)}`);
      else check = { kind, node: o.node, inCircuit: inCircuit === true };
      break;
    }
    case 'faithfulness':
    case 'hit10': {
      const f = o[kind] as Record<string, unknown>;
      const bound = parseBound(f, `${at}.${kind}`, bad);
      if (kind === 'faithfulness' && f && typeof f === 'object' && f.edges !== undefined && !positiveInt(f.edges)) bad(`${at}.faithfulness.edges`, `"edges" must be a whole number ≥ 1, got ${shown(f.edges)}`);
      if (bound) check = kind === 'faithfulness' ? { kind, bound, edges: f.edges as number | undefined } : { kind, bound };
      break;
    }
    case 'head': {
      allowed.add('role');
      const n = typeof o.head === 'string' ? parseNodeId(o.head) : undefined;
      if (n?.kind !== 'attn') bad(`${at}.head`, `"head" must be a head name such as "a2.h1", got ${shown(o.head)}`);
      if (!roles.includes(o.role as HeadRole)) bad(`${at}.role`, `"role" must be one of ${roles.join(', ')}, got ${shown(o.role)}`);
      else if (n?.kind === 'attn') check = { kind, head: o.head as string, role: o.role as HeadRole };
      break;
    }
  }
  for (const k of Object.keys(o)) if (!allowed.has(k)) bad(`${at}.${k}`, `unknown field ${shown(k)} in a ${kind} test`);
  const checkpoints = parseFilter(o.checkpoints, `${at}.checkpoints`, bad);
  if (!check || checkpoints === undefined) return undefined;
  return { name: name ?? defaultName(check), check, checkpoints, index: i };
}

function parseFilter(v: unknown, at: string, bad: (at: string, m: string) => void): CheckpointFilter | undefined {
  if (v === undefined) return 'all';
  if (v === 'all' || v === 'first' || v === 'last') return v;
  if (Array.isArray(v) && v.length > 0 && v.every((s) => typeof s === 'number' && Number.isSafeInteger(s) && s >= 0)) return v as number[];
  bad(at, `"checkpoints" must be "all", "first", "last" or a list of training steps, got ${shown(v)}`);
  return undefined;
}

/** The name a test without one gets: its check in words. */
export function defaultName(c: CircuitCheck): string {
  switch (c.kind) {
    case 'edge':
      return `edge ${c.edge} is ${c.inCircuit ? '' : 'not '}in the circuit`;
    case 'node':
      return `node ${c.node} is ${c.inCircuit ? '' : 'not '}in the circuit`;
    case 'faithfulness':
      return `faithfulness ${describeBound(c.bound)}${c.edges ? ` at ${c.edges} edges` : ''}`;
    case 'head':
      return `head ${c.head} is a ${c.role} head`;
    case 'hit10':
      return `Hit@10 ${describeBound(c.bound)}`;
  }
}

/** The checkpoints (indices into `steps`, in step order) a filter picks; a step not in the run picks nothing. */
export function pickCheckpoints(filter: CheckpointFilter, steps: readonly (number | undefined)[]): number[] {
  const all = steps.map((_, i) => i);
  if (filter === 'all') return all;
  if (filter === 'first') return all.slice(0, 1);
  if (filter === 'last') return all.slice(-1);
  return all.filter((i) => steps[i] !== undefined && filter.includes(steps[i]!));
}
