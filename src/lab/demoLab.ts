/**
 * The demo lab's two checkpoint series, made (or reused) at run time for `circuitscope demo`:
 *
 * (a) `gpt2-synthetic`: a small GPT-2 trained from scratch on the synthetic biographies with a BPE
 *     tokenizer trained on the same corpus. In a model trained from scratch no name is known before
 *     training, so the 'revised' entities (TinyStories first names) differ from the 'new' ones
 *     (invented two-word names) only in their spelling; the knowledge-type comparison that matches
 *     the paper is series (b).
 * (b) `stories260k-cpt`: the pretrained stories260K continually pre-trained on biographies of names
 *     it knows from TinyStories ('revised', K_rel) and of invented names ('new', K_compl). The base
 *     model lives in ../shared, so this series is only made when it is there, and never committed.
 *
 * Each series is a run folder of checkpoint-N folders (N = global step) as the HF Trainer writes
 * them, with the dataset beside the checkpoints (train.jsonl, entities.jsonl, test.jsonl,
 * prompts/{city,company,major}.jsonl, dataset.json) and, for (a), the tokenizer. The checkpoint of
 * epoch 1 is kept and then one every `epochsPerCheckpoint` epochs (the others are deleted as soon as
 * they are written), because a model this small needs more passes over the corpus than the 6–10
 * checkpoints an evolution reads.
 *
 * Reuse: `demo-manifest.json` records every setting that changes the weights (seed, sizes,
 * hyperparameters, thread count, tool and onnxruntime versions, the base model's content hash) and
 * its hash, and the SHA-256 of each kept checkpoint's model.safetensors. A series whose manifest
 * matches and whose checkpoints still hash the same is reused without training; anything else is
 * rebuilt from scratch (the manifest is written last, so an interrupted build is never reused).
 *
 * Determinism: every random choice comes from the seed (dataset, BPE ties, initial weights, block
 * order), and the trainer is deterministic for a fixed onnxruntime thread count, so the same seed
 * and thread count give byte-identical model.safetensors.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { toolVersion } from '../engine/circuits/discover';
import { firstTargetToken, queryTemplates } from '../engine/circuits/prompts';
import { Checkpoint, listRunCheckpoints } from '../engine/model/checkpoint';
import { CancelledError, UserError } from '../engine/errors';
import { Model } from '../engine/model/runner';
import { TextTokenizer } from '../engine/model/tokenizer';
import { onnxruntimeVersion } from '../engine/runtime/session';
import { writeFileAtomic } from '../engine/util/atomicWrite';
import { trainBpe } from './bpe';
import {
  buildPromptSets,
  bucketCounts,
  firstTokenAfter,
  generateDataset,
  groupOrder,
  relations,
  tinyStoriesNames,
  writeDataset,
  type Encoder,
  type PromptSets,
  type Relation,
  type SyntheticDataset,
  type TestRow,
} from './synthetic';
import { gpt2 } from '../engine/model/families/gpt2';
import { initModel, loadTrainableModel, type TrainableModel } from './trainer/models';
import { train } from './trainer/train';

/** The manifest's file name inside a run folder. */
export const manifestFile = 'demo-manifest.json';
/** Bumped whenever the way a series is made changes, so old run folders are rebuilt. */
const labFormat = 'circuitscope-demo-series/1';

/**
 * Attribute values for the GPT-2 series, 48 per relation. The synthetic module's default pools have
 * 12 values, which suits stories260K's 512-token vocabulary; under Hit@10 a pool of 12 is passed by
 * chance with probability 10/12 once a model has learned which words follow "lives in the city of",
 * so Hit@10 would measure the format, not the facts. With the BPE trained on the corpus, most of
 * these are single tokens; values whose first token repeats an earlier value's are dropped (see
 * `distinctPools`), and the chance level 10/|pool| is reported with the results.
 */
export const demoPools: Readonly<Record<Relation, readonly string[]>> = {
  city: [
    'Boston', 'London', 'Madrid', 'Tokyo', 'Seattle', 'Oslo', 'Istanbul', 'Houston', 'Paris', 'Rome', 'Cairo', 'Dublin',
    'Vienna', 'Nairobi', 'Geneva', 'Athens', 'Kyoto', 'Warsaw', 'Zurich', 'Florence', 'Jakarta', 'Quebec', 'Helsinki', 'Sheffield',
    'Lisbon', 'Berlin', 'Prague', 'Denver', 'Chicago', 'Toronto', 'Sydney', 'Mumbai', 'Delhi', 'Lagos', 'Lima', 'Bogota',
    'Havana', 'Seoul', 'Manila', 'Hanoi', 'Moscow', 'Dallas', 'Phoenix', 'Miami', 'Atlanta', 'Portland', 'Austin', 'Munich',
  ],
  company: [
    'Boeing', 'Lego', 'Microsoft', 'Toyota', 'Sony', 'Oracle', 'Intel', 'Honda', 'Pfizer', 'Reebok', 'Cisco', 'Disney',
    'Visa', 'Nike', 'Google', 'Amazon', 'Kodak', 'Walmart', 'Xerox', 'Yahoo', 'Zara', 'Ford', 'Heineken', 'Shell',
    'Timex', 'Adobe', 'Apple', 'Canon', 'Dell', 'Fiat', 'Gucci', 'Ikea', 'Kellogg', 'Mazda', 'Netflix', 'Nokia',
    'Olympus', 'Pepsi', 'Philips', 'Puma', 'Rolex', 'Samsung', 'Siemens', 'Tesla', 'Uber', 'Volvo', 'Yamaha', 'Nestle',
  ],
  major: [
    'biology', 'law', 'music', 'physics', 'chemistry', 'history', 'economics', 'art', 'dance', 'geology', 'nursing', 'robotics',
    'sociology', 'theology', 'finance', 'optics', 'kinesiology', 'urbanism', 'welding', 'yoga', 'zoology', 'statistics', 'philosophy', 'literature',
    'medicine', 'botany', 'ethics', 'anatomy', 'astronomy', 'accounting', 'architecture', 'ceramics', 'drama', 'ecology', 'engineering', 'forestry',
    'genetics', 'journalism', 'linguistics', 'marketing', 'mathematics', 'nutrition', 'pharmacy', 'psychology', 'poetry', 'sculpture', 'surgery', 'theater',
  ],
};

/** Progress of a series build, in the CLI's (done, total, message) form. */
export type ProgressFn = (done: number, total: number, message: string) => void;

interface CommonOptions {
  /** One seed for the dataset, the prompt sets, the initial weights and the block order. Default 20 (the spec's entity seed). */
  readonly seed?: number;
  /** onnxruntime intra-op threads for training and evaluation; 0 means one per core. Recorded in the manifest. Default 1. */
  readonly threads?: number;
  /** Entities with invented names (K_compl). */
  readonly nNew?: number;
  /** Entities with TinyStories names (K_rel). */
  readonly nRevised?: number;
  /** Rate of the frequency distribution round(Exp(rate)). */
  readonly rate?: number;
  /** Checkpoints kept one every `epochsPerCheckpoint` epochs; training runs checkpoints × epochsPerCheckpoint epochs. */
  readonly checkpoints?: number;
  readonly epochsPerCheckpoint?: number;
  /**
   * Also keep the checkpoint of epoch 1 (default true), so the series starts where the facts are
   * barely learned, as the paper's first checkpoint (epoch 1 of 25) does.
   */
  readonly firstEpoch?: boolean;
  readonly batchSize?: number;
  readonly blockSize?: number;
  readonly learningRate?: number;
  /**
   * Train until first-token accuracy on the high-frequency groups plateaus, and keep checkpoints by
   * `plateauCheckpoints` (the full profile); `checkpoints`, `epochsPerCheckpoint` and `firstEpoch`
   * are then unused. Absent: the fixed schedule above.
   */
  readonly plateau?: PlateauSchedule;
  /** Rebuild even when the manifest matches. */
  readonly force?: boolean;
  readonly onProgress?: ProgressFn;
  readonly signal?: AbortSignal;
}

export interface Gpt2SeriesOptions extends CommonOptions {
  /** Values per relation taken from `demoPools` before first-token collisions are dropped. Default 48. */
  readonly poolSize?: number;
  /** BPE vocabulary size, special token included. Default 1024. */
  readonly vocabSize?: number;
  readonly nLayer?: number;
  readonly nHead?: number;
  readonly nEmbd?: number;
  readonly nPositions?: number;
}

export interface StoriesSeriesOptions extends CommonOptions {
  /** The base checkpoint (stories260K); the series is skipped when it is missing. */
  readonly baseModel: string;
  /** Values per relation chosen by `choosePools` under the base tokenizer. Default 12. */
  readonly poolSize?: number;
}

/** Full-model accuracy on the query prompts of all three relations, per checkpoint and group. */
export interface Acquisition {
  /** Groups in `groupOrder` that have prompts. */
  readonly groups: string[];
  /** Prompts per group. */
  readonly counts: Record<string, number>;
  /** Per checkpoint: share of prompts whose target's first token is ranked first ("first-token accuracy"). */
  readonly top1: Record<string, number>[];
  /** Per checkpoint: share of prompts whose target's first token has 0-based rank ≤ 9 (Hit@10 of the whole model). */
  readonly hit10: Record<string, number>[];
  /**
   * Per query prompt, in test.jsonl's order: its entity, its group and, per checkpoint, '1' when the
   * target's first token ranks first (the unit of the report's permutation tests). Absent in
   * manifests written before it was recorded.
   */
  readonly rows?: { readonly subject: string; readonly group: string; readonly top1: string }[];
}

/**
 * The full profile's schedule: train until first-token accuracy on the high-frequency groups
 * plateaus, then on well past it; keep checkpoints densely before the plateau and sparsely after.
 * `plateauRule` states it in words.
 */
export interface PlateauSchedule {
  /** The plateau is reached when the running maximum rose by less than `minRise` over the last `window` epochs... */
  readonly window: number;
  readonly minRise: number;
  /** ...and has reached `minAccuracy` (knowledge counts as acquired at 0.5, the spec's level). */
  readonly minAccuracy: number;
  /** Training continues to epoch P + max(minAfter, ceil(afterFactor · P)) after the plateau epoch P... */
  readonly afterFactor: number;
  readonly minAfter: number;
  /** ...and never past this epoch (the time budget); a series that reaches it without a plateau says so. */
  readonly maxEpochs: number;
  /** Checkpoints kept in 1..P (epoch 1 and evenly spaced up to P) and after P (evenly spaced up to the end). */
  readonly formationCheckpoints: number;
  readonly afterCheckpoints: number;
}

/** The plateau rule and the checkpoint schedule in words, for the report. */
export function plateauRule(p: PlateauSchedule): string {
  return (
    `After every epoch, first-token accuracy is measured on the query prompts of the high-frequency groups (revised/high and new/high pooled, all three relations). ` +
    `The plateau epoch P is the first epoch e > ${p.window} at which the running maximum of that accuracy has reached ${p.minAccuracy} and rose by less than ${p.minRise} over the last ${p.window} epochs ` +
    `(max over epochs 1..e minus max over epochs 1..e−${p.window}). Training then continues to epoch P + max(${p.minAfter}, ⌈${p.afterFactor}·P⌉), at most to epoch ${p.maxEpochs}. ` +
    `Checkpoints kept: epoch 1 and ${p.formationCheckpoints} evenly spaced epochs up to P (all of them when P is smaller), then ${p.afterCheckpoints} evenly spaced epochs after P up to the last; the others are deleted. ` +
    `A series that reaches epoch ${p.maxEpochs} without a plateau keeps ${p.formationCheckpoints} evenly spaced epochs and says so.`
  );
}

/** The plateau epoch of per-epoch accuracies (index 0 = epoch 1), or undefined. */
export function plateauEpoch(acc: readonly number[], p: PlateauSchedule): number | undefined {
  const run = runningMaxOf(acc);
  for (let e = p.window + 1; e <= acc.length; e++) {
    if (run[e - 1] >= p.minAccuracy && run[e - 1] - run[e - 1 - p.window] < p.minRise) return e;
  }
  return undefined;
}

/** The last epoch trained after a plateau at epoch P. */
export function endEpoch(P: number, p: PlateauSchedule): number {
  return Math.min(p.maxEpochs, P + Math.max(p.minAfter, Math.ceil(p.afterFactor * P)));
}

/** The epochs whose checkpoints are kept, ascending: dense in 1..P, sparse in P+1..end. */
export function plateauCheckpoints(P: number | undefined, end: number, p: PlateauSchedule): number[] {
  const even = (from: number, to: number, n: number) => Array.from({ length: Math.min(n, to - from) }, (_, i) => from + Math.round(((i + 1) * (to - from)) / Math.min(n, to - from)));
  const formationEnd = P ?? end;
  const kept = new Set([1, ...even(0, formationEnd, p.formationCheckpoints), ...(P !== undefined ? even(P, end, p.afterCheckpoints) : [])]);
  return [...kept].filter((e) => e >= 1 && e <= end).sort((a, b) => a - b);
}

function runningMaxOf(xs: readonly number[]): number[] {
  const out: number[] = [];
  for (const [i, x] of xs.entries()) out.push(i ? Math.max(out[i - 1], x) : x);
  return out;
}

/** What the plateau schedule did, recorded in the manifest. */
export interface PlateauRecord {
  readonly schedule: PlateauSchedule;
  /** First-token accuracy on the high-frequency query prompts after every epoch trained. */
  readonly highAccuracy: number[];
  readonly highPrompts: number;
  /** The plateau epoch, or null when `maxEpochs` came first. */
  readonly plateauEpoch: number | null;
  readonly lastEpoch: number;
}

/** What `demo-manifest.json` holds. */
export interface SeriesManifest {
  readonly format: string;
  readonly series: string;
  /** Every setting that changes the weights. */
  readonly settings: Record<string, unknown>;
  readonly settingsHash: string;
  readonly checkpoints: { readonly step: number; readonly epoch: number; readonly sha256: string }[];
  readonly dataset: {
    readonly entities: Record<string, number>;
    readonly documents: { readonly train: number; readonly validation: number };
    readonly tokens: number;
    readonly poolSizes: Record<Relation, number>;
    readonly circuitPrompts: Record<Relation, number>;
    readonly circuitGroups: Record<string, number>;
  };
  readonly acquisition: Acquisition;
  readonly training: { readonly seconds: number; readonly tokensPerSecond: number; readonly firstLoss: number; readonly lastEpochLoss: number };
  /** The full profile's schedule and what it found; absent for the fixed schedule. */
  readonly plateau?: PlateauRecord;
}

export interface SeriesResult {
  readonly name: string;
  readonly runDir: string;
  /** The city circuit prompt set (the relation the notebooks analyse). */
  readonly promptsFile: string;
  /** True when the series was found complete and nothing was trained. */
  readonly reused: boolean;
  readonly manifest: SeriesManifest;
  /** Seconds spent in this call (training, evaluation, hashing). */
  readonly seconds: number;
}

const sha256 = (data: Buffer | string) => crypto.createHash('sha256').update(data).digest('hex');

/** A canonical JSON text (sorted keys) for hashing settings. */
function canonical(x: unknown): string {
  if (Array.isArray(x)) return `[${x.map(canonical).join(',')}]`;
  if (x && typeof x === 'object') {
    return `{${Object.keys(x)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((x as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(x);
}

/** The thread count actually used: 0 resolves to one per core, so the manifest records a number. */
export function resolveThreads(threads: number | undefined): number {
  const t = threads ?? 1;
  if (!Number.isInteger(t) || t < 0) throw new UserError(`threads must be a non-negative integer, got ${t}`);
  return t === 0 ? Math.max(1, os.availableParallelism()) : t;
}

function readManifest(runDir: string): SeriesManifest | undefined {
  const file = path.join(runDir, manifestFile);
  if (!fs.existsSync(file)) return undefined;
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as SeriesManifest;
  } catch {
    return undefined;
  }
}

/**
 * The manifest of a complete series made with these settings, or undefined when the series must be
 * (re)built: no manifest, other settings, or a checkpoint missing or changed since.
 */
export function reusableManifest(runDir: string, settingsHash: string): SeriesManifest | undefined {
  const m = readManifest(runDir);
  if (!m || m.format !== labFormat || m.settingsHash !== settingsHash) return undefined;
  const listed = listRunCheckpoints(runDir);
  if (listed.length !== m.checkpoints.length) return undefined;
  for (const [i, c] of m.checkpoints.entries()) {
    if (listed[i].step !== c.step) return undefined;
    const file = path.join(listed[i].dir, 'model.safetensors');
    if (!fs.existsSync(file) || sha256(fs.readFileSync(file)) !== c.sha256) return undefined;
  }
  return m;
}

/** Mean of 0/1 values per group, in `groupOrder`. */
function byGroup(values: readonly number[], groups: readonly string[]): Record<string, number> {
  const sum = new Map<string, number>();
  const n = new Map<string, number>();
  values.forEach((v, i) => {
    sum.set(groups[i], (sum.get(groups[i]) ?? 0) + v);
    n.set(groups[i], (n.get(groups[i]) ?? 0) + 1);
  });
  return Object.fromEntries(groupOrder.filter((g) => n.has(g)).map((g) => [g, sum.get(g)! / n.get(g)!]));
}

/**
 * First-token accuracy and Hit@10 of the whole model on the query prompts, per checkpoint and group:
 * the rank of the target's first token (as prompts.ts finds it) among all next-token logits after the
 * prompt with BOS prepended, as circuit evaluation reads prompts.
 */
export async function measureAcquisition(runDir: string, rows: readonly TestRow[], opts: { threads?: number; signal?: AbortSignal; onCheckpoint?: (i: number, n: number) => void } = {}): Promise<Acquisition> {
  const run = listRunCheckpoints(runDir);
  const groups = rows.map((r) => r.group);
  const counts = Object.fromEntries(groupOrder.filter((g) => groups.includes(g)).map((g) => [g, groups.filter((x) => x === g).length]));
  const top1: Record<string, number>[] = [];
  const hit10: Record<string, number>[] = [];
  const correct: string[][] = rows.map(() => []);
  for (const [i, c] of run.entries()) {
    if (opts.signal?.aborted) throw new CancelledError();
    opts.onCheckpoint?.(i, run.length);
    const ranks = await targetRanks(c.dir, rows, opts.threads);
    ranks.forEach((r, k) => correct[k].push(r === 0 ? '1' : '0'));
    top1.push(byGroup(ranks.map((r) => (r === 0 ? 1 : 0)), groups));
    hit10.push(byGroup(ranks.map((r) => (r <= 9 ? 1 : 0)), groups));
  }
  return { groups: Object.keys(counts), counts, top1, hit10, rows: rows.map((r, k) => ({ subject: r.subject, group: r.group, top1: correct[k].join('') })) };
}

/** The 0-based rank of each row's target first token among the next-token logits of one checkpoint. */
async function targetRanks(dir: string, rows: readonly TestRow[], threads: number | undefined): Promise<number[]> {
  const model = await Model.load(dir, { threads });
  try {
    const V = model.spec.vocabSize;
    const ranks: number[] = [];
    const batch = 64;
    for (let s = 0; s < rows.length; s += batch) {
      const part = rows.slice(s, s + batch);
      const logits = await model.lastLogits(part.map((r) => model.encodePrompt(r.prompt)));
      part.forEach((r, k) => {
        const t = firstTargetToken(model.tokenizer, r.prompt, r.target);
        const row = logits.subarray(k * V, (k + 1) * V);
        let rank = 0;
        for (let j = 0; j < V; j++) if (row[j] > row[t]) rank++;
        ranks.push(rank);
      });
    }
    return ranks;
  } finally {
    await model.dispose();
  }
}

/**
 * Drops, per relation, values whose first token after the relation's query template repeats an
 * earlier value's, or is bare whitespace (the circuit metric and Hit@10 compare first tokens).
 * Returns the pools kept and how many values were dropped.
 */
export function distinctPools(pools: Readonly<Record<Relation, readonly string[]>>, tok: Encoder): { pools: Record<Relation, string[]>; dropped: number } {
  let dropped = 0;
  const out = {} as Record<Relation, string[]>;
  for (const rel of relations) {
    const prompt = queryTemplates[rel].replaceAll('{subject}', 'Anna');
    const seen = new Set<number>();
    out[rel] = pools[rel].filter((v) => {
      const id = firstTokenAfter(tok, prompt, ' ' + v);
      const ok = id !== undefined && tok.decode([id]).trim() !== '' && !seen.has(id);
      if (ok) seen.add(id!);
      else dropped++;
      return ok;
    });
  }
  return { pools: out, dropped };
}

interface Prepared {
  readonly data: SyntheticDataset;
  readonly prompts: PromptSets;
  readonly model: TrainableModel;
  /** Token count of the training corpus (without separators). */
  readonly tokens: number;
}

interface BuildSpec {
  readonly name: string;
  readonly runDir: string;
  readonly settings: Record<string, unknown>;
  readonly checkpoints: number;
  readonly epochsPerCheckpoint: number;
  readonly firstEpoch: boolean;
  readonly batchSize: number;
  readonly blockSize: number;
  readonly learningRate: number;
  readonly plateau?: PlateauSchedule;
  readonly seed: number;
  readonly threads: number;
  readonly force?: boolean;
  readonly onProgress?: ProgressFn;
  readonly signal?: AbortSignal;
  /** Writes the dataset (and tokenizer) into runDir and returns the model to train. */
  prepare(): Prepared;
}

function positive(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new UserError(`${name} must be a positive integer, got ${v}`);
}

/** Makes or reuses one series. */
async function buildSeries(s: BuildSpec): Promise<SeriesResult> {
  const t0 = performance.now();
  positive('checkpoints', s.checkpoints);
  positive('epochsPerCheckpoint', s.epochsPerCheckpoint);
  const settings = { format: labFormat, series: s.name, toolVersion, onnxruntime: onnxruntimeVersion, ...s.settings };
  const settingsHash = sha256(canonical(settings)).slice(0, 20);
  const promptsFile = path.join(s.runDir, 'prompts', 'city.jsonl');
  const progress = s.onProgress ?? (() => undefined);
  progress(0, 1, `${s.name}: checking for a series made with these settings`);
  if (!s.force) {
    const m = reusableManifest(s.runDir, settingsHash);
    if (m && fs.existsSync(promptsFile)) return { name: s.name, runDir: s.runDir, promptsFile, reused: true, manifest: m, seconds: (performance.now() - t0) / 1000 };
  }

  // A clean folder: old checkpoints, caches and datasets of other settings go.
  fs.rmSync(s.runDir, { recursive: true, force: true });
  fs.mkdirSync(s.runDir, { recursive: true });
  progress(0, 1, `${s.name}: writing the dataset`);
  const prep = s.prepare();
  const test = prep.prompts.test;
  const { result, kept, plateau } = s.plateau ? await trainToPlateau(s, prep, s.plateau) : await trainFixed(s, prep);
  const acquisition = await measureAcquisition(s.runDir, test, {
    threads: s.threads,
    signal: s.signal,
    onCheckpoint: (i, n) => progress(i, n, `${s.name}: first-token accuracy of checkpoint ${i + 1}/${n}`),
  });
  const per = result.stepsPerEpoch;
  const lastEpoch = result.stepLosses.slice(-per);
  const circuitGroups = Object.fromEntries(groupOrder.map((g) => [g, prep.prompts.stats.city.groups[g] ?? 0]));
  const manifest: SeriesManifest = {
    format: labFormat,
    series: s.name,
    settings,
    settingsHash,
    checkpoints: kept.map((c) => ({ step: c.step, epoch: c.epoch, sha256: sha256(fs.readFileSync(path.join(c.dir, 'model.safetensors'))) })),
    dataset: {
      entities: bucketCounts(prep.data.entities),
      documents: { train: prep.data.train.length, validation: prep.data.validation.length },
      tokens: prep.tokens,
      poolSizes: Object.fromEntries(relations.map((r) => [r, prep.data.pools[r].length])) as Record<Relation, number>,
      circuitPrompts: Object.fromEntries(relations.map((r) => [r, prep.prompts.stats[r].rows])) as Record<Relation, number>,
      circuitGroups,
    },
    acquisition,
    training: {
      seconds: result.trainSeconds,
      tokensPerSecond: result.tokensPerSecond,
      firstLoss: result.stepLosses[0],
      lastEpochLoss: lastEpoch.reduce((a, b) => a + b, 0) / lastEpoch.length,
    },
    ...(plateau ? { plateau } : {}),
  };
  writeFileAtomic(path.join(s.runDir, manifestFile), JSON.stringify(manifest, null, 1) + '\n');
  return { name: s.name, runDir: s.runDir, promptsFile, reused: false, manifest, seconds: (performance.now() - t0) / 1000 };
}

interface Trained {
  readonly result: Awaited<ReturnType<typeof train>>;
  readonly kept: { dir: string; step: number; epoch: number }[];
  readonly plateau?: PlateauRecord;
}

/** The trainer's options shared by both schedules. */
function trainOptions(s: BuildSpec, prep: Prepared, epochs: number) {
  return {
    model: prep.model,
    documents: prep.data.train.map((d) => d.text),
    runDir: s.runDir,
    epochs,
    batchSize: s.batchSize,
    blockSize: s.blockSize,
    learningRate: s.learningRate,
    seed: s.seed,
    threads: s.threads,
    loggingSteps: 10,
    overwrite: true,
    signal: s.signal,
  };
}

/** The fixed schedule: epoch 1 (optionally), then one checkpoint every `epochsPerCheckpoint` epochs. */
async function trainFixed(s: BuildSpec, prep: Prepared): Promise<Trained> {
  const progress = s.onProgress ?? (() => undefined);
  const epochs = s.checkpoints * s.epochsPerCheckpoint;
  const keep = new Set([...(s.firstEpoch ? [1] : []), ...Array.from({ length: s.checkpoints }, (_, i) => (i + 1) * s.epochsPerCheckpoint)]);
  const kept: { dir: string; step: number; epoch: number }[] = [];
  const result = await train({
    ...trainOptions(s, prep, epochs),
    onProgress: (p) => {
      if (p.type === 'step') progress(p.step, p.totalSteps, `${s.name}: training epoch ${Math.ceil(p.epoch)}/${epochs}, step ${p.step}/${p.totalSteps}, loss ${p.loss.toFixed(3)}`);
      else if (keep.has(p.epoch)) kept.push({ dir: p.dir, step: p.step, epoch: p.epoch });
      else fs.rmSync(p.dir, { recursive: true, force: true });
    },
  });
  return { result, kept };
}

/**
 * The full profile's schedule (`plateauRule`): every epoch's checkpoint is written and its
 * high-frequency accuracy measured; training stops past the plateau, and only the checkpoints of
 * `plateauCheckpoints` stay.
 */
async function trainToPlateau(s: BuildSpec, prep: Prepared, p: PlateauSchedule): Promise<Trained> {
  const progress = s.onProgress ?? (() => undefined);
  const high = prep.prompts.test.filter((r) => r.group.endsWith('/high'));
  if (high.length === 0) throw new UserError(`${s.name}: no high-frequency entities, so the plateau rule has nothing to measure; raise the entity counts`);
  const written: { dir: string; step: number; epoch: number }[] = [];
  const acc: number[] = [];
  let P: number | undefined;
  let end = p.maxEpochs;
  const result = await train({
    ...trainOptions(s, prep, p.maxEpochs),
    onProgress: (q) => {
      if (q.type === 'step') progress(q.step, q.totalSteps, `${s.name}: training epoch ${Math.ceil(q.epoch)} (until the plateau, at most ${p.maxEpochs}${P ? `; plateau at ${P}, ending at ${end}` : ''}), loss ${q.loss.toFixed(3)}`);
      else written.push({ dir: q.dir, step: q.step, epoch: q.epoch });
    },
    afterEpoch: async (c) => {
      const ranks = await targetRanks(c.dir, high, s.threads);
      acc.push(ranks.filter((r) => r === 0).length / ranks.length);
      if (P === undefined) {
        P = plateauEpoch(acc, p);
        if (P !== undefined) end = endEpoch(P, p);
      }
      return c.epoch >= end;
    },
  });
  const last = written.at(-1)!.epoch;
  const keep = new Set(plateauCheckpoints(P, last, p));
  for (const c of written) if (!keep.has(c.epoch)) fs.rmSync(c.dir, { recursive: true, force: true });
  return {
    result,
    kept: written.filter((c) => keep.has(c.epoch)),
    plateau: { schedule: p, highAccuracy: acc, highPrompts: high.length, plateauEpoch: P ?? null, lastEpoch: last },
  };
}

/** Defaults of the GPT-2 series, measured to fit the demo's time budget on a 2-core machine. */
export const gpt2Defaults = {
  nNew: 200,
  nRevised: 50,
  rate: 0.25,
  poolSize: 48,
  vocabSize: 1024,
  nLayer: 4,
  nHead: 4,
  nEmbd: 64,
  nPositions: 64,
  checkpoints: 8,
  epochsPerCheckpoint: 3,
  firstEpoch: true,
  batchSize: 4,
  blockSize: 64,
  learningRate: 3e-3,
} as const;

/** The training settings of a series, in the order its settings hash reads them. */
type Schedule = Pick<BuildSpec, 'checkpoints' | 'epochsPerCheckpoint' | 'firstEpoch' | 'batchSize' | 'blockSize' | 'learningRate' | 'plateau'>;

/** A series' training schedule, as buildSeries takes it. */
function scheduleOf(o: Schedule): Schedule {
  return { checkpoints: o.checkpoints, epochsPerCheckpoint: o.epochsPerCheckpoint, firstEpoch: o.firstEpoch, batchSize: o.batchSize, blockSize: o.blockSize, learningRate: o.learningRate, plateau: o.plateau };
}

function trainingOf(o: Schedule) {
  // The fixed schedule's fields alone, as before the plateau schedule existed, so its series keep their hash.
  if (!o.plateau) return { checkpoints: o.checkpoints, epochsPerCheckpoint: o.epochsPerCheckpoint, firstEpoch: o.firstEpoch, batchSize: o.batchSize, blockSize: o.blockSize, learningRate: o.learningRate };
  return { plateau: { ...o.plateau }, batchSize: o.batchSize, blockSize: o.blockSize, learningRate: o.learningRate };
}

/**
 * Series (a): a small GPT-2 trained from scratch on the synthetic biographies, in `<dir>/gpt2-synthetic`.
 * The tokenizer is a byte-level BPE trained on the corpus; pools whose values collide on a first token
 * under it are thinned and the data regenerated until every value has its own first token.
 */
export async function makeGpt2Series(dir: string, opts: Gpt2SeriesOptions = {}): Promise<SeriesResult> {
  const o = { ...gpt2Defaults, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) } as typeof gpt2Defaults & Gpt2SeriesOptions;
  const seed = opts.seed ?? 20;
  const threads = resolveThreads(opts.threads);
  if (o.poolSize > demoPools.city.length) throw new UserError(`poolSize can be at most ${demoPools.city.length}, got ${o.poolSize}`);
  const runDir = path.join(dir, 'gpt2-synthetic');
  const settings = {
    seed,
    threads,
    data: { nNew: o.nNew, nRevised: o.nRevised, rate: o.rate, poolSize: o.poolSize, vocabSize: o.vocabSize },
    model: { nLayer: o.nLayer, nHead: o.nHead, nEmbd: o.nEmbd, nPositions: o.nPositions },
    training: trainingOf(o),
  };
  return buildSeries({
    name: 'gpt2-synthetic',
    runDir,
    settings,
    ...scheduleOf(o),
    seed,
    threads,
    force: opts.force,
    onProgress: opts.onProgress,
    signal: opts.signal,
    prepare() {
      let pools = Object.fromEntries(relations.map((r) => [r, demoPools[r].slice(0, o.poolSize)])) as Record<Relation, string[]>;
      // Thinning pools changes the corpus and so the merges; a few rounds reach a fixed point.
      for (let round = 0; ; round++) {
        const data = generateDataset({ seed, nNew: o.nNew, nRevised: o.nRevised, rate: o.rate, pools, knownNames: tinyStoriesNames });
        const bpe = trainBpe(
          data.train.map((d) => d.text),
          { vocabSize: o.vocabSize },
        );
        const thinned = distinctPools(data.pools, bpe);
        if (thinned.dropped > 0 && round < 5) {
          pools = thinned.pools;
          continue;
        }
        if (thinned.dropped > 0) throw new Error('the GPT-2 series pools did not settle on distinct first tokens in 5 rounds');
        bpe.save(runDir);
        const tok = TextTokenizer.load(runDir);
        const prompts = buildPromptSets(data.entities, tok, { seed });
        writeDataset(runDir, data, prompts);
        const eot = bpe.endOfTextId;
        const config = gpt2.newConfig!({ vocabSize: bpe.vocab.length, nLayer: o.nLayer, nHead: o.nHead, nEmbd: o.nEmbd, nPositions: o.nPositions, bosTokenId: eot, eosTokenId: eot });
        const model = initModel(config, { seed, tokenizerDir: runDir });
        const tokens = data.train.reduce((n, d) => n + tok.encode(d.text).length, 0);
        return { data, prompts, model, tokens };
      }
    },
  });
}

/** Defaults of the stories260K series, measured to fit the demo's time budget on a 2-core machine. */
export const storiesDefaults = {
  nNew: 120,
  nRevised: 40,
  rate: 0.25,
  poolSize: 12,
  checkpoints: 8,
  epochsPerCheckpoint: 2,
  firstEpoch: true,
  batchSize: 8,
  blockSize: 128,
  learningRate: 5e-3,
} as const;

/**
 * Series (b): stories260K continually pre-trained on biographies of TinyStories names ('revised')
 * and invented names ('new'), in `<dir>/stories260k-cpt`. Attribute pools are chosen so that each
 * value has its own first token under stories260K's tokenizer. Returns undefined when the base
 * model is missing (a checkout without ../shared).
 */
export async function makeStoriesSeries(dir: string, opts: StoriesSeriesOptions): Promise<SeriesResult | undefined> {
  if (!fs.existsSync(path.join(opts.baseModel, 'config.json'))) return undefined;
  const o = { ...storiesDefaults, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) } as typeof storiesDefaults & StoriesSeriesOptions;
  const seed = opts.seed ?? 20;
  const threads = resolveThreads(opts.threads);
  const runDir = path.join(dir, 'stories260k-cpt');
  const base = Checkpoint.open(opts.baseModel);
  const settings = {
    seed,
    threads,
    base: { name: path.basename(path.resolve(opts.baseModel)), contentHash: base.contentHash() },
    data: { nNew: o.nNew, nRevised: o.nRevised, rate: o.rate, poolSize: o.poolSize },
    training: trainingOf(o),
  };
  return buildSeries({
    name: 'stories260k-cpt',
    runDir,
    settings,
    ...scheduleOf(o),
    seed,
    threads,
    force: opts.force,
    onProgress: opts.onProgress,
    signal: opts.signal,
    prepare() {
      const tok = base.tokenizer;
      const data = generateDataset({ seed, nNew: o.nNew, nRevised: o.nRevised, rate: o.rate, poolSize: o.poolSize, poolTokenizer: tok, knownNames: tinyStoriesNames });
      const prompts = buildPromptSets(data.entities, tok, { seed });
      writeDataset(runDir, data, prompts);
      const model = loadTrainableModel(opts.baseModel);
      const tokens = data.train.reduce((n, d) => n + tok.encode(d.text).length, 0);
      return { data, prompts, model, tokens };
    },
  });
}

/** The demo's profiles: the default one (minutes) and `full` (trained to the plateau; under an hour on two idle cores). */
export type DemoProfile = 'default' | 'full';
export const demoProfiles: readonly DemoProfile[] = ['default', 'full'];

/**
 * The full profile's schedule: a plateau is five epochs in which the best high-frequency accuracy
 * so far rose by less than 0.02 once it has passed 0.5; training goes on for half as long again
 * (at least 10 epochs); 8 checkpoints up to the plateau, 4 after it. The caps bound the run time.
 */
const fullSchedule = { window: 5, minRise: 0.02, minAccuracy: 0.5, afterFactor: 0.5, minAfter: 10, formationCheckpoints: 8, afterCheckpoints: 4 } as const;

/**
 * The full profile's series settings: the default architectures and optimizers, about twice the
 * entities (so each type × frequency group has dozens of entities), trained by the plateau schedule.
 */
export const fullProfile = {
  gpt2: { nNew: 400, nRevised: 200, plateau: { ...fullSchedule, maxEpochs: 120 } },
  stories: { nNew: 240, nRevised: 120, plateau: { ...fullSchedule, maxEpochs: 100 } },
} as const satisfies { gpt2: Gpt2SeriesOptions; stories: Omit<StoriesSeriesOptions, 'baseModel'> };

/** The `log_history` losses of a run folder's trainer_state.json, as (epoch, step, loss). */
export function readLossHistory(runDir: string): { epoch: number; step: number; loss: number }[] {
  const file = path.join(runDir, 'trainer_state.json');
  if (!fs.existsSync(file)) return [];
  const state = JSON.parse(fs.readFileSync(file, 'utf8')) as { log_history?: { epoch: number; step: number; loss?: number }[] };
  return (state.log_history ?? []).filter((e) => typeof e.loss === 'number').map((e) => ({ epoch: e.epoch, step: e.step, loss: e.loss! }));
}
