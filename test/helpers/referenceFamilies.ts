/**
 * A plain float64 forward pass for the Llama-like Hugging Face families (Llama incl. Llama-3 RoPE,
 * Mistral, Qwen2, Qwen3, Phi, Gemma-2, Gemma-3 text, OLMo, OLMo-2), written from transformers' modeling
 * code (4.57 and 5.x; see /tmp/hf-facts.md when it exists). It reads the raw config.json object itself,
 * legacy or transformers-5 (`rope_parameters`) form, with each configuration class's defaults for
 * absent fields, and shares nothing with the engine (nothing from src/).
 *
 * Hooks follow reference.ts: `embed` may replace the embeddings (for Gemma after the √d scale), 'input'
 * records what enters the residual stream; each head 'a{l}.h{h}' records z_h·W_O[h] without its value
 * bias share; 'm{l}' records the MLP's output as added to the residual (after the post-feedforward norm
 * where there is one); `input` may replace the residual entering 'a{l}.h{h}<q|k|v>', 'm{l}' and 'logits'.
 * Families with a norm after attention (Gemma-2/3, OLMo-2) also record 'a{l}': the attention output
 * before that norm (the heads plus every bias share), which `postAttentionNorm` maps to what is added.
 */
import {
  acts,
  add,
  get,
  headOut,
  hin,
  hrec,
  layerNorm,
  linearOutIn,
  linearOutInRows,
  minusBias,
  rmsNorm,
  sumMats,
  type Mat,
  type RefHooks,
  type Tensors,
} from './reference';

type Config = Record<string, unknown>;
type Kind = 'llama' | 'mistral' | 'qwen2' | 'qwen3' | 'phi' | 'gemma2' | 'gemma3' | 'olmo' | 'olmo2';
type LayerType = 'full_attention' | 'sliding_attention';

const byModelType: Record<string, Kind> = {
  llama: 'llama',
  mistral: 'mistral',
  qwen2: 'qwen2',
  qwen3: 'qwen3',
  phi: 'phi',
  gemma2: 'gemma2',
  gemma3_text: 'gemma3',
  olmo: 'olmo',
  olmo2: 'olmo2',
};
const byArchitecture: Record<string, Kind> = {
  LlamaForCausalLM: 'llama',
  MistralForCausalLM: 'mistral',
  Qwen2ForCausalLM: 'qwen2',
  Qwen3ForCausalLM: 'qwen3',
  PhiForCausalLM: 'phi',
  Gemma2ForCausalLM: 'gemma2',
  Gemma3ForCausalLM: 'gemma3',
  OlmoForCausalLM: 'olmo',
  Olmo2ForCausalLM: 'olmo2',
};

/** The rotary embedding of one layer: inverse frequencies of the first `rot` dims, and cos/sin's factor. */
export interface Rope {
  readonly invFreq: number[];
  readonly rot: number;
  readonly attentionFactor: number;
}

/** What the forward needs from a config, with HF's defaults filled in. */
export interface FamilySpec {
  readonly kind: Kind;
  readonly d: number;
  readonly H: number;
  readonly Hkv: number;
  readonly hd: number;
  readonly m: number;
  readonly V: number;
  readonly L: number;
  readonly eps: number;
  readonly tied: boolean;
  readonly act: 'silu' | 'gelu' | 'gelu_tanh';
  /** Attention logit scale before softmax. */
  readonly scaling: number;
  readonly attnSoftcap: number | null;
  readonly finalSoftcap: number | null;
  readonly clipQkv: number | null;
  readonly layerTypes: LayerType[];
  /** The window of each layer (keys j with i - j < W are visible), null for full causal attention. */
  readonly windows: (number | null)[];
  readonly ropes: Rope[];
  /** Scale applied to the looked-up embedding (√d for Gemma, else 1). */
  readonly embedScale: number;
}

const num = (v: unknown, dflt: number): number => (typeof v === 'number' ? v : dflt);
/** A field that may be explicitly null (meaning "off") or absent (meaning the class default). */
const nullable = (c: Config, key: string, dflt: number | null): number | null => (key in c ? ((c[key] as number | null) ?? null) : dflt);

function kindOf(c: Config): Kind {
  const mt = c.model_type as string | undefined;
  if (mt && byModelType[mt]) return byModelType[mt];
  for (const a of (c.architectures as string[] | undefined) ?? []) if (byArchitecture[a]) return byArchitecture[a];
  throw new Error(`referenceFamilies: unsupported model_type ${mt} / architectures ${JSON.stringify(c.architectures)}`);
}

/** configuration_<family>.py defaults (transformers 4.57 / 5.x) for fields whose absence matters. */
function defaults(kind: Kind) {
  const gemma = kind === 'gemma2' || kind === 'gemma3';
  return {
    Hkv: ({ mistral: 8, qwen2: 32, qwen3: 32, gemma2: 4, gemma3: 4 } as Partial<Record<Kind, number>>)[kind],
    hd: ({ qwen3: 128, gemma2: 256, gemma3: 256 } as Partial<Record<Kind, number>>)[kind],
    eps: kind === 'olmo2' || kind === 'phi' || kind === 'olmo' ? 1e-5 : 1e-6,
    tied: gemma,
    theta: kind === 'gemma3' ? 1_000_000 : 10_000,
    maxPos: ({ mistral: 4096 * 32, qwen2: 32768, qwen3: 32768, gemma2: 8192, gemma3: 131_072 } as Partial<Record<Kind, number>>)[kind] ?? 2048,
    prf: kind === 'phi' ? 0.5 : 1,
  };
}

function actOf(kind: Kind, c: Config): FamilySpec['act'] {
  const name = kind === 'gemma2' || kind === 'gemma3' ? ((c.hidden_activation as string | undefined) ?? 'gelu_pytorch_tanh') : ((c.hidden_act as string | undefined) ?? (kind === 'phi' ? 'gelu_new' : 'silu'));
  if (name === 'silu' || name === 'swish') return 'silu';
  if (name === 'gelu') return 'gelu';
  if (name === 'gelu_new' || name === 'gelu_pytorch_tanh' || name === 'gelu_fast') return 'gelu_tanh';
  throw new Error(`referenceFamilies: unsupported activation ${name}`);
}

function layerTypesOf(kind: Kind, c: Config, L: number): LayerType[] {
  if (Array.isArray(c.layer_types) && kind !== 'mistral' && kind !== 'llama') return c.layer_types as LayerType[];
  const full = (): LayerType[] => Array.from({ length: L }, () => 'full_attention');
  switch (kind) {
    case 'mistral':
      // Every layer slides unless sliding_window is null (the class default is 4096).
      return nullable(c, 'sliding_window', 4096) === null ? full() : Array.from({ length: L }, () => 'sliding_attention');
    case 'qwen2':
    case 'qwen3': {
      if (!c.use_sliding_window) return full();
      const from = num(c.max_window_layers, 28);
      return Array.from({ length: L }, (_, i) => (i >= from ? 'sliding_attention' : 'full_attention'));
    }
    case 'gemma2':
      return Array.from({ length: L }, (_, i) => ((i + 1) % 2 ? 'sliding_attention' : 'full_attention'));
    case 'gemma3': {
      const pattern = num(c.sliding_window_pattern, 6);
      return Array.from({ length: L }, (_, i) => ((i + 1) % pattern ? 'sliding_attention' : 'full_attention'));
    }
    default:
      return full();
  }
}

/** The rope dict that applies to a layer type, in v5 form (rope_type, rope_theta, partial_rotary_factor, …). */
function ropeParams(kind: Kind, c: Config, layerType: LayerType): Record<string, unknown> {
  const dflt = defaults(kind);
  const rp = c.rope_parameters as Record<string, unknown> | null | undefined;
  let p: Record<string, unknown>;
  if (rp && ('full_attention' in rp || 'sliding_attention' in rp)) {
    p = { ...((rp[layerType] as Record<string, unknown> | null) ?? { rope_type: 'default' }) };
    if (kind === 'gemma3' && p.rope_theta === undefined) p.rope_theta = layerType === 'sliding_attention' ? num(c.rope_local_base_freq, 10_000) : num(c.rope_theta, 1_000_000);
  } else if (kind === 'gemma3' && layerType === 'sliding_attention' && !rp) {
    // Legacy Gemma-3: local layers use plain RoPE at rope_local_base_freq; rope_scaling is for global ones.
    p = { rope_type: 'default', rope_theta: num(c.rope_local_base_freq, 10_000) };
  } else {
    p = { ...((rp ?? c.rope_scaling ?? {}) as Record<string, unknown>) };
  }
  p.rope_type ??= p.type ?? 'default';
  p.rope_theta ??= c.rope_theta ?? dflt.theta;
  p.partial_rotary_factor ??= c.partial_rotary_factor ?? dflt.prf;
  return p;
}

function ropeOf(kind: Kind, c: Config, layerType: LayerType, hd: number, seqLen: number): Rope {
  const p = ropeParams(kind, c, layerType);
  const base = p.rope_theta as number;
  const dim = Math.floor(hd * (p.partial_rotary_factor as number));
  const maxPos = num(c.max_position_embeddings, defaults(kind).maxPos);
  const omax = num(p.original_max_position_embeddings, maxPos);
  const plain = (b: number) => Array.from({ length: dim / 2 }, (_, k) => 1 / Math.pow(b, (2 * k) / dim));
  const type = p.rope_type as string;
  const factor = p.factor as number;
  switch (type) {
    case 'default':
      return { invFreq: plain(base), rot: dim, attentionFactor: 1 };
    case 'linear':
      return { invFreq: plain(base).map((f) => f / factor), rot: dim, attentionFactor: 1 };
    case 'dynamic': {
      // Only differs from default once the sequence is longer than max_position_embeddings.
      const s = Math.max(seqLen, maxPos);
      const b = base * Math.pow((factor * s) / maxPos - (factor - 1), dim / (dim - 2));
      return { invFreq: plain(b), rot: dim, attentionFactor: 1 };
    }
    case 'llama3': {
      const lowF = p.low_freq_factor as number;
      const highF = p.high_freq_factor as number;
      const lowW = omax / lowF;
      const highW = omax / highF;
      const invFreq = plain(base).map((f) => {
        const wavelen = (2 * Math.PI) / f;
        if (wavelen < highW) return f;
        if (wavelen > lowW) return f / factor;
        const smooth = (omax / wavelen - lowF) / (highF - lowF);
        return ((1 - smooth) * f) / factor + smooth * f;
      });
      return { invFreq, rot: dim, attentionFactor: 1 };
    }
    case 'yarn': {
      const f = factor ?? maxPos / omax;
      const mscale = (s: number, ms = 1) => (s <= 1 ? 1 : 0.1 * ms * Math.log(s) + 1);
      let af = p.attention_factor as number | undefined;
      if (af === undefined || af === null) af = p.mscale && p.mscale_all_dim ? mscale(f, p.mscale as number) / mscale(f, p.mscale_all_dim as number) : mscale(f);
      const betaFast = (p.beta_fast as number) || 32;
      const betaSlow = (p.beta_slow as number) || 1;
      const corr = (rotations: number) => (dim * Math.log(omax / (rotations * 2 * Math.PI))) / (2 * Math.log(base));
      const truncate = p.truncate ?? true;
      let low = corr(betaFast);
      let high = corr(betaSlow);
      if (truncate) {
        low = Math.floor(low);
        high = Math.ceil(high);
      }
      low = Math.max(low, 0);
      high = Math.min(high, dim - 1);
      if (low === high) high += 0.001;
      const invFreq = plain(base).map((e, k) => {
        const ramp = Math.min(1, Math.max(0, (k - low) / (high - low)));
        const extrap = 1 - ramp;
        return (e / f) * (1 - extrap) + e * extrap;
      });
      return { invFreq, rot: dim, attentionFactor: af };
    }
    case 'longrope': {
      const f = factor ?? maxPos / omax;
      let af = p.attention_factor as number | undefined;
      if (af === undefined || af === null) af = f <= 1 ? 1 : Math.sqrt(1 + Math.log(f) / Math.log(omax));
      const ext = (seqLen > omax ? p.long_factor : p.short_factor) as number[];
      return { invFreq: plain(base).map((e, k) => e / ext[k]), rot: dim, attentionFactor: af };
    }
    default:
      throw new Error(`referenceFamilies: unsupported rope_type ${type}`);
  }
}

/** Parses a raw config.json object (legacy or transformers-5 form) for a sequence of `seqLen` tokens. */
export function parseFamily(config: Config, seqLen = 1): FamilySpec {
  const c = config;
  const kind = kindOf(c);
  const dflt = defaults(kind);
  const d = c.hidden_size as number;
  const H = c.num_attention_heads as number;
  const L = c.num_hidden_layers as number;
  const Hkv = num(c.num_key_value_heads, dflt.Hkv ?? H);
  // Every family's attention reads getattr(config, "head_dim", d // H); Qwen3 and Gemma have class defaults.
  const hd = num(c.head_dim, dflt.hd ?? Math.floor(d / H));
  const gemma = kind === 'gemma2' || kind === 'gemma3';
  const eps = kind === 'olmo' ? 1e-5 : kind === 'phi' ? num(c.layer_norm_eps, 1e-5) : num(c.rms_norm_eps, dflt.eps);
  const layerTypes = layerTypesOf(kind, c, L);
  const window = kind === 'qwen2' || kind === 'qwen3' ? (c.use_sliding_window ? nullable(c, 'sliding_window', 4096) : null) : nullable(c, 'sliding_window', 4096);
  return {
    kind,
    d,
    H,
    Hkv,
    hd,
    m: c.intermediate_size as number,
    V: c.vocab_size as number,
    L,
    eps,
    tied: typeof c.tie_word_embeddings === 'boolean' ? c.tie_word_embeddings : dflt.tied,
    act: actOf(kind, c),
    scaling: gemma ? Math.pow(num(c.query_pre_attn_scalar, 256), -0.5) : Math.pow(hd, -0.5),
    // Gemma3Attention does not pass attn_logit_softcapping to the attention function (4.57, 5.x).
    attnSoftcap: kind === 'gemma2' ? nullable(c, 'attn_logit_softcapping', 50) : null,
    finalSoftcap: kind === 'gemma2' ? nullable(c, 'final_logit_softcapping', 30) : kind === 'gemma3' ? nullable(c, 'final_logit_softcapping', null) : null,
    clipQkv: kind === 'olmo' ? nullable(c, 'clip_qkv', null) : null,
    layerTypes,
    windows: layerTypes.map((t) => (t === 'sliding_attention' ? window : null)),
    ropes: layerTypes.map((t) => ropeOf(kind, c, t, hd, seqLen)),
    embedScale: gemma ? Math.sqrt(d) : 1,
  };
}

/** rotate_half RoPE on the first `rope.rot` dims of each row of x [pos][hd]; cos and sin carry the attention factor. */
function applyRope(x: Mat, rope: Rope): Mat {
  const half = rope.rot / 2;
  return x.map((row, p) => {
    const out = Float64Array.from(row);
    for (let i = 0; i < half; i++) {
      const c = Math.cos(p * rope.invFreq[i]) * rope.attentionFactor;
      const s = Math.sin(p * rope.invFreq[i]) * rope.attentionFactor;
      const a = row[i];
      const b = row[i + half];
      out[i] = a * c - b * s;
      out[i + half] = b * c + a * s;
    }
    return out;
  });
}

/** Causal attention for one head with an optional soft cap and sliding window (key j visible iff 0 <= i - j < W). */
function attendFamily(q: Mat, k: Mat, v: Mat, scale: number, softcap: number | null, window: number | null): { z: Mat; A: Mat } {
  const n = q.length;
  const A: Mat = q.map(() => new Float64Array(n));
  const z = q.map((qi, i) => {
    const lo = window === null ? 0 : Math.max(0, i - window + 1);
    const s: number[] = [];
    for (let j = lo; j <= i; j++) {
      let dot = 0;
      for (let c = 0; c < qi.length; c++) dot += qi[c] * k[j][c];
      let x = dot * scale;
      if (softcap !== null) x = softcap * Math.tanh(x / softcap);
      s.push(x);
    }
    const mx = Math.max(...s);
    const ex = s.map((x) => Math.exp(x - mx));
    const tot = ex.reduce((a, b) => a + b, 0);
    const out = new Float64Array(v[0].length);
    for (let j = lo; j <= i; j++) {
      const w = ex[j - lo] / tot;
      A[i][j] = w;
      for (let c = 0; c < out.length; c++) out[c] += w * v[j][c];
    }
    return out;
  });
  return { z, A };
}

/** Gemma's RMSNorm: x / rms(x) · (1 + w). */
function gemmaNorm(x: Mat, w: Float32Array, eps: number): Mat {
  return x.map((row) => {
    let ms = 0;
    for (const v of row) ms += v * v;
    const inv = 1 / Math.sqrt(ms / row.length + eps);
    return row.map((v, i) => v * inv * (1 + w[i]));
  });
}

/** LayerNorm without weight or bias (OLMo-1). */
function plainLayerNorm(x: Mat, eps: number): Mat {
  const n = x[0]?.length ?? 0;
  return layerNorm(x, new Float32Array(n).fill(1), new Float32Array(n), eps);
}

const opt = (t: Tensors, n: string): Float32Array | undefined => (t[n] ? t[n].data : undefined);
const sliceCols = (x: Mat, c0: number, n: number): Mat => x.map((r) => r.slice(c0, c0 + n));

/** The norm each family puts on the residual before attention (identity for OLMo-2). */
function preAttnNorm(s: FamilySpec, t: Tensors, p: string, x: Mat): Mat {
  switch (s.kind) {
    case 'gemma2':
    case 'gemma3':
      return gemmaNorm(x, get(t, p + 'input_layernorm.weight'), s.eps);
    case 'phi':
      return layerNorm(x, get(t, p + 'input_layernorm.weight'), get(t, p + 'input_layernorm.bias'), s.eps);
    case 'olmo':
      return plainLayerNorm(x, 1e-5);
    case 'olmo2':
      return x;
    default:
      return rmsNorm(x, get(t, p + 'input_layernorm.weight'), s.eps);
  }
}

/** The norm before the MLP (Phi's parallel block reuses input_layernorm; OLMo-2 has none). */
function preMlpNorm(s: FamilySpec, t: Tensors, p: string, x: Mat): Mat {
  switch (s.kind) {
    case 'gemma2':
    case 'gemma3':
      return gemmaNorm(x, get(t, p + 'pre_feedforward_layernorm.weight'), s.eps);
    case 'phi':
      return layerNorm(x, get(t, p + 'input_layernorm.weight'), get(t, p + 'input_layernorm.bias'), s.eps);
    case 'olmo':
      return plainLayerNorm(x, 1e-5);
    case 'olmo2':
      return x;
    default:
      return rmsNorm(x, get(t, p + 'post_attention_layernorm.weight'), s.eps);
  }
}

const hasPostAttnNorm = (k: Kind) => k === 'gemma2' || k === 'gemma3' || k === 'olmo2';

function postNorm(s: FamilySpec, t: Tensors, name: string, x: Mat): Mat {
  return s.kind === 'olmo2' ? rmsNorm(x, get(t, name), s.eps) : gemmaNorm(x, get(t, name), s.eps);
}

/**
 * Layer `layer`'s norm after attention (Gemma-2/3: (1 + w) RMSNorm; OLMo-2: RMSNorm), applied to x
 * [pos][d]: the residual gains postAttentionNorm(A) where A is the recorded 'a{layer}'.
 */
export function postAttentionNorm(config: Config, t: Tensors, layer: number, x: Mat): Mat {
  const s = parseFamily(config);
  if (!hasPostAttnNorm(s.kind)) throw new Error(`referenceFamilies: ${s.kind} has no norm after attention`);
  return postNorm(s, t, `model.layers.${layer}.post_attention_layernorm.weight`, x);
}

/** One query/key projection for head slot `slot` of size hd from input x, with the family's q/k processing. */
function qkProj(s: FamilySpec, t: Tensors, p: string, which: 'q' | 'k', x: Mat, slot: number): Mat {
  const { d, hd } = s;
  const nHeads = which === 'q' ? s.H : s.Hkv;
  const W = get(t, `${p}self_attn.${which}_proj.weight`);
  const b = opt(t, `${p}self_attn.${which}_proj.bias`);
  if (s.kind === 'olmo2') {
    // q_norm / k_norm are RMSNorms over the whole projection (all heads together), then split per head.
    const full = linearOutIn(x, W, d, nHeads * hd, b);
    return sliceCols(rmsNorm(full, get(t, `${p}self_attn.${which}_norm.weight`), s.eps), slot * hd, hd);
  }
  let y = linearOutInRows(x, W, d, slot * hd, hd, b);
  if (s.clipQkv !== null) y = clip(y, s.clipQkv);
  if (s.kind === 'qwen3') y = rmsNorm(y, get(t, `${p}self_attn.${which}_norm.weight`), s.eps);
  if (s.kind === 'gemma3') y = gemmaNorm(y, get(t, `${p}self_attn.${which}_norm.weight`), s.eps);
  if (s.kind === 'phi' && opt(t, `${p}self_attn.${which}_layernorm.weight`)) {
    y = layerNorm(y, get(t, `${p}self_attn.${which}_layernorm.weight`), get(t, `${p}self_attn.${which}_layernorm.bias`), s.eps);
  }
  return y;
}

const clip = (x: Mat, c: number): Mat => x.map((r) => r.map((v) => Math.min(c, Math.max(-c, v))));

/** Logits [pos][vocab] of one of the families above, from the raw config.json object. */
export function familyForward(config: Config, t: Tensors, ids: number[], hooks: RefHooks = {}): Mat {
  const s = parseFamily(config, ids.length);
  const { d, H, Hkv, hd, m } = s;
  const group = H / Hkv;
  const emb = get(t, 'model.embed_tokens.weight');
  let x: Mat = ids.map((id) => Float64Array.from({ length: d }, (_, i) => emb[id * d + i] * s.embedScale));
  if (hooks.embed) x = hooks.embed(x);
  let h = hrec(hooks, 'input', x);
  const oName = s.kind === 'phi' ? 'dense' : 'o_proj';
  for (let l = 0; l < s.L; l++) {
    const p = `model.layers.${l}.`;
    const Wo = get(t, `${p}self_attn.${oName}.weight`);
    const vb = opt(t, p + 'self_attn.v_proj.bias');
    const Wv = get(t, p + 'self_attn.v_proj.weight');
    const heads: Mat[] = [];
    for (let hq = 0; hq < H; hq++) {
      const g = Math.floor(hq / group);
      const name = `a${l}.h${hq}`;
      const q = applyRope(qkProj(s, t, p, 'q', preAttnNorm(s, t, p, hin(hooks, name + '<q>', h)), hq), s.ropes[l]);
      const k = applyRope(qkProj(s, t, p, 'k', preAttnNorm(s, t, p, hin(hooks, name + '<k>', h)), g), s.ropes[l]);
      let v = linearOutInRows(preAttnNorm(s, t, p, hin(hooks, name + '<v>', h)), Wv, d, g * hd, hd, vb);
      if (s.clipQkv !== null) v = clip(v, s.clipQkv);
      const { z, A } = attendFamily(q, k, v, s.scaling, s.attnSoftcap, s.windows[l]);
      hooks.pattern?.(name, A);
      // With clip_qkv the value bias is inside the clamp, so it no longer contributes a constant share.
      const bv = vb && s.clipQkv === null ? Float64Array.from({ length: hd }, (_, j) => vb[g * hd + j]) : undefined;
      heads.push(hrec(hooks, name, minusBias(headOut(z, Wo, hq, hd, d, 'outIn'), bv, Wo, hq, hd, d, 'outIn')));
    }
    // o_proj's bias plus each head's value-bias share, as reference.ts folds them.
    const folded = new Float64Array(d);
    const ob = opt(t, `${p}self_attn.${oName}.bias`);
    if (ob) folded.set(ob);
    if (vb && s.clipQkv === null) {
      for (let hq = 0; hq < H; hq++) {
        const g = Math.floor(hq / group);
        headOut([Float64Array.from({ length: hd }, (_, j) => vb[g * hd + j])], Wo, hq, hd, d, 'outIn')[0].forEach((val, i) => (folded[i] += val));
      }
    }
    const attn = add(sumMats(heads, h.length, d), h.map(() => folded));
    const mlp = (y: Mat): Mat => {
      if (s.kind === 'phi') {
        const f = linearOutIn(y, get(t, p + 'mlp.fc1.weight'), d, m, get(t, p + 'mlp.fc1.bias')).map((r) => r.map(actFn(s.act)));
        return linearOutIn(f, get(t, p + 'mlp.fc2.weight'), m, d, get(t, p + 'mlp.fc2.bias'));
      }
      const gate = linearOutIn(y, get(t, p + 'mlp.gate_proj.weight'), d, m, opt(t, p + 'mlp.gate_proj.bias'));
      const up = linearOutIn(y, get(t, p + 'mlp.up_proj.weight'), d, m, opt(t, p + 'mlp.up_proj.bias'));
      const a = actFn(s.act);
      const act = gate.map((r, i) => r.map((gv, j) => a(gv) * up[i][j]));
      return linearOutIn(act, get(t, p + 'mlp.down_proj.weight'), m, d, opt(t, p + 'mlp.down_proj.bias'));
    };
    if (s.kind === 'phi') {
      // Parallel block: the MLP reads the same residual (and the same LayerNorm) as attention.
      const out = hrec(hooks, `m${l}`, mlp(preMlpNorm(s, t, p, hin(hooks, `m${l}`, h))));
      h = add(add(h, attn), out);
      continue;
    }
    if (hasPostAttnNorm(s.kind)) {
      hrec(hooks, `a${l}`, attn);
      h = add(h, postNorm(s, t, p + 'post_attention_layernorm.weight', attn));
    } else {
      h = add(h, attn);
    }
    let out = mlp(preMlpNorm(s, t, p, hin(hooks, `m${l}`, h)));
    if (hasPostAttnNorm(s.kind)) out = postNorm(s, t, p + 'post_feedforward_layernorm.weight', out);
    h = add(h, hrec(hooks, `m${l}`, out));
  }
  const xf = hin(hooks, 'logits', h);
  let hf: Mat;
  if (s.kind === 'phi') hf = layerNorm(xf, get(t, 'model.final_layernorm.weight'), get(t, 'model.final_layernorm.bias'), s.eps);
  else if (s.kind === 'olmo') hf = plainLayerNorm(xf, 1e-5);
  else if (s.kind === 'gemma2' || s.kind === 'gemma3') hf = gemmaNorm(xf, get(t, 'model.norm.weight'), s.eps);
  else hf = rmsNorm(xf, get(t, 'model.norm.weight'), s.eps);
  const W = s.tied ? emb : get(t, 'lm_head.weight');
  let logits = linearOutIn(hf, W, d, s.V, opt(t, 'lm_head.bias'));
  const cap = s.finalSoftcap;
  if (cap !== null) logits = logits.map((r) => r.map((v) => cap * Math.tanh(v / cap)));
  return logits;
}

function actFn(a: FamilySpec['act']): (x: number) => number {
  return a === 'silu' ? acts.silu : a === 'gelu' ? acts.gelu : acts.gelu_new;
}
