/**
 * Edge attribution (method spec §2): EAP, EAP-IG over inputs (the paper's method), clean-corrupted,
 * EAP-IG over activations, RelP (EAP with LRP propagation rules, method spec §7.1), information-flow
 * routes (method spec §7.3; no gradients, clean run only), and exact activation patching of every edge.
 *
 * Scores follow the spec's sign and scale: with the loss L = −(1/N) Σ_i metric_i over the N examples,
 * score(u→v) = Σ_{batch, pos, d} Δ_u · ∂L/∂x_v, averaged over integration steps. The reference code
 * takes the batch mean of the metric and then also divides by N, which scales every score by 1/B (B the
 * batch size) when all batches are full; rankings, and therefore circuits, are the same.
 */
import { CircuitGraph, type CircuitConfig } from '../../shared/circuit';
import { discoverDefaults, methodRow, type IgConvention, type Method, type MetricKind } from '../../shared/methods';
import { gradients } from '../onnx/autodiff';
import type { GradTag } from '../onnx/graphBuilder';
import type { ModelSpec } from '../model/config';
import { CancelledError, UserError } from '../errors';
import type { Model } from '../model/runner';
import { batchFeeds } from '../model/runner';
import { f32, i64, type HostTensor } from '../runtime/session';
import { buildInstrumented, deltaPrefixFeeds, routeGroups, tapGradient } from './instrument';
import { transposeBlocksInPlace } from '../util/blocks';
import type { TokenizedPair } from './prompts';
import { batchCap, StreamedCircuit, type Runnable } from './streamed';

export type { Method } from '../../shared/methods';

export interface AttributeOptions {
  readonly method: Method;
  /** Integration steps for the IG methods (the paper uses 5). */
  readonly steps?: number;
  /** 'paper': α = k/m for k = 1..m (DKC); 'upstream': α = k/m for k = 0..m−1 (EAP-IG v2). */
  readonly igConvention?: IgConvention;
  readonly batchSize?: number;
  readonly metric?: MetricKind;
  readonly onProgress?: (done: number, total: number, message: string) => void;
  readonly signal?: AbortSignal;
}

export interface Baselines {
  /** Mean metric on clean prompts. */
  readonly clean: number;
  /** Mean metric on corrupted prompts, read at the clean labels. */
  readonly corrupted: number;
}

export interface AttributionResult {
  /** One score per edge, in the graph's edge order. */
  readonly scores: Float64Array;
  readonly graph: CircuitGraph;
  readonly baselines: Baselines;
  /** Forward(+backward) passes run, for cost reporting. */
  readonly passes: number;
  readonly seconds: number;
  /** Where the time went: clean/corrupted activation runs, gradient (or patching) runs. */
  readonly phaseSeconds: { readonly activations: number; readonly gradients: number };
}

export function circuitConfig(spec: ModelSpec): CircuitConfig {
  return { nLayers: spec.nLayers, nHeads: spec.nHeads, parallelAttnMlp: spec.parallelAttnMlp, dModel: spec.dModel };
}


function checkAbort(signal?: AbortSignal): void {
  if (signal?.aborted) throw new CancelledError();
}

/** The per-example metric at the last real position from [batch, 1, vocab] logits. */
export function metricOf(kind: MetricKind, logits: Float32Array, V: number, i: number, label: number, other: number): number {
  const row = logits.subarray(i * V, (i + 1) * V);
  if (kind === 'logit-diff') return row[label] - row[other];
  let max = -Infinity;
  for (const x of row) if (x > max) max = x;
  let sum = 0;
  for (const x of row) sum += Math.exp(x - max);
  const logp = row[label] - max - Math.log(sum);
  return kind === 'logprob' ? logp : Math.exp(logp);
}

/**
 * The gradient graphs' metric inputs (instrument.ts metricOf): a logit difference's two tokens per
 * prompt and their weights ±1/n; other kinds, weights over the whole vocabulary.
 */
function metricFeeds(kind: MetricKind, batch: readonly TokenizedPair[], V: number, n: number): Record<string, HostTensor> {
  if (kind !== 'logit-diff') return { metric_w: metricWeights(kind, batch, V, n) };
  const tok = new BigInt64Array(2 * batch.length);
  const wk = new Float32Array(2 * batch.length);
  batch.forEach((p, i) => {
    tok[2 * i] = BigInt(p.cleanLabel);
    tok[2 * i + 1] = BigInt(p.corruptedLabel);
    wk[2 * i] = 1 / n;
    wk[2 * i + 1] = -1 / n;
  });
  return { metric_tok: i64(tok, [batch.length, 2]), metric_wk: f32(wk, [batch.length, 1, 2]) };
}

/** Metric weights [batch, 1, vocab]: the metric is Σ w · f(logits), already divided by N. */
function metricWeights(kind: MetricKind, batch: readonly TokenizedPair[], V: number, n: number): HostTensor {
  const w = new Float32Array(batch.length * V);
  batch.forEach((p, i) => {
    w[i * V + p.cleanLabel] += 1 / n;
    if (kind === 'logit-diff') w[i * V + p.corruptedLabel] -= 1 / n;
  });
  return f32(w, [batch.length, 1, V]);
}

export function chunks<T>(xs: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

/**
 * RelP's rule sets (Jafari et al. 2025; graphBuilder.ts GradTag): LN-rule, Identity-rule and
 * Half-rule by default, the AH-rule on request. Each is one propagation pass at α (1: the clean run,
 * this project's EAP convention; 0: the corrupted run, RelP's demo notebook).
 */
export const relpRuns: Partial<Record<Method, { readonly rules: readonly GradTag[]; readonly alpha: number }>> = {
  relp: { rules: ['norm-scale', 'act-ratio', 'gate-product'], alpha: 1 },
  'relp-ah': { rules: ['norm-scale', 'act-ratio', 'gate-product', 'attn-pattern'], alpha: 1 },
  'relp-corrupted': { rules: ['norm-scale', 'act-ratio', 'gate-product'], alpha: 0 },
};

/**
 * Sessions shared by the attribution methods and the evaluation. A streamed model (model/stages.ts)
 * gets the same graphs run stage by stage (streamed.ts), with the same feeds and outputs.
 */
export class CircuitSessions {
  readonly graph: CircuitGraph;
  private readonly streamed?: StreamedCircuit;
  constructor(
    readonly model: Model,
    readonly metric: MetricKind = discoverDefaults.metric,
  ) {
    this.graph = new CircuitGraph(circuitConfig(model.spec));
    if (model.stages) this.streamed = new StreamedCircuit(model);
  }

  /** Node outputs [batch, pos, nF, d] and last-position logits. */
  async activations(): Promise<Runnable> {
    if (this.streamed) return this.streamed.activations();
    return this.model.customSession('circuit:acts', (b, spec, w) => {
      const r = buildInstrumented(b, spec, w, { patch: 'none', outputActivations: true });
      b.output('acts', r.acts!);
      b.output('logits_sel', r.logits);
    });
  }

  /**
   * Loss = −metric and its gradient with respect to the edge coefficients at coef = 0, from gradients
   * at tapped destination inputs (no patch is computed). Inputs: Δ's first slots, slot-major
   * (`deltaPrefixFeeds`); a post-norm model's graph reads `delta_bp` = Δ [batch, pos, nF, d].
   * With `rules` (RelP), the tagged nodes take their propagation rules instead of their gradients.
   */
  async gradient(rules: readonly GradTag[] = []): Promise<Runnable> {
    if (this.streamed && !this.tapGradientsWhole) return this.streamed.gradient({ patch: 'taps', metric: this.metric, rules });
    const held = new Set(rules);
    const key = `circuit:grad:${this.metric}${rules.length ? `:${[...held].sort().join('+')}` : ''}`;
    if (this.streamed) this.wholeKeys.add(key);
    return this.model.wholeSession(key, (b, spec, w) => {
      if (spec.postNorm) {
        // Head edges pass through the layer's norm after attention, which taps cannot contract:
        // differentiate the patched graph at coef = 0 instead (same inputs and outputs).
        const r = buildInstrumented(b, spec, w, { patch: 'absolute', zeroCoef: true, interpolateEmbeddings: true, metric: this.metric });
        const loss = r.metric!.neg();
        const [g] = gradients(b, loss, [r.coef!], undefined, held);
        if (!g) throw new Error('internal: the loss does not depend on the edge coefficients');
        b.output('loss', loss);
        b.output('grad_coef', g);
        return;
      }
      const r = buildInstrumented(b, spec, w, { patch: 'taps', interpolateEmbeddings: true, metric: this.metric });
      const loss = r.metric!.neg();
      const grads = gradients(b, loss, r.taps!.map((t) => t.value), undefined, held);
      b.output('loss', loss);
      b.output('grad_coef', tapGradient(b, spec, r.taps!, grads, held));
    });
  }

  /**
   * A streamed model whose weights are all resident runs its tap gradients as one graph: no stage
   * recomputes its forward pass (a third more work), at the cost of that graph's arena while
   * attribution lasts (`release`), which its batches are cut for.
   */
  get tapGradientsWhole(): boolean {
    return this.streamed !== undefined && this.model.allResident;
  }

  /** Sessions over every layer of a streamed model, compiled for this attribution. */
  private readonly wholeKeys = new Set<string>();

  /** Lets go of the sessions over every layer a streamed model compiled here (their arenas). */
  async release(): Promise<void> {
    for (const k of this.wholeKeys) await this.model.releaseSession(k);
    this.wholeKeys.clear();
  }

  /** The same gradient at non-zero coefficients (EAP-IG over activations). Inputs: `delta`, `coef`. */
  async gradientPatched(): Promise<Runnable> {
    if (this.streamed) return this.streamed.gradient({ patch: 'absolute', metric: this.metric, rules: [] });
    return this.model.customSession(`circuit:gradp:${this.metric}`, (b, spec, w) => {
      const r = buildInstrumented(b, spec, w, { patch: 'absolute', interpolateEmbeddings: true, metric: this.metric });
      const loss = r.metric!.neg();
      const [g] = gradients(b, loss, [r.coef!]);
      if (!g) throw new Error('internal: the loss does not depend on the edge coefficients');
      b.output('loss', loss);
      b.output('grad_coef', g);
    });
  }

  /** Information-flow routes: each destination group's proximities (`routeGroups`) and last-position logits. */
  async routes(): Promise<Runnable> {
    if (this.streamed) return this.streamed.routes();
    return this.model.customSession('circuit:routes', (b, spec, w) => {
      const r = buildInstrumented(b, spec, w, { patch: 'none', routes: true });
      b.output('logits_sel', r.logits);
    });
  }

  /** Relative patching: destinations read patch_src instead of the current output where coef = 1. */
  async patching(perRow: boolean): Promise<Runnable> {
    if (this.streamed) return this.streamed.patching(perRow);
    return this.model.customSession(`circuit:patch:${perRow ? 'row' : 'shared'}`, (b, spec, w) => {
      const r = buildInstrumented(b, spec, w, { patch: 'relative', perRowCoef: perRow });
      b.output('logits_sel', r.logits);
    });
  }
}

/** Where a prompt pair came from, for messages ("prompts.jsonl:3"). */
export function pairWhere(p: TokenizedPair): string {
  return p.where ?? `prompt line ${p.pair.line}`;
}

/**
 * Refuses logits that cannot be right (NaN, ±Inf) for the prompts of a batch: they would propagate
 * into scores and metrics silently. `phase` says which run gave them.
 */
export function checkFiniteLogits(logits: Float32Array, V: number, batch: readonly TokenizedPair[], phase: string): void {
  for (let i = 0; i < batch.length; i++) {
    for (let v = i * V; v < (i + 1) * V; v++) {
      if (!Number.isFinite(logits[v])) {
        throw new UserError(
          `${pairWhere(batch[i])}: the ${phase} gives logits that are not finite (${logits[v]}); the checkpoint's weights overflow float32 on this prompt or training diverged. Check it with 'circuitscope logits', or use another checkpoint`,
        );
      }
    }
  }
}

/** Refuses a metric or score that is not a finite number, naming the prompts and the phase. */
export function checkFinite(x: number, what: string, batch: readonly TokenizedPair[], phase: string): void {
  if (Number.isFinite(x)) return;
  const lines = batch.length === 1 ? pairWhere(batch[0]) : `${pairWhere(batch[0])} to ${pairWhere(batch[batch.length - 1])}`;
  throw new UserError(`${lines}: the ${phase} gives a ${what} that is not finite (${x}); the checkpoint's weights overflow float32 on these prompts or training diverged. Use another checkpoint`);
}

/** Runs clean and corrupted prompts of a batch: node outputs [batch, pos, nF, d] and logits. */
export async function runActivations(
  s: CircuitSessions,
  batch: readonly TokenizedPair[],
  opts: { cleanActs?: boolean } = {},
): Promise<{
  /** The clean run's node outputs: only where asked (Δ), and let go once Δ is made (a node-output tensor is 485 MB at 1B, batch 8). */
  clean?: HostTensor;
  corrupted: HostTensor;
  cleanLogits: Float32Array;
  corruptedLogits: Float32Array;
  feeds: Record<string, HostTensor>;
  corruptedTokens: HostTensor;
}> {
  const sess = await s.activations();
  const spec = s.model.spec;
  const cf = batchFeeds(spec, batch.map((p) => p.clean));
  const rf = batchFeeds(spec, batch.map((p) => p.corrupted));
  const c = await sess.run(cf.feeds, opts.cleanActs === false ? ['logits_sel'] : ['acts', 'logits_sel']);
  const r = await sess.run(rf.feeds, ['acts', 'logits_sel']);
  checkFiniteLogits(c.logits_sel.data as Float32Array, spec.vocabSize, batch, 'clean run');
  checkFiniteLogits(r.logits_sel.data as Float32Array, spec.vocabSize, batch, 'corrupted run');
  return {
    clean: opts.cleanActs === false ? undefined : c.acts,
    corrupted: r.acts,
    cleanLogits: c.logits_sel.data as Float32Array,
    corruptedLogits: r.logits_sel.data as Float32Array,
    feeds: cf.feeds,
    corruptedTokens: rf.feeds.tokens,
  };
}

/** a − b, written over a (the corrupted activations are not read again once Δ is made). */
function subInPlace(a: HostTensor, b: HostTensor): HostTensor {
  const x = a.data as Float32Array;
  const y = b.data as Float32Array;
  for (let i = 0; i < x.length; i++) x[i] -= y[i];
  return a;
}

/** The α values of the integration: paper k/m for k = 1..m, upstream k/m for k = 0..m−1. */
export function igAlphas(steps: number, convention: IgConvention): number[] {
  return Array.from({ length: steps }, (_, k) => (convention === 'paper' ? (k + 1) / steps : k / steps));
}

/** Edge attribution scores for a prompt set. */
export async function attribute(model: Model, pairs: readonly TokenizedPair[], opts: AttributeOptions): Promise<AttributionResult> {
  const t0 = Date.now();
  if (pairs.length === 0) throw new UserError('the prompt set has no prompts');
  const s = new CircuitSessions(model, opts.metric ?? discoverDefaults.metric);
  const g = s.graph;
  const { nForward: nF, nBackward: nB } = g;
  const V = model.spec.vocabSize;
  const N = pairs.length;
  // Tap gradients as one graph (tapGradientsWhole) hold more in their arena than a stage does.
  const copies = s.tapGradientsWhole ? 7 : 5;
  const batchSize = Math.max(1, Math.min(opts.batchSize ?? discoverDefaults.batchSize, batchCap(model, Math.max(...pairs.map((p) => p.clean.length)), copies)));
  const steps = Math.max(1, opts.steps ?? discoverDefaults.steps);
  const dense = new Float64Array(nF * nB); // Accumulated as [nB, nF], the coef layout.
  let cleanSum = 0;
  let corrSum = 0;
  let passes = 0;
  const batches = chunks(pairs, batchSize);

  const row = methodRow(opts.method);
  const schedule = { batchSize, steps, nLayers: model.spec.nLayers, edges: g.edges.length };
  // Progress counts gradient passes; exact patching counts (edge, prompt) runs, its unit of work.
  const routes = opts.method === 'information-flow-routes';
  const total =
    opts.method === 'exact' ? N * g.edges.length : routes ? batches.length : batches.reduce((t, b) => t + row.passesPerBatch(b.length, schedule), 0);
  let done = 0;
  const progress = (msg: string) => opts.onProgress?.(done, total, msg);

  const phase = { activations: 0, gradients: 0 };
  try {
    for (const [bi, batch] of batches.entries()) {
      checkAbort(opts.signal);
      if (routes) {
        // Scores from the clean run alone; the corrupted run only gives the baseline.
        const ta = Date.now();
        const logits = await routesBatch(s, batch, N, dense);
        phase.activations += (Date.now() - ta) / 1000;
        passes += 2;
        batch.forEach((p, i) => {
          cleanSum += metricOf(s.metric, logits.clean, V, i, p.cleanLabel, p.corruptedLabel);
          corrSum += metricOf(s.metric, logits.corrupted, V, i, p.cleanLabel, p.corruptedLabel);
        });
        done++;
        progress(`${opts.method}: batch ${bi + 1}/${batches.length}`);
        continue;
      }
      const ta = Date.now();
      const acts = await runActivations(s, batch, { cleanActs: opts.method !== 'exact' });
      phase.activations += (Date.now() - ta) / 1000;
      const tg = Date.now();
      passes += 2;
      batch.forEach((p, i) => {
        cleanSum += metricOf(s.metric, acts.cleanLogits, V, i, p.cleanLabel, p.corruptedLabel);
        corrSum += metricOf(s.metric, acts.corruptedLogits, V, i, p.cleanLabel, p.corruptedLabel);
      });
      if (opts.method === 'exact') {
        await exactBatch(s, batch, acts, N, dense, opts, () => {
          done += 1;
          if (done % 64 === 0) progress(`exact patching: ${done}/${total} edge×prompt runs`);
        });
        passes += row.passesPerBatch(batch.length, schedule);
      } else {
        await gradientBatch(s, batch, acts, N, dense, { ...opts, steps }, () => {
          passes++;
          done++;
          progress(`${opts.method}: batch ${bi + 1}/${batches.length}`);
        });
      }
      phase.gradients += (Date.now() - tg) / 1000;
      let sum = 0;
      for (let i = 0; i < dense.length; i++) sum += dense[i];
      checkFinite(sum, 'edge score', batch, `attribution (${opts.method})`);
    }
  } finally {
    await s.release();
  }
  const scores = new Float64Array(g.edges.length);
  g.edges.forEach((e, i) => (scores[i] = dense[e.bwd * nF + e.fwd]));
  return { scores, graph: g, baselines: { clean: cleanSum / N, corrupted: corrSum / N }, passes, seconds: (Date.now() - t0) / 1000, phaseSeconds: phase };
}

/**
 * Information-flow routes (Ferrando & Voita 2024) on one batch, as EAP-IG's `information-flow-routes`:
 * at every real position of an example, each upstream node u of a destination v gets the proximity
 * max(0, ‖x_v‖₁ − ‖x_v − z_u‖₁) of its output z_u to v's input x_v, normalized over v's upstream nodes
 * to an importance; importances are averaged over the example's positions and then over the N
 * examples, and added into `dense` ([nB, nF]). Where no upstream node has a positive proximity the
 * importances are 0 (upstream divides 0 by 0). Returns the clean and corrupted last-position logits.
 */
async function routesBatch(s: CircuitSessions, batch: readonly TokenizedPair[], N: number, dense: Float64Array): Promise<{ clean: Float32Array; corrupted: Float32Array }> {
  const spec = s.model.spec;
  const { nForward: nF } = s.graph;
  const sess = await s.routes();
  const groups = routeGroups(spec);
  const { feeds } = batchFeeds(spec, batch.map((p) => p.clean));
  const out = await sess.run(feeds, ['logits_sel', ...groups.map((gr) => gr.name)]);
  const clean = out.logits_sel.data as Float32Array;
  checkFiniteLogits(clean, spec.vocabSize, batch, 'clean run');
  const corrupted = await s.model.lastLogits(batch.map((p) => p.corrupted));
  checkFiniteLogits(corrupted, spec.vocabSize, batch, 'corrupted run');
  for (const gr of groups) {
    const prox = out[gr.name].data as Float32Array; // [batch, pos, n]
    const nPos = out[gr.name].shape[1];
    const imp = new Float64Array(gr.n);
    batch.forEach((p, i) => {
      const len = p.clean.length;
      for (let pos = 0; pos < len; pos++) {
        const row = prox.subarray((i * nPos + pos) * gr.n, (i * nPos + pos + 1) * gr.n);
        let sum = 0;
        for (const x of row) sum += x;
        if (!(sum > 0)) continue;
        for (let u = 0; u < gr.n; u++) imp[u] += row[u] / sum / len;
      }
    });
    for (let c = gr.c0; c < gr.c1; c++) for (let u = 0; u < gr.n; u++) dense[c * nF + u] += imp[u] / N;
  }
  return { clean, corrupted };
}

/**
 * The gradient methods on one batch: each gradient pass adds its weighted ∂L/∂coef into `dense`
 * ([nB, nF]), in the method's order of α values, and calls `tick`.
 */
async function gradientBatch(
  s: CircuitSessions,
  batch: readonly TokenizedPair[],
  acts: Awaited<ReturnType<typeof runActivations>>,
  N: number,
  dense: Float64Array,
  opts: AttributeOptions & { readonly steps: number },
  tick: () => void,
): Promise<void> {
  const g = s.graph;
  const { nForward: nF, nBackward: nB } = g;
  const { steps } = opts;
  const convention = opts.igConvention ?? discoverDefaults.igConvention;
  if (!acts.clean) throw new Error('internal: gradient methods need the clean node outputs');
  const delta = subInPlace(acts.corrupted, acts.clean); // [batch, pos, nF, d]
  acts.clean = undefined;
  const patched = opts.method === 'eap-ig-activations';
  const relp = relpRuns[opts.method];
  const grad = patched ? await s.gradientPatched() : await s.gradient(relp?.rules);
  const spec = s.model.spec;
  // Tap gradients read Δ slot-major, each destination its first slots as a view (tapGradient);
  // post-norm models differentiate the patched graph, which reads Δ as it comes.
  const deltaFeeds = (): Record<string, HostTensor> => {
    if (patched) return { delta };
    if (spec.postNorm) return { delta_bp: delta };
    const [rows, nPos] = delta.shape as number[];
    transposeBlocksInPlace(delta.data as Float32Array, rows * nPos, nF, spec.dModel);
    return deltaPrefixFeeds(spec, delta.data as Float32Array);
  };
  const base = {
    ...acts.feeds,
    tokens_corr: acts.corruptedTokens,
    ...deltaFeeds(),
    ...metricFeeds(s.metric, batch, s.model.spec.vocabSize, N),
  };
  const zeros = f32(new Float32Array(nB * nF), [nB, nF]);
  const accumulate = async (alpha: number, coef: HostTensor, weight: number, rows?: readonly number[]) => {
    checkAbort(opts.signal);
    const a = f32(new Float32Array([alpha]), [1]);
    const out = await grad.run(patched ? { ...base, alpha: a, coef } : { ...base, alpha: a }, ['grad_coef']);
    const gd = out.grad_coef.data as Float32Array; // [nB, nF]
    if (rows) {
      for (const f of rows) for (let c = 0; c < nB; c++) dense[c * nF + f] += weight * gd[c * nF + f];
    } else {
      for (let i = 0; i < gd.length; i++) dense[i] += weight * gd[i];
    }
    tick();
  };
  switch (opts.method) {
    case 'eap':
      await accumulate(1, zeros, 1);
      break;
    case 'clean-corrupted':
      await accumulate(1, zeros, 0.5);
      await accumulate(0, zeros, 0.5);
      break;
    case 'eap-ig-inputs':
      for (const a of igAlphas(steps, convention)) await accumulate(a, zeros, 1 / steps);
      break;
    case 'relp':
    case 'relp-ah':
    case 'relp-corrupted':
      await accumulate(relp!.alpha, zeros, 1);
      break;
    case 'eap-ig-activations':
      // Groups as in the reference: the input, the heads of each layer, each MLP. Each group's
      // outputs are set to α·clean + (1−α)·corrupted in turn, and only that group's rows (its
      // outgoing edges) take their scores from its own passes.
      for (const rows of sourceGroups(s.model.spec.nLayers, s.model.spec.nHeads)) {
        // Only real edges get a coefficient: the contraction spans every forward slot, so a
        // coefficient on a non-edge (a same-layer head, a later node) would patch it in.
        const groupEdges = g.edges.filter((e) => rows.includes(e.fwd));
        for (const a of igAlphas(steps, convention)) {
          const c = new Float32Array(nB * nF);
          for (const e of groupEdges) c[e.bwd * nF + e.fwd] = 1 - a;
          await accumulate(1, f32(c, [nB, nF]), 1 / steps, rows);
        }
      }
      break;
    case 'exact':
      throw new Error('internal: exact patching has no gradient passes');
    case 'information-flow-routes':
      throw new Error('internal: information-flow routes have no gradient passes');
  }
}

/** Forward slots grouped as EAP-IG over activations integrates them: the input, each layer's heads, each MLP. */
function sourceGroups(L: number, H: number): number[][] {
  const groups: number[][] = [[0]];
  for (let l = 0; l < L; l++) {
    groups.push(Array.from({ length: H }, (_, h) => 1 + l * (H + 1) + h));
    groups.push([1 + l * (H + 1) + H]);
  }
  return groups;
}

/**
 * Exact scores: for every edge, the change of the loss when that edge alone carries the corrupted
 * activation. Many (prompt, edge) patches run as rows of one batch, each with its own coefficients.
 */
async function exactBatch(
  s: CircuitSessions,
  batch: readonly TokenizedPair[],
  acts: Awaited<ReturnType<typeof runActivations>>,
  N: number,
  dense: Float64Array,
  opts: AttributeOptions,
  tick: () => void,
): Promise<void> {
  const g = s.graph;
  const { nForward: nF, nBackward: nB } = g;
  const V = s.model.spec.vocabSize;
  const sess = await s.patching(true);
  const rowsPerPass = Math.max(1, opts.batchSize ?? discoverDefaults.batchSize);
  const [, nPos, , d] = acts.corrupted.shape; // [batch, pos, nF, d]
  const per = nPos * nF * d;
  for (let i = 0; i < batch.length; i++) {
    const p = batch[i];
    const cleanMetric = metricOf(s.metric, acts.cleanLogits, V, i, p.cleanLabel, p.corruptedLabel);
    // The example's own positions only: the batch was padded to its longest prompt.
    const len = p.clean.length;
    const src = (acts.corrupted.data as Float32Array).subarray(i * per, i * per + len * nF * d);
    for (const edgeIdx of chunks(Array.from(g.edges.keys()), rowsPerPass)) {
      checkAbort(opts.signal);
      const R = edgeIdx.length;
      const feeds = batchFeeds(s.model.spec, Array.from({ length: R }, () => p.clean)).feeds;
      const patchSrc = new Float32Array(R * src.length); // [R, len, nF, d]
      for (let r = 0; r < R; r++) patchSrc.set(src, r * src.length);
      const coef = new Float32Array(R * nB * nF);
      edgeIdx.forEach((e, r) => (coef[r * nB * nF + g.edges[e].bwd * nF + g.edges[e].fwd] = 1));
      const out = await sess.run({ ...feeds, patch_src: f32(patchSrc, [R, len, nF, d]), coef: f32(coef, [R, 1, nB, nF]) }, ['logits_sel']);
      const logits = out.logits_sel.data as Float32Array;
      edgeIdx.forEach((e, r) => {
        const m = metricOf(s.metric, logits, V, r, p.cleanLabel, p.corruptedLabel);
        // Loss is −metric/N: its change when the edge is patched.
        dense[g.edges[e].bwd * nF + g.edges[e].fwd] += -(m - cleanMetric) / N;
        tick();
      });
    }
  }
}
