/**
 * The engine's side of the memory estimate (src/shared/cost.ts): a checkpoint's sizes and stored
 * dtype, read from its spec and its tensor index without loading a weight, a model's execution plan,
 * and a discovery's settings, as the estimator takes them.
 */
import { estimateMemory, type ExecutionPlan, type MemoryEstimate, type ModelSizes } from '../shared/cost';
import type { Method } from '../shared/methods';
import type { Checkpoint } from './model/checkpoint';
import { parameterCount } from './model/config';
import type { Model } from './model/runner';
import { globalParams, layerParams } from './model/stages';

/** A checkpoint's sizes and its weights' bytes per parameter on disk (a mean over its tensors). */
export function checkpointSizes(ckpt: Checkpoint): { sizes: ModelSizes; storedBytes: number } {
  const s = ckpt.spec;
  let bytes = 0;
  let elements = 0;
  let largest = 0;
  for (const e of ckpt.weights.index.entries.values()) {
    const n = e.shape.reduce((a, b) => a * b, 1);
    bytes += e.end - e.begin;
    elements += n;
    largest = Math.max(largest, n);
  }
  const sizes: ModelSizes = {
    nLayers: s.nLayers,
    nHeads: s.nHeads,
    nKvHeads: s.nKvHeads,
    dModel: s.dModel,
    dHead: s.dHead,
    dMlp: s.dMlp,
    vocabSize: s.vocabSize,
    gatedMlp: s.gatedMlp,
    postNorm: s.postNorm,
    parameters: parameterCount(s),
    layerParameters: layerParams(s),
    globalParameters: globalParams(s),
    largestTensor: largest,
  };
  return { sizes, storedBytes: elements > 0 ? bytes / elements : 4 };
}

/** How a loaded model runs: whole, or in the stages its StreamPlan made. */
export function executionPlanOf(model: Model): ExecutionPlan {
  const p = model.stages?.plan;
  if (!p) return { kind: 'whole' };
  return { kind: 'streamed', stageLayers: Math.max(...p.stages.map((s) => s.to - s.from)), residentBytes: p.residentBytes, residentGlobals: p.residentGlobals, allResident: p.allResident, budgetBytes: p.budgetBytes };
}

/** What a discovery's settings are, as far as its memory goes. */
export interface MemorySettings {
  readonly method: Method;
  readonly batchSize: number;
  /** Tokens of the longest prompt, BOS included. */
  readonly nPos: number;
  readonly prompts: number;
}

/** The predicted peak memory of a discovery on `model`, as it runs (whole or streamed), with these settings. */
export function discoveryMemory(model: Model, s: MemorySettings): MemoryEstimate {
  const { sizes, storedBytes } = checkpointSizes(model.checkpoint);
  return estimateMemory({ model: sizes, storedBytes, method: s.method, batchSize: s.batchSize, nPos: s.nPos, prompts: s.prompts, plan: executionPlanOf(model) });
}
