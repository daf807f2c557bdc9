/**
 * A workload: a checkpoint and a prompt set opened once, giving the model, the prompt set and its
 * tokenized pairs. Every CLI command, engine request and analysis that runs prompts through a model
 * starts here, so the prompt file is read and tokenized once per run.
 */
import { readPromptSet, tokenizePairs, type PromptSet, type TokenizedPair } from './circuits/prompts';
import { UserError } from './errors';
import { Model, type ModelOptions } from './model/runner';

export interface WorkloadSource {
  /** A model folder, or a `checkpoint-N` folder of a run folder (its tokenizer may be the run's). */
  readonly dir: string;
  readonly promptsFile: string;
  /** Query template with a {subject} placeholder, for knowledge-circuits and fact files. */
  readonly template?: string;
  /** Only the prompts of this group (e.g. 'new/high'); prompts without a group are in 'all'. */
  readonly group?: string;
  /** BOS and threads; BOS is prepended to every prompt unless `prependBos` is false. */
  readonly model?: ModelOptions;
}

/** Where a workload's parts come from; tests and the engine's one-model cache replace them. */
export interface WorkloadDeps {
  /**
   * Loads the model. Default: Model.load, and the workload's caller owns (disposes) the model. A
   * shared loader (the engine's cache) keeps ownership, and a failed open leaves its model alone.
   */
  readonly loadModel?: (dir: string, options: ModelOptions) => Promise<Model>;
  /** Reads the prompt file's bytes (default fs.readFileSync); tests count reads through it. */
  readonly readFile?: (file: string) => Buffer;
}

export interface Workload {
  readonly model: Model;
  readonly set: PromptSet;
  readonly pairs: TokenizedPair[];
}

/** The group a prompt pair reports under. */
export function groupOf(p: TokenizedPair): string {
  return p.pair.group ?? 'all';
}

/** The groups of some pairs, in order of first appearance. */
export function groupsOf(pairs: readonly TokenizedPair[]): string[] {
  return [...new Set(pairs.map(groupOf))];
}

/** Loads the model, reads the prompt set with its tokenizer, and tokenizes it (with BOS unless turned off). */
export async function openWorkload(src: WorkloadSource, deps: WorkloadDeps = {}): Promise<Workload> {
  const model = await (deps.loadModel ?? ((dir, o) => Model.load(dir, o)))(src.dir, src.model ?? {});
  try {
    const set = readPromptSet(src.promptsFile, { template: src.template, tokenizer: model.tokenizer, readFile: deps.readFile });
    const bos = model.options.prependBos === false ? undefined : model.checkpoint.bosId;
    const all = tokenizePairs(model.tokenizer, set, bos, model.spec);
    const pairs = src.group === undefined ? all : all.filter((p) => groupOf(p) === src.group);
    if (pairs.length === 0 && src.group !== undefined) throw new UserError(`${src.promptsFile}: no prompt is in group '${src.group}'; the groups are ${groupsOf(all).join(', ')}`);
    return { model, set, pairs };
  } catch (e) {
    if (!deps.loadModel) await model.dispose();
    throw e;
  }
}
