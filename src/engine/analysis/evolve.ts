/**
 * Circuits across checkpoints (method spec §5): per checkpoint, discovery and evaluation (reused from
 * a cache when checkpoint, prompts and settings are unchanged), specialized heads and the logit lens;
 * then Jaccard to the final circuit, the formation → optimization phase shift, per-layer edge
 * activation rows, and transplant evaluation (circuits of chosen checkpoints run on every checkpoint).
 * Also the comparison of two checkpoints.
 */
import * as path from 'node:path';
import {
  compareCircuits,
  detectPhaseShift,
  edgeActivationByLayer,
  groupBy,
  headRolesByLayer,
  headTypeProportions,
  hitAtK,
  jaccardToFinal,
  type CircuitComparison,
  type HeadRole,
  type PhaseShift,
} from '../../shared/analysis';
import { CircuitGraph, countIn, type Selection } from '../../shared/circuit';
import { discoverDefaults } from '../../shared/methods';
import { circuitConfig } from '../circuits/attribute';
import { readCircuitFile } from '../circuits/circuitFile';
import { discoverWorkload, type DiscoverOptions } from '../circuits/discover';
import { evaluatePatching, evaluateZero } from '../circuits/evaluate';
import type { TokenizedPair } from '../circuits/prompts';
import { Checkpoint, listRunCheckpoints, stepOf } from '../model/checkpoint';
import { CancelledError, UserError } from '../errors';
import type { ModelOptions } from '../model/runner';
import { groupOf, groupsOf, openWorkload, type Workload } from '../workload';
import { asCached, cacheEntry, cacheKey, readCacheEntry, readTransplant, transplantFile, writeCacheEntry, writeTransplant, type CachedResult, type CheckpointAnalysis, type TransplantResult } from './cache';
import { analyzeHeads } from './heads';
import { logitLens } from './lens';
import { withSubjects } from '../circuits/subjects';

export type { CheckpointAnalysis } from './cache';

export interface EvolveOptions extends DiscoverOptions {
  readonly promptsFile: string;
  readonly template?: string;
  /** Where per-checkpoint results are cached, keyed by content. */
  readonly cacheDir: string;
  readonly model?: ModelOptions;
  /** Checkpoint indices whose circuits are transplanted; default: first, before and after the shift, last. */
  readonly transplant?: readonly number[];
  /** Only the prompts of this group (e.g. 'new/high'), as the paper discovers one circuit per group. */
  readonly group?: string;
  /**
   * Read every checkpoint's circuit from the cache and discover none: the assembly of a sharded run
   * (a missing checkpoint is a UserError naming it). Transplant evaluations not cached are computed.
   */
  readonly cachedOnly?: boolean;
}

/** One process's share of a sharded evolve: checkpoints (or transplant targets) i with i mod count = index. */
export interface Shard {
  readonly index: number;
  readonly count: number;
}

/** What one shard computed (or found in the cache), per prompt group ('' for all prompts). */
export interface ShardResult {
  readonly run: string;
  readonly shard: string;
  readonly stage: ShardStage;
  readonly cacheDir: string;
  readonly checkpoints: { readonly group: string; readonly index: number; readonly step: number; readonly fromCache: boolean }[];
  readonly seconds: number;
}

/**
 * 'circuits': discovery and the per-checkpoint analyses of the shard's checkpoints. 'transplants'
 * (after every shard's circuits are cached): the transplant evaluations on the shard's checkpoints.
 */
export type ShardStage = 'circuits' | 'transplants';
export const shardStages: readonly ShardStage[] = Object.freeze(['circuits', 'transplants'] as const);

export interface CheckpointResult {
  readonly dir: string;
  readonly step: number;
  readonly hash: string;
  readonly fromCache: boolean;
  readonly circuitFile: string;
  readonly edges: number;
  readonly nodes: number;
  readonly faithfulness: number;
  readonly hit10: number;
  readonly edgeEntropy: number;
  readonly edgeActivationByLayer: number[];
  readonly headProportions: Record<HeadRole, number>;
  readonly headRolesByLayer: Record<HeadRole, number[]>;
  readonly analysis: CheckpointAnalysis;
}

export interface EvolveResult {
  readonly run: string;
  readonly prompts: { readonly path: string; readonly hash: string; readonly count: number; readonly groups: string[] };
  readonly settings: { readonly method: string; readonly steps: number; readonly topN?: number; readonly metric: string };
  readonly checkpoints: CheckpointResult[];
  readonly jaccardToFinal: { readonly node: number[]; readonly edge: number[] };
  readonly phaseShift?: PhaseShift;
  readonly transplant: { readonly sources: number[]; readonly hit10: number[][]; readonly faithfulness: number[][] };
  readonly hit10ByGroup: Record<string, number[]>;
  readonly seconds: number;
  readonly cacheHits: number;
}

/** Opens one checkpoint of the analysis with the prompts (of the group) of `opts`. */
function open(dir: string, opts: EvolveOptions): Promise<Workload> {
  return openWorkload({ dir, promptsFile: opts.promptsFile, template: opts.template, group: opts.group, model: opts.model });
}

/** The prompt groups of a prompt file, read with a checkpoint's tokenizer. */
export async function promptGroups(dir: string, opts: EvolveOptions): Promise<string[]> {
  const w = await open(dir, { ...opts, group: undefined });
  try {
    return groupsOf(w.pairs);
  } finally {
    await w.model.dispose();
  }
}

/** What is cached per checkpoint, computed: discovery, Hit@10 per group, head roles, the logit lens. */
async function computeCheckpoint(w: Workload, opts: EvolveOptions): Promise<CachedResult & { readonly text: string }> {
  const { model, pairs } = w;
  const { result: r, provenance, text } = await discoverWorkload(w, opts);
  const byGroup = groupBy(
    r.zero.ranks.map((x) => (x <= 9 ? 1 : 0)),
    pairs.map(groupOf),
  );
  const inCircuit = r.attribution.graph.nodes.filter((n) => r.selection.nodeIn.get(n));
  const heads = inCircuit.filter((n) => n.startsWith('a'));
  const ha = withSubjects(pairs).pairs.some((p) => p.subjectSpan) && heads.length > 0 ? await analyzeHeads(model, pairs, { heads }) : undefined;
  const lens = await logitLens(model, pairs);
  const analysis: CheckpointAnalysis = {
    hit10ByGroup: Object.fromEntries([...byGroup].map(([k, v]) => [String(k), v.value])),
    headRoles: Object.fromEntries((ha?.heads ?? []).map((h) => [h.node, h.role])),
    headRatios: Object.fromEntries((ha?.heads ?? []).map((h) => [h.node, h.ratio])),
    lens: { rows: lens.rows, meanRank: lens.meanRank, meanProb: lens.meanProb, meanSubjectRank: lens.meanSubjectRank },
  };
  return { provenance, scores: r.attribution.scores, selection: r.selection, analysis, text };
}

/** Discovers (or reads from the cache) one checkpoint's circuit and its analyses. */
export async function analyzeCheckpoint(w: Workload, opts: EvolveOptions): Promise<Analyzed> {
  const { model, set } = w;
  const hash = model.checkpoint.contentHash();
  const entry = cacheEntry(opts.cacheDir, cacheKey({ checkpointHash: hash, promptsHash: set.hash, options: opts, prependBos: model.options.prependBos !== false }));
  const cached = readCacheEntry(entry);
  if (!cached && opts.cachedOnly) {
    throw new UserError(
      `${model.checkpoint.dir}: its circuit${opts.group ? ` for group ${opts.group}` : ''} is not in the cache ${opts.cacheDir} (no ${path.basename(entry.circuitFile)} with its analysis). ` +
        'Run every shard (evolve --shard i/N) with the same prompts, settings and --cache first, or run evolve without assembling',
    );
  }
  const fresh = cached ? undefined : await computeCheckpoint(w, opts);
  if (fresh) writeCacheEntry(entry, fresh.text, fresh.analysis);
  // A fresh result as the cache will give it back, so that a cold run and a cached one agree.
  const { provenance, scores, selection, analysis } = cached ?? asCached(entry, fresh!.text, fresh!.analysis);
  const g = new CircuitGraph(circuitConfig(model.spec));
  const roles = new Map(Object.entries(analysis.headRoles));
  const byLayer = headRolesByLayer(roles, model.spec.nLayers);
  // The key order is the order of evolve's and compare's JSON output.
  return {
    dir: model.checkpoint.dir,
    step: stepOf(model.checkpoint.dir) ?? 0,
    hash,
    fromCache: cached !== undefined,
    circuitFile: entry.circuitFile,
    edges: countIn(selection.edgeIn),
    nodes: provenance.nodes,
    faithfulness: provenance.faithfulness,
    hit10: provenance.hit10,
    edgeEntropy: provenance.edgeEntropy,
    edgeActivationByLayer: Array.from(edgeActivationByLayer(g, selection.edgeIn)),
    headProportions: headTypeProportions(roles, provenance.nodes),
    headRolesByLayer: { mover: Array.from(byLayer.mover), relation: Array.from(byLayer.relation), mixture: Array.from(byLayer.mixture) },
    analysis,
    selection,
    scores,
    cacheKey: entry.key,
  };
}

/** One evolution per prompt group, keyed by group (as the paper's pipeline discovers circuits). */
export interface PerGroupEvolveResult {
  readonly run: string;
  readonly groups: Record<string, EvolveResult>;
}

/** The evolution analysis once per prompt group of the prompt file, progress spanning all groups. */
export async function evolvePerGroup(runDir: string, opts: EvolveOptions): Promise<PerGroupEvolveResult> {
  const run = listRunCheckpoints(runDir);
  if (run.length === 0) throw new UserError(`${runDir}: not a run folder (no checkpoint-N folders)`);
  const groups = await promptGroups(run[0].dir, opts);
  const byGroup: Record<string, EvolveResult> = {};
  for (const [i, g] of groups.entries()) {
    byGroup[g] = await evolve(runDir, { ...opts, group: g, onProgress: (d, t, m) => opts.onProgress?.(i * t + d, groups.length * t, `${g}: ${m}`) });
  }
  return { run: path.resolve(runDir), groups: byGroup };
}

type Analyzed = CheckpointResult & { selection: Selection; scores: Float64Array; cacheKey: string };

/** The checkpoint-N folders of an evolution (at least two). */
function runOf(runDir: string): ReturnType<typeof listRunCheckpoints> {
  const run = listRunCheckpoints(runDir);
  if (run.length < 2) throw new UserError(`${runDir}: an evolution needs a run folder with at least two checkpoint-N folders; found ${run.length}`);
  return run;
}

/** Every checkpoint's circuit and analyses (discovered, or read from the cache), with the prompts read at the last. */
async function analyzeRun(run: ReturnType<typeof listRunCheckpoints>, opts: EvolveOptions): Promise<{ results: Analyzed[]; pairs: TokenizedPair[]; promptsHash: string }> {
  const results: Analyzed[] = [];
  let pairs: TokenizedPair[] = [];
  let promptsHash = '';
  for (const [i, entry] of run.entries()) {
    if (opts.signal?.aborted) throw new CancelledError();
    opts.onProgress?.(i, run.length, `checkpoint-${entry.step} (${i + 1}/${run.length})`);
    const w = await open(entry.dir, opts);
    try {
      results.push(await analyzeCheckpoint(w, opts));
      pairs = w.pairs;
      promptsHash = w.set.hash;
    } finally {
      await w.model.dispose();
    }
  }
  return { results, pairs, promptsHash };
}

/** The checkpoints whose circuits are transplanted: as asked, else the first, the two around the phase shift, and the last. */
function transplantSources(results: readonly Analyzed[], opts: EvolveOptions): { sources: number[]; jac: ReturnType<typeof jaccardToFinal>; phaseShift?: PhaseShift } {
  const T = results.length;
  const g = new CircuitGraph(readCircuitFile(results[0].circuitFile).data.cfg);
  const jac = jaccardToFinal(
    results.map((r) => r.selection),
    g,
  );
  // The notebooks compare checkpoints 0..T−2 with the last; the last's self-comparison is left out.
  const phaseShift = T >= 4 ? detectPhaseShift(results.slice(0, -1).map((r) => r.step), Array.from(jac.edge.slice(0, -1))) : undefined;
  const sources = opts.transplant
    ? [...opts.transplant]
    : [...new Set([0, ...(phaseShift ? [Math.max(0, phaseShift.index - 1), phaseShift.index] : []), T - 1])].sort((a, b) => a - b);
  for (const s of sources) if (s >= T) throw new UserError(`--transplant ${s}: the run has checkpoints 0 to ${T - 1}`);
  return { sources, jac, phaseShift };
}

/**
 * One shard of an evolution: its share of the checkpoints' circuits ('circuits'), or, once every
 * circuit is cached, its share of the transplant evaluations ('transplants'), written into the shared
 * cache folder. With `groups`, the share of every group's evolution. A final evolve (cachedOnly)
 * assembles the result from the cache.
 */
export async function evolveShard(runDir: string, opts: EvolveOptions & { readonly shard: Shard; readonly stage: ShardStage; readonly perGroup?: boolean }): Promise<ShardResult> {
  const t0 = Date.now();
  const { index, count } = opts.shard;
  const run = runOf(runDir);
  const groups = opts.perGroup ? await promptGroups(run[0].dir, opts) : [opts.group];
  const mine = (i: number) => i % count === index;
  const done: ShardResult['checkpoints'][number][] = [];
  for (const [gi, group] of groups.entries()) {
    const o: EvolveOptions = { ...opts, group, onProgress: (d, t, m) => opts.onProgress?.(gi * t + d, groups.length * t, `${group ? `${group}: ` : ''}${m}`) };
    if (opts.stage === 'circuits') {
      const share = run.filter((_, i) => mine(i));
      const r = await analyzeRun(share, o);
      share.forEach((e, k) => done.push({ group: group ?? '', index: run.indexOf(e), step: e.step, fromCache: r.results[k].fromCache }));
    } else {
      const { results } = await analyzeRun(run, { ...o, cachedOnly: true });
      const { sources } = transplantSources(results, o);
      const computed = await transplantCircuits(results, sources, o, mine);
      results.forEach((r, t) => mine(t) && done.push({ group: group ?? '', index: t, step: r.step, fromCache: !computed.has(t) }));
    }
  }
  return { run: path.resolve(runDir), shard: `${index}/${count}`, stage: opts.stage, cacheDir: path.resolve(opts.cacheDir), checkpoints: done, seconds: (Date.now() - t0) / 1000 };
}

/** The evolution analysis over a run folder of checkpoint-N folders. */
export async function evolve(runDir: string, opts: EvolveOptions): Promise<EvolveResult> {
  const t0 = Date.now();
  const run = runOf(runDir);
  const { results, pairs: pairsForGroups, promptsHash } = await analyzeRun(run, opts);
  const { sources, jac, phaseShift } = transplantSources(results, opts);
  const transplant = await transplantTable(results, sources, opts);
  const groups = groupsOf(pairsForGroups);
  const hit10ByGroup = Object.fromEntries(groups.map((grp) => [grp, results.map((r) => r.analysis.hit10ByGroup[grp] ?? NaN)]));
  return {
    run: path.resolve(runDir),
    prompts: { path: path.resolve(opts.promptsFile), hash: promptsHash, count: pairsForGroups.length, groups },
    settings: { method: opts.method, steps: opts.steps ?? discoverDefaults.steps, topN: opts.topN, metric: opts.metric ?? discoverDefaults.metric },
    checkpoints: results.map(({ selection: _s, scores: _c, cacheKey: _k, ...r }) => r),
    jaccardToFinal: { node: Array.from(jac.node), edge: Array.from(jac.edge) },
    phaseShift,
    transplant,
    hit10ByGroup,
    seconds: (Date.now() - t0) / 1000,
    cacheHits: results.filter((r) => r.fromCache).length,
  };
}

/**
 * The circuits of checkpoints `sources` evaluated on the checkpoints `targets` selects (every one by
 * default): faithfulness and Hit@10, each pair cached under the target's and the source's keys.
 * Returns the targets on which something was computed.
 */
async function transplantCircuits(results: readonly Analyzed[], sources: readonly number[], opts: EvolveOptions, targets: (t: number) => boolean = () => true): Promise<Set<number>> {
  const T = results.length;
  const computed = new Set<number>();
  for (let t = 0; t < T; t++) {
    if (!targets(t)) continue;
    if (opts.signal?.aborted) throw new CancelledError();
    const files = sources.map((s) => transplantFile(opts.cacheDir, results[t].cacheKey, results[s].cacheKey));
    const missing = sources.filter((_, k) => readTransplant(files[k]) === undefined);
    if (missing.length === 0) continue;
    opts.onProgress?.(t, T, `transplant evaluation on checkpoint-${results[t].step}`);
    const w = await open(results[t].dir, opts);
    try {
      const patch = await evaluatePatching(
        w.model,
        w.pairs,
        missing.map((s) => results[s].selection),
        { batchSize: opts.batchSize, metric: opts.metric, signal: opts.signal },
      );
      for (const [k, s] of missing.entries()) {
        const hit10 = hitAtK((await evaluateZero(w.model, w.pairs, results[s].selection, { batchSize: opts.batchSize, signal: opts.signal })).ranks);
        writeTransplant(files[sources.indexOf(s)], { faithfulness: patch[k].faithfulness, hit10 });
      }
      computed.add(t);
    } finally {
      await w.model.dispose();
    }
  }
  return computed;
}

/** The transplant table of evolve's output, computing (and caching) what the cache lacks. */
async function transplantTable(results: readonly Analyzed[], sources: readonly number[], opts: EvolveOptions): Promise<EvolveResult['transplant']> {
  await transplantCircuits(results, sources, opts);
  const read = (s: number, t: number): TransplantResult => readTransplant(transplantFile(opts.cacheDir, results[t].cacheKey, results[s].cacheKey))!;
  return {
    sources: [...sources],
    hit10: sources.map((s) => results.map((_, t) => read(s, t).hit10)),
    faithfulness: sources.map((s) => results.map((_, t) => read(s, t).faithfulness)),
  };
}

export interface CompareResult {
  readonly a: Omit<CheckpointResult, 'analysis'>;
  readonly b: Omit<CheckpointResult, 'analysis'>;
  readonly comparison: Omit<CircuitComparison, 'added' | 'removed' | 'signFlipped' | 'layers'> & {
    added: string[];
    removed: string[];
    signFlipped: string[];
    /** Per parent layer, as plain arrays (JSON has no typed arrays). */
    layers: Record<keyof CircuitComparison['layers'], number[]>;
  };
}

/** Compares the circuits of two checkpoints, discovering what is not cached yet. */
export async function compareCheckpoints(dirA: string, dirB: string, opts: EvolveOptions): Promise<CompareResult> {
  const sides = [];
  for (const [i, dir] of [dirA, dirB].entries()) {
    Checkpoint.open(dir); // Fails early, naming the folder, before any work.
    // Progress names the side, its checkpoint and the phase, and spans both sides: A fills the first
    // half, B the second, so the bar never runs back to zero halfway.
    const label = `${i === 0 ? 'A' : 'B'} (${path.basename(dir)})`;
    const up = opts.onProgress;
    const onProgress = up && ((done: number, total: number, message: string) => up(i * total + done, 2 * total, `${label}: ${message}`));
    const side: EvolveOptions = { ...opts, onProgress };
    onProgress?.(0, 1, 'opening the checkpoint and the prompts');
    const w = await open(dir, side);
    try {
      const r = await analyzeCheckpoint(w, side);
      if (r.fromCache) onProgress?.(1, 1, 'circuit and head roles from the cache');
      sides.push(r);
    } finally {
      await w.model.dispose();
    }
  }
  const [a, b] = sides;
  const ca = readCircuitFile(a.circuitFile).data.cfg;
  const cb = readCircuitFile(b.circuitFile).data.cfg;
  if (ca.nLayers !== cb.nLayers || ca.nHeads !== cb.nHeads || ca.parallelAttnMlp !== cb.parallelAttnMlp) {
    throw new UserError(`${dirA} (${ca.nLayers} layers × ${ca.nHeads} heads) and ${dirB} (${cb.nLayers} × ${cb.nHeads}) have different circuit graphs; compare checkpoints of one architecture`);
  }
  const g = new CircuitGraph(ca);
  const c = compareCircuits(g, { ...a.selection, scores: a.scores }, { ...b.selection, scores: b.scores }, { faithfulnessA: a.faithfulness, faithfulnessB: b.faithfulness });
  const names = (idx: Int32Array) => Array.from(idx, (i) => g.edges[i].name);
  const strip = ({ selection: _s, scores: _c, analysis: _a, cacheKey: _k, ...rest }: typeof a) => rest;
  const layers = Object.fromEntries(Object.entries(c.layers).map(([k, v]) => [k, Array.from(v as Float64Array)])) as Record<keyof CircuitComparison['layers'], number[]>;
  return { a: strip(a), b: strip(b), comparison: { ...c, added: names(c.added), removed: names(c.removed), signFlipped: names(c.signFlipped), layers } };
}
