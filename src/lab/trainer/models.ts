/**
 * Models in memory for training: fresh ones drawn as HF's `_init_weights` draws them, or an existing
 * checkpoint opened for continual pre-training; and the seeded streams that draw them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Checkpoint } from '../../engine/model/checkpoint';
import { parseConfig, type ModelSpec } from '../../engine/model/config';
import { UserError } from '../../engine/errors';
import { TextTokenizer } from '../../engine/model/tokenizer';
import { loadWeights, type LoadedWeights } from '../../engine/model/transformer';
import type { LayerWeights } from '../../engine/model/weights';
import { mulberry32 } from '../../engine/util/random';

/** Standard normal draws by Box–Muller, from a uniform stream. */
export function normalStream(uniform: () => number): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    // 1 − u keeps the logarithm's argument in (0, 1].
    const r = Math.sqrt(-2 * Math.log(1 - uniform()));
    const theta = 2 * Math.PI * uniform();
    spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  };
}

/**
 * Streams derived from one seed for different purposes, so that changing how much one of them draws
 * (say, a bigger model at init) leaves the other (the block order) unchanged.
 */
export const initStream = (seed: number) => mulberry32((seed ^ 0x5eed1417) >>> 0);
export const shuffleStream = (seed: number) => mulberry32((seed ^ 0x0b10c5) >>> 0);

/** A model in memory for training: its config.json, spec, canonical weights and tokenizer. */
export interface TrainableModel {
  /** config.json as it is saved into every checkpoint. */
  readonly config: Record<string, unknown>;
  readonly spec: ModelSpec;
  /** Canonical weights; training updates these arrays in place. */
  readonly weights: LoadedWeights;
  /** The folder whose tokenizer files are copied into every checkpoint, if any. */
  readonly tokenizerDir?: string;
  readonly tokenizer?: TextTokenizer;
  /** A generation_config.json to copy into every checkpoint, if the source has one. */
  readonly generationConfig?: string;
}

/**
 * Refuses models whose trained weights could not be saved in their family's HF layout, before any
 * time is spent training them.
 */
function checkTrainable(spec: ModelSpec, file: string): void {
  if (spec.qkvBias && !spec.oBias) {
    throw new UserError(
      `${file}: ${spec.architecture} has q/k/v biases but no output-projection bias. The trainer keeps value biases folded into the ` +
        'output bias (see trainer.ts), which this layout cannot store; train a model with attention_bias both on or both off.',
    );
  }
  if (spec.family === 'llama' && spec.mlpBias) {
    throw new UserError(`${file}: 'mlp_bias' = true is not supported for training yet (saving does not write MLP biases); use mlp_bias: false.`);
  }
}

/** Opens a checkpoint for continual pre-training. The head stays tied when the checkpoint ties it. */
export function loadTrainableModel(dir: string): TrainableModel {
  const ckpt = Checkpoint.open(dir);
  checkTrainable(ckpt.spec, path.join(ckpt.dir, 'config.json'));
  const config = JSON.parse(fs.readFileSync(path.join(ckpt.dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const gen = path.join(ckpt.dir, 'generation_config.json');
  return {
    config,
    spec: ckpt.spec,
    // loadWeights leaves W_U undefined for a tied head: the graph then reads W_Eᵀ and trains one matrix.
    weights: loadWeights(ckpt.weights),
    tokenizerDir: ckpt.tokenizer.dir,
    tokenizer: ckpt.tokenizer,
    generationConfig: fs.existsSync(gen) ? gen : undefined,
  };
}

/**
 * A model with fresh weights drawn as HF's `_init_weights` draws them: every linear weight and
 * embedding from normal(0, initializer_range), biases zero, norm weights one and norm biases zero.
 * GPT-2 also scales its residual output projections (attn.c_proj and mlp.c_proj) to
 * normal(0, initializer_range / √(2 n_layer)). The draws come from the seed, not from HF's RNG, so the
 * values are equal in distribution only.
 */
export function initModel(config: Record<string, unknown>, opts: { readonly seed: number; readonly tokenizerDir?: string }): TrainableModel {
  const spec = parseConfig(config, 'config.json');
  checkTrainable(spec, 'config.json');
  const { nLayers: L, nHeads: H, nKvHeads: Hkv, dModel: d, dHead: e, dMlp: m, vocabSize: V } = spec;
  const std = typeof config.initializer_range === 'number' ? config.initializer_range : 0.02;
  const residStd = spec.family === 'gpt2' ? std / Math.sqrt(2 * L) : std;
  const normal = normalStream(initStream(opts.seed));
  const randn = (n: number, s: number): Float32Array => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = normal() * s;
    return out;
  };
  const ones = (n: number) => new Float32Array(n).fill(1);
  const zeros = (n: number) => new Float32Array(n);
  const ln = spec.norm === 'layernorm';
  const layers: LayerWeights[] = [];
  for (let l = 0; l < L; l++) {
    layers.push({
      ln1W: ones(d),
      ln1B: ln ? zeros(d) : undefined,
      ln2W: ones(d),
      ln2B: ln ? zeros(d) : undefined,
      WQ: randn(H * d * e, std), // [H, d, e]
      bQ: spec.qkvBias ? zeros(H * e) : undefined,
      WK: randn(Hkv * d * e, std), // [Hkv, d, e]
      bK: spec.qkvBias ? zeros(Hkv * e) : undefined,
      WV: randn(Hkv * d * e, std), // [Hkv, d, e]
      WO: randn(H * e * d, residStd), // [H, e, d]
      bO: spec.oBias ? zeros(d) : undefined,
      Win: randn(d * m, std), // [d, m]
      bin: spec.mlpBias ? zeros(m) : undefined,
      Wgate: spec.gatedMlp ? randn(d * m, std) : undefined, // [d, m]
      Wout: randn(m * d, residStd), // [m, d]
      bout: spec.mlpBias ? zeros(d) : undefined,
    });
  }
  const weights: LoadedWeights = {
    WE: randn(V * d, std), // [V, d]
    Wpos: spec.positional === 'learned' ? randn(spec.maxPositions * d, std) : undefined, // [P, d]
    layers,
    lnfW: ones(d),
    lnfB: ln ? zeros(d) : undefined,
    WU: spec.tiedEmbeddings ? undefined : randn(d * V, std), // [d, V]
  };
  const tokenizer = opts.tokenizerDir ? TextTokenizer.load(opts.tokenizerDir) : undefined;
  return { config: { ...config }, spec, weights, tokenizerDir: opts.tokenizerDir, tokenizer };
}

/** The name of each canonical weight field; matrices and embeddings start with 'W'. */
export type WeightKey = keyof LayerWeights | 'WE' | 'Wpos' | 'lnfW' | 'lnfB' | 'WU';

/** Applies f to every weight array of a model, keeping the structure (absent fields stay absent). */
export function mapWeights(w: LoadedWeights, f: (x: Float32Array, key: WeightKey, layer?: number) => Float32Array): LoadedWeights {
  const layers = w.layers.map((lw, l) => {
    const out: Record<string, Float32Array> = {};
    for (const [k, v] of Object.entries(lw) as [keyof LayerWeights, Float32Array | undefined][]) if (v) out[k] = f(v, k, l);
    return out as unknown as LayerWeights;
  });
  return {
    WE: f(w.WE, 'WE'),
    Wpos: w.Wpos && f(w.Wpos, 'Wpos'),
    layers,
    lnfW: f(w.lnfW, 'lnfW'),
    lnfB: w.lnfB && f(w.lnfB, 'lnfB'),
    WU: w.WU && f(w.WU, 'WU'),
  };
}
