/**
 * The discovery pipeline of the method (§5.2): attribute, select (top-N then prune dead nodes),
 * evaluate faithfulness by patching and Hit@10 by zero ablation, optionally trace the
 * faithfulness-vs-size curve. Used by the CLI, the engine process and the evolution analysis.
 */
import * as path from 'node:path';
import { CircuitGraph, countIn, edgeEntropy, greedy, nodeScoresFromEdges, pruneDeadNodes, threshold, topN, topNNodes, type Selection } from '../../shared/circuit';
import { attributionPasses, defaultNodeTopN, defaultTopN, discoverDefaults, evaluationPasses, type CircuitLevel, type SelectionKind } from '../../shared/methods';
import { stepOf } from '../model/checkpoint';
import type { Model } from '../model/runner';
import { onnxruntimeVersion } from '../runtime/session';
import { attribute, circuitConfig, type AttributeOptions, type AttributionResult } from './attribute';
import { circuitJson, type Provenance } from './circuitFile';
import { defaultCurveSizes, evaluatePatching, evaluateZero, faithfulnessCurve, type CurvePoint, type PatchEvaluation, type ZeroEvaluation } from './evaluate';
import type { PromptSet, TokenizedPair } from './prompts';
import type { Workload } from '../workload';
import type { MibResult } from '../../shared/mib';
import type { TrustReport } from '../../shared/trust';
import type { Ablation } from './ablation';
import { mibEvaluation } from './mib';
import { trustChecks } from './trust';

export const toolVersion = '0.1.0';

export type { SelectionKind } from '../../shared/methods';

export interface DiscoverOptions extends AttributeOptions {
  readonly selection?: SelectionKind;
  /** N for top-N and greedy; the default is the paper's share of edges (8000 of GPT-2 small's 32,491). */
  readonly topN?: number;
  /**
   * 'node': the circuit is the `nodeTopN` nodes of largest |node score| (EAP-IG's node attribution,
   * `nodeScoresFromEdges`) with every edge between them (`topNNodes`); the file carries node scores.
   */
  readonly level?: CircuitLevel;
  /** N of a node-level circuit; the default is the paper's share of the scored nodes (defaultNodeTopN). */
  readonly nodeTopN?: number;
  readonly threshold?: number;
  /** Circuit sizes for the faithfulness curve; true for a default log-spaced list. */
  readonly curve?: readonly number[] | boolean;
  /** What edges outside the circuit carry in the faithfulness evaluations (default: the corrupted run). */
  readonly ablation?: Ablation;
  /** Seed of resample ablation's partners. */
  readonly seed?: number;
  /** MIB's faithfulness at fixed sizes, CPR and CMD. */
  readonly mib?: boolean;
  /** Edges the trust spot check re-scores by exact patching (0, the default here, skips it). */
  readonly spotCheck?: number;
  /** Faithfulness under which the trust checks flag the circuit. */
  readonly faithfulnessThreshold?: number;
}

export interface DiscoverResult {
  readonly attribution: AttributionResult;
  readonly selection: Selection;
  /** Node scores, for a node-level circuit. */
  readonly nodeScores?: ReadonlyMap<string, number>;
  readonly selectionKind: SelectionKind;
  readonly selectionValue: number;
  readonly patch: PatchEvaluation;
  readonly zero: ZeroEvaluation;
  readonly edgeEntropy: number;
  readonly curve?: CurvePoint[];
  readonly mib?: MibResult;
  readonly trust: TrustReport;
  readonly evaluationSeconds: number;
}

export function select(g: CircuitGraph, scores: Float64Array, kind: SelectionKind, value: number): Selection {
  const raw = kind === 'topn' ? topN(g, scores, value) : kind === 'greedy' ? greedy(g, scores, value) : threshold(g, scores, value);
  return pruneDeadNodes(g, raw);
}

export async function discoverCircuit(model: Model, pairs: readonly TokenizedPair[], opts: DiscoverOptions): Promise<DiscoverResult> {
  const w = discoveryPasses(model, pairs.length, opts);
  const report = progressOver(w, opts.onProgress);
  const attribution = await attribute(model, pairs, { ...opts, onProgress: report('attribution') });
  const g = attribution.graph;
  const nodeLevel = (opts.level ?? discoverDefaults.level) === 'node';
  const kind = nodeLevel ? 'topn' : (opts.selection ?? discoverDefaults.selection);
  const nodeScores = nodeLevel ? nodeScoresFromEdges(g, attribution.scores) : undefined;
  const value = nodeLevel ? opts.nodeTopN || defaultNodeTopN(g) : kind === 'threshold' ? (opts.threshold ?? 0) : (opts.topN ?? defaultTopN(g));
  const selection = nodeScores ? topNNodes(g, nodeScores, value) : select(g, attribution.scores, kind, value);
  const t0 = Date.now();
  const ablation = { ablation: opts.ablation, seed: opts.seed };
  const faithfulnessProgress = report('patching');
  faithfulnessProgress(0, 1, 'evaluating the circuit: faithfulness');
  const [patch] = await evaluatePatching(model, pairs, [selection], {
    batchSize: opts.batchSize,
    metric: opts.metric,
    signal: opts.signal,
    ...ablation,
    onProgress: (d, t) => faithfulnessProgress(d, t, 'evaluating the circuit: faithfulness'),
  });
  const zeroProgress = report('zero');
  const zero = await evaluateZero(model, pairs, selection, { batchSize: opts.batchSize, signal: opts.signal, onProgress: (d, t) => zeroProgress(d, t, 'evaluating the circuit: Hit@10') });
  let curve: CurvePoint[] | undefined;
  if (opts.curve) {
    const sizes = opts.curve === true ? defaultCurveSizes(g.edges.length) : opts.curve;
    curve = await faithfulnessCurve(model, pairs, g, attribution.scores, sizes, {
      batchSize: opts.batchSize,
      metric: opts.metric,
      signal: opts.signal,
      ...ablation,
      onProgress: (d, t) => report('curve')(d, t, 'faithfulness curve'),
    });
  }
  const mib = opts.mib
    ? await mibEvaluation(model, pairs, g, attribution.scores, {
        batchSize: opts.batchSize,
        metric: opts.metric,
        signal: opts.signal,
        ...ablation,
        onProgress: (d, t) => report('mib')(d, t, 'MIB faithfulness at 10 sizes, signed and absolute'),
      })
    : undefined;
  report('trust')(0, 1, 'trust checks');
  const trust = await trustChecks(model, pairs, g, attribution.scores, selection, {
    k: opts.spotCheck ?? 0,
    faithfulness: patch.faithfulness,
    threshold: opts.faithfulnessThreshold,
    batchSize: opts.batchSize,
    metric: opts.metric,
    signal: opts.signal,
  });
  return {
    attribution,
    selection,
    nodeScores,
    selectionKind: kind,
    selectionValue: value,
    patch,
    zero,
    edgeEntropy: edgeEntropy(attribution.scores, selection.edgeIn),
    curve,
    mib,
    trust,
    evaluationSeconds: (Date.now() - t0) / 1000,
  };
}

/** The passes of a discovery's phases: attribution (the method table's), evaluation, and the optional ones. */
export function discoveryPasses(model: Model, prompts: number, opts: DiscoverOptions): Record<'attribution' | 'patching' | 'zero' | 'curve' | 'mib' | 'trust', number> {
  const edges = new CircuitGraph(circuitConfig(model.spec)).edges.length;
  const batchSize = Math.max(1, opts.batchSize ?? discoverDefaults.batchSize);
  const batches = Math.ceil(prompts / batchSize);
  const sizes = opts.curve ? (opts.curve === true ? defaultCurveSizes(edges) : opts.curve).length : 0;
  return {
    attribution: attributionPasses(opts.method, prompts, { batchSize, steps: opts.steps ?? discoverDefaults.steps, nLayers: model.spec.nLayers, edges }),
    ...evaluationPasses(prompts, batchSize, sizes),
    // MIB: 10 sizes, signed and absolute, in one patching sweep; trust checks: about one patching sweep.
    mib: opts.mib ? batches * 22 : 0,
    trust: batches * 3,
  };
}

/**
 * Progress over a whole discovery: each phase reports (done, total) of its own and moves the one
 * figure by its share of the passes, so that evaluation moves the bar instead of sitting at 0 %.
 */
function progressOver<K extends string>(passes: Record<K, number>, onProgress?: (done: number, total: number, message: string) => void) {
  const keys = Object.keys(passes) as K[];
  const total = keys.reduce((t, k) => t + passes[k], 0);
  return (phase: K) => {
    const start = keys.slice(0, keys.indexOf(phase)).reduce((t, k) => t + passes[k], 0);
    return (done: number, of: number, message: string) => onProgress?.(Math.round(start + (of > 0 ? (Math.min(done, of) / of) * passes[phase] : 0)), total, message);
  };
}

/** A discovered circuit: the pipeline's result, its provenance, and the circuit file's text. */
export interface DiscoveredCircuit {
  readonly result: DiscoverResult;
  readonly provenance: Provenance;
  /** The circuit file as circuitJson makes it, for the caller to write (atomically). */
  readonly text: string;
}

/** Discovers the circuit of a workload, with its provenance and its file's text. */
export async function discoverWorkload(w: Workload, opts: DiscoverOptions): Promise<DiscoveredCircuit> {
  const result = await discoverCircuit(w.model, w.pairs, opts);
  const provenance = buildProvenance(w.model, w.set, w.pairs, opts, result);
  const g = result.attribution.graph;
  const text = circuitJson(g, { cfg: g.cfg, scores: result.attribution.scores, edgeIn: result.selection.edgeIn, nodeIn: result.selection.nodeIn, nodeScores: result.nodeScores }, provenance);
  return { result, provenance, text };
}

export function buildProvenance(model: Model, set: PromptSet, pairs: readonly TokenizedPair[], opts: DiscoverOptions, r: DiscoverResult): Provenance {
  const dir = model.checkpoint.dir;
  return {
    formatVersion: 1,
    toolVersion,
    createdAt: new Date().toISOString(),
    checkpoint: { path: dir, hash: model.checkpoint.contentHash(), architecture: model.spec.architecture, step: stepOf(dir) },
    prompts: { path: path.resolve(set.file), hash: set.hash, format: set.format, count: pairs.length, dropped: set.dropped },
    method: opts.method,
    // 1 for the methods without integration steps; clean-corrupted records the steps asked for, as its files always have.
    steps: opts.method === 'eap' || opts.method === 'exact' || opts.method === 'information-flow-routes' ? 1 : (opts.steps ?? discoverDefaults.steps),
    igConvention: opts.igConvention ?? discoverDefaults.igConvention,
    metric: opts.metric ?? discoverDefaults.metric,
    batchSize: opts.batchSize ?? discoverDefaults.batchSize,
    prependBos: model.options.prependBos !== false,
    selection: { kind: r.selectionKind, value: r.selectionValue },
    // Only node-level circuits record it, so that edge-level files read as before.
    ...(r.nodeScores ? { level: 'node' as const } : {}),
    baselines: r.patch.baselines,
    circuitPerformance: r.patch.circuit,
    faithfulness: r.patch.faithfulness,
    hit10: r.zero.hit10,
    meanTargetProb: r.zero.meanProb,
    edges: countIn(r.selection.edgeIn),
    nodes: r.patch.nodes,
    edgeEntropy: r.edgeEntropy,
    curve: r.curve,
    ...(r.patch.ablation === 'patch' ? {} : { ablation: r.patch.ablation }),
    ...(r.mib ? { mib: r.mib } : {}),
    trust: r.trust,
    timings: { attributionSeconds: r.attribution.seconds, evaluationSeconds: r.evaluationSeconds },
    versions: { node: process.version, onnxruntime: onnxruntimeVersion },
  };
}
