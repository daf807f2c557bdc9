/**
 * Problems of the files a user keeps in the workspace (prompt sets, checkpoint folders), as the engine
 * finds them when it scans and as the extension shows them: one entry per problem, at its file and
 * line, in the Problems panel and beside the item in the tree.
 */

/** What kind of problem it is; the extension offers a quick fix for some kinds. */
export type ProblemCode =
  /** The prompt set's file cannot be read as a prompt set (a bad line, a missing field, an empty file). */
  | 'prompt-line'
  /** The prompt set is usable but small: its figures are noisy. */
  | 'small-prompt-set'
  /** config.json is missing, is not JSON, or has a field Circuitscope refuses. */
  | 'config'
  /** The weights are a pickled PyTorch file (pytorch_model.bin, model.pt): convert them to safetensors. */
  | 'pickled-weights'
  /** The weights are missing or their safetensors header is broken. */
  | 'weights'
  /** The folder has weights but no config.json. */
  | 'no-config'
  /** No tokenizer in the folder (or its run folder). */
  | 'tokenizer'
  /** A circuit's trust checks warn: spot-check correlation, disconnected pieces, low faithfulness. */
  | 'circuit-trust';

/** One problem of one file. */
export interface FileProblem {
  /** The file at fault (a folder when the problem is a missing file). */
  readonly file: string;
  /** 1-based line, when the problem has one. */
  readonly line?: number;
  /** 1-based column, when known. */
  readonly column?: number;
  /** One or more sentences: what is wrong and what to do. Never names the file again. */
  readonly message: string;
  readonly severity: 'error' | 'warning';
  readonly code: ProblemCode;
  /** The checkpoint or prompt-set item this problem makes unusable (or warns about). */
  readonly item: string;
  /** A shell command that fixes it (pickled weights: the one-time conversion), when there is one. */
  readonly fixCommand?: string;
}

/**
 * Prompt sets with fewer pairs than this get a warning beside their figures: with a handful of prompts,
 * faithfulness and Hit@10 say little (one prompt gives Hit@10 of 0 or 100 %).
 */
export const minPromptPairs = 20;

/** The warning beside a prompt set's figures when it is small; undefined when it is not. */
export function smallPromptSetNote(pairs: number): string | undefined {
  if (pairs >= minPromptPairs) return undefined;
  return `only ${pairs} prompt${pairs === 1 ? '' : 's'}: with fewer than ${minPromptPairs}, faithfulness and Hit@10 are noisy; add prompts before trusting the figures`;
}

/** A short reason for a tree description ("pickled weights"), from the first problem of an item. */
export function shortReason(p: Pick<FileProblem, 'code'>): string {
  switch (p.code) {
    case 'prompt-line':
      return 'unreadable';
    case 'small-prompt-set':
      return 'few prompts';
    case 'config':
      return 'config.json problem';
    case 'pickled-weights':
      return 'pickled weights';
    case 'weights':
      return 'weights problem';
    case 'no-config':
      return 'no config.json';
    case 'tokenizer':
      return 'no tokenizer';
    case 'circuit-trust':
      return 'trust warning';
  }
}
