/**
 * EAP-IG (5 steps) on a GPT-2-small-shaped model (random weights made here), 64 prompts of 16 tokens:
 * wall time, peak RSS (the kernel's VmHWM) of loading and of attribution, each beside the memory
 * estimate of src/shared/cost.ts, and achieved FLOP/s as a fraction of one large MatMul measured in the
 * same run.
 *
 *   npm run build && node out/bench/attribution.bench.js [--batch-size B] [--threads N]
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { attribute } from '../src/engine/circuits/attribute';
import type { TokenizedPair } from '../src/engine/circuits/prompts';
import { Model } from '../src/engine/model/runner';
import { discoveryMemory } from '../src/engine/memory';
import { gpt2TokenizerDir, gpt2Tiny, tmpDir, writeCheckpoint } from '../test/helpers/tinyModels';
import { estimateLine, fmt, matMulFlops, peakRssMiB, resetPeak } from './common';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const [L, H, d, V, nPrompts, nPos, steps] = [12, 12, 768, 50257, 64, 16, 5];

async function main(): Promise<void> {
  // The random checkpoint is written by a child process, so that this process's peak RSS is the
  // method's own.
  if (process.argv[2] === '--make') {
    writeCheckpoint(process.argv[3], gpt2Tiny({ nLayer: L, nHead: H, nEmbd: d, vocab: V, nPos: 1024, seed: 5 }), { tokenizerFrom: gpt2TokenizerDir });
    return;
  }
  const threads = flag('threads', 0);
  const batchSize = flag('batch-size', 8);
  const dir = path.join(tmpDir('cs-bench-'), 'gpt2-small');
  const made = spawnSync(process.execPath, [__filename, '--make', dir], { stdio: 'inherit' });
  if (made.status !== 0) throw new Error('could not write the bench checkpoint');
  resetPeak();
  const model = await Model.load(dir, { threads });
  const loadPeak = peakRssMiB();
  const pairs: TokenizedPair[] = Array.from({ length: nPrompts }, (_, i) => {
    const clean = Array.from({ length: nPos }, (_, p) => (p === 0 ? 50256 : (i * 131 + p * 17) % V));
    const corrupted = clean.map((t, p) => (p === 3 ? (t + 1000) % V : t));
    return { clean, corrupted, cleanLabel: (i * 7) % V, corruptedLabel: (i * 11 + 5) % V, pair: { prompt: '', target: '', corruptedPrompt: '', corruptedTarget: '', line: i } };
  });
  // The reference is measured before and after, and the better one is kept: on a shared machine a
  // single measurement can land in someone else's busy second.
  const refBefore = await matMulFlops(2048, 768, 3072, threads);
  resetPeak();
  const t0 = Date.now();
  const r = await attribute(model, pairs, { method: 'eap-ig-inputs', steps, batchSize });
  const wall = (Date.now() - t0) / 1000;
  const attributionPeak = peakRssMiB();
  const est = discoveryMemory(model, { method: 'eap-ig-inputs', batchSize, nPos, prompts: nPrompts });
  const ref = Math.max(refBefore, await matMulFlops(2048, 768, 3072, threads));

  // FLOPs that the method needs, per token: the model's matmuls (2 x non-embedding parameters, plus
  // attention scores and mixing), the edge-patch contraction (2 x edges x d), and per prompt the
  // unembedding at one position. Two plain forwards for activations, then per step a forward and a
  // backward that takes input gradients only (about one forward again) and the coefficient gradient.
  const modelFwd = 2 * L * 12 * d * d + L * 2 * 2 * nPos * d;
  const contract = 2 * r.graph.edges.length * d;
  const unembed = (2 * d * V) / nPos;
  const perToken = 2 * (modelFwd + unembed) + steps * (2 * (modelFwd + unembed) + 2 * contract);
  const flops = perToken * nPrompts * nPos;
  const achieved = flops / wall;
  console.log(`EAP-IG (${steps} steps), GPT-2-small shape, ${nPrompts} prompts x ${nPos} tokens, batch ${batchSize}`);
  console.log(`wall time: ${fmt(wall, 1)} s (${r.passes} passes; compile included): activations ${fmt(r.phaseSeconds.activations, 1)} s, gradients ${fmt(r.phaseSeconds.gradients, 1)} s`);
  console.log(`counted work: ${fmt(flops / 1e12, 2)} TFLOP; achieved ${fmt(achieved / 1e9, 1)} GFLOP/s`);
  console.log(`large MatMul [2048x768]@[768x3072]: ${fmt(ref / 1e9, 1)} GFLOP/s`);
  console.log(`ratio achieved / MatMul: ${fmt(achieved / ref, 3)}`);
  console.log(`peak RSS: ${fmt(attributionPeak, 0)} MiB during attribution (model weights: ${fmt((4 * (L * 12 * d * d + V * d + 1024 * d)) / 2 ** 20, 0)} MiB as float32; the tied head reads W_E in place)`);
  console.log(estimateLine('load', est.load, loadPeak));
  console.log(estimateLine('attribution', est.attribution, attributionPeak));
  await model.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
