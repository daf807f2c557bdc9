/**
 * What the engine process does for the extension, independent of the transport: scanning the
 * workspace, discovery, circuit view data and comparisons. main.ts wires these to JSON-RPC.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CircuitGraph } from '../shared/circuit';
import type { CompareParams, CompareResult, CostEstimate, CostEstimateParams, DiscoverParams, DiscoverResult, DiscoverSettings, EvolveParams, EvolveSummary, ViewDataParams } from '../shared/engineProtocol';
import { attributionPasses, defaultTopN, discoverDefaults } from '../shared/methods';
import { round, viewDataOf } from '../shared/circuitView';
import type { CircuitViewData, HeadInfo } from '../shared/webviewProtocol';
import { cachedAnalysisOf, discoveryKey, provenanceKey } from './analysis/cache';
import { compareCheckpoints, evolve as evolveRun } from './analysis/evolve';
import { analyzeHeads } from './analysis/heads';
import { circuitConfig } from './circuits/attribute';
import { expectedShape, parseCircuitJson, readCircuitFile, type LoadedCircuit } from './circuits/circuitFile';
import { discoverWorkload, type DiscoverOptions } from './circuits/discover';
import { Model, type ModelOptions } from './model/runner';
import { discoveryMemory } from './memory';
import { CancelledError } from './errors';
import { writeFileAtomic } from './util/atomicWrite';
import { openWorkload, type Workload, type WorkloadDeps } from './workload';
import { withSubjects } from './circuits/subjects';
import { defaultSpotCheckEdges } from '../shared/trust';

/** Progress of a request; a discovery's first notification carries its cost estimate. */
export type Progress = (message: string, fraction?: number, cost?: CostEstimate) => void;

/** The workspace scan lives in scan.ts; the engine's entry point serves it from here with the rest. */
export { scanWorkspace } from './scan';

/** One loaded model at a time, keyed by folder and settings that change the compiled graphs. */
let cached: { key: string; model: Promise<Model> } | undefined;
export function modelFor(dir: string, o: ModelOptions = {}): Promise<Model> {
  const options: ModelOptions = {
    prependBos: o.prependBos ?? discoverDefaults.prependBos,
    threads: o.threads ?? discoverDefaults.threads,
    device: o.device ?? discoverDefaults.device,
    execution: o.execution ?? discoverDefaults.execution,
    memoryBudgetMiB: o.memoryBudgetMiB || undefined,
  };
  const key = `${path.resolve(dir)}|${options.prependBos !== false}|${options.threads}|${options.device}|${options.execution}|${options.memoryBudgetMiB ?? 0}`;
  if (cached?.key !== key) {
    void cached?.model.then((m) => m.dispose()).catch(() => undefined);
    cached = { key, model: Model.load(dir, options) };
    cached.model.catch(() => (cached = undefined));
  }
  return cached.model;
}

/** A checkpoint and a prompt set with the extension's settings, the model from the one-model cache. */
function workload(dir: string, promptsFile: string, s: DiscoverSettings, deps: WorkloadDeps = {}) {
  return openWorkload({ dir, promptsFile, model: settingsModelOptions(s) }, { loadModel: modelFor, ...deps });
}

/** The model options of the extension's settings. */
function settingsModelOptions(s: DiscoverSettings): ModelOptions {
  return {
    prependBos: s.prependBos ?? discoverDefaults.prependBos,
    threads: s.threads ?? discoverDefaults.threads,
    device: s.device ?? discoverDefaults.device,
    execution: s.execution ?? discoverDefaults.execution,
    memoryBudgetMiB: s.memoryBudgetMiB || undefined,
  };
}

/** The discovery options of the extension's settings; the faithfulness curve is always traced for the view. */
function discoverOptions(s: DiscoverSettings, signal: AbortSignal, progress: Progress): DiscoverOptions {
  return {
    method: s.method ?? discoverDefaults.method,
    steps: s.steps ?? discoverDefaults.steps,
    topN: s.topN,
    batchSize: s.batchSize ?? discoverDefaults.batchSize,
    curve: true,
    // The view shows MIB's figures beside its size slider and the trust checks in its header.
    mib: true,
    spotCheck: defaultSpotCheckEdges,
    signal,
    onProgress: (d: number, t: number, m: string) => progress(m, t > 0 ? d / t : undefined),
  };
}

/**
 * One Discover of the extension: opens the checkpoint and the prompt set once, sends the cost
 * estimate as the first progress notification, discovers, analyses the circuit's heads on the same
 * prompts, writes the circuit file (nothing when cancelled) and returns its view data from memory.
 */
export async function discover(p: DiscoverParams, signal: AbortSignal, progress: Progress, deps: WorkloadDeps = {}): Promise<DiscoverResult> {
  const w = await workload(p.dir, p.promptsFile, p.settings, deps);
  const options = discoverOptions(p.settings, signal, progress);
  const existing = p.recompute ? undefined : existingDiscovery(w, p.out, options);
  if (existing?.provenance) {
    progress('opening the existing circuit (same checkpoint, prompts and settings)');
    const heads = await headInfo(w, existing);
    if (signal.aborted) throw new CancelledError();
    const prov = existing.provenance;
    const seconds = prov.timings.attributionSeconds + prov.timings.evaluationSeconds;
    return { circuitFile: p.out, edges: prov.edges, nodes: prov.nodes, faithfulness: prov.faithfulness, hit10: prov.hit10, seconds, reused: true, view: viewData(existing, p.out, heads, p.dir) };
  }
  const cost = costOf(w, p.settings);
  const streamed = w.model.execution.mode === 'streamed' ? `, streamed in ${w.model.execution.stages.length} stages` : '';
  progress(`${cost.edges.toLocaleString()} edges, ${cost.prompts} prompts, ${cost.passes} passes, about ${cost.memoryMiB} MiB${streamed}`, 0, cost);
  const { provenance, text } = await discoverWorkload(w, options);
  // The view reads the circuit as its file has it (numbers rounded as written), without reading the file.
  const circuit = parseCircuitJson(text, p.out);
  progress('head roles of the circuit');
  const heads = await headInfo(w, circuit);
  if (signal.aborted) throw new CancelledError();
  writeFileAtomic(p.out, text);
  const seconds = provenance.timings.attributionSeconds + provenance.timings.evaluationSeconds;
  return { circuitFile: p.out, edges: provenance.edges, nodes: provenance.nodes, faithfulness: provenance.faithfulness, hit10: provenance.hit10, seconds, reused: false, view: viewData(circuit, p.out, heads, p.dir) };
}

/**
 * The circuit file at `out` when it holds this very discovery: its provenance has the cache key
 * (analysis/cache.ts) of the workload's checkpoint content, prompt file and these options, with the
 * model's default N written out as discovery resolves it, and it has the faithfulness curve the view
 * draws. Anything else (no file, an unreadable one, other settings) is undefined: discover again.
 */
function existingDiscovery(w: Workload, out: string, o: DiscoverOptions): LoadedCircuit | undefined {
  if (!fs.existsSync(out)) return undefined;
  let c: LoadedCircuit;
  try {
    c = readCircuitFile(out, expectedShape(w.model.spec, w.model.checkpoint.dir));
  } catch {
    return undefined;
  }
  if (!c.provenance?.curve) return undefined;
  const selection = o.selection ?? discoverDefaults.selection;
  const want = discoveryKey({
    checkpointHash: w.model.checkpoint.contentHash(),
    promptsHash: w.set.hash,
    prependBos: w.model.options.prependBos !== false,
    method: o.method,
    steps: o.steps ?? discoverDefaults.steps,
    igConvention: o.igConvention ?? discoverDefaults.igConvention,
    metric: o.metric ?? discoverDefaults.metric,
    selection,
    value: selection === 'threshold' ? (o.threshold ?? 0) : (o.topN ?? defaultTopN(new CircuitGraph(circuitConfig(w.model.spec)))),
    ablation: o.ablation,
  });
  return want !== undefined && provenanceKey(c.provenance) === want ? c : undefined;
}

export async function estimateCost(p: CostEstimateParams, deps: WorkloadDeps = {}): Promise<CostEstimate> {
  return costOf(await workload(p.dir, p.promptsFile, p.settings, deps), p.settings);
}

/** Passes (from the method table) and the predicted peak memory (src/shared/cost.ts) of a discovery of `w` with settings `s`. */
function costOf(w: Workload, s: DiscoverSettings): CostEstimate {
  const { spec } = w.model;
  const { pairs } = w;
  const g = new CircuitGraph(circuitConfig(spec));
  const batch = s.batchSize ?? discoverDefaults.batchSize;
  const method = s.method ?? discoverDefaults.method;
  const schedule = { batchSize: batch, steps: s.steps ?? discoverDefaults.steps, nLayers: spec.nLayers, edges: g.edges.length };
  const passes = attributionPasses(method, pairs.length, schedule);
  const nPos = Math.max(...pairs.map((x) => Math.max(x.clean.length, x.corrupted.length)));
  const m = discoveryMemory(w.model, { method, batchSize: batch, nPos, prompts: pairs.length });
  return { edges: g.edges.length, prompts: pairs.length, passes, memoryMiB: m.peak, memory: { loadMiB: m.load, attributionMiB: m.attribution, evaluationMiB: m.evaluation, plan: m.plan } };
}

/** Reads a circuit file into what the circuit view draws; head roles from `dir` and `promptsFile` when given, else from a cached analysis. */
export async function circuitViewData(p: ViewDataParams, deps: WorkloadDeps = {}): Promise<CircuitViewData> {
  const c = readCircuitFile(p.circuitFile);
  let heads: Record<string, HeadInfo> = {};
  if (p.dir && p.promptsFile) {
    heads = await headInfo(await workload(p.dir, p.promptsFile, p.settings ?? {}, deps), c);
  } else {
    // A circuit of compare's or evolve's cache has its head roles in the cached analysis.
    const a = cachedAnalysisOf(p.circuitFile);
    for (const [n, role] of Object.entries(a?.headRoles ?? {})) heads[n] = { role, ratio: round(a?.headRatios?.[n] ?? NaN) ?? undefined };
    // A discovered circuit names its checkpoint and prompt set: reopened, it shows the roles it showed
    // when discovered. Roles are an extra, so a checkpoint or prompt set that moved or no longer fits
    // leaves the view without them rather than unopened.
    const prov = c.provenance;
    if (!a && prov && fs.existsSync(prov.checkpoint.path) && fs.existsSync(prov.prompts.path)) {
      try {
        heads = await headInfo(await workload(prov.checkpoint.path, prov.prompts.path, { ...p.settings, prependBos: prov.prependBos }, deps), c);
      } catch {
        heads = {};
      }
    }
  }
  return viewData(c, p.circuitFile, heads, p.dir);
}

/** Roles and figures of the circuit's heads on the workload's prompts (none without subject spans). */
async function headInfo(w: Workload, c: LoadedCircuit): Promise<Record<string, HeadInfo>> {
  const heads: Record<string, HeadInfo> = {};
  const inCircuit = c.graph.nodes.filter((n) => c.data.nodeIn.get(n) && n.startsWith('a'));
  if (inCircuit.length > 0 && withSubjects(w.pairs).pairs.some((x) => x.subjectSpan)) {
    const a = await analyzeHeads(w.model, w.pairs, { heads: inCircuit });
    for (const h of a.heads) {
      heads[h.node] = { role: h.role, ratio: round(h.ratio) ?? undefined, attnSubj: round(h.attnSubj) ?? undefined, attnRel: round(h.attnRel) ?? undefined, promotes: h.promotes.map((t) => t.token), suppresses: h.suppresses.map((t) => t.token) };
    }
  }
  return heads;
}

/** The circuit view's data of a circuit (as read from `circuitFile`, or parsed from the text written there). */
function viewData(c: LoadedCircuit, circuitFile: string, heads: Record<string, HeadInfo>, dir?: string): CircuitViewData {
  const prov = c.provenance;
  const checkpoint = prov?.checkpoint.path ?? dir ?? '';
  const step = prov?.checkpoint.step;
  const title = `${path.basename(checkpoint) || path.basename(circuitFile)}${step !== undefined && !/checkpoint-/.test(path.basename(checkpoint)) ? ` (step ${step})` : ''}`;
  return viewDataOf(c, { title, checkpoint, heads });
}

export async function compare(p: CompareParams, signal: AbortSignal, progress: Progress): Promise<CompareResult> {
  const r = await compareCheckpoints(p.dirA, p.dirB, {
    ...discoverOptions(p.settings, signal, progress),
    promptsFile: p.promptsFile,
    cacheDir: p.cacheDir,
    model: settingsModelOptions(p.settings),
  });
  const [a, b] = await Promise.all([circuitViewData({ circuitFile: r.a.circuitFile }), circuitViewData({ circuitFile: r.b.circuitFile })]);
  const c = r.comparison;
  return {
    a,
    b,
    circuitFileA: r.a.circuitFile,
    circuitFileB: r.b.circuitFile,
    drift: {
      layers: c.layers.edgeActivationA.map((_, i) => i),
      edgeActivationA: c.layers.edgeActivationA,
      edgeActivationB: c.layers.edgeActivationB,
      scoreMassA: c.layers.scoreMassA,
      scoreMassB: c.layers.scoreMassB,
      nodeJaccard: c.nodeJaccard,
      edgeJaccard: c.edgeJaccard,
      pearson: c.pearson,
      kendallTauB: c.kendallTauB,
      faithfulnessDelta: c.faithfulnessDelta,
      addedCount: c.addedCount,
      removedCount: c.removedCount,
      signFlippedCount: c.signFlippedCount,
    },
  };
}

/** `circuitscope evolve` for the extension: every checkpoint of the run, the JSON written atomically (nothing when cancelled). */
export async function evolve(p: EvolveParams, signal: AbortSignal, progress: Progress): Promise<EvolveSummary> {
  const r = await evolveRun(p.runDir, {
    ...discoverOptions(p.settings, signal, progress),
    promptsFile: p.promptsFile,
    cacheDir: p.cacheDir,
    model: settingsModelOptions(p.settings),
  });
  if (signal.aborted) throw new CancelledError();
  writeFileAtomic(p.out, JSON.stringify(r, null, 1) + '\n');
  return { outFile: p.out, checkpoints: r.checkpoints.length, cacheHits: r.cacheHits, phaseShiftStep: r.phaseShift?.step, seconds: r.seconds };
}
