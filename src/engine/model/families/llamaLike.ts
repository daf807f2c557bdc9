/**
 * The Llama-shaped families: Llama (and Llama-3's rope), Mistral, Qwen2, Qwen3, OLMo, OLMo-2, Gemma-2
 * and Gemma-3 (text). They share q/k/v/o and gate/up/down projections under `model.layers.{l}` and
 * differ in norms, biases, q/k norms, soft-caps, embedding scale and which layers slide.
 * Defaults follow each family's configuration class in transformers (4.57 and 5.x).
 */
import { plainBlock, type Family, type LayerType, type ModelSpec } from '../config';
import type { ConfigReader } from '../configReader';
import { brief } from '../configReader';
import { parseLayerTypeRopes, parseRope, rotaryDims, type ParsedRope } from '../rope';
import type { FamilyDef, LayerField, Row, NewModelShape } from './table';
import { one, plusOne, transposed, untiedHead, vec } from './table';

type Spec = { -readonly [K in keyof ModelSpec]: ModelSpec[K] };

// ---------------------------------------------------------------------------------------------
// Config

interface Defaults {
  readonly eps: number;
  /** null: the family has no eps field (OLMo's LayerNorm always uses `eps`). */
  readonly epsKey?: string | null;
  readonly theta: number;
  readonly tied: boolean;
  /** The configuration class's head_dim default; undefined: hidden_size / num_attention_heads. */
  readonly headDim?: number;
  readonly actKey: 'hidden_act' | 'hidden_activation';
  readonly act: string;
  /** Gemma-3: a rope per layer type, with the local base for sliding layers. */
  readonly localTheta?: number;
}

const acts = { silu: 'silu', gelu_pytorch_tanh: 'gelu_new', gelu_new: 'gelu_new', gelu: 'gelu' } as const;

/** The fields every Llama-shaped family reads the same way. */
function base(r: ConfigReader, family: Family, d: Defaults): Spec {
  const dModel = r.int('hidden_size');
  const H = r.int('num_attention_heads');
  const Hkv = r.int('num_key_value_heads', H);
  if (H % Hkv !== 0) throw r.error('num_key_value_heads', `num_attention_heads ${H} is not a multiple of num_key_value_heads ${Hkv}`);
  if (d.headDim === undefined && !r.has('head_dim') && dModel % H !== 0) {
    throw r.error('num_attention_heads', `hidden_size ${dModel} is not divisible by num_attention_heads ${H}; set head_dim`);
  }
  const dHead = r.int('head_dim', d.headDim ?? dModel / H);
  const nLayers = r.int('num_hidden_layers');
  const act = r.oneOf(d.actKey, d.act, family === 'llama' || family === 'qwen3' || family === 'olmo' || family === 'olmo2' ? { silu: 'silu' as const } : acts);
  // transformers 5 may write layer_types for any family; all-full is what every family does anyway.
  const given = r.cfg.layer_types;
  if (Array.isArray(given) && given.length === nLayers && given.every((t) => t === 'full_attention')) r.raw('layer_types');
  const ropes: ParsedRope = d.localTheta === undefined ? parseRope(r, { theta: d.theta }) : parseLayerTypeRopes(r, { theta: d.theta, localTheta: d.localTheta });
  return {
    ...plainBlock,
    family,
    architecture: r.label,
    nLayers,
    nHeads: H,
    nKvHeads: Hkv,
    dModel,
    dHead,
    dMlp: r.int('intermediate_size'),
    vocabSize: r.int('vocab_size'),
    maxPositions: r.int('max_position_embeddings', 2048),
    norm: 'rmsnorm',
    normEps: d.epsKey === null ? d.eps : r.positive(d.epsKey ?? 'rms_norm_eps', d.eps),
    act,
    gatedMlp: true,
    positional: 'rotary',
    rotaryDim: rotaryDims(r, dHead, ropes.partial),
    rope: ropes.rope,
    ropeLocal: ropes.local,
    parallelAttnMlp: false,
    attnScale: 1 / Math.sqrt(dHead),
    layerTypes: new Array<LayerType>(nLayers).fill('full'),
    tiedEmbeddings: r.bool('tie_word_embeddings', d.tied),
    qkvBias: false,
    oBias: false,
    mlpBias: false,
    bosTokenId: r.optInt('bos_token_id'),
    eosTokenId: r.optInt('eos_token_id'),
  };
}

/** `layer_types` when given, else `fallback(i)`; 'sliding' layers need a window. */
function layerTypes(r: ConfigReader, n: number, fallback: (i: number) => LayerType): LayerType[] {
  const given = r.raw('layer_types');
  if (given === undefined || given === null) return Array.from({ length: n }, (_, i) => fallback(i));
  if (!Array.isArray(given) || given.length !== n) throw r.error('layer_types', `must be a list of ${n} layer types (num_hidden_layers), got ${brief(given)}`);
  return given.map((t, i) => {
    if (t === 'full_attention') return 'full';
    if (t === 'sliding_attention') return 'sliding';
    throw r.error('layer_types', `entry ${i} is ${brief(t)}; supported: full_attention, sliding_attention`);
  });
}

function window(r: ConfigReader, s: Spec, types: LayerType[]): void {
  s.layerTypes = types;
  if (types.includes('sliding')) s.slidingWindow = r.int('sliding_window');
}

function refuseTrue(r: ConfigReader, key: string, why: string): void {
  if (r.bool(key, false)) throw r.error(key, why);
}

/** Qwen2 / Qwen3: sliding only with use_sliding_window, on layers from max_window_layers on. */
function qwenWindow(r: ConfigReader, s: Spec): void {
  r.raw('sliding_window');
  r.raw('max_window_layers');
  if (!r.bool('use_sliding_window', false)) {
    r.raw('layer_types'); // HF derives it from use_sliding_window; without a window every layer is full
    return;
  }
  const from = r.num('max_window_layers', 28);
  window(r, s, layerTypes(r, s.nLayers, (i) => (i >= from ? 'sliding' : 'full')));
}

function gemmaScale(r: ConfigReader, s: Spec): void {
  s.attnScale = 1 / Math.sqrt(r.positive('query_pre_attn_scalar', 256));
  s.embedScale = Math.sqrt(s.dModel);
  s.postNorm = true;
}

const parseLlama = (r: ConfigReader, modelType: string | undefined): ModelSpec => {
  const arch = r.label;
  if (arch === 'MistralForCausalLM' || modelType === 'mistral') {
    const s = base(r, 'llama', { eps: 1e-6, theta: 10000, tied: false, actKey: 'hidden_act', act: 'silu' });
    refuseTrue(r, 'attention_bias', 'Mistral has no attention biases in transformers; remove the field');
    refuseTrue(r, 'mlp_bias', 'Mistral has no MLP biases in transformers; remove the field');
    r.raw('layer_types'); // Mistral ignores layer_types: every layer slides when sliding_window is set
    // MistralConfig's default window is 4096; only an explicit null turns it off.
    const w = r.raw('sliding_window');
    s.layerTypes = new Array<LayerType>(s.nLayers).fill(w === null ? 'full' : 'sliding');
    if (w !== null) s.slidingWindow = r.int('sliding_window', 4096);
    return s;
  }
  if (arch === 'Qwen2ForCausalLM' || modelType === 'qwen2') {
    const s = base(r, 'llama', { eps: 1e-6, theta: 10000, tied: false, actKey: 'hidden_act', act: 'silu' });
    r.raw('attention_bias'); // Qwen2 always has q/k/v biases and no o_proj bias
    s.qkvBias = true;
    qwenWindow(r, s);
    return s;
  }
  const s = base(r, 'llama', { eps: 1e-6, theta: 10000, tied: false, actKey: 'hidden_act', act: 'silu' });
  s.qkvBias = s.oBias = r.bool('attention_bias', false);
  s.mlpBias = r.bool('mlp_bias', false);
  return s;
};

const parseQwen3 = (r: ConfigReader): ModelSpec => {
  const s = base(r, 'qwen3', { eps: 1e-6, theta: 10000, tied: false, headDim: 128, actKey: 'hidden_act', act: 'silu' });
  s.qkvBias = s.oBias = r.bool('attention_bias', false);
  s.qkNorm = 'head';
  qwenWindow(r, s);
  return s;
};

const parseOlmo = (r: ConfigReader): ModelSpec => {
  const s = base(r, 'olmo', { eps: 1e-5, epsKey: null, theta: 10000, tied: false, actKey: 'hidden_act', act: 'silu' });
  s.norm = 'layernorm';
  s.normWeights = false;
  s.qkvBias = s.oBias = r.bool('attention_bias', false);
  if (r.has('clip_qkv')) s.clipQkv = r.positive('clip_qkv');
  if (s.clipQkv !== undefined && s.qkvBias) {
    // The value bias sits inside the clamp, so it cannot be folded into the output bias.
    throw r.error('clip_qkv', 'clip_qkv together with attention_bias=true is not supported (no released OLMo uses both)');
  }
  return s;
};

const parseOlmo2 = (r: ConfigReader): ModelSpec => {
  const s = base(r, 'olmo2', { eps: 1e-5, theta: 10000, tied: false, actKey: 'hidden_act', act: 'silu' });
  s.qkvBias = s.oBias = r.bool('attention_bias', false);
  s.preNorm = false;
  s.postNorm = true;
  s.qkNorm = 'projection';
  return s;
};

const parseGemma2 = (r: ConfigReader): ModelSpec => {
  r.raw('hidden_act'); // Gemma-2 computes with hidden_activation
  const s = base(r, 'gemma2', { eps: 1e-6, theta: 10000, tied: true, headDim: 256, actKey: 'hidden_activation', act: 'gelu_pytorch_tanh' });
  s.qkvBias = s.oBias = r.bool('attention_bias', false);
  gemmaScale(r, s);
  const cap = (k: string, d: number) => (r.raw(k) === null ? undefined : r.positive(k, d));
  s.attnSoftcap = cap('attn_logit_softcapping', 50);
  s.finalSoftcap = cap('final_logit_softcapping', 30);
  window(r, s, layerTypes(r, s.nLayers, (i) => ((i + 1) % 2 ? 'sliding' : 'full')));
  return s;
};

const parseGemma3 = (r: ConfigReader): ModelSpec => {
  r.raw('hidden_act');
  const s = base(r, 'gemma3', { eps: 1e-6, theta: 1e6, localTheta: 10000, tied: true, headDim: 256, actKey: 'hidden_activation', act: 'gelu_pytorch_tanh' });
  s.qkvBias = s.oBias = r.bool('attention_bias', false);
  s.qkNorm = 'head';
  gemmaScale(r, s);
  // Gemma3Attention never passes attn_logit_softcapping to the attention (transformers 4.57 and 5.x),
  // so the field has no effect on what the model computes.
  r.raw('attn_logit_softcapping');
  s.finalSoftcap = r.raw('final_logit_softcapping') === null ? undefined : r.optNum('final_logit_softcapping');
  if (s.finalSoftcap !== undefined && !(s.finalSoftcap > 0)) throw r.error('final_logit_softcapping', `must be greater than 0 or null, got ${s.finalSoftcap}`);
  refuseTrue(r, 'use_bidirectional_attention', 'bidirectional attention (EmbeddingGemma) is not a causal language model; Circuitscope reads causal LMs only');
  const pattern = r.int('sliding_window_pattern', 6);
  window(r, s, layerTypes(r, s.nLayers, (i) => ((i + 1) % pattern ? 'sliding' : 'full')));
  return s;
};

// ---------------------------------------------------------------------------------------------
// Tensor tables

const L = (name: string) => `layers.{l}.${name}`;
const qRows = (s: ModelSpec) => [s.nHeads * s.dHead, s.dModel];
const kvRows = (s: ModelSpec) => [s.nKvHeads * s.dHead, s.dModel];

/** q/k/v/o projections with optional biases (the value bias is folded into b_O). */
const attentionRows: Row<LayerField>[] = [
  { hf: L('self_attn.q_proj.weight'), shape: qRows, slots: one('WQ', { kind: 'heads', heads: 'q' }) },
  { hf: L('self_attn.k_proj.weight'), shape: kvRows, slots: one('WK', { kind: 'heads', heads: 'kv' }) },
  { hf: L('self_attn.v_proj.weight'), shape: kvRows, slots: one('WV', { kind: 'heads', heads: 'kv' }) },
  { hf: L('self_attn.o_proj.weight'), shape: (s) => [s.dModel, s.nHeads * s.dHead], slots: one('WO', transposed) },
  { hf: L('self_attn.q_proj.bias'), shape: (s) => [s.nHeads * s.dHead], slots: one('bQ'), when: (s) => s.qkvBias },
  { hf: L('self_attn.k_proj.bias'), shape: (s) => [s.nKvHeads * s.dHead], slots: one('bK'), when: (s) => s.qkvBias },
  { hf: L('self_attn.v_proj.bias'), shape: (s) => [s.nKvHeads * s.dHead], slots: one('bV'), when: (s) => s.qkvBias },
  { hf: L('self_attn.o_proj.bias'), shape: vec, slots: one('bO'), when: (s) => s.oBias },
];

const mlpRows: Row<LayerField>[] = [
  { hf: L('mlp.gate_proj.weight'), shape: (s) => [s.dMlp, s.dModel], slots: one('Wgate', transposed) },
  { hf: L('mlp.up_proj.weight'), shape: (s) => [s.dMlp, s.dModel], slots: one('Win', transposed) },
  { hf: L('mlp.down_proj.weight'), shape: (s) => [s.dModel, s.dMlp], slots: one('Wout', transposed) },
  { hf: L('mlp.gate_proj.bias'), shape: (s) => [s.dMlp], slots: one('bgate'), when: (s) => s.mlpBias },
  { hf: L('mlp.up_proj.bias'), shape: (s) => [s.dMlp], slots: one('bin'), when: (s) => s.mlpBias },
  { hf: L('mlp.down_proj.bias'), shape: vec, slots: one('bout'), when: (s) => s.mlpBias },
];

const norm = (name: string, field: LayerField, gemma = false): Row<LayerField> => ({ hf: L(name), shape: vec, slots: one(field, gemma ? plusOne : undefined) });
const headNorms = (gemma: boolean): Row<LayerField>[] => [
  { hf: L('self_attn.q_norm.weight'), shape: (s) => [s.dHead], slots: one('qNormW', gemma ? plusOne : undefined) },
  { hf: L('self_attn.k_norm.weight'), shape: (s) => [s.dHead], slots: one('kNormW', gemma ? plusOne : undefined) },
];

function globals(finalNorm: 'norm' | null, gemma = false): FamilyDef['globals'] {
  return [
    { hf: 'embed_tokens.weight', shape: (s) => [s.vocabSize, s.dModel], slots: one('WE') },
    ...(finalNorm ? [{ hf: 'norm.weight', shape: vec, slots: one('lnfW' as const, gemma ? plusOne : undefined) }] : []),
    untiedHead('lm_head.weight'),
  ];
}

const common = { prefixes: ['model.', ''], probe: 'embed_tokens.weight' } as const;

/** A Llama config.json with LlamaConfig's defaults, for a model made from scratch. */
const llamaConfig = (o: NewModelShape) => ({
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  hidden_size: o.nEmbd,
  intermediate_size: 4 * o.nEmbd,
  num_hidden_layers: o.nLayer,
  num_attention_heads: o.nHead,
  num_key_value_heads: o.nHead,
  vocab_size: o.vocabSize,
  max_position_embeddings: o.nPositions,
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  hidden_act: 'silu',
  tie_word_embeddings: false,
  bos_token_id: o.bosTokenId,
  eos_token_id: o.eosTokenId,
  torch_dtype: 'float32',
});

export const llama: FamilyDef = {
  family: 'llama',
  architectures: ['LlamaForCausalLM', 'Qwen2ForCausalLM', 'MistralForCausalLM'],
  modelTypes: ['llama', 'qwen2', 'mistral'],
  ...common,
  parse: parseLlama,
  globals: globals('norm'),
  layer: [norm('input_layernorm.weight', 'ln1W'), ...attentionRows, norm('post_attention_layernorm.weight', 'ln2W'), ...mlpRows],
  newConfig: llamaConfig,
};

export const qwen3: FamilyDef = {
  family: 'qwen3',
  architectures: ['Qwen3ForCausalLM'],
  modelTypes: ['qwen3'],
  ...common,
  parse: parseQwen3,
  globals: globals('norm'),
  layer: [norm('input_layernorm.weight', 'ln1W'), ...attentionRows, ...headNorms(false), norm('post_attention_layernorm.weight', 'ln2W'), ...mlpRows],
};

export const olmo: FamilyDef = {
  family: 'olmo',
  architectures: ['OlmoForCausalLM'],
  modelTypes: ['olmo'],
  ...common,
  parse: parseOlmo,
  globals: globals(null),
  layer: [...attentionRows, ...mlpRows],
  onesFields: ['ln1W', 'ln2W', 'lnfW'],
};

export const olmo2: FamilyDef = {
  family: 'olmo2',
  architectures: ['Olmo2ForCausalLM'],
  modelTypes: ['olmo2'],
  ...common,
  parse: parseOlmo2,
  globals: globals('norm'),
  layer: [
    ...attentionRows,
    { hf: L('self_attn.q_norm.weight'), shape: (s) => [s.nHeads * s.dHead], slots: one('qNormW') },
    { hf: L('self_attn.k_norm.weight'), shape: (s) => [s.nKvHeads * s.dHead], slots: one('kNormW') },
    norm('post_attention_layernorm.weight', 'postAttnW'),
    norm('post_feedforward_layernorm.weight', 'postMlpW'),
    ...mlpRows,
  ],
};

/** Gemma's four norms per layer; its `post_attention_layernorm` is the norm after attention. */
const gemmaNorms: Row<LayerField>[] = [
  norm('input_layernorm.weight', 'ln1W', true),
  norm('post_attention_layernorm.weight', 'postAttnW', true),
  norm('pre_feedforward_layernorm.weight', 'ln2W', true),
  norm('post_feedforward_layernorm.weight', 'postMlpW', true),
];

export const gemma2: FamilyDef = {
  family: 'gemma2',
  architectures: ['Gemma2ForCausalLM'],
  modelTypes: ['gemma2'],
  ...common,
  parse: parseGemma2,
  globals: globals('norm', true),
  layer: [...gemmaNorms, ...attentionRows, ...mlpRows],
};

export const gemma3: FamilyDef = {
  family: 'gemma3',
  architectures: ['Gemma3ForCausalLM'],
  modelTypes: ['gemma3_text'],
  ...common,
  parse: parseGemma3,
  globals: globals('norm', true),
  layer: [...gemmaNorms, ...attentionRows, ...headNorms(true), ...mlpRows],
};

