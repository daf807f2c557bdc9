/**
 * Block-streamed execution: a model whose float32 weights do not fit in memory runs as a chain of
 * stages, each a compiled graph over a range of layers, fed the weights of its layers just in time
 * (read from the checkpoint and widened from their stored dtype) and the residual stream the stage
 * before it wrote. Only the residual stream crosses a stage boundary.
 *
 * Stages of the same shape (same number of layers, same layer types, neither first nor last) compile
 * to the same graph: their weights are graph inputs with names counted from the stage's first layer
 * (transformer.ts `layers`). Sessions are cached by the bytes of the serialized graph, so a pass over
 * sixteen equal blocks compiles one graph.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { GraphBuilder, type SerializedModel } from '../onnx/graphBuilder';
import { f32, Session, type HostTensor, type SessionOptions } from '../runtime/session';
import type { ModelSpec } from './config';
import type { GlobalField, LayerWeights, LoadedWeights } from './families/table';
import type { CanonicalWeights } from './weights';
import { UserError } from '../errors';
import { stageBackwardBytes } from '../../shared/cost';

/** How a model's graphs run: one graph for the whole model, or block-streamed stages. */
export type Execution = 'auto' | 'whole' | 'streamed';

export interface Stage {
  readonly from: number;
  readonly to: number;
}

export interface StreamPlan {
  readonly stages: readonly Stage[];
  /** Bytes of float32 layer weights kept in memory between passes (the rest is read per pass). */
  readonly residentBytes: number;
  /** The weights outside the layers stay in memory (else the first and last stages read theirs per pass). */
  readonly residentGlobals: boolean;
  /** Every weight stays in memory: no pass reads one, and a graph may span every layer. */
  readonly allResident: boolean;
  /** The memory budget the plan was made for, in bytes. */
  readonly budgetBytes: number;
}

/** Float32 parameters of one layer of the spec (weights only, biases and norms included roughly). */
export function layerParams(s: ModelSpec): number {
  const { dModel: d, dHead: e, nHeads: H, nKvHeads: Hkv, dMlp: m } = s;
  return d * e * (2 * H + 2 * Hkv) + d * m * (s.gatedMlp ? 3 : 2) + 8 * d + m;
}

/** Float32 parameters outside the layers: embeddings, the untied unembedding, the final norm. */
export function globalParams(s: ModelSpec): number {
  const { dModel: d, vocabSize: V } = s;
  return V * d * (s.tiedEmbeddings ? 1 : 2) + (s.positional === 'learned' ? s.maxPositions * d : 0) + 2 * d;
}

/** Memory the OS would give this process now (MemAvailable on Linux; free memory elsewhere), in bytes. */
export function availableMemory(): number {
  try {
    const m = /^MemAvailable:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // Not Linux.
  }
  return os.freemem();
}

/**
 * The default memory budget: a third of the machine's memory, and no more than 80 % of what is
 * available now (a 24 GB machine gets 8 GB, a 16 GB laptop 5.3 GB). A run is planned to peak within it.
 */
export function defaultBudgetBytes(): number {
  return Math.min(os.totalmem() / 3, 0.8 * availableMemory());
}

/**
 * Whether a model runs whole or streamed under a budget, and its stages. Whole when its float32
 * weights take at most a third of the budget (the rest is activations, gradients and ONNX Runtime's
 * buffers); otherwise stages of as many layers as a tenth of the budget holds (their weights, or with
 * every weight resident their backward passes), evened out. A third of the budget
 * goes to node outputs (batches are cut to it) and a twentieth is held back; every weight stays in
 * memory between passes when the rest holds them all (a Llama-3.2-1B shape under 8 GiB: each pass then
 * reads nothing), and otherwise the globals (when they take at most a quarter of the budget) and as
 * many layers as fit the rest of that quarter, less the embeddings a stage reads when the globals are
 * not resident (a stage's weights, or the first and last stages' embeddings, wait for the collector a
 * few stages late). Post-norm families (Gemma-2/3, OLMo-2) run
 * whole: their circuit patches pass through earlier layers' norms, which a stage does not hold.
 */
export function planExecution(s: ModelSpec, o: { execution?: Execution; budgetBytes?: number; stageLayers?: number; file?: string }): StreamPlan | undefined {
  const execution = o.execution ?? 'auto';
  const budget = o.budgetBytes ?? defaultBudgetBytes();
  const perLayer = 4 * layerParams(s);
  const globals = 4 * globalParams(s);
  const whole = globals + s.nLayers * perLayer;
  if (execution === 'whole' || (execution === 'auto' && whole <= budget / 3)) return undefined;
  if (s.postNorm) {
    if (execution === 'streamed') {
      throw new UserError(`${o.file ?? s.architecture}: ${s.architecture} normalizes attention outputs after the attention (a post-norm), which block-streamed execution does not support yet; run it whole (--execution whole)`);
    }
    return undefined;
  }
  const forWeights = budget - budget / 3 - budget / 20;
  const allResident = whole <= forWeights;
  // A stage reads a tenth of the budget in weights; with every weight resident it reads none, and a
  // tenth of the budget holds its backward pass instead (src/shared/cost.ts, at the default batch of
  // 8 prompts of 16 tokens): fewer stages recompute less of the forward pass.
  const perStage = allResident ? stageBackwardBytes(s, 8, 16) : perLayer;
  let per = o.stageLayers ?? Math.max(1, Math.min(s.nLayers, Math.floor(budget / 10 / perStage)));
  if (!Number.isInteger(per) || per < 1) throw new UserError(`layers per stage must be a positive whole number, got ${per}`);
  if (o.stageLayers === undefined) per = Math.ceil(s.nLayers / Math.ceil(s.nLayers / per)); // Even stages: 16 layers at 7 a stage run as 6, 6, 4.
  const stages: Stage[] = [];
  for (let l = 0; l < s.nLayers; l += per) stages.push({ from: l, to: Math.min(s.nLayers, l + per) });
  if (allResident) return { stages, residentBytes: s.nLayers * perLayer, residentGlobals: true, allResident, budgetBytes: budget };
  // A large vocabulary's embeddings and unembedding (8B: 4.2 GB in float32) are read when a stage needs them.
  // Globals that are not resident are read by the first and last stages (the larger of the two
  // counts against the quarter: 8B at 8 GiB peaked 12 % over its budget when it did not).
  const residentGlobals = globals <= budget / 4;
  const resident = Math.max(0, budget / 4 - (residentGlobals ? globals : 4 * s.vocabSize * s.dModel));
  return { stages, residentBytes: Math.min(resident, s.nLayers * perLayer), residentGlobals, allResident, budgetBytes: budget };
}

/** The weights of a streamed model: the globals kept once, layers kept up to a byte budget and read per use beyond it. */
export class LayerStore {
  private globalWeights?: Omit<LoadedWeights, 'layers'>;
  /** The last globals read for a stage (not resident): the first or the last stage's. */
  private lastGlobals?: [string, Partial<Omit<LoadedWeights, 'layers'>>];
  private readonly resident = new Map<number, LayerWeights>();
  private residentBytes = 0;
  /** The last layer read that is not resident (readers often ask for one layer many times in a row). */
  private lastRead?: [number, LayerWeights];

  constructor(
    private readonly cw: CanonicalWeights,
    private readonly maxResidentBytes: number,
    private readonly residentGlobals = true,
  ) {}

  /** Every weight outside the layers (kept when resident; read anew otherwise). */
  globals(): Omit<LoadedWeights, 'layers'> {
    if (!this.residentGlobals) return this.cw.globals();
    return (this.globalWeights ??= this.cw.globals());
  }

  /** The globals a stage reads: the embeddings for the first, the final norm and unembedding for the last. */
  private globalsFor(st: Stage): Partial<Omit<LoadedWeights, 'layers'>> {
    if (this.residentGlobals) return this.globals();
    const s = this.cw.spec;
    const fields = new Set<GlobalField>();
    if (st.from === 0) fields.add('WE').add('Wpos');
    if (st.to === s.nLayers) {
      fields.add('lnfW').add('lnfB').add('WU').add('bU');
      if (s.tiedEmbeddings) fields.add('WE');
    }
    const key = [...fields].sort().join(',');
    if (this.lastGlobals?.[0] === key) return this.lastGlobals[1];
    this.lastGlobals = undefined; // Let the previous set go before reading the next.
    const g = fields.size ? this.cw.someGlobals(fields) : {};
    this.lastGlobals = [key, g];
    return g;
  }

  layer(l: number): LayerWeights {
    const kept = this.resident.get(l) ?? (this.lastRead?.[0] === l ? this.lastRead[1] : undefined);
    if (kept) return kept;
    const w = this.cw.layer(l);
    this.lastRead = [l, w];
    const bytes = Object.values(w).reduce((t, a) => t + (a as Float32Array).byteLength, 0);
    if (this.residentBytes + bytes <= this.maxResidentBytes) {
      this.resident.set(l, w);
      this.residentBytes += bytes;
    }
    return w;
  }

  /** The weights a stage reads: the globals, and its layers at their indices. */
  forStage(st: Stage): LoadedWeights {
    const layers: LayerWeights[] = [];
    for (let l = st.from; l < st.to; l++) layers[l] = this.layer(l);
    return { ...(this.globalsFor(st) as Omit<LoadedWeights, 'layers'>), layers };
  }
}

/** Where a weight input of a stage graph comes from: a global field, or a field of one of its layers. */
interface WeightRef {
  readonly name: string;
  readonly shape: readonly number[];
  readonly layer?: number;
  readonly field: string;
}

/** A built stage graph: its serialized form, its session's key, and where its weight inputs come from. */
interface Recipe {
  readonly model: SerializedModel;
  readonly key: string;
  readonly weights: readonly WeightRef[];
}

/**
 * Runs stage graphs: builds the graph of a stage once per recipe key, compiles it once per distinct
 * graph (a small LRU of sessions), and runs it with the stage's weights (from the layer store, read
 * per run) and the caller's feeds (those the graph reads).
 */
export class StageRunner {
  private readonly sessions = new Map<string, Promise<Session>>();
  private readonly recipes = new Map<string, Recipe>();

  constructor(
    readonly spec: ModelSpec,
    readonly plan: StreamPlan,
    readonly store: LayerStore,
    private readonly sessionOptions: SessionOptions,
    private readonly maxSessions = 12,
  ) {}

  /**
   * Runs stage `st`'s graph built by `build`, which must depend only on `key` and the stage (built
   * graphs are kept by both). Returns every output of the graph.
   */
  async run(st: Stage, key: string, build: (b: GraphBuilder, w: LoadedWeights) => void, feeds: Record<string, HostTensor>): Promise<Record<string, HostTensor>> {
    const w = this.store.forStage(st);
    const rkey = `${key}|${st.from}:${st.to}`;
    let recipe = this.recipes.get(rkey);
    if (!recipe) {
      recipe = this.recipe(build, w, st);
      this.recipes.set(rkey, recipe);
    }
    const sess = await this.session(recipe);
    const fed: Record<string, HostTensor> = {};
    for (const r of recipe.weights) {
      const data = (r.layer === undefined ? (w as unknown as Record<string, Float32Array>)[r.field] : (w.layers[r.layer] as unknown as Record<string, Float32Array>)[r.field]) as Float32Array;
      fed[r.name] = f32(data, r.shape);
    }
    for (const n of sess.inputNames) {
      if (n in fed) continue;
      const t = feeds[n];
      if (!t) throw new Error(`internal: stage [${st.from}, ${st.to}) reads '${n}', which was not fed`);
      fed[n] = t;
    }
    return sess.run(fed);
  }

  private recipe(build: (b: GraphBuilder, w: LoadedWeights) => void, w: LoadedWeights, st: Stage): Recipe {
    const b = new GraphBuilder();
    build(b, w);
    // Each weight input is one of the stage's arrays: find which, so later runs can feed it again.
    const where = new Map<Float32Array, { layer?: number; field: string }>();
    for (const [field, a] of Object.entries(w)) if (a instanceof Float32Array) where.set(a, { field });
    for (let l = st.from; l < st.to; l++) for (const [field, a] of Object.entries(w.layers[l])) if (a instanceof Float32Array) where.set(a, { layer: l, field });
    const weights: WeightRef[] = [];
    for (const [v, t] of b.tensors) {
      if (v.kind !== 'weight') continue;
      const at = where.get(t.data as Float32Array);
      if (!at) throw new Error(`internal: stage weight ${v.name} is not one of the stage's arrays`);
      weights.push({ name: v.name!, shape: t.shape, ...at });
    }
    const model = b.serialize({ weightsAsInputs: true });
    return { model, key: crypto.createHash('sha256').update(model.bytes).digest('hex'), weights };
  }

  private async session(recipe: Recipe): Promise<Session> {
    let s = this.sessions.get(recipe.key);
    if (s) {
      // Most recently used last.
      this.sessions.delete(recipe.key);
    } else {
      s = Session.create(recipe.model, { ...this.sessionOptions, arena: false });
      while (this.sessions.size >= this.maxSessions) {
        const [oldest, old] = this.sessions.entries().next().value as [string, Promise<Session>];
        this.sessions.delete(oldest);
        await (await old).dispose();
      }
    }
    this.sessions.set(recipe.key, s);
    return s;
  }

  async dispose(): Promise<void> {
    for (const s of this.sessions.values()) await (await s).dispose();
    this.sessions.clear();
    this.recipes.clear();
  }
}

/**
 * Copies a stage's node outputs [rows, pos, k, d] into slots [f0, f0 + k) of `into` [rows, pos, nF, d].
 */
export function scatterSlots(part: HostTensor, into: Float32Array, nF: number, f0: number): void {
  const [rows, nPos, k, d] = part.shape as number[];
  const src = part.data as Float32Array;
  for (let r = 0; r < rows * nPos; r++) into.set(src.subarray(r * k * d, (r + 1) * k * d), (r * nF + f0) * d);
}
