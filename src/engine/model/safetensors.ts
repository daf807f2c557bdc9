/**
 * Lazy safetensors reading. Only the header is read when a file is opened; each tensor is read from
 * disk when asked for, once, so a checkpoint is never held twice in memory.
 *
 * Format: 8-byte little-endian header length N, N bytes of JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {...}}`, then the data section,
 * to which the offsets are relative.
 */
import * as fs from 'node:fs';
import { CheckpointError } from '../errors';
import { brief } from './configReader';
import { fsProblem, isObject, parseJson } from '../util/jsonText';

export type StDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

const elemSize: Record<StDType, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

export interface TensorEntry {
  readonly name: string;
  readonly dtype: StDType;
  readonly shape: readonly number[];
  /** Absolute byte range in the file. */
  readonly begin: number;
  readonly end: number;
  readonly file: string;
}

/** Largest header the reader accepts: a header describes tensors, it never needs this much. */
const maxHeaderBytes = 100 * 1024 * 1024;

/**
 * Opens one .safetensors file and validates its header as the reference implementation does: the
 * length against the file size, JSON without duplicate names, dtypes, shapes, and offsets that cover
 * the data section exactly, tensor after tensor (so a header length that is off by a few bytes, which
 * would shift every tensor, is caught).
 */
export function readSafetensorsHeader(file: string): { entries: Map<string, TensorEntry>; metadata: Record<string, string> } {
  let fd: number;
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) throw new CheckpointError(file, `is ${st.isDirectory() ? 'a folder' : 'not a regular file'}; it must be a safetensors file`);
    fd = fs.openSync(file, 'r');
  } catch (e) {
    if (e instanceof CheckpointError) throw e;
    throw new CheckpointError(file, fsProblem(e));
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size < 8) throw new CheckpointError(file, `file is ${size} bytes, shorter than the 8-byte header length; the file is truncated or not safetensors`);
    const lenBuf = Buffer.alloc(8);
    fs.readSync(fd, lenBuf, 0, 8, 0);
    const headerLen = lenBuf.readBigUInt64LE(0);
    if (headerLen > BigInt(size - 8)) {
      throw new CheckpointError(file, `header length ${headerLen} runs past the end of the file (${size} bytes); the file is truncated or not safetensors`);
    }
    if (headerLen > BigInt(maxHeaderBytes)) throw new CheckpointError(file, `header length ${headerLen} is implausibly large`);
    const n = Number(headerLen);
    const hdr = Buffer.alloc(n);
    fs.readSync(fd, hdr, 0, n, 8);
    const text = hdr.toString('utf8');
    if (!text.startsWith('{')) throw new CheckpointError(file, 'the header does not start with \'{\'; the file is corrupt or not safetensors');
    const json = parseJson(text, (d) => {
      throw new CheckpointError(file, `header is ${d}; the file is corrupt or not safetensors`);
    }, { maxDepth: 4, uniqueTopKeys: true });
    if (!isObject(json)) throw new CheckpointError(file, 'header is not a JSON object');
    const dataStart = 8 + n;
    const dataLen = size - dataStart;
    const entries = new Map<string, TensorEntry>();
    let metadata: Record<string, string> = {};
    for (const [key, raw] of Object.entries(json)) {
      if (key === '__metadata__') {
        if (raw === null) continue;
        if (!isObject(raw) || !Object.values(raw).every((v) => typeof v === 'string')) {
          throw new CheckpointError(file, `must map names to strings, got ${brief(raw)}`, '__metadata__');
        }
        metadata = raw as Record<string, string>;
        continue;
      }
      entries.set(key, headerEntry(file, key, raw, dataStart, dataLen));
    }
    checkTiling(file, entries, dataStart, size);
    return { entries, metadata };
  } finally {
    fs.closeSync(fd);
  }
}

/** One tensor's header entry, checked: dtype, shape, and offsets that fit its shape and the data section. */
function headerEntry(file: string, key: string, raw: unknown, dataStart: number, dataLen: number): TensorEntry {
  if (!isObject(raw)) throw new CheckpointError(file, `header entry is ${brief(raw)}, not an object`, key);
  const r = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  if (typeof r.dtype !== 'string' || !Object.hasOwn(elemSize, r.dtype)) {
    throw new CheckpointError(file, `unsupported dtype ${brief(r.dtype)} (supported: ${Object.keys(elemSize).join(', ')})`, key);
  }
  const dtype = r.dtype as StDType;
  if (!Array.isArray(r.shape) || r.shape.length > 8 || !r.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new CheckpointError(file, `shape ${Array.isArray(r.shape) && r.shape.length <= 8 ? `[${r.shape.map(brief).join(', ')}]` : brief(r.shape)} is not a list of at most 8 non-negative integers`, key);
  }
  const offs = r.data_offsets;
  if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0) || offs[0] > offs[1]) {
    throw new CheckpointError(file, `data_offsets ${Array.isArray(offs) && offs.length <= 4 ? `[${offs.map(brief).join(', ')}]` : brief(offs)} must be [begin, end] with 0 <= begin <= end`, key);
  }
  if (offs[1] > dataLen) {
    throw new CheckpointError(file, `data_offsets [${offs[0]}, ${offs[1]}] are out of range: the data section is ${dataLen} bytes; the file is truncated or corrupt`, key);
  }
  const numel = (r.shape as number[]).reduce((a, b) => a * b, 1);
  if (offs[1] - offs[0] !== numel * elemSize[dtype]) {
    throw new CheckpointError(file, `data_offsets span ${offs[1] - offs[0]} bytes but ${dtype}[${r.shape.join(', ')}] needs ${numel * elemSize[dtype]}`, key);
  }
  return { name: key, dtype, shape: r.shape as number[], begin: dataStart + offs[0], end: dataStart + offs[1], file };
}

/** As the reference reader requires: the tensors tile the data section, in order, with no gap. */
function checkTiling(file: string, entries: Map<string, TensorEntry>, dataStart: number, size: number): void {
  const dataLen = size - dataStart;
  const sorted = [...entries.values()].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = dataStart;
  for (const e of sorted) {
    if (e.begin < at) {
      const prev = sorted[sorted.indexOf(e) - 1];
      throw new CheckpointError(file, `data of tensors '${prev.name}' and '${e.name}' overlap; the file is corrupt`, e.name);
    }
    if (e.begin > at) throw new CheckpointError(file, `the data section has a gap of ${e.begin - at} bytes before this tensor; the header length or offsets are wrong, the file is corrupt`, e.name);
    at = e.end;
  }
  if (at !== size) {
    throw new CheckpointError(file, `the tensors cover ${at - dataStart} bytes of a ${dataLen}-byte data section; the header length or offsets are wrong, the file is corrupt`);
  }
}

/** Converts IEEE half-precision bits to a float. */
function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** Reads one tensor and converts it to float32. */
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function readTensorF32(entry: TensorEntry): Float32Array {
  const bytes = entry.end - entry.begin;
  const buf = Buffer.allocUnsafe(bytes);
  let fd: number;
  try {
    fd = fs.openSync(entry.file, 'r');
  } catch (e) {
    throw new CheckpointError(entry.file, `${fsProblem(e)} (it was readable when the checkpoint was opened)`, entry.name);
  }
  try {
    let got = 0;
    while (got < bytes) {
      const n = fs.readSync(fd, buf, got, bytes - got, entry.begin + got);
      if (n === 0) throw new CheckpointError(entry.file, `unexpected end of file while reading`, entry.name);
      got += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  const numel = entry.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(numel);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  switch (entry.dtype) {
    case 'F32':
      for (let i = 0; i < numel; i++) out[i] = dv.getFloat32(i * 4, true);
      break;
    case 'F64':
      for (let i = 0; i < numel; i++) out[i] = dv.getFloat64(i * 8, true);
      break;
    case 'F16':
      for (let i = 0; i < numel; i++) out[i] = halfToFloat(dv.getUint16(i * 2, true));
      break;
    case 'BF16': {
      const u32 = new Uint32Array(out.buffer);
      // An aligned buffer is read as 16-bit words directly (little-endian hosts), several times faster.
      if (buf.byteOffset % 2 === 0 && littleEndian) {
        const u16 = new Uint16Array(buf.buffer, buf.byteOffset, numel);
        // Non-finite BF16 values have every exponent bit set: checked on the bits in the same pass.
        let special = 0;
        for (let i = 0; i < numel; i++) {
          const v = u16[i];
          u32[i] = v << 16;
          special |= ((v & 0x7f80) + 0x80) & 0x8000;
        }
        if (special === 0) return out;
      } else {
        for (let i = 0; i < numel; i++) u32[i] = dv.getUint16(i * 2, true) << 16;
      }
      break;
    }
    default:
      throw new CheckpointError(entry.file, `tensor has integer dtype ${entry.dtype}; model weights must be floating point`, entry.name);
  }
  // x − x is 0 for every finite x and NaN otherwise: one pass, and the loop body stays branch-free.
  let probe = 0;
  for (let i = 0; i < numel; i++) probe += out[i] - out[i];
  for (let i = 0; probe !== 0 && i < numel; i++) {
    if (!Number.isFinite(out[i])) {
      throw new CheckpointError(
        entry.file,
        `holds a non-finite value (${out[i]}) at element ${i}${entry.dtype === 'F64' ? ' (or a value beyond the float32 range)' : ''}; the weights are corrupt or training diverged. Use another checkpoint`,
        entry.name,
      );
    }
  }
  return out;
}

/** A tensor in memory to be written. */
export interface TensorToWrite {
  readonly dtype: 'F32' | 'F16' | 'BF16';
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

function floatToHalf(x: number): number {
  const f32 = new Float32Array([x]);
  const u = new Uint32Array(f32.buffer)[0];
  const sign = (u >> 16) & 0x8000;
  const exp = ((u >> 23) & 0xff) - 127 + 15;
  let mant = u & 0x7fffff;
  if (((u >> 23) & 0xff) === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  if (exp >= 31) return sign | 0x7c00;
  if (exp <= 0) {
    if (exp < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - exp;
    let h = mant >> shift;
    if ((mant >> (shift - 1)) & 1 && (mant & ((1 << (shift - 1)) - 1) || h & 1)) h++;
    return sign | h;
  }
  let h = sign | (exp << 10) | (mant >> 13);
  if (mant & 0x1000 && (mant & 0xfff || h & 1)) h++;
  return h;
}

function floatToBf16(x: number): number {
  const u = new Uint32Array(new Float32Array([x]).buffer)[0];
  if ((u & 0x7f800000) === 0x7f800000 && u & 0x7fffff) return (u >> 16) | 0x40;
  return (u + 0x7fff + ((u >> 16) & 1)) >>> 16;
}

/** Serializes tensors in safetensors layout (sorted by name, as the reference writer does). */
export function encodeSafetensors(tensors: Record<string, TensorToWrite>, metadata: Record<string, string> = { format: 'pt' }): Buffer {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  const parts: Buffer[] = [];
  for (const n of names) {
    const t = tensors[n];
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (numel !== t.data.length) throw new Error(`tensor ${n}: ${t.data.length} values for shape [${t.shape}]`);
    let buf: Buffer;
    if (t.dtype === 'F32') {
      buf = Buffer.from(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength));
    } else {
      buf = Buffer.alloc(numel * 2);
      for (let i = 0; i < numel; i++) buf.writeUInt16LE(t.dtype === 'F16' ? floatToHalf(t.data[i]) : floatToBf16(t.data[i]), i * 2);
    }
    header[n] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + buf.length] };
    offset += buf.length;
    parts.push(buf);
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so the data section starts 8-byte aligned.
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += ' ';
  const hdr = Buffer.from(json, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(hdr.length));
  return Buffer.concat([len, hdr, ...parts]);
}
