/**
 * The architecture-neutral description of a model, the ModelSpec, and `parseConfig`, which finds the
 * family of a `config.json` and lets the family's table read it (model/families/). The graph
 * compiler, the weight interpreters and the circuit code only ever look at the ModelSpec.
 */
import { CheckpointError } from '../errors';
import { ConfigReader, type Json } from './configReader';
import { familyFor, supportedArchitectures } from './families';
import type { RopeSpec } from './rope';

export type Family = 'gpt2' | 'llama' | 'qwen3' | 'gpt_neox' | 'phi' | 'gemma2' | 'gemma3' | 'olmo' | 'olmo2';

export type LayerType = 'full' | 'sliding';

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
  /** Rotary dims per head (<= dHead; partial rotary for GPT-NeoX and Phi). */
  readonly rotaryDim: number;
  /** The rope of full-attention layers (undefined for learned positions). */
  readonly rope?: RopeSpec;
  /** The rope of sliding-window layers when it differs (Gemma-3's local base). */
  readonly ropeLocal?: RopeSpec;
  /** Attention and MLP read the same residual stream (GPT-NeoX, Phi). */
  readonly parallelAttnMlp: boolean;
  /** The MLP of a parallel block reads the attention's input norm (Phi's single LayerNorm). */
  readonly sharedBlockNorm: boolean;
  /** A norm before attention and before the MLP (every family but OLMo-2). */
  readonly preNorm: boolean;
  /** A norm after attention and after the MLP, before the residual add (Gemma-2/3, OLMo-2). */
  readonly postNorm: boolean;
  /** q/k normalization: none, RMSNorm over each head (Qwen3, Gemma-3), or over the whole projection (OLMo-2). */
  readonly qkNorm: 'none' | 'head' | 'projection';
  /** Norms carry no weights (OLMo's non-parametric LayerNorm). */
  readonly normWeights: boolean;
  /** q, k and v clamped to [−c, c] (OLMo's clip_qkv). */
  readonly clipQkv?: number;
  /** Attention score multiplier (1/√dHead, or Gemma's query_pre_attn_scalar^−½). */
  readonly attnScale: number;
  /** cap · tanh(scores / cap) before the mask (Gemma-2). */
  readonly attnSoftcap?: number;
  /** cap · tanh(logits / cap) (Gemma-2). */
  readonly finalSoftcap?: number;
  /** Token embeddings are multiplied by this (Gemma: √d_model). */
  readonly embedScale: number;
  /** Per layer: full causal attention or a sliding window. */
  readonly layerTypes: readonly LayerType[];
  /** Keys at distance < slidingWindow from the query are visible on sliding layers. */
  readonly slidingWindow?: number;
  readonly tiedEmbeddings: boolean;
  readonly qkvBias: boolean;
  readonly oBias: boolean;
  readonly mlpBias: boolean;
  /** The unembedding has a bias (Phi's lm_head). */
  readonly unembedBias: boolean;
  /** GPT-2's `scale_attn_by_inverse_layer_idx`. */
  readonly scaleByInverseLayer: boolean;
  readonly bosTokenId: number | undefined;
  readonly eosTokenId: number | undefined;
}

export { supportedArchitectures };

/** What a family's block does unless its table says otherwise: a norm before attention and MLP only. */
export const plainBlock = {
  sharedBlockNorm: false,
  preNorm: true,
  postNorm: false,
  qkNorm: 'none',
  normWeights: true,
  embedScale: 1,
  unembedBias: false,
  scaleByInverseLayer: false,
} as const satisfies Partial<ModelSpec>;

/** Parses config.json contents. `file` is used in messages. */
export function parseConfig(cfg: Json, file: string): ModelSpec {
  const archs = cfg.architectures;
  const arch = Array.isArray(archs) && typeof archs[0] === 'string' ? (archs[0] as string) : undefined;
  const modelType = typeof cfg.model_type === 'string' ? cfg.model_type : undefined;
  const def = familyFor(arch, modelType);
  if (def === undefined) {
    const what = arch ?? modelType;
    throw new CheckpointError(
      file,
      what === undefined
        ? `neither 'architectures' nor 'model_type' is set; supported: ${supportedArchitectures.join(', ')}`
        : `unsupported architecture ${what}; supported: ${supportedArchitectures.join(', ')}`,
      arch !== undefined ? 'architectures' : 'model_type',
    );
  }
  const r = new ConfigReader(cfg, file, arch ?? modelType!);
  const spec = def.parse(r, modelType);
  r.refuseUnread();
  return spec;
}

/** Parameter count of the spec (weights the engine loads), for descriptions and estimates. */
export function parameterCount(s: ModelSpec): number {
  const attn = s.dModel * s.dHead * (2 * s.nHeads + 2 * s.nKvHeads);
  const mlp = s.dModel * s.dMlp * (s.gatedMlp ? 3 : 2);
  const emb = s.vocabSize * s.dModel * (s.tiedEmbeddings ? 1 : 2) + (s.positional === 'learned' ? s.maxPositions * s.dModel : 0);
  return emb + s.nLayers * (attn + mlp);
}
