/**
 * Errors about what the user gave us (a file, a field, a prompt), as opposed to bugs. Each names the
 * file and the tensor or field at fault, and says what to do, so that the CLI and the extension can
 * show the message as it is.
 */
import * as path from 'node:path';

export class UserError extends Error {
  override name = 'UserError';
}

/** A problem with a checkpoint file or folder. */
export class CheckpointError extends UserError {
  override name = 'CheckpointError';
  constructor(
    readonly file: string,
    readonly detail: string,
    readonly field?: string,
  ) {
    super(`${path.basename(file) === file ? file : file}${field ? `: '${field}'` : ''}: ${detail}`);
  }
}

/** A run stopped because its AbortSignal fired; nothing it would have written was written. */
export class CancelledError extends Error {
  override name = 'CancelledError';
  constructor() {
    super('cancelled');
  }
}
