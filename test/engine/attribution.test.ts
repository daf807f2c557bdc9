/**
 * Edge attribution against independent float64 computations: the hooked reference forwards of
 * test/helpers/reference.ts patch destination inputs exactly as the method defines, and finite
 * differences there (with float64 steps of 1e-5) give the derivative of the loss with respect to
 * each edge's patch coefficient.
 */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { attribute, igAlphas, type Method } from '../../src/engine/circuits/attribute';
import type { TokenizedPair } from '../../src/engine/circuits/prompts';
import { Model } from '../../src/engine/model/runner';
import type { Edge } from '../../src/shared/circuit';
import { type Mat, type RefHooks } from '../helpers/reference';
import { tmpDir, writeCheckpoint } from '../helpers/tinyModels';
import { attributionCases, type AttributionCase } from '../helpers/attributionCases';

type Case = AttributionCase;

function cases(): Case[] {
  const c = attributionCases();
  return [c.gpt2, c.llama, c.neox];
}

/** Reference: node outputs of a run, and the loss L = −(1/N) Σ LD under given hooks. */
class Ref {
  constructor(private readonly c: Case) {}

  outputs(ids: number[]): Map<string, Mat> {
    const m = new Map<string, Mat>();
    this.c.forward(ids, { record: (n, o) => m.set(n, o) });
    return m;
  }

  ld(p: TokenizedPair, hooks: RefHooks): number {
    const logits = this.c.forward(p.clean, hooks);
    const last = logits[p.clean.length - 1];
    return last[p.cleanLabel] - last[p.corruptedLabel];
  }

  /** Δ_u = z'_u − z_u from full clean and corrupted runs. */
  delta(p: TokenizedPair): Map<string, Mat> {
    const clean = this.outputs(p.clean);
    const corr = this.outputs(p.corrupted);
    const out = new Map<string, Mat>();
    for (const [n, z] of clean) out.set(n, corr.get(n)!.map((r, i) => r.map((v, j) => v - z[i][j])));
    return out;
  }

  /** Embeddings e' + α (e − e'), captured from clean and corrupted runs. */
  interpolate(p: TokenizedPair, alpha: number): (e: Mat) => Mat {
    let corr: Mat = [];
    this.c.forward(p.corrupted, { embed: (e) => ((corr = e), e) });
    return (e) => e.map((r, i) => r.map((v, j) => corr[i][j] + alpha * (v - corr[i][j])));
  }

  /** dL/dc for the coefficient of `edge` by central differences in float64. */
  derivative(edge: Edge, alpha: number, base: (p: TokenizedPair, deltas: Map<string, Mat>) => Map<string, number> = () => new Map()): number {
    const h = 1e-5;
    let total = 0;
    const N = this.c.pairs.length;
    for (const p of this.c.pairs) {
      const deltas = this.delta(p);
      const embed = this.interpolate(p, alpha);
      const fixed = base(p, deltas);
      const dest = edge.qkv ? `${edge.child}<${edge.qkv}>` : edge.child;
      const at = (c: number): number =>
        this.ld(p, {
          embed,
          input: (d, x) => {
            let y = x;
            // Fixed coefficients (EAP-IG over activations) for every edge into d.
            for (const [u, coef] of fixed) if (coef !== 0 && feeds(u, d)) y = y.map((r, i) => r.map((v, j) => v + coef * deltas.get(u)![i][j]));
            if (d === dest) y = y.map((r, i) => r.map((v, j) => v + c * deltas.get(edge.parent)![i][j]));
            return y;
          },
        });
      total += -(at(h) - at(-h)) / (2 * h) / N;
    }
    return total;
  }

  /** Loss change when `edge` alone reads the corrupted output of its parent. */
  exact(edge: Edge): number {
    let total = 0;
    const N = this.c.pairs.length;
    const dest = edge.qkv ? `${edge.child}<${edge.qkv}>` : edge.child;
    for (const p of this.c.pairs) {
      const deltas = this.delta(p);
      const clean = this.ld(p, {});
      const patched = this.ld(p, { input: (d, x) => (d === dest ? x.map((r, i) => r.map((v, j) => v + deltas.get(edge.parent)![i][j])) : x) });
      total += -(patched - clean) / N;
    }
    return total;
  }
}

/** Whether node u writes into destination input d in this graph (set by the test before use). */
let feeds: (u: string, d: string) => boolean = () => false;

async function engineScores(c: Case, method: Method, steps = 5, convention: 'paper' | 'upstream' = 'paper') {
  const dir = writeCheckpoint(path.join(tmpDir(), c.name.replace(/\W+/g, '-')), c.model, c.tokenizerFrom ? { tokenizerFrom: c.tokenizerFrom } : {});
  const m = await Model.load(dir);
  try {
    return await attribute(m, c.pairs, { method, steps, igConvention: convention, batchSize: 2 });
  } finally {
    await m.dispose();
  }
}

/** Compares engine scores with reference values on the top edges (relative) and on all (absolute). */
function compareTop(what: string, edges: readonly Edge[], got: Float64Array, want: (e: Edge) => number, top = 8): void {
  const order = Array.from(got.keys()).sort((a, b) => Math.abs(got[b]) - Math.abs(got[a]));
  const maxAbs = Math.abs(got[order[0]]);
  assert.ok(maxAbs > 1e-3, `${what}: scores are all near zero; the test would prove nothing`);
  for (const i of order.slice(0, top)) {
    const w = want(edges[i]);
    const rel = Math.abs(got[i] - w) / Math.max(Math.abs(w), 1e-12);
    assert.ok(rel <= 1e-3, `${what}: edge ${edges[i].name}: engine ${got[i]} vs reference ${w} (relative error ${rel.toExponential(2)})`);
  }
  // A few lower-ranked edges, with an absolute tolerance scaled to the largest score.
  for (const i of order.slice(top, top + 6)) {
    const w = want(edges[i]);
    assert.ok(Math.abs(got[i] - w) <= 1e-4 * maxAbs + 1e-7, `${what}: edge ${edges[i].name}: engine ${got[i]} vs reference ${w}`);
  }
}

for (const c of cases()) {
  test(`${c.name}: EAP scores equal float64 finite differences of the loss in each edge coefficient`, async () => {
    const r = await engineScores(c, 'eap');
    const ref = new Ref(c);
    compareTop(`${c.name} eap`, r.graph.edges, r.scores, (e) => ref.derivative(e, 1));
  });

  test(`${c.name}: EAP-IG (inputs, 5 steps) equals the average of finite differences at α = k/5`, async () => {
    const r = await engineScores(c, 'eap-ig-inputs');
    const ref = new Ref(c);
    compareTop(`${c.name} eap-ig`, r.graph.edges, r.scores, (e) => igAlphas(5, 'paper').reduce((s, a) => s + ref.derivative(e, a) / 5, 0), 5);
  });

  test(`${c.name}: exact scores equal one-edge-at-a-time patching in separate float64 forward passes`, async () => {
    const r = await engineScores(c, 'exact');
    const ref = new Ref(c);
    const maxAbs = Math.max(...r.scores.map(Math.abs));
    assert.ok(maxAbs > 1e-3);
    r.graph.edges.forEach((e, i) => {
      const w = ref.exact(e);
      assert.ok(Math.abs(r.scores[i] - w) <= 2e-5 * Math.max(1, maxAbs), `${c.name} exact ${e.name}: engine ${r.scores[i]} vs reference ${w}`);
    });
  });
}

test('GPT-2: clean-corrupted and EAP-IG over activations match their finite-difference definitions', async () => {
  const c = cases()[0];
  const ref = new Ref(c);
  const cc = await engineScores(c, 'clean-corrupted');
  compareTop('clean-corrupted', cc.graph.edges, cc.scores, (e) => (ref.derivative(e, 1) + ref.derivative(e, 0)) / 2, 5);

  const act = await engineScores(c, 'eap-ig-activations', 3);
  const g = act.graph;
  feeds = (u, d) => {
    const dn = d.replace(/<[qkv]>$/, '');
    const qkv = /<([qkv])>$/.exec(d)?.[1];
    return g.edgeByName(qkv ? `${u}->${dn}<${qkv}>` : `${u}->${dn}`) !== undefined;
  };
  // The group of a node: the input, all heads of its layer, or its MLP.
  const groupOf = (n: string) => (n.startsWith('a') ? n.split('.')[0] : n);
  compareTop(
    'eap-ig-activations',
    g.edges,
    act.scores,
    (e) =>
      igAlphas(3, 'paper').reduce(
        (s, a) =>
          s +
          ref.derivative(e, 1, (_p, deltas) => new Map([...deltas.keys()].filter((u) => groupOf(u) === groupOf(e.parent)).map((u) => [u, 1 - a] as [string, number]))) / 3,
        0,
      ),
    5,
  );
});

test('completeness: with many steps, EAP-IG attributions of the input node add up to L(corrupted) − L(clean)', async () => {
  for (const c of cases()) {
    const ref = new Ref(c);
    const N = c.pairs.length;
    const lossClean = c.pairs.reduce((s, p) => s - ref.ld(p, {}) / N, 0);
    const lossCorr = c.pairs.reduce((s, p) => s - ref.ld(p, { embed: ref.interpolate(p, 0) }) / N, 0);
    const target = lossCorr - lossClean;
    const sums: number[] = [];
    for (const [steps, convention] of [[5, 'paper'], [100, 'paper'], [100, 'upstream']] as const) {
      const r = await engineScores(c, 'eap-ig-inputs', steps, convention);
      sums.push(r.graph.edges.reduce((s, e, i) => s + (e.parent === 'input' ? r.scores[i] : 0), 0));
      // The engine's own baselines agree with the reference.
      assert.ok(Math.abs(-r.baselines.clean - lossClean) < 1e-4 && Math.abs(-r.baselines.corrupted - lossCorr) < 1e-4, `${c.name} baselines`);
    }
    assert.ok(Math.abs(target) > 1e-2, `${c.name}: the clean/corrupted difference is too small to test`);
    const [err5, err100] = [Math.abs(sums[0] - target), Math.abs(sums[1] - target)];
    // Right (paper) and left (upstream) Riemann sums converge as 1/m: 20x the steps, about 1/20 the error.
    assert.ok(err100 <= err5 / 10, `${c.name}: error ${err100} at 100 steps vs ${err5} at 5`);
    assert.ok(err100 <= 0.05 * Math.abs(target), `${c.name}: completeness error ${err100} for target ${target}`);
    // Their average is the trapezoid rule, whose error shrinks as 1/m².
    const trapezoid = (sums[1] + sums[2]) / 2;
    assert.ok(Math.abs(trapezoid - target) <= 2e-3 * Math.abs(target), `${c.name}: trapezoid ${trapezoid} vs target ${target}`);
  }
});
