/**
 * Errors about what the user gave us (a file, a field, a prompt), as opposed to bugs. Each names the
 * file and the tensor or field at fault, and says what to do, so that the CLI and the extension can
 * show the message as it is.
 */

export class UserError extends Error {
  override name = 'UserError';
}

/** A field or tensor name for a message: quoted, on one line, not too long. */
function showField(field: string): string {
  const short = field.length > 120 ? field.slice(0, 117) + '...' : field;
  return /[\u0000-\u001f\u007f']/.test(short) ? JSON.stringify(short) : `'${short}'`;
}

/** A problem with a checkpoint file or folder. */
export class CheckpointError extends UserError {
  override name = 'CheckpointError';
  constructor(
    readonly file: string,
    readonly detail: string,
    readonly field?: string,
  ) {
    super(`${file}${field ? `: ${showField(field)}` : ''}: ${detail}`);
  }
}

/** A run stopped because its AbortSignal fired; nothing it would have written was written. */
export class CancelledError extends Error {
  override name = 'CancelledError';
  constructor() {
    super('cancelled');
  }
}
