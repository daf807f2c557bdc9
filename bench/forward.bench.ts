/**
 * Forward throughput of a GPT-2-small-shaped model (12 layers, 12 heads, 768 wide, random weights)
 * at batch 16 x 32 tokens, beside the throughput of one large MatMul in the same run.
 *
 *   npm run build && node out/bench/forward.bench.js [--threads N]
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { Model } from '../src/engine/model/runner';
import { gpt2TokenizerDir, gpt2Tiny, tmpDir, writeCheckpoint } from '../test/helpers/tinyModels';
import { fmt, matMulFlops, peakRssMiB, timeIt } from './common';

async function main(): Promise<void> {
  const threads = Number(process.argv[process.argv.indexOf('--threads') + 1] ?? 0) || 0;
  const [L, H, d, V, batch, nPos] = [12, 12, 768, 50257, 16, 32];
  const t0 = Date.now();
  const dir = writeCheckpoint(path.join(tmpDir('cs-bench-'), 'gpt2-small'), gpt2Tiny({ nLayer: L, nHead: H, nEmbd: d, vocab: V, nPos: 1024, seed: 5 }), {
    tokenizerFrom: gpt2TokenizerDir,
  });
  const model = await Model.load(dir, { threads });
  const seqs = Array.from({ length: batch }, (_, i) => Array.from({ length: nPos }, (_, p) => (i * 131 + p * 17) % V));
  await model.lastLogits(seqs); // Compile and warm up.
  console.log(`setup (write + load + compile): ${fmt((Date.now() - t0) / 1000, 1)} s`);

  const refBefore = await matMulFlops(2048, 768, 3072, threads);
  const sec = await timeIt(() => model.lastLogits(seqs), 5);
  // The same model with weights as initializers (each session its own copy, prepacked by onnxruntime).
  const init = await Model.load(dir, { threads, weightsAs: 'initializers' });
  const secInit = await timeIt(() => init.lastLogits(seqs), 5);
  await init.dispose();
  console.log(`weights as shared inputs vs initializers: ${fmt(sec * 1000, 1)} vs ${fmt(secInit * 1000, 1)} ms/batch (ratio ${fmt(sec / secInit, 3)})`);
  const tokensPerSec = (batch * nPos) / sec;
  // FLOPs per token: 2 x (non-embedding parameters) plus attention scores and mixing; the unembedding
  // runs at one position per sequence.
  const nonEmb = L * (4 * d * d + 8 * d * d);
  const attn = L * 2 * 2 * nPos * d; // QK^T and pattern @ V, average context nPos/2 counted twice.
  const flopsPerToken = 2 * nonEmb + attn + (2 * d * V) / nPos;
  const achieved = tokensPerSec * flopsPerToken;
  // The better of two reference measurements, taken around the forward timings.
  const ref = Math.max(refBefore, await matMulFlops(2048, 768, 3072, threads));

  console.log(`cpu: ${os.cpus()[0]?.model ?? '?'} x${os.cpus().length}, onnxruntime threads: ${threads || 'default'}`);
  console.log(`forward, batch ${batch} x ${nPos} tokens: ${fmt(sec * 1000, 1)} ms/batch, ${fmt(tokensPerSec, 0)} tokens/s`);
  console.log(`forward achieved: ${fmt(achieved / 1e9, 1)} GFLOP/s`);
  console.log(`large MatMul [2048x768]@[768x3072]: ${fmt(ref / 1e9, 1)} GFLOP/s`);
  console.log(`ratio forward / MatMul: ${fmt(achieved / ref, 3)} (forward ${fmt(achieved / 1e9, 3)} vs ${fmt(ref / 1e9, 3)} GFLOP/s)`);
  console.log(`peak RSS: ${fmt(peakRssMiB(), 0)} MiB`);
  await model.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
