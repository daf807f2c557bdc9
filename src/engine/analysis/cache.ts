/**
 * The per-checkpoint cache of evolve and compare: the key of one checkpoint's results (a hash of
 * everything that changes them), the names of its files in the cache folder, and reading and writing
 * an entry. This is the only module that knows how cached files are named; the engine's circuit view
 * asks it for the analysis beside a cached circuit file.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { HeadRole } from '../../shared/analysis';
import type { Selection } from '../../shared/circuit';
import { discoverDefaults, methodTable, type SelectionKind } from '../../shared/methods';
import { parseCircuitJson, readCircuitFile, type LoadedCircuit, type Provenance } from '../circuits/circuitFile';
import { toolVersion, type DiscoverOptions } from '../circuits/discover';
import { UserError } from '../errors';
import { writeFileAtomic } from '../util/atomicWrite';

/** The cache folder's name when none is given: beside the output (compare) or in the run folder (evolve). */
export const defaultCacheDirName = '.circuitscope-cache';

const circuitSuffix = '.circuit.json';
const analysisSuffix = '.analysis.json';

/** What is cached per checkpoint besides its circuit file. */
export interface CheckpointAnalysis {
  readonly hit10ByGroup: Record<string, number>;
  readonly headRoles: Record<string, HeadRole>;
  readonly headRatios: Record<string, number>;
  readonly lens: { readonly rows: string[]; readonly meanRank: number[]; readonly meanProb: number[]; readonly meanSubjectRank: number[] };
}

/** Everything that changes one checkpoint's results. */
export interface CacheKeyParts {
  readonly checkpointHash: string;
  readonly promptsHash: string;
  readonly options: DiscoverOptions & { readonly group?: string };
  readonly prependBos: boolean;
}

/** The key of one checkpoint's results: 20 hex digits of a hash of its parts. */
export function cacheKey(k: CacheKeyParts): string {
  const o = k.options;
  // The field order and the null placeholders are part of the key: keep them, or old caches miss.
  const settings = {
    group: o.group ?? null,
    toolVersion,
    ckptHash: k.checkpointHash,
    promptsHash: k.promptsHash,
    method: o.method,
    steps: o.steps ?? discoverDefaults.steps,
    ig: o.igConvention ?? discoverDefaults.igConvention,
    metric: o.metric ?? discoverDefaults.metric,
    selection: o.selection ?? discoverDefaults.selection,
    topN: o.topN ?? null,
    threshold: o.threshold ?? null,
    prependBos: k.prependBos,
    // Only when it is not the default, so that the keys of earlier caches stay as they were.
    ...(o.ablation !== undefined && o.ablation !== 'patch' ? { ablation: o.ablation } : {}),
    // Only for node-level circuits (discover --level node), so that earlier keys stay as they were.
    ...((o.level ?? discoverDefaults.level) === 'node' ? { level: 'node', nodeTopN: o.nodeTopN || null } : {}),
  };
  return crypto.createHash('sha256').update(JSON.stringify(settings)).digest('hex').slice(0, 20);
}

/**
 * What identifies one discovery as its circuit file's provenance records it: the selection as it
 * was resolved (the model's default N written out), steps and IG convention as recorded.
 */
export interface Discovery {
  readonly checkpointHash: string;
  readonly promptsHash: string;
  readonly prependBos: boolean;
  readonly method: string;
  readonly steps: number;
  readonly igConvention?: string;
  readonly metric?: string;
  readonly selection: SelectionKind;
  /** N (nodes for a node-level circuit), or the threshold. */
  readonly value: number;
  readonly ablation?: string;
  /** 'node' for a node-level circuit (discover --level node); absent or 'edge' otherwise. */
  readonly level?: string;
}

/**
 * The cache key of one discovery (cacheKey, so one notion of identity): steps and the IG convention
 * count only for the methods whose scores they change (the method table), since provenance records
 * steps = 1 for some methods and the asked-for steps for others. Undefined for an unknown method.
 */
export function discoveryKey(d: Discovery): string | undefined {
  const row = methodTable.find((m) => m.name === d.method);
  if (!row) return undefined;
  const options = {
    method: row.name,
    steps: row.options.includes('steps') ? d.steps : 1,
    igConvention: row.options.includes('igConvention') ? (d.igConvention as DiscoverOptions['igConvention']) : undefined,
    metric: d.metric as DiscoverOptions['metric'],
    selection: d.selection,
    ...(d.level === 'node'
      ? { level: 'node' as const, nodeTopN: d.value }
      : { topN: d.selection === 'threshold' ? undefined : d.value, threshold: d.selection === 'threshold' ? d.value : undefined }),
    ablation: d.ablation as DiscoverOptions['ablation'],
  };
  return cacheKey({ checkpointHash: d.checkpointHash, promptsHash: d.promptsHash, options, prependBos: d.prependBos });
}

/**
 * The key of the discovery a circuit file's provenance records; undefined when it was written by
 * another tool version (whose circuits may differ) or lacks a part of the key.
 */
export function provenanceKey(p: Provenance): string | undefined {
  if (p.toolVersion !== toolVersion || typeof p.checkpoint.hash !== 'string' || typeof p.prompts.hash !== 'string' || typeof p.prependBos !== 'boolean') return undefined;
  return discoveryKey({
    checkpointHash: p.checkpoint.hash,
    promptsHash: p.prompts.hash,
    prependBos: p.prependBos,
    method: p.method,
    steps: p.steps,
    igConvention: p.igConvention,
    metric: p.metric,
    selection: p.selection.kind,
    value: p.selection.value,
    ablation: p.ablation,
    level: p.level,
  });
}

/** One checkpoint's files in a cache folder. */
export interface CacheEntry {
  readonly cacheDir: string;
  readonly key: string;
  readonly circuitFile: string;
  readonly analysisFile: string;
}

/** The entry of `key` in `cacheDir`, which is made if missing. */
export function cacheEntry(cacheDir: string, key: string): CacheEntry {
  fs.mkdirSync(cacheDir, { recursive: true });
  return { cacheDir, key, circuitFile: path.join(cacheDir, key + circuitSuffix), analysisFile: path.join(cacheDir, key + analysisSuffix) };
}

/** A cached checkpoint result, as read back. */
export interface CachedResult {
  readonly provenance: Provenance;
  readonly scores: Float64Array;
  readonly selection: Selection;
  readonly analysis: CheckpointAnalysis;
}

/** The entry's result, or undefined when it is not (completely) cached. */
export function readCacheEntry(e: CacheEntry): CachedResult | undefined {
  if (!fs.existsSync(e.circuitFile) || !fs.existsSync(e.analysisFile)) return undefined;
  return resultOf(e, readCircuitFile(e.circuitFile), fs.readFileSync(e.analysisFile, 'utf8'));
}

/**
 * The result an entry holds once written with this circuit text and analysis, as a later read gives
 * it (the circuit file rounds its figures): a fresh result reads the same as a cached one.
 */
export function asCached(e: CacheEntry, circuitText: string, analysis: CheckpointAnalysis): CachedResult {
  return resultOf(e, parseCircuitJson(circuitText, e.circuitFile), JSON.stringify(analysis));
}

function resultOf(e: CacheEntry, c: LoadedCircuit, analysisText: string): CachedResult {
  if (!c.provenance) throw new UserError(`${e.circuitFile}: cached circuit without provenance; delete the cache folder ${e.cacheDir}`);
  return {
    provenance: c.provenance,
    scores: c.data.scores,
    selection: { edgeIn: c.data.edgeIn, nodeIn: c.data.nodeIn },
    analysis: JSON.parse(analysisText) as CheckpointAnalysis,
  };
}

/**
 * Writes an entry: the circuit file's text (circuitJson) and the analysis, each atomically, the
 * analysis last (an entry counts as cached when both are there). Processes sharing the folder
 * (evolve --shard) may write one entry at once: both write the same results, and each file a reader
 * sees is one writer's whole file.
 */
export function writeCacheEntry(e: CacheEntry, circuitText: string, analysis: CheckpointAnalysis): void {
  writeFileAtomic(e.circuitFile, circuitText);
  writeFileAtomic(e.analysisFile, JSON.stringify(analysis) + '\n');
}

/** One transplant evaluation: the circuit of one checkpoint (the source) run on another (the target). */
export interface TransplantResult {
  readonly faithfulness: number;
  readonly hit10: number;
}

/**
 * The file of a transplant evaluation: named by the target's key and the source's key, which fix the
 * target checkpoint, the prompts, the settings and the source's circuit.
 */
export function transplantFile(cacheDir: string, targetKey: string, sourceKey: string): string {
  fs.mkdirSync(cacheDir, { recursive: true });
  return path.join(cacheDir, `${targetKey}.transplant-${sourceKey}.json`);
}

/** A cached transplant evaluation, or undefined. */
export function readTransplant(file: string): TransplantResult | undefined {
  if (!fs.existsSync(file)) return undefined;
  return JSON.parse(fs.readFileSync(file, 'utf8')) as TransplantResult;
}

/**
 * Writes a transplant evaluation atomically. Entries are content-addressed (the name fixes what is
 * in them), so processes that share a cache folder may write the same entry at once: each renames a
 * complete file of its own over it, and readers see one of them whole.
 */
export function writeTransplant(file: string, r: TransplantResult): void {
  writeFileAtomic(file, JSON.stringify({ faithfulness: r.faithfulness, hit10: r.hit10 }) + '\n');
}

/** The cached analysis beside a circuit file of a cache entry; undefined for other circuit files. */
export function cachedAnalysisOf(circuitFile: string): CheckpointAnalysis | undefined {
  if (!circuitFile.endsWith(circuitSuffix)) return undefined;
  const analysisFile = circuitFile.slice(0, -circuitSuffix.length) + analysisSuffix;
  if (!fs.existsSync(analysisFile)) return undefined;
  return JSON.parse(fs.readFileSync(analysisFile, 'utf8')) as CheckpointAnalysis;
}
