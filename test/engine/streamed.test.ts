/**
 * Block-streamed execution (model/stages.ts, circuits/streamed.ts) against whole-graph execution:
 * on small models run with a forced small budget (one or two layers per stage), every attribution
 * method, the evaluations, head analysis and the forward pass give what the whole graph gives.
 * The whole graph itself is checked against float64 references and finite differences elsewhere
 * (attribution.test.ts, familyCircuits.test.ts, relp.test.ts, families.test.ts).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { analyzeHeads } from '../../src/engine/analysis/heads';
import { logitLens } from '../../src/engine/analysis/lens';
import { attribute, type Method } from '../../src/engine/circuits/attribute';
import { evaluatePatching, evaluateZero } from '../../src/engine/circuits/evaluate';
import type { TokenizedPair } from '../../src/engine/circuits/prompts';
import { Model } from '../../src/engine/model/runner';
import { planExecution } from '../../src/engine/model/stages';
import { batchCap } from '../../src/engine/circuits/streamed';
import { parseConfig } from '../../src/engine/model/config';
import { pruneDeadNodes, topN } from '../../src/shared/circuit';
import { qwen3Tiny, gemma2Tiny } from '../helpers/familyModels';
import { gpt2Tiny, llamaTiny, neoxTiny, repoRoot, tmpDir, tokenPair, writeCheckpoint, type TinyModel } from '../helpers/tinyModels';

interface Case {
  readonly name: string;
  readonly model: TinyModel;
  readonly pairs: TokenizedPair[];
  readonly dtype?: 'F32' | 'BF16';
}

const lp = [tokenPair([1, 40, 58, 25, 37, 9], [1, 40, 91, 25, 37, 9], 11, 13), tokenPair([1, 7, 8, 9], [1, 17, 8, 9], 100, 200), tokenPair([1, 5, 6], [1, 15, 6], 3, 4)];

const cases: Case[] = [
  {
    name: 'GPT-2 (learned positions, tied head)',
    model: gpt2Tiny({ nLayer: 3, nHead: 2, nEmbd: 16, vocab: 50257, seed: 31 }),
    pairs: [tokenPair([50256, 40, 588, 257, 3797], [50256, 40, 910, 257, 3797], 11, 13), tokenPair([50256, 7, 8, 9], [50256, 17, 8, 9], 100, 200)],
  },
  { name: 'Llama (GQA, biases, untied, BF16 on disk)', model: llamaTiny({ nLayer: 3, nHead: 4, nKv: 2, d: 16, tied: false, qkvBias: true, seed: 32 }), pairs: lp, dtype: 'BF16' },
  { name: 'GPT-NeoX (parallel)', model: neoxTiny({ nLayer: 3, nHead: 2, d: 16, parallel: true, seed: 33 }), pairs: lp },
  { name: 'Qwen3 (q/k norms)', model: qwen3Tiny({ seed: 34 }), pairs: lp },
];

const relTol = 1e-4;

/** Every score within relTol of the whole graph's, relative to the largest score (and each of the top 20 relative to itself). */
function assertScores(what: string, got: Float64Array, want: Float64Array): void {
  assert.equal(got.length, want.length);
  let max = 0;
  for (const x of want) max = Math.max(max, Math.abs(x));
  assert.ok(max > 0, `${what}: the whole graph's scores are all zero; the case checks nothing`);
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= relTol * max, `${what}: edge ${i} streamed ${got[i]} vs whole ${want[i]} (largest ${max})`);
  const top = [...want.keys()].sort((a, b) => Math.abs(want[b]) - Math.abs(want[a])).slice(0, 20);
  for (const i of top) assert.ok(Math.abs(got[i] - want[i]) <= relTol * Math.abs(want[i]) + 1e-7, `${what}: top edge ${i} streamed ${got[i]} vs whole ${want[i]}`);
}

const methods: Method[] = ['eap', 'eap-ig-inputs', 'clean-corrupted', 'eap-ig-activations', 'relp', 'relp-ah', 'exact', 'information-flow-routes'];

for (const c of cases) {
  describe(`streamed = whole: ${c.name}`, () => {
    let whole: Model;
    let streamed: Model[];
    before(async () => {
      const dir = writeCheckpoint(path.join(tmpDir('cs-stream-'), 'model'), c.model, { dtype: c.dtype });
      whole = await Model.load(dir, { execution: 'whole' });
      // One layer per stage under a budget so small that batches hold one prompt (batchCap) and the
      // first and last stages read their globals per pass, and uneven stages of two (the last holds
      // one layer) under the default budget.
      streamed = [await Model.load(dir, { execution: 'streamed', stageLayers: 1, memoryBudgetMiB: 0.01 }), await Model.load(dir, { execution: 'streamed', stageLayers: 2 })];
    });
    after(async () => {
      for (const m of [whole, ...streamed]) await m.dispose();
    });

    test('the plan: stages as asked', () => {
      const L = whole.spec.nLayers;
      assert.equal(whole.execution.mode, 'whole');
      assert.deepEqual(
        streamed[0].execution.stages.map((s) => [s.from, s.to]),
        Array.from({ length: L }, (_, l) => [l, l + 1]),
      );
      assert.equal(streamed[1].execution.stages.length, Math.ceil(L / 2));
      assert.equal(batchCap(streamed[0], 6, 3), 1);
      assert.equal(streamed[0].stages!.plan.residentGlobals, false);
      assert.equal(streamed[1].stages!.plan.residentGlobals, true);
      assert.equal(batchCap(whole, 6, 3), Infinity);
    });

    test('forward: last-position logits and hook points', async () => {
      const seqs = c.pairs.map((p) => p.clean);
      const want = await whole.lastLogits(seqs);
      const L = whole.spec.nLayers;
      const names = [`blocks.${L - 1}.attn.hook_pattern`, `blocks.${L - 1}.hook_resid_post`, "blocks.0.attn.hook_result"];
      const hooksWant = await whole.runHooks(seqs, names, { split: true });
      for (const m of streamed) {
        const got = await m.lastLogits(seqs);
        for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= 1e-5 * (1 + Math.abs(want[i])), `logit ${i}: ${got[i]} vs ${want[i]}`);
        const hooks = await m.runHooks(seqs, names, { split: true });
        for (const n of names) {
          assert.deepEqual(hooks[n].shape, hooksWant[n].shape, n);
          const a = hooks[n].data as Float32Array;
          const b = hooksWant[n].data as Float32Array;
          for (let i = 0; i < b.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= 1e-5 * (1 + Math.abs(b[i])), `${n}[${i}]: ${a[i]} vs ${b[i]}`);
        }
      }
    });

    test('logit lens', async () => {
      const want = await logitLens(whole, c.pairs);
      for (const m of streamed) {
        const got = await logitLens(m, c.pairs);
        assert.deepEqual(got.rows, want.rows);
        got.prompts.forEach((p, i) => {
          assert.deepEqual(p.rank, want.prompts[i].rank, `prompt ${i}'s ranks`);
          p.prob.forEach((x, r) => assert.ok(Math.abs(x - want.prompts[i].prob[r]) <= 1e-5, `prompt ${i}, row ${r}: ${x} vs ${want.prompts[i].prob[r]}`));
        });
      }
    });

    for (const method of methods) {
      test(`attribution: ${method}`, async () => {
        const want = await attribute(whole, c.pairs, { method, steps: 3, batchSize: 2 });
        for (const [k, m] of streamed.entries()) {
          const got = await attribute(m, c.pairs, { method, steps: 3, batchSize: 2 });
          assertScores(`${method}, ${k + 1} layer(s) per stage`, got.scores, want.scores);
          assert.ok(Math.abs(got.baselines.clean - want.baselines.clean) <= 1e-5 * (1 + Math.abs(want.baselines.clean)));
          assert.ok(Math.abs(got.baselines.corrupted - want.baselines.corrupted) <= 1e-5 * (1 + Math.abs(want.baselines.corrupted)));
        }
      });
    }

    test('evaluation: patching faithfulness, zero ablation, heads', async () => {
      const { scores, graph } = await attribute(whole, c.pairs, { method: 'eap', batchSize: 2 });
      const sels = [5, 20, graph.edges.length >> 1].map((n) => pruneDeadNodes(graph, topN(graph, scores, n)));
      const want = await evaluatePatching(whole, c.pairs, sels, { batchSize: 2 });
      const zeroWant = await evaluateZero(whole, c.pairs, sels[1], { batchSize: 2 });
      const headsWant = await analyzeHeads(whole, c.pairs, {});
      for (const m of streamed) {
        const got = await evaluatePatching(m, c.pairs, sels, { batchSize: 2 });
        got.forEach((e, k) => assert.ok(Math.abs(e.circuit - want[k].circuit) <= 1e-5 * (1 + Math.abs(want[k].circuit)), `circuit ${k}: ${e.circuit} vs ${want[k].circuit}`));
        const zero = await evaluateZero(m, c.pairs, sels[1], { batchSize: 2 });
        assert.deepEqual(zero.ranks, zeroWant.ranks);
        zero.probs.forEach((p, i) => assert.ok(Math.abs(p - zeroWant.probs[i]) <= 1e-5, `zero-ablation probability ${i}`));
        const heads = await analyzeHeads(m, c.pairs, {});
        assert.equal(heads.heads.length, headsWant.heads.length);
        heads.heads.forEach((h, i) => {
          const w = headsWant.heads[i];
          assert.equal(h.node, w.node);
          assert.equal(h.role, w.role, `${h.node}'s role`);
          for (const k of ['ratioSubj', 'ratioRel', 'attnSubj', 'attnRel'] as const) {
            assert.ok(Math.abs(h[k] - w[k]) <= 1e-4 * (1 + Math.abs(w[k])) || (Number.isNaN(h[k]) && Number.isNaN(w[k])), `${h.node}'s ${k} ${h[k]} vs ${w[k]}`);
          }
        });
      }
    });
  });
}

describe('execution plan', () => {
  const spec = (m: TinyModel) => parseConfig(m.config as never, 'config.json');
  test('auto runs a model whole when its weights fit a third of the budget, streamed when not', () => {
    const s = spec(llamaTiny({ nLayer: 4, d: 16 }));
    assert.equal(planExecution(s, { budgetBytes: 1e9 }), undefined);
    const p = planExecution(s, { budgetBytes: 2e5 });
    assert.ok(p && p.stages.length >= 1);
    assert.deepEqual(
      p!.stages.flatMap((st) => [st.from, st.to]).filter((_, i, a) => i === 0 || i === a.length - 1),
      [0, 4],
    );
  });
  test('Llama-3.2-1B under 8 GiB keeps every weight resident; Llama-3.1-8B keeps what fits a quarter of the budget', () => {
    const real = JSON.parse(fs.readFileSync(path.join(repoRoot, 'test/fixtures/real-configs.json'), 'utf8')) as Record<string, Record<string, unknown>>;
    const GiB = 2 ** 30;
    // Float32 sizes by hand from the configs: 1B layer 4·(2048·64·(2·32 + 2·8) + 3·2048·8192) ≈ 243 MB, embeddings 4·128256·2048 ≈ 1.05 GB.
    const oneB = planExecution(parseConfig(real['meta-llama/Llama-3.2-1B'] as never, 'config.json'), { budgetBytes: 8 * GiB })!;
    assert.ok(oneB, 'streamed: 4.95 GB of float32 weights exceed a third of 8 GiB');
    assert.equal(oneB.residentGlobals, true);
    assert.ok(oneB.residentBytes >= 16 * 243e6 && oneB.residentBytes < 16 * 244e6, `every layer resident, got ${oneB.residentBytes}`);
    // 8B: layers 4·(4096·128·(2·32 + 2·8) + 3·4096·14336) ≈ 872 MB, embeddings and unembedding 4.2 GB.
    const eightB = planExecution(parseConfig(real['meta-llama/Llama-3.1-8B'] as never, 'config.json'), { budgetBytes: 8 * GiB })!;
    assert.equal(eightB.residentGlobals, false, '4.2 GB of globals exceed a quarter of 8 GiB');
    assert.equal(eightB.stages.length, 32);
    // A quarter of 8 GiB, 2.15 GB, less the 2.1 GB embeddings a stage reads, holds no 872 MB layer.
    assert.equal(Math.floor(eightB.residentBytes / 872e6), 0);
    const wide = planExecution(parseConfig(real['meta-llama/Llama-3.1-8B'] as never, 'config.json'), { budgetBytes: 16 * GiB })!;
    assert.equal(wide.residentGlobals, true, '4.2 GB of globals fit a quarter of 16 GiB');
    assert.ok(wide.residentBytes < 872e6, `the rest of the quarter holds no layer, got ${wide.residentBytes}`);
  });
  test('a post-norm model runs whole under auto, and forcing streamed is refused by name', () => {
    const s = spec(gemma2Tiny({ seed: 3 }));
    assert.equal(planExecution(s, { budgetBytes: 1e3 }), undefined);
    assert.throws(() => planExecution(s, { execution: 'streamed', file: '/x/gemma' }), /\/x\/gemma: .*post-norm.*--execution whole/);
  });
});
