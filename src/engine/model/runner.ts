/**
 * The engine's model API: open a checkpoint, compile it, run batches with right padding, generate.
 */
import { GraphBuilder } from '../onnx/graphBuilder';
import { f32, i64, Session, type HostTensor } from '../runtime/session';
import type { DeviceRequest } from '../runtime/device';
import { Checkpoint } from './checkpoint';
import type { ModelSpec } from './config';
import { UserError } from '../errors';
import { buildTransformer, loadWeights, ropeTables, type CompileOptions, type LoadedWeights } from './transformer';
import { LayerStore, planExecution, StageRunner, type Execution, type Stage, type StreamPlan } from './stages';
import type { LayerWeights } from './families/table';

export interface ModelOptions {
  /** Intra-op threads for onnxruntime (0: one per core). */
  readonly threads?: number;
  /** Prepend the BOS token to every prompt (the method's convention). */
  readonly prependBos?: boolean;
  /**
   * 'inputs' (default): weights are graph inputs fed from one copy in memory, shared by every compiled
   * graph of the model. 'initializers': each session holds its own copy (lets onnxruntime prepack).
   */
  readonly weightsAs?: 'inputs' | 'initializers';
  /** Where the graphs run: 'auto' (default; CUDA when onnxruntime-node's CUDA provider is installed), 'cpu' or 'cuda'. */
  readonly device?: DeviceRequest;
  /**
   * 'whole': one graph for the whole model; 'streamed': block by block (model/stages.ts); 'auto'
   * (default): streamed when the model's float32 weights do not fit the memory budget.
   */
  readonly execution?: Execution;
  /** The memory budget in MiB that 'auto' plans for (default: a third of the machine's memory, at most 80 % of what is free). */
  readonly memoryBudgetMiB?: number;
  /** Layers per stage when streamed (default: from the budget). */
  readonly stageLayers?: number;
}

/** Feeds for a right-padded batch of token sequences. */
export interface BatchFeeds {
  readonly feeds: Record<string, HostTensor>;
  readonly lengths: readonly number[];
  readonly nPos: number;
}

/**
 * The additive attention mask [nPos, nPos]: key j is visible from query i when j <= i and, with a
 * sliding window W, i − j < W (transformers' masking_utils).
 */
export function attentionBias(nPos: number, window?: number): Float32Array {
  const bias = new Float32Array(nPos * nPos);
  for (let i = 0; i < nPos; i++) for (let j = 0; j < nPos; j++) if (j > i || (window !== undefined && i - j >= window)) bias[i * nPos + j] = -1e9;
  return bias;
}

/** Builds the graph inputs for a batch: tokens padded on the right, a causal bias, the last-position selector. */
export function batchFeeds(spec: ModelSpec, seqs: readonly (readonly number[])[], padId = 0): BatchFeeds {
  if (seqs.length === 0) throw new UserError('empty batch');
  const nPos = Math.max(...seqs.map((s) => s.length));
  if (seqs.some((s) => s.length === 0)) throw new UserError('the prompt is empty and BOS is off, so there is no position to predict from; give a non-empty prompt or leave BOS on');
  if (nPos > spec.maxPositions) {
    throw new UserError(`the prompt is ${nPos} tokens, longer than the model's context of ${spec.maxPositions} (config.json max positions); shorten the prompt`);
  }
  const nB = seqs.length;
  const tokens = new BigInt64Array(nB * nPos).fill(BigInt(padId));
  const select = new Float32Array(nB * nPos);
  seqs.forEach((s, i) => {
    for (let p = 0; p < s.length; p++) {
      if (!Number.isInteger(s[p]) || s[p] < 0 || s[p] >= spec.vocabSize) {
        throw new UserError(`token id ${s[p]} is outside the vocabulary (size ${spec.vocabSize})`);
      }
      tokens[i * nPos + p] = BigInt(s[p]);
    }
    select[i * nPos + s.length - 1] = 1;
  });
  const feeds: Record<string, HostTensor> = {
    tokens: i64(tokens, [nB, nPos]),
    attn_bias: f32(attentionBias(nPos), [nPos, nPos]),
    select: f32(select, [nB, 1, nPos]),
  };
  const sliding = spec.layerTypes.includes('sliding');
  if (sliding) feeds.attn_bias_local = f32(attentionBias(nPos, spec.slidingWindow), [nPos, nPos]);
  if (spec.positional === 'learned') {
    feeds.positions = i64(Array.from({ length: nPos }, (_, p) => p), [nPos]);
  } else {
    const { cos, sin } = ropeTables(spec, nPos);
    feeds.rope_cos = f32(cos, [nPos, spec.rotaryDim]);
    feeds.rope_sin = f32(sin, [nPos, spec.rotaryDim]);
    if (sliding && spec.ropeLocal) {
      const local = ropeTables(spec, nPos, true);
      feeds.rope_cos_local = f32(local.cos, [nPos, spec.rotaryDim]);
      feeds.rope_sin_local = f32(local.sin, [nPos, spec.rotaryDim]);
    }
  }
  return { feeds, lengths: seqs.map((s) => s.length), nPos };
}

/**
 * A loaded model. Compiled graphs are cached per variant. A model runs whole (its weights read once,
 * in float32) or block-streamed (`stages`: weights read per stage as passes need them), as planned
 * from its size and the memory budget when it is opened.
 */
export class Model {
  private readonly sessions = new Map<string, Promise<Session>>();
  private loaded?: LoadedWeights;
  /** The stage runner of a streamed model; undefined when it runs whole. */
  readonly stages?: StageRunner;

  private constructor(
    readonly checkpoint: Checkpoint,
    readonly options: ModelOptions,
    plan: StreamPlan | undefined,
  ) {
    if (plan) this.stages = new StageRunner(checkpoint.spec, plan, new LayerStore(checkpoint.weights, plan.residentBytes, plan.residentGlobals), { threads: options.threads, device: options.device });
  }

  static async load(dir: string, options: ModelOptions = {}): Promise<Model> {
    const ckpt = Checkpoint.open(dir);
    if (options.memoryBudgetMiB !== undefined && !(options.memoryBudgetMiB > 0)) throw new UserError(`the memory budget must be a positive number of MiB, got ${options.memoryBudgetMiB}`);
    const plan = planExecution(ckpt.spec, {
      execution: options.execution,
      budgetBytes: options.memoryBudgetMiB === undefined ? undefined : options.memoryBudgetMiB * 2 ** 20,
      stageLayers: options.stageLayers,
      file: ckpt.dir,
    });
    const model = new Model(ckpt, options, plan);
    // A whole model reads its weights now, so that a bad tensor fails the open.
    if (!plan) void model.weights;
    return model;
  }

  /** Every weight in float32, read on first use (a whole model; a streamed one reads per stage). */
  get weights(): LoadedWeights {
    if (this.stages) throw new Error('internal: a streamed model has no whole-model weights; use globals() and layerWeights()');
    // A tied head reads W_E in place (Gemm with transB): no transposed copy of the embedding.
    return (this.loaded ??= loadWeights(this.checkpoint.weights));
  }

  /** The weights outside the layers (embeddings, final norm, unembedding). */
  globals(): Omit<LoadedWeights, 'layers'> {
    return this.stages ? this.stages.store.globals() : this.weights;
  }

  /** One layer's weights. */
  layerWeights(l: number): LayerWeights {
    return this.stages ? this.stages.store.layer(l) : this.weights.layers[l];
  }

  /** Whether the model runs block-streamed, and in how many stages. */
  get execution(): { readonly mode: 'whole' | 'streamed'; readonly stages: readonly Stage[] } {
    return this.stages ? { mode: 'streamed', stages: this.stages.plan.stages } : { mode: 'whole', stages: [{ from: 0, to: this.spec.nLayers }] };
  }

  get spec(): ModelSpec {
    return this.checkpoint.spec;
  }

  get tokenizer() {
    return this.checkpoint.tokenizer;
  }

  /** Token ids of a prompt, with BOS prepended unless turned off. */
  encodePrompt(text: string): number[] {
    const ids = this.tokenizer.encode(text);
    if (this.options.prependBos === false) return ids;
    const bos = this.checkpoint.bosId;
    if (bos === undefined) {
      throw new UserError(`${this.checkpoint.dir}: the model has no BOS token (config.json bos_token_id, tokenizer_config.json bos_token); turn BOS off`);
    }
    return [bos, ...ids];
  }

  /** A compiled session for a graph variant; `build` may add outputs through the hook. */
  session(key: string, opts: CompileOptions, extra?: (b: GraphBuilder) => void): Promise<Session> {
    let s = this.sessions.get(key);
    if (!s) {
      const b = new GraphBuilder();
      const logits = buildTransformer(b, this.spec, this.weights, opts);
      if (!b.outputs.includes(logits)) b.output(opts.fullLogits ? 'logits' : 'logits_sel', logits);
      extra?.(b);
      s = this.compile(b);
      this.sessions.set(key, s);
    }
    return s;
  }

  private compile(b: GraphBuilder): Promise<Session> {
    const asInputs = this.stages !== undefined || (this.options.weightsAs ?? 'inputs') === 'inputs';
    const constantFeeds: Record<string, HostTensor> = {};
    if (asInputs) {
      for (const [v, t] of b.tensors) if (v.kind === 'weight') constantFeeds[v.name!] = f32(t.data as Float32Array, t.shape);
    }
    return Session.create(b.serialize({ weightsAsInputs: asInputs }), { threads: this.options.threads, device: this.options.device, constantFeeds });
  }

  /** A compiled session for a custom graph over this model's weights (circuit instrumentation). */
  customSession(key: string, build: (b: GraphBuilder, spec: ModelSpec, weights: LoadedWeights) => void): Promise<Session> {
    let s = this.sessions.get(key);
    if (!s) {
      const b = new GraphBuilder();
      // A streamed model offers custom graphs its globals only (embeddings, final norm, unembedding).
      build(b, this.spec, this.stages ? { ...this.stages.store.globals(), layers: [] } : this.weights);
      s = this.compile(b);
      this.sessions.set(key, s);
    }
    return s;
  }

  /**
   * Whether every weight of a streamed model stays in memory (stages.ts planExecution), so that a
   * graph over all layers can read them without a disk read; always for a whole model.
   */
  get allResident(): boolean {
    return this.stages?.plan.allResident ?? true;
  }

  /**
   * A compiled session over every layer, for a whole model or a streamed one whose weights are all
   * resident (their arrays fed by reference). Release it with `releaseSession` when its phase is over:
   * its onnxruntime arena keeps its largest run.
   */
  wholeSession(key: string, build: (b: GraphBuilder, spec: ModelSpec, weights: LoadedWeights) => void): Promise<Session> {
    if (!this.stages) return this.customSession(key, build);
    if (!this.allResident) throw new Error('internal: a graph over every layer needs every weight resident');
    let s = this.sessions.get(key);
    if (!s) {
      const b = new GraphBuilder();
      build(b, this.spec, this.stages.store.forStage({ from: 0, to: this.spec.nLayers }));
      s = this.compile(b);
      this.sessions.set(key, s);
    }
    return s;
  }

  /** Disposes the session compiled under `key`, if any (the next request compiles it again). */
  async releaseSession(key: string): Promise<void> {
    const s = this.sessions.get(key);
    if (!s) return;
    this.sessions.delete(key);
    await (await s).dispose();
  }

  /**
   * A streamed forward pass: every stage in turn, each reading the residual stream the one before
   * wrote. Returns the last stage's outputs and the hook points named in `hooks` wherever they are.
   */
  private async streamedForward(feeds: Record<string, HostTensor>, opts: CompileOptions, hooks: ReadonlySet<string> = new Set()): Promise<Record<string, HostTensor>> {
    const runner = this.stages!;
    const out: Record<string, HostTensor> = {};
    let resid: HostTensor | undefined;
    for (const st of runner.plan.stages) {
      const last = st.to === this.spec.nLayers;
      const got = await runner.run(
        st,
        `forward:${opts.fullLogits ? 'full' : 'last'}:${opts.split ? 'split' : ''}:${[...hooks].sort().join(',')}`,
        (b, w) => {
          const hook: CompileOptions['hook'] = (name, v) => (hooks.has(name) ? v.builder.output(name, v) : v);
          const y = buildTransformer(b, this.spec, w, { ...opts, layers: st, hook });
          if (!b.outputs.some((o) => o.name === 'logits_sel' || o.name === 'logits')) b.output(last ? (opts.fullLogits ? 'logits' : 'logits_sel') : 'resid_out', y);
        },
        resid ? { ...feeds, resid_in: resid } : feeds,
      );
      for (const [k, v] of Object.entries(got)) if (k !== 'resid_out') out[k] = v;
      resid = got.resid_out;
    }
    return out;
  }

  /** Logits at the last real position of each sequence: [batch, vocab]. */
  async lastLogits(seqs: readonly (readonly number[])[]): Promise<Float32Array> {
    const { feeds } = batchFeeds(this.spec, seqs);
    const out = this.stages ? await this.streamedForward(feeds, {}) : await (await this.session('last', {})).run(feeds, ['logits_sel']);
    const logits = out.logits_sel.data as Float32Array;
    const bad = logits.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) {
      throw new UserError(
        `${this.checkpoint.dir}: the forward pass gives logits that are not finite (${logits[bad]}); the weights overflow float32 on this prompt or training diverged. Use another checkpoint`,
      );
    }
    return logits;
  }

  /** Logits at every position: [batch, pos, vocab] (padded positions included). */
  async allLogits(seqs: readonly (readonly number[])[]): Promise<{ data: Float32Array; nPos: number }> {
    const { feeds, nPos } = batchFeeds(this.spec, seqs);
    const out = this.stages ? await this.streamedForward(feeds, { fullLogits: true }) : await (await this.session('full', { fullLogits: true })).run(feeds, ['logits']);
    return { data: out.logits.data as Float32Array, nPos };
  }

  /**
   * Runs a batch and returns the named hook points (TransformerLens names, e.g.
   * 'blocks.0.attn.hook_result'), plus 'logits_sel'. With `split`, heads get their own q/k/v inputs
   * and per-head results exist.
   */
  async runHooks(seqs: readonly (readonly number[])[], names: readonly string[], opts: { split?: boolean } = {}): Promise<Record<string, HostTensor>> {
    const wanted = new Set(names);
    if (this.stages) {
      const out = await this.streamedForward(batchFeeds(this.spec, seqs).feeds, { split: opts.split }, wanted);
      const unknown = [...wanted].filter((n) => !(n in out));
      if (unknown.length > 0) throw new UserError(`unknown hook point(s) for ${this.spec.architecture}${opts.split ? '' : ' (without split heads)'}: ${unknown.join(', ')}`);
      return out;
    }
    const seen = new Set<string>();
    const key = `hooks:${opts.split ? 1 : 0}:${[...wanted].sort().join(',')}`;
    const s = await this.session(key, {
      split: opts.split,
      hook: (name, v) => {
        if (wanted.has(name)) {
          v.builder.output(name, v);
          seen.add(name);
        }
        return v;
      },
    });
    const unknown = [...wanted].filter((n) => !s.outputNames.includes(n));
    if (unknown.length > 0) throw new UserError(`unknown hook point(s) for ${this.spec.architecture}${opts.split ? '' : ' (without split heads)'}: ${unknown.join(', ')}`);
    const { feeds } = batchFeeds(this.spec, seqs);
    return s.run(feeds, [...wanted, 'logits_sel']);
  }

  /** Greedy decoding; stops early at EOS when `stopAtEos`. Returns the new tokens only. */
  async generate(prompt: readonly number[], maxNewTokens: number, stopAtEos = false): Promise<number[]> {
    const seq = [...prompt];
    const out: number[] = [];
    const V = this.spec.vocabSize;
    for (let i = 0; i < maxNewTokens; i++) {
      if (seq.length >= this.spec.maxPositions) break;
      const logits = await this.lastLogits([seq]);
      let best = 0;
      for (let v = 1; v < V; v++) if (logits[v] > logits[best]) best = v;
      if (stopAtEos && best === this.spec.eosTokenId) break;
      seq.push(best);
      out.push(best);
    }
    return out;
  }

  async dispose(): Promise<void> {
    for (const s of this.sessions.values()) await (await s).dispose();
    this.sessions.clear();
    await this.stages?.dispose();
  }
}
