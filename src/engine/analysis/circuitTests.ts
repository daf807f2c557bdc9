/**
 * Runs circuit regression tests (`*.circuit-test.json`, format in src/shared/circuitTests.ts): for
 * each checkpoint of the file's run, the circuit is discovered or read from the cache that evolve and
 * compare share (same key: checkpoint content, prompt file, settings), and each test's check is made
 * on it. A second run of unchanged checkpoints only reads the cache.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CircuitGraph } from '../../shared/circuit';
import {
  boundHolds,
  circuitTestSuffix,
  describeBound,
  overallStatus,
  parseCircuitTestFile,
  pickCheckpoints,
  type CheckpointOutcome,
  type CircuitCheck,
  type CircuitTest,
  type CircuitTestFile,
  type TestFileResult,
  type TestOutcome,
} from '../../shared/circuitTests';
import { defaultTopN, discoverDefaults } from '../../shared/methods';
import { circuitConfig } from '../circuits/attribute';
import { select } from '../circuits/discover';
import { evaluatePatching } from '../circuits/evaluate';
import { CancelledError, UserError } from '../errors';
import { isModelDir, listRunCheckpoints, stepOf } from '../model/checkpoint';
import type { Model, ModelOptions } from '../model/runner';
import { readJsonFile } from '../util/jsonText';
import { openWorkload, type Workload, type WorkloadDeps } from '../workload';
import { defaultCacheDirName } from './cache';
import { analyzeCheckpoint, type EvolveOptions } from './evolve';
import { analyzeHeads } from './heads';

export interface RunTestsOptions {
  /** Only the tests with these names (all when omitted). */
  readonly names?: readonly string[];
  /** BOS and threads; the file's `prependBos` wins over these. */
  readonly model?: ModelOptions;
  readonly signal?: AbortSignal;
  readonly onProgress?: (done: number, total: number, message: string) => void;
  /** Loads models (the engine's one-model cache); the default loads and disposes each. */
  readonly loadModel?: WorkloadDeps['loadModel'];
}

/** Reads and checks a test file; every problem is listed in one UserError naming the file. */
export function readCircuitTestFile(file: string): CircuitTestFile {
  const json = readJsonFile(file, (d) => {
    throw new UserError(`${file}: ${d}`);
  });
  const r = parseCircuitTestFile(json);
  if ('problems' in r) throw new UserError(`${file}: ${r.problems.map((p) => (p.at ? `${p.at}: ${p.message}` : p.message)).join('; ')}`);
  return r.file;
}

/** The circuit test files under `roots` (files are taken as they are; folders are searched, skipping dot folders and node_modules). */
export function findCircuitTestFiles(roots: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > 12) return;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (!e.name.startsWith('.') && e.name !== 'node_modules') walk(full, depth + 1);
      } else if (e.name.endsWith(circuitTestSuffix)) out.push(full);
    }
  };
  for (const r of roots) {
    if (!fs.existsSync(r)) throw new UserError(`${r}: no such file or folder`);
    if (fs.statSync(r).isDirectory()) walk(r, 0);
    else out.push(r);
  }
  return out;
}

/** The checkpoint folders of a test file's `checkpoints`: a model folder, or a run's `checkpoint-N` in step order. */
function checkpointDirs(file: string, spec: CircuitTestFile): string[] {
  const dir = path.resolve(path.dirname(file), spec.checkpoints);
  if (isModelDir(dir)) return [dir];
  const run = listRunCheckpoints(dir);
  if (run.length === 0) throw new UserError(`${file}: "checkpoints" ${JSON.stringify(spec.checkpoints)} is neither a model folder (config.json and weights) nor a run folder of checkpoint-N folders (resolved to ${dir})`);
  return run.map((e) => e.dir);
}

/** Runs the tests of one file on every checkpoint its tests name. */
export async function runCircuitTestFile(file: string, opts: RunTestsOptions = {}): Promise<TestFileResult> {
  const t0 = Date.now();
  const spec = readCircuitTestFile(file);
  const wanted = opts.names ? spec.tests.filter((t) => opts.names!.includes(t.name)) : spec.tests;
  if (opts.names && wanted.length === 0) throw new UserError(`${file}: no test is named ${opts.names.map((n) => JSON.stringify(n)).join(', ')}; the tests are ${spec.tests.map((t) => JSON.stringify(t.name)).join(', ')}`);
  const dirs = checkpointDirs(file, spec);
  const steps = dirs.map((d) => stepOf(d));
  const picks = new Map(wanted.map((t) => [t, new Set(pickCheckpoints(t.checkpoints, steps))]));
  const base = path.dirname(path.resolve(file));
  const model: ModelOptions = { ...opts.model, prependBos: spec.prependBos ?? opts.model?.prependBos };
  const evolveOpts: EvolveOptions = {
    method: spec.discover.method ?? discoverDefaults.method,
    steps: spec.discover.steps,
    topN: spec.discover.topN,
    metric: spec.discover.metric,
    batchSize: spec.discover.batchSize,
    promptsFile: path.resolve(base, spec.prompts),
    template: spec.template,
    cacheDir: path.resolve(base, spec.cache ?? defaultCacheDirName),
    model,
    signal: opts.signal,
  };
  const outcomes = new Map<CircuitTest, CheckpointOutcome[]>(wanted.map((t) => [t, []]));
  const checkpoints: TestFileResult['checkpoints'] = [];
  for (let i = 0; i < dirs.length; i++) {
    const tests = wanted.filter((t) => picks.get(t)!.has(i));
    if (tests.length === 0) continue;
    if (opts.signal?.aborted) throw new CancelledError();
    const name = path.basename(dirs[i]);
    const progress = (d: number, t: number, m: string) => opts.onProgress?.(i + (t > 0 ? Math.min(d, t) / t : 0), dirs.length, `${name}: ${m}`);
    progress(0, 1, 'opening');
    const w = await openWorkload({ dir: dirs[i], promptsFile: evolveOpts.promptsFile, template: spec.template, model }, { loadModel: opts.loadModel });
    try {
      const a = await analyzeCheckpoint(w, { ...evolveOpts, onProgress: progress });
      checkpoints.push({ dir: dirs[i], step: steps[i], fromCache: a.fromCache });
      for (const t of tests) {
        progress(1, 1, `checking ${t.name}`);
        const o = await checkOne(t.check, w, a, evolveOpts);
        outcomes.get(t)!.push({ checkpoint: dirs[i], step: steps[i], ...o });
      }
    } finally {
      if (!opts.loadModel) await w.model.dispose();
    }
  }
  const results: TestOutcome[] = wanted.map((t) => {
    const cs = outcomes.get(t)!;
    if (cs.length === 0) {
      const why = `no checkpoint of the run matches "checkpoints" ${JSON.stringify(t.checkpoints)} (steps ${steps.map((s) => s ?? '?').join(', ')})`;
      return { name: t.name, index: t.index, status: 'error', checkpoints: [{ checkpoint: '', status: 'error', message: why }] };
    }
    return { name: t.name, index: t.index, status: overallStatus(cs), checkpoints: cs };
  });
  return { file, checkpoints, tests: results, passed: results.filter((r) => r.status === 'passed').length, failed: results.filter((r) => r.status !== 'passed').length, seconds: (Date.now() - t0) / 1000 };
}

type Analyzed = Awaited<ReturnType<typeof analyzeCheckpoint>>;
type Outcome = Omit<CheckpointOutcome, 'checkpoint' | 'step'>;

const fmt = (x: number) => (Number.isFinite(x) ? Number(x.toPrecision(4)).toString() : String(x));

/** One check on one checkpoint's circuit. */
async function checkOne(c: CircuitCheck, w: Workload, a: Analyzed, o: EvolveOptions): Promise<Outcome> {
  const g = new CircuitGraph(circuitConfig(w.model.spec));
  const kept = a.edges;
  switch (c.kind) {
    case 'edge': {
      const i = g.edgeByName(c.edge);
      if (i === undefined) return { status: 'error', message: `this model has no edge ${c.edge} (${w.model.spec.nLayers} layers, ${w.model.spec.nHeads} heads; edges into heads name <q>, <k> or <v>)` };
      const inside = a.selection.edgeIn[i] === 1;
      const rank = rankOf(a.scores, i);
      const message = `${c.edge} is ${inside ? '' : 'not '}in the circuit (rank ${rank} of ${g.edges.length} by |score|, score ${fmt(a.scores[i])}; the circuit keeps ${kept} edges)`;
      return { status: inside === c.inCircuit ? 'passed' : 'failed', message: inside === c.inCircuit ? message : `${message}; expected ${c.inCircuit ? 'in' : 'out'}`, value: a.scores[i] };
    }
    case 'node': {
      if (!g.nodes.includes(c.node)) return { status: 'error', message: `this model has no node ${c.node} (${w.model.spec.nLayers} layers, ${w.model.spec.nHeads} heads)` };
      const inside = a.selection.nodeIn.get(c.node) === true;
      const message = `${c.node} is ${inside ? '' : 'not '}in the circuit`;
      return { status: inside === c.inCircuit ? 'passed' : 'failed', message: inside === c.inCircuit ? message : `${message}; expected ${c.inCircuit ? 'in' : 'out'}` };
    }
    case 'faithfulness': {
      const n = c.edges ?? o.topN ?? defaultTopN(g);
      const own = n === (o.topN ?? defaultTopN(g));
      const f = own
        ? a.faithfulness
        : (await evaluatePatching(w.model, w.pairs, [select(g, a.scores, 'topn', n)], { batchSize: o.batchSize, metric: o.metric, signal: o.signal }))[0].faithfulness;
      const ok = boundHolds(c.bound, f);
      return { status: ok ? 'passed' : 'failed', message: `faithfulness ${fmt(f)} at top ${n} edges${ok ? '' : `; expected ${describeBound(c.bound)}`}`, value: f };
    }
    case 'hit10': {
      const ok = boundHolds(c.bound, a.hit10);
      return { status: ok ? 'passed' : 'failed', message: `Hit@10 ${fmt(a.hit10)} (zero ablation of the edges outside the circuit)${ok ? '' : `; expected ${describeBound(c.bound)}`}`, value: a.hit10 };
    }
    case 'head': {
      let role = a.analysis.headRoles[c.head];
      let ratio = a.analysis.headRatios[c.head];
      if (role === undefined) {
        // The cache holds the roles of the circuit's heads; another head is analysed on the same prompts.
        try {
          const h = (await analyzeHeads(w.model as Model, w.pairs, { heads: [c.head] })).heads[0];
          role = h.role;
          ratio = h.ratio;
        } catch (e) {
          if (e instanceof UserError) return { status: 'error', message: e.message };
          throw e;
        }
      }
      const inside = a.selection.nodeIn.get(c.head) === true;
      const message = `${c.head} is a ${role} head (R = ${fmt(ratio)}; ${inside ? 'in' : 'not in'} the circuit)`;
      return { status: role === c.role ? 'passed' : 'failed', message: role === c.role ? message : `${message}; expected ${c.role}`, value: ratio };
    }
  }
}

/** 1-based rank of edge i by |score| (ties share the better rank). */
function rankOf(scores: Float64Array, i: number): number {
  const s = Math.abs(scores[i]);
  let r = 1;
  for (const x of scores) if (Math.abs(x) > s) r++;
  return r;
}
