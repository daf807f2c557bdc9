/**
 * The training graph (forward, mean next-token cross-entropy, gradients of every weight) and one
 * AdamW step on it.
 */
import { gradients } from '../../engine/onnx/autodiff';
import { GraphBuilder, type Value } from '../../engine/onnx/graphBuilder';
import { f32, i64, Session, type HostTensor } from '../../engine/runtime/session';
import { UserError } from '../../engine/errors';
import { batchFeeds } from '../../engine/model/runner';
import { B, buildTransformer, P, type LoadedWeights } from '../../engine/model/transformer';
import { mapWeights, type TrainableModel, type WeightKey } from './models';
import type { Block } from './blocks';

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
