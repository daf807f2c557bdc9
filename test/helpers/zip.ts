/**
 * A minimal reader of ZIP archives (VSIXs): the central directory's entries, and an entry's bytes.
 * No ZIP64, no encryption, methods 0 (stored) and 8 (deflate) only; anything else throws.
 */
import * as zlib from 'node:zlib';

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  crc32: number;
  /** Offset of the entry's local header. */
  offset: number;
}

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

/** Every entry of the central directory, in its order. */
export function zipEntries(zip: Buffer): ZipEntry[] {
  // The end-of-central-directory record is 22 bytes plus a comment of at most 65,535.
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i--) {
    if (zip.readUInt32LE(i) === EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error('not a ZIP archive: no end-of-central-directory record');
  const count = zip.readUInt16LE(eocd + 10);
  let p = zip.readUInt32LE(eocd + 16);
  const entries: ZipEntry[] = [];
  for (let k = 0; k < count; k++) {
    if (zip.readUInt32LE(p) !== CENTRAL) throw new Error(`central directory entry ${k} has a bad signature`);
    const nameLength = zip.readUInt16LE(p + 28);
    entries.push({
      name: zip.toString('utf8', p + 46, p + 46 + nameLength),
      method: zip.readUInt16LE(p + 10),
      compressedSize: zip.readUInt32LE(p + 20),
      size: zip.readUInt32LE(p + 24),
      crc32: zip.readUInt32LE(p + 16),
      offset: zip.readUInt32LE(p + 42),
    });
    p += 46 + nameLength + zip.readUInt16LE(p + 30) + zip.readUInt16LE(p + 32);
  }
  return entries;
}

/** The entry's first `bytes` bytes (all of it by default), decompressed. */
export function zipRead(zip: Buffer, entry: ZipEntry, bytes = entry.size): Buffer {
  const p = entry.offset;
  if (zip.readUInt32LE(p) !== LOCAL) throw new Error(`${entry.name}: bad local header signature`);
  const start = p + 30 + zip.readUInt16LE(p + 26) + zip.readUInt16LE(p + 28);
  const data = zip.subarray(start, start + entry.compressedSize);
  const want = Math.min(bytes, entry.size);
  if (entry.method === 0) return data.subarray(0, want);
  if (entry.method !== 8) throw new Error(`${entry.name}: compression method ${entry.method} is not supported`);
  if (want === entry.size) return zlib.inflateRawSync(data);
  // A prefix: inflate a growing prefix of the compressed stream until it yields enough bytes.
  for (let take = 4096; ; take *= 4) {
    const out = zlib.inflateRawSync(data.subarray(0, take), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    if (out.length >= want || take >= data.length) return out.subarray(0, want);
  }
}
