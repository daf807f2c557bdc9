/**
 * Information-flow routes (Ferrando & Voita 2024, EAP-IG's `information-flow-routes`) against their
 * definition computed here from the float64 reference forward: at each real position, the proximity
 * max(0, ‖x_v‖₁ − ‖x_v − z_u‖₁) of each upstream output z_u to the destination's input x_v (RefHooks
 * `record` and `input`), normalized over the destination's upstream nodes, averaged over positions and
 * then over examples. Also a hand-built GPT-2 whose writers are zero or constant, where every score is
 * known by hand, including a position where no node is close (importance 0, not 0/0).
 */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { attribute } from '../../src/engine/circuits/attribute';
import type { TokenizedPair } from '../../src/engine/circuits/prompts';
import { Model } from '../../src/engine/model/runner';
import { attributionPasses, methodRow } from '../../src/shared/methods';
import type { CircuitGraph } from '../../src/shared/circuit';
import { gpt2Forward, type Mat } from '../helpers/reference';
import { gpt2TokenizerDir, gpt2Tiny, tmpDir, tokenPair as pair, writeCheckpoint, type TinyModel } from '../helpers/tinyModels';

/** The definition, from the reference forward's node outputs and destination inputs. */
function referenceRoutes(model: TinyModel, g: CircuitGraph, pairs: readonly TokenizedPair[]): Float64Array {
  const scores = new Float64Array(g.edges.length);
  const dest = (i: number) => (g.edges[i].qkv ? `${g.edges[i].child}<${g.edges[i].qkv}>` : g.edges[i].child);
  // The upstream nodes of each destination: its parent edges.
  const upstream = new Map<string, number[]>();
  g.edges.forEach((_, i) => upstream.set(dest(i), [...(upstream.get(dest(i)) ?? []), i]));
  const l1 = (r: Float64Array) => r.reduce((a, v) => a + Math.abs(v), 0);
  for (const p of pairs) {
    const outputs = new Map<string, Mat>();
    const inputs = new Map<string, Mat>();
    gpt2Forward(model.tensors, model.config as never, p.clean, {
      record: (n, o) => outputs.set(n, o),
      input: (d, x) => {
        inputs.set(d, x);
        return x;
      },
    });
    for (const [v, edges] of upstream) {
      const x = inputs.get(v)!;
      for (let pos = 0; pos < p.clean.length; pos++) {
        const prox = edges.map((i) => {
          const z = outputs.get(g.edges[i].parent)![pos];
          return Math.max(0, l1(x[pos]) - l1(x[pos].map((a, j) => a - z[j])));
        });
        const sum = prox.reduce((a, b) => a + b, 0);
        if (sum > 0) edges.forEach((i, k) => (scores[i] += prox[k] / sum / p.clean.length / pairs.length));
      }
    }
  }
  return scores;
}

async function engineRoutes(name: string, model: TinyModel, pairs: TokenizedPair[]) {
  const dir = writeCheckpoint(path.join(tmpDir(), name), model, { tokenizerFrom: gpt2TokenizerDir });
  const m = await Model.load(dir);
  try {
    return await attribute(m, pairs, { method: 'information-flow-routes', batchSize: 2 });
  } finally {
    await m.dispose();
  }
}

test('information-flow routes: a method-table row that needs no gradient pass and no corrupted prompt for its scores', () => {
  const row = methodRow('information-flow-routes');
  assert.equal(row.cleanOnly, true);
  assert.deepEqual(row.options, []);
  assert.equal(attributionPasses('information-flow-routes', 5, { batchSize: 2, steps: 5, nLayers: 2, edges: 10 }), 3 * 2);
});

test('information-flow routes on a tiny GPT-2 equal the definition from the float64 reference forward', async () => {
  const model = gpt2Tiny({ nLayer: 2, nHead: 2, nEmbd: 16, vocab: 50257, seed: 17 });
  // Prompts of different lengths in one batch: the padded positions must not count.
  const pairs = [pair([50256, 40, 588, 257, 3797], [50256, 40, 910, 257, 3797], 11, 13), pair([50256, 7, 8], [50256, 17, 8], 100, 200), pair([3, 4, 5, 6], [3, 9, 5, 6], 1, 2)];
  const r = await engineRoutes('gpt2', model, pairs);
  const want = referenceRoutes(model, r.graph, pairs);
  let maxDiff = 0;
  for (let i = 0; i < want.length; i++) maxDiff = Math.max(maxDiff, Math.abs(r.scores[i] - want[i]));
  assert.ok(maxDiff < 2e-5, `max |engine − definition| = ${maxDiff}`);
  // Not a trivial case: scores spread over sources, each destination's importances sum to at most 1.
  const positive = want.filter((x) => x > 1e-3).length;
  assert.ok(positive > r.graph.edges.length / 4, `${positive} edges with a route`);
  const perDest = new Map<string, number>();
  r.graph.edges.forEach((e, i) => perDest.set(`${e.child}<${e.qkv ?? ''}>`, (perDest.get(`${e.child}<${e.qkv ?? ''}>`) ?? 0) + r.scores[i]));
  for (const [d, s] of perDest) assert.ok(s > 0.5 && s <= 1 + 1e-6, `${d}: importances sum to ${s}`);
  // The baselines still come from the clean and corrupted runs; one clean and one corrupted pass per batch.
  assert.ok(Number.isFinite(r.baselines.clean) && Number.isFinite(r.baselines.corrupted));
  assert.equal(r.passes, 2 * 2);
});

test('information-flow routes on a hand-built GPT-2: zero heads, a constant MLP, scores known by hand', async () => {
  const d = 8;
  const model = gpt2Tiny({ nLayer: 2, nHead: 2, nEmbd: d, vocab: 50257, seed: 5 });
  const t = model.tensors;
  const set = (name: string, f: (i: number) => number) => t[name].data.forEach((_, i, a) => (a[i] = f(i)));
  set('transformer.wpe.weight', () => 0);
  for (let l = 0; l < 2; l++) {
    // Every head writes 0 (so does b_O: c_proj is zero), m1 writes 0, m0 writes the constant 2·1.
    set(`transformer.h.${l}.attn.c_proj.weight`, () => 0);
    set(`transformer.h.${l}.attn.c_proj.bias`, () => 0);
    set(`transformer.h.${l}.mlp.c_proj.weight`, () => 0);
    set(`transformer.h.${l}.mlp.c_proj.bias`, () => (l === 0 ? 2 : 0));
  }
  const [A, B] = [5, 6];
  const wte = t['transformer.wte.weight'].data;
  for (let j = 0; j < d; j++) {
    wte[A * d + j] = 1;
    wte[B * d + j] = -1;
  }
  // Layer 0 and m0 read tok alone: the input has all of it (importance 1). Layer 1 and the logits read
  // tok + 2·1: at A, ‖x‖₁ = 3d, so the input's proximity is 3d − 2d = d and m0's 3d − d = 2d (⅓ and ⅔);
  // at B, x = 1: the input's proximity is d − 2d < 0 and m0's d − d = 0, so no node is close (0, 0).
  const pairs = [pair([A, B], [B, B], 1, 2), pair([A, A, A], [B, A, A], 1, 2)];
  const r = await engineRoutes('hand', model, pairs);
  const expected = (parent: string, child: string): number => {
    const layer1 = child === 'logits' || child === 'm1' || child.startsWith('a1.');
    if (parent === 'input') return layer1 ? (1 / 3 / 2 + 1 / 3) / 2 : 1;
    if (parent === 'm0' && layer1) return (2 / 3 / 2 + 2 / 3) / 2;
    return 0;
  };
  r.graph.edges.forEach((e, i) => assert.ok(Math.abs(r.scores[i] - expected(e.parent, e.child)) < 1e-6, `${e.name}: ${r.scores[i]}, by hand ${expected(e.parent, e.child)}`));
  // And the definition computed from the reference forward agrees with the hand figures.
  const want = referenceRoutes(model, r.graph, pairs);
  r.graph.edges.forEach((e, i) => assert.ok(Math.abs(want[i] - expected(e.parent, e.child)) < 1e-12, `${e.name}: reference ${want[i]}`));
});
