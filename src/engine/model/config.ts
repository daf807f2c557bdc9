/**
 * Reads a Hugging Face `config.json` into one architecture-neutral description, the ModelSpec. The
 * graph compiler and the weight loader only ever look at the ModelSpec.
 */
import { CheckpointError } from '../errors';

export type Family = 'gpt2' | 'llama' | 'gpt_neox';

export interface ModelSpec {
  readonly family: Family;
  /** The `architectures[0]` or `model_type` the spec came from, for messages and provenance. */
  readonly architecture: string;
  readonly nLayers: number;
  readonly nHeads: number;
  /** Key/value heads; fewer than nHeads for grouped-query attention. */
  readonly nKvHeads: number;
  readonly dModel: number;
  readonly dHead: number;
  readonly dMlp: number;
  readonly vocabSize: number;
  readonly maxPositions: number;
  readonly norm: 'layernorm' | 'rmsnorm';
  readonly normEps: number;
  readonly act: 'gelu_new' | 'gelu' | 'silu' | 'relu';
  readonly gatedMlp: boolean;
  readonly positional: 'learned' | 'rotary';
  /** Rotary dims per head (<= dHead; partial rotary for GPT-NeoX). */
  readonly rotaryDim: number;
  readonly ropeTheta: number;
  readonly parallelAttnMlp: boolean;
  readonly tiedEmbeddings: boolean;
  readonly qkvBias: boolean;
  readonly oBias: boolean;
  readonly mlpBias: boolean;
  /** GPT-2's `scale_attn_by_inverse_layer_idx`. */
  readonly scaleByInverseLayer: boolean;
  readonly bosTokenId: number | undefined;
  readonly eosTokenId: number | undefined;
}

export const supportedArchitectures = ['GPT2LMHeadModel', 'LlamaForCausalLM', 'Qwen2ForCausalLM', 'MistralForCausalLM', 'GPTNeoXForCausalLM'];

const familyByArch: Record<string, Family> = {
  GPT2LMHeadModel: 'gpt2',
  LlamaForCausalLM: 'llama',
  Qwen2ForCausalLM: 'llama',
  MistralForCausalLM: 'llama',
  GPTNeoXForCausalLM: 'gpt_neox',
};
const familyByModelType: Record<string, Family> = { gpt2: 'gpt2', llama: 'llama', qwen2: 'llama', mistral: 'llama', gpt_neox: 'gpt_neox' };

type Json = Record<string, unknown>;

/** Parses config.json contents. `file` is used in messages. */
export function parseConfig(cfg: Json, file: string): ModelSpec {
  const archs = cfg.architectures;
  const arch = Array.isArray(archs) && typeof archs[0] === 'string' ? (archs[0] as string) : undefined;
  const modelType = typeof cfg.model_type === 'string' ? cfg.model_type : undefined;
  let family: Family | undefined;
  if (arch !== undefined) family = familyByArch[arch];
  else if (modelType !== undefined) family = familyByModelType[modelType];
  if (family === undefined) {
    const what = arch ?? modelType;
    throw new CheckpointError(
      file,
      what === undefined
        ? `neither 'architectures' nor 'model_type' is set; supported: ${supportedArchitectures.join(', ')}`
        : `unsupported architecture ${what}; supported: ${supportedArchitectures.join(', ')}`,
      arch !== undefined ? 'architectures' : 'model_type',
    );
  }
  const label = arch ?? modelType!;

  const num = (key: string, fallback?: number): number => {
    const v = cfg[key];
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      throw new CheckpointError(file, `required field is missing (a ${label} config needs it)`, key);
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new CheckpointError(file, `must be a number, got ${JSON.stringify(v)}`, key);
    return v;
  };
  const int = (key: string, fallback?: number): number => {
    const v = num(key, fallback);
    if (!Number.isInteger(v) || v <= 0) throw new CheckpointError(file, `must be a positive integer, got ${v}`, key);
    return v;
  };
  const bool = (key: string, fallback: boolean): boolean => {
    const v = cfg[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') throw new CheckpointError(file, `must be true or false, got ${JSON.stringify(v)}`, key);
    return v;
  };
  const optInt = (key: string): number | undefined => (typeof cfg[key] === 'number' ? (cfg[key] as number) : undefined);

  if (family === 'gpt2') {
    const d = int('n_embd');
    const h = int('n_head');
    if (d % h !== 0) throw new CheckpointError(file, `n_embd ${d} is not divisible by n_head ${h}`, 'n_head');
    const act = (cfg.activation_function ?? 'gelu_new') as string;
    const acts: Record<string, ModelSpec['act']> = { gelu_new: 'gelu_new', gelu_pytorch_tanh: 'gelu_new', gelu: 'gelu', relu: 'relu' };
    if (!(act in acts)) throw new CheckpointError(file, `unsupported activation ${act}; supported: ${Object.keys(acts).join(', ')}`, 'activation_function');
    if (cfg.scale_attn_weights === false) throw new CheckpointError(file, 'scale_attn_weights=false is not supported', 'scale_attn_weights');
    return {
      family,
      architecture: label,
      nLayers: int('n_layer'),
      nHeads: h,
      nKvHeads: h,
      dModel: d,
      dHead: d / h,
      dMlp: typeof cfg.n_inner === 'number' ? int('n_inner') : 4 * d,
      vocabSize: int('vocab_size'),
      maxPositions: int('n_positions', optInt('n_ctx') ?? 1024),
      norm: 'layernorm',
      normEps: num('layer_norm_epsilon', 1e-5),
      act: acts[act],
      gatedMlp: false,
      positional: 'learned',
      rotaryDim: 0,
      ropeTheta: 0,
      parallelAttnMlp: false,
      tiedEmbeddings: bool('tie_word_embeddings', true),
      qkvBias: true,
      oBias: true,
      mlpBias: true,
      scaleByInverseLayer: bool('scale_attn_by_inverse_layer_idx', false),
      bosTokenId: optInt('bos_token_id') ?? 50256,
      eosTokenId: optInt('eos_token_id') ?? 50256,
    };
  }

  if (family === 'llama') {
    const d = int('hidden_size');
    const h = int('num_attention_heads');
    const kv = int('num_key_value_heads', h);
    if (h % kv !== 0) throw new CheckpointError(file, `num_attention_heads ${h} is not a multiple of num_key_value_heads ${kv}`, 'num_key_value_heads');
    const dHead = int('head_dim', d / h);
    const act = (cfg.hidden_act ?? 'silu') as string;
    if (act !== 'silu') throw new CheckpointError(file, `unsupported activation ${act}; supported: silu`, 'hidden_act');
    const scaling = cfg.rope_scaling as Json | null | undefined;
    if (scaling && (scaling.rope_type ?? scaling.type) !== 'default') {
      throw new CheckpointError(file, `rope scaling ${JSON.stringify(scaling.rope_type ?? scaling.type)} is not supported yet; only unscaled RoPE`, 'rope_scaling');
    }
    const isQwen2 = label === 'Qwen2ForCausalLM' || modelType === 'qwen2';
    return {
      family,
      architecture: label,
      nLayers: int('num_hidden_layers'),
      nHeads: h,
      nKvHeads: kv,
      dModel: d,
      dHead,
      dMlp: int('intermediate_size'),
      vocabSize: int('vocab_size'),
      maxPositions: int('max_position_embeddings', 2048),
      norm: 'rmsnorm',
      normEps: num('rms_norm_eps', 1e-6),
      act: 'silu',
      gatedMlp: true,
      positional: 'rotary',
      rotaryDim: dHead,
      ropeTheta: num('rope_theta', 10000),
      parallelAttnMlp: false,
      tiedEmbeddings: bool('tie_word_embeddings', false),
      qkvBias: isQwen2 ? true : bool('attention_bias', false),
      oBias: isQwen2 ? false : bool('attention_bias', false),
      mlpBias: bool('mlp_bias', false),
      scaleByInverseLayer: false,
      bosTokenId: optInt('bos_token_id'),
      eosTokenId: optInt('eos_token_id'),
    };
  }

  // GPT-NeoX (Pythia).
  const d = int('hidden_size');
  const h = int('num_attention_heads');
  if (d % h !== 0) throw new CheckpointError(file, `hidden_size ${d} is not divisible by num_attention_heads ${h}`, 'num_attention_heads');
  const dHead = d / h;
  const act = (cfg.hidden_act ?? 'gelu') as string;
  const acts: Record<string, ModelSpec['act']> = { gelu: 'gelu', gelu_new: 'gelu_new', gelu_fast: 'gelu_new', relu: 'relu' };
  if (!(act in acts)) throw new CheckpointError(file, `unsupported activation ${act}; supported: ${Object.keys(acts).join(', ')}`, 'hidden_act');
  const pct = num('rotary_pct', 1);
  const rotaryDim = Math.floor(dHead * pct);
  if (rotaryDim % 2 !== 0) throw new CheckpointError(file, `rotary_pct ${pct} gives an odd rotary dimension ${rotaryDim}`, 'rotary_pct');
  return {
    family,
    architecture: label,
    nLayers: int('num_hidden_layers'),
    nHeads: h,
    nKvHeads: h,
    dModel: d,
    dHead,
    dMlp: int('intermediate_size', 4 * d),
    vocabSize: int('vocab_size'),
    maxPositions: int('max_position_embeddings', 2048),
    norm: 'layernorm',
    normEps: num('layer_norm_eps', 1e-5),
    act: acts[act],
    gatedMlp: false,
    positional: 'rotary',
    rotaryDim,
    ropeTheta: num('rotary_emb_base', typeof cfg.rope_theta === 'number' ? (cfg.rope_theta as number) : 10000),
    parallelAttnMlp: bool('use_parallel_residual', true),
    tiedEmbeddings: bool('tie_word_embeddings', false),
    qkvBias: bool('attention_bias', true),
    oBias: bool('attention_bias', true),
    mlpBias: true,
    scaleByInverseLayer: false,
    bosTokenId: optInt('bos_token_id'),
    eosTokenId: optInt('eos_token_id'),
  };
}

/** Parameter count of the spec (weights the engine loads), for descriptions and estimates. */
export function parameterCount(s: ModelSpec): number {
  const attn = s.dModel * s.dHead * (2 * s.nHeads + 2 * s.nKvHeads);
  const mlp = s.dModel * s.dMlp * (s.gatedMlp ? 3 : 2);
  const emb = s.vocabSize * s.dModel * (s.tiedEmbeddings ? 1 : 2) + (s.positional === 'learned' ? s.maxPositions * s.dModel : 0);
  return emb + s.nLayers * (attn + mlp);
}
