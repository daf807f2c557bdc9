/**
 * The circuit graph against the method spec's formulas and counts (§1.3, §1.4), pruning on hand-made
 * cases, and the EAP-IG JSON formats.
 */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CircuitGraph,
  coveringTopN,
  edgeEntropy,
  formatNodeId,
  fromEapJson,
  greedy,
  parseNodeId,
  pruneDeadNodes,
  toEapJsonOld,
  toEapJsonV2,
  topN,
  type NodeId,
} from '../../src/shared/circuit';

test('node and edge counts match the method spec table', () => {
  const cases: [number, number, boolean, number, number][] = [
    [12, 12, false, 158, 32491],
    [24, 16, false, 410, 231877],
    [24, 32, true, 794, 886597],
    [22, 32, false, 728, 742996],
  ];
  for (const [L, H, parallel, nodes, edges] of cases) {
    const g = new CircuitGraph({ nLayers: L, nHeads: H, parallelAttnMlp: parallel });
    assert.equal(g.nodes.length, nodes, `L=${L} H=${H}`);
    assert.equal(g.edges.length, edges, `L=${L} H=${H}`);
    assert.equal(g.nForward, 1 + L * (H + 1));
    assert.equal(g.nBackward, L * (3 * H + 1) + 1);
  }
});

test('GPT-2 small edge breakdown: q/k/v 31,320, MLP 1,014, logits 157', () => {
  const g = new CircuitGraph({ nLayers: 12, nHeads: 12, parallelAttnMlp: false });
  assert.equal(g.edges.filter((e) => e.qkv).length, 31320);
  assert.equal(g.edges.filter((e) => e.child.startsWith('m')).length, 1014);
  assert.equal(g.edges.filter((e) => e.child === 'logits').length, 157);
  assert.equal(new Set(g.edges.map((e) => e.name)).size, g.edges.length);
  assert.equal(new Set(g.edges.map((e) => e.fwd * g.nBackward + e.bwd)).size, g.edges.length, 'each edge has its own matrix cell');
});

test('index layout follows the formulas of §1.4', () => {
  const H = 12;
  const g = new CircuitGraph({ nLayers: 12, nHeads: H, parallelAttnMlp: false });
  assert.equal(g.forwardIndex('input'), 0);
  assert.equal(g.forwardIndex('a3.h7'), 1 + 3 * 13 + 7);
  assert.equal(g.forwardIndex('m3'), 1 + 3 * 13 + 12);
  assert.equal(g.backwardIndex('a3.h7', 'q'), 3 * 37 + 7);
  assert.equal(g.backwardIndex('a3.h7', 'k'), 3 * 37 + 12 + 7);
  assert.equal(g.backwardIndex('a3.h7', 'v'), 3 * 37 + 24 + 7);
  assert.equal(g.backwardIndex('m3'), 3 * 37 + 36);
  assert.equal(g.backwardIndex('logits'), g.nBackward - 1);
  assert.equal(g.prevIndex('a3.h0'), 1 + 3 * 13);
  assert.equal(g.prevIndex('m3'), 1 + 3 * 13 + 12);
  assert.equal(g.prevIndex('logits'), g.nForward);
  const p = new CircuitGraph({ nLayers: 2, nHeads: 2, parallelAttnMlp: true });
  assert.equal(p.prevIndex('m1'), 1 + 1 * 3);
  assert.ok(!p.edges.some((e) => e.name === 'a1.h0->m1'), 'parallel MLPs do not read same-layer heads');
  assert.ok(p.edges.some((e) => e.name === 'a0.h1->m1'));
  // Construction order of §1.2: the first edges go from input into layer 0's heads, q then k then v.
  assert.deepEqual(
    g.edges.slice(0, 4).map((e) => e.name),
    ['input->a0.h0<q>', 'input->a0.h0<k>', 'input->a0.h0<v>', 'input->a0.h1<q>'],
  );
  assert.equal(g.edges.at(-1)!.name, 'm11->logits');
});

test('node ids round-trip and junk is rejected', () => {
  const ids: NodeId[] = [{ kind: 'input' }, { kind: 'attn', layer: 3, head: 7 }, { kind: 'mlp', layer: 11 }, { kind: 'logits' }];
  for (const id of ids) assert.deepEqual(parseNodeId(formatNodeId(id)), id);
  for (const bad of ['a3', 'a3.h', 'x1', 'm', 'a-1.h0', 'input ']) assert.equal(parseNodeId(bad), undefined, bad);
});

/** A tiny 2-layer, 1-head graph where edges are picked by name. */
function pick(g: CircuitGraph, names: string[]): Uint8Array {
  const sel = new Uint8Array(g.edges.length);
  for (const n of names) {
    const i = g.edgeByName(n);
    assert.ok(i !== undefined, n);
    sel[i] = 1;
  }
  return sel;
}

test('pruning removes childless nodes in reverse order and parentless nodes in forward order', () => {
  const g = new CircuitGraph({ nLayers: 2, nHeads: 1, parallelAttnMlp: false });
  // a1.h0 has a parent but no path to logits: it and its parent edge go. m0 feeds logits but has no
  // parent edge: it and its child edge go. a0.h0 -> m1 -> logits with input -> a0.h0 survives.
  const sel = pick(g, ['input->a0.h0<q>', 'a0.h0->m1', 'm1->logits', 'input->a1.h0<v>', 'm0->logits']);
  const { edgeIn, nodeIn } = pruneDeadNodes(g, sel);
  const kept = g.edges.filter((_, i) => edgeIn[i]).map((e) => e.name);
  assert.deepEqual(kept, ['input->a0.h0<q>', 'a0.h0->m1', 'm1->logits']);
  assert.deepEqual(
    g.nodes.filter((n) => nodeIn.get(n)),
    ['input', 'a0.h0', 'm1', 'logits'],
  );
});

test('pruning cascades: removing a childless node can make its parent childless', () => {
  const g = new CircuitGraph({ nLayers: 2, nHeads: 1, parallelAttnMlp: false });
  const sel = pick(g, ['input->a0.h0<k>', 'a0.h0->a1.h0<q>', 'input->m1', 'm1->logits']);
  const { edgeIn } = pruneDeadNodes(g, sel);
  assert.deepEqual(
    g.edges.filter((_, i) => edgeIn[i]).map((e) => e.name),
    ['input->m1', 'm1->logits'],
  );
});

test('top-N by |score| is stable on ties; greedy grows from logits', () => {
  const g = new CircuitGraph({ nLayers: 1, nHeads: 1, parallelAttnMlp: false });
  // Edges: input->a0.h0<q,k,v>, input->m0, a0.h0->m0, input->logits, a0.h0->logits, m0->logits.
  assert.equal(g.edges.length, 8);
  const scores = [0.5, -0.9, 0.1, 0.5, -0.3, 0.05, 0.2, 0.4];
  const sel = topN(g, scores, 3);
  assert.deepEqual(Array.from(sel), [1, 1, 0, 1, 0, 0, 0, 0]);
  const gr = greedy(g, scores, 3);
  // From logits: m0->logits (0.4) first, then input->m0 (0.5) becomes available and wins, then
  // a0.h0->m0 (-0.3) beats a0.h0->logits (0.2).
  assert.deepEqual(
    g.edges.filter((_, i) => gr[i]).map((e) => e.name),
    ['input->m0', 'a0.h0->m0', 'm0->logits'],
  );
  assert.ok(Math.abs(edgeEntropy(scores, Uint8Array.from([1, 1, 0, 0, 0, 0, 0, 0])) - (-(5 / 14) * Math.log(5 / 14) - (9 / 14) * Math.log(9 / 14))) < 1e-12);
});

test('EAP-IG JSON: both formats round-trip; files from another model are refused', () => {
  const g = new CircuitGraph({ nLayers: 3, nHeads: 2, parallelAttnMlp: false, dModel: 8 });
  const scores = Float64Array.from(g.edges, (_, i) => (i % 5 === 0 ? 0 : Math.sin(i)));
  scores[3] = NaN;
  const { edgeIn, nodeIn } = pruneDeadNodes(g, topN(g, scores, 20));
  const data = { cfg: g.cfg, scores, edgeIn, nodeIn };
  for (const json of [toEapJsonV2(g, data), toEapJsonOld(g, data)]) {
    const text = JSON.stringify(json);
    const back = fromEapJson(JSON.parse(text));
    assert.equal(back.format, 'nodes' in json && typeof Object.values(json.nodes)[0] === 'boolean' ? 'old' : 'v2');
    assert.deepEqual(Array.from(back.data.edgeIn), Array.from(edgeIn));
    assert.deepEqual(Array.from(back.data.scores), Array.from(scores));
    assert.deepEqual([...back.data.nodeIn], [...nodeIn]);
  }
  assert.equal(toEapJsonV2(g, data).edges[g.edges[3].name].score, null);
  const other = toEapJsonV2(new CircuitGraph({ nLayers: 4, nHeads: 2, parallelAttnMlp: false }), {
    cfg: { nLayers: 4, nHeads: 2, parallelAttnMlp: false },
    scores: new Float64Array(new CircuitGraph({ nLayers: 4, nHeads: 2, parallelAttnMlp: false }).edges.length),
    edgeIn: new Uint8Array(new CircuitGraph({ nLayers: 4, nHeads: 2, parallelAttnMlp: false }).edges.length),
    nodeIn: new Map(),
  });
  other.cfg.n_layers = 3; // Claims 3 layers but names layer-3 nodes.
  assert.throws(() => fromEapJson(other, 'x.json'), /x\.json: edge 'input->a3\.h0<q>' does not exist in a 3-layer, 2-head graph/);
  assert.throws(() => fromEapJson({ nodes: {}, edges: {} }, 'y.json'), /y\.json: 'cfg' is missing/);
});

test('coveringTopN: the top-N at the rank of the weakest in-graph edge, pruned, is the pruned top-n circuit', () => {
  const g = new CircuitGraph({ nLayers: 4, nHeads: 3, parallelAttnMlp: false });
  // Scores with ties (rounded to 0.05) and unscored edges, so both tie order and NaN matter.
  const scores = Float64Array.from(g.edges, (_, i) => (i % 11 === 4 ? NaN : Math.round(20 * Math.sin(i * 1.7)) / 20));
  for (const n of [1, 3, 10, 25, 60, 150, g.edges.length]) {
    const circuit = pruneDeadNodes(g, topN(g, scores, n)).edgeIn;
    const N = coveringTopN(scores, circuit);
    assert.ok(N <= n, `n=${n}: N=${N}`);
    assert.deepEqual(Array.from(pruneDeadNodes(g, topN(g, scores, N)).edgeIn), Array.from(circuit), `n=${n}`);
  }
  // By hand: |scores| 0.5, 0.9, 0.5, 0.1 rank 1, 0, 2, 3 (ties by index); edges 0 and 2 need the top 3.
  assert.equal(coveringTopN([0.5, -0.9, 0.5, 0.1], [1, 0, 1, 0]), 3);
  assert.equal(coveringTopN([0.5, -0.9, 0.5, 0.1], [0, 1, 0, 0]), 1);
  assert.equal(coveringTopN([0.5, NaN, 0.5, 0.1], [0, 1, 0, 0]), 0, 'an unscored edge is never covered');
});
