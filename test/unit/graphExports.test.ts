/**
 * Exports into other tools' formats on a seeded 3-layer, 4-head circuit: Neuronpedia's attribution
 * graph validated with a JSON-schema validator (ajv, draft-07) against test/fixtures/
 * neuronpedia-graph-schema.json (the required structure of Neuronpedia's published graph-schema.json),
 * the EAP-IG JSON read back in the shape EAP-IG's Graph.from_json reads, and the Model Explorer
 * overlay; the pins and supernodes of a saved view end up in Neuronpedia's qParams.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import Ajv from 'ajv';
import { CircuitGraph, fromEapJson, pruneDeadNodes, topN, type CircuitData } from '../../src/shared/circuit';
import { defaultExportName } from '../../src/shared/exporters';
import { neuronpediaNodeId, toEapJsonExport, toModelExplorerOverlay, toNeuronpedia, type ExportContext } from '../../src/shared/graphExports';
import { mulberry32 } from '../../src/engine/util/random';

const cfg = { nLayers: 3, nHeads: 4, parallelAttnMlp: false, dModel: 32 };
const g = new CircuitGraph(cfg);
const r = mulberry32(13);
const scores = Float64Array.from(g.edges, () => (r() - 0.3) * Math.exp(3 * r()));
scores[5] = NaN;
const sel = pruneDeadNodes(g, topN(g, scores, 120));
const data: CircuitData = { cfg, scores, edgeIn: sel.edgeIn, nodeIn: sel.nodeIn };
const inGraph = g.nodes.filter((n) => sel.nodeIn.get(n));
const heads = inGraph.filter((n) => n.startsWith('a'));
const ctx: ExportContext = {
  model: 'checkpoint-100',
  title: 'checkpoint-100',
  topN: 120,
  provenance: { method: 'eap-ig-inputs', steps: 5, prompts: { path: '/w/cities.jsonl', count: 27 }, faithfulness: 0.8 },
  view: { pins: [heads[0], 'm1'], groups: [{ label: 'movers', members: heads.slice(0, 2) }], selected: heads[0] },
  toolVersion: '0.1.0',
  exportedAt: '2026-12-01T00:00:00.000Z',
  prompt: 'The capital of France is',
  promptTokens: ['The', ' capital', ' of', ' France', ' is'],
};

test('the Neuronpedia export validates against the attribution-graph schema (ajv, draft-07)', () => {
  const schema = JSON.parse(fs.readFileSync(path.resolve('test/fixtures/neuronpedia-graph-schema.json'), 'utf8')) as object;
  const validate = new Ajv({ allErrors: true }).compile(schema);
  const json = JSON.parse(JSON.stringify(toNeuronpedia(g, data, ctx))) as ReturnType<typeof toNeuronpedia>;
  assert.ok(validate(json), JSON.stringify(validate.errors));
  // The validator is not vacuous: a node without clerp, or a link without weight, fails.
  const broken = JSON.parse(JSON.stringify(json)) as { nodes: Record<string, unknown>[]; links: Record<string, unknown>[] };
  delete broken.nodes[0].clerp;
  assert.equal(validate(broken), false);
  const broken2 = JSON.parse(JSON.stringify(json)) as { links: Record<string, unknown>[] };
  delete broken2.links[0].weight;
  assert.equal(validate(broken2), false);
  assert.equal(validate({ metadata: { slug: 'x', scan: 'y', prompt: 'p' }, qParams: {}, nodes: [], links: [] }), false, 'prompt_tokens is required');
});

test('the Neuronpedia export: ids, layers, links and the saved pins and supernodes', () => {
  const json = toNeuronpedia(g, data, ctx);
  assert.equal(json.metadata.scan, 'checkpoint-100');
  assert.match(json.metadata.slug, /top120/);
  assert.deepEqual(json.metadata.prompt_tokens, ctx.promptTokens);
  assert.equal(json.nodes.length, inGraph.length);
  const ids = new Set(json.nodes.map((n) => n.node_id));
  assert.equal(ids.size, json.nodes.length, 'node ids are unique');
  assert.deepEqual(neuronpediaNodeId('a2.h3', g, 4), { nodeId: '2_3_4', layer: 2, feature: 3, type: 'attention head' });
  assert.equal(neuronpediaNodeId('m1', g, 4).nodeId, '1_4_4');
  assert.equal(neuronpediaNodeId('input', g, 4).nodeId, 'E_0_4');
  assert.equal(neuronpediaNodeId('logits', g, 4).nodeId, '4_0_4');
  for (const l of json.links) assert.ok(ids.has(l.source) && ids.has(l.target), `${l.source} -> ${l.target}`);
  // q, k and v edges of one parent into one head merge into one link whose weight is their sum.
  let sum = 0;
  for (let i = 0; i < g.edges.length; i++) if (sel.edgeIn[i]) sum += scores[i];
  const linkSum = json.links.reduce((a, l) => a + l.weight, 0);
  assert.ok(Math.abs(linkSum - sum) < 1e-6 * Math.max(1, Math.abs(sum)));
  assert.deepEqual(json.qParams.pinnedIds, [neuronpediaNodeId(heads[0], g, 4).nodeId, ...(sel.nodeIn.get('m1') ? ['1_4_4'] : [])]);
  assert.deepEqual(json.qParams.supernodes, [['movers', ...heads.slice(0, 2).map((h) => neuronpediaNodeId(h, g, 4).nodeId)]]);
  assert.equal(json.qParams.clickedId, neuronpediaNodeId(heads[0], g, 4).nodeId);
  assert.deepEqual(new Set(json.nodes.map((n) => n.clerp)), new Set(inGraph));
});

test('the EAP-IG export is the full scored graph, in_graph for the circuit shown, with provenance and N', () => {
  const text = toEapJsonExport(g, data, ctx);
  const json = JSON.parse(text) as { cfg: Record<string, unknown>; nodes: Record<string, { in_graph: boolean }>; edges: Record<string, { score: number | null; in_graph: boolean }>; circuitscope: { method: string; export: { topN: number; edges: number } } };
  // Graph.from_json reads cfg's n_layers, n_heads, parallel_attn_mlp, d_model; nodes' in_graph; edges' score and in_graph.
  assert.deepEqual(json.cfg, { n_layers: 3, n_heads: 4, parallel_attn_mlp: false, d_model: 32 });
  assert.equal(Object.keys(json.edges).length, g.edges.length, 'every edge, scored or not');
  assert.equal(Object.values(json.edges).filter((e) => e.in_graph).length, json.circuitscope.export.edges);
  assert.equal(json.edges[g.edges[5].name].score, null);
  assert.equal(json.circuitscope.method, 'eap-ig-inputs', 'the provenance key is kept');
  assert.equal(json.circuitscope.export.topN, 120);
  const back = fromEapJson(json, 'export');
  assert.deepEqual([...back.data.edgeIn], [...sel.edgeIn]);
});

test('the Model Explorer overlay has one value per circuit node; export names state N', () => {
  const o = toModelExplorerOverlay(g, data, ctx) as Record<string, { results: Record<string, { value: number }> }>;
  const results = o['checkpoint-100'].results;
  assert.deepEqual(Object.keys(results).sort(), [...inGraph].sort());
  for (const v of Object.values(results)) assert.ok(v.value >= 0);
  assert.equal(defaultExportName('checkpoint-100-top40', 'neuronpedia'), 'checkpoint-100-top40.neuronpedia.json');
  assert.equal(defaultExportName('checkpoint-100-top40', 'modelexplorer'), 'checkpoint-100-top40.model-explorer.json');
});
