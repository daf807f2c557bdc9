/**
 * Node scores (EAP-IG's node attribution) against their definition, Σ Δ_u · ∂L/∂z_u: in the float64
 * reference forwards, the node's corrupted-minus-clean difference is added with coefficient c to every
 * input that reads the node's output (the whole residual stream downstream of it), and the central
 * difference in c is compared with the engine's node score. Node top-n selection and the EAP-IG v2
 * JSON on a hand-built graph.
 */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { attribute } from '../../src/engine/circuits/attribute';

import { Model } from '../../src/engine/model/runner';
import { CircuitGraph, fromEapJson, nodeScoresFromEdges, toEapJsonV2, topNNodes } from '../../src/shared/circuit';
import type { Mat } from '../helpers/reference';
import { tmpDir, writeCheckpoint } from '../helpers/tinyModels';
import { attributionCases, type AttributionCase } from '../helpers/attributionCases';

type Case = AttributionCase;

function cases(): Case[] {
  const c = attributionCases();
  return [c.gpt2, c.neox];
}

/** The reference's −(1/N) dLD/dc with c·Δ_u added to every input downstream of u that reads it. */
function nodeDerivative(c: Case, g: CircuitGraph, u: string): number {
  const readers = new Set((g.childEdges.get(u) ?? []).map((i) => (g.edges[i].qkv ? `${g.edges[i].child}<${g.edges[i].qkv}>` : g.edges[i].child)));
  const outputs = (ids: number[]) => {
    const m = new Map<string, Mat>();
    c.forward(ids, { record: (n, o) => m.set(n, o) });
    return m;
  };
  const h = 1e-5;
  let total = 0;
  for (const p of c.pairs) {
    const z = outputs(p.clean).get(u)!;
    const delta = outputs(p.corrupted).get(u)!.map((r, i) => r.map((v, j) => v - z[i][j]));
    const at = (k: number) => {
      const logits = c.forward(p.clean, { input: (d, x) => (readers.has(d) ? x.map((r, i) => r.map((v, j) => v + k * delta[i][j])) : x) });
      const last = logits[p.clean.length - 1];
      return last[p.cleanLabel] - last[p.corruptedLabel];
    };
    total += -(at(h) - at(-h)) / (2 * h) / c.pairs.length;
  }
  return total;
}

for (const c of cases()) {
  test(`${c.name}: node scores (EAP) equal Δ_u · ∂L/∂z_u by finite differences through every reader of the node`, async () => {
    const dir = writeCheckpoint(path.join(tmpDir(), c.name.replace(/\W+/g, '-')), c.model, c.tokenizerFrom ? { tokenizerFrom: c.tokenizerFrom } : {});
    const m = await Model.load(dir);
    try {
      const r = await attribute(m, c.pairs, { method: 'eap', batchSize: 2 });
      const nodes = nodeScoresFromEdges(r.graph, r.scores);
      assert.equal(nodes.has('logits'), false);
      const maxAbs = Math.max(...[...nodes.values()].map(Math.abs));
      assert.ok(maxAbs > 1e-3);
      for (const [u, s] of nodes) {
        const want = nodeDerivative(c, r.graph, u);
        assert.ok(Math.abs(s - want) <= 1e-4 * maxAbs + 1e-6, `${c.name} node ${u}: engine ${s} vs reference ${want}`);
      }
    } finally {
      await m.dispose();
    }
  });
}

test('node top-n: the n nodes of largest |score| and logits, with every edge between selected nodes; v2 JSON keeps scores and in_graph', () => {
  const g = new CircuitGraph({ nLayers: 2, nHeads: 2, parallelAttnMlp: false });
  // Hand-set edge scores: each edge of a node scores the node's number, so node sums are known.
  const per: Record<string, number> = { input: 0.1, 'a0.h0': -3, 'a0.h1': 0.2, m0: 2, 'a1.h0': 0.05, 'a1.h1': -1, m1: 0.3 };
  const scores = Float64Array.from(g.edges, (e) => per[e.parent]);
  const nodes = nodeScoresFromEdges(g, scores);
  for (const [u, s] of nodes) assert.ok(Math.abs(s - per[u] * g.childEdges.get(u)!.length) < 1e-12, u);
  const sel = topNNodes(g, nodes, 3);
  const inNodes = g.nodes.filter((n) => sel.nodeIn.get(n));
  const expected = [...nodes].sort((a, b) => Math.abs(b[1]) - Math.abs(a[1])).slice(0, 3).map(([n]) => n);
  assert.deepEqual(inNodes.sort(), [...expected, 'logits'].sort());
  g.edges.forEach((e, i) => assert.equal(sel.edgeIn[i], expected.includes(e.parent) && (expected.includes(e.child) || e.child === 'logits') ? 1 : 0, e.name));
  // Signed selection takes the largest scores, not magnitudes.
  const signed = topNNodes(g, nodes, 1, false);
  const best = [...nodes].sort((a, b) => b[1] - a[1])[0][0];
  assert.deepEqual(g.nodes.filter((n) => signed.nodeIn.get(n)).sort(), [best, 'logits'].sort());

  const json = toEapJsonV2(g, { cfg: g.cfg, scores, edgeIn: sel.edgeIn, nodeIn: sel.nodeIn, nodeScores: nodes });
  for (const n of g.nodes) {
    assert.equal(json.nodes[n].in_graph, sel.nodeIn.get(n));
    if (n === 'logits') assert.equal('score' in json.nodes[n], false);
    else assert.equal(json.nodes[n].score, nodes.get(n));
  }
  const back = fromEapJson(JSON.parse(JSON.stringify(json)));
  assert.deepEqual([...back.data.nodeScores!], [...nodes]);
  assert.deepEqual(Array.from(back.data.edgeIn), Array.from(sel.edgeIn));
});
