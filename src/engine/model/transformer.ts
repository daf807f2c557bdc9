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
 */
import type { GraphBuilder, Value } from '../onnx/graphBuilder';
import type { ModelSpec } from './config';
import type { CanonicalWeights, LayerWeights } from './weights';

export type HookFn = (name: string, v: Value) => Value;

export interface CompileOptions {
  /** Per-head q/k/v inputs and per-head results, as circuit work needs. */
  readonly split?: boolean;
  /** Called at every hook point; returns the value to continue with. */
  readonly hook?: HookFn;
  /** Emit full logits [batch, pos, vocab] as 'logits' (else only the selected position, 'logits_sel'). */
  readonly fullLogits?: boolean;
  /**
   * Computes the token embeddings [batch, pos, d] from W_E and the `tokens` input; the default is a
   * lookup. EAP-IG uses it to interpolate between clean and corrupted embeddings.
   */
  readonly embedTokens?: (WE: Value, tokens: Value) => Value;
}

export const B = 'batch';
export const P = 'pos';

/** Weights already in memory in canonical layout, as the compiler uses them. */
export interface LoadedWeights {
  readonly WE: Float32Array;
  readonly Wpos?: Float32Array;
  readonly layers: readonly LayerWeights[];
  readonly lnfW: Float32Array;
  readonly lnfB?: Float32Array;
  /** [d, V] when untied. */
  readonly WU?: Float32Array;
}

export function loadWeights(cw: CanonicalWeights): LoadedWeights {
  const s = cw.spec;
  const layers: LayerWeights[] = [];
  for (let l = 0; l < s.nLayers; l++) layers.push(cw.layer(l));
  const lnf = cw.finalNorm();
  return {
    WE: cw.embed(),
    Wpos: s.positional === 'learned' ? cw.posEmbed() : undefined,
    layers,
    lnfW: lnf.w,
    lnfB: lnf.b,
    WU: cw.unembed(),
  };
}

/** Builds the forward graph. Returns the final logits value. */
export function buildTransformer(b: GraphBuilder, s: ModelSpec, w: LoadedWeights, opts: CompileOptions = {}): Value {
  const hook: HookFn = opts.hook ?? ((_n, v) => v);
  const split = opts.split ?? false;
  const { nLayers: L, nHeads: H, nKvHeads: Hkv, dModel: d, dHead: e, dMlp: m, vocabSize: V } = s;

  const tokens = b.input('tokens', 'int64', [B, P]);
  const attnBias = b.input('attn_bias', 'float32', [P, P]);
  const select = b.input('select', 'float32', [B, 1, P]);
  let ropeCos: Value | undefined;
  let ropeSin: Value | undefined;
  let resid: Value;

  const WE = b.weight('embed.W_E', w.WE, [V, d]);
  const embed = hook('hook_embed', opts.embedTokens ? opts.embedTokens(WE, tokens) : b.gather(WE, tokens, 0)); // [batch, pos, d]
  if (s.positional === 'learned') {
    const positions = b.input('positions', 'int64', [P]);
    const pos = hook('hook_pos_embed', b.gather(b.weight('pos_embed.W_pos', w.Wpos!, [s.maxPositions, d]), positions, 0)); // [pos, d]
    resid = b.add(embed, pos);
  } else {
    ropeCos = b.input('rope_cos', 'float32', [P, s.rotaryDim]);
    ropeSin = b.input('rope_sin', 'float32', [P, s.rotaryDim]);
    resid = embed;
  }

  const norm = (x: Value, gamma: Value, beta: Value | undefined): Value =>
    s.norm === 'layernorm' ? b.layerNorm(x, gamma, beta ?? null, s.normEps) : b.rmsNorm(x, gamma, s.normEps);

  const act = (x: Value): Value => {
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
  };

  /** rotate_half RoPE on the first rotaryDim dims of x [batch, H, pos, e]. */
  const rope = (x: Value): Value => {
    const r = s.rotaryDim;
    const xr = r === e ? x : b.slice(x, -1, 0, r);
    const x1 = b.slice(xr, -1, 0, r / 2);
    const x2 = b.slice(xr, -1, r / 2, r);
    const rotated = b.concat([x2.neg(), x1], -1);
    const out = b.add(b.mul(xr, ropeCos!), b.mul(rotated, ropeSin!));
    return r === e ? out : b.concat([out, b.slice(x, -1, r, e)], -1);
  };

  // Un-grouping maps query head h to key/value head floor(h / (H / Hkv)).
  const kvIndex = Hkv === H ? undefined : b.ints(Array.from({ length: H }, (_, h) => Math.floor(h / (H / Hkv))));
  const ungroup = (t: Value): Value => (kvIndex ? b.gather(t, kvIndex, 0) : t);

  for (let l = 0; l < L; l++) {
    const lw = w.layers[l];
    const p = `blocks.${l}`;
    resid = hook(`${p}.hook_resid_pre`, resid);
    const ln1W = b.weight(`${p}.ln1.w`, lw.ln1W, [d]);
    const ln1B = lw.ln1B && b.weight(`${p}.ln1.b`, lw.ln1B, [d]);
    const WQ = b.weight(`${p}.attn.W_Q`, lw.WQ, [H, d, e]);
    const WK = ungroup(b.weight(`${p}.attn.W_K`, lw.WK, [Hkv, d, e]));
    const WV = ungroup(b.weight(`${p}.attn.W_V`, lw.WV, [Hkv, d, e]));
    const bQ = lw.bQ && b.weight(`${p}.attn.b_Q`, lw.bQ, [H, 1, e]);
    const bK = lw.bK && ungroup(b.weight(`${p}.attn.b_K`, lw.bK, [Hkv, 1, e]));
    const WO = b.weight(`${p}.attn.W_O`, lw.WO, [H, e, d]);

    // Projects a per-head input [batch, pos, H|1, d] (or the shared [batch, pos, d]) to [batch, H, pos, e].
    const project = (x: Value, W: Value, bias: Value | undefined): Value => {
      const xh = x.rank === 4 ? b.transpose(x, [0, 2, 1, 3]) : b.unsqueeze(x, [1]); // [batch, H|1, pos, d]
      const y = b.matMul(norm(xh, ln1W, ln1B), W); // [batch, H, pos, e]
      return bias ? b.add(y, bias) : y;
    };
    let qIn: Value, kIn: Value, vIn: Value;
    if (split) {
      const perHead = b.unsqueeze(resid, [2]); // [batch, pos, 1, d], broadcast over heads
      qIn = hook(`${p}.hook_q_input`, perHead);
      kIn = hook(`${p}.hook_k_input`, perHead);
      vIn = hook(`${p}.hook_v_input`, perHead);
    } else {
      qIn = kIn = vIn = resid;
    }
    let q = project(qIn, WQ, bQ);
    let k = project(kIn, WK, bK);
    const v = hook(`${p}.attn.hook_v`, project(vIn, WV, undefined)); // [batch, H, pos, e]
    if (s.positional === 'rotary') {
      q = rope(q);
      k = rope(k);
    }
    q = hook(`${p}.attn.hook_q`, q);
    k = hook(`${p}.attn.hook_k`, k);
    let scale = 1 / Math.sqrt(e);
    if (s.scaleByInverseLayer) scale /= l + 1;
    const scores = b.add(b.mul(b.matMul(q, b.transpose(k, [0, 1, 3, 2])), scale), attnBias); // [batch, H, pos, pos]
    const pattern = hook(`${p}.attn.hook_pattern`, b.softmax(scores, -1));
    const z = hook(`${p}.attn.hook_z`, b.matMul(pattern, v)); // [batch, H, pos, e]
    let attnOut: Value;
    if (split) {
      const result = hook(`${p}.attn.hook_result`, b.transpose(b.matMul(z, WO), [0, 2, 1, 3])); // [batch, pos, H, d]
      attnOut = b.reduceSum(result, [2], false); // [batch, pos, d]
    } else {
      const zFlat = b.reshape(b.transpose(z, [0, 2, 1, 3]), [0, 0, H * e]); // [batch, pos, H e]
      attnOut = b.matMul(zFlat, b.reshape(WO, [H * e, d]));
    }
    if (lw.bO) attnOut = b.add(attnOut, b.weight(`${p}.attn.b_O`, lw.bO, [d]));
    attnOut = hook(`${p}.hook_attn_out`, attnOut);

    const mlp = (x: Value): Value => {
      const ln2W = b.weight(`${p}.ln2.w`, lw.ln2W, [d]);
      const ln2B = lw.ln2B && b.weight(`${p}.ln2.b`, lw.ln2B, [d]);
      const xn = norm(x, ln2W, ln2B);
      let pre = b.matMul(xn, b.weight(`${p}.mlp.W_in`, lw.Win, [d, m])); // [batch, pos, m]
      if (lw.bin) pre = b.add(pre, b.weight(`${p}.mlp.b_in`, lw.bin, [m]));
      let post: Value;
      if (s.gatedMlp) {
        let gate = b.matMul(xn, b.weight(`${p}.mlp.W_gate`, lw.Wgate!, [d, m]));
        if (lw.bgate) gate = b.add(gate, b.weight(`${p}.mlp.b_gate`, lw.bgate, [m]));
        post = b.mul(act(gate), pre);
      } else {
        post = act(pre);
      }
      post = hook(`${p}.mlp.hook_post`, post);
      let out = b.matMul(post, b.weight(`${p}.mlp.W_out`, lw.Wout, [m, d]));
      if (lw.bout) out = b.add(out, b.weight(`${p}.mlp.b_out`, lw.bout, [d]));
      return out;
    };

    if (s.parallelAttnMlp) {
      const mlpOut = hook(`${p}.hook_mlp_out`, mlp(hook(`${p}.hook_mlp_in`, resid)));
      resid = b.add(b.add(resid, attnOut), mlpOut);
    } else {
      resid = hook(`${p}.hook_resid_mid`, b.add(resid, attnOut));
      const mlpOut = hook(`${p}.hook_mlp_out`, mlp(hook(`${p}.hook_mlp_in`, resid)));
      resid = b.add(resid, mlpOut);
    }
    resid = hook(`${p}.hook_resid_post`, resid);
  }

  // The logits node reads the final residual; `select` picks the position to read.
  const finalResid = opts.fullLogits ? resid : b.matMul(select, resid); // [batch, 1 | pos, d]
  const lnfW = b.weight('ln_final.w', w.lnfW, [d]);
  const lnfB = w.lnfB && b.weight('ln_final.b', w.lnfB, [d]);
  const normed = hook('ln_final.hook_normalized', norm(finalResid, lnfW, lnfB ?? undefined));
  let logits: Value;
  if (w.WU) {
    logits = b.matMul(normed, b.weight('unembed.W_U', w.WU, [d, V]));
  } else {
    logits = b.matMul(normed, b.transpose(WE, [1, 0])); // Tied head.
  }
  return hook(opts.fullLogits ? 'logits' : 'logits_sel', logits);
}

/** HF's rotary tables in float32 arithmetic: inv_freq, positions · inv_freq, duplicated halves. */
export function ropeTables(s: ModelSpec, nPos: number): { cos: Float32Array; sin: Float32Array } {
  const r = s.rotaryDim;
  const cos = new Float32Array(nPos * r);
  const sin = new Float32Array(nPos * r);
  const f = Math.fround;
  for (let i = 0; i < r / 2; i++) {
    const invFreq = f(1 / f(Math.pow(s.ropeTheta, f(f(2 * i) / r))));
    for (let p = 0; p < nPos; p++) {
      const angle = f(p * invFreq);
      const c = Math.cos(angle);
      const sn = Math.sin(angle);
      cos[p * r + i] = cos[p * r + i + r / 2] = c;
      sin[p * r + i] = sin[p * r + i + r / 2] = sn;
    }
  }
  return { cos, sin };
}
