/**
 * Plain float64 forward passes written from Hugging Face's modeling code, reading tensors by their HF
 * names and layouts. They share nothing with the engine (no canonical layout, no graph), so agreement
 * between the two is evidence that both are right.
 */

export type Tensors = Record<string, { shape: number[]; data: Float32Array }>;
type Mat = Float64Array[]; // rows

function get(t: Tensors, name: string): Float32Array {
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
function linearOutIn(x: Mat, W: Float32Array, nIn: number, nOut: number, bias?: Float32Array): Mat {
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

function layerNorm(x: Mat, w: Float32Array, b: Float32Array, eps: number): Mat {
  return x.map((row) => {
    const n = row.length;
    let mean = 0;
    for (const v of row) mean += v;
    mean /= n;
    let vr = 0;
    for (const v of row) vr += (v - mean) ** 2;
    vr /= n;
    const inv = 1 / Math.sqrt(vr + eps);
    return row.map((v, i) => (v - mean) * inv * w[i] + b[i]);
  });
}

function rmsNorm(x: Mat, w: Float32Array, eps: number): Mat {
  return x.map((row) => {
    let ms = 0;
    for (const v of row) ms += v * v;
    ms /= row.length;
    const inv = 1 / Math.sqrt(ms + eps);
    return row.map((v, i) => v * inv * w[i]);
  });
}

const add = (a: Mat, b: Mat): Mat => a.map((r, i) => r.map((v, j) => v + b[i][j]));

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

const acts = {
  gelu_new: (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
  gelu: (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
  silu: (x: number) => x / (1 + Math.exp(-x)),
};

/** Causal attention for one head: q, k, v are [pos][e]. */
function attend(q: Mat, k: Mat, v: Mat, scale: number): Mat {
  return q.map((qi, i) => {
    const s: number[] = [];
    for (let j = 0; j <= i; j++) {
      let d = 0;
      for (let c = 0; c < qi.length; c++) d += qi[c] * k[j][c];
      s.push(d * scale);
    }
    const mx = Math.max(...s);
    const ex = s.map((x) => Math.exp(x - mx));
    const tot = ex.reduce((a, b) => a + b, 0);
    const out = new Float64Array(v[0].length);
    for (let j = 0; j <= i; j++) for (let c = 0; c < out.length; c++) out[c] += (ex[j] / tot) * v[j][c];
    return out;
  });
}

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

const cols = (x: Mat, start: number, n: number): Mat => x.map((r) => r.slice(start, start + n));

/** Logits [pos][vocab] of a GPT2LMHeadModel. */
export function gpt2Forward(t: Tensors, cfg: { n_layer: number; n_head: number; n_embd: number; vocab_size: number; layer_norm_epsilon: number }, ids: number[]): Mat {
  const d = cfg.n_embd;
  const H = cfg.n_head;
  const e = d / H;
  const wte = get(t, 'transformer.wte.weight');
  const wpe = get(t, 'transformer.wpe.weight');
  let h: Mat = ids.map((id, p) => Float64Array.from({ length: d }, (_, i) => wte[id * d + i] + wpe[p * d + i]));
  for (let l = 0; l < cfg.n_layer; l++) {
    const p = `transformer.h.${l}.`;
    const a = layerNorm(h, get(t, p + 'ln_1.weight'), get(t, p + 'ln_1.bias'), cfg.layer_norm_epsilon);
    const qkv = linearInOut(a, get(t, p + 'attn.c_attn.weight'), d, 3 * d, get(t, p + 'attn.c_attn.bias'));
    const merged: Mat = h.map(() => new Float64Array(d));
    for (let hd = 0; hd < H; hd++) {
      const z = attend(cols(qkv, hd * e, e), cols(qkv, d + hd * e, e), cols(qkv, 2 * d + hd * e, e), 1 / Math.sqrt(e));
      z.forEach((r, i) => merged[i].set(r, hd * e));
    }
    h = add(h, linearInOut(merged, get(t, p + 'attn.c_proj.weight'), d, d, get(t, p + 'attn.c_proj.bias')));
    const m = layerNorm(h, get(t, p + 'ln_2.weight'), get(t, p + 'ln_2.bias'), cfg.layer_norm_epsilon);
    const f = linearInOut(m, get(t, p + 'mlp.c_fc.weight'), d, 4 * d, get(t, p + 'mlp.c_fc.bias')).map((r) => r.map(acts.gelu_new));
    h = add(h, linearInOut(f, get(t, p + 'mlp.c_proj.weight'), 4 * d, d, get(t, p + 'mlp.c_proj.bias')));
  }
  const hf = layerNorm(h, get(t, 'transformer.ln_f.weight'), get(t, 'transformer.ln_f.bias'), cfg.layer_norm_epsilon);
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
export function llamaForward(t: Tensors, cfg: LlamaCfg, ids: number[]): Mat {
  const d = cfg.hidden_size;
  const H = cfg.num_attention_heads;
  const Hkv = cfg.num_key_value_heads;
  const e = d / H;
  const m = cfg.intermediate_size;
  const emb = get(t, 'model.embed_tokens.weight');
  let h: Mat = ids.map((id) => Float64Array.from({ length: d }, (_, i) => emb[id * d + i]));
  const opt = (n: string) => (t[n] ? t[n].data : undefined);
  for (let l = 0; l < cfg.num_hidden_layers; l++) {
    const p = `model.layers.${l}.`;
    const x = rmsNorm(h, get(t, p + 'input_layernorm.weight'), cfg.rms_norm_eps);
    const q = linearOutIn(x, get(t, p + 'self_attn.q_proj.weight'), d, H * e, opt(p + 'self_attn.q_proj.bias'));
    const k = linearOutIn(x, get(t, p + 'self_attn.k_proj.weight'), d, Hkv * e, opt(p + 'self_attn.k_proj.bias'));
    const v = linearOutIn(x, get(t, p + 'self_attn.v_proj.weight'), d, Hkv * e, opt(p + 'self_attn.v_proj.bias'));
    const merged: Mat = h.map(() => new Float64Array(H * e));
    for (let hd = 0; hd < H; hd++) {
      const g = Math.floor(hd / (H / Hkv)); // repeat_kv
      const qh = rotary(cols(q, hd * e, e), e, cfg.rope_theta);
      const kh = rotary(cols(k, g * e, e), e, cfg.rope_theta);
      attend(qh, kh, cols(v, g * e, e), 1 / Math.sqrt(e)).forEach((r, i) => merged[i].set(r, hd * e));
    }
    h = add(h, linearOutIn(merged, get(t, p + 'self_attn.o_proj.weight'), H * e, d, opt(p + 'self_attn.o_proj.bias')));
    const y = rmsNorm(h, get(t, p + 'post_attention_layernorm.weight'), cfg.rms_norm_eps);
    const gate = linearOutIn(y, get(t, p + 'mlp.gate_proj.weight'), d, m);
    const up = linearOutIn(y, get(t, p + 'mlp.up_proj.weight'), d, m);
    const act = gate.map((r, i) => r.map((g, j) => acts.silu(g) * up[i][j]));
    h = add(h, linearOutIn(act, get(t, p + 'mlp.down_proj.weight'), m, d));
  }
  const hf = rmsNorm(h, get(t, 'model.norm.weight'), cfg.rms_norm_eps);
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
export function neoxForward(t: Tensors, cfg: NeoxCfg, ids: number[]): Mat {
  const d = cfg.hidden_size;
  const H = cfg.num_attention_heads;
  const e = d / H;
  const rot = Math.floor(e * cfg.rotary_pct);
  const m = cfg.intermediate_size;
  const emb = get(t, 'gpt_neox.embed_in.weight');
  let h: Mat = ids.map((id) => Float64Array.from({ length: d }, (_, i) => emb[id * d + i]));
  const eps = cfg.layer_norm_eps;
  for (let l = 0; l < cfg.num_hidden_layers; l++) {
    const p = `gpt_neox.layers.${l}.`;
    const x = layerNorm(h, get(t, p + 'input_layernorm.weight'), get(t, p + 'input_layernorm.bias'), eps);
    const qkv = linearOutIn(x, get(t, p + 'attention.query_key_value.weight'), d, 3 * d, get(t, p + 'attention.query_key_value.bias'));
    const merged: Mat = h.map(() => new Float64Array(d));
    for (let hd = 0; hd < H; hd++) {
      const base = hd * 3 * e; // view(..., H, 3e)
      const qh = rotary(cols(qkv, base, e), rot, cfg.rotary_emb_base);
      const kh = rotary(cols(qkv, base + e, e), rot, cfg.rotary_emb_base);
      attend(qh, kh, cols(qkv, base + 2 * e, e), 1 / Math.sqrt(e)).forEach((r, i) => merged[i].set(r, hd * e));
    }
    const attnOut = linearOutIn(merged, get(t, p + 'attention.dense.weight'), d, d, get(t, p + 'attention.dense.bias'));
    const mlp = (z: Mat): Mat => {
      const y = layerNorm(z, get(t, p + 'post_attention_layernorm.weight'), get(t, p + 'post_attention_layernorm.bias'), eps);
      const f = linearOutIn(y, get(t, p + 'mlp.dense_h_to_4h.weight'), d, m, get(t, p + 'mlp.dense_h_to_4h.bias')).map((r) => r.map(acts.gelu));
      return linearOutIn(f, get(t, p + 'mlp.dense_4h_to_h.weight'), m, d, get(t, p + 'mlp.dense_4h_to_h.bias'));
    };
    if (cfg.use_parallel_residual) {
      h = add(add(h, attnOut), mlp(h));
    } else {
      h = add(h, attnOut);
      h = add(h, mlp(h));
    }
  }
  const hf = layerNorm(h, get(t, 'gpt_neox.final_layer_norm.weight'), get(t, 'gpt_neox.final_layer_norm.bias'), eps);
  return linearOutIn(hf, get(t, 'embed_out.weight'), d, cfg.vocab_size);
}
