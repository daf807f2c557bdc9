/**
 * The demo lab's trainer: causal language-model training on the engine's own graphs, writing a run
 * folder of Hugging Face checkpoints as the HF Trainer does with `save_strategy="epoch"` (method spec
 * §5.1). It trains a small model from scratch (random init as HF's `_init_weights`) or continues the
 * pre-training of an existing checkpoint.
 *
 * One ONNX graph per model computes the forward pass (`buildTransformer` with full logits), the mean
 * next-token cross-entropy over the positions that have a target, and the gradient of that loss with
 * respect to every weight (`gradients` from onnx/autodiff.ts, the same reverse mode that circuit
 * attribution uses). Weights are graph inputs, fed on every run from the Float32Arrays that AdamW
 * updates in place; they are passed as run feeds, built anew on each step, so no reliance is placed
 * on onnxruntime keeping a reference to a typed array between runs.
 *
 * Decisions, each also stated where it is implemented:
 * - Value biases stay folded into b_O, as weights.ts loads them, and are not trained separately.
 *   Attention rows sum to one, so b_V only ever shifts the attention output by Σ_h b_V[h] W_O[h], the
 *   same role as b_O: the functions the model can express are the same, only the parametrization of
 *   the optimizer differs. Checkpoints are saved with a zero value bias and the folded b_O as the
 *   output-projection bias, so the loader's fold adds exactly zero and a save → load round trip gives
 *   bit-identical canonical weights. Families whose output projection has no bias while q/k/v have
 *   one (Qwen2) cannot be saved that way and are refused.
 * - Tied embeddings are one parameter: the head reads W_Eᵀ inside the graph, so W_E's gradient sums
 *   the lookup's and the head's shares. `Model.load`'s untied copy of W_U is never made here.
 * - AdamW as torch.optim.AdamW (decoupled decay, bias-corrected moments), β 0.9/0.95, ε 1e-6, weight
 *   decay 0.1 on matrices and embeddings only (the HF Trainer exempts biases and norm weights), a
 *   constant learning rate, and gradient clipping by global norm at 1.0 (the HF Trainer's default
 *   `max_grad_norm`; 0 turns it off). No dropout, unlike HF GPT-2's default config; configs written
 *   for models trained from scratch say so with zero dropout probabilities.
 * - Determinism: `initModel`'s seed fixes the initial weights and `train`'s seed the block order of
 *   every epoch, both through our own PRNG. onnxruntime's CPU kernels are deterministic for a fixed
 *   intra-op thread count, but it does not promise the same float summation order for another count,
 *   so bit-identical runs need the same `threads` (default 1) on the same onnxruntime build. (On the
 *   2-core development machine, 1 and 2 threads happened to give identical bytes.)
 * - Packing: documents are concatenated with BOS/EOS separators into fixed-length blocks without
 *   splitting a document across blocks (the spec's custom `group_texts`); the rest of a block is
 *   padding that the loss mask leaves out. Labels are the inputs shifted by one inside the block, as
 *   HF's causal-LM loss does, so a block of n real tokens has n − 1 targets.
 * - The run folder holds checkpoint-N (N = global step) after each epoch, each a complete HF model
 *   folder with trainer_state.json; each is written into a hidden temporary folder and renamed, so an
 *   interrupted run never leaves half a checkpoint.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gradients } from '../onnx/autodiff';
import { GraphBuilder, type Value } from '../onnx/graphBuilder';
import { f32, i64, Session, type HostTensor } from '../runtime/session';
import { Checkpoint, listRunCheckpoints, type RunEntry } from '../model/checkpoint';
import { parseConfig, type ModelSpec } from '../model/config';
import { CancelledError, UserError } from '../errors';
import { batchFeeds } from '../model/runner';
import { encodeSafetensors } from '../model/safetensors';
import { tokenizerFiles, TextTokenizer } from '../model/tokenizer';
import { B, buildTransformer, loadWeights, P, type LoadedWeights } from '../model/transformer';
import { familyDef } from '../model/families';
import { saveTensors } from '../model/families/table';
import type { LayerWeights } from '../model/weights';
import { writeFileAtomic } from '../util/atomicWrite';
import { mulberry32 } from '../util/random';

// ---------------------------------------------------------------------------------------------
// Randomness

/** Standard normal draws by Box–Muller, from a uniform stream. */
function normalStream(uniform: () => number): () => number {
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
const initStream = (seed: number) => mulberry32((seed ^ 0x5eed1417) >>> 0);
const shuffleStream = (seed: number) => mulberry32((seed ^ 0x0b10c5) >>> 0);

// ---------------------------------------------------------------------------------------------
// Trainable models

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
type WeightKey = keyof LayerWeights | 'WE' | 'Wpos' | 'lnfW' | 'lnfB' | 'WU';

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

// ---------------------------------------------------------------------------------------------
// Packed blocks

/** One training block: `tokens` has the block length, of which the first `length` are real. */
export interface Block {
  readonly tokens: readonly number[];
  readonly length: number;
}

export interface PackOptions {
  readonly blockSize: number;
  /** Prepended to every document (the engine prepends BOS to every prompt it analyses). */
  readonly bos?: number;
  /** Appended to every document. */
  readonly eos?: number;
  /** Fills the rest of a block; these positions are masked out of the loss. */
  readonly pad: number;
}

export interface PackResult {
  readonly blocks: Block[];
  /** Documents longer than a block, which had to be cut into consecutive blocks of their own. */
  readonly splitDocuments: number;
  /** Real tokens over all blocks (documents with their separators). */
  readonly tokens: number;
}

/**
 * Packs documents, in order, into fixed-length blocks without splitting a document across blocks
 * (the spec's custom `group_texts`): a document that does not fit in the rest of the current block
 * starts a new one, and the rest of the block is padding. A document longer than a whole block
 * cannot be kept whole anywhere; it is cut into consecutive blocks of its own, and counted.
 */
export function packDocuments(docs: readonly (readonly number[])[], o: PackOptions): PackResult {
  const T = o.blockSize;
  const blocks: Block[] = [];
  let cur: number[] = [];
  let splitDocuments = 0;
  let tokens = 0;
  const close = (): void => {
    // A block of one token has no next-token target, so it would only add padding to a batch.
    if (cur.length >= 2) blocks.push({ length: cur.length, tokens: cur.concat(new Array<number>(T - cur.length).fill(o.pad)) });
    cur = [];
  };
  for (const doc of docs) {
    const seq = [...(o.bos !== undefined ? [o.bos] : []), ...doc, ...(o.eos !== undefined ? [o.eos] : [])];
    tokens += seq.length;
    if (seq.length > T) {
      splitDocuments++;
      close();
      for (let s = 0; s < seq.length; s += T) {
        cur = seq.slice(s, s + T);
        close();
      }
      continue;
    }
    if (cur.length + seq.length > T) close();
    cur.push(...seq);
  }
  close();
  return { blocks, splitDocuments, tokens };
}

/** The token ids of documents given as text (tokenized with the model's tokenizer) or as ids. */
function tokenizeDocuments(model: TrainableModel, docs: readonly (string | readonly number[])[]): (readonly number[])[] {
  return docs.map((doc) => {
    if (typeof doc !== 'string') return doc;
    if (!model.tokenizer) throw new UserError('documents are given as text, but the model has no tokenizer; give tokenizerDir to initModel');
    return model.tokenizer.encode(doc);
  });
}

// ---------------------------------------------------------------------------------------------
// The training graph

/** One trainable weight: its graph input name, the array it is fed from (and updated in), and shape. */
export interface Param {
  readonly name: string;
  readonly data: Float32Array;
  readonly shape: readonly number[];
  /** Weight decay applies: matrices and embeddings, not biases or norm weights. */
  readonly decay: boolean;
}

/**
 * Appends the mean next-token cross-entropy to a forward graph. Graph inputs:
 *   targets    int64   [batch, pos]   the next token at each position (any valid id where masked)
 *   loss_mask  float32 [batch, pos]   1 where the position has a target, 0 at padding and block ends
 */
function appendLoss(b: GraphBuilder, logits: Value, V: number): Value {
  const targets = b.input('targets', 'int64', [B, P]);
  const mask = b.input('loss_mask', 'float32', [B, P]);
  const logp = b.unary('LogSoftmax', logits, { axis: { kind: 'int', value: -1 } }); // [batch, pos, V]
  const vocab = b.constant(BigInt64Array.from({ length: V }, (_, i) => BigInt(i)), [V]); // [V]
  const onehot = b.cast(b.compare('Equal', b.unsqueeze(targets, [2]), vocab), 'float32'); // [batch, pos, V]
  const nll = b.reduceSum(b.mul(logp, onehot), [2], false).neg(); // [batch, pos]
  const count = b.reduceSum(mask, [0, 1], false); // []
  return b.div(b.reduceSum(b.mul(nll, mask), [0, 1], false), count); // []
}

export interface TrainerOptions {
  /** Intra-op threads for onnxruntime (default 1; 0: one per core). Bit-identical runs need the same count. */
  readonly threads?: number;
  /** The pad id for batches; masked, but it must be a valid token id. */
  readonly padId?: number;
}

/** What one forward and backward pass gives. */
export interface LossAndGradients {
  readonly loss: number;
  /** dLoss/dW, shaped like the model's canonical weights. */
  readonly grads: LoadedWeights;
  /** The same gradients by parameter, in `Trainer.params` order. */
  readonly byParam: readonly Float32Array[];
}

export interface OptimizerOptions {
  readonly learningRate: number;
  readonly beta1?: number;
  readonly beta2?: number;
  readonly eps?: number;
  readonly weightDecay?: number;
  /** Clip the gradients' global L2 norm to this; 0 or Infinity turns clipping off. Default 1.0. */
  readonly maxGradNorm?: number;
}

export interface StepResult {
  readonly loss: number;
  /** The global gradient norm before clipping (what the HF Trainer logs as grad_norm). */
  readonly gradNorm: number;
  /** Real (unpadded) tokens in the batch. */
  readonly tokens: number;
}

/**
 * One model's training graph and optimizer state. The graph has symbolic batch and position sizes,
 * so one compiled session serves every batch of a run, the last, smaller one included.
 */
export class Trainer {
  private t = 0;
  private readonly m: Float32Array[];
  private readonly v: Float32Array[];

  private constructor(
    readonly model: TrainableModel,
    readonly params: readonly Param[],
    private readonly session: Session,
    private readonly padId: number,
  ) {
    this.m = params.map((p) => new Float32Array(p.data.length));
    this.v = params.map((p) => new Float32Array(p.data.length));
  }

  static async create(model: TrainableModel, opts: TrainerOptions = {}): Promise<Trainer> {
    const spec = model.spec;
    // Weights are recognised by array identity: buildTransformer registers the model's own arrays.
    const keyOf = new Map<Float32Array, WeightKey>();
    mapWeights(model.weights, (x, key) => {
      keyOf.set(x, key);
      return x;
    });
    const b = new GraphBuilder();
    const logits = buildTransformer(b, spec, model.weights, { fullLogits: true }); // [batch, pos, V]
    const loss = appendLoss(b, logits, spec.vocabSize); // []
    const params: Param[] = [];
    const values: Value[] = [];
    for (const [v, t] of b.tensors) {
      if (v.kind !== 'weight') continue;
      const key = keyOf.get(t.data as Float32Array);
      if (key === undefined) throw new Error(`graph weight ${v.name} is not one of the model's arrays`);
      params.push({ name: v.name!, data: t.data as Float32Array, shape: t.shape, decay: key.startsWith('W') });
      values.push(v);
    }
    const grads = gradients(b, loss, values);
    b.output('loss', loss);
    grads.forEach((g, i) => {
      if (!g) throw new Error(`no gradient reaches weight ${params[i].name}`);
      b.output(`grad.${params[i].name}`, g);
    });
    const session = await Session.create(b.serialize({ weightsAsInputs: true }), { threads: opts.threads ?? 1 });
    const padId = opts.padId ?? spec.eosTokenId ?? 0;
    return new Trainer(model, params, session, padId);
  }

  /** The optimizer steps taken so far. */
  get steps(): number {
    return this.t;
  }

  /** The loss and its gradients on a batch of equal-length blocks, without changing the weights. */
  async lossAndGradients(batch: readonly Block[]): Promise<LossAndGradients> {
    if (batch.length === 0) throw new Error('empty batch');
    const T = batch[0].tokens.length;
    const { feeds } = batchFeeds(this.model.spec, batch.map((blk) => blk.tokens), this.padId);
    const targets = new BigInt64Array(batch.length * T).fill(BigInt(this.padId)); // [batch, pos]
    const mask = new Float32Array(batch.length * T); // [batch, pos]
    batch.forEach((blk, i) => {
      if (blk.tokens.length !== T) throw new Error(`blocks of a batch must have one length (${blk.tokens.length} vs ${T})`);
      for (let p = 0; p + 1 < blk.length; p++) {
        targets[i * T + p] = BigInt(blk.tokens[p + 1]);
        mask[i * T + p] = 1;
      }
    });
    if (!mask.some((x) => x > 0)) throw new Error('batch has no next-token targets');
    const all: Record<string, HostTensor> = { ...feeds, targets: i64(targets, [batch.length, T]), loss_mask: f32(mask, [batch.length, T]) };
    for (const p of this.params) all[p.name] = f32(p.data, p.shape);
    const out = await this.session.run(all);
    const byParam = this.params.map((p) => out[`grad.${p.name}`].data as Float32Array);
    const gradOf = new Map(this.params.map((p, i) => [p.data, byParam[i]]));
    return { loss: (out.loss.data as Float32Array)[0], grads: mapWeights(this.model.weights, (x) => gradOf.get(x)!), byParam };
  }

  /**
   * One optimizer step: loss and gradients, clipping by global norm, then AdamW as torch.optim.AdamW
   * computes it: decoupled decay p ← p(1 − lr·wd), then p ← p − lr/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + ε).
   */
  async step(batch: readonly Block[], o: OptimizerOptions): Promise<StepResult> {
    const { loss, byParam } = await this.lossAndGradients(batch);
    if (!Number.isFinite(loss)) {
      throw new UserError(`training diverged at step ${this.t + 1}: the loss is ${loss}; lower the learning rate`);
    }
    let sq = 0;
    for (const g of byParam) for (let i = 0; i < g.length; i++) sq += g[i] * g[i];
    const gradNorm = Math.sqrt(sq);
    const maxNorm = o.maxGradNorm ?? 1;
    // As torch's clip_grad_norm_: scale by max/(norm + 1e-6) when that is below one.
    const clip = maxNorm > 0 && Number.isFinite(maxNorm) ? Math.min(1, maxNorm / (gradNorm + 1e-6)) : 1;
    const lr = o.learningRate;
    const b1 = o.beta1 ?? 0.9;
    const b2 = o.beta2 ?? 0.95;
    const eps = o.eps ?? 1e-6;
    const wd = o.weightDecay ?? 0.1;
    this.t++;
    const stepSize = lr / (1 - b1 ** this.t);
    const bc2Sqrt = Math.sqrt(1 - b2 ** this.t);
    this.params.forEach((p, k) => {
      const x = p.data;
      const g = byParam[k];
      const m = this.m[k];
      const v = this.v[k];
      const decay = p.decay ? 1 - lr * wd : 1;
      for (let i = 0; i < x.length; i++) {
        const gi = g[i] * clip;
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        x[i] = x[i] * decay - (stepSize * m[i]) / (Math.sqrt(v[i]) / bc2Sqrt + eps);
      }
    });
    return { loss, gradNorm, tokens: batch.reduce((s, blk) => s + blk.length, 0) };
  }

  async dispose(): Promise<void> {
    await this.session.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// Model folders and the run folder

/** Writes a file and flushes it to disk, so that the rename that publishes its folder publishes data. */
function writeSynced(file: string, data: string | Uint8Array): void {
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Writes a model folder in HF layout: config.json, model.safetensors (F32), the tokenizer files and
 * generation_config.json of the source, and any extra JSON files. Everything is written into a
 * hidden temporary folder beside `dir`, which is then renamed to `dir`: a crash or cancellation
 * leaves either no folder or a complete one, never half a checkpoint. An existing `dir` is replaced.
 */
export function saveModel(dir: string, model: TrainableModel, extraJson: Record<string, unknown> = {}): void {
  const parent = path.dirname(path.resolve(dir));
  fs.mkdirSync(parent, { recursive: true });
  const tmp = path.join(parent, `.${path.basename(dir)}.tmp-${process.pid}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp);
  try {
    const config = { ...model.config, torch_dtype: 'float32' };
    writeSynced(path.join(tmp, 'config.json'), JSON.stringify(config, null, 2) + '\n');
    writeSynced(path.join(tmp, 'model.safetensors'), encodeSafetensors(saveTensors(familyDef(model.spec.family), model.spec, model.weights)));
    if (model.tokenizerDir) {
      for (const f of tokenizerFiles) {
        const src = path.join(model.tokenizerDir, f);
        if (fs.existsSync(src)) writeSynced(path.join(tmp, f), fs.readFileSync(src));
      }
    }
    if (model.generationConfig) writeSynced(path.join(tmp, 'generation_config.json'), fs.readFileSync(model.generationConfig));
    for (const [name, value] of Object.entries(extraJson)) writeSynced(path.join(tmp, name), JSON.stringify(value, null, 2) + '\n');
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(tmp, dir);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** One entry of trainer_state.json's log_history, in the HF Trainer's field names. */
export interface LogEntry {
  readonly epoch: number;
  readonly step: number;
  readonly loss: number;
  readonly grad_norm: number;
  readonly learning_rate: number;
}

export type TrainProgress =
  | {
      readonly type: 'step';
      readonly step: number;
      readonly totalSteps: number;
      /** Fractional epoch, as the HF Trainer logs it. */
      readonly epoch: number;
      readonly loss: number;
      readonly gradNorm: number;
      /** Real tokens per second of training so far (checkpoint writing excluded). */
      readonly tokensPerSecond: number;
    }
  | { readonly type: 'checkpoint'; readonly step: number; readonly epoch: number; readonly dir: string };

export interface TrainOptions extends OptimizerOptions {
  readonly model: TrainableModel;
  /** Training documents: text (tokenized with the model's tokenizer) or token ids, in packing order. */
  readonly documents: readonly (string | readonly number[])[];
  /** The run folder; it receives checkpoint-N for each epoch (N = global step). */
  readonly runDir: string;
  readonly epochs: number;
  /** Blocks per optimizer step. */
  readonly batchSize: number;
  /** Tokens per block. */
  readonly blockSize: number;
  /** Seeds the block order of every epoch. Default 42, the HF Trainer's default seed. */
  readonly seed?: number;
  /** Intra-op threads for onnxruntime (default 1, for bit-identical runs; 0: one per core). */
  readonly threads?: number;
  /** Log the mean loss every this many steps (default 50, as the spec's runs). */
  readonly loggingSteps?: number;
  /** Prepend BOS to every document (default: when the model has a BOS id). */
  readonly addBos?: boolean;
  /** Append EOS to every document (default: when the model has an EOS id that differs from BOS). */
  readonly addEos?: boolean;
  /** Replace checkpoints already in runDir; without it, a run folder that has some is refused. */
  readonly overwrite?: boolean;
  readonly onProgress?: (p: TrainProgress) => void;
  readonly signal?: AbortSignal;
}

export interface TrainResult {
  /** The checkpoints written, in step order. */
  readonly checkpoints: readonly RunEntry[];
  readonly logHistory: readonly LogEntry[];
  /** The loss of every step. */
  readonly stepLosses: readonly number[];
  readonly stepsPerEpoch: number;
  readonly blocks: number;
  readonly splitDocuments: number;
  /** Real tokens trained per second (checkpoint writing excluded). */
  readonly tokensPerSecond: number;
  readonly trainSeconds: number;
}

function positiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new UserError(`${name} must be a positive integer, got ${v}`);
}

/** In-place Fisher–Yates shuffle. */
function shuffle<T>(xs: T[], rand: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

/** Non-embedding parameters, as HF's `floating_point_ops` counts them (6 · params · tokens). */
function nonEmbeddingParams(params: readonly Param[]): number {
  return params.filter((p) => !/^(embed|pos_embed|unembed)\./.test(p.name)).reduce((s, p) => s + p.data.length, 0);
}

/**
 * Trains for whole epochs and writes checkpoint-N after each, as the HF Trainer with
 * `save_strategy="epoch"` (there is no checkpoint-0). Every epoch visits the packed blocks in a new
 * order drawn from the seed, `batchSize` blocks per step, the last batch possibly smaller (HF's
 * default `dataloader_drop_last=False`). On abort the run stops before the next step and throws
 * CancelledError; checkpoints already written stay, and none is half written.
 */
export async function train(o: TrainOptions): Promise<TrainResult> {
  positiveInt('epochs', o.epochs);
  positiveInt('batchSize', o.batchSize);
  positiveInt('blockSize', o.blockSize);
  if (o.blockSize < 2) throw new UserError('blockSize must be at least 2: a block needs a token and its next token');
  if (!(o.learningRate > 0)) throw new UserError(`learningRate must be positive, got ${o.learningRate}`);
  const loggingSteps = o.loggingSteps ?? 50;
  positiveInt('loggingSteps', loggingSteps);
  const spec = o.model.spec;
  if (o.blockSize > spec.maxPositions) {
    throw new UserError(`blockSize ${o.blockSize} is longer than the model's context of ${spec.maxPositions} (config.json max positions)`);
  }
  const bos = o.model.tokenizer?.bosId(spec.bosTokenId) ?? spec.bosTokenId;
  const eos = spec.eosTokenId;
  for (const [name, id] of [['bos_token_id', bos], ['eos_token_id', eos]] as const) {
    if (id !== undefined && (id < 0 || id >= spec.vocabSize)) {
      throw new UserError(`config.json: '${name}' = ${id} is outside the vocabulary (size ${spec.vocabSize}); set it to the tokenizer's id`);
    }
  }
  const addBos = o.addBos ?? bos !== undefined;
  const addEos = o.addEos ?? (eos !== undefined && eos !== bos);
  if (addBos && bos === undefined) throw new UserError('addBos is set, but the model has no BOS token id (config.json bos_token_id)');
  if (addEos && eos === undefined) throw new UserError('addEos is set, but the model has no EOS token id (config.json eos_token_id)');
  const pad = eos ?? bos ?? 0;
  const packed = packDocuments(tokenizeDocuments(o.model, o.documents), {
    blockSize: o.blockSize,
    bos: addBos ? bos : undefined,
    eos: addEos ? eos : undefined,
    pad,
  });
  if (packed.blocks.length === 0) throw new UserError('no training data: the documents pack into no block with a next-token target');

  const existing = listRunCheckpoints(o.runDir);
  if (existing.length > 0) {
    if (!o.overwrite) {
      throw new UserError(`${o.runDir}: the run folder already has ${existing.length} checkpoints; choose a new folder or turn on overwrite`);
    }
    for (const c of existing) fs.rmSync(c.dir, { recursive: true, force: true });
  }
  fs.mkdirSync(o.runDir, { recursive: true });

  const seed = o.seed ?? 42;
  const nBlocks = packed.blocks.length;
  const stepsPerEpoch = Math.ceil(nBlocks / o.batchSize);
  const totalSteps = stepsPerEpoch * o.epochs;
  const threads = o.threads ?? 1;
  // A readable record of the run's arguments under TrainingArguments' names. HF writes a pickled
  // training_args.bin instead; pickles can run code when loaded, so this project neither writes nor reads one.
  const trainingArgs = {
    learning_rate: o.learningRate,
    lr_scheduler_type: 'constant',
    optim: 'adamw_torch',
    adam_beta1: o.beta1 ?? 0.9,
    adam_beta2: o.beta2 ?? 0.95,
    adam_epsilon: o.eps ?? 1e-6,
    weight_decay: o.weightDecay ?? 0.1,
    max_grad_norm: o.maxGradNorm ?? 1,
    num_train_epochs: o.epochs,
    per_device_train_batch_size: o.batchSize,
    gradient_accumulation_steps: 1,
    block_size: o.blockSize,
    logging_steps: loggingSteps,
    save_strategy: 'epoch',
    seed,
    onnxruntime_intra_op_threads: threads,
    documents: o.documents.length,
    blocks: nBlocks,
    split_documents: packed.splitDocuments,
  };

  const trainer = await Trainer.create(o.model, { threads, padId: pad });
  const flopsPerToken = 6 * nonEmbeddingParams(trainer.params);
  const rand = shuffleStream(seed);
  const logHistory: LogEntry[] = [];
  const stepLosses: number[] = [];
  const checkpoints: RunEntry[] = [];
  let tokensSeen = 0;
  let trainMs = 0;
  let sinceLog = 0;
  // The field names and meanings of transformers' TrainerState, with no other keys, so that
  // TrainerState.load_from_json (a dataclass constructor) reads the file.
  const stateFields = (epoch: number, step: number) => ({
    epoch,
    eval_steps: loggingSteps,
    global_step: step,
    logging_steps: loggingSteps,
    max_steps: totalSteps,
    num_input_tokens_seen: tokensSeen,
    num_train_epochs: o.epochs,
    save_steps: stepsPerEpoch,
    total_flos: flopsPerToken * tokensSeen,
    train_batch_size: o.batchSize,
  });
  try {
    for (let epoch = 0; epoch < o.epochs; epoch++) {
      const order = shuffle(Array.from({ length: nBlocks }, (_, i) => i), rand);
      for (let s = 0; s < stepsPerEpoch; s++) {
        if (o.signal?.aborted) throw new CancelledError();
        const batch = order.slice(s * o.batchSize, (s + 1) * o.batchSize).map((i) => packed.blocks[i]);
        const t0 = performance.now();
        const r = await trainer.step(batch, o);
        trainMs += performance.now() - t0;
        tokensSeen += r.tokens;
        stepLosses.push(r.loss);
        sinceLog += r.loss;
        const step = trainer.steps;
        const epochF = step / stepsPerEpoch;
        if (step % loggingSteps === 0) {
          logHistory.push({ epoch: epochF, grad_norm: r.gradNorm, learning_rate: o.learningRate, loss: sinceLog / loggingSteps, step });
          sinceLog = 0;
        }
        o.onProgress?.({ type: 'step', step, totalSteps, epoch: epochF, loss: r.loss, gradNorm: r.gradNorm, tokensPerSecond: tokensSeen / (trainMs / 1000) });
      }
      if (o.signal?.aborted) throw new CancelledError();
      const step = trainer.steps;
      const dir = path.join(o.runDir, `checkpoint-${step}`);
      const trainerState = {
        ...stateFields(epoch + 1, step),
        best_metric: null,
        best_model_checkpoint: null,
        is_hyper_param_search: false,
        is_local_process_zero: true,
        is_world_process_zero: true,
        log_history: [...logHistory],
        trial_name: null,
        trial_params: null,
      };
      saveModel(dir, o.model, { 'trainer_state.json': trainerState, 'training_args.json': trainingArgs });
      checkpoints.push({ dir, step });
      o.onProgress?.({ type: 'checkpoint', step, epoch: epoch + 1, dir });
    }
  } finally {
    await trainer.dispose();
  }
  const trainSeconds = trainMs / 1000;
  const tokensPerSecond = tokensSeen / trainSeconds;
  // The run folder's own trainer_state.json, as trainer.save_state() leaves it: the log ends with the summary.
  const summary = {
    epoch: o.epochs,
    step: totalSteps,
    total_flos: flopsPerToken * tokensSeen,
    train_loss: stepLosses.reduce((a, b) => a + b, 0) / stepLosses.length,
    train_runtime: trainSeconds,
    train_samples_per_second: (nBlocks * o.epochs) / trainSeconds,
    train_steps_per_second: totalSteps / trainSeconds,
  };
  const runState = { ...stateFields(o.epochs, totalSteps), log_history: [...logHistory, summary] };
  writeFileAtomic(path.join(o.runDir, 'trainer_state.json'), JSON.stringify(runState, null, 2) + '\n');
  return { checkpoints, logHistory, stepLosses, stepsPerEpoch, blocks: nBlocks, splitDocuments: packed.splitDocuments, tokensPerSecond, trainSeconds };
}
