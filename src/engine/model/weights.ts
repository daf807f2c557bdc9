/**
 * Maps a checkpoint's tensors onto one canonical, per-head layout (TransformerLens's names and shapes),
 * reading each tensor from disk only when it is needed.
 *
 * Canonical shapes: W_Q [H, d, e], W_K/W_V [Hkv, d, e], W_O [H, e, d], W_in/W_gate [d, m], W_out [m, d],
 * W_E [V, d], W_U [d, V]. Value biases are folded into b_O (b_O += Σ_h b_V[h] W_O[h]), which leaves the
 * model's function unchanged because attention rows sum to one, and keeps head outputs free of biases,
 * as the method specification requires.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ModelSpec } from './config';
import { CheckpointError } from '../errors';
import { readSafetensorsHeader, readTensorF32, type TensorEntry } from './safetensors';

export interface LayerWeights {
  readonly ln1W: Float32Array;
  readonly ln1B?: Float32Array;
  readonly ln2W: Float32Array;
  readonly ln2B?: Float32Array;
  readonly WQ: Float32Array; // [H, d, e]
  readonly bQ?: Float32Array; // [H, e]
  readonly WK: Float32Array; // [Hkv, d, e]
  readonly bK?: Float32Array; // [Hkv, e]
  readonly WV: Float32Array; // [Hkv, d, e]
  readonly WO: Float32Array; // [H, e, d]
  readonly bO?: Float32Array; // [d], value bias folded in
  readonly Win: Float32Array; // [d, m]
  readonly bin?: Float32Array; // [m]
  readonly Wgate?: Float32Array; // [d, m]
  readonly bgate?: Float32Array; // [m]
  readonly Wout: Float32Array; // [m, d]
  readonly bout?: Float32Array; // [d]
}

/** Where each tensor name lives, across one file or a sharded set. */
export class TensorIndex {
  private constructor(
    readonly dir: string,
    readonly entries: Map<string, TensorEntry>,
  ) {}

  static open(dir: string): TensorIndex {
    const single = path.join(dir, 'model.safetensors');
    const index = path.join(dir, 'model.safetensors.index.json');
    if (fs.existsSync(index)) {
      let json: { weight_map?: Record<string, string> };
      try {
        json = JSON.parse(fs.readFileSync(index, 'utf8'));
      } catch (e) {
        throw new CheckpointError(index, `not valid JSON (${(e as Error).message})`);
      }
      if (!json.weight_map || typeof json.weight_map !== 'object') throw new CheckpointError(index, 'has no weight_map object', 'weight_map');
      const files = new Set(Object.values(json.weight_map));
      const entries = new Map<string, TensorEntry>();
      for (const f of files) {
        const shard = path.join(dir, f);
        if (!fs.existsSync(shard)) throw new CheckpointError(index, `names shard '${f}', which does not exist in ${dir}`, 'weight_map');
        const h = readSafetensorsHeader(shard);
        for (const [name, e] of h.entries) entries.set(name, e);
      }
      for (const [name, f] of Object.entries(json.weight_map)) {
        const e = entries.get(name);
        if (!e) throw new CheckpointError(path.join(dir, f), `weight_map says this shard holds the tensor, but it does not`, name);
      }
      return new TensorIndex(dir, entries);
    }
    if (fs.existsSync(single)) return new TensorIndex(dir, readSafetensorsHeader(single).entries);
    const pickled = ['pytorch_model.bin', 'pytorch_model.bin.index.json', 'model.pt', 'model.pth'].find((f) => fs.existsSync(path.join(dir, f)));
    if (pickled) {
      throw new CheckpointError(
        path.join(dir, pickled),
        'is a pickled PyTorch checkpoint, which can run arbitrary code when loaded, so Circuitscope does not read it. ' +
          'Convert it to safetensors once with Python: `from transformers import AutoModelForCausalLM; ' +
          `AutoModelForCausalLM.from_pretrained('${dir}').save_pretrained('${dir}', safe_serialization=True)\``,
      );
    }
    throw new CheckpointError(dir, 'has no model.safetensors or model.safetensors.index.json');
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** Reads a tensor as float32 after checking its shape. */
  read(name: string, shape: readonly number[]): Float32Array {
    const e = this.entries.get(name);
    if (!e) throw new CheckpointError(this.dir, `tensor is missing from the checkpoint (expected shape [${shape}])`, name);
    if (e.shape.length !== shape.length || e.shape.some((d, i) => d !== shape[i])) {
      throw new CheckpointError(e.file, `has shape [${e.shape}], but config.json implies [${shape}]`, name);
    }
    return readTensorF32(e);
  }
}

/** out[h][i][j] = src[(h*e + j) * cols + i]: rows of a [H*e, cols] Linear weight become per-head [cols, e]. */
function headsFromRows(src: Float32Array, heads: number, e: number, cols: number, rowOf: (h: number, j: number) => number): Float32Array {
  const out = new Float32Array(heads * cols * e);
  for (let h = 0; h < heads; h++)
    for (let j = 0; j < e; j++) {
      const r = rowOf(h, j) * cols;
      for (let i = 0; i < cols; i++) out[(h * cols + i) * e + j] = src[r + i];
    }
  return out;
}

/** Transposes a row-major [rows, cols] matrix. */
export function transpose2d(src: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = src[r * cols + c];
  return out;
}

function pickBias(src: Float32Array, heads: number, e: number, rowOf: (h: number, j: number) => number): Float32Array {
  const out = new Float32Array(heads * e);
  for (let h = 0; h < heads; h++) for (let j = 0; j < e; j++) out[h * e + j] = src[rowOf(h, j)];
  return out;
}

/** b_O + Σ_h b_V[kv(h)] · W_O[h]. */
function foldValueBias(spec: ModelSpec, bV: Float32Array, WO: Float32Array, bO: Float32Array | undefined): Float32Array {
  const { nHeads: H, nKvHeads: Hkv, dHead: e, dModel: d } = spec;
  const out = bO ? Float32Array.from(bO) : new Float32Array(d);
  const acc = new Float64Array(d);
  for (let h = 0; h < H; h++) {
    const g = Math.floor(h / (H / Hkv));
    for (let j = 0; j < e; j++) {
      const bv = bV[g * e + j];
      for (let i = 0; i < d; i++) acc[i] += bv * WO[(h * e + j) * d + i];
    }
  }
  for (let i = 0; i < d; i++) out[i] += acc[i];
  return out;
}

/** Reads weights in canonical layout for one model family. */
export class CanonicalWeights {
  private readonly prefix: string;

  constructor(
    readonly spec: ModelSpec,
    readonly index: TensorIndex,
  ) {
    const candidates = spec.family === 'gpt2' ? ['transformer.', ''] : spec.family === 'llama' ? ['model.', ''] : ['gpt_neox.', ''];
    const probe = spec.family === 'gpt2' ? 'wte.weight' : spec.family === 'llama' ? 'embed_tokens.weight' : 'embed_in.weight';
    this.prefix = candidates.find((p) => index.has(p + probe)) ?? candidates[0];
  }

  private t(name: string, shape: readonly number[]): Float32Array {
    return this.index.read(this.prefix + name, shape);
  }

  /** Token embedding W_E [V, d]. */
  embed(): Float32Array {
    const { vocabSize: V, dModel: d } = this.spec;
    const name = { gpt2: 'wte.weight', llama: 'embed_tokens.weight', gpt_neox: 'embed_in.weight' }[this.spec.family];
    return this.t(name, [V, d]);
  }

  /** Learned positions W_pos [P, d] (GPT-2 only). */
  posEmbed(): Float32Array {
    return this.t('wpe.weight', [this.spec.maxPositions, this.spec.dModel]);
  }

  finalNorm(): { w: Float32Array; b?: Float32Array } {
    const d = this.spec.dModel;
    switch (this.spec.family) {
      case 'gpt2':
        return { w: this.t('ln_f.weight', [d]), b: this.t('ln_f.bias', [d]) };
      case 'llama':
        return { w: this.t('norm.weight', [d]) };
      case 'gpt_neox':
        return { w: this.t('final_layer_norm.weight', [d]), b: this.t('final_layer_norm.bias', [d]) };
    }
  }

  /** Untied unembedding W_U [d, V], or undefined when the head is tied to W_E. */
  unembed(): Float32Array | undefined {
    const { vocabSize: V, dModel: d } = this.spec;
    const name = this.spec.family === 'gpt_neox' ? 'embed_out.weight' : 'lm_head.weight';
    if (this.spec.tiedEmbeddings) return undefined;
    if (!this.index.has(name)) {
      throw new CheckpointError(this.index.dir, `tensor is missing, and config.json says tie_word_embeddings=false (expected shape [${V}, ${d}])`, name);
    }
    return transpose2d(this.index.read(name, [V, d]), V, d);
  }

  layer(l: number): LayerWeights {
    switch (this.spec.family) {
      case 'gpt2':
        return this.gpt2Layer(l);
      case 'llama':
        return this.llamaLayer(l);
      case 'gpt_neox':
        return this.neoxLayer(l);
    }
  }

  private gpt2Layer(l: number): LayerWeights {
    const { dModel: d, nHeads: H, dHead: e, dMlp: m } = this.spec;
    const p = `h.${l}.`;
    // Conv1D stores [in, out]; c_attn's output columns are [q | k | v], each head-major.
    const cAttn = this.t(p + 'attn.c_attn.weight', [d, 3 * d]);
    const cAttnT = transpose2d(cAttn, d, 3 * d); // [3d, d], rows = output features
    const bAttn = this.t(p + 'attn.c_attn.bias', [3 * d]);
    const rows = (which: number) => (h: number, j: number) => which * d + h * e + j;
    const WO = this.t(p + 'attn.c_proj.weight', [d, d]); // [(H e), d] is already [H, e, d]
    const bV = pickBias(bAttn, H, e, rows(2));
    return {
      ln1W: this.t(p + 'ln_1.weight', [d]),
      ln1B: this.t(p + 'ln_1.bias', [d]),
      ln2W: this.t(p + 'ln_2.weight', [d]),
      ln2B: this.t(p + 'ln_2.bias', [d]),
      WQ: headsFromRows(cAttnT, H, e, d, rows(0)),
      bQ: pickBias(bAttn, H, e, rows(0)),
      WK: headsFromRows(cAttnT, H, e, d, rows(1)),
      bK: pickBias(bAttn, H, e, rows(1)),
      WV: headsFromRows(cAttnT, H, e, d, rows(2)),
      WO,
      bO: foldValueBias(this.spec, bV, WO, this.t(p + 'attn.c_proj.bias', [d])),
      Win: this.t(p + 'mlp.c_fc.weight', [d, m]),
      bin: this.t(p + 'mlp.c_fc.bias', [m]),
      Wout: this.t(p + 'mlp.c_proj.weight', [m, d]),
      bout: this.t(p + 'mlp.c_proj.bias', [d]),
    };
  }

  private llamaLayer(l: number): LayerWeights {
    const s = this.spec;
    const { dModel: d, nHeads: H, nKvHeads: Hkv, dHead: e, dMlp: m } = s;
    const p = `layers.${l}.`;
    const rowOf = (h: number, j: number) => h * e + j;
    const WO = (() => {
      const o = this.t(p + 'self_attn.o_proj.weight', [d, H * e]); // [out=d, in=H e]
      return transpose2d(o, d, H * e); // [(H e), d]
    })();
    const bOraw = s.oBias ? this.t(p + 'self_attn.o_proj.bias', [d]) : undefined;
    const bV = s.qkvBias ? this.t(p + 'self_attn.v_proj.bias', [Hkv * e]) : undefined;
    return {
      ln1W: this.t(p + 'input_layernorm.weight', [d]),
      ln2W: this.t(p + 'post_attention_layernorm.weight', [d]),
      WQ: headsFromRows(this.t(p + 'self_attn.q_proj.weight', [H * e, d]), H, e, d, rowOf),
      bQ: s.qkvBias ? this.t(p + 'self_attn.q_proj.bias', [H * e]) : undefined,
      WK: headsFromRows(this.t(p + 'self_attn.k_proj.weight', [Hkv * e, d]), Hkv, e, d, rowOf),
      bK: s.qkvBias ? this.t(p + 'self_attn.k_proj.bias', [Hkv * e]) : undefined,
      WV: headsFromRows(this.t(p + 'self_attn.v_proj.weight', [Hkv * e, d]), Hkv, e, d, rowOf),
      WO,
      bO: bV ? foldValueBias(s, bV, WO, bOraw) : bOraw,
      Win: transpose2d(this.t(p + 'mlp.up_proj.weight', [m, d]), m, d),
      bin: s.mlpBias ? this.t(p + 'mlp.up_proj.bias', [m]) : undefined,
      Wgate: transpose2d(this.t(p + 'mlp.gate_proj.weight', [m, d]), m, d),
      bgate: s.mlpBias ? this.t(p + 'mlp.gate_proj.bias', [m]) : undefined,
      Wout: transpose2d(this.t(p + 'mlp.down_proj.weight', [d, m]), d, m),
      bout: s.mlpBias ? this.t(p + 'mlp.down_proj.bias', [d]) : undefined,
    };
  }

  private neoxLayer(l: number): LayerWeights {
    const s = this.spec;
    const { dModel: d, nHeads: H, dHead: e, dMlp: m } = s;
    const p = `layers.${l}.`;
    // The fused projection's rows are head-major: [h][q|k|v][e].
    const qkv = this.t(p + 'attention.query_key_value.weight', [3 * d, d]);
    const rows = (which: number) => (h: number, j: number) => h * 3 * e + which * e + j;
    const qkvB = s.qkvBias ? this.t(p + 'attention.query_key_value.bias', [3 * d]) : undefined;
    const WO = transpose2d(this.t(p + 'attention.dense.weight', [d, d]), d, d);
    const bOraw = s.oBias ? this.t(p + 'attention.dense.bias', [d]) : undefined;
    return {
      ln1W: this.t(p + 'input_layernorm.weight', [d]),
      ln1B: this.t(p + 'input_layernorm.bias', [d]),
      ln2W: this.t(p + 'post_attention_layernorm.weight', [d]),
      ln2B: this.t(p + 'post_attention_layernorm.bias', [d]),
      WQ: headsFromRows(qkv, H, e, d, rows(0)),
      bQ: qkvB && pickBias(qkvB, H, e, rows(0)),
      WK: headsFromRows(qkv, H, e, d, rows(1)),
      bK: qkvB && pickBias(qkvB, H, e, rows(1)),
      WV: headsFromRows(qkv, H, e, d, rows(2)),
      WO,
      bO: qkvB ? foldValueBias(s, pickBias(qkvB, H, e, rows(2)), WO, bOraw) : bOraw,
      Win: transpose2d(this.t(p + 'mlp.dense_h_to_4h.weight', [m, d]), m, d),
      bin: this.t(p + 'mlp.dense_h_to_4h.bias', [m]),
      Wout: transpose2d(this.t(p + 'mlp.dense_4h_to_h.weight', [d, m]), d, m),
      bout: this.t(p + 'mlp.dense_4h_to_h.bias', [d]),
    };
  }
}
