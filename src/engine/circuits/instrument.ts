/**
 * Turns the compiled model into the circuit graph's patchable form (method spec §1, §2.1, §3.2).
 *
 * Every destination input x_v (a head's q, k or v input, an MLP input, the logits' input) becomes
 *
 *     x_v = (the model's own input) + Σ_u coef[v, u] · Δ_u
 *
 * summed over the upstream nodes u that feed v (its first prev_index forward slots). Two modes:
 * - 'absolute': Δ is the graph input `delta` (z'_u − z_u from full clean and corrupted runs). The
 *   gradient of the metric with respect to `coef` at coef = 0 is the EAP score matrix, summed over
 *   batch and position by the contraction itself. EAP-IG interpolates the embeddings and keeps Δ.
 * - 'taps': the coefficients are all zero, so no patch is computed at all: every destination input gets
 *   a value of its own (a tap), and the caller takes gradients with respect to the taps and contracts
 *   them with Δ (see `tapGradient`). Same scores as 'absolute' at coef = 0, without the forward GEMM.
 * - 'relative': Δ_u = patch_src_u − z_u(current pass), so coef = 1 on an edge makes the destination
 *   read the patch source's output of u instead of the current one. With patch_src = corrupted
 *   activations this is the circuit patching of §3.2; with patch_src = 0 it is zero ablation.
 *
 * Layouts: node outputs are stacked as [batch, pos, nForward, d] (forward index order). In absolute
 * mode every destination's patch comes from one GEMM, coef [nB, nF] @ Δ [nF, rows] (coefficients beyond
 * a destination's parents are zero). In relative mode each node output's Δ is made once, when the
 * output is recorded, and a destination's patch sums one product per upstream output, so that no
 * stack of outputs is made per destination. `coef` is [nBackward, nForward] in absolute mode, and
 * [rows, 1, nBackward, nForward] in relative mode with rows 1 (shared) or batch (one patch pattern
 * per batch row, for exact patching).
 */
import type { MetricKind } from '../../shared/methods';
import type { GradTag, GraphBuilder, Value } from '../onnx/graphBuilder';
import type { ModelSpec } from '../model/config';
import { buildTransformer, B, P, type LoadedWeights, type Projection } from '../model/transformer';
import { f32, type HostTensor } from '../runtime/session';

export type PatchMode = 'none' | 'absolute' | 'relative' | 'taps';
export type { MetricKind } from '../../shared/methods';

export interface InstrumentOptions {
  readonly patch: PatchMode;
  /** `coef` has one row per batch row (exact patching) instead of one shared row. */
  readonly perRowCoef?: boolean;
  /** Token embeddings are corrupted + alpha·(clean − corrupted), from `tokens`, `tokens_corr`, `alpha`. */
  readonly interpolateEmbeddings?: boolean;
  /** Output the stacked node outputs as 'acts' [batch, pos, nForward, d]. */
  readonly outputActivations?: boolean;
  /**
   * Absolute mode with the coefficients a zero constant and Δ fed as 'delta_bp': the gradient at
   * coef = 0 without taps, for post-norm models (whose head edges pass through the layer's norm).
   */
  readonly zeroCoef?: boolean;
  /** Output 'metric' = Σ metric_w · f(logits) over batch and vocabulary, for f by kind. */
  readonly metric?: MetricKind;
  /**
   * Information-flow routes (patch 'none' only): output each destination group's proximities
   * (see `routeGroups`) as its `name`, [batch, pos, n].
   */
  readonly routes?: boolean;
  /**
   * Only layers [from, to) (a stage of block-streamed execution, circuits/streamed.ts). The stage
   * reads the residual stream from `resid_in` when it starts after the first layer, and the current
   * outputs of the nodes before it from `prev_out` [batch, pos, nForward, d] (its first slots) where
   * relative patching or routes need them. Coefficients and tap gradients cover only the stage's
   * backward columns (`stageColumns`); 'acts' holds only the stage's own node outputs.
   */
  readonly stage?: { readonly from: number; readonly to: number };
}

/** The backward columns [c0, c1) and forward slots [f0, f1) of the destinations and nodes in layers [from, to). */
export function stageColumns(spec: ModelSpec, from: number, to: number): { c0: number; c1: number; f0: number; f1: number } {
  const { nLayers: L, nHeads: H } = spec;
  return { c0: from * (3 * H + 1), c1: to * (3 * H + 1) + (to === L ? 1 : 0), f0: from === 0 ? 0 : 1 + from * (H + 1), f1: 1 + to * (H + 1) };
}

/**
 * The destination groups of information-flow routes: every destination in backward columns
 * [c0, c1) reads the same input (a layer's q, k and v inputs of every head are its residual stream, as
 * TransformerLens' split inputs are), fed by the first n forward slots. For each, the graph output
 * `name` [batch, pos, n] holds Ferrando & Voita's proximity max(0, ‖x‖₁ − ‖x − z_u‖₁) of each upstream
 * output z_u to the destination's input x (per position, L1 over the hidden dimension).
 */
export interface RouteGroup {
  readonly name: string;
  readonly c0: number;
  readonly c1: number;
  readonly n: number;
}

export function routeGroups(spec: ModelSpec): RouteGroup[] {
  const { nLayers: L, nHeads: H } = spec;
  const out: RouteGroup[] = [];
  for (let l = 0; l < L; l++) {
    const base = l * (3 * H + 1);
    const nPrev = 1 + l * (H + 1);
    out.push({ name: `routes_${base}`, c0: base, c1: base + 3 * H, n: nPrev });
    out.push({ name: `routes_${base + 3 * H}`, c0: base + 3 * H, c1: base + 3 * H + 1, n: spec.parallelAttnMlp ? nPrev : nPrev + H });
  }
  const nB = L * (3 * H + 1) + 1;
  out.push({ name: `routes_${nB - 1}`, c0: nB - 1, c1: nB, n: 1 + L * (H + 1) });
  return out;
}

/**
 * A destination group's tap and its first backward column: its input ([batch, pos, d], one
 * destination), or the q, k or v projection of a layer's heads ([batch, H, pos, e]) with the way from
 * its gradient to the gradient at each head's input ([batch, H, pos, d], transformer.ts Projection).
 */
export interface Tap {
  readonly column: number;
  readonly value: Value;
  readonly toInput?: Projection['toInput'];
}

export interface Instrumented {
  readonly logits: Value; // [batch, 1, vocab]
  readonly taps?: Tap[];
  readonly coef?: Value;
  readonly metric?: Value;
  readonly acts?: Value;
  /** The residual stream after a stage that ends before the last layer (then `logits` is the same value). */
  readonly residOut?: Value;
}

/** Builds the instrumented model into `b`. */
export function buildInstrumented(b: GraphBuilder, spec: ModelSpec, w: LoadedWeights, o: InstrumentOptions): Instrumented {
  if (o.patch === 'taps' && o.perRowCoef) throw new Error('internal: taps have no coefficients');
  if (o.patch === 'absolute' && o.perRowCoef) throw new Error('internal: per-row coefficients need relative patching');
  if (o.routes && o.patch !== 'none') throw new Error('internal: information-flow routes read the unpatched run');
  const ins = new Instrumenter(b, spec, o);
  const first = (o.stage?.from ?? 0) === 0;
  const last = (o.stage?.to ?? spec.nLayers) === spec.nLayers;
  const embedTokens = o.interpolateEmbeddings && first ? interpolatedEmbedding(b) : undefined;
  // A logit difference reads two logits per prompt: the graph unembeds only those (metricOf).
  const vocabulary = o.metric === 'logit-diff' && last ? b.input('metric_tok', 'int64', [B, 2]) : undefined;
  const logits = buildTransformer(b, spec, w, {
    vocabulary,
    // Heads read their own inputs only where destinations are patched, tapped or traced; their
    // results are apart only where node outputs are recorded (taps read Δ as an input).
    split: {
      // Taps need each head's gradient, not its own input: one input, the projections reported.
      inputs: o.patch === 'absolute' || o.patch === 'relative' || o.routes === true,
      results: o.patch === 'absolute' || o.patch === 'relative' || o.outputActivations === true || o.routes === true,
    },
    hook: (name, v) => ins.hook(name, v),
    embedTokens,
    onAttnPostNorm: (l, norm) => (ins.attnPostNorm[l] = norm),
    onProjection: o.patch === 'taps' ? (l, which, p) => ins.taps.push({ column: l * (3 * spec.nHeads + 1) + letters[`hook_${which}_input`] * spec.nHeads, value: p.y, toInput: p.toInput }) : undefined,
    layers: o.stage,
  }); // [batch, 1, vocab], or a stage's residual stream [batch, pos, d]
  return {
    logits,
    residOut: last ? undefined : logits,
    coef: ins.coef,
    taps: o.patch === 'taps' ? ins.taps : undefined,
    acts: o.outputActivations ? ins.ownOutputs() : undefined, // [batch, pos, nF, d]
    metric: o.metric && last ? metricOf(b, logits, o.metric, spec.vocabSize) : undefined,
  };
}

/** Token embeddings corrupted + alpha·(clean − corrupted), from `tokens`, `tokens_corr` and `alpha`. */
function interpolatedEmbedding(b: GraphBuilder): (WE: Value, tokens: Value) => Value {
  const tokensCorr = b.input('tokens_corr', 'int64', [B, P]);
  const alpha = b.input('alpha', 'float32', [1]);
  return (WE, tokens) => {
    const corr = b.gather(WE, tokensCorr, 0); // [batch, pos, d]
    return b.add(corr, b.mul(alpha, b.sub(b.gather(WE, tokens, 0), corr)));
  };
}

/**
 * 'metric' = Σ metric_w · f(logits) over batch and vocabulary, for f by kind. A logit difference reads
 * the logits of `metric_tok` [batch, 2] (the graph unembeds only those) with weights `metric_wk`
 * [batch, 1, 2]; the other kinds normalize over the vocabulary and read `metric_w` [batch, 1, vocab].
 */
function metricOf(b: GraphBuilder, logits: Value, kind: MetricKind, V: number): Value {
  if (kind === 'logit-diff') return b.reduceSum(b.mul(logits, b.input('metric_wk', 'float32', [B, 1, 2])), [0, 1, 2], false);
  const mw = b.input('metric_w', 'float32', [B, 1, V]);
  let f: Value;
  switch (kind) {
    case 'prob':
      f = b.softmax(logits, -1);
      break;
    case 'logprob':
      // log softmax = x − log Σ exp(x); logits of these models stay far below exp's float32 range.
      f = b.sub(logits, b.unary('Log', b.reduceSum(b.unary('Exp', logits), [-1])));
      break;
  }
  return b.reduceSum(b.mul(f, mw), [0, 1, 2], false); // []
}

const letters = { hook_q_input: 0, hook_k_input: 1, hook_v_input: 2 } as const;

/** The state of one instrumentation: the patch inputs, the node outputs seen so far, the taps. */
class Instrumenter {
  readonly nF: number;
  readonly nB: number;
  coef?: Value;
  private groupPatch?: (c0: number, k: number) => Value;
  private patchSrc?: Value; // [batch, pos, nF, d]
  private deltaAbs?: Value; // [batch, pos, nF, d], absolute mode
  /** Node outputs in forward-index order, each [batch, pos, k, d]. */
  private readonly outputs: Value[] = [];
  /**
   * Relative mode: Δ of each recorded output, patch_src − output over its forward slots
   * [f0, f0 + k), made once when the output is recorded and read by every destination it feeds.
   */
  private readonly deltas: { f0: number; f1: number; delta: Value }[] = [];
  private outputCount = 0;
  /** Recorded outputs before this one are a stage's inputs (`prev_out`), not its own. */
  private ownFrom = 0;
  /** A stage's first backward column (0 for the whole model). */
  private readonly c0: number;
  /** Each post-norm layer's attention output before its norm, and the norm. */
  private readonly attnPre: Value[] = [];
  readonly attnPostNorm: ((x: Value) => Value)[] = [];
  private readonly qkvPatch = new Map<number, Value[]>();
  readonly taps: Tap[] = [];

  constructor(
    private readonly b: GraphBuilder,
    private readonly spec: ModelSpec,
    private readonly o: InstrumentOptions,
  ) {
    const { nLayers: L, nHeads: H } = spec;
    this.nF = 1 + L * (H + 1);
    this.nB = L * (3 * H + 1) + 1;
    const cols = stageColumns(spec, o.stage?.from ?? 0, o.stage?.to ?? L);
    this.c0 = cols.c0;
    if (o.stage && spec.postNorm && (o.stage.from > 0 || o.stage.to < L)) throw new Error('internal: post-norm models run as one graph');
    if (o.patch === 'absolute') this.setupAbsolute(cols.c0, cols.c1);
    else if (o.patch === 'relative') {
      this.coef = b.input('coef', 'float32', [o.perRowCoef ? B : 1, 1, cols.c1 - cols.c0, this.nF]);
      this.patchSrc = b.input('patch_src', 'float32', [B, P, this.nF, spec.dModel]);
    }
    if (cols.f0 > 0) {
      // Nodes before the stage: their current outputs where patches or routes read them (recorded
      // after patch_src exists, so that relative patching makes their Δ).
      if (o.patch === 'relative' || o.routes) this.record(b.slice(b.input('prev_out', 'float32', [B, P, this.nF, spec.dModel]), 2, 0, cols.f0), cols.f0);
      else this.outputCount = cols.f0;
      this.ownFrom = this.outputs.length;
    }
  }

  /** The outputs of the nodes this graph computes, stacked: [batch, pos, n, d]. */
  ownOutputs(): Value {
    const own = this.outputs.slice(this.ownFrom);
    return own.length === 1 ? own[0] : this.b.concat(own, 2);
  }

  /**
   * Absolute mode: every destination's patch in one GEMM, which reads Δ once: [nB, nF] @ [nF, rows] =
   * [nB, rows]. Split (whose VJP is a Concat) then hands each destination group its rows.
   */
  private setupAbsolute(c0: number, c1: number): void {
    const { b, o, nF, nB } = this;
    const { nLayers: L, nHeads: H, dModel: d } = this.spec;
    const from = o.stage?.from ?? 0;
    const to = o.stage?.to ?? L;
    const rows = c1 - c0;
    this.coef = o.zeroCoef ? b.constant(new Float32Array(rows * nF), [rows, nF]) : b.input('coef', 'float32', [rows, nF]);
    const delta = b.input(o.zeroCoef ? 'delta_bp' : 'delta', 'float32', [B, P, nF, d]);
    this.deltaAbs = delta;
    const deltaT = b.transpose(delta, [2, 0, 1, 3]); // [nF, batch, pos, d]
    const all = b.matMul(this.coef, b.reshapeLike(deltaT, [nF, 'rows'], [nF, -1])); // [nB, batch * pos * d]
    const sizes: number[] = [];
    for (let l = from; l < to; l++) sizes.push(3 * H, 1);
    if (to === L) sizes.push(1);
    const groups = b.opMulti('Split', [all, b.ints(sizes)], sizes.map((k) => ({ dtype: 'float32' as const, shape: [k, 'rows'] })), { axis: { kind: 'int', value: 0 } });
    const runtimeShape = b.slice(b.op('Shape', [deltaT], 'int64', [4]), 0, 1, 4); // [batch, pos, d]
    this.groupPatch = (c0, k) => {
      const gi = c0 === nB - 1 ? 2 * (L - from) : 2 * (Math.floor(c0 / (3 * H + 1)) - from) + (c0 % (3 * H + 1) === 0 ? 0 : 1);
      if (sizes[gi] !== k) throw new Error(`internal: destination group at column ${c0} has ${sizes[gi]} rows, asked for ${k}`);
      const shape = b.concat([b.ints([k]), runtimeShape], 0); // [k, batch, pos, d]
      return b.transpose(b.op('Reshape', [groups[gi], shape], 'float32', [k, B, P, d]), [1, 2, 0, 3]); // [batch, pos, k, d]
    };
  }

  private record(v: Value, k: number): void {
    const f0 = this.outputCount;
    this.outputs.push(v);
    this.outputCount += k;
    if (this.patchSrc) this.deltas.push({ f0, f1: f0 + k, delta: this.b.sub(this.b.slice(this.patchSrc, 2, f0, f0 + k), v) }); // [batch, pos, k, d]
  }

  /** The current outputs of the first n nodes, stacked: [batch, pos, n, d]. */
  stackFirst(n: number): Value {
    const parts: Value[] = [];
    let have = 0;
    for (const v of this.outputs) {
      if (have >= n) break;
      const k = v.shape[2] as number;
      parts.push(have + k <= n ? v : this.b.slice(v, 2, 0, n - have));
      have += Math.min(k, n - have);
    }
    if (have !== n) throw new Error(`internal: ${have} node outputs recorded, ${n} needed`);
    return parts.length === 1 ? parts[0] : this.b.concat(parts, 2);
  }

  /**
   * Σ_u coef[v, u] Δ_u for the destinations in backward columns [c0, c0 + k), fed by the first n
   * forward slots: [batch, pos, k, d]. In relative mode it is summed output by output, each
   * recorded output's Δ against its own columns of `coef`, so that no [batch, pos, n, d] stack of
   * outputs or patch sources is ever made (at Llama-3.2-1B shape, one is 92 MiB per layer at batch 8).
   */
  private linearPatch(c0: number, k: number, n: number): Value {
    const b = this.b;
    if (this.groupPatch) return this.groupPatch(c0, k);
    const c = b.slice(this.coef!, 2, c0 - this.c0, c0 - this.c0 + k); // [rows, 1, k, nF]
    let sum: Value | undefined;
    for (const { f0, f1, delta } of this.deltas) {
      if (f0 >= n) break;
      if (f1 > n) throw new Error(`internal: destination columns ${c0}+${k} read ${n} forward slots, which split the output at [${f0}, ${f1})`);
      const term = b.matMul(b.slice(c, 3, f0, f1), delta); // [rows, 1, k, f1 − f0] @ [batch, pos, f1 − f0, d]
      sum = sum ? b.add(sum, term) : term;
    }
    if (!sum) throw new Error(`internal: no outputs recorded before destination columns ${c0}+${k}`);
    return sum; // [batch, pos, k, d]
  }

  /** Σ_{u in forward slots [f0, f1)} coef[v, u] Δ_u for destinations [c0, c0 + k): [batch, pos, k, d]. */
  private slotPatch(c0: number, k: number, f0: number, f1: number): Value {
    const b = this.b;
    if (this.deltaAbs) return b.matMul(b.slice(b.slice(this.coef!, 0, c0, c0 + k), 1, f0, f1), b.slice(this.deltaAbs, 2, f0, f1)); // [k, n] @ [batch, pos, n, d]
    const own = this.deltas.find((x) => x.f0 === f0 && x.f1 === f1);
    if (!own) throw new Error(`internal: no recorded output spans forward slots [${f0}, ${f1})`);
    return b.matMul(b.slice(b.slice(this.coef!, 2, c0, c0 + k), 3, f0, f1), own.delta); // [rows, 1, k, n] @ [batch, pos, n, d]
  }

  /**
   * The patch of destinations [c0, c0 + k) fed by the first n forward slots. With a norm after
   * attention (Gemma-2/3, OLMo-2) the heads of layer l′ reach the residual stream only through
   * N_l′(A_l′), so their share is N_l′(A_l′ + Σ_h coef·Δ_h) − N_l′(A_l′) with A_l′ the layer's
   * attention output in this pass: patching every edge gives N_l′(A_corrupted), the corrupted run.
   */
  private patch(c0: number, k: number, n: number): Value {
    const b = this.b;
    const H = this.spec.nHeads;
    let out = this.linearPatch(c0, k, n);
    if (!this.spec.postNorm) return out;
    for (let l = 0; 1 + l * (H + 1) + H <= n; l++) {
      const h0 = 1 + l * (H + 1);
      const heads = this.slotPatch(c0, k, h0, h0 + H); // [batch, pos, k, d]
      const A = b.unsqueeze(this.attnPre[l], [2]); // [batch, pos, 1, d]
      out = b.add(b.sub(out, heads), b.sub(this.attnPostNorm[l](b.add(A, heads)), this.attnPostNorm[l](A)));
    }
    return out;
  }

  /** Information-flow routes: the proximities of the first n outputs to destination input x ([batch, pos, d] or [batch, pos, 1, d]). */
  private route(column: number, x: Value, n: number): void {
    const b = this.b;
    const xs = x.rank === 3 ? b.unsqueeze(x, [2]) : x; // [batch, pos, 1, d]
    const own = b.reduceSum(b.unary('Abs', xs), [3], false); // [batch, pos, 1]
    const apart = b.reduceSum(b.unary('Abs', b.sub(xs, this.stackFirst(n))), [3], false); // [batch, pos, n]
    b.output(`routes_${column}`, b.unary('Relu', b.sub(own, apart)));
  }

  /** A tap: the destination's own input value, whose gradient is that destination's alone. */
  private tap(column: number, v: Value): Value {
    const t = this.b.unary('Identity', v);
    this.taps.push({ column, value: t });
    return t;
  }

  /** The hook passed to the compiler: records node outputs and patches or taps destination inputs. */
  hook(name: string, v: Value): Value {
    const b = this.b;
    if (name === 'hook_embed') {
      this.record(b.unsqueeze(v, [2]), 1);
      return v;
    }
    const m = /^blocks\.(\d+)\.(hook_q_input|hook_k_input|hook_v_input|attn\.hook_result|hook_attn_pre_norm|hook_mlp_in|hook_mlp_out|hook_resid_post)$/.exec(name);
    if (!m) return v;
    const l = Number(m[1]);
    const { nLayers: L, nHeads: H } = this.spec;
    const base = l * (3 * H + 1);
    const nPrevAttn = 1 + l * (H + 1);
    const tapping = this.o.patch === 'taps';
    switch (m[2]) {
      case 'hook_q_input':
      case 'hook_k_input':
      case 'hook_v_input':
        return this.qkvInput(l, letters[m[2]], v);
      case 'attn.hook_result':
        this.record(v, H);
        return v;
      case 'hook_attn_pre_norm':
        this.attnPre[l] = v;
        return v;
      case 'hook_mlp_in':
        if (this.o.routes) this.route(base + 3 * H, v, this.spec.parallelAttnMlp ? nPrevAttn : nPrevAttn + H);
        if (tapping) return this.tap(base + 3 * H, v);
        if (!this.coef) return v;
        return b.add(v, b.squeeze(this.patch(base + 3 * H, 1, this.spec.parallelAttnMlp ? nPrevAttn : nPrevAttn + H), [2])); // [batch, pos, d]
      case 'hook_mlp_out':
        this.record(b.unsqueeze(v, [2]), 1);
        return v;
      case 'hook_resid_post':
        if (l !== L - 1) return v;
        if (this.o.routes) this.route(this.nB - 1, v, this.nF);
        if (tapping) return this.tap(this.nB - 1, v);
        if (!this.coef) return v;
        if (this.outputCount !== this.nF) throw new Error(`internal: logits see ${this.outputCount} outputs, expected ${this.nF}`);
        return b.add(v, b.squeeze(this.patch(this.nB - 1, 1, this.nF), [2]));
    }
    return v;
  }

  /** Layer l's q, k or v inputs (letter 0, 1, 2) of every head, [batch, pos, H, d]. */
  private qkvInput(l: number, letter: number, v: Value): Value {
    const b = this.b;
    const { nHeads: H, dModel: d } = this.spec;
    const base = l * (3 * H + 1);
    // The three letters read the same residual stream: one group of proximities per layer.
    if (this.o.routes && letter === 0) this.route(base, v, 1 + l * (H + 1));
    // Taps never come here: their heads' projections are reported instead (buildInstrumented).
    if (!this.coef) return v;
    const nPrevAttn = 1 + l * (H + 1);
    if (this.outputCount !== nPrevAttn) throw new Error(`internal: layer ${l} heads see ${this.outputCount} outputs, expected ${nPrevAttn}`);
    // Relative mode: each letter's patch when its heads ask for it, [batch, pos, H, d], not all three at once.
    if (!this.groupPatch) return b.add(v, this.patch(base + letter * H, H, nPrevAttn));
    let parts = this.qkvPatch.get(l);
    if (!parts) {
      const all = this.patch(base, 3 * H, nPrevAttn); // [batch, pos, 3H, d]
      // Split rather than three Slices: Split's VJP is one Concat, a Slice's is a zero-padded copy.
      parts = b.opMulti('Split', [all, b.ints([H, H, H])], [0, 1, 2].map(() => ({ dtype: 'float32' as const, shape: [B, P, H, d] })), {
        axis: { kind: 'int', value: 2 },
      });
      this.qkvPatch.set(l, parts);
    }
    return b.add(v, parts[letter]); // [batch, pos, H, d]
  }
}

/** A tap column's upstream nodes: the first n forward slots (the rest of its column is zero). */
function tapUpstream(spec: ModelSpec, c: number): number {
  const { nLayers: L, nHeads: H } = spec;
  if (c === L * (3 * H + 1)) return 1 + L * (H + 1);
  const l = Math.floor(c / (3 * H + 1));
  return 1 + l * (H + 1) + (c % (3 * H + 1) === 3 * H && !spec.parallelAttnMlp ? H : 0);
}

/**
 * The numbers n of upstream forward slots that tap columns read: each is a graph input
 * `delta_sm_<n>` [n, batch·pos·d], the first n slots of Δ laid out slot-major (`deltaPrefixFeeds`).
 */
export function tapPrefixes(spec: ModelSpec): number[] {
  const { nLayers: L, nHeads: H } = spec;
  const ns = new Set<number>();
  for (let c = 0; c <= L * (3 * H + 1); c++) ns.add(tapUpstream(spec, c));
  return [...ns].sort((a, b) => a - b);
}

/**
 * The graph inputs of `tapGradient`: views of Δ's first n slots for each prefix n, from Δ laid out
 * slot-major [nF, batch·pos·d] (util/blocks.ts `transposeBlocksInPlace`). They share the one buffer, so no prefix is
 * ever copied: a Slice of Δ [batch, pos, nF, d] copied up to a node-output tensor per layer and pass.
 */
export function deltaPrefixFeeds(spec: ModelSpec, slotMajor: Float32Array): Record<string, HostTensor> {
  const nF = 1 + spec.nLayers * (spec.nHeads + 1);
  const k = slotMajor.length / nF;
  const out: Record<string, HostTensor> = {};
  for (const n of tapPrefixes(spec)) out[`delta_sm_${n}`] = f32(slotMajor.subarray(0, n * k), [n, k]);
  return out;
}

/**
 * The EAP score matrix from tap gradients: for each tap, Σ_{batch, pos, d} Δ_u · g with g the loss
 * gradient at the tap's inputs, for its upstream nodes u (the first n forward slots): one GEMM,
 * Δ's first n slots [n, batch·pos·d] (graph input `delta_sm_<n>`, see `deltaPrefixFeeds`) @ g
 * [batch·pos·d, k]. Returns [nB, nF], the coefficient layout (the taps' columns only, in order).
 */
export function tapGradient(b: GraphBuilder, spec: ModelSpec, taps: readonly Tap[], grads: readonly (Value | undefined)[], held: ReadonlySet<GradTag> = new Set()): Value {
  const { nLayers: L, nHeads: H } = spec;
  const nF = 1 + L * (H + 1);
  const prefixes = new Map<number, Value>();
  const prefix = (n: number): Value => {
    let v = prefixes.get(n);
    if (!v) prefixes.set(n, (v = b.input(`delta_sm_${n}`, 'float32', [n, 'bpd'])));
    return v;
  };
  const cols = taps.map((t, i) => {
    const gi = grads[i];
    if (!t.toInput && t.value.rank !== 3) throw new Error(`internal: tap at column ${t.column} is neither one input nor heads' projections`);
    const k = t.toInput ? (t.value.shape[1] as number) : 1;
    // Nothing reaches these inputs: under RelP's AH-rule, a head's query and key inputs.
    if (!gi) return b.constant(new Float32Array(nF * k), [nF, k]);
    // [batch, pos, d] is already [batch·pos·d, 1]; heads' inputs [batch, H, pos, d] become [batch, pos, d, H].
    const g = t.toInput ? b.reshapeLike(b.transpose(t.toInput(gi, held.has('norm-scale')), [0, 2, 3, 1]), ['bpd', k], [-1, k]) : b.reshapeLike(gi, ['bpd', 1], [-1, 1]);
    const n = tapUpstream(spec, t.column);
    const part = b.matMul(prefix(n), g); // [n, k]
    return n === nF ? part : b.concat([part, b.constant(new Float32Array((nF - n) * k), [nF - n, k])], 0); // [nF, k]
  });
  const order = taps.map((t, i) => [t.column, i]).sort((x, y) => x[0] - y[0]);
  return b.transpose(b.concat(order.map(([, i]) => cols[i]), 1), [1, 0]); // [nB, nF]
}
