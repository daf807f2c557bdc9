/**
 * RelP (method spec §7.1) against its definition, independently of the engine: RelP's scores are EAP
 * scores of a model whose forward holds RelP's quantities constant (norm scales, activation ratios,
 * the gated MLP's halves; attention patterns under the AH-rule) at the point where the gradient is
 * taken. The float64 reference forwards (test/helpers/reference.ts) hold them through `RefHooks.hold`:
 * a first run at coefficient 0 records them, and central differences in each edge's coefficient run
 * with the recorded values in place.
 */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { attribute, type Method } from '../../src/engine/circuits/attribute';
import type { TokenizedPair } from '../../src/engine/circuits/prompts';
import { Model } from '../../src/engine/model/runner';
import type { Edge } from '../../src/shared/circuit';
import type { Mat } from '../helpers/reference';
import { tmpDir, writeCheckpoint } from '../helpers/tinyModels';
import { attributionCases, type AttributionCase } from '../helpers/attributionCases';

type Case = AttributionCase;

function cases(): Case[] {
  const c = attributionCases();
  return [c.gpt2, { ...c.llama, name: 'Llama (gated MLP, GQA, biases)' }, c.neox];
}

/** Which reference sites each method holds (RefHooks.hold), and where its gradient is taken (α). */
const held: Record<string, { sites: RegExp; alpha: number }> = {
  eap: { sites: /^$/, alpha: 1 },
  relp: { sites: /\.norm$|\.ratio\.|\.gate\.|\.up\./, alpha: 1 },
  'relp-ah': { sites: /\.norm$|\.ratio\.|\.gate\.|\.up\.|\.pattern\./, alpha: 1 },
  'relp-corrupted': { sites: /\.norm$|\.ratio\.|\.gate\.|\.up\./, alpha: 0 },
};

class Ref {
  constructor(private readonly c: Case) {}

  private outputs(ids: number[]): Map<string, Mat> {
    const m = new Map<string, Mat>();
    this.c.forward(ids, { record: (n, o) => m.set(n, o) });
    return m;
  }

  /** Embeddings corrupted + α (clean − corrupted). */
  private interpolate(p: TokenizedPair, alpha: number): (e: Mat) => Mat {
    let corr: Mat = [];
    this.c.forward(p.corrupted, { embed: (e) => ((corr = e), e) });
    return (e) => e.map((r, i) => r.map((v, j) => corr[i][j] + alpha * (v - corr[i][j])));
  }

  /** −(1/N) d LD / dc for the coefficient of `edge`, with the method's quantities held at c = 0. */
  derivative(edge: Edge, method: keyof typeof held): number {
    const { sites, alpha } = held[method];
    const h = 1e-5;
    const N = this.c.pairs.length;
    const dest = edge.qkv ? `${edge.child}<${edge.qkv}>` : edge.child;
    let total = 0;
    for (const p of this.c.pairs) {
      const clean = this.outputs(p.clean);
      const corr = this.outputs(p.corrupted);
      const delta = corr.get(edge.parent)!.map((r, i) => r.map((v, j) => v - clean.get(edge.parent)![i][j]));
      const embed = this.interpolate(p, alpha);
      const recorded = new Map<string, Float64Array>();
      this.c.forward(p.clean, { embed, hold: (site, v) => (sites.test(site) && recorded.set(site, Float64Array.from(v)), v) });
      const at = (c: number): number => {
        const logits = this.c.forward(p.clean, {
          embed,
          hold: (site, v) => (sites.test(site) ? recorded.get(site)! : v),
          input: (d, x) => (d === dest ? x.map((r, i) => r.map((v, j) => v + c * delta[i][j])) : x),
        });
        const last = logits[p.clean.length - 1];
        return last[p.cleanLabel] - last[p.corruptedLabel];
      };
      total += -(at(h) - at(-h)) / (2 * h) / N;
    }
    return total;
  }
}

async function engineScores(c: Case, methods: Method[]) {
  const dir = writeCheckpoint(path.join(tmpDir(), c.name.replace(/\W+/g, '-')), c.model, c.tokenizerFrom ? { tokenizerFrom: c.tokenizerFrom } : {});
  const m = await Model.load(dir);
  try {
    const out: Record<string, Awaited<ReturnType<typeof attribute>>> = {};
    for (const method of methods) out[method] = await attribute(m, c.pairs, { method, batchSize: 2 });
    return out;
  } finally {
    await m.dispose();
  }
}

/** Engine scores against the reference on the top edges (relative) and a few more (absolute). */
function compareTop(what: string, edges: readonly Edge[], got: Float64Array, want: (e: Edge) => number, top = 8): void {
  const order = Array.from(got.keys()).sort((a, b) => Math.abs(got[b]) - Math.abs(got[a]));
  const maxAbs = Math.abs(got[order[0]]);
  assert.ok(maxAbs > 1e-3, `${what}: scores are all near zero; the test would prove nothing`);
  for (const i of order.slice(0, top)) {
    const w = want(edges[i]);
    const rel = Math.abs(got[i] - w) / Math.max(Math.abs(w), 1e-12);
    assert.ok(rel <= 1e-3, `${what}: edge ${edges[i].name}: engine ${got[i]} vs reference ${w} (relative error ${rel.toExponential(2)})`);
  }
  for (const i of order.slice(top, top + 6)) {
    const w = want(edges[i]);
    assert.ok(Math.abs(got[i] - w) <= 1e-4 * maxAbs + 1e-7, `${what}: edge ${edges[i].name}: engine ${got[i]} vs reference ${w}`);
  }
}

/** The largest relative difference between two methods' scores on the top edges of the first. */
function largestDifference(a: Float64Array, b: Float64Array): number {
  const order = Array.from(a.keys()).sort((i, j) => Math.abs(a[j]) - Math.abs(a[i])).slice(0, 20);
  return Math.max(...order.map((i) => Math.abs(a[i] - b[i]) / Math.abs(a[i])));
}

for (const c of cases()) {
  test(`${c.name}: RelP scores equal finite differences of the reference with norm scales, activation ratios and gate halves held`, async () => {
    const r = await engineScores(c, ['relp', 'eap']);
    const ref = new Ref(c);
    compareTop(`${c.name} relp`, r.relp.graph.edges, r.relp.scores, (e) => ref.derivative(e, 'relp'));
    // The rules change the scores, so agreement above is not EAP's agreement in disguise.
    assert.ok(largestDifference(r.relp.scores, r.eap.scores) > 1e-2, `${c.name}: RelP scores equal EAP's; the held quantities changed nothing`);
  });
}

test('Llama: RelP with the AH-rule holds attention patterns too (query and key edges score 0), and RelP at the corrupted run', async () => {
  const c = cases()[1];
  const r = await engineScores(c, ['relp-ah', 'relp-corrupted']);
  const ref = new Ref(c);
  const ah = r['relp-ah'];
  ah.graph.edges.forEach((e, i) => {
    if (e.qkv === 'q' || e.qkv === 'k') assert.equal(ah.scores[i], 0, `${e.name} under the AH-rule`);
  });
  compareTop('relp-ah', ah.graph.edges, ah.scores, (e) => ref.derivative(e, 'relp-ah'));
  compareTop('relp-corrupted', r['relp-corrupted'].graph.edges, r['relp-corrupted'].scores, (e) => ref.derivative(e, 'relp-corrupted'));
});

test('GPT-2: the reference with nothing held gives EAP, so the hold sites are the only difference', async () => {
  const c = cases()[0];
  const r = await engineScores(c, ['eap']);
  const ref = new Ref(c);
  compareTop('eap', r.eap.graph.edges, r.eap.scores, (e) => ref.derivative(e, 'eap'), 4);
});
