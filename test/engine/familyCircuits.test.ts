/**
 * Edge attribution on the newer families against float64 finite differences through the independent
 * reference forward (test/helpers/referenceFamilies.ts), as test/engine/attribution.test.ts does for
 * GPT-2, Llama and GPT-NeoX.
 *
 * Families with a norm after attention (Gemma-2/3, OLMo-2) use the definition of
 * docs/method-notes in ARCHITECTURE.md: a head's node output is its pre-norm result z_h·W_O[h], and an
 * edge from head u of layer l′ into destination v changes v's input by
 *     N_l′(A_l′ + c·Δ_u) − N_l′(A_l′)
 * where A_l′ is layer l′'s attention output before its post-norm N_l′ in the same pass. With every
 * edge patched, every layer's attention becomes N(A_corrupted): the destination reads the corrupted run.
 */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { attribute, igAlphas, type Method } from '../../src/engine/circuits/attribute';
import { evaluatePatching } from '../../src/engine/circuits/evaluate';
import type { TokenizedPair } from '../../src/engine/circuits/prompts';
import { Model } from '../../src/engine/model/runner';
import type { Edge } from '../../src/shared/circuit';
import type { Mat, RefHooks } from '../helpers/reference';
import { familyForward, postAttentionNorm } from '../helpers/referenceFamilies';
import { gemma2Tiny, gemma3Tiny, olmo2Tiny, olmoTiny, phiTiny, qwen3Tiny } from '../helpers/familyModels';
import { tmpDir, tokenPair, writeCheckpoint, type TinyModel } from '../helpers/tinyModels';

interface Case {
  readonly name: string;
  readonly model: TinyModel;
  readonly postNorm: boolean;
  readonly pairs: TokenizedPair[];
}

const pairs = [tokenPair([1, 40, 58, 25, 37, 9], [1, 40, 91, 25, 37, 9], 11, 13), tokenPair([1, 7, 8, 9], [1, 17, 8, 9], 100, 200)];

function cases(): Case[] {
  return [
    { name: 'Qwen3', model: qwen3Tiny({ seed: 21 }), postNorm: false, pairs },
    { name: 'Phi', model: phiTiny({ seed: 22, nKv: 2 }), postNorm: false, pairs },
    { name: 'OLMo', model: olmoTiny({ seed: 23 }), postNorm: false, pairs },
    { name: 'Gemma-2', model: gemma2Tiny({ seed: 24 }), postNorm: true, pairs },
    { name: 'Gemma-3', model: gemma3Tiny({ seed: 25 }), postNorm: true, pairs },
    { name: 'OLMo-2', model: olmo2Tiny({ seed: 26 }), postNorm: true, pairs },
  ];
}

class Ref {
  constructor(private readonly c: Case) {}

  private forward(ids: number[], hooks: RefHooks): Mat {
    return familyForward(this.c.model.config, this.c.model.tensors, ids, hooks);
  }

  outputs(ids: number[]): Map<string, Mat> {
    const m = new Map<string, Mat>();
    this.forward(ids, { record: (n, o) => m.set(n, o) });
    return m;
  }

  delta(p: TokenizedPair): Map<string, Mat> {
    const clean = this.outputs(p.clean);
    const corr = this.outputs(p.corrupted);
    return new Map([...clean].map(([n, z]) => [n, corr.get(n)!.map((r, i) => r.map((v, j) => v - z[i][j]))]));
  }

  interpolate(p: TokenizedPair, alpha: number): (e: Mat) => Mat {
    let corr: Mat = [];
    this.forward(p.corrupted, { embed: (e) => ((corr = e), e) });
    return (e) => e.map((r, i) => r.map((v, j) => corr[i][j] + alpha * (v - corr[i][j])));
  }

  /** LD under a patch of coefficient c on `edge` (the method's definition, see the file comment). */
  ld(p: TokenizedPair, edge: Edge | undefined, c: number, embed?: (e: Mat) => Mat, deltas?: Map<string, Mat>): number {
    const dest = edge && (edge.qkv ? `${edge.child}<${edge.qkv}>` : edge.child);
    const current = new Map<string, Mat>();
    const layer = edge && /^a(\d+)\.h\d+$/.exec(edge.parent)?.[1];
    const logits = this.forward(p.clean, {
      embed,
      record: (n, o) => current.set(n, o),
      input: (d, x) => {
        if (!edge || d !== dest || c === 0) return x;
        const delta = deltas!.get(edge.parent)!;
        if (this.c.postNorm && layer !== undefined) {
          const A = current.get(`a${layer}`)!;
          const N = (y: Mat) => postAttentionNorm(this.c.model.config, this.c.model.tensors, Number(layer), y);
          const moved = N(A.map((r, i) => r.map((v, j) => v + c * delta[i][j])));
          const base = N(A);
          return x.map((r, i) => r.map((v, j) => v + moved[i][j] - base[i][j]));
        }
        return x.map((r, i) => r.map((v, j) => v + c * delta[i][j]));
      },
    });
    const last = logits[p.clean.length - 1];
    return last[p.cleanLabel] - last[p.corruptedLabel];
  }

  derivative(edge: Edge, alpha: number): number {
    const h = 1e-5;
    let total = 0;
    for (const p of this.c.pairs) {
      const deltas = this.delta(p);
      const embed = this.interpolate(p, alpha);
      total += -(this.ld(p, edge, h, embed, deltas) - this.ld(p, edge, -h, embed, deltas)) / (2 * h) / this.c.pairs.length;
    }
    return total;
  }

  exact(edge: Edge): number {
    let total = 0;
    for (const p of this.c.pairs) {
      const deltas = this.delta(p);
      total += -(this.ld(p, edge, 1, undefined, deltas) - this.ld(p, undefined, 0)) / this.c.pairs.length;
    }
    return total;
  }
}

async function engineScores(c: Case, method: Method, steps = 5) {
  const dir = writeCheckpoint(path.join(tmpDir(), c.name.replace(/\W+/g, '-')), c.model);
  const m = await Model.load(dir);
  try {
    return await attribute(m, c.pairs, { method, steps, igConvention: 'paper', batchSize: 2 });
  } finally {
    await m.dispose();
  }
}

function compareTop(what: string, edges: readonly Edge[], got: Float64Array, want: (e: Edge) => number, top = 6): void {
  const order = Array.from(got.keys()).sort((a, b) => Math.abs(got[b]) - Math.abs(got[a]));
  const maxAbs = Math.abs(got[order[0]]);
  assert.ok(maxAbs > 1e-3, `${what}: scores are all near zero; the test would prove nothing`);
  // The top edges, plus every edge out of a head of layer 0 (the post-norm definition's edges).
  const picks = [...order.slice(0, top), ...order.filter((i) => /^a0\.h/.test(edges[i].parent)).slice(0, 4)];
  for (const i of picks) {
    const w = want(edges[i]);
    const tol = 1e-3 * Math.max(Math.abs(w), 1e-2 * maxAbs);
    assert.ok(Math.abs(got[i] - w) <= tol, `${what}: edge ${edges[i].name}: engine ${got[i]} vs reference ${w}`);
  }
}

for (const c of cases()) {
  test(`${c.name}: EAP scores equal float64 finite differences of the loss in each edge coefficient`, async () => {
    const r = await engineScores(c, 'eap');
    const ref = new Ref(c);
    compareTop(`${c.name} eap`, r.graph.edges, r.scores, (e) => ref.derivative(e, 1));
  });

  test(`${c.name}: EAP-IG (inputs, 3 steps) equals the average of finite differences at α = k/3`, async () => {
    const r = await engineScores(c, 'eap-ig-inputs', 3);
    const ref = new Ref(c);
    compareTop(`${c.name} eap-ig`, r.graph.edges, r.scores, (e) => igAlphas(3, 'paper').reduce((s, a) => s + ref.derivative(e, a) / 3, 0), 4);
  });

  test(`${c.name}: exact scores equal one-edge patching in separate float64 forward passes`, async () => {
    const r = await engineScores(c, 'exact');
    const ref = new Ref(c);
    const maxAbs = Math.max(...r.scores.map(Math.abs));
    assert.ok(maxAbs > 1e-3);
    const order = Array.from(r.scores.keys()).sort((a, b) => Math.abs(r.scores[b]) - Math.abs(r.scores[a]));
    for (const i of [...order.slice(0, 12), ...order.filter((k) => /^a0\.h/.test(r.graph.edges[k].parent)).slice(0, 6)]) {
      const e = r.graph.edges[i];
      const w = ref.exact(e);
      assert.ok(Math.abs(r.scores[i] - w) <= 2e-5 * Math.max(1, maxAbs), `${c.name} exact ${e.name}: engine ${r.scores[i]} vs reference ${w}`);
    }
  });
}

test('post-norm families: patching every edge reproduces the corrupted run, patching none the clean run', async () => {
  for (const c of cases().filter((x) => x.postNorm)) {
    const dir = writeCheckpoint(path.join(tmpDir(), c.name.replace(/\W+/g, '-')), c.model);
    const m = await Model.load(dir);
    try {
      const r = await attribute(m, c.pairs, { method: 'eap', batchSize: 2 });
      const n = r.graph.edges.length;
      const [none, all] = await evaluatePatching(m, c.pairs, [
        { edgeIn: new Uint8Array(n), nodeIn: new Map() },
        { edgeIn: new Uint8Array(n).fill(1), nodeIn: new Map() },
      ]);
      const { clean, corrupted } = none.baselines;
      assert.ok(Math.abs(clean - corrupted) > 1e-2, `${c.name}: clean and corrupted runs must differ for this test to mean anything`);
      assert.ok(Math.abs(none.circuit - corrupted) <= 1e-4, `${c.name}: every edge patched gives ${none.circuit}, corrupted run ${corrupted}`);
      assert.ok(Math.abs(all.circuit - clean) <= 1e-4, `${c.name}: no edge patched gives ${all.circuit}, clean run ${clean}`);
    } finally {
      await m.dispose();
    }
  }
});
