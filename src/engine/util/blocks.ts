/** Block permutations of large float buffers, done in place (node-output tensors are hundreds of MiB). */

/**
 * Rewrites [rows, cols, block] as [cols, rows, block] in place (blocks move whole, following the
 * permutation's cycles), so that making Δ slot-major needs no second node-output buffer.
 */
export function transposeBlocksInPlace(data: Float32Array, rows: number, cols: number, block: number): void {
  const n = rows * cols;
  if (data.length !== n * block) throw new Error(`internal: ${data.length} values are not ${rows}×${cols} blocks of ${block}`);
  const seen = new Uint8Array(n);
  const tmp = new Float32Array(block);
  // Position j = c·rows + r of the result takes the block at r·cols + c of the input.
  const from = (j: number) => (j % rows) * cols + Math.floor(j / rows);
  for (let start = 0; start < n; start++) {
    if (seen[start]) continue;
    seen[start] = 1;
    let src = from(start);
    if (src === start) continue;
    tmp.set(data.subarray(start * block, (start + 1) * block));
    let cur = start;
    while (src !== start) {
      data.copyWithin(cur * block, src * block, (src + 1) * block);
      seen[src] = 1;
      cur = src;
      src = from(cur);
    }
    data.set(tmp, cur * block);
  }
}
