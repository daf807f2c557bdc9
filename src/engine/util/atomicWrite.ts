/**
 * Atomic file writes: the data goes to a temporary file in the same folder, is flushed to disk, and
 * is renamed over the target. A reader sees the old file or the new one, never half of either, and a
 * crash or cancellation leaves the old file intact.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * This machine's tag in temporary file names. A folder shared between machines (a cluster's network
 * file system, evolve --shard) holds temporary files of other machines' processes, whose ids mean
 * nothing here: only this machine's are checked for staleness.
 */
const hostTag = crypto.createHash('sha256').update(os.hostname()).digest('hex').slice(0, 8);

/**
 * The temporary files of `file`'s writers on this machine: `.<name>.<pid>.<time>.<host>.tmp` (or
 * without `<host>`) beside it; with no `base`, those of every file in `dir`.
 */
function tempFilesOf(dir: string, base?: string): { name: string; pid: number }[] {
  const prefix = base === undefined ? '.' : `.${base}.`;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const out: { name: string; pid: number }[] = [];
  for (const n of names) {
    if (!n.startsWith(prefix) || !n.endsWith('.tmp')) continue;
    const m = (base === undefined ? /\.(\d+)\.[0-9a-z]+(?:\.([0-9a-f]{8}))?\.tmp$/ : /^(\d+)\.[0-9a-z]+(?:\.([0-9a-f]{8}))?\.tmp$/).exec(n.slice(prefix.length));
    if (m && (m[2] === undefined || m[2] === hostTag)) out.push({ name: n, pid: Number(m[1]) });
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the temporary files that killed writers of `file` left behind (their process is gone).
 * A writer that is still running keeps its file. Called before every atomic write of `file`.
 */
export function removeStaleTempFiles(file: string): void {
  const dir = path.dirname(path.resolve(file));
  for (const t of tempFilesOf(dir, path.basename(file))) {
    if (t.pid !== process.pid && !alive(t.pid)) fs.rmSync(path.join(dir, t.name), { force: true });
  }
}

/**
 * Removes the temporary files of killed writers (their process is gone) from `dir`, whatever file
 * they were writing: called when a results folder is scanned, so that a folder no run writes to again
 * does not keep them. Returns how many were removed.
 */
export function removeStaleTempFilesIn(dir: string): number {
  let removed = 0;
  for (const t of tempFilesOf(dir)) {
    if (t.pid === process.pid || alive(t.pid)) continue;
    fs.rmSync(path.join(dir, t.name), { force: true });
    removed++;
  }
  return removed;
}

/**
 * Why `file` cannot be written, or undefined: checked before a long run so that it fails at once.
 * The file may exist (it is replaced), but not as a folder; its folder may be missing (it is
 * created), but no part of the path may be a file, and the nearest existing folder must be writable.
 */
export function outputPathProblem(file: string): string | undefined {
  const abs = path.resolve(file);
  try {
    const st = fs.statSync(abs);
    if (st.isDirectory()) return 'is a folder; give a file name (for example a name inside that folder)';
    if (!st.isFile()) return 'exists and is not a regular file';
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') return 'a part of the path is a file, not a folder';
    if (code !== 'ENOENT') return `cannot be checked (${code})`;
  }
  let dir = path.dirname(abs);
  for (;;) {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(dir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR') return 'a part of the path is a file, not a folder';
      if (code !== 'ENOENT') return `its folder cannot be checked (${code})`;
    }
    if (st) {
      if (!st.isDirectory()) return `${dir} is a file, not a folder`;
      try {
        fs.accessSync(dir, fs.constants.W_OK);
      } catch {
        return `the folder ${dir} is not writable`;
      }
      return undefined;
    }
    const up = path.dirname(dir);
    if (up === dir) return 'no folder of the path exists';
    dir = up;
  }
}

export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const dir = path.dirname(path.resolve(file));
  fs.mkdirSync(dir, { recursive: true });
  removeStaleTempFiles(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now().toString(36)}.${hostTag}.tmp`);
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  try {
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}
