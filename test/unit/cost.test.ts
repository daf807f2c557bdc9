/**
 * The memory estimate (src/shared/cost.ts). Its coefficients come from measurements, which the benches
 * print beside it; here, one case worked out by hand from the sizes, and the properties every estimate
 * must have: phases that grow with the batch, the prompt length and the weights, a peak that is the
 * largest phase, methods that hold more than gradients costing more.
 */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { estimateMemory, type ExecutionPlan, type MemoryEstimate, type MemoryWorkload, type ModelSizes, type StreamedPlan } from '../../src/shared/cost';
import { methodNames } from '../../src/shared/methods';

const gpt2Small: ModelSizes = {
  nLayers: 12,
  nHeads: 12,
  nKvHeads: 12,
  dModel: 768,
  dHead: 64,
  dMlp: 3072,
  vocabSize: 50257,
  gatedMlp: false,
  postNorm: false,
  parameters: 50257 * 768 + 1024 * 768 + 12 * (4 * 768 * 768 + 2 * 768 * 3072),
  layerParameters: 4 * 768 * 768 + 2 * 768 * 3072,
  globalParameters: 50257 * 768 + 1024 * 768,
  largestTensor: 50257 * 768,
};
/** GPT-2 small streamed one layer at a time in a 1 GiB budget, its embeddings resident, no layer kept. */
const streamed: StreamedPlan = { kind: 'streamed', stageLayers: 1, residentBytes: 0, residentGlobals: true, allResident: false, budgetBytes: 2 ** 30 };
const base: MemoryWorkload = { model: gpt2Small, storedBytes: 4, method: 'eap-ig-inputs', batchSize: 8, nPos: 16, prompts: 64 };

test('GPT-2 small, EAP-IG, batch 8 of 16 tokens: the phases worked out from the sizes', () => {
  const MiB = 2 ** 20;
  const W = (4 * gpt2Small.parameters) / MiB; // 474 MiB
  const A = (4 * 8 * 16 * 157 * 768) / MiB; // node outputs of a batch: 157 outputs of 768, 58.9 MiB
  const e = estimateMemory(base);
  assert.equal(e.plan, 'whole');
  // 1.1 W; clean and Δ, and what V8 has not collected yet, max(A, 64 MiB) = 64 MiB; the activation
  // and gradient sessions' arenas, 2.5 A and 4 A; evaluation adds the patching session's, 3.5 A.
  assert.ok(Math.abs(e.attribution - (100 + 1.1 * W + 2 * A + 64 + 6.5 * A)) <= 1, `attribution ${e.attribution}`);
  assert.ok(Math.abs(e.evaluation - (100 + 1.1 * W + 2 * A + 64 + 10 * A)) <= 1, `evaluation ${e.evaluation}`);
  assert.ok(Math.abs(e.load - (60 + W + (0.5 * 4 * gpt2Small.largestTensor) / MiB)) <= 1, `load ${e.load}`);
  assert.equal(e.peak, Math.max(e.load, e.attribution, e.evaluation));
});

test('every estimate grows with the batch, the prompt length, the prompt count and the weights; the peak is the largest phase', () => {
  for (const method of methodNames) {
    // A budget large enough that no batch is cut (cut batches hold about the same at any length).
    const plans: ExecutionPlan[] = [{ kind: 'whole' }, { ...streamed, budgetBytes: 2 ** 40 }];
    for (const plan of plans) {
      const at = (o: Partial<MemoryWorkload>): MemoryEstimate => estimateMemory({ ...base, method, plan, ...o });
      const e = at({});
      assert.equal(e.peak, Math.max(e.load, e.attribution, e.evaluation), `${method}: peak`);
      for (const [what, bigger] of [
        ['batch', { batchSize: 16 }],
        ['length', { nPos: 32 }],
        ['prompts', { prompts: 512 }],
        ['weights', { model: { ...gpt2Small, parameters: 2 * gpt2Small.parameters } }],
      ] as const) {
        const b = at(bigger);
        for (const k of ['attribution', 'evaluation', 'peak'] as const) assert.ok(b[k] >= e[k], `${method}, larger ${what}: ${k} ${b[k]} < ${e[k]}`);
      }
      // A checkpoint stored in BF16 loads whole through smaller reads.
      if (plan.kind === 'whole') assert.ok(at({ storedBytes: 2 }).load < e.load, `${method}: BF16 load`);
    }
  }
});

test('methods that patch hold more than gradients by taps; a norm after attention makes gradients patch', () => {
  const by = (o: Partial<MemoryWorkload>) => estimateMemory({ ...base, ...o }).attribution;
  const gradient = by({});
  assert.ok(by({ method: 'eap-ig-activations' }) > gradient);
  assert.ok(by({ model: { ...gpt2Small, postNorm: true } }) > gradient);
  assert.equal(by({ model: { ...gpt2Small, postNorm: true } }), by({ method: 'eap-ig-activations' }));
  // Routes keep no node outputs in JavaScript.
  assert.ok(by({ method: 'information-flow-routes' }) < gradient);
});

test("streamed: a stage's weights instead of all of them, and batches cut to the budget cost no more past the cut", () => {
  const whole = estimateMemory(base);
  const st = estimateMemory({ ...base, plan: streamed });
  assert.equal(st.plan, 'streamed');
  assert.ok(st.peak < whole.peak, `streamed ${st.peak} MiB, whole ${whole.peak} MiB`);
  // Node outputs of a prompt: 16 × 157 × 768 floats, 7.36 MiB; attribution's batches are cut for five
  // copies to floor(1024 / 3 / 36.8) = 9 prompts, evaluation's for ten to floor(1024 / 3 / 73.6) = 4.
  const at = (batchSize: number) => estimateMemory({ ...base, batchSize, plan: streamed });
  assert.equal(at(64).attribution, at(9).attribution);
  assert.ok(at(8).attribution < at(9).attribution);
  assert.equal(at(64).evaluation, at(4).evaluation);
  assert.ok(at(3).evaluation < at(4).evaluation);
});
