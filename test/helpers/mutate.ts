/**
 * Byte-level mutations of checkpoint files for the robustness tests and the fuzz suite: rewrite a
 * safetensors header (as text, so that invalid JSON and duplicate keys can be written), patch one
 * float of a tensor, and nest a value deeply.
 */
import * as fs from 'node:fs';

export interface RawSafetensors {
  readonly header: string;
  readonly data: Buffer;
}

export function splitSafetensors(file: string): RawSafetensors {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  return { header: buf.subarray(8, 8 + n).toString('utf8'), data: buf.subarray(8 + n) };
}

/** Writes a safetensors file from header text and a data section; `lengthDelta` lies about the header length. */
export function joinSafetensors(file: string, header: string, data: Buffer, lengthDelta = 0): void {
  const hdr = Buffer.from(header, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(hdr.length + lengthDelta));
  fs.writeFileSync(file, Buffer.concat([len, hdr, data]));
}

/** Sets element `index` of an F32 tensor to `value`. */
export function patchF32(file: string, tensor: string, value: number, index = 0): void {
  const { header, data } = splitSafetensors(file);
  const e = (JSON.parse(header) as Record<string, { dtype: string; data_offsets: [number, number] }>)[tensor];
  if (!e || e.dtype !== 'F32') throw new Error(`no F32 tensor ${tensor} in ${file}`);
  data.writeFloatLE(value, e.data_offsets[0] + 4 * index);
  joinSafetensors(file, header, data);
}

/** A JSON text of `depth` nested arrays around `inner`. */
export function deepJson(depth: number, inner = '0'): string {
  return '['.repeat(depth) + inner + ']'.repeat(depth);
}
