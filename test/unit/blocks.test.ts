import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { transposeBlocksInPlace } from '../../src/engine/util/blocks';
import { mulberry32 } from '../../src/engine/util/random';

/** The reference: element by element into a second buffer. */
function naive(x: Float32Array, rows: number, cols: number, block: number): Float32Array {
  const y = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) for (let k = 0; k < block; k++) y[(c * rows + r) * block + k] = x[(r * cols + c) * block + k];
  return y;
}

test('transposeBlocksInPlace equals an element-by-element transpose for square, wide, tall and degenerate shapes', () => {
  const rand = mulberry32(7);
  for (const [rows, cols, block] of [
    [1, 1, 3],
    [1, 7, 2],
    [7, 1, 2],
    [4, 4, 1],
    [3, 5, 4],
    [112, 529, 3],
    [16, 97, 5],
  ]) {
    const x = Float32Array.from({ length: rows * cols * block }, () => rand());
    const want = naive(x, rows, cols, block);
    transposeBlocksInPlace(x, rows, cols, block);
    assert.deepEqual(x, want, `${rows}×${cols} blocks of ${block}`);
  }
});

test('transposeBlocksInPlace twice with the dimensions swapped gives the input back', () => {
  const x = Float32Array.from({ length: 6 * 10 * 8 }, (_, i) => i);
  const y = x.slice();
  transposeBlocksInPlace(y, 6, 10, 8);
  assert.notDeepEqual(y, x);
  transposeBlocksInPlace(y, 10, 6, 8);
  assert.deepEqual(y, x);
});

test('transposeBlocksInPlace refuses a buffer of the wrong size', () => {
  assert.throws(() => transposeBlocksInPlace(new Float32Array(10), 2, 3, 2), /10 values are not 2×3 blocks of 2/);
});
