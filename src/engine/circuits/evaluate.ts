/**
 * Circuit evaluation (method spec §3.2–3.4): patching faithfulness, zero-ablation target rank and
 * probability with Hit@10, and the faithfulness-vs-size curve.
 *
 * A circuit is run by making every edge outside it read the patch source's output of its parent
 * instead of the current one: the corrupted run's output (patching) or zero (zero ablation).
 */
import { CancelledError, UserError } from '../errors';
import { countIn, pruneDeadNodes, topN, edgeEntropy, type CircuitGraph, type Selection } from '../../shared/circuit';
import type { Model } from '../model/runner';
import { batchFeeds } from '../model/runner';
import { f32, type HostTensor } from '../runtime/session';
import { checkFiniteLogits, chunks, CircuitSessions, metricOf, runActivations, type Baselines } from './attribute';
import { discoverDefaults, type MetricKind } from '../../shared/methods';
import type { TokenizedPair } from './prompts';
import { patchSources, type Ablation } from './ablation';
import { batchCap } from './streamed';

export { ablations, type Ablation } from './ablation';

export interface PatchEvaluation {
  readonly baselines: Baselines;
  /** Mean metric of the patched circuit run. */
  readonly circuit: number;
  /**
   * (circuit − corrupted) / (clean − corrupted) under patching; under another ablation the empty
   * circuit's metric takes the corrupted run's place (MIB).
   */
  readonly faithfulness: number;
  /** What edges outside the circuit carried. */
  readonly ablation: Ablation;
  /** Mean metric of the empty circuit (every edge ablated), for ablations other than patching. */
  readonly empty?: number;
  readonly edges: number;
  readonly nodes: number;
}

export interface ZeroEvaluation {
  /** Per prompt: 0-based rank of the target at the last position, and its probability. */
  readonly ranks: number[];
  readonly probs: number[];
  /** Fraction of prompts with rank <= 9. */
  readonly hit10: number;
  readonly meanProb: number;
}

/** The [1, 1, nB, nF] coefficients that patch every edge outside the circuit. */
export function outsideCoef(g: CircuitGraph, edgeIn: Uint8Array): HostTensor {
  const { nForward: nF, nBackward: nB } = g;
  const c = new Float32Array(nB * nF);
  g.edges.forEach((e, i) => {
    if (!edgeIn[i]) c[e.bwd * nF + e.fwd] = 1;
  });
  return f32(c, [1, 1, nB, nF]);
}

/** Counts of a selection. */
export function selectionCounts(sel: Selection): { edges: number; nodes: number } {
  return { edges: countIn(sel.edgeIn), nodes: [...sel.nodeIn.values()].filter(Boolean).length };
}

/**
 * Patching evaluation of several circuits on one prompt set; clean and corrupted activations are
 * computed once per batch and shared by every circuit.
 */
export async function evaluatePatching(
  model: Model,
  pairs: readonly TokenizedPair[],
  selections: readonly Selection[],
  opts: { batchSize?: number; metric?: MetricKind; ablation?: Ablation; seed?: number; signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {},
): Promise<PatchEvaluation[]> {
  const s = new CircuitSessions(model, opts.metric ?? discoverDefaults.metric);
  const g = s.graph;
  const V = model.spec.vocabSize;
  const N = pairs.length;
  const ablation = opts.ablation ?? 'patch';
  // Patching's metrics do not depend on how prompts are batched; resampling draws per batch, so its batches stay as asked.
  const cap = ablation === 'patch' ? batchCap(model, Math.max(...pairs.map((p) => p.clean.length)), 10) : Infinity;
  const batchSize = Math.max(1, Math.min(opts.batchSize ?? discoverDefaults.batchSize, cap));
  const sess = await s.patching(false);
  const sources = await patchSources(s, pairs, ablation, { batchSize, seed: opts.seed });
  // Under another ablation than patching, the empty circuit (every edge ablated) runs last, as the baseline.
  const withEmpty = ablation === 'patch' ? selections : [...selections, { edgeIn: new Uint8Array(g.edges.length), nodeIn: new Map<string, boolean>() }];
  const coefs = withEmpty.map((sel) => outsideCoef(g, sel.edgeIn));
  const circuitSums = withEmpty.map(() => 0);
  let clean = 0;
  let corrupted = 0;
  const batches = chunks(pairs, batchSize);
  let done = 0;
  let start = 0;
  for (const batch of batches) {
    if (opts.signal?.aborted) throw new CancelledError();
    const acts = await runActivations(s, batch, { cleanActs: false });
    const patchSrc = await sources.forBatch(start, batch, acts.corrupted);
    start += batch.length;
    batch.forEach((p, i) => {
      clean += metricOf(s.metric, acts.cleanLogits, V, i, p.cleanLabel, p.corruptedLabel) / N;
      corrupted += metricOf(s.metric, acts.corruptedLogits, V, i, p.cleanLabel, p.corruptedLabel) / N;
    });
    for (let k = 0; k < withEmpty.length; k++) {
      const out = await sess.run({ ...acts.feeds, patch_src: patchSrc, coef: coefs[k] }, ['logits_sel']);
      const logits = out.logits_sel.data as Float32Array;
      checkFiniteLogits(logits, V, batch, `${ablation === 'patch' ? 'patched' : `${ablation}-ablated`} circuit run`);
      batch.forEach((p, i) => (circuitSums[k] += metricOf(s.metric, logits, V, i, p.cleanLabel, p.corruptedLabel) / N));
      opts.onProgress?.(++done, batches.length * withEmpty.length);
    }
  }
  const empty = ablation === 'patch' ? undefined : circuitSums[selections.length];
  const base = empty ?? corrupted;
  // Equal baselines leave faithfulness undefined (0/0 or x/0): refused, not written as NaN.
  if (empty !== undefined && clean === empty) {
    throw new UserError(
      `${pairs[0].where?.replace(/:\d+$/, '') ?? 'the prompt set'}: the clean run and the empty circuit under ${ablation} ablation give the same mean metric (${clean.toFixed(6)}), so faithfulness is undefined; use another ablation`,
    );
  }
  if (clean === corrupted) {
    throw new UserError(
      `${pairs[0].where?.replace(/:\d+$/, '') ?? 'the prompt set'}: the clean and the corrupted prompts give the same mean metric (${clean.toFixed(6)}), so faithfulness (circuit − corrupted) / (clean − corrupted) is undefined. ` +
        'Use corruptions that change the answer (another subject with another target)',
    );
  }
  return selections.map((sel, k) => ({
    baselines: { clean, corrupted },
    circuit: circuitSums[k],
    faithfulness: (circuitSums[k] - base) / (clean - base),
    ablation,
    ...(empty === undefined ? {} : { empty }),
    ...selectionCounts(sel),
  }));
}

/**
 * Zero-ablation evaluation: edges outside the circuit carry nothing (their parents' outputs are
 * removed from those destinations), positional embeddings and biases remain. Only clean prompts are
 * run, so prompts need no corruption.
 */
export async function evaluateZero(
  model: Model,
  pairs: readonly TokenizedPair[],
  selection: Selection,
  opts: { batchSize?: number; signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {},
): Promise<ZeroEvaluation> {
  const s = new CircuitSessions(model);
  const g = s.graph;
  const V = model.spec.vocabSize;
  const sess = await s.patching(false);
  const coef = outsideCoef(g, selection.edgeIn);
  const ranks: number[] = [];
  const probs: number[] = [];
  const batches = chunks(pairs, Math.max(1, opts.batchSize ?? discoverDefaults.batchSize));
  for (const [bi, batch] of batches.entries()) {
    if (opts.signal?.aborted) throw new CancelledError();
    opts.onProgress?.(bi, batches.length);
    const { feeds, nPos } = batchFeeds(model.spec, batch.map((p) => p.clean));
    const zeros = f32(new Float32Array(batch.length * nPos * g.nForward * model.spec.dModel), [batch.length, nPos, g.nForward, model.spec.dModel]);
    const out = await sess.run({ ...feeds, patch_src: zeros, coef }, ['logits_sel']);
    const logits = out.logits_sel.data as Float32Array;
    checkFiniteLogits(logits, V, batch, 'zero-ablated circuit run');
    batch.forEach((p, i) => {
      const r = rankAndProb(logits.subarray(i * V, (i + 1) * V), p.cleanLabel);
      ranks.push(r.rank);
      probs.push(r.prob);
    });
  }
  return {
    ranks,
    probs,
    hit10: ranks.filter((r) => r <= 9).length / Math.max(1, ranks.length),
    meanProb: probs.reduce((a, b) => a + b, 0) / Math.max(1, probs.length),
  };
}

/** 0-based rank (ties counted against the target) and softmax probability of `label`. */
export function rankAndProb(row: Float32Array, label: number): { rank: number; prob: number } {
  const x = row[label];
  let rank = 0;
  let max = -Infinity;
  for (let v = 0; v < row.length; v++) {
    if (row[v] > x) rank++;
    if (row[v] > max) max = row[v];
  }
  let sum = 0;
  for (let v = 0; v < row.length; v++) sum += Math.exp(row[v] - max);
  return { rank, prob: Math.exp(x - max) / sum };
}

export interface CurvePoint {
  readonly topN: number;
  readonly edges: number;
  readonly nodes: number;
  readonly faithfulness: number;
  readonly edgeEntropy: number;
}

/** Faithfulness of the pruned top-N circuit for each N. */
export async function faithfulnessCurve(
  model: Model,
  pairs: readonly TokenizedPair[],
  g: CircuitGraph,
  scores: Float64Array,
  ns: readonly number[],
  opts: { batchSize?: number; metric?: MetricKind; ablation?: Ablation; seed?: number; signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {},
): Promise<CurvePoint[]> {
  const sels = ns.map((n) => pruneDeadNodes(g, topN(g, scores, n)));
  const evals = await evaluatePatching(model, pairs, sels, opts);
  return ns.map((n, k) => ({ topN: n, edges: evals[k].edges, nodes: evals[k].nodes, faithfulness: evals[k].faithfulness, edgeEntropy: edgeEntropy(scores, sels[k].edgeIn) }));
}

/** A default list of circuit sizes for curves: roughly log-spaced up to all edges. */
export function defaultCurveSizes(nEdges: number): number[] {
  const out = new Set<number>();
  for (let n = 1; n < nEdges; n = Math.ceil(n * 2)) out.add(n);
  for (const f of [0.05, 0.1, 0.246, 0.5]) out.add(Math.round(nEdges * f));
  out.add(nEdges);
  return [...out].filter((n) => n >= 1 && n <= nEdges).sort((a, b) => a - b);
}

/** A circuit's evaluation as `circuitscope evaluate` reports it. */
export type CircuitEvaluation =
  | {
      readonly ablation: 'patch' | 'mean' | 'resample';
      readonly edges: number;
      readonly nodes: number;
      readonly clean: number;
      readonly corrupted: number;
      /** The empty circuit's metric under mean or resample ablation: faithfulness's baseline there. */
      readonly empty?: number;
      readonly circuit: number;
      readonly faithfulness: number;
    }
  | { readonly ablation: 'zero'; readonly edges: number; readonly hit10: number; readonly meanTargetProb: number; readonly ranks: number[]; readonly probs: number[] };

/**
 * Evaluates one circuit on a prompt set: faithfulness under patching, mean or resample ablation, or
 * zero-ablation ranks and Hit@10.
 */
export async function evaluateCircuit(
  model: Model,
  pairs: readonly TokenizedPair[],
  sel: Selection,
  opts: { ablation: Ablation; batchSize?: number; seed?: number; signal?: AbortSignal },
): Promise<CircuitEvaluation> {
  const { ablation, batchSize, signal } = opts;
  if (ablation !== 'zero') {
    const [e] = await evaluatePatching(model, pairs, [sel], { batchSize, signal, ablation, seed: opts.seed });
    return { ablation, edges: e.edges, nodes: e.nodes, clean: e.baselines.clean, corrupted: e.baselines.corrupted, ...(e.empty === undefined ? {} : { empty: e.empty }), circuit: e.circuit, faithfulness: e.faithfulness };
  }
  const z = await evaluateZero(model, pairs, sel, { batchSize, signal });
  return { ablation, edges: countIn(sel.edgeIn), hit10: z.hit10, meanTargetProb: z.meanProb, ranks: z.ranks, probs: z.probs };
}
