/** GPT-2 (GPT2LMHeadModel): learned positions, Conv1D weights, fused c_attn. */
import { plainBlock, type ModelSpec } from '../config';
import type { FamilyDef, NewModelShape } from './table';
import { one, untiedHead, vec } from './table';

/** c_attn's output columns are [q | k | v], each head-major. */
const qkvCol = (which: number) => (s: ModelSpec, h: number, j: number) => which * s.dModel + h * s.dHead + j;
const cAttn = (s: ModelSpec) => [s.dModel, 3 * s.dModel];

export const gpt2: FamilyDef = {
  family: 'gpt2',
  architectures: ['GPT2LMHeadModel'],
  modelTypes: ['gpt2'],
  prefixes: ['transformer.', ''],
  probe: 'wte.weight',
  parse(r) {
    const d = r.int('n_embd');
    const h = r.int('n_head');
    if (d % h !== 0) throw r.error('n_head', `n_embd ${d} is not divisible by n_head ${h}`);
    if (r.raw('scale_attn_weights') === false) throw r.error('scale_attn_weights', 'scale_attn_weights=false is not supported');
    const nInner = r.raw('n_inner');
    return {
      ...plainBlock,
      family: 'gpt2',
      architecture: r.label,
      nLayers: r.int('n_layer'),
      nHeads: h,
      nKvHeads: h,
      dModel: d,
      dHead: d / h,
      dMlp: nInner === undefined || nInner === null ? 4 * d : r.int('n_inner'),
      vocabSize: r.int('vocab_size'),
      maxPositions: r.int('n_positions', r.optInt('n_ctx') ?? 1024),
      norm: 'layernorm',
      normEps: r.positive('layer_norm_epsilon', 1e-5),
      act: r.oneOf('activation_function', 'gelu_new', { gelu_new: 'gelu_new', gelu_pytorch_tanh: 'gelu_new', gelu: 'gelu', relu: 'relu' } as const),
      gatedMlp: false,
      positional: 'learned',
      rotaryDim: 0,
      parallelAttnMlp: false,
      attnScale: 1 / Math.sqrt(d / h),
      layerTypes: new Array(r.int('n_layer')).fill('full'),
      tiedEmbeddings: r.bool('tie_word_embeddings', true),
      qkvBias: true,
      oBias: true,
      mlpBias: true,
      scaleByInverseLayer: r.bool('scale_attn_by_inverse_layer_idx', false),
      bosTokenId: r.optInt('bos_token_id') ?? 50256,
      eosTokenId: r.optInt('eos_token_id') ?? 50256,
    };
  },
  globals: [
    { hf: 'wte.weight', shape: (s) => [s.vocabSize, s.dModel], slots: one('WE') },
    { hf: 'wpe.weight', shape: (s) => [s.maxPositions, s.dModel], slots: one('Wpos') },
    { hf: 'ln_f.weight', shape: vec, slots: one('lnfW') },
    { hf: 'ln_f.bias', shape: vec, slots: one('lnfB') },
    untiedHead('lm_head.weight'),
  ],
  layer: [
    { hf: 'h.{l}.ln_1.weight', shape: vec, slots: one('ln1W') },
    { hf: 'h.{l}.ln_1.bias', shape: vec, slots: one('ln1B') },
    {
      hf: 'h.{l}.attn.c_attn.weight',
      shape: cAttn,
      slots: (['WQ', 'WK', 'WV'] as const).map((field, i) => ({ field, layout: { kind: 'heads', heads: 'q', rowOf: qkvCol(i), conv1d: true } as const })),
    },
    {
      hf: 'h.{l}.attn.c_attn.bias',
      shape: (s) => [3 * s.dModel],
      slots: (['bQ', 'bK', 'bV'] as const).map((field, i) => ({ field, layout: { kind: 'headBias', heads: 'q', rowOf: qkvCol(i) } as const })),
    },
    // Conv1D [in, out]: [(H e), d] is already the canonical [H, e, d].
    { hf: 'h.{l}.attn.c_proj.weight', shape: (s) => [s.dModel, s.dModel], slots: one('WO') },
    { hf: 'h.{l}.attn.c_proj.bias', shape: vec, slots: one('bO') },
    { hf: 'h.{l}.ln_2.weight', shape: vec, slots: one('ln2W') },
    { hf: 'h.{l}.ln_2.bias', shape: vec, slots: one('ln2B') },
    { hf: 'h.{l}.mlp.c_fc.weight', shape: (s) => [s.dModel, s.dMlp], slots: one('Win') },
    { hf: 'h.{l}.mlp.c_fc.bias', shape: (s) => [s.dMlp], slots: one('bin') },
    { hf: 'h.{l}.mlp.c_proj.weight', shape: (s) => [s.dMlp, s.dModel], slots: one('Wout') },
    { hf: 'h.{l}.mlp.c_proj.bias', shape: vec, slots: one('bout') },
  ],
  /**
   * HF's GPT2Config defaults except the dropout probabilities, which are zero because the trainer
   * applies no dropout.
   */
  newConfig: (o: NewModelShape) => ({
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    activation_function: 'gelu_new',
    attn_pdrop: 0,
    embd_pdrop: 0,
    resid_pdrop: 0,
    bos_token_id: o.bosTokenId,
    eos_token_id: o.eosTokenId,
    initializer_range: 0.02,
    layer_norm_epsilon: 1e-5,
    n_ctx: o.nPositions,
    n_embd: o.nEmbd,
    n_head: o.nHead,
    n_inner: null,
    n_layer: o.nLayer,
    n_positions: o.nPositions,
    scale_attn_weights: true,
    tie_word_embeddings: true,
    torch_dtype: 'float32',
    use_cache: true,
    vocab_size: o.vocabSize,
  }),
};
