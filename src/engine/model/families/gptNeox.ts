/** GPT-NeoX (Pythia) and Phi (phi-1, phi-1.5, phi-2): parallel attention and MLP, partial rotary. */
import { plainBlock, type LayerType, type ModelSpec } from '../config';
import { parseRope, rotaryDims } from '../rope';
import type { FamilyDef } from './table';
import { one, transposed, untiedHead, vec } from './table';

/** The fused projection's rows are head-major: [h][q|k|v][e]. */
const neoxRow = (which: number) => (s: ModelSpec, h: number, j: number) => h * 3 * s.dHead + which * s.dHead + j;
const N = (name: string) => `layers.{l}.${name}`;

export const gptNeox: FamilyDef = {
  family: 'gpt_neox',
  architectures: ['GPTNeoXForCausalLM'],
  modelTypes: ['gpt_neox'],
  prefixes: ['gpt_neox.', ''],
  probe: 'embed_in.weight',
  parse(r) {
    const d = r.int('hidden_size');
    const h = r.int('num_attention_heads');
    if (d % h !== 0) throw r.error('num_attention_heads', `hidden_size ${d} is not divisible by num_attention_heads ${h}`);
    const dHead = d / h;
    // GPTNeoXConfig: rotary_pct 0.25 and rotary_emb_base 10000; transformers 5 writes both in rope_parameters.
    const { rope, partial } = parseRope(r, { theta: 10000, thetaKeys: ['rotary_emb_base', 'rope_theta'], partial: 0.25, partialKeys: ['rotary_pct', 'partial_rotary_factor'] });
    const bias = r.bool('attention_bias', true);
    const nLayers = r.int('num_hidden_layers');
    return {
      ...plainBlock,
      family: 'gpt_neox',
      architecture: r.label,
      nLayers,
      nHeads: h,
      nKvHeads: h,
      dModel: d,
      dHead,
      dMlp: r.int('intermediate_size', 4 * d),
      vocabSize: r.int('vocab_size'),
      maxPositions: r.int('max_position_embeddings', 2048),
      norm: 'layernorm',
      normEps: r.positive('layer_norm_eps', 1e-5),
      act: r.oneOf('hidden_act', 'gelu', { gelu: 'gelu', gelu_new: 'gelu_new', gelu_fast: 'gelu_new', relu: 'relu' } as const),
      gatedMlp: false,
      positional: 'rotary',
      rotaryDim: rotaryDims(r, dHead, partial, 'rotary_pct'),
      rope,
      parallelAttnMlp: r.bool('use_parallel_residual', true),
      attnScale: 1 / Math.sqrt(dHead),
      layerTypes: new Array<LayerType>(nLayers).fill('full'),
      tiedEmbeddings: r.bool('tie_word_embeddings', false),
      qkvBias: bias,
      oBias: bias,
      mlpBias: true,
      bosTokenId: r.optInt('bos_token_id'),
      eosTokenId: r.optInt('eos_token_id'),
    };
  },
  globals: [
    { hf: 'embed_in.weight', shape: (s) => [s.vocabSize, s.dModel], slots: one('WE') },
    { hf: 'final_layer_norm.weight', shape: vec, slots: one('lnfW') },
    { hf: 'final_layer_norm.bias', shape: vec, slots: one('lnfB') },
    untiedHead('embed_out.weight'),
  ],
  layer: [
    { hf: N('input_layernorm.weight'), shape: vec, slots: one('ln1W') },
    { hf: N('input_layernorm.bias'), shape: vec, slots: one('ln1B') },
    { hf: N('post_attention_layernorm.weight'), shape: vec, slots: one('ln2W') },
    { hf: N('post_attention_layernorm.bias'), shape: vec, slots: one('ln2B') },
    {
      hf: N('attention.query_key_value.weight'),
      shape: (s) => [3 * s.dModel, s.dModel],
      slots: (['WQ', 'WK', 'WV'] as const).map((field, i) => ({ field, layout: { kind: 'heads', heads: 'q', rowOf: neoxRow(i) } as const })),
    },
    {
      hf: N('attention.query_key_value.bias'),
      shape: (s) => [3 * s.dModel],
      slots: (['bQ', 'bK', 'bV'] as const).map((field, i) => ({ field, layout: { kind: 'headBias', heads: 'q', rowOf: neoxRow(i) } as const })),
      when: (s) => s.qkvBias,
    },
    { hf: N('attention.dense.weight'), shape: (s) => [s.dModel, s.dModel], slots: one('WO', transposed) },
    { hf: N('attention.dense.bias'), shape: vec, slots: one('bO'), when: (s) => s.oBias },
    { hf: N('mlp.dense_h_to_4h.weight'), shape: (s) => [s.dMlp, s.dModel], slots: one('Win', transposed) },
    { hf: N('mlp.dense_h_to_4h.bias'), shape: (s) => [s.dMlp], slots: one('bin') },
    { hf: N('mlp.dense_4h_to_h.weight'), shape: (s) => [s.dModel, s.dMlp], slots: one('Wout', transposed) },
    { hf: N('mlp.dense_4h_to_h.bias'), shape: vec, slots: one('bout') },
  ],
};

export const phi: FamilyDef = {
  family: 'phi',
  architectures: ['PhiForCausalLM'],
  modelTypes: ['phi'],
  prefixes: ['model.', ''],
  probe: 'embed_tokens.weight',
  parse(r) {
    const d = r.int('hidden_size');
    const h = r.int('num_attention_heads');
    if (d % h !== 0) throw r.error('num_attention_heads', `hidden_size ${d} is not divisible by num_attention_heads ${h}`);
    const kv = r.int('num_key_value_heads', h);
    if (h % kv !== 0) throw r.error('num_key_value_heads', `num_attention_heads ${h} is not a multiple of num_key_value_heads ${kv}`);
    const dHead = d / h;
    if (r.bool('qk_layernorm', false)) throw r.error('qk_layernorm', 'per-head LayerNorm on q and k is not implemented for Phi yet (phi-1, phi-1.5 and phi-2 have none)');
    const { rope, partial } = parseRope(r, { theta: 10000, partial: 0.5 });
    const nLayers = r.int('num_hidden_layers');
    return {
      ...plainBlock,
      family: 'phi',
      architecture: r.label,
      nLayers,
      nHeads: h,
      nKvHeads: kv,
      dModel: d,
      dHead,
      dMlp: r.int('intermediate_size'),
      vocabSize: r.int('vocab_size'),
      maxPositions: r.int('max_position_embeddings', 2048),
      norm: 'layernorm',
      normEps: r.positive('layer_norm_eps', 1e-5),
      act: r.oneOf('hidden_act', 'gelu_new', { gelu_new: 'gelu_new', gelu_pytorch_tanh: 'gelu_new', gelu: 'gelu', relu: 'relu' } as const),
      gatedMlp: false,
      positional: 'rotary',
      rotaryDim: rotaryDims(r, dHead, partial),
      rope,
      parallelAttnMlp: true,
      sharedBlockNorm: true,
      attnScale: 1 / Math.sqrt(dHead),
      layerTypes: new Array<LayerType>(nLayers).fill('full'),
      tiedEmbeddings: r.bool('tie_word_embeddings', false),
      qkvBias: true,
      oBias: true,
      mlpBias: true,
      unembedBias: true, // lm_head is a Linear with a bias, tied or not
      bosTokenId: r.optInt('bos_token_id'),
      eosTokenId: r.optInt('eos_token_id'),
    };
  },
  globals: [
    { hf: 'embed_tokens.weight', shape: (s) => [s.vocabSize, s.dModel], slots: one('WE') },
    { hf: 'final_layernorm.weight', shape: vec, slots: one('lnfW') },
    { hf: 'final_layernorm.bias', shape: vec, slots: one('lnfB') },
    { hf: 'lm_head.weight', root: true, shape: (s) => [s.vocabSize, s.dModel], slots: one('WU', transposed), when: (s) => !s.tiedEmbeddings },
    { hf: 'lm_head.bias', root: true, shape: (s) => [s.vocabSize], slots: one('bU'), when: (s) => s.unembedBias },
  ],
  layer: [
    { hf: N('input_layernorm.weight'), shape: vec, slots: one('ln1W') },
    { hf: N('input_layernorm.bias'), shape: vec, slots: one('ln1B') },
    { hf: N('self_attn.q_proj.weight'), shape: (s) => [s.nHeads * s.dHead, s.dModel], slots: one('WQ', { kind: 'heads', heads: 'q' }) },
    { hf: N('self_attn.k_proj.weight'), shape: (s) => [s.nKvHeads * s.dHead, s.dModel], slots: one('WK', { kind: 'heads', heads: 'kv' }) },
    { hf: N('self_attn.v_proj.weight'), shape: (s) => [s.nKvHeads * s.dHead, s.dModel], slots: one('WV', { kind: 'heads', heads: 'kv' }) },
    { hf: N('self_attn.q_proj.bias'), shape: (s) => [s.nHeads * s.dHead], slots: one('bQ') },
    { hf: N('self_attn.k_proj.bias'), shape: (s) => [s.nKvHeads * s.dHead], slots: one('bK') },
    { hf: N('self_attn.v_proj.bias'), shape: (s) => [s.nKvHeads * s.dHead], slots: one('bV') },
    { hf: N('self_attn.dense.weight'), shape: (s) => [s.dModel, s.nHeads * s.dHead], slots: one('WO', transposed) },
    { hf: N('self_attn.dense.bias'), shape: vec, slots: one('bO') },
    { hf: N('mlp.fc1.weight'), shape: (s) => [s.dMlp, s.dModel], slots: one('Win', transposed) },
    { hf: N('mlp.fc1.bias'), shape: (s) => [s.dMlp], slots: one('bin') },
    { hf: N('mlp.fc2.weight'), shape: (s) => [s.dModel, s.dMlp], slots: one('Wout', transposed) },
    { hf: N('mlp.fc2.bias'), shape: vec, slots: one('bout') },
  ],
};
