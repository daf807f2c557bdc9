/**
 * Peak memory of a discovery, predicted before it runs: the figure the extension shows in its cost
 * estimate. Pure: the engine passes the model's sizes (its ModelSpec), the longest prompt's length,
 * the prompt count, the batch size, the method and the weights' stored dtype (src/engine/memory.ts).
 *
 * A discovery peaks in one of three phases, each predicted as the resident set the kernel counts
 * (VmHWM): loading the weights; attribution, which holds a batch's node outputs ([batch, pos, nForward,
 * d]: clean, and corrupted turned into Δ) in JavaScript besides what its graphs hold; evaluation
 * (patching, zero ablation, curve, MIB, trust), which holds the clean and corrupted outputs and the
 * patched graph's. Both grow with the weights and with the node outputs of one batch; `whole` says by
 * how much.
 *
 * How memory is laid out is an execution plan, one function from the workload to its phases: 'whole'
 * runs each graph over all layers with every weight resident as float32; 'streamed' runs stages of
 * layers with their weights read and widened per pass (the engine's model/stages.ts). Another plan
 * adds its variant to ExecutionPlan and its function to `estimateMemory`.
 *
 * The whole plan's coefficients are fitted to peaks measured on GPT-2 small's shape (12 and 4 layers,
 * batches 4 to 16, 16 and 32 tokens), the Llama-3.2-1B shape with 4 layers (batches 4 to 16, 14 and 28
 * tokens) and stories260K's shape, with EAP-IG, EAP-IG over activations, routes and exact patching: within
 * 10 % (17 % for exact patching on stories260K). bench/attribution.bench.ts and bench/scale.bench.ts print
 * each phase's estimate beside its measurement.
 */
import type { Method } from './methods';

/** How a run lays out its memory (see the file comment). */
export type ExecutionPlan = { readonly kind: 'whole' } | StreamedPlan;

/** Block-streamed execution (the engine's model/stages.ts): stages of layers whose weights are read per pass. */
export interface StreamedPlan {
  readonly kind: 'streamed';
  /** Layers of the largest stage. */
  readonly stageLayers: number;
  /** Bytes of float32 layer weights kept in memory between passes. */
  readonly residentBytes: number;
  /** The weights outside the layers stay in memory (else the first and last stages read theirs per pass). */
  readonly residentGlobals: boolean;
  /** Every weight stays in memory (then tap gradients run as one graph). */
  readonly allResident: boolean;
  /** The memory budget the plan was made for, in bytes: batches are cut to fit it. */
  readonly budgetBytes: number;
}

/** The sizes of a model that its memory depends on (the engine's ModelSpec has them). */
export interface ModelSizes {
  readonly nLayers: number;
  readonly nHeads: number;
  readonly nKvHeads: number;
  readonly dModel: number;
  readonly dHead: number;
  readonly dMlp: number;
  readonly vocabSize: number;
  readonly gatedMlp: boolean;
  /** A norm after attention (Gemma-2/3, OLMo-2): its gradients patch at zero coefficients instead of tapping. */
  readonly postNorm: boolean;
  /** Parameters held in memory (a tied embedding counted once). */
  readonly parameters: number;
  /** Parameters of one layer, and outside the layers (embeddings, unembedding, final norm). */
  readonly layerParameters: number;
  readonly globalParameters: number;
  /** Elements of the largest tensor in the checkpoint (the embedding, usually). */
  readonly largestTensor: number;
}

/** A discovery's settings, as far as memory goes. */
export interface MemoryWorkload {
  readonly model: ModelSizes;
  /** Bytes per parameter as stored on disk: 4 for F32, 2 for BF16 and F16. */
  readonly storedBytes: number;
  readonly method: Method;
  readonly batchSize: number;
  /** Tokens of the longest prompt (BOS included): every batch is padded to at most this. */
  readonly nPos: number;
  /** Prompt pairs of the set. */
  readonly prompts: number;
  readonly plan?: ExecutionPlan;
}

/** Peak resident memory in MiB of each phase, and of the whole discovery. */
export interface MemoryEstimate {
  readonly plan: ExecutionPlan['kind'];
  readonly load: number;
  readonly attribution: number;
  readonly evaluation: number;
  readonly peak: number;
}

const MiB = 2 ** 20;
const f32 = 4;

/** The process before any graph: Node, onnxruntime's library, the tokenizer. */
const startupMiB = 60;
/** The process with a discovery's graphs compiled and run once: thread pools, kernels, V8's heap. */
const processMiB = 100;
/**
 * JavaScript frees a batch's tensors when V8 collects them, which it does once the memory allocated
 * since its last collection passes about this much (or one tensor's size, when that is larger).
 */
const collectionLagBytes = 64 * MiB;

/** Tensor sizes in bytes that the phases are made of, for one batch. */
interface Sizes {
  /** Node outputs of `prompts` prompts ([prompts, pos, nForward, d]); of one batch by default. */
  readonly acts: (prompts?: number) => number;
  /** Patchable destinations per node output: nBackward / nForward (absolute patching's stacks). */
  readonly destinationsPerOutput: number;
  /** Batches of the prompt set. */
  readonly batches: number;
}

function sizes(w: MemoryWorkload): Sizes {
  const m = w.model;
  const nForward = 1 + m.nLayers * (m.nHeads + 1);
  const nBackward = m.nLayers * (3 * m.nHeads + 1) + 1;
  return {
    acts: (prompts = w.batchSize) => f32 * prompts * w.nPos * nForward * m.dModel,
    destinationsPerOutput: nBackward / nForward,
    batches: Math.ceil(w.prompts / Math.max(1, w.batchSize)),
  };
}

/** The peak of each phase in MiB, the process's own share included. */
interface Phases {
  readonly load: number;
  readonly attribution: number;
  readonly evaluation: number;
}

/**
 * Every graph over all layers, every weight resident as float32, each session keeping its largest run
 * in its onnxruntime arena for as long as the model is loaded. In bytes, with A the node outputs of one
 * batch ([batch, pos, nForward, d]) and W the weights:
 * - load: W, and half the largest tensor as stored (read whole, then widened);
 * - attribution and evaluation: 1.1 W (the heap that loading leaves behind, which later tensors only
 *   partly reuse), 2 A in JavaScript (clean, and corrupted or Δ) and the last batch's until V8 collects
 *   them, and the arenas of the sessions run so far (`arenas`): evaluation adds the patching session's
 *   to attribution's.
 * The coefficients are fitted to the benches' measurements (file comment).
 */
function whole(w: MemoryWorkload): Phases {
  const m = w.model;
  const s = sizes(w);
  const A = s.acts();
  const W = f32 * m.parameters;
  // What each session's arena keeps, in node outputs of a batch: the activation run's stacked outputs
  // and their copy out; the gradient run's saved activations and per-head cotangents; patching at
  // non-zero or constant-zero coefficients (EAP-IG over activations, and every gradient of a model
  // with a norm after attention) also the coefficient GEMM's stacks, per destination per output;
  // the patched run's Δ of every output and per-head patched inputs, one more for exact patching's
  // per-row patch source; the routes' stacks of upstream outputs.
  const arenas = { acts: 2.5 * A, gradient: 4 * A, patched: 4 * s.destinationsPerOutput * A, patch: 3.5 * A, patchRows: 4.5 * A, routes: 4 * A };
  let attributionArenas: number;
  switch (w.method) {
    case 'information-flow-routes':
      attributionArenas = arenas.routes;
      break;
    case 'exact':
      attributionArenas = arenas.acts + arenas.patchRows;
      break;
    case 'eap-ig-activations':
      attributionArenas = arenas.acts + arenas.gradient + arenas.patched;
      break;
    default:
      attributionArenas = arenas.acts + arenas.gradient + (m.postNorm ? arenas.patched : 0);
  }
  const evaluationArenas = attributionArenas + (w.method === 'information-flow-routes' ? arenas.acts : 0) + arenas.patch;
  // Exact patching runs a pass per edge and prompt: V8 collects on its own schedule.
  const lag = Math.min(w.method === 'exact' ? Infinity : s.batches * 2 * A, Math.max(A, collectionLagBytes));
  const held = 1.1 * W + (w.method === 'information-flow-routes' ? 0 : 2 * A) + lag;
  return {
    load: startupMiB + (W + 0.5 * w.storedBytes * m.largestTensor) / MiB,
    attribution: processMiB + (held + attributionArenas) / MiB,
    evaluation: processMiB + (1.1 * W + 2 * A + lag + evaluationArenas) / MiB,
  };
}

/**
 * Bytes one layer of a streamed stage holds during its backward pass: about twenty residual-sized
 * tensors per layer and head group ([prompts, pos, d] each, 3H + 20 of them).
 */
export function stageBackwardBytes(m: Pick<ModelSizes, 'dModel' | 'nHeads'>, prompts: number, nPos: number): number {
  return f32 * prompts * nPos * m.dModel * (3 * m.nHeads + 20);
}

/**
 * Block-streamed stages, as estimated with them (model/stages.ts): what stays resident (the globals
 * where they fit, the resident layers) and what one stage reads (its layers, or the first or last
 * stage's embeddings), three times over, since the collector frees a stage's weights a few stages
 * late (nothing when every weight is resident); attribution adds 3.5 copies of node outputs in batches
 * cut for five (streamed.ts batchCap) and one stage's backward pass (about twenty residual-sized tensors
 * per layer and head group), or with every weight resident (tap gradients as one graph) 6.3 copies in
 * batches cut for seven; evaluation nine copies in batches cut for ten. Copies fitted to the
 * Llama-3.2-1B-shaped bench (batches of 6 to 8).
 */
function streamed(w: MemoryWorkload, p: StreamedPlan): Phases {
  const m = w.model;
  const s = sizes(w);
  const resident = (p.residentGlobals ? f32 * m.globalParameters : 0) + p.residentBytes;
  // With every weight resident no stage reads any: nothing waits for the collector.
  const stage = p.allResident ? 0 : Math.max(p.stageLayers * f32 * m.layerParameters, p.residentGlobals ? 0 : f32 * m.vocabSize * m.dModel);
  const cut = (copies: number) => Math.max(1, Math.min(w.batchSize, Math.floor(p.budgetBytes / 3 / (copies * s.acts(1)))));
  const backward = (prompts: number) => p.stageLayers * stageBackwardBytes(m, prompts, w.nPos);
  const held = resident + 3 * stage;
  const streamedProcessMiB = 150;
  return {
    // Opening a streamed model reads no weight: the first pass reads what stays resident.
    load: startupMiB,
    // With every weight resident, tap gradients run as one graph (attribute.ts): its arena instead of a stage's backward pass.
    attribution: streamedProcessMiB + (held + (p.allResident ? s.acts(6.3 * cut(7)) : s.acts(3.5 * cut(5)) + backward(cut(5)))) / MiB,
    evaluation: streamedProcessMiB + (held + s.acts(9 * cut(10))) / MiB,
  };
}

/** The predicted peak resident memory of a discovery, per phase and overall, in MiB. */
export function estimateMemory(w: MemoryWorkload): MemoryEstimate {
  const plan = w.plan ?? { kind: 'whole' };
  const p = plan.kind === 'streamed' ? streamed(w, plan) : whole(w);
  const [load, attribution, evaluation] = [p.load, p.attribution, p.evaluation].map(Math.round);
  return { plan: plan.kind, load, attribution, evaluation, peak: Math.max(load, attribution, evaluation) };
}
