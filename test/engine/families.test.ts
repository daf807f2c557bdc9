/**
 * The newer families (Llama-3 rope, Mistral's sliding window, Qwen3, Phi, Gemma-2, Gemma-3, OLMo,
 * OLMo-2, transformers-5 configs) against the independent float64 forward of
 * test/helpers/referenceFamilies.ts, which parses config.json itself. Prompts are longer than the
 * tiny models' sliding windows, so the window masks are exercised. Each family is loaded from F32 and
 * from BF16 safetensors (the tiny weights are exact in BF16, so both must agree with the reference).
 */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { UserError } from '../../src/engine/errors';
import { familyDef } from '../../src/engine/model/families';
import { saveTensors } from '../../src/engine/model/families/table';
import { Model } from '../../src/engine/model/runner';
import type { TensorToWrite } from '../../src/engine/model/safetensors';
import { readModelSpec, Checkpoint } from '../../src/engine/model/checkpoint';
import { familyForward } from '../helpers/referenceFamilies';
import { gemma2Tiny, gemma3Tiny, llama3Tiny, mistralTiny, olmo2Tiny, olmoTiny, phiTiny, qwen3Tiny, toV5Config } from '../helpers/familyModels';
import { gpt2Tiny, gpt2TokenizerDir, llamaTiny, maxAbsDiff, neoxTiny, tmpDir, writeCheckpoint, type TinyModel } from '../helpers/tinyModels';
import type { Tensors } from '../helpers/reference';

const batch = [
  [1, 403, 407, 261, 378, 432, 383, 17, 250],
  [1, 5, 6],
  [1, 90, 91, 92, 93, 94],
];

/** All-position logits of the engine vs the reference; returns the worst difference. */
async function compare(dir: string, model: TinyModel, name: string): Promise<number> {
  const m = await Model.load(dir);
  try {
    const V = m.spec.vocabSize;
    const { data, nPos } = await m.allLogits(batch);
    let worst = 0;
    batch.forEach((ids, bi) => {
      const want = Float64Array.from(familyForward(model.config, model.tensors, ids).flatMap((r) => Array.from(r)));
      const got = data.subarray(bi * nPos * V, bi * nPos * V + ids.length * V);
      const d = maxAbsDiff(got, want);
      assert.ok(d.max <= 1e-4, `${name}: row ${bi}: ${d.report}`);
      worst = Math.max(worst, d.max);
    });
    const last = await m.lastLogits(batch);
    batch.forEach((ids, bi) => {
      const full = data.subarray((bi * nPos + ids.length - 1) * V, (bi * nPos + ids.length) * V);
      assert.ok(maxAbsDiff(last.subarray(bi * V, (bi + 1) * V), full).max <= 1e-5, `${name}: last-position graph`);
    });
    return worst;
  } finally {
    await m.dispose();
  }
}

const families: [string, () => TinyModel][] = [
  ['Llama-3 rope (llama3 scaling)', () => llama3Tiny()],
  ['Llama-3 rope, legacy "type" key, tied', () => llama3Tiny({ typeKey: 'type', tied: true })],
  ['Mistral (sliding window 3)', () => mistralTiny()],
  ['Qwen3 (per-head q/k norm, head_dim ≠ d/H)', () => qwen3Tiny()],
  ['Qwen3 (sliding layers, attention bias)', () => qwen3Tiny({ slidingFrom: 1, attentionBias: true, tied: false })],
  ['Phi (parallel block, partial rotary, lm_head bias)', () => phiTiny()],
  ['Phi (grouped-query)', () => phiTiny({ nKv: 2 })],
  ['Gemma-2 (soft-caps, sandwich norms, sliding)', () => gemma2Tiny()],
  ['Gemma-3 (q/k norms, local and global rope, pattern)', () => gemma3Tiny()],
  ['Gemma-3 (linear rope scaling on global layers)', () => gemma3Tiny({ globalScaling: { rope_type: 'linear', factor: 4 } })],
  ['OLMo (non-parametric LayerNorm, clip_qkv)', () => olmoTiny()],
  ['OLMo-2 (post-norms, q/k norm over the projection)', () => olmo2Tiny()],
];

for (const [name, make] of families) {
  test(`${name}: logits at every position match the float64 reference, from F32 and BF16`, async () => {
    const model = make();
    const root = tmpDir();
    const worst = await compare(writeCheckpoint(path.join(root, 'f32'), model), model, name);
    assert.ok(worst > 0, 'a difference of exactly zero means nothing was compared');
    await compare(writeCheckpoint(path.join(root, 'bf16'), model, { dtype: 'BF16' }), model, `${name} (BF16)`);
  });
}

test('transformers-5 configs (rope_parameters, no top-level rope keys) give the same logits as their legacy twins', async () => {
  const pairs: [string, (v5: boolean) => TinyModel][] = [
    ['llama3', (v5) => llama3Tiny({ v5 })],
    ['qwen3', (v5) => qwen3Tiny({ v5 })],
    ['phi', (v5) => phiTiny({ v5 })],
    ['gemma3', (v5) => gemma3Tiny({ v5 })],
    ['gpt_neox', (v5) => (v5 ? { ...neoxTiny(), config: neoxV5(neoxTiny().config) } : neoxTiny())],
  ];
  for (const [name, make] of pairs) {
    const root = tmpDir();
    const legacy = make(false);
    const v5 = make(true);
    assert.ok(v5.config.rope_parameters && !('rope_theta' in v5.config), `${name}: the v5 twin has rope_parameters only`);
    const a = await Model.load(writeCheckpoint(path.join(root, 'legacy'), legacy));
    const b = await Model.load(writeCheckpoint(path.join(root, 'v5'), v5));
    try {
      const la = await a.allLogits(batch);
      const lb = await b.allLogits(batch);
      assert.equal(maxAbsDiff(la.data, lb.data).max, 0, `${name}: legacy and v5 logits`);
    } finally {
      await a.dispose();
      await b.dispose();
    }
  }
});

/** GPT-NeoX in transformers 5: rotary_pct and rotary_emb_base become rope_parameters. */
function neoxV5(c: Record<string, unknown>): Record<string, unknown> {
  const { rotary_pct, rotary_emb_base, ...rest } = c;
  return { ...rest, rope_parameters: { rope_type: 'default', rope_theta: rotary_emb_base, partial_rotary_factor: rotary_pct } };
}

test("a GPT-NeoX config without rotary_pct gets HF's default 0.25, not full rotary", () => {
  const model = neoxTiny({ d: 64, nHead: 2 });
  const { rotary_pct: _drop, ...config } = model.config;
  const dir = writeCheckpoint(path.join(tmpDir(), 'neox'), { ...model, config });
  assert.equal(readModelSpec(dir).rotaryDim, 8); // head_dim 32 · 0.25
});

test('unknown or unimplemented config fields are refused by name', () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['unknown rope type', { ...llama3Tiny().config, rope_scaling: { rope_type: 'warp', factor: 2 } }, /rope_scaling\.rope_type.*"warp" is unknown/],
    ['yarn', { ...llama3Tiny().config, rope_scaling: { rope_type: 'yarn', factor: 2 } }, /"yarn" is not implemented/],
    ['v5 dynamic', toV5Config({ ...llama3Tiny().config, rope_scaling: { rope_type: 'dynamic', factor: 2 } }), /rope_parameters\.rope_type.*"dynamic"/],
    ['stray rope key', { ...llama3Tiny().config, rope_scaling: { rope_type: 'linear', factor: 2, beta_fast: 32 } }, /rope_scaling\.beta_fast/],
    ['soft-cap on Llama', { ...llamaTiny().config, final_logit_softcapping: 30 }, /'final_logit_softcapping'.*LlamaForCausalLM/],
    ['sliding window on GPT-2', { ...gpt2Tiny().config, sliding_window: 4 }, /'sliding_window'/],
    ['unknown activation', { ...qwen3Tiny().config, hidden_act: 'swiglu' }, /'hidden_act'.*"swiglu"/],
    ['bad layer type', { ...gemma2Tiny().config, layer_types: ['sliding_attention', 'chunked_attention'] }, /'layer_types'.*chunked_attention/],
  ];
  for (const [name, config, re] of cases) {
    const dir = writeCheckpoint(path.join(tmpDir(), 'bad'), { config, tensors: llamaTiny().tensors });
    assert.throws(() => readModelSpec(dir), (e: Error) => e instanceof UserError && re.test(e.message) && e.message.includes('config.json'), name);
  }
});

/** Every tensor of a checkpoint as the reference's Tensors. */
function asTensors(t: Record<string, TensorToWrite>): Tensors {
  return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, { shape: [...v.shape], data: v.data as Float32Array }]));
}

test('every family: saving through the tables and loading back gives identical weights and logits', async () => {
  const all: [string, TinyModel, string?][] = [
    ['gpt2', gpt2Tiny({ nLayer: 2, nHead: 2, nEmbd: 16 }), gpt2TokenizerDir],
    ['llama (biases)', llamaTiny({ qkvBias: true, mlpBias: true })],
    ['gpt_neox', neoxTiny()],
    ...families.map(([n, make]): [string, TinyModel] => [n, make()]),
  ];
  for (const [name, model, tok] of all) {
    const root = tmpDir();
    const dir = writeCheckpoint(path.join(root, 'a'), model, tok ? { tokenizerFrom: tok } : {});
    const ck = Checkpoint.open(dir);
    const w = ck.weights.loadAll();
    const saved = saveTensors(familyDef(ck.spec.family), ck.spec, w);
    // Same tensor names as the family's real layout (value biases are written as zeros, folded into b_O).
    assert.deepEqual(Object.keys(saved).sort(), Object.keys(model.tensors).sort(), `${name}: tensor names`);
    const dir2 = writeCheckpoint(path.join(root, 'b'), { config: model.config, tensors: asTensors(saved) }, tok ? { tokenizerFrom: tok } : {});
    const w2 = Checkpoint.open(dir2).weights.loadAll();
    const flat = (x: typeof w) => ({ ...x, layers: undefined, ...Object.fromEntries(x.layers.flatMap((lw, l) => Object.entries(lw).map(([k, v]) => [`${l}.${k}`, v]))) });
    const a = flat(w);
    const b = flat(w2);
    assert.deepEqual(Object.keys(b).sort(), Object.keys(a).sort(), `${name}: canonical fields`);
    for (const k of Object.keys(a)) {
      const x = a[k as keyof typeof a] as Float32Array | undefined;
      if (!x) continue;
      assert.ok(Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(Buffer.from((b[k as keyof typeof b] as Float32Array).buffer, (b[k as keyof typeof b] as Float32Array).byteOffset, x.byteLength)), `${name}: ${k} differs after a round trip`);
    }
    const m1 = await Model.load(dir);
    const m2 = await Model.load(dir2);
    try {
      const ids = [batch[0].map((t) => (ck.spec.vocabSize > 50000 ? t + 100 : t))];
      assert.equal(maxAbsDiff((await m1.allLogits(ids)).data, (await m2.allLogits(ids)).data).max, 0, `${name}: logits after a round trip`);
    } finally {
      await m1.dispose();
      await m2.dispose();
    }
  }
});
