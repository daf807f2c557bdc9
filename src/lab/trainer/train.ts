/**
 * The demo lab's trainer (this folder): causal language-model training on the engine's own graphs, writing a run
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
import { listRunCheckpoints, type RunEntry } from '../../engine/model/checkpoint';
import { CancelledError, UserError } from '../../engine/errors';
import { writeFileAtomic } from '../../engine/util/atomicWrite';
import { packDocuments, tokenizeDocuments } from './blocks';
import { saveModel } from './checkpoints';
import { Trainer, type OptimizerOptions, type Param } from './graph';
import { shuffleStream, type TrainableModel } from './models';

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
  /**
   * Called after each epoch's checkpoint is written (after its 'checkpoint' progress event); when it
   * resolves to true, training stops there, as the HF Trainer's early stopping does: `epochs` is then
   * the cap, the checkpoints keep it as `num_train_epochs`/`max_steps`, and the run folder's own state
   * ends with the epochs and steps actually trained.
   */
  readonly afterEpoch?: (c: { readonly epoch: number; readonly step: number; readonly dir: string }) => boolean | Promise<boolean>;
  readonly signal?: AbortSignal;
}

export interface TrainResult {
  /** The checkpoints written, in step order. */
  readonly checkpoints: readonly RunEntry[];
  readonly logHistory: readonly LogEntry[];
  /** The loss of every step. */
  readonly stepLosses: readonly number[];
  readonly stepsPerEpoch: number;
  /** Epochs trained: `epochs`, or fewer when `afterEpoch` stopped the run. */
  readonly epochs: number;
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

/** The packed blocks and the special tokens of a run, after every option was checked. */
interface Prepared {
  readonly packed: ReturnType<typeof packDocuments>;
  readonly pad: number;
  readonly loggingSteps: number;
}

/** Checks the options and packs the documents; refuses a run folder that already has checkpoints unless overwriting. */
function prepare(o: TrainOptions): Prepared {
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
  const packed = packDocuments(tokenizeDocuments(o.model, o.documents), { blockSize: o.blockSize, bos: addBos ? bos : undefined, eos: addEos ? eos : undefined, pad });
  if (packed.blocks.length === 0) throw new UserError('no training data: the documents pack into no block with a next-token target');

  const existing = listRunCheckpoints(o.runDir);
  if (existing.length > 0) {
    if (!o.overwrite) {
      throw new UserError(`${o.runDir}: the run folder already has ${existing.length} checkpoints; choose a new folder or turn on overwrite`);
    }
    for (const c of existing) fs.rmSync(c.dir, { recursive: true, force: true });
  }
  fs.mkdirSync(o.runDir, { recursive: true });
  return { packed, pad, loggingSteps };
}

/**
 * A readable record of the run's arguments under TrainingArguments' names. HF writes a pickled
 * training_args.bin instead; pickles can run code when loaded, so this project neither writes nor reads one.
 */
function trainingArguments(o: TrainOptions, p: Prepared, seed: number, threads: number): Record<string, unknown> {
  return {
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
    logging_steps: p.loggingSteps,
    save_strategy: 'epoch',
    seed,
    onnxruntime_intra_op_threads: threads,
    documents: o.documents.length,
    blocks: p.packed.blocks.length,
    split_documents: p.packed.splitDocuments,
  };
}

/** The state of a run between steps: logs, losses, tokens and time. */
class Run {
  readonly logHistory: LogEntry[] = [];
  readonly stepLosses: number[] = [];
  readonly checkpoints: RunEntry[] = [];
  tokensSeen = 0;
  trainMs = 0;
  /** Epochs completed. */
  epochsDone = 0;
  private sinceLog = 0;

  constructor(
    readonly o: TrainOptions,
    readonly p: Prepared,
    readonly trainer: Trainer,
    readonly stepsPerEpoch: number,
    readonly flopsPerToken: number,
  ) {}

  get totalSteps(): number {
    return this.stepsPerEpoch * this.o.epochs;
  }

  /**
   * The field names and meanings of transformers' TrainerState, with no other keys, so that
   * TrainerState.load_from_json (a dataclass constructor) reads the file.
   */
  stateFields(epoch: number, step: number) {
    return {
      epoch,
      eval_steps: this.p.loggingSteps,
      global_step: step,
      logging_steps: this.p.loggingSteps,
      max_steps: this.totalSteps,
      num_input_tokens_seen: this.tokensSeen,
      num_train_epochs: this.o.epochs,
      save_steps: this.stepsPerEpoch,
      total_flos: this.flopsPerToken * this.tokensSeen,
      train_batch_size: this.o.batchSize,
    };
  }

  /** One optimizer step on the blocks at these indices. */
  async step(indices: readonly number[]): Promise<void> {
    const o = this.o;
    const t0 = performance.now();
    const r = await this.trainer.step(indices.map((i) => this.p.packed.blocks[i]), o);
    this.trainMs += performance.now() - t0;
    this.tokensSeen += r.tokens;
    this.stepLosses.push(r.loss);
    this.sinceLog += r.loss;
    const step = this.trainer.steps;
    const epoch = step / this.stepsPerEpoch;
    if (step % this.p.loggingSteps === 0) {
      this.logHistory.push({ epoch, grad_norm: r.gradNorm, learning_rate: o.learningRate, loss: this.sinceLog / this.p.loggingSteps, step });
      this.sinceLog = 0;
    }
    o.onProgress?.({ type: 'step', step, totalSteps: this.totalSteps, epoch, loss: r.loss, gradNorm: r.gradNorm, tokensPerSecond: this.tokensSeen / (this.trainMs / 1000) });
  }

  /** checkpoint-N after an epoch, with its trainer_state.json. */
  saveCheckpoint(epoch: number, trainingArgs: Record<string, unknown>): void {
    const step = this.trainer.steps;
    const dir = path.join(this.o.runDir, `checkpoint-${step}`);
    const trainerState = {
      ...this.stateFields(epoch, step),
      best_metric: null,
      best_model_checkpoint: null,
      is_hyper_param_search: false,
      is_local_process_zero: true,
      is_world_process_zero: true,
      log_history: [...this.logHistory],
      trial_name: null,
      trial_params: null,
    };
    saveModel(dir, this.o.model, { 'trainer_state.json': trainerState, 'training_args.json': trainingArgs });
    this.checkpoints.push({ dir, step });
    this.o.onProgress?.({ type: 'checkpoint', step, epoch, dir });
  }

  /** The run folder's own trainer_state.json, as trainer.save_state() leaves it: the log ends with the summary. */
  writeRunState(): void {
    const epochs = this.epochsDone;
    const steps = this.trainer.steps;
    const trainSeconds = this.trainMs / 1000;
    const summary = {
      epoch: epochs,
      step: steps,
      total_flos: this.flopsPerToken * this.tokensSeen,
      train_loss: this.stepLosses.reduce((a, b) => a + b, 0) / this.stepLosses.length,
      train_runtime: trainSeconds,
      train_samples_per_second: (this.p.packed.blocks.length * epochs) / trainSeconds,
      train_steps_per_second: steps / trainSeconds,
    };
    const runState = { ...this.stateFields(epochs, steps), log_history: [...this.logHistory, summary] };
    writeFileAtomic(path.join(this.o.runDir, 'trainer_state.json'), JSON.stringify(runState, null, 2) + '\n');
  }
}

/**
 * Trains for whole epochs and writes checkpoint-N after each, as the HF Trainer with
 * `save_strategy="epoch"` (there is no checkpoint-0). Every epoch visits the packed blocks in a new
 * order drawn from the seed, `batchSize` blocks per step, the last batch possibly smaller (HF's
 * default `dataloader_drop_last=False`). On abort the run stops before the next step and throws
 * CancelledError; checkpoints already written stay, and none is half written.
 */
export async function train(o: TrainOptions): Promise<TrainResult> {
  const p = prepare(o);
  const seed = o.seed ?? 42;
  const nBlocks = p.packed.blocks.length;
  const stepsPerEpoch = Math.ceil(nBlocks / o.batchSize);
  const threads = o.threads ?? 1;
  const trainingArgs = trainingArguments(o, p, seed, threads);
  const trainer = await Trainer.create(o.model, { threads, padId: p.pad });
  const run = new Run(o, p, trainer, stepsPerEpoch, 6 * nonEmbeddingParams(trainer.params));
  const rand = shuffleStream(seed);
  try {
    for (let epoch = 0; epoch < o.epochs; epoch++) {
      const order = shuffle(Array.from({ length: nBlocks }, (_, i) => i), rand);
      for (let s = 0; s < stepsPerEpoch; s++) {
        if (o.signal?.aborted) throw new CancelledError();
        await run.step(order.slice(s * o.batchSize, (s + 1) * o.batchSize));
      }
      if (o.signal?.aborted) throw new CancelledError();
      run.saveCheckpoint(epoch + 1, trainingArgs);
      run.epochsDone = epoch + 1;
      const last = run.checkpoints[run.checkpoints.length - 1];
      if (o.afterEpoch && (await o.afterEpoch({ epoch: epoch + 1, step: last.step, dir: last.dir }))) break;
    }
  } finally {
    await trainer.dispose();
  }
  run.writeRunState();
  const trainSeconds = run.trainMs / 1000;
  return {
    checkpoints: run.checkpoints,
    logHistory: run.logHistory,
    stepLosses: run.stepLosses,
    stepsPerEpoch,
    epochs: run.epochsDone,
    blocks: nBlocks,
    splitDocuments: p.packed.splitDocuments,
    tokensPerSecond: run.tokensSeen / trainSeconds,
    trainSeconds,
  };
}
