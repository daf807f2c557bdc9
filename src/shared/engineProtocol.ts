/**
 * The host ↔ engine channel: typed JSON-RPC requests and notifications over the forked engine's IPC
 * channel. Method names are 'area/verbNoun'. Every long request takes a cancellation token (the
 * host's CancellationToken is forwarded by vscode-jsonrpc as '$/cancelRequest').
 */
import { NotificationType, RequestType } from 'vscode-jsonrpc';

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
