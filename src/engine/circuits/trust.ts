/**
 * The trust checks of a circuit (src/shared/trust.ts) that need the model: the spot check re-scores
 * the top K edges by exact one-edge patching, with the sign and scale of the attribution scores:
 * exact(u→v) = −(1/N) Σ_i (metric_i with only u→v patched to the corrupted run − metric_i clean),
 * the change of the loss L = −mean metric, which a linear method estimates.
 */
import { pearson } from '../../shared/analysis';
import type { CircuitGraph, Selection } from '../../shared/circuit';
import type { MetricKind } from '../../shared/methods';
import { connectivity, defaultFaithfulnessThreshold, defaultSpotCheckEdges, spearman, trustWarnings, type Agreement, type SpotCheck, type TrustReport } from '../../shared/trust';
import { CancelledError } from '../errors';
import { batchFeeds, type Model } from '../model/runner';
import { f32 } from '../runtime/session';
import { chunks, CircuitSessions, metricOf, runActivations } from './attribute';
import type { TokenizedPair } from './prompts';

/** Exact one-edge patching scores of the given edges (indices into g.edges), in their order. */
export async function exactEdgeScores(
  model: Model,
  pairs: readonly TokenizedPair[],
  edges: readonly number[],
  opts: { batchSize?: number; metric?: MetricKind; signal?: AbortSignal } = {},
): Promise<Float64Array> {
  const s = new CircuitSessions(model, opts.metric);
  const g = s.graph;
  const { nForward: nF, nBackward: nB } = g;
  const V = model.spec.vocabSize;
  const N = pairs.length;
  const sess = await s.patching(true);
  const out = new Float64Array(edges.length);
  const rowsPerPass = Math.max(1, opts.batchSize ?? 32);
  for (const batch of chunks(pairs, rowsPerPass)) {
    const acts = await runActivations(s, batch, { cleanActs: false });
    const [, nPos, , d] = acts.corrupted.shape;
    const per = nPos * nF * d;
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i];
      const clean = metricOf(s.metric, acts.cleanLogits, V, i, p.cleanLabel, p.corruptedLabel);
      const len = p.clean.length;
      const src = (acts.corrupted.data as Float32Array).subarray(i * per, i * per + len * nF * d);
      for (const part of chunks(Array.from(edges.keys()), rowsPerPass)) {
        if (opts.signal?.aborted) throw new CancelledError();
        const R = part.length;
        const { feeds } = batchFeeds(model.spec, Array.from({ length: R }, () => p.clean));
        const patchSrc = new Float32Array(R * src.length);
        for (let r = 0; r < R; r++) patchSrc.set(src, r * src.length);
        const coef = new Float32Array(R * nB * nF);
        part.forEach((k, r) => (coef[r * nB * nF + g.edges[edges[k]].bwd * nF + g.edges[edges[k]].fwd] = 1));
        const res = await sess.run({ ...feeds, patch_src: f32(patchSrc, [R, len, nF, d]), coef: f32(coef, [R, 1, nB, nF]) }, ['logits_sel']);
        const logits = res.logits_sel.data as Float32Array;
        part.forEach((k, r) => (out[k] += -(metricOf(s.metric, logits, V, r, p.cleanLabel, p.corruptedLabel) - clean) / N));
      }
    }
  }
  return out;
}

/** The top K edges by |score| (ties by edge order), NaN scores excluded. */
export function topEdges(scores: ArrayLike<number>, k: number): number[] {
  const order = Array.from({ length: scores.length }, (_, i) => i).filter((i) => Number.isFinite(scores[i]));
  order.sort((a, b) => Math.abs(scores[b]) - Math.abs(scores[a]) || a - b);
  return order.slice(0, Math.max(0, k));
}

/** Spot check: the top K edges re-scored exactly, and the correlations of the method's scores with them. */
export async function spotCheck(
  model: Model,
  pairs: readonly TokenizedPair[],
  g: CircuitGraph,
  scores: ArrayLike<number>,
  opts: { k?: number; batchSize?: number; metric?: MetricKind; signal?: AbortSignal } = {},
): Promise<SpotCheck> {
  const idx = topEdges(scores, opts.k ?? defaultSpotCheckEdges);
  const exact = await exactEdgeScores(model, pairs, idx, opts);
  const mine = idx.map((i) => scores[i]);
  return {
    k: idx.length,
    edges: idx.map((i, j) => ({ edge: g.edges[i].name, score: scores[i], exact: exact[j] })),
    pearson: pearson(mine, exact),
    spearman: spearman(mine, exact),
  };
}

/**
 * Every trust check of a circuit: spot check (skipped with k = 0), connectivity, faithfulness against
 * the threshold (when known), agreement with another method (when given).
 */
export async function trustChecks(
  model: Model,
  pairs: readonly TokenizedPair[],
  g: CircuitGraph,
  scores: ArrayLike<number>,
  sel: Selection,
  opts: { k?: number; faithfulness?: number; threshold?: number; agreement?: Agreement; batchSize?: number; metric?: MetricKind; signal?: AbortSignal } = {},
): Promise<TrustReport> {
  const k = opts.k ?? defaultSpotCheckEdges;
  const spot = k > 0 ? await spotCheck(model, pairs, g, scores, { ...opts, k }) : undefined;
  const threshold = opts.threshold ?? defaultFaithfulnessThreshold;
  const body = {
    ...(spot ? { spotCheck: spot } : {}),
    connectivity: connectivity(g, sel),
    ...(opts.faithfulness === undefined ? {} : { faithfulness: { value: opts.faithfulness, threshold, low: !(opts.faithfulness >= threshold) } }),
    ...(opts.agreement ? { agreement: opts.agreement } : {}),
  };
  return { ...body, warnings: trustWarnings(body) };
}
