/**
 * Hook points of the compiled graph: the split (per-head) graph computes the same function as the
 * plain one, per-head results add up to the attention output, and un-grouped key/value heads are
 * shared exactly as grouped-query attention shares them.
 */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { Model } from '../../src/engine/model/runner';
import { gpt2TokenizerDir, gpt2Tiny, maxAbsDiff, neoxTiny, stories260K, tmpDir, writeCheckpoint } from '../helpers/tinyModels';

const batch = [
  [1, 403, 407, 261, 378, 432],
  [1, 17, 99],
];

test('stories260K: split heads compute the same logits, and head results sum to the attention output', async () => {
  const m = await Model.load(stories260K);
  const { nLayers, nHeads, dModel } = m.spec;
  const names: string[] = [];
  for (let l = 0; l < nLayers; l++) names.push(`blocks.${l}.attn.hook_result`, `blocks.${l}.hook_attn_out`, `blocks.${l}.attn.hook_v`);
  const split = await m.runHooks(batch, names, { split: true });
  const plain = await m.lastLogits(batch);
  const d = maxAbsDiff(split.logits_sel.data as Float32Array, plain);
  assert.ok(d.max < 1e-5, d.report);
  for (let l = 0; l < nLayers; l++) {
    const res = split[`blocks.${l}.attn.hook_result`];
    assert.deepEqual(res.shape, [2, 6, nHeads, dModel]);
    const out = split[`blocks.${l}.hook_attn_out`].data as Float32Array;
    const r = res.data as Float32Array;
    const summed = new Float32Array(out.length);
    for (let i = 0; i < out.length; i++) {
      const [bp, k] = [Math.floor(i / dModel), i % dModel];
      for (let h = 0; h < nHeads; h++) summed[i] += r[(bp * nHeads + h) * dModel + k];
    }
    // stories260K has no output bias, so heads alone make the attention output.
    assert.ok(maxAbsDiff(summed, out).max < 1e-5);
    // Grouped-query attention: query heads 2g and 2g+1 share key/value head g.
    const v = split[`blocks.${l}.attn.hook_v`];
    assert.deepEqual(v.shape, [2, nHeads, 6, m.spec.dHead]);
    const vd = v.data as Float32Array;
    const block = 6 * m.spec.dHead;
    assert.deepEqual(vd.subarray(0, block), vd.subarray(block, 2 * block));
    assert.notDeepEqual(vd.subarray(0, block), vd.subarray(2 * block, 3 * block));
  }
  await m.dispose();
});

test('GPT-2 and GPT-NeoX split graphs agree with their plain graphs; unknown hooks are refused', async () => {
  const gdir = writeCheckpoint(path.join(tmpDir(), 'g'), gpt2Tiny(), { tokenizerFrom: gpt2TokenizerDir });
  const ndir = writeCheckpoint(path.join(tmpDir(), 'n'), neoxTiny());
  for (const dir of [gdir, ndir]) {
    const m = await Model.load(dir);
    const split = await m.runHooks(batch, ['hook_embed', 'blocks.1.hook_mlp_in', 'blocks.1.hook_q_input', 'ln_final.hook_normalized'], { split: true });
    const d = maxAbsDiff(split.logits_sel.data as Float32Array, await m.lastLogits(batch));
    assert.ok(d.max < 1e-5, d.report);
    assert.deepEqual(split['blocks.1.hook_q_input'].shape, [2, 6, 1, m.spec.dModel]);
    await assert.rejects(() => m.runHooks(batch, ['blocks.9.hook_nothing']), /unknown hook point\(s\).*blocks\.9\.hook_nothing/);
    await m.dispose();
  }
});
