/**
 * Plain float64 forward passes written from Hugging Face's modeling code, reading tensors by their HF
 * names and layouts. They share nothing with the engine (no canonical layout, no graph), so agreement
 * between the two is evidence that both are right.
 */

export type Tensors = Record<string, { shape: number[]; data: Float32Array }>;
export type Mat = Float64Array[]; // rows

/**
 * Circuit hooks, in the method's node names: `record` sees every node output (input, a{l}.h{h}
 * without value bias, m{l}); `input` may change each destination input ('a{l}.h{h}<q|k|v>', 'm{l}',
 * 'logits') before it is used; `embed` may replace the token embeddings.
 */
export interface RefHooks {
  embed?: (e: Mat) => Mat;
  record?: (node: string, out: Mat) => void;
  input?: (dest: string, x: Mat) => Mat;
  /** Attention probabilities of head 'a{l}.h{h}': rows are query positions, zero above the diagonal. */
  pattern?: (node: string, A: Mat) => void;
  /**
   * RelP's held quantities: each is passed through `hold(site, values)`, which may return other values
   * (those of another run) to use instead. Sites: '{dest}.norm' (per row 1/σ of the norm that reads
   * destination input dest: 'a{l}.h{h}<q|k|v>', 'm{l}', 'logits'), 'm{l}.ratio.{row}' (act(x)/x of the
   * MLP's activation), 'm{l}.gate.{row}' and 'm{l}.up.{row}' (the two factors of a gated MLP, whose
   * product is then written ½·(gate·held up + held gate·up)), 'a{l}.h{h}.pattern.{row}' (attention
   * probabilities). Without the hook the forward is the plain one.
   */
  hold?: (site: string, values: Float64Array) => Float64Array;
}

const noHooks: RefHooks = {};
export const hin = (h: RefHooks, dest: string, x: Mat): Mat => (h.input ? h.input(dest, x) : x);
export const hrec = (h: RefHooks, node: string, out: Mat): Mat => {
  h.record?.(node, out);
  return out;
};

const held = (h: RefHooks, site: string, v: Float64Array): Float64Array => (h.hold ? h.hold(site, v) : v);

/** act(x) / x of each activation, written as the factor it multiplies x by. */
export const actRatios = {
  gelu_new: (x: number) => 0.5 * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
  gelu: (x: number) => 0.5 * (1 + erf(x / Math.SQRT2)),
  silu: (x: number) => 1 / (1 + Math.exp(-x)),
};

/** An element-wise activation as x · ratio(x), the ratio rows passing through `hold` at '{node}.ratio.{row}'. */
function activate(h: RefHooks, node: string, x: Mat, ratio: (v: number) => number): Mat {
  return x.map((r, i) => {
    const q = held(h, `${node}.ratio.${i}`, r.map(ratio));
    return r.map((v, j) => v * q[j]);
  });
}

/** A gated MLP's product gate · up; with held factors, ½ (gate · held up + held gate · up). */
function gateProduct(h: RefHooks, node: string, gate: Mat, up: Mat): Mat {
  if (!h.hold) return gate.map((r, i) => r.map((g, j) => g * up[i][j]));
  return gate.map((r, i) => {
    const gh = held(h, `${node}.gate.${i}`, r);
    const uh = held(h, `${node}.up.${i}`, up[i]);
    return r.map((g, j) => 0.5 * (g * uh[j] + gh[j] * up[i][j]));
  });
}

export function get(t: Tensors, name: string): Float32Array {
  const x = t[name];
  if (!x) throw new Error(`reference: missing tensor ${name}`);
  return x.data;
}

/** x [rows][in] times W (row-major [in, out]) plus bias. */
function linearInOut(x: Mat, W: Float32Array, nIn: number, nOut: number, bias?: Float32Array): Mat {
  return x.map((row) => {
    const out = new Float64Array(nOut);
    for (let o = 0; o < nOut; o++) out[o] = bias ? bias[o] : 0;
    for (let i = 0; i < nIn; i++) {
      const xi = row[i];
      for (let o = 0; o < nOut; o++) out[o] += xi * W[i * nOut + o];
    }
    return out;
  });
}

/** torch.nn.Linear: W is [out, in]. */
export function linearOutIn(x: Mat, W: Float32Array, nIn: number, nOut: number, bias?: Float32Array): Mat {
  return x.map((row) => {
    const out = new Float64Array(nOut);
    for (let o = 0; o < nOut; o++) {
      let acc = bias ? bias[o] : 0;
      for (let i = 0; i < nIn; i++) acc += row[i] * W[o * nIn + i];
      out[o] = acc;
    }
    return out;
  });
}

/** Columns [c0, c0 + n) of a Conv1D-layout linear (W [in, out]). */
function linearInOutCols(x: Mat, W: Float32Array, nIn: number, nOut: number, c0: number, n: number, bias?: Float32Array): Mat {
  return x.map((row) => {
    const out = new Float64Array(n);
    for (let o = 0; o < n; o++) out[o] = bias ? bias[c0 + o] : 0;
    for (let i = 0; i < nIn; i++) for (let o = 0; o < n; o++) out[o] += row[i] * W[i * nOut + c0 + o];
    return out;
  });
}

/** Rows [r0, r0 + n) of an nn.Linear (W [out, in]). */
export function linearOutInRows(x: Mat, W: Float32Array, nIn: number, r0: number, n: number, bias?: Float32Array): Mat {
  return x.map((row) => {
    const out = new Float64Array(n);
    for (let o = 0; o < n; o++) {
      let acc = bias ? bias[r0 + o] : 0;
      for (let i = 0; i < nIn; i++) acc += row[i] * W[(r0 + o) * nIn + i];
      out[o] = acc;
    }
    return out;
  });
}

/** A head's output z_h · W_O[h] for an output projection in Conv1D ([in, out]) or Linear ([out, in]) layout. */
export function headOut(z: Mat, W: Float32Array, h: number, e: number, d: number, layout: 'inOut' | 'outIn'): Mat {
  return z.map((row) => {
    const out = new Float64Array(d);
    for (let j = 0; j < e; j++) {
      const zj = row[j];
      for (let o = 0; o < d; o++) out[o] += zj * (layout === 'inOut' ? W[(h * e + j) * d + o] : W[o * (W.length / d) + h * e + j]);
    }
    return out;
  });
}

/** Removes a value bias's share from a head's output: softmax rows sum to one, so it is b_v · W_O[h]. */
export function minusBias(out: Mat, bv: Float64Array | undefined, W: Float32Array, h: number, e: number, d: number, layout: 'inOut' | 'outIn'): Mat {
  if (!bv) return out;
  const share = headOut([bv], W, h, e, d, layout)[0];
  return out.map((r) => r.map((v, i) => v - share[i]));
}

export const sumMats = (ms: Mat[], rows: number, d: number): Mat => {
  const out: Mat = Array.from({ length: rows }, () => new Float64Array(d));
  for (const m of ms) m.forEach((r, i) => r.forEach((v, j) => (out[i][j] += v)));
  return out;
};

/** `hold` receives the per-row 1/σ of a norm and returns the values to use (see RefHooks.hold). */
type HoldScale = (inv: Float64Array) => Float64Array;

export function layerNorm(x: Mat, w: Float32Array, b: Float32Array, eps: number, hold?: HoldScale): Mat {
  const means = x.map((row) => row.reduce((a, v) => a + v, 0) / row.length);
  const invs = Float64Array.from(x, (row, r) => {
    let vr = 0;
    for (const v of row) vr += (v - means[r]) ** 2;
    return 1 / Math.sqrt(vr / row.length + eps);
  });
  const inv = hold ? hold(invs) : invs;
  return x.map((row, r) => row.map((v, i) => (v - means[r]) * inv[r] * w[i] + b[i]));
}

export function rmsNorm(x: Mat, w: Float32Array, eps: number, hold?: HoldScale): Mat {
  const invs = Float64Array.from(x, (row) => {
    let ms = 0;
    for (const v of row) ms += v * v;
    return 1 / Math.sqrt(ms / row.length + eps);
  });
  const inv = hold ? hold(invs) : invs;
  return x.map((row, r) => row.map((v, i) => v * inv[r] * w[i]));
}

/** The norm-scale hold of the norm that reads destination `dest`. */
const normHold = (h: RefHooks, dest: string): HoldScale | undefined => (h.hold ? (inv) => h.hold!(`${dest}.norm`, inv) : undefined);

export const add = (a: Mat, b: Mat): Mat => a.map((r, i) => r.map((v, j) => v + b[i][j]));

function erf(x: number): number {
  // Abramowitz-Stegun 7.1.26 is too coarse; use a series/continued fraction accurate to ~1e-15.
  const t = Math.abs(x);
  if (t < 3) {
    let sum = t;
    let term = t;
    for (let n = 1; n < 200; n++) {
      term *= (-t * t) / n;
      const c = term / (2 * n + 1);
      sum += c;
      if (Math.abs(c) < 1e-17) break;
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // Continued fraction for erfc.
  let f = 0;
  for (let n = 60; n >= 1; n--) f = (n / 2) / (t + f);
  const erfc = Math.exp(-t * t) / Math.sqrt(Math.PI) / (t + f);
  return Math.sign(x) * (1 - erfc);
}

export const acts = {
  gelu_new: (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
  gelu: (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
  silu: (x: number) => x / (1 + Math.exp(-x)),
};

/**
 * Causal attention for one head: q, k, v are [pos][e]. `onPattern` receives the probabilities; `hold`
 * (RefHooks.hold at '{head}.pattern.{row}') may replace each row of them.
 */
function attend(q: Mat, k: Mat, v: Mat, scale: number, onPattern?: (A: Mat) => void, hold?: (row: number, p: Float64Array) => Float64Array): Mat {
  const A: Mat = q.map((qi, i) => {
    const s: number[] = [];
    for (let j = 0; j <= i; j++) {
      let d = 0;
      for (let c = 0; c < qi.length; c++) d += qi[c] * k[j][c];
      s.push(d * scale);
    }
    const mx = Math.max(...s);
    const ex = s.map((x) => Math.exp(x - mx));
    const tot = ex.reduce((a, b) => a + b, 0);
    const row = new Float64Array(q.length);
    for (let j = 0; j <= i; j++) row[j] = ex[j] / tot;
    return hold ? hold(i, row) : row;
  });
  const z = A.map((row, i) => {
    const out = new Float64Array(v[0].length);
    for (let j = 0; j <= i; j++) for (let c = 0; c < out.length; c++) out[c] += row[j] * v[j][c];
    return out;
  });
  onPattern?.(A);
  return z;
}

/** The pattern hold of head `node` for `attend`. */
const patternHold = (h: RefHooks, node: string) => (h.hold ? (i: number, p: Float64Array) => h.hold!(`${node}.pattern.${i}`, p) : undefined);

/** HF rotate_half rotary embedding on the first `rot` dims of each row of x [pos][e]. */
function rotary(x: Mat, rot: number, theta: number): Mat {
  return x.map((row, p) => {
    const out = Float64Array.from(row);
    for (let i = 0; i < rot / 2; i++) {
      const invFreq = 1 / Math.pow(theta, (2 * i) / rot);
      const c = Math.cos(p * invFreq);
      const s = Math.sin(p * invFreq);
      const a = row[i];
      const b = row[i + rot / 2];
      out[i] = a * c - b * s;
      out[i + rot / 2] = b * c + a * s;
    }
    return out;
  });
}


/** Logits [pos][vocab] of a GPT2LMHeadModel. */
export function gpt2Forward(
  t: Tensors,
  cfg: { n_layer: number; n_head: number; n_embd: number; vocab_size: number; layer_norm_epsilon: number },
  ids: number[],
  hooks: RefHooks = noHooks,
): Mat {
  const d = cfg.n_embd;
  const H = cfg.n_head;
  const e = d / H;
  const eps = cfg.layer_norm_epsilon;
  const wte = get(t, 'transformer.wte.weight');
  const wpe = get(t, 'transformer.wpe.weight');
  let tok: Mat = ids.map((id) => Float64Array.from({ length: d }, (_, i) => wte[id * d + i]));
  if (hooks.embed) tok = hooks.embed(tok);
  hrec(hooks, 'input', tok);
  let h: Mat = tok.map((r, p) => r.map((v, i) => v + wpe[p * d + i]));
  for (let l = 0; l < cfg.n_layer; l++) {
    const p = `transformer.h.${l}.`;
    const ln = (x: Mat, dest: string) => layerNorm(x, get(t, p + 'ln_1.weight'), get(t, p + 'ln_1.bias'), eps, normHold(hooks, dest));
    const W = get(t, p + 'attn.c_attn.weight');
    const bias = get(t, p + 'attn.c_attn.bias');
    const Wo = get(t, p + 'attn.c_proj.weight');
    const heads: Mat[] = [];
    for (let hd = 0; hd < H; hd++) {
      const name = `a${l}.h${hd}`;
      const q = linearInOutCols(ln(hin(hooks, name + '<q>', h), name + '<q>'), W, d, 3 * d, hd * e, e, bias);
      const k = linearInOutCols(ln(hin(hooks, name + '<k>', h), name + '<k>'), W, d, 3 * d, d + hd * e, e, bias);
      const v = linearInOutCols(ln(hin(hooks, name + '<v>', h), name + '<v>'), W, d, 3 * d, 2 * d + hd * e, e, bias);
      const z = attend(q, k, v, 1 / Math.sqrt(e), (A) => hooks.pattern?.(name, A), patternHold(hooks, name));
      const bv = Float64Array.from({ length: e }, (_, j) => bias[2 * d + hd * e + j]);
      heads.push(hrec(hooks, name, minusBias(headOut(z, Wo, hd, e, d, 'inOut'), bv, Wo, hd, e, d, 'inOut')));
    }
    // The value biases' share of the heads goes with c_proj's bias (folded into b_O).
    const bO = headOut([Float64Array.from({ length: d }, (_, j) => bias[2 * d + j])], Wo, 0, d, d, 'inOut')[0].map((v, i) => v + get(t, p + 'attn.c_proj.bias')[i]);
    h = add(sumMats([h, ...heads], h.length, d), h.map(() => bO));
    const m = layerNorm(hin(hooks, `m${l}`, h), get(t, p + 'ln_2.weight'), get(t, p + 'ln_2.bias'), eps, normHold(hooks, `m${l}`));
    const f = activate(hooks, `m${l}`, linearInOut(m, get(t, p + 'mlp.c_fc.weight'), d, 4 * d, get(t, p + 'mlp.c_fc.bias')), actRatios.gelu_new);
    h = add(h, hrec(hooks, `m${l}`, linearInOut(f, get(t, p + 'mlp.c_proj.weight'), 4 * d, d, get(t, p + 'mlp.c_proj.bias'))));
  }
  const hf = layerNorm(hin(hooks, 'logits', h), get(t, 'transformer.ln_f.weight'), get(t, 'transformer.ln_f.bias'), eps, normHold(hooks, 'logits'));
  return linearOutIn(hf, wte, d, cfg.vocab_size);
}

export interface LlamaCfg {
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  vocab_size: number;
  rms_norm_eps: number;
  rope_theta: number;
  tie_word_embeddings: boolean;
  attention_bias?: boolean;
}

/** Logits [pos][vocab] of a LlamaForCausalLM (q/k/v/o biases when present). */
export function llamaForward(t: Tensors, cfg: LlamaCfg, ids: number[], hooks: RefHooks = noHooks): Mat {
  const d = cfg.hidden_size;
  const H = cfg.num_attention_heads;
  const Hkv = cfg.num_key_value_heads;
  const e = d / H;
  const m = cfg.intermediate_size;
  const emb = get(t, 'model.embed_tokens.weight');
  let h: Mat = ids.map((id) => Float64Array.from({ length: d }, (_, i) => emb[id * d + i]));
  if (hooks.embed) h = hooks.embed(h);
  hrec(hooks, 'input', h);
  const opt = (n: string) => (t[n] ? t[n].data : undefined);
  for (let l = 0; l < cfg.num_hidden_layers; l++) {
    const p = `model.layers.${l}.`;
    const norm = (x: Mat, dest: string) => rmsNorm(x, get(t, p + 'input_layernorm.weight'), cfg.rms_norm_eps, normHold(hooks, dest));
    const Wo = get(t, p + 'self_attn.o_proj.weight');
    const vb = opt(p + 'self_attn.v_proj.bias');
    const heads: Mat[] = [];
    for (let hd = 0; hd < H; hd++) {
      const g = Math.floor(hd / (H / Hkv)); // repeat_kv
      const name = `a${l}.h${hd}`;
      const q = linearOutInRows(norm(hin(hooks, name + '<q>', h), name + '<q>'), get(t, p + 'self_attn.q_proj.weight'), d, hd * e, e, opt(p + 'self_attn.q_proj.bias'));
      const k = linearOutInRows(norm(hin(hooks, name + '<k>', h), name + '<k>'), get(t, p + 'self_attn.k_proj.weight'), d, g * e, e, opt(p + 'self_attn.k_proj.bias'));
      const v = linearOutInRows(norm(hin(hooks, name + '<v>', h), name + '<v>'), get(t, p + 'self_attn.v_proj.weight'), d, g * e, e, vb);
      const z = attend(rotary(q, e, cfg.rope_theta), rotary(k, e, cfg.rope_theta), v, 1 / Math.sqrt(e), undefined, patternHold(hooks, name));
      const bv = vb && Float64Array.from({ length: e }, (_, j) => vb[g * e + j]);
      heads.push(hrec(hooks, name, minusBias(headOut(z, Wo, hd, e, d, 'outIn'), bv, Wo, hd, e, d, 'outIn')));
    }
    const ob = opt(p + 'self_attn.o_proj.bias');
    const folded = new Float64Array(d);
    if (ob) folded.set(ob);
    if (vb) for (let hd = 0; hd < H; hd++) {
      const g = Math.floor(hd / (H / Hkv));
      const share = headOut([Float64Array.from({ length: e }, (_, j) => vb[g * e + j])], Wo, hd, e, d, 'outIn')[0];
      share.forEach((v, i) => (folded[i] += v));
    }
    h = add(sumMats([h, ...heads], h.length, d), h.map(() => folded));
    const y = rmsNorm(hin(hooks, `m${l}`, h), get(t, p + 'post_attention_layernorm.weight'), cfg.rms_norm_eps, normHold(hooks, `m${l}`));
    const gate = linearOutIn(y, get(t, p + 'mlp.gate_proj.weight'), d, m, opt(p + 'mlp.gate_proj.bias'));
    const up = linearOutIn(y, get(t, p + 'mlp.up_proj.weight'), d, m, opt(p + 'mlp.up_proj.bias'));
    const act = gateProduct(hooks, `m${l}`, activate(hooks, `m${l}`, gate, actRatios.silu), up);
    h = add(h, hrec(hooks, `m${l}`, linearOutIn(act, get(t, p + 'mlp.down_proj.weight'), m, d, opt(p + 'mlp.down_proj.bias'))));
  }
  const hf = rmsNorm(hin(hooks, 'logits', h), get(t, 'model.norm.weight'), cfg.rms_norm_eps, normHold(hooks, 'logits'));
  return linearOutIn(hf, cfg.tie_word_embeddings ? emb : get(t, 'lm_head.weight'), d, cfg.vocab_size);
}

export interface NeoxCfg {
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  vocab_size: number;
  layer_norm_eps: number;
  rotary_pct: number;
  rotary_emb_base: number;
  use_parallel_residual: boolean;
}

/** Logits [pos][vocab] of a GPTNeoXForCausalLM. */
export function neoxForward(t: Tensors, cfg: NeoxCfg, ids: number[], hooks: RefHooks = noHooks): Mat {
  const d = cfg.hidden_size;
  const H = cfg.num_attention_heads;
  const e = d / H;
  const rot = Math.floor(e * cfg.rotary_pct);
  const m = cfg.intermediate_size;
  const emb = get(t, 'gpt_neox.embed_in.weight');
  let h: Mat = ids.map((id) => Float64Array.from({ length: d }, (_, i) => emb[id * d + i]));
  if (hooks.embed) h = hooks.embed(h);
  hrec(hooks, 'input', h);
  const eps = cfg.layer_norm_eps;
  for (let l = 0; l < cfg.num_hidden_layers; l++) {
    const p = `gpt_neox.layers.${l}.`;
    const ln = (x: Mat, dest: string) => layerNorm(x, get(t, p + 'input_layernorm.weight'), get(t, p + 'input_layernorm.bias'), eps, normHold(hooks, dest));
    const W = get(t, p + 'attention.query_key_value.weight');
    const bias = get(t, p + 'attention.query_key_value.bias');
    const Wo = get(t, p + 'attention.dense.weight');
    const heads: Mat[] = [];
    const folded = Float64Array.from(get(t, p + 'attention.dense.bias'));
    for (let hd = 0; hd < H; hd++) {
      const base = hd * 3 * e; // view(..., H, 3e)
      const name = `a${l}.h${hd}`;
      const q = rotary(linearOutInRows(ln(hin(hooks, name + '<q>', h), name + '<q>'), W, d, base, e, bias), rot, cfg.rotary_emb_base);
      const k = rotary(linearOutInRows(ln(hin(hooks, name + '<k>', h), name + '<k>'), W, d, base + e, e, bias), rot, cfg.rotary_emb_base);
      const v = linearOutInRows(ln(hin(hooks, name + '<v>', h), name + '<v>'), W, d, base + 2 * e, e, bias);
      const bv = Float64Array.from({ length: e }, (_, j) => bias[base + 2 * e + j]);
      const z = attend(q, k, v, 1 / Math.sqrt(e), undefined, patternHold(hooks, name));
      heads.push(hrec(hooks, name, minusBias(headOut(z, Wo, hd, e, d, 'outIn'), bv, Wo, hd, e, d, 'outIn')));
      headOut([bv], Wo, hd, e, d, 'outIn')[0].forEach((x, i) => (folded[i] += x));
    }
    const attnOut = add(sumMats(heads, h.length, d), h.map(() => folded));
    const mlp = (z: Mat): Mat => {
      const y = layerNorm(z, get(t, p + 'post_attention_layernorm.weight'), get(t, p + 'post_attention_layernorm.bias'), eps, normHold(hooks, `m${l}`));
      const f = activate(hooks, `m${l}`, linearOutIn(y, get(t, p + 'mlp.dense_h_to_4h.weight'), d, m, get(t, p + 'mlp.dense_h_to_4h.bias')), actRatios.gelu);
      return hrec(hooks, `m${l}`, linearOutIn(f, get(t, p + 'mlp.dense_4h_to_h.weight'), m, d, get(t, p + 'mlp.dense_4h_to_h.bias')));
    };
    if (cfg.use_parallel_residual) {
      h = add(add(h, attnOut), mlp(hin(hooks, `m${l}`, h)));
    } else {
      h = add(h, attnOut);
      h = add(h, mlp(hin(hooks, `m${l}`, h)));
    }
  }
  const hf = layerNorm(hin(hooks, 'logits', h), get(t, 'gpt_neox.final_layer_norm.weight'), get(t, 'gpt_neox.final_layer_norm.bias'), eps, normHold(hooks, 'logits'));
  return linearOutIn(hf, get(t, 'embed_out.weight'), d, cfg.vocab_size);
}
