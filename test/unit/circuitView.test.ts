/**
 * The notebook renderer's reading of a circuit output (src/shared/circuitView.ts): EAP-IG's
 * `Graph.to_json` shape with and without Circuitscope's provenance, a JSON string holding it, and a
 * message naming the output, the field and what to do for every kind of bad data; and package.json's
 * `contributes.notebookRenderer` against the MIME type and the bundle esbuild.mjs writes.
 *
 *   node esbuild.mjs && node --test out/test/unit/circuitView.test.js
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { CircuitGraph, CircuitFormatError } from '../../src/shared/circuit';
import { circuitMimeType, notebookCircuitView } from '../../src/shared/circuitView';

/**
 * A 2-layer, 3-head graph as EAP-IG's `Graph.to_json` writes it, every edge scored, with `inGraph` the
 * edges (by index) in the graph; `byRank` is every edge index, strongest |score| first.
 */
function eapGraph(inGraph: (i: number, rank: number) => boolean = (_, r) => r < 12): { json: Record<string, unknown>; byRank: number[]; edges: number } {
  const g = new CircuitGraph({ nLayers: 2, nHeads: 3, parallelAttnMlp: false });
  // Scores written by hand from the edge's position: distinct magnitudes, both signs.
  const score = (i: number) => (i % 2 ? -1 : 1) * (1 + ((i * 7) % 23)) * 0.01 + i * 1e-6;
  const byRank = [...g.edges.keys()].sort((a, b) => Math.abs(score(b)) - Math.abs(score(a)));
  const rank = new Map(byRank.map((e, r) => [e, r]));
  const edges: Record<string, { score: number | null; in_graph: boolean }> = {};
  g.edges.forEach((e, i) => (edges[e.name] = { score: score(i), in_graph: inGraph(i, rank.get(i)!) }));
  const nodes: Record<string, { in_graph: boolean }> = {};
  for (const n of g.nodes) nodes[n] = { in_graph: true };
  return { json: { cfg: { n_layers: 2, n_heads: 3, parallel_attn_mlp: false, d_model: 16 }, nodes, edges }, byRank, edges: g.edges.length };
}

const provenance = {
  formatVersion: 1,
  createdAt: '2025-01-02T03:04:05.000Z',
  checkpoint: { path: '/runs/tiny/checkpoint-100', architecture: 'LlamaForCausalLM', step: 100 },
  prompts: { path: '/data/cities.jsonl', count: 24 },
  method: 'eap-ig-inputs',
  steps: 5,
  selection: { kind: 'topn', value: 9 },
  faithfulness: 0.82,
  hit10: 0.5,
  curve: [
    { topN: 4, edges: 4, faithfulness: 0.4 },
    { topN: 9, edges: 9, faithfulness: 0.82 },
  ],
  trust: { warnings: ['the spot check disagrees'] },
};

test('an EAP-IG graph: every edge score, a title naming its shape, and N the top-N holding its in_graph edges', () => {
  const { json, edges } = eapGraph();
  const v = notebookCircuitView(JSON.stringify(json));
  assert.deepEqual(v.cfg, { nLayers: 2, nHeads: 3, parallelAttnMlp: false, dModel: 16 });
  assert.equal(v.scores.length, edges);
  const byName = json.edges as Record<string, { score: number }>;
  const g = new CircuitGraph(v.cfg);
  g.edges.forEach((e, i) => assert.equal(v.scores[i], Number(byName[e.name].score.toPrecision(6)), e.name));
  // The 12 strongest edges are in the graph: N = 12.
  assert.equal(v.topN, 12);
  assert.equal(v.title, 'EAP-IG graph');
  assert.equal(v.checkpoint, '2-layer, 3-head graph');
  assert.deepEqual(v.curve, []);
  assert.equal(v.provenance, undefined);
  // Edges of ranks 3, 8 and 20 (0-based) in the graph: the top 21 hold them all.
  const sparse = eapGraph((_, r) => r === 3 || r === 8 || r === 20);
  assert.equal(notebookCircuitView(JSON.stringify(sparse.json)).topN, 21);
  // Nothing in the graph: the paper's share of the edges.
  const none = eapGraph(() => false);
  assert.equal(notebookCircuitView(JSON.stringify(none.json)).topN, Math.round((edges * 8000) / 32491));
});

test("a Circuitscope circuit file: N, curve, figures and provenance from its 'circuitscope' key", () => {
  const { json } = eapGraph();
  const v = notebookCircuitView(JSON.stringify({ ...json, circuitscope: provenance }));
  assert.equal(v.title, 'checkpoint-100');
  assert.equal(v.checkpoint, '/runs/tiny/checkpoint-100');
  assert.equal(v.topN, 9);
  assert.deepEqual(v.curve, provenance.curve);
  assert.deepEqual(v.summary, { faithfulness: 0.82, hit10: 0.5, method: 'eap-ig-inputs', prompts: 24 });
  assert.deepEqual(v.trustWarnings, ['the spot check disagrees']);
  assert.deepEqual(v.provenance, { promptSet: 'cities.jsonl', promptsPath: '/data/cities.jsonl', method: 'eap-ig-inputs', steps: 5, createdAt: '2025-01-02T03:04:05.000Z' });
});

test('the older DKC format, unscored edges as null, and the graph JSON inside a JSON string are read', () => {
  const { json, edges, byRank } = eapGraph();
  const oldEdges = { ...(json.edges as Record<string, { score: number | null; in_graph: boolean }>) };
  const old = { cfg: json.cfg, nodes: Object.fromEntries(Object.keys(json.nodes as object).map((n) => [n, true])), edges: oldEdges };
  const g = new CircuitGraph({ nLayers: 2, nHeads: 3, parallelAttnMlp: false });
  // The strongest edge loses its score: it leaves the ranking, and the other 11 are the top 11.
  oldEdges[g.edges[byRank[0]].name] = { score: null, in_graph: true };
  const v = notebookCircuitView(JSON.stringify(JSON.stringify(old)));
  assert.equal(v.scores.length, edges);
  assert.deepEqual(
    v.scores.flatMap((s, i) => (s === null ? [i] : [])),
    [byRank[0]],
  );
  assert.equal(v.topN, 11);
});

test('bad data: each message names the output, the field and what to do', () => {
  const { json } = eapGraph();
  const firstEdge = Object.keys(json.edges as object)[0];
  const cases: [string, string, RegExp][] = [
    ['empty', '  ', /output is empty\. Display an EAP-IG graph as a dict under 'application\/vnd\.circuitscope\.circuit\+json'/],
    ['not JSON', '{"cfg": ', /not valid JSON \(.+\)\. Display an EAP-IG graph/],
    ['NaN from Python', JSON.stringify(json).replace(/"score":0\.01\b/, '"score":NaN'), /holds NaN or Infinity, which JSON does not allow; write unscored edges' scores as None \(null\)/],
    ['a list', '[1, 2]', /the data is an array, not an EAP-IG graph object with 'cfg', 'nodes' and 'edges'\. Display/],
    ['no cfg', JSON.stringify({ nodes: {}, edges: {} }), /'cfg' is missing/],
    ['bad n_heads', JSON.stringify({ ...json, cfg: { n_layers: 2, n_heads: 'three' } }), /'cfg\.n_heads' must be an integer from 1 to 4096, got string/],
    ['unknown edge', JSON.stringify({ ...json, edges: { 'a7.h0->logits': { score: 1, in_graph: true } } }), /edge 'a7\.h0->logits' does not exist in a 2-layer, 3-head graph/],
    ['score a string', JSON.stringify({ ...json, edges: { [firstEdge]: { score: 'high', in_graph: true } } }), /'score' is string, not a number/],
    ['no scores', JSON.stringify({ ...json, edges: { [firstEdge]: { score: null, in_graph: false } } }), /no edge of the 2-layer, 3-head graph has a numeric 'score'; score the graph/],
    ['bad provenance', JSON.stringify({ ...json, circuitscope: { ...provenance, method: 7 } }), /'circuitscope' \(the provenance Circuitscope writes\): 'method' must be a string\. .*remove it to show the graph without provenance/],
  ];
  for (const [what, text, message] of cases) {
    assert.throws(
      () => notebookCircuitView(text),
      (e: unknown) => {
        assert.ok(e instanceof CircuitFormatError, `${what}: ${String(e)}`);
        assert.match(e.message, /^circuit output \(application\/vnd\.circuitscope\.circuit\+json\): /, what);
        assert.match(e.message, message, what);
        return true;
      },
      what,
    );
  }
});

test('package.json contributes the renderer for the MIME type, with the ES module esbuild.mjs writes', () => {
  const pkg = JSON.parse(fs.readFileSync('package.json', 'utf8')) as { contributes: { notebookRenderer: { id: string; entrypoint: string; mimeTypes: string[]; requiresMessaging?: string }[] } };
  const [r] = pkg.contributes.notebookRenderer;
  assert.deepEqual(r.mimeTypes, [circuitMimeType]);
  assert.equal(r.requiresMessaging, 'never');
  const bundle = path.resolve(r.entrypoint);
  assert.ok(fs.existsSync(bundle), `${r.entrypoint} is missing; node esbuild.mjs writes it`);
  const text = fs.readFileSync(bundle, 'utf8');
  // VS Code imports the entrypoint as a module and calls its exported activate().
  assert.match(text, /export\s*\{[^}]*\bactivate\b[^}]*\}/);
  assert.ok(fs.existsSync(path.join(path.dirname(bundle), 'notebook.css')), 'the stylesheet the renderer links is beside it');
});
