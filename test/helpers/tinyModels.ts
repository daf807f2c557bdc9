/**
 * Small random checkpoints in Hugging Face layout, written into temporary folders. Weights are
 * multiples of 1/1024 with small numerators by default, so they are exact in F16 and BF16 too.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { encodeSafetensors, type TensorToWrite } from '../../src/engine/model/safetensors';
import { mulberry32 } from '../../src/engine/util/random';
import type { Tensors } from './reference';

/** The repository root: the nearest folder above this file with the project's package.json. */
export const repoRoot = ((): string => {
  let d = __dirname;
  while (!fs.existsSync(path.join(d, 'esbuild.mjs'))) {
    const up = path.dirname(d);
    if (up === d) throw new Error('cannot find the repository root above ' + __dirname);
    d = up;
  }
  return d;
})();
/** `../shared` beside the repository, as CI lays it out. */
export const sharedDir = process.env.CIRCUITSCOPE_SHARED ?? path.resolve(repoRoot, '../shared');
export const stories260K = path.join(sharedDir, 'models/stories260K');
export const gpt2TokenizerDir = path.join(sharedDir, 'tokenizers/gpt2');

/** The project's seeded PRNG, under the name the tests use. */
export const rng = mulberry32;

export function tmpDir(prefix = 'cs-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export type Spec = Record<string, number[]>;

/** Rounds to a multiple of 1/1024 with at most 8 significant bits: exact in F16, BF16 and F32. */
export function exactInHalfFormats(v: number): number {
  const q = Math.round(v * 1024) / 1024;
  if (q === 0) return 0;
  const unit = 2 ** (Math.floor(Math.log2(Math.abs(q))) - 7);
  return Math.round(q / unit) * unit;
}

export function fill(spec: Spec, seed: number, scale: number, exact: boolean, ones: (name: string) => boolean): Tensors {
  const r = rng(seed);
  const out: Tensors = {};
  for (const [name, shape] of Object.entries(spec)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const u = (r() * 2 - 1) * scale;
      const v = ones(name) ? 1 + u * 0.5 : u;
      data[i] = exact ? exactInHalfFormats(v) : v;
    }
    out[name] = { shape, data };
  }
  return out;
}

const isNormWeight = (n: string) => /(ln_\d|ln_f|layernorm|layer_norm|norm)\.weight$/.test(n);

export interface TinyModel {
  readonly config: Record<string, unknown>;
  readonly tensors: Tensors;
}

export function gpt2Tiny(opts: { nLayer?: number; nHead?: number; nEmbd?: number; vocab?: number; nPos?: number; seed?: number } = {}): TinyModel {
  const L = opts.nLayer ?? 2;
  const H = opts.nHead ?? 4;
  const d = opts.nEmbd ?? 32;
  const V = opts.vocab ?? 50257;
  const nPos = opts.nPos ?? 64;
  const spec: Spec = { 'transformer.wte.weight': [V, d], 'transformer.wpe.weight': [nPos, d], 'transformer.ln_f.weight': [d], 'transformer.ln_f.bias': [d] };
  for (let l = 0; l < L; l++) {
    const p = `transformer.h.${l}.`;
    Object.assign(spec, {
      [p + 'ln_1.weight']: [d],
      [p + 'ln_1.bias']: [d],
      [p + 'attn.c_attn.weight']: [d, 3 * d],
      [p + 'attn.c_attn.bias']: [3 * d],
      [p + 'attn.c_proj.weight']: [d, d],
      [p + 'attn.c_proj.bias']: [d],
      [p + 'ln_2.weight']: [d],
      [p + 'ln_2.bias']: [d],
      [p + 'mlp.c_fc.weight']: [d, 4 * d],
      [p + 'mlp.c_fc.bias']: [4 * d],
      [p + 'mlp.c_proj.weight']: [4 * d, d],
      [p + 'mlp.c_proj.bias']: [d],
    });
  }
  return {
    config: {
      architectures: ['GPT2LMHeadModel'],
      model_type: 'gpt2',
      n_layer: L,
      n_head: H,
      n_embd: d,
      vocab_size: V,
      n_positions: nPos,
      layer_norm_epsilon: 1e-5,
      activation_function: 'gelu_new',
      bos_token_id: 50256,
      eos_token_id: 50256,
    },
    tensors: fill(spec, opts.seed ?? 1, 0.25, true, isNormWeight),
  };
}

export function llamaTiny(
  opts: { nLayer?: number; nHead?: number; nKv?: number; d?: number; vocab?: number; tied?: boolean; qkvBias?: boolean; mlpBias?: boolean; arch?: string; seed?: number } = {},
): TinyModel {
  const L = opts.nLayer ?? 2;
  const H = opts.nHead ?? 4;
  const Hkv = opts.nKv ?? 2;
  const d = opts.d ?? 32;
  const e = d / H;
  const m = 48;
  const V = opts.vocab ?? 512;
  const spec: Spec = { 'model.embed_tokens.weight': [V, d], 'model.norm.weight': [d] };
  if (!opts.tied) spec['lm_head.weight'] = [V, d];
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}.`;
    Object.assign(spec, {
      [p + 'input_layernorm.weight']: [d],
      [p + 'self_attn.q_proj.weight']: [H * e, d],
      [p + 'self_attn.k_proj.weight']: [Hkv * e, d],
      [p + 'self_attn.v_proj.weight']: [Hkv * e, d],
      [p + 'self_attn.o_proj.weight']: [d, H * e],
      [p + 'post_attention_layernorm.weight']: [d],
      [p + 'mlp.gate_proj.weight']: [m, d],
      [p + 'mlp.up_proj.weight']: [m, d],
      [p + 'mlp.down_proj.weight']: [d, m],
    });
    if (opts.qkvBias) {
      Object.assign(spec, { [p + 'self_attn.q_proj.bias']: [H * e], [p + 'self_attn.k_proj.bias']: [Hkv * e], [p + 'self_attn.v_proj.bias']: [Hkv * e] });
      // Llama's attention_bias also puts a bias on o_proj; Qwen2 has q/k/v biases only.
      if (opts.arch !== 'Qwen2ForCausalLM') spec[p + 'self_attn.o_proj.bias'] = [d];
    }
    if (opts.mlpBias) Object.assign(spec, { [p + 'mlp.gate_proj.bias']: [m], [p + 'mlp.up_proj.bias']: [m], [p + 'mlp.down_proj.bias']: [d] });
  }
  const qwen = opts.arch === 'Qwen2ForCausalLM';
  return {
    config: {
      architectures: [opts.arch ?? 'LlamaForCausalLM'],
      model_type: qwen ? 'qwen2' : 'llama',
      hidden_size: d,
      intermediate_size: m,
      num_hidden_layers: L,
      num_attention_heads: H,
      num_key_value_heads: Hkv,
      vocab_size: V,
      max_position_embeddings: 128,
      rms_norm_eps: 1e-5,
      rope_theta: 10000,
      tie_word_embeddings: !!opts.tied,
      attention_bias: !!opts.qkvBias && !qwen ? true : undefined,
      mlp_bias: opts.mlpBias ? true : undefined,
      hidden_act: 'silu',
      bos_token_id: 1,
      eos_token_id: 2,
    },
    tensors: fill(spec, opts.seed ?? 2, 0.25, true, isNormWeight),
  };
}

export function neoxTiny(opts: { nLayer?: number; nHead?: number; d?: number; vocab?: number; rotaryPct?: number; parallel?: boolean; seed?: number } = {}): TinyModel {
  const L = opts.nLayer ?? 2;
  const H = opts.nHead ?? 4;
  const d = opts.d ?? 32;
  const m = 4 * d;
  const V = opts.vocab ?? 512;
  const spec: Spec = {
    'gpt_neox.embed_in.weight': [V, d],
    'gpt_neox.final_layer_norm.weight': [d],
    'gpt_neox.final_layer_norm.bias': [d],
    'embed_out.weight': [V, d],
  };
  for (let l = 0; l < L; l++) {
    const p = `gpt_neox.layers.${l}.`;
    Object.assign(spec, {
      [p + 'input_layernorm.weight']: [d],
      [p + 'input_layernorm.bias']: [d],
      [p + 'post_attention_layernorm.weight']: [d],
      [p + 'post_attention_layernorm.bias']: [d],
      [p + 'attention.query_key_value.weight']: [3 * d, d],
      [p + 'attention.query_key_value.bias']: [3 * d],
      [p + 'attention.dense.weight']: [d, d],
      [p + 'attention.dense.bias']: [d],
      [p + 'mlp.dense_h_to_4h.weight']: [m, d],
      [p + 'mlp.dense_h_to_4h.bias']: [m],
      [p + 'mlp.dense_4h_to_h.weight']: [d, m],
      [p + 'mlp.dense_4h_to_h.bias']: [d],
    });
  }
  return {
    config: {
      architectures: ['GPTNeoXForCausalLM'],
      model_type: 'gpt_neox',
      hidden_size: d,
      intermediate_size: m,
      num_hidden_layers: L,
      num_attention_heads: H,
      vocab_size: V,
      max_position_embeddings: 128,
      layer_norm_eps: 1e-5,
      rotary_pct: opts.rotaryPct ?? 0.5,
      rotary_emb_base: 10000,
      use_parallel_residual: opts.parallel ?? true,
      hidden_act: 'gelu',
      tie_word_embeddings: false,
      bos_token_id: 0,
      eos_token_id: 0,
    },
    tensors: fill(spec, opts.seed ?? 3, 0.25, true, isNormWeight),
  };
}

export interface WriteOptions {
  readonly dtype?: 'F32' | 'F16' | 'BF16';
  /** Split into this many shards with a model.safetensors.index.json. */
  readonly shards?: number;
  /** Folder whose tokenizer files are copied in; null for none. */
  readonly tokenizerFrom?: string | null;
}

/** Writes a model folder in HF layout and returns its path. */
export function writeCheckpoint(dir: string, model: TinyModel, opts: WriteOptions = {}): string {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(model.config, null, 2));
  const dtype = opts.dtype ?? 'F32';
  const entries = Object.entries(model.tensors).map(([n, t]): [string, TensorToWrite] => [n, { dtype, shape: t.shape, data: t.data }]);
  const shards = opts.shards ?? 1;
  if (shards === 1) {
    fs.writeFileSync(path.join(dir, 'model.safetensors'), encodeSafetensors(Object.fromEntries(entries)));
  } else {
    const weightMap: Record<string, string> = {};
    for (let s = 0; s < shards; s++) {
      const file = `model-${String(s + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
      const part = entries.filter((_, i) => i % shards === s);
      for (const [n] of part) weightMap[n] = file;
      fs.writeFileSync(path.join(dir, file), encodeSafetensors(Object.fromEntries(part)));
    }
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }, null, 2));
  }
  const tokSrc = opts.tokenizerFrom === undefined ? defaultTokenizerFor(model) : opts.tokenizerFrom;
  if (tokSrc) {
    for (const f of ['tokenizer.json', 'tokenizer_config.json', 'vocab.json', 'merges.txt', 'special_tokens_map.json']) {
      if (fs.existsSync(path.join(tokSrc, f))) fs.copyFileSync(path.join(tokSrc, f), path.join(dir, f));
    }
  }
  return dir;
}

function defaultTokenizerFor(model: TinyModel): string {
  return (model.config.vocab_size as number) === 50257 ? gpt2TokenizerDir : stories260K;
}

/** Max |a - b| over two equal-length arrays, with the first few mismatching pairs for messages. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): { max: number; at: number; report: string } {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let max = 0;
  let at = -1;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= max)) {
      max = d;
      at = i;
    }
  }
  const pairs: string[] = [];
  for (let i = Math.max(0, at - 2); i < Math.min(a.length, at + 3); i++) pairs.push(`[${i}] ${a[i]} vs ${b[i]}`);
  return { max, at, report: `maxdiff=${max} at ${at}: ${pairs.join(', ')}` };
}

/** A tokenized prompt pair from token ids, for tests that need no tokenizer. */
export function tokenPair(clean: number[], corrupted: number[], cleanLabel: number, corruptedLabel: number): import('../../src/engine/circuits/prompts').TokenizedPair {
  return { clean, corrupted, cleanLabel, corruptedLabel, pair: { prompt: '', target: '', corruptedPrompt: '', corruptedTarget: '', line: 0 } };
}
