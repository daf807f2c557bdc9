/**
 * BF16 tensors are widened to float32 exactly (the high half of each float32), and a NaN or ±Inf
 * among them is refused naming the tensor, as it is in F32 tensors.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { encodeSafetensors, readSafetensorsHeader, readTensorF32 } from '../../src/engine/model/safetensors';
import { tmpDir } from '../helpers/tinyModels';

function roundTrip(values: number[]): Float32Array {
  const file = path.join(tmpDir('cs-bf16-'), 'model.safetensors');
  fs.writeFileSync(file, encodeSafetensors({ w: { dtype: 'BF16', shape: [values.length], data: Float32Array.from(values) } }));
  return readTensorF32(readSafetensorsHeader(file).entries.get('w')!);
}

test('BF16 values come back as the float32 with the same high half', () => {
  // Exactly representable in BF16 (8 significant bits), of both signs and over the exponent range.
  const values = [0, -0, 1, -1, 0.5, 1.5, -3.25, 2 ** -20, -(2 ** 30), 65280, 2 ** -126];
  const got = roundTrip(values);
  const want = Float32Array.from(values).map((v) => {
    const u = new Uint32Array(Float32Array.of(v).buffer)[0] & 0xffff0000;
    return new Float32Array(Uint32Array.of(u).buffer)[0];
  });
  assert.deepEqual([...got], [...want]);
});

test('a NaN or an infinity in a BF16 tensor is refused, naming the tensor and the element', () => {
  for (const [v, at] of [
    [NaN, 3],
    [Infinity, 0],
    [-Infinity, 6],
  ] as const) {
    const values = [1, 2, 3, 4, 5, 6, 7];
    values[at] = v;
    assert.throws(() => roundTrip(values), (e: Error) => e.message.includes(`element ${at}`) && /non-finite/.test(e.message) && /\bw\b/.test(e.message));
  }
});
