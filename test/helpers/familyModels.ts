/**
 * Small random checkpoints for the newer Hugging Face families, each in that family's real tensor
 * layout and config.json field names (see modeling_<family>.py / configuration_<family>.py of
 * transformers 4.57 and 5.x). Config values differ from the configuration classes' defaults where that
 * makes a difference, so a reader that falls back to a default where the field is present shows up.
 *
 * `v5: true` writes the transformers-5 form of the same config: one `rope_parameters` dict (for Gemma-3,
 * one per layer type) and no legacy top-level rope_theta / rope_scaling / partial_rotary_factor /
 * rope_local_base_freq. It describes the same model as the legacy form.
 */
import { fill, type Spec, type TinyModel } from './tinyModels';

type Config = Record<string, unknown>;

/** Common options. `v5` writes rope_parameters instead of the legacy keys. */
export interface FamilyOptions {
  readonly v5?: boolean;
  readonly seed?: number;
  readonly nLayer?: number;
}

const SCALE = 0.25;
/** Norm weights of plain norms are near 1; Gemma's (1 + w) norms store w, so theirs are near 0. */
const plainNorm = (n: string) => /(norm|layernorm)\.weight$/.test(n);
const noOnes = () => false;

/**
 * The transformers-5 form of a legacy config: rope_theta, rope_scaling (either spelling of its type
 * key) and partial_rotary_factor move into one rope_parameters dict.
 */
export function toV5Config(config: Config): Config {
  const out: Config = { ...config };
  const scaling = (out.rope_scaling ?? {}) as Record<string, unknown>;
  const params: Record<string, unknown> = { ...scaling };
  if ('type' in params) {
    params.rope_type ??= params.type;
    delete params.type;
  }
  params.rope_type ??= 'default';
  if (out.rope_theta !== undefined) params.rope_theta = out.rope_theta;
  if (out.partial_rotary_factor !== undefined) params.partial_rotary_factor = out.partial_rotary_factor;
  delete out.rope_theta;
  delete out.rope_scaling;
  delete out.partial_rotary_factor;
  out.rope_parameters = params;
  return out;
}

function llamaLayout(spec: Spec, l: number, d: number, H: number, Hkv: number, hd: number, m: number, extra: { inputNorm?: boolean; postAttnNorm?: boolean } = {}): string {
  const p = `model.layers.${l}.`;
  if (extra.inputNorm !== false) spec[p + 'input_layernorm.weight'] = [d];
  Object.assign(spec, {
    [p + 'self_attn.q_proj.weight']: [H * hd, d],
    [p + 'self_attn.k_proj.weight']: [Hkv * hd, d],
    [p + 'self_attn.v_proj.weight']: [Hkv * hd, d],
    [p + 'self_attn.o_proj.weight']: [d, H * hd],
    [p + 'mlp.gate_proj.weight']: [m, d],
    [p + 'mlp.up_proj.weight']: [m, d],
    [p + 'mlp.down_proj.weight']: [d, m],
  });
  if (extra.postAttnNorm !== false) spec[p + 'post_attention_layernorm.weight'] = [d];
  return p;
}

/**
 * Llama-3.x with rope_type "llama3". With rope_theta 100 and head_dim 8 the four frequencies have
 * wavelengths 6.3, 19.9, 62.8 and 199; original_max_position_embeddings 32 with low/high factors 1/4
 * puts them in the high (unchanged), medium (smoothed) and low (divided by `factor`) bands.
 */
export function llama3Tiny(
  opts: FamilyOptions & { factor?: number; lowFreqFactor?: number; highFreqFactor?: number; originalMax?: number; theta?: number; typeKey?: 'rope_type' | 'type'; tied?: boolean } = {},
): TinyModel {
  const L = opts.nLayer ?? 2;
  const [d, H, Hkv, hd, m, V] = [32, 4, 2, 8, 48, 512];
  const spec: Spec = { 'model.embed_tokens.weight': [V, d], 'model.norm.weight': [d] };
  if (!opts.tied) spec['lm_head.weight'] = [V, d];
  for (let l = 0; l < L; l++) llamaLayout(spec, l, d, H, Hkv, hd, m);
  const config: Config = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: d,
    intermediate_size: m,
    num_hidden_layers: L,
    num_attention_heads: H,
    num_key_value_heads: Hkv,
    head_dim: hd,
    vocab_size: V,
    max_position_embeddings: 128,
    rms_norm_eps: 1e-5,
    rope_theta: opts.theta ?? 100,
    rope_scaling: {
      factor: opts.factor ?? 4,
      low_freq_factor: opts.lowFreqFactor ?? 1,
      high_freq_factor: opts.highFreqFactor ?? 4,
      original_max_position_embeddings: opts.originalMax ?? 32,
      [opts.typeKey ?? 'rope_type']: 'llama3',
    },
    tie_word_embeddings: !!opts.tied,
    attention_bias: false,
    mlp_bias: false,
    hidden_act: 'silu',
    bos_token_id: 1,
    eos_token_id: 2,
  };
  return { config: opts.v5 ? toV5Config(config) : config, tensors: fill(spec, opts.seed ?? 11, SCALE, true, plainNorm) };
}

/** Mistral: every layer attends within `sliding_window` (3 by default; null for none). */
export function mistralTiny(opts: FamilyOptions & { slidingWindow?: number | null } = {}): TinyModel {
  const L = opts.nLayer ?? 2;
  const [d, H, Hkv, hd, m, V] = [32, 4, 2, 8, 48, 512];
  const spec: Spec = { 'model.embed_tokens.weight': [V, d], 'model.norm.weight': [d], 'lm_head.weight': [V, d] };
  for (let l = 0; l < L; l++) llamaLayout(spec, l, d, H, Hkv, hd, m);
  const config: Config = {
    architectures: ['MistralForCausalLM'],
    model_type: 'mistral',
    hidden_size: d,
    intermediate_size: m,
    num_hidden_layers: L,
    num_attention_heads: H,
    num_key_value_heads: Hkv,
    head_dim: null,
    vocab_size: V,
    max_position_embeddings: 256,
    rms_norm_eps: 1e-5,
    rope_theta: 1000,
    sliding_window: opts.slidingWindow === undefined ? 3 : opts.slidingWindow,
    tie_word_embeddings: false,
    hidden_act: 'silu',
    bos_token_id: 1,
    eos_token_id: 2,
  };
  return { config: opts.v5 ? toV5Config(config) : config, tensors: fill(spec, opts.seed ?? 12, SCALE, true, plainNorm) };
}

/**
 * Qwen3: head_dim 12 (not hidden/heads = 8), per-head q_norm/k_norm, tied embeddings. `slidingFrom`
 * turns on use_sliding_window with max_window_layers = slidingFrom (layers from there on slide).
 */
export function qwen3Tiny(opts: FamilyOptions & { tied?: boolean; slidingFrom?: number; slidingWindow?: number; attentionBias?: boolean } = {}): TinyModel {
  const L = opts.nLayer ?? 2;
  const [d, H, Hkv, hd, m, V] = [32, 4, 2, 12, 48, 512];
  const tied = opts.tied ?? true;
  const spec: Spec = { 'model.embed_tokens.weight': [V, d], 'model.norm.weight': [d] };
  if (!tied) spec['lm_head.weight'] = [V, d];
  for (let l = 0; l < L; l++) {
    const p = llamaLayout(spec, l, d, H, Hkv, hd, m);
    spec[p + 'self_attn.q_norm.weight'] = [hd];
    spec[p + 'self_attn.k_norm.weight'] = [hd];
    if (opts.attentionBias) {
      Object.assign(spec, { [p + 'self_attn.q_proj.bias']: [H * hd], [p + 'self_attn.k_proj.bias']: [Hkv * hd], [p + 'self_attn.v_proj.bias']: [Hkv * hd], [p + 'self_attn.o_proj.bias']: [d] });
    }
  }
  const config: Config = {
    architectures: ['Qwen3ForCausalLM'],
    model_type: 'qwen3',
    hidden_size: d,
    intermediate_size: m,
    num_hidden_layers: L,
    num_attention_heads: H,
    num_key_value_heads: Hkv,
    head_dim: hd,
    vocab_size: V,
    max_position_embeddings: 256,
    rms_norm_eps: 1e-5,
    rope_theta: 1_000_000,
    rope_scaling: null,
    attention_bias: !!opts.attentionBias,
    use_sliding_window: opts.slidingFrom !== undefined,
    sliding_window: opts.slidingWindow ?? (opts.slidingFrom !== undefined ? 3 : 4096),
    max_window_layers: opts.slidingFrom ?? 28,
    tie_word_embeddings: tied,
    hidden_act: 'silu',
    bos_token_id: 1,
    eos_token_id: 2,
  };
  return { config: opts.v5 ? toV5Config(config) : config, tensors: fill(spec, opts.seed ?? 13, SCALE, true, plainNorm) };
}

/**
 * Phi (phi-1.5 / phi-2 layout): parallel block with one LayerNorm, biased q/k/v/dense/fc1/fc2 and
 * lm_head, partial rotary 0.4 of head_dim 10 (4 rotated dims, like phi-2's 32 of 80).
 */
export function phiTiny(opts: FamilyOptions & { partialRotaryFactor?: number; qkLayernorm?: boolean; nKv?: number; hiddenAct?: string } = {}): TinyModel {
  const L = opts.nLayer ?? 2;
  const [d, H, hd, m, V] = [40, 4, 10, 64, 512];
  const Hkv = opts.nKv ?? H;
  const spec: Spec = {
    'model.embed_tokens.weight': [V, d],
    'model.final_layernorm.weight': [d],
    'model.final_layernorm.bias': [d],
    'lm_head.weight': [V, d],
    'lm_head.bias': [V],
  };
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}.`;
    Object.assign(spec, {
      [p + 'input_layernorm.weight']: [d],
      [p + 'input_layernorm.bias']: [d],
      [p + 'self_attn.q_proj.weight']: [H * hd, d],
      [p + 'self_attn.q_proj.bias']: [H * hd],
      [p + 'self_attn.k_proj.weight']: [Hkv * hd, d],
      [p + 'self_attn.k_proj.bias']: [Hkv * hd],
      [p + 'self_attn.v_proj.weight']: [Hkv * hd, d],
      [p + 'self_attn.v_proj.bias']: [Hkv * hd],
      [p + 'self_attn.dense.weight']: [d, H * hd],
      [p + 'self_attn.dense.bias']: [d],
      [p + 'mlp.fc1.weight']: [m, d],
      [p + 'mlp.fc1.bias']: [m],
      [p + 'mlp.fc2.weight']: [d, m],
      [p + 'mlp.fc2.bias']: [d],
    });
    if (opts.qkLayernorm) {
      Object.assign(spec, {
        [p + 'self_attn.q_layernorm.weight']: [hd],
        [p + 'self_attn.q_layernorm.bias']: [hd],
        [p + 'self_attn.k_layernorm.weight']: [hd],
        [p + 'self_attn.k_layernorm.bias']: [hd],
      });
    }
  }
  const config: Config = {
    architectures: ['PhiForCausalLM'],
    model_type: 'phi',
    hidden_size: d,
    intermediate_size: m,
    num_hidden_layers: L,
    num_attention_heads: H,
    num_key_value_heads: Hkv,
    vocab_size: V,
    max_position_embeddings: 256,
    layer_norm_eps: 1e-4,
    rope_theta: 1000,
    rope_scaling: null,
    partial_rotary_factor: opts.partialRotaryFactor ?? 0.4,
    qk_layernorm: !!opts.qkLayernorm,
    hidden_act: opts.hiddenAct ?? 'gelu_new',
    tie_word_embeddings: false,
    resid_pdrop: 0.1,
    embd_pdrop: 0.0,
    bos_token_id: 1,
    eos_token_id: 2,
  };
  const isNorm = (n: string) => /(layernorm)\.weight$/.test(n);
  return { config: opts.v5 ? toV5Config(config) : config, tensors: fill(spec, opts.seed ?? 14, SCALE, true, isNorm) };
}

function gemmaLayer(spec: Spec, l: number, d: number, H: number, Hkv: number, hd: number, m: number, qkNorm: boolean): void {
  const p = `model.layers.${l}.`;
  llamaLayout(spec, l, d, H, Hkv, hd, m);
  spec[p + 'pre_feedforward_layernorm.weight'] = [d];
  spec[p + 'post_feedforward_layernorm.weight'] = [d];
  if (qkNorm) {
    spec[p + 'self_attn.q_norm.weight'] = [hd];
    spec[p + 'self_attn.k_norm.weight'] = [hd];
  }
}

/**
 * Gemma-2: head_dim 16 (not 32/4), query_pre_attn_scalar 24, small soft caps so tanh bends (attention
 * 5.5, final 3.5; non-integers because transformers 5 rejects an int there), sliding window 3 on even layers (the default layer_types), tied embeddings.
 */
export function gemma2Tiny(opts: FamilyOptions & { slidingWindow?: number; attnSoftcap?: number | null; finalSoftcap?: number | null; layerTypes?: string[] } = {}): TinyModel {
  const L = opts.nLayer ?? 2;
  const [d, H, Hkv, hd, m, V] = [32, 4, 2, 16, 48, 512];
  const spec: Spec = { 'model.embed_tokens.weight': [V, d], 'model.norm.weight': [d] };
  for (let l = 0; l < L; l++) gemmaLayer(spec, l, d, H, Hkv, hd, m, false);
  const config: Config = {
    architectures: ['Gemma2ForCausalLM'],
    model_type: 'gemma2',
    hidden_size: d,
    intermediate_size: m,
    num_hidden_layers: L,
    num_attention_heads: H,
    num_key_value_heads: Hkv,
    head_dim: hd,
    vocab_size: V,
    max_position_embeddings: 256,
    rms_norm_eps: 1e-5,
    rope_theta: 1000,
    query_pre_attn_scalar: 24,
    attn_logit_softcapping: opts.attnSoftcap === undefined ? 5.5 : opts.attnSoftcap,
    final_logit_softcapping: opts.finalSoftcap === undefined ? 3.5 : opts.finalSoftcap,
    sliding_window: opts.slidingWindow ?? 3,
    hidden_act: 'gelu_pytorch_tanh',
    hidden_activation: 'gelu_pytorch_tanh',
    attention_bias: false,
    tie_word_embeddings: true,
    pad_token_id: 0,
    bos_token_id: 1,
    eos_token_id: 2,
  };
  if (opts.layerTypes) config.layer_types = opts.layerTypes;
  return { config: opts.v5 ? toV5Config(config) : config, tensors: fill(spec, opts.seed ?? 15, SCALE, true, noOnes) };
}

/**
 * Gemma-3 text (Gemma3ForCausalLM): 4 layers with sliding_window_pattern 2, so layers 0 and 2 slide
 * (window 3, local RoPE base 100) and layers 1 and 3 are global (RoPE base 50000 with linear scaling 2);
 * head_dim 16, query_pre_attn_scalar 20, q_norm/k_norm per head, final soft cap 4.5. The v5 form nests
 * rope_parameters by layer type and lists layer_types.
 */
export function gemma3Tiny(opts: FamilyOptions & { slidingWindow?: number; pattern?: number; layerTypes?: string[]; finalSoftcap?: number | null; globalScaling?: Record<string, unknown> | null } = {}): TinyModel {
  const L = opts.nLayer ?? 4;
  const [d, H, Hkv, hd, m, V] = [32, 4, 2, 16, 48, 512];
  const pattern = opts.pattern ?? 2;
  const spec: Spec = { 'model.embed_tokens.weight': [V, d], 'model.norm.weight': [d] };
  for (let l = 0; l < L; l++) gemmaLayer(spec, l, d, H, Hkv, hd, m, true);
  const globalScaling = opts.globalScaling === undefined ? { rope_type: 'linear', factor: 2.0 } : opts.globalScaling;
  const layerTypes = opts.layerTypes ?? Array.from({ length: L }, (_, i) => ((i + 1) % pattern ? 'sliding_attention' : 'full_attention'));
  const base: Config = {
    architectures: ['Gemma3ForCausalLM'],
    model_type: 'gemma3_text',
    hidden_size: d,
    intermediate_size: m,
    num_hidden_layers: L,
    num_attention_heads: H,
    num_key_value_heads: Hkv,
    head_dim: hd,
    vocab_size: V,
    max_position_embeddings: 512,
    rms_norm_eps: 1e-5,
    query_pre_attn_scalar: 20,
    attn_logit_softcapping: null,
    final_logit_softcapping: opts.finalSoftcap === undefined ? 4.5 : opts.finalSoftcap,
    sliding_window: opts.slidingWindow ?? 3,
    hidden_activation: 'gelu_pytorch_tanh',
    attention_bias: false,
    tie_word_embeddings: true,
    pad_token_id: 0,
    bos_token_id: 2,
    eos_token_id: 1,
  };
  let config: Config;
  if (opts.v5) {
    config = {
      ...base,
      layer_types: layerTypes,
      rope_parameters: {
        sliding_attention: { rope_type: 'default', rope_theta: 100 },
        full_attention: { rope_type: 'default', ...(globalScaling ?? {}), rope_theta: 50000 },
      },
    };
  } else {
    config = { ...base, rope_theta: 50000, rope_local_base_freq: 100, rope_scaling: globalScaling };
    if (opts.layerTypes) config.layer_types = opts.layerTypes;
    else config.sliding_window_pattern = pattern;
  }
  return { config, tensors: fill(spec, opts.seed ?? 16, SCALE, true, noOnes) };
}

/**
 * OLMo (the HF port of OLMo-1): LayerNorms without parameters (no norm tensors at all), clip_qkv 0.6
 * (small enough that some q/k/v entries clip). OLMo-1 has no GQA in practice; the config allows it.
 */
export function olmoTiny(opts: FamilyOptions & { clipQkv?: number | null; nKv?: number } = {}): TinyModel {
  const L = opts.nLayer ?? 2;
  const [d, H, hd, m, V] = [32, 4, 8, 48, 512];
  const Hkv = opts.nKv ?? 2;
  const spec: Spec = { 'model.embed_tokens.weight': [V, d], 'lm_head.weight': [V, d] };
  for (let l = 0; l < L; l++) llamaLayout(spec, l, d, H, Hkv, hd, m, { inputNorm: false, postAttnNorm: false });
  const config: Config = {
    architectures: ['OlmoForCausalLM'],
    model_type: 'olmo',
    hidden_size: d,
    intermediate_size: m,
    num_hidden_layers: L,
    num_attention_heads: H,
    num_key_value_heads: Hkv,
    vocab_size: V,
    max_position_embeddings: 256,
    rope_theta: 1000,
    rope_scaling: null,
    clip_qkv: opts.clipQkv === undefined ? 0.6 : opts.clipQkv,
    attention_bias: false,
    hidden_act: 'silu',
    tie_word_embeddings: false,
    pad_token_id: 1,
    eos_token_id: 2,
  };
  return { config: opts.v5 ? toV5Config(config) : config, tensors: fill(spec, opts.seed ?? 17, SCALE, true, noOnes) };
}

/**
 * OLMo-2: no input norm; q_norm over all heads' queries together ([H·hd]) and k_norm over [Hkv·hd];
 * RMSNorms after attention and after the MLP (before the residual adds).
 */
export function olmo2Tiny(opts: FamilyOptions & { nKv?: number } = {}): TinyModel {
  const L = opts.nLayer ?? 2;
  const [d, H, hd, m, V] = [32, 4, 8, 48, 512];
  const Hkv = opts.nKv ?? 2;
  const spec: Spec = { 'model.embed_tokens.weight': [V, d], 'model.norm.weight': [d], 'lm_head.weight': [V, d] };
  for (let l = 0; l < L; l++) {
    const p = llamaLayout(spec, l, d, H, Hkv, hd, m, { inputNorm: false });
    spec[p + 'self_attn.q_norm.weight'] = [H * hd];
    spec[p + 'self_attn.k_norm.weight'] = [Hkv * hd];
    spec[p + 'post_feedforward_layernorm.weight'] = [d];
  }
  const config: Config = {
    architectures: ['Olmo2ForCausalLM'],
    model_type: 'olmo2',
    hidden_size: d,
    intermediate_size: m,
    num_hidden_layers: L,
    num_attention_heads: H,
    num_key_value_heads: Hkv,
    vocab_size: V,
    max_position_embeddings: 256,
    rms_norm_eps: 1e-6,
    rope_theta: 500000,
    rope_scaling: null,
    attention_bias: false,
    hidden_act: 'silu',
    tie_word_embeddings: false,
    pad_token_id: 1,
    eos_token_id: 2,
  };
  return { config: opts.v5 ? toV5Config(config) : config, tensors: fill(spec, opts.seed ?? 18, SCALE, true, plainNorm) };
}

/** Every family builder by name, for tests that loop over families. */
export const familyBuilders: Record<string, (opts?: FamilyOptions) => TinyModel> = {
  llama3: llama3Tiny,
  mistral: mistralTiny,
  qwen3: qwen3Tiny,
  phi: phiTiny,
  gemma2: gemma2Tiny,
  gemma3: gemma3Tiny,
  olmo: olmoTiny,
  olmo2: olmo2Tiny,
};
