/**
 * The attribution methods and the discover defaults, each written down once. The engine attributes,
 * estimates costs and validates CLI flags from this table; the extension reads its settings with these
 * defaults; a unit test holds package.json's `contributes.configuration` to them. Pure: no Node, no
 * vscode.
 */
import type { CircuitGraph } from './circuit';

export type Method = 'eap-ig-inputs' | 'eap' | 'clean-corrupted' | 'eap-ig-activations' | 'relp' | 'relp-ah' | 'relp-corrupted' | 'information-flow-routes' | 'exact';
/** 'paper': α = k/m for k = 1..m (DKC); 'upstream': α = k/m for k = 0..m−1 (EAP-IG v2). */
export type IgConvention = 'paper' | 'upstream';
export type MetricKind = 'logit-diff' | 'prob' | 'logprob';
export type SelectionKind = 'topn' | 'greedy' | 'threshold';
/** What a circuit selects: edges (the paper's circuits), or nodes by EAP-IG's node scores. */
export type CircuitLevel = 'edge' | 'node';

export const igConventions: readonly IgConvention[] = Object.freeze(['paper', 'upstream'] as const);
export const metricKinds: readonly MetricKind[] = Object.freeze(['logit-diff', 'prob', 'logprob'] as const);
export const selectionKinds: readonly SelectionKind[] = Object.freeze(['topn', 'greedy', 'threshold'] as const);
export const circuitLevels: readonly CircuitLevel[] = Object.freeze(['edge', 'node'] as const);

/** What fixes the number of passes of an attribution run. */
export interface Schedule {
  /** Prompts per engine pass. */
  readonly batchSize: number;
  /** Integration steps of the IG methods. */
  readonly steps: number;
  readonly nLayers: number;
  /** Edges of the circuit graph. */
  readonly edges: number;
}

/** One attribution method. */
export interface MethodRow {
  readonly name: Method;
  /** One line, as the CLI's help and the settings' enum descriptions show it. */
  readonly description: string;
  /** Options that change its scores besides the metric and the prompts ('steps', 'igConvention'). */
  readonly options: readonly ('steps' | 'igConvention')[];
  /**
   * Gradient (or patching) passes for one batch of `batch` prompts, after the batch's two activation
   * passes (clean and corrupted).
   */
  passesPerBatch(batch: number, s: Schedule): number;
  /** Scores come from the clean prompts alone: the corrupted prompts only give the baseline metric. */
  readonly cleanOnly?: boolean;
}

/** Every method, in the order the CLI and the settings list them (the paper's method first). */
export const methodTable: readonly MethodRow[] = Object.freeze([
  { name: 'eap-ig-inputs', description: 'EAP-IG over input embeddings, the paper’s method', options: ['steps', 'igConvention'], passesPerBatch: (_b, s) => s.steps },
  { name: 'eap', description: 'Edge attribution patching, one gradient', options: [], passesPerBatch: () => 1 },
  { name: 'clean-corrupted', description: 'Gradients at the clean and corrupted inputs, averaged', options: [], passesPerBatch: () => 2 },
  {
    name: 'eap-ig-activations',
    description: 'EAP-IG over node activations (slower)',
    options: ['steps', 'igConvention'],
    // One integration per group of sources: the input, each layer's heads, each MLP.
    passesPerBatch: (_b, s) => s.steps * (2 * s.nLayers + 1),
  },
  // RelP (Jafari et al. 2025): EAP with LRP propagation rules in place of local gradients (LN-rule,
  // Identity-rule, Half-rule; -ah adds the AH-rule); -corrupted propagates at the corrupted run, as
  // RelP's demo notebook does, instead of this project's clean run.
  { name: 'relp', description: 'RelP: attribution patching with LRP rules (norm scale, activation ratio, half gate), one pass', options: [], passesPerBatch: () => 1 },
  { name: 'relp-ah', description: 'RelP with attention patterns held constant as well (AH-rule)', options: [], passesPerBatch: () => 1 },
  { name: 'relp-corrupted', description: 'RelP propagated at the corrupted run, as RelP’s demo notebook does', options: [], passesPerBatch: () => 1 },
  // Information-flow routes (Ferrando & Voita 2024), as EAP-IG's method: proximity of each upstream
  // output to the destination's input, from the clean run's activations; no metric, no gradient.
  {
    name: 'information-flow-routes',
    description: 'Information-flow routes: how close each contribution is to its destination’s input, from the clean run alone (no gradients)',
    options: [],
    passesPerBatch: () => 0,
    cleanOnly: true,
  },
  {
    name: 'exact',
    description: 'Activation patching of every edge (exact, slow)',
    options: [],
    // Every (prompt, edge) patch is one row; rows run batchSize at a time, per prompt.
    passesPerBatch: (b, s) => b * Math.ceil(s.edges / s.batchSize),
  },
] satisfies MethodRow[]);

export const methodNames: readonly Method[] = Object.freeze(methodTable.map((m) => m.name));

export function methodRow(name: Method): MethodRow {
  const row = methodTable.find((m) => m.name === name);
  if (!row) throw new Error(`internal: no attribution method '${name}'`);
  return row;
}

/** Forward(+backward) passes of an attribution run over `prompts` prompts: per batch, two activation passes and the method's own. */
export function attributionPasses(method: Method, prompts: number, s: Schedule): number {
  const row = methodRow(method);
  let passes = 0;
  for (let done = 0; done < prompts; done += s.batchSize) passes += 2 + row.passesPerBatch(Math.min(s.batchSize, prompts - done), s);
  return passes;
}

/**
 * Passes of a discovery's evaluation over `prompts` prompts: faithfulness by patching (per batch the
 * clean and corrupted activation passes and one patched pass), Hit@10 by zero ablation (one pass per
 * batch), and the faithfulness curve when traced (per batch two activation passes and one per size).
 */
/** The paper's N: 8000 for GPT-2 small, 20000 for GPT-2 medium, else the same share of edges. */
export function defaultTopN(g: CircuitGraph): number {
  const { nLayers: L, nHeads: H } = g.cfg;
  if (L === 12 && H === 12) return 8000;
  if (L === 24 && H === 16) return 20000;
  return Math.max(1, Math.round((g.edges.length * 8000) / 32491));
}

/** The node-level N by default: the paper's share of edges (defaultTopN) applied to the scored nodes (all but logits). */
export function defaultNodeTopN(g: CircuitGraph): number {
  return Math.max(1, Math.round(((g.nodes.length - 1) * defaultTopN(g)) / g.edges.length));
}

export function evaluationPasses(prompts: number, batchSize: number, curveSizes = 0): { patching: number; zero: number; curve: number } {
  const batches = Math.ceil(prompts / Math.max(1, batchSize));
  return { patching: 3 * batches, zero: batches, curve: curveSizes > 0 ? batches * (2 + curveSizes) : 0 };
}

/**
 * The discover defaults: what CLI flags, extension settings and engine options mean when left out.
 * `topN` 0 stands for the paper's share of edges (8000 of GPT-2 small's 32,491; see defaultTopN);
 * `nodeTopN` 0 for the same share of the scored nodes (see defaultNodeTopN).
 */
export const discoverDefaults = Object.freeze({
  method: 'eap-ig-inputs' as Method,
  steps: 5,
  batchSize: 8,
  topN: 0,
  selection: 'topn' as SelectionKind,
  level: 'edge' as CircuitLevel,
  nodeTopN: 0,
  metric: 'logit-diff' as MetricKind,
  igConvention: 'paper' as IgConvention,
  prependBos: true,
  threads: 0,
  /** Where the engine runs graphs: CUDA when onnxruntime-node's CUDA provider is installed (auto), or the CPU. */
  device: 'auto' as 'auto' | 'cpu' | 'cuda',
  /** Whole-graph execution when the model's float32 weights fit a third of the memory budget, block-streamed otherwise. */
  execution: 'auto' as 'auto' | 'whole' | 'streamed',
  /** 0: a third of the machine’s memory, at most 80 % of the free memory. */
  memoryBudgetMiB: 0,
});

/** The extension settings (under `circuitscope.`) that carry the discover defaults. */
export const discoverSettingKeys = Object.freeze({
  method: 'discovery.method',
  steps: 'discovery.steps',
  topN: 'discovery.topN',
  batchSize: 'discovery.batchSize',
  prependBos: 'prependBos',
  threads: 'engine.threads',
  device: 'engine.device',
  execution: 'engine.execution',
  memoryBudgetMiB: 'engine.memoryBudgetMiB',
} as const satisfies Partial<Record<keyof typeof discoverDefaults, string>>);
