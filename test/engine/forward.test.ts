/**
 * The compiled graphs against independent float64 forwards, for every supported family.
 */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { Model } from '../../src/engine/model/runner';
import { gpt2Forward, llamaForward, neoxForward, type LlamaCfg, type NeoxCfg } from '../helpers/reference';
import { gpt2TokenizerDir, gpt2Tiny, llamaTiny, maxAbsDiff, neoxTiny, tmpDir, writeCheckpoint, type TinyModel } from '../helpers/tinyModels';

const seqs = [
  [50256, 15496, 995, 11, 428, 318, 257, 1332],
  [50256, 464, 3139],
];

/** Compares all-position logits of the compiled graph with the reference, row by row (pads skipped). */
async function compare(dir: string, model: TinyModel, batch: number[][], reference: (ids: number[]) => Float64Array[]): Promise<number> {
  const m = await Model.load(dir);
  const V = m.spec.vocabSize;
  const { data, nPos } = await m.allLogits(batch);
  let worst = 0;
  batch.forEach((ids, bi) => {
    const ref = reference(ids);
    const got = data.subarray(bi * nPos * V, bi * nPos * V + ids.length * V);
    const want = Float64Array.from(ref.flatMap((r) => Array.from(r)));
    const d = maxAbsDiff(got, want);
    assert.ok(d.max <= 1e-4, `${model.config.architectures}: row ${bi}: ${d.report}`);
    worst = Math.max(worst, d.max);
  });
  // Last-position logits through the selector graph must agree with the full graph.
  const last = await m.lastLogits(batch);
  batch.forEach((ids, bi) => {
    const full = data.subarray((bi * nPos + ids.length - 1) * V, (bi * nPos + ids.length) * V);
    assert.ok(maxAbsDiff(last.subarray(bi * V, (bi + 1) * V), full).max <= 1e-5);
  });
  await m.dispose();
  return worst;
}

test('GPT-2 architecture matches the float64 reference (max abs diff <= 1e-4)', async () => {
  const model = gpt2Tiny({ nLayer: 2, nHead: 4, nEmbd: 32 });
  const dir = writeCheckpoint(path.join(tmpDir(), 'gpt2'), model, { tokenizerFrom: gpt2TokenizerDir });
  const worst = await compare(dir, model, seqs, (ids) => gpt2Forward(model.tensors, model.config as never, ids));
  assert.ok(worst > 0, 'a difference of exactly zero means the comparison compared nothing');
});

test('Llama with untied head and q/k/v biases (grouped-query) matches the reference', async () => {
  const model = llamaTiny({ tied: false, qkvBias: true, nHead: 4, nKv: 2 });
  const dir = writeCheckpoint(path.join(tmpDir(), 'llama'), model);
  const batch = [[1, 403, 407, 261, 378, 432, 383], [1, 5, 6]];
  await compare(dir, model, batch, (ids) => llamaForward(model.tensors, model.config as unknown as LlamaCfg, ids));
});

test('Qwen2 (q/k/v biases by architecture), tied Llama and Llama with MLP biases match the reference', async () => {
  for (const model of [llamaTiny({ arch: 'Qwen2ForCausalLM', qkvBias: true, tied: true, seed: 7 }), llamaTiny({ tied: true, nKv: 4, seed: 8 }), llamaTiny({ mlpBias: true, seed: 9 })]) {
    const dir = writeCheckpoint(path.join(tmpDir(), 'llama'), model);
    await compare(dir, model, [[1, 100, 200, 300, 7]], (ids) => llamaForward(model.tensors, model.config as unknown as LlamaCfg, ids));
  }
});

test('GPT-NeoX (parallel residual, partial rotary, fused qkv) matches the reference', async () => {
  for (const parallel of [true, false]) {
    const model = neoxTiny({ parallel, rotaryPct: 0.5 });
    const dir = writeCheckpoint(path.join(tmpDir(), 'neox'), model);
    await compare(dir, model, [[0, 17, 300, 4, 99, 12], [0, 3]], (ids) => neoxForward(model.tensors, model.config as unknown as NeoxCfg, ids));
  }
});
