/**
 * Compiles a ModelSpec and its canonical weights into an ONNX graph, for all supported families.
 *
 * Every hook point of TransformerLens passes through `hook(name, value)`, which may record the value,
 * expose it as a graph output, or replace it (circuit instrumentation adds patches there). With
 * `split: true` each head gets its own copy of the residual stream as its q, k and v input
 * (`use_split_qkv_input`) and its own output `z_h · W_O[h]` (`use_attn_result`), as edge attribution
 * needs; grouped-query models are un-grouped so every query head has its own k and v.
 *
 * Graph inputs (all fed by `ModelRunner`):
 *   tokens     int64   [batch, pos]
 *   attn_bias  float32 [pos, pos]        0 where attention is allowed, -1e9 elsewhere (causal)
 *   select     float32 [batch, 1, pos]   one-hot row selecting the position whose logits are read
 *   positions  int64   [pos]             (learned positions only)
 *   rope_cos, rope_sin float32 [pos, rotaryDim]   (rotary only; HF's duplicated-halves layout)
 *   attn_bias_local                     the same for sliding-window layers (only when some layer slides)
 *   rope_cos_local, rope_sin_local      the rope of sliding layers (only when it differs: Gemma-3)
 *
 * Norm scales, activation ratios, the gated MLP's product and attention patterns carry gradient tags
 * (onnx/graphBuilder.ts GradTag) for RelP's propagation rules; they change nothing in the forward pass.
 *
 * Family differences are ModelSpec fields: norms before and/or after attention and MLP, q/k norms,
 * soft-caps, embedding scale, q/k/v clipping, the unembedding bias, sliding windows per layer.
 */
import type { GraphBuilder, Value } from '../onnx/graphBuilder';
import { layerNormInputVjp } from '../onnx/vjp';
import type { ModelSpec } from './config';
import type { LoadedWeights } from './families/table';
import type { CanonicalWeights } from './weights';
import { ropeTables as ropeTablesOf } from './rope';

export type { LoadedWeights };

export type HookFn = (name: string, v: Value) => Value;

/** Which side of attention is per head: each head's own q/k/v inputs, each head's own result. */
export interface Split {
  readonly inputs: boolean;
  readonly results: boolean;
}

/**
 * A head group's q, k or v projection `y` = norm(x) · W [batch, H, pos, e] (before bias, clipping, q/k
 * norms and rotation), and `toInput`: a cotangent of y to the gradient at each head's own copy of the
 * residual stream x, [batch, H, pos, d]: Wᵀ per head, then the pre-norm's vector-Jacobian product at
 * x (with the norm's scale held constant under RelP's LN-rule).
 */
export interface Projection {
  readonly y: Value;
  readonly toInput: (dy: Value, holdNormScale: boolean) => Value;
}

export interface CompileOptions {
  /**
   * Per-head q/k/v inputs and per-head results, as circuit work needs (true: both). Gradients at
   * tapped inputs need no per-head results, and node outputs need no per-head inputs.
   */
  readonly split?: boolean | Split;
  /**
   * Unembed only these vocabulary entries, int64 [batch, K] (a logit-difference metric reads two):
   * logits_sel [batch, 1, K] instead of [batch, 1, vocab]. Not with fullLogits.
   */
  readonly vocabulary?: Value;
  /**
   * Each layer's q, k and v projections, as they are built, with the way back to each head's input:
   * gradients at per-head inputs without per-head copies (heads then share one input: no split inputs).
   */
  readonly onProjection?: (layer: number, which: 'q' | 'k' | 'v', p: Projection) => void;
  /** Called at every hook point; returns the value to continue with. */
  readonly hook?: HookFn;
  /** Emit full logits [batch, pos, vocab] as 'logits' (else only the selected position, 'logits_sel'). */
  readonly fullLogits?: boolean;
  /**
   * Computes the token embeddings [batch, pos, d] from W_E and the `tokens` input; the default is a
   * lookup. EAP-IG uses it to interpolate between clean and corrupted embeddings.
   */
  readonly embedTokens?: (WE: Value, tokens: Value) => Value;
  /**
   * Receives each layer's norm after attention (post-norm families), so that circuit patching can
   * apply it to a patched attention output (circuits/instrument.ts).
   */
  readonly onAttnPostNorm?: (layer: number, norm: (x: Value) => Value) => void;
  /**
   * Only layers [from, to) (block-streamed execution, circuits/streamed.ts): a range after the first
   * layer reads the residual stream from the input `resid_in` [batch, pos, d], one before the last
   * layer ends with the residual stream (the caller outputs it). Weight names count layers from
   * `from`, so the graphs of two ranges with the same layer types are the same graph.
   */
  readonly layers?: { readonly from: number; readonly to: number };
}

export const B = 'batch';
export const P = 'pos';

export function loadWeights(cw: CanonicalWeights): LoadedWeights {
  return cw.loadAll();
}

/**
 * Builds the forward graph. Returns the final logits value, or with `layers` ending before the last
 * layer, the residual stream after the range (a stage of block-streamed execution).
 */
export function buildTransformer(b: GraphBuilder, s: ModelSpec, w: LoadedWeights, opts: CompileOptions = {}): Value {
  const hook: HookFn = opts.hook ?? ((_n, v) => v);
  const split: Split = typeof opts.split === 'object' ? opts.split : { inputs: opts.split ?? false, results: opts.split ?? false };
  const { nLayers: L, dModel: d, vocabSize: V } = s;
  const from = opts.layers?.from ?? 0;
  const to = opts.layers?.to ?? L;
  if (!(0 <= from && from <= to && to <= L && (from < to || to === L))) throw new Error(`internal: layer range [${from}, ${to}) of ${L} layers`);
  const g = graphInputs(b, s, from === 0, from < to, to === L);
  let we: Value | undefined;
  const WE = () => (we ??= b.weight('embed.W_E', w.WE, [V, d]));

  let resid: Value;
  if (from === 0) {
    let tokenEmbed = opts.embedTokens ? opts.embedTokens(WE(), g.tokens!) : b.gather(WE(), g.tokens!, 0); // [batch, pos, d]
    if (s.embedScale !== 1) tokenEmbed = b.mul(tokenEmbed, Math.fround(s.embedScale));
    resid = hook('hook_embed', tokenEmbed);
    if (s.positional === 'learned') {
      const positions = b.input('positions', 'int64', [P]);
      const pos = hook('hook_pos_embed', b.gather(b.weight('pos_embed.W_pos', w.Wpos!, [s.maxPositions, d]), positions, 0)); // [pos, d]
      resid = b.add(resid, pos);
    }
  } else {
    resid = b.input('resid_in', 'float32', [B, P, d]);
  }

  for (let l = from; l < to; l++) resid = buildBlock(b, s, w, l, resid, g, hook, split, opts, from);
  if (to < L) return resid;

  // The logits node reads the final residual; `select` picks the position to read.
  const finalResid = opts.fullLogits ? resid : b.matMul(g.select!, resid); // [batch, 1 | pos, d]
  const lnfW = b.weight('ln_final.w', w.lnfW, [d]);
  const lnfB = w.lnfB && b.weight('ln_final.b', w.lnfB, [d]);
  const normed = hook('ln_final.hook_normalized', normOf(b, s)(finalResid, lnfW, lnfB));
  let logits: Value;
  if (opts.vocabulary) {
    if (opts.fullLogits) throw new Error('internal: a vocabulary subset reads one position');
    // The entries' unembedding rows [batch, K, d] (or columns of an untied W_U [d, batch, K]), as [batch, d, K].
    const cols = w.WU
      ? b.transpose(b.gather(b.weight('unembed.W_U', w.WU, [d, V]), opts.vocabulary, 1), [1, 0, 2])
      : b.transpose(b.gather(WE(), opts.vocabulary, 0), [0, 2, 1]);
    logits = b.matMul(normed, cols); // [batch, 1, K]
    if (w.bU) logits = b.add(logits, b.unsqueeze(b.gather(b.weight('unembed.b_U', w.bU, [V]), opts.vocabulary, 0), [1]));
  } else {
    logits = w.WU ? b.matMul(normed, b.weight('unembed.W_U', w.WU, [d, V])) : b.matMulTransposed(normed, WE()); // untied, or tied head
    if (w.bU) logits = b.add(logits, b.weight('unembed.b_U', w.bU, [V]));
  }
  if (s.finalSoftcap !== undefined) logits = softcap(b, logits, s.finalSoftcap);
  return hook(opts.fullLogits ? 'logits' : 'logits_sel', logits);
}

/** The graph inputs every block reads (see the file comment); a stage declares only those it reads. */
interface GraphInputs {
  readonly tokens?: Value;
  readonly select?: Value;
  readonly attnBias: Value;
  readonly attnBiasLocal?: Value;
  readonly rope?: { cos: Value; sin: Value };
  readonly ropeLocal?: { cos: Value; sin: Value };
}

function graphInputs(b: GraphBuilder, s: ModelSpec, embeds: boolean, blocks: boolean, head: boolean): GraphInputs {
  const sliding = s.layerTypes.includes('sliding');
  const rot = (suffix: string) => ({ cos: b.input(`rope_cos${suffix}`, 'float32', [P, s.rotaryDim]), sin: b.input(`rope_sin${suffix}`, 'float32', [P, s.rotaryDim]) });
  const tokens = embeds ? b.input('tokens', 'int64', [B, P]) : undefined;
  const attnBias = blocks ? b.input('attn_bias', 'float32', [P, P]) : (undefined as unknown as Value);
  return {
    tokens,
    attnBias,
    select: head ? b.input('select', 'float32', [B, 1, P]) : undefined,
    attnBiasLocal: blocks && sliding ? b.input('attn_bias_local', 'float32', [P, P]) : undefined,
    rope: blocks && s.positional === 'rotary' ? rot('') : undefined,
    ropeLocal: blocks && s.positional === 'rotary' && s.ropeLocal && sliding ? rot('_local') : undefined,
  };
}

/** cap · tanh(x / cap). */
export function softcap(b: GraphBuilder, x: Value, cap: number): Value {
  return b.mul(b.unary('Tanh', b.mul(x, 1 / cap)), cap);
}

/** The spec's norm over the last axis. */
function normOf(b: GraphBuilder, s: ModelSpec): (x: Value, gamma: Value | undefined, beta: Value | undefined) => Value {
  return (x, gamma, beta) => (s.norm === 'layernorm' ? b.layerNorm(x, gamma ?? null, beta ?? null, s.normEps) : b.rmsNorm(x, gamma ?? null, s.normEps));
}

/**
 * The vector-Jacobian product of the family's norm (normOf) at x over the last axis, for cotangents u
 * that may carry more leading entries than x (one per head, x broadcast), with the statistics of x
 * computed once for all heads: LayerNorm by the autodiff's own rule (onnx/vjp.ts layerNormInputVjp),
 * RMSNorm (composed of elementwise ops there) as
 *   y = γ x / r, r = √(mean x² + ε):  dx = γu / r − x · mean(x γu) / r³   (r held: γu / r).
 */
function normVjp(b: GraphBuilder, s: ModelSpec, x: Value, gamma: Value | undefined, u: Value, holdScale: boolean): Value {
  const g = gamma ? b.mul(u, gamma) : u;
  if (s.norm === 'layernorm') return layerNormInputVjp(b, x, g, s.normEps, holdScale).dx;
  const r = b.unary('Sqrt', b.add(b.reduceMean(b.mul(x, x), [-1]), s.normEps));
  const first = b.div(g, r);
  if (holdScale) return first;
  return b.sub(first, b.mul(x, b.div(b.reduceMean(b.mul(x, g), [-1]), b.mul(b.mul(r, r), r))));
}

function activation(b: GraphBuilder, s: ModelSpec, x: Value): Value {
  switch (s.act) {
    case 'gelu_new':
      return b.geluTanh(x);
    case 'gelu':
      return b.geluErf(x);
    case 'silu':
      return b.silu(x);
    case 'relu':
      return b.unary('Relu', x);
  }
}

/** rotate_half RoPE on the first rotaryDim dims of x [batch, H, pos, e]. */
function applyRope(b: GraphBuilder, s: ModelSpec, x: Value, t: { cos: Value; sin: Value }): Value {
  const r = s.rotaryDim;
  const e = s.dHead;
  const xr = r === e ? x : b.slice(x, -1, 0, r);
  const x1 = b.slice(xr, -1, 0, r / 2);
  const x2 = b.slice(xr, -1, r / 2, r);
  const rotated = b.concat([x2.neg(), x1], -1);
  const out = b.add(b.mul(xr, t.cos), b.mul(rotated, t.sin));
  return r === e ? out : b.concat([out, b.slice(x, -1, r, e)], -1);
}

/** clamp(x, −c, c) from Where, whose VJP passes the gradient only where x is inside. */
function clip(b: GraphBuilder, x: Value, c: number): Value {
  const hi = b.scalar(c);
  const lo = b.scalar(-c);
  return b.where(b.compare('Greater', x, hi), hi, b.where(b.compare('Less', x, lo), lo, x));
}

/** What the parts of one block share: the builder, spec, layer weights, hook and names. */
interface Block {
  readonly b: GraphBuilder;
  readonly s: ModelSpec;
  readonly l: number;
  readonly lw: LoadedWeights['layers'][number];
  /** Hook-point prefix, `blocks.{l}`. */
  readonly p: string;
  /** Weight name prefix, `blocks.{l − first layer of the graph}` (so that the graphs of equal stages are equal). */
  readonly wp: string;
  readonly hook: HookFn;
  readonly norm: (x: Value, gamma: Value | undefined, beta: Value | undefined) => Value;
  /** A weight when its data exists. */
  readonly opt: (name: string, data: Float32Array | undefined, shape: number[]) => Value | undefined;
  /** Query head h reads key/value head floor(h / (H / Hkv)). */
  readonly ungroup: (t: Value) => Value;
  readonly ln1W?: Value;
  readonly ln1B?: Value;
}

/**
 * One transformer block. Hook points carry TransformerLens's names; with `split`, every head reads
 * its own copy of the residual stream as q, k and v input and writes its own result.
 */
function buildBlock(
  b: GraphBuilder,
  s: ModelSpec,
  w: LoadedWeights,
  l: number,
  residIn: Value,
  g: GraphInputs,
  hook: HookFn,
  split: Split,
  opts: Pick<CompileOptions, 'onAttnPostNorm' | 'onProjection'>,
  firstLayer: number,
): Value {
  const { nHeads: H, nKvHeads: Hkv, dModel: d } = s;
  const lw = w.layers[l];
  if (!lw) throw new Error(`internal: layer ${l}'s weights are not loaded`);
  const p = `blocks.${l}`;
  const wp = `blocks.${l - firstLayer}`;
  const opt = (name: string, data: Float32Array | undefined, shape: number[]) => data && b.weight(`${wp}.${name}`, data, shape);
  const kvIndex = Hkv === H ? undefined : b.ints(Array.from({ length: H }, (_, h) => Math.floor(h / (H / Hkv))));
  const k: Block = {
    b,
    s,
    l,
    lw,
    p,
    wp,
    hook,
    norm: normOf(b, s),
    opt,
    ungroup: (t) => (kvIndex ? b.gather(t, kvIndex, 0) : t),
    ln1W: opt('ln1.w', lw.ln1W, [d]),
    ln1B: opt('ln1.b', lw.ln1B, [d]),
  };
  const resid = hook(`${p}.hook_resid_pre`, residIn);
  const attnOut = hook(`${p}.hook_attn_out`, buildAttention(k, resid, g, split, opts));
  let out: Value;
  if (s.parallelAttnMlp) {
    const mlpOut = hook(`${p}.hook_mlp_out`, buildMlp(k, hook(`${p}.hook_mlp_in`, resid)));
    out = b.add(b.add(resid, attnOut), mlpOut);
  } else {
    const mid = hook(`${p}.hook_resid_mid`, b.add(resid, attnOut));
    const mlpOut = hook(`${p}.hook_mlp_out`, buildMlp(k, hook(`${p}.hook_mlp_in`, mid)));
    out = b.add(mid, mlpOut);
  }
  return hook(`${p}.hook_resid_post`, out);
}

/** q, k or v of every head, [batch, H, pos, e], from per-head inputs [batch, pos, H|1, d] or [batch, pos, d]. */
function qkvProjector(k: Block, onProjection?: CompileOptions['onProjection']): (x: Value, which: 'q' | 'k' | 'v') => Value {
  const { b, s, lw, wp } = k;
  const { nHeads: H, nKvHeads: Hkv, dModel: d, dHead: e } = s;
  const WQ = b.weight(`${wp}.attn.W_Q`, lw.WQ, [H, d, e]);
  const WKraw = b.weight(`${wp}.attn.W_K`, lw.WK, [Hkv, d, e]);
  const WK = k.ungroup(WKraw);
  const WV = k.ungroup(b.weight(`${wp}.attn.W_V`, lw.WV, [Hkv, d, e]));
  const bQ = k.opt('attn.b_Q', lw.bQ, [H, 1, e]);
  const bKraw = k.opt('attn.b_K', lw.bK, [Hkv, 1, e]);
  const bK = bKraw && k.ungroup(bKraw);

  /**
   * OLMo-2's q/k norm runs over the whole projection (every head's values), so a head's scale needs
   * the other heads' values computed from the same input: [batch, H|1, pos, 1].
   */
  const projectionRms = (xn: Value, Wraw: Value, biasRaw: Value | undefined, heads: number): Value => {
    let full = b.matMul(xn, b.reshape(b.transpose(Wraw, [1, 0, 2]), [d, heads * e])); // [batch, H|1, pos, heads e]
    if (biasRaw) full = b.add(full, b.reshape(biasRaw, [heads * e]));
    return b.tag(b.unary('Sqrt', b.add(b.reduceMean(b.mul(full, full), [-1]), s.normEps)), 'norm-scale');
  };

  return (x, which) => {
    const xh = x.rank === 4 ? b.transpose(x, [0, 2, 1, 3]) : b.unsqueeze(x, [1]); // [batch, H|1, pos, d]
    const xn = s.preNorm ? k.norm(xh, k.ln1W, k.ln1B) : xh;
    const bias = which === 'q' ? bQ : which === 'k' ? bK : undefined;
    const W = which === 'q' ? WQ : which === 'k' ? WK : WV;
    let y = b.matMul(xn, W); // [batch, H, pos, e]
    if (onProjection) {
      onProjection(k.l, which, {
        y,
        toInput: (dy, hold) => {
          const u = b.matMul(dy, b.transpose(W, [0, 2, 1])); // [batch, H, pos, d]
          return s.preNorm ? normVjp(b, s, xh, k.ln1W, u, hold) : u;
        },
      });
    }
    if (bias) y = b.add(y, bias);
    if (s.clipQkv !== undefined) y = clip(b, y, s.clipQkv);
    if (which === 'v' || s.qkNorm === 'none') return y;
    const gamma = which === 'q' ? lw.qNormW! : lw.kNormW!;
    if (s.qkNorm === 'head') return b.rmsNorm(y, b.weight(`${wp}.attn.${which}_norm.w`, gamma, [e]), s.normEps);
    const rms = which === 'q' ? projectionRms(xn, WQ, bQ, H) : projectionRms(xn, WKraw, bKraw, Hkv);
    const gHeads = b.weight(`${wp}.attn.${which}_norm.w`, gamma, [which === 'q' ? H : Hkv, 1, e]);
    return b.mul(b.div(y, rms), which === 'q' ? gHeads : k.ungroup(gHeads));
  };
}

/** The attention sub-block: the output added to the residual stream, [batch, pos, d]. */
function buildAttention(k: Block, resid: Value, g: GraphInputs, split: Split, opts: Pick<CompileOptions, 'onAttnPostNorm' | 'onProjection'>): Value {
  const { b, s, l, lw, p, wp, hook } = k;
  const { nHeads: H, dModel: d, dHead: e } = s;
  const onAttnPostNorm = opts.onAttnPostNorm;
  if (split.inputs && opts.onProjection) throw new Error('internal: projections are reported for heads that share one input');
  const project = qkvProjector(k, opts.onProjection);
  let qIn: Value, kIn: Value, vIn: Value;
  if (split.inputs) {
    const perHead = b.unsqueeze(resid, [2]); // [batch, pos, 1, d], broadcast over heads
    qIn = hook(`${p}.hook_q_input`, perHead);
    kIn = hook(`${p}.hook_k_input`, perHead);
    vIn = hook(`${p}.hook_v_input`, perHead);
  } else {
    qIn = kIn = vIn = resid;
  }
  let q = project(qIn, 'q');
  let kk = project(kIn, 'k');
  const v = hook(`${p}.attn.hook_v`, project(vIn, 'v')); // [batch, H, pos, e]
  const sliding = s.layerTypes[l] === 'sliding';
  const rope = sliding && g.ropeLocal ? g.ropeLocal : g.rope;
  if (rope) {
    q = applyRope(b, s, q, rope);
    kk = applyRope(b, s, kk, rope);
  }
  q = hook(`${p}.attn.hook_q`, q);
  kk = hook(`${p}.attn.hook_k`, kk);
  let scale = s.attnScale;
  if (s.scaleByInverseLayer) scale /= l + 1;
  let scores = b.mul(b.matMul(q, b.transpose(kk, [0, 1, 3, 2])), scale); // [batch, H, pos, pos]
  if (s.attnSoftcap !== undefined) scores = softcap(b, scores, s.attnSoftcap);
  scores = b.add(scores, sliding ? g.attnBiasLocal! : g.attnBias);
  const pattern = hook(`${p}.attn.hook_pattern`, b.tag(b.softmax(scores, -1), 'attn-pattern'));
  const z = hook(`${p}.attn.hook_z`, b.matMul(pattern, v)); // [batch, H, pos, e]
  const WO = b.weight(`${wp}.attn.W_O`, lw.WO, [H, e, d]);
  let attnOut: Value;
  if (split.results) {
    const result = hook(`${p}.attn.hook_result`, b.transpose(b.matMul(z, WO), [0, 2, 1, 3])); // [batch, pos, H, d]
    attnOut = b.reduceSum(result, [2], false); // [batch, pos, d]
  } else {
    const zFlat = b.reshape(b.transpose(z, [0, 2, 1, 3]), [0, 0, H * e]); // [batch, pos, H e]
    attnOut = b.matMul(zFlat, b.reshape(WO, [H * e, d]));
  }
  if (lw.bO) attnOut = b.add(attnOut, b.weight(`${wp}.attn.b_O`, lw.bO, [d]));
  if (!s.postNorm) return attnOut;
  const gamma = b.weight(`${wp}.ln1_post.w`, lw.postAttnW!, [d]);
  const postNorm = (x: Value) => k.norm(x, gamma, undefined);
  onAttnPostNorm?.(l, postNorm);
  return postNorm(hook(`${p}.hook_attn_pre_norm`, attnOut));
}

/** The MLP sub-block on its input x [batch, pos, d]. */
function buildMlp(k: Block, x: Value): Value {
  const { b, s, lw, p, wp } = k;
  const { dModel: d, dMlp: m } = s;
  const xn = !s.preNorm ? x : s.sharedBlockNorm ? k.norm(x, k.ln1W, k.ln1B) : k.norm(x, k.opt('ln2.w', lw.ln2W, [d]), k.opt('ln2.b', lw.ln2B, [d]));
  let pre = b.matMul(xn, b.weight(`${wp}.mlp.W_in`, lw.Win, [d, m])); // [batch, pos, m]
  if (lw.bin) pre = b.add(pre, b.weight(`${wp}.mlp.b_in`, lw.bin, [m]));
  let post: Value;
  if (s.gatedMlp) {
    let gate = b.matMul(xn, b.weight(`${wp}.mlp.W_gate`, lw.Wgate!, [d, m]));
    if (lw.bgate) gate = b.add(gate, b.weight(`${wp}.mlp.b_gate`, lw.bgate, [m]));
    post = b.tag(b.mul(activation(b, s, gate), pre), 'gate-product');
  } else {
    post = activation(b, s, pre);
  }
  post = k.hook(`${p}.mlp.hook_post`, post);
  let out = b.matMul(post, b.weight(`${wp}.mlp.W_out`, lw.Wout, [m, d]));
  if (lw.bout) out = b.add(out, b.weight(`${wp}.mlp.b_out`, lw.bout, [d]));
  if (s.postNorm) out = k.norm(out, b.weight(`${wp}.ln2_post.w`, lw.postMlpW!, [d]), undefined);
  return out;
}

/** The full-attention rope tables of the spec, [nPos, rotaryDim]. */
export function ropeTables(s: ModelSpec, nPos: number, local = false): { cos: Float32Array; sin: Float32Array } {
  const rope = local && s.ropeLocal ? s.ropeLocal : s.rope;
  if (!rope) throw new Error(`internal: ${s.architecture} has no rotary embedding`);
  return ropeTablesOf(rope, s.rotaryDim, nPos);
}
