/** The short content hash the project records for files (prompt sets, cache keys): sha256, 16 hex digits. */
import * as crypto from 'node:crypto';

export function shortHash(bytes: Uint8Array | string): string {
  return crypto.createHash('sha256').update(bytes).digest('hex').slice(0, 16);
}
