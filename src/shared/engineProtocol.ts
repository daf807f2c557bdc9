/**
 * The host ↔ engine channel: typed JSON-RPC requests and notifications over the forked engine's IPC
 * channel. Method names are 'area/verbNoun'. Every long request takes a cancellation token (the
 * host's CancellationToken is forwarded by vscode-jsonrpc as '$/cancelRequest').
 */
import { NotificationType, RequestType } from 'vscode-jsonrpc';
import type { ExecutionPlan } from './cost';
import type { Method } from './methods';
import type { FileProblem } from './problems';

/** Architecture summary of a checkpoint, for tree descriptions and cost estimates. */
export interface ModelSummary {
  /** Absolute path of the checkpoint folder. */
  readonly dir: string;
  /** `architectures[0]` of config.json, e.g. 'GPT2LMHeadModel'. */
  readonly architecture: string;
  readonly nLayers: number;
  readonly nHeads: number;
  readonly nKvHeads: number;
  readonly dModel: number;
  readonly vocabSize: number;
  /** Parameter count from the config (weights are not read). */
  readonly parameters: number;
  /** Training step for `checkpoint-N` folders. */
  readonly step?: number;
}

export interface DescribeModelParams {
  readonly dir: string;
}
/** Reads config.json (and safetensors headers) of a checkpoint; cheap, no weights are loaded. */
export const describeModel = new RequestType<DescribeModelParams, ModelSummary, void>('model/describe');

export interface GenerateParams {
  readonly dir: string;
  readonly prompt: string;
  readonly maxNewTokens: number;
  readonly prependBos?: boolean;
}
export interface GenerateResult {
  readonly tokens: number[];
  readonly text: string;
}
/** Greedy generation. */
export const generate = new RequestType<GenerateParams, GenerateResult, void>('model/generate');

/** Progress of the current long request. `fraction` is in [0, 1] when known. */
export interface ProgressParams {
  /** The id the host gave the request (`token` field of its params). */
  readonly token: string;
  readonly message: string;
  readonly fraction?: number;
  /** What the run will cost; a discovery's first notification carries it. */
  readonly cost?: CostEstimate;
}
export const didProgress = new NotificationType<ProgressParams>('engine/didProgress');

/** A log line for the host's output channel. */
export interface LogParams {
  readonly level: 'info' | 'warn' | 'error';
  readonly message: string;
}
export const didLog = new NotificationType<LogParams>('engine/didLog');

/**
 * JSON-RPC error code for user errors (bad files, fields, prompts): the message is meant to be shown
 * as it is. Other codes are bugs.
 */
export const userErrorCode = -32001;

/**
 * What the user reads when the engine fails for a reason that is not the user's (a bug): one line,
 * never the exception's text. The engine sends the details (message and stack) as a log notification
 * first, and the host writes them to the Circuitscope output channel.
 */
export const internalErrorMessage = 'an internal error stopped this request; please report it with the details from the Circuitscope log (command: Circuitscope: Show Log)';

/** A checkpoint folder found in the workspace. */
export interface CheckpointEntry {
  readonly dir: string;
  /** Training step for `checkpoint-N` folders. */
  readonly step?: number;
  readonly summary?: ModelSummary;
  /** Why the folder cannot be used, when it cannot (e.g. an unsupported architecture). */
  readonly problem?: string;
}

/** A run folder: `checkpoint-N` folders in step order. */
export interface RunEntry {
  readonly dir: string;
  readonly checkpoints: CheckpointEntry[];
}

/** A prompt-set file found in the workspace, with its prompts (for the tree). */
export interface PromptSetEntry {
  readonly file: string;
  readonly format?: string;
  readonly prompts: { readonly line: number; readonly prompt: string; readonly target: string; readonly group?: string }[];
  /** Why the file cannot be used as a prompt set, when it cannot (its first problem). */
  readonly problem?: string;
  /** How many pairs the file has (`prompts` lists at most 500). */
  readonly count?: number;
  /** A warning that does not stop its use (a small set), or how a facts file gets its corruptions. */
  readonly note?: string;
}

/** A circuit file found in the results folder. */
export interface ResultEntry {
  readonly file: string;
  /** The checkpoint folder its provenance names. */
  readonly checkpoint: string;
  readonly prompts?: string;
  /** How many prompt pairs the circuit was discovered on. */
  readonly promptCount?: number;
  readonly method?: string;
  readonly faithfulness?: number;
  readonly hit10?: number;
  readonly edges?: number;
  readonly createdAt?: string;
}

export interface ScanWorkspaceParams {
  readonly roots: readonly string[];
  /** Where discovered circuits are written; its circuit files are listed under their checkpoints. */
  readonly resultsDir?: string;
  /** Folder names never descended into. */
  readonly exclude?: readonly string[];
  readonly maxDepth?: number;
}
export interface ScanWorkspaceResult {
  readonly runs: RunEntry[];
  /** Model folders that are not inside a run. */
  readonly checkpoints: CheckpointEntry[];
  readonly promptSets: PromptSetEntry[];
  readonly results: ResultEntry[];
  /** Every problem of the checkpoints and prompt sets above, at its file and line. */
  readonly problems: FileProblem[];
}
/** Finds checkpoints, runs and prompt sets under the workspace folders. */
export const scanWorkspace = new RequestType<ScanWorkspaceParams, ScanWorkspaceResult, void>('workspace/scan');

/** Discovery settings shared by discover, compare and evolve. */
export interface DiscoverSettings {
  readonly method?: Method;
  readonly steps?: number;
  readonly topN?: number;
  readonly batchSize?: number;
  readonly prependBos?: boolean;
  readonly threads?: number;
  /** onnxruntime execution provider: auto (CUDA when installed), cpu or cuda. */
  readonly device?: 'auto' | 'cpu' | 'cuda';
  /** Whole-graph or block-streamed execution (engine model/stages.ts); auto chooses by the memory budget. */
  readonly execution?: 'auto' | 'whole' | 'streamed';
  /** The memory budget in MiB for auto execution; 0: a third of the machine’s memory, at most 80 % of the free memory. */
  readonly memoryBudgetMiB?: number;
}

export interface DiscoverParams {
  /** Echoed in progress notifications. */
  readonly token: string;
  readonly dir: string;
  readonly promptsFile: string;
  readonly out: string;
  readonly settings: DiscoverSettings;
  /**
   * Discover even when `out` already holds this discovery. Without it, a circuit file at `out` whose
   * provenance has the same cache key (checkpoint content, prompt file, method, steps, top-N, metric,
   * IG convention, BOS, tool version) is reopened and nothing is computed but the head roles.
   */
  readonly recompute?: boolean;
}
export interface DiscoverResult {
  readonly circuitFile: string;
  readonly edges: number;
  readonly nodes: number;
  readonly faithfulness: number;
  readonly hit10: number;
  /** Seconds the discovery took (as recorded in the file when reused). */
  readonly seconds: number;
  /** The existing circuit file was reopened: same checkpoint, prompts and settings (see `recompute`). */
  readonly reused: boolean;
  /** What the circuit view draws, with head roles on the discovery's prompts (as circuitViewData with dir and promptsFile). */
  readonly view: import('./webviewProtocol').CircuitViewData;
}
/**
 * Discovers a circuit, writes its file (atomically) and returns its view data: the whole of one
 * Discover, with the checkpoint and the prompt set opened once. The first progress notification
 * carries the cost estimate (none when the existing circuit is reopened). Cancellable; a cancelled
 * run writes nothing.
 */
export const discover = new RequestType<DiscoverParams, DiscoverResult, void>('circuit/discover');

export interface CostEstimateParams {
  readonly dir: string;
  readonly promptsFile: string;
  readonly settings: DiscoverSettings;
}
export interface CostEstimate {
  readonly edges: number;
  readonly prompts: number;
  /** Forward(+backward) passes the method will run. */
  readonly passes: number;
  /** Predicted peak memory of the engine process in MiB (src/shared/cost.ts): the largest of the phases below. */
  readonly memoryMiB: number;
  /** The predicted peak of each phase in MiB, and how the model runs (whole, or streamed in stages). */
  readonly memory?: { readonly loadMiB: number; readonly attributionMiB: number; readonly evaluationMiB: number; readonly plan: ExecutionPlan['kind'] };
}
/** What a discovery will cost, without running it (discover sends the same in its first progress notification). */
export const estimateCost = new RequestType<CostEstimateParams, CostEstimate, void>('circuit/estimateCost');

export interface ViewDataParams {
  readonly circuitFile: string;
  /** When given, head roles are computed on this checkpoint with these prompts. */
  readonly dir?: string;
  readonly promptsFile?: string;
  readonly settings?: DiscoverSettings;
}
/** Reads a circuit file into what the circuit view draws. */
export const circuitViewData = new RequestType<ViewDataParams, import('./webviewProtocol').CircuitViewData, void>('circuit/viewData');

export interface CompareParams {
  readonly token: string;
  readonly dirA: string;
  readonly dirB: string;
  readonly promptsFile: string;
  readonly cacheDir: string;
  readonly settings: DiscoverSettings;
}
export interface CompareResult {
  readonly a: import('./webviewProtocol').CircuitViewData;
  readonly b: import('./webviewProtocol').CircuitViewData;
  readonly drift: import('./webviewProtocol').DriftData;
  /** The two circuit files (in the cache). */
  readonly circuitFileA: string;
  readonly circuitFileB: string;
}
/** Compares the circuits of two checkpoints, discovering what is not cached; cancellable. */
export const compare = new RequestType<CompareParams, CompareResult, void>('analysis/compare');

export interface EvolveParams {
  readonly token: string;
  /** A run folder of checkpoint-N folders (at least two). */
  readonly runDir: string;
  readonly promptsFile: string;
  /** Where the evolution's JSON is written (atomically; nothing when cancelled). */
  readonly out: string;
  readonly cacheDir: string;
  readonly settings: DiscoverSettings;
}
export interface EvolveSummary {
  readonly outFile: string;
  readonly checkpoints: number;
  readonly cacheHits: number;
  /** The step of the detected phase shift, when the Jaccard-to-final curve has a knee. */
  readonly phaseShiftStep?: number;
  readonly seconds: number;
}
/** Circuits across the checkpoints of a run (as `circuitscope evolve`), writing its JSON; cancellable. */
export const evolve = new RequestType<EvolveParams, EvolveSummary, void>('analysis/evolve');

export interface CheckCheckpointParams {
  readonly dir: string;
}
export interface CheckCheckpointResult {
  /** Empty when the folder can be used: config.json, weights and tokenizer are all there and readable. */
  readonly problems: FileProblem[];
}
/** Checks a checkpoint folder as a run would open it, without loading weights: Discover asks before anything else. */
export const checkCheckpoint = new RequestType<CheckCheckpointParams, CheckCheckpointResult, void>('workspace/checkCheckpoint');

export interface RunCircuitTestsParams {
  /** Echoed in progress notifications. */
  readonly token: string;
  /** A `*.circuit-test.json` file (format in circuitTests.ts). */
  readonly file: string;
  /** Only the tests with these names (all when omitted). */
  readonly names?: readonly string[];
  /** BOS (the file's own `prependBos` wins) and threads. */
  readonly prependBos?: boolean;
  readonly threads?: number;
}
/**
 * Runs a circuit test file on every checkpoint its tests name (as `circuitscope test`), circuits
 * discovered or read from the shared cache; results per test and checkpoint. Cancellable.
 */
export const runCircuitTests = new RequestType<RunCircuitTestsParams, import('./circuitTests').TestFileResult, void>('tests/run');

export interface PairsFromFactsParams {
  /** The checkpoint whose tokenizer counts tokens. */
  readonly dir: string;
  readonly facts: readonly { readonly subject: string; readonly template: string; readonly object: string }[];
}
export interface PairsFromFactsResult {
  readonly pairs: { readonly prompt: string; readonly target: string; readonly corruptedPrompt: string; readonly corruptedTarget: string; readonly subject: string; readonly corruptedSubject: string; readonly corruption: 'typed' | 'vocabulary' }[];
  /** Facts left out, with why. */
  readonly skipped: { readonly subject: string; readonly reason: string }[];
  /** The corruption rule in one sentence, for the preview. */
  readonly rule: string;
  /** The pairs as a Circuitscope JSONL prompt set. */
  readonly text: string;
}
/** Corrupted counterparts of a few typed facts under a checkpoint's tokenizer (same token lengths); no weights are loaded. */
export const pairsFromFacts = new RequestType<PairsFromFactsParams, PairsFromFactsResult, void>('prompts/pairsFromFacts');
