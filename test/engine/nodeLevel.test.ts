/**
 * Node-level discovery (`discover --level node --node-top-n N`) on the real stories260K model: the
 * circuit file carries EAP-IG's node scores (`nodeScoresFromEdges` of the file's own edge scores) with
 * `in_graph` per node as `topNNodes` selects them, in EAP-IG v2 JSON that `fromEapJson` reads back;
 * provenance records the level, and the flags refuse mixtures (the cache key: cacheLevel.test.ts).
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { readCircuitFile } from '../../src/engine/circuits/circuitFile';
import { fromEapJson, nodeScoresFromEdges, topNNodes } from '../../src/shared/circuit';
import { repoRoot, stories260K, tmpDir } from '../helpers/tinyModels';

const cli = path.join(repoRoot, 'dist/cli.js');
const prompts = path.join(repoRoot, 'demo/prompts/stories260k.jsonl');

test('CLI: discover --level node writes node scores and in_graph per node in EAP-IG v2 JSON, read back by fromEapJson', () => {
  const out = path.join(tmpDir(), 'nodes.json');
  const d = spawnSync(process.execPath, [cli, 'discover', stories260K, '--prompts', prompts, '--out', out, '--method', 'eap', '--level', 'node', '--node-top-n', '12'], { encoding: 'utf8' });
  assert.equal(d.status, 0, d.stderr);
  assert.match(d.stdout, /circuit: \d+ edges, \d+ nodes \(top 12 of 46 nodes by node score, with the edges between them\)/);
  const json = JSON.parse(fs.readFileSync(out, 'utf8'));
  assert.equal(json.circuitscope.level, 'node');
  assert.deepEqual(json.circuitscope.selection, { kind: 'topn', value: 12 });
  // v2 node entries: {in_graph, score} for every node but logits, {in_graph} for logits.
  for (const [name, v] of Object.entries(json.nodes as Record<string, Record<string, unknown>>)) {
    assert.deepEqual(Object.keys(v).sort(), name === 'logits' ? ['in_graph'] : ['in_graph', 'score'], name);
  }

  const { graph, data, format } = fromEapJson(json, out);
  assert.equal(format, 'v2');
  assert.ok(data.nodeScores, 'node scores read back');
  // The file's node scores are the function's, from the file's own edge scores (both rounded to 8 digits).
  const want = nodeScoresFromEdges(graph, data.scores);
  assert.equal(data.nodeScores.size, want.size);
  for (const [n, s] of want) {
    const bound = 1e-7 * (graph.childEdges.get(n) ?? []).reduce((a, i) => a + Math.abs(data.scores[i]), 0) + 1e-12;
    assert.ok(Math.abs(data.nodeScores.get(n)! - s) <= bound, `${n}: file ${data.nodeScores.get(n)}, nodeScoresFromEdges ${s}`);
  }
  // in_graph is topNNodes' selection: 12 nodes and logits, and every edge between in-graph nodes.
  const sel = topNNodes(graph, data.nodeScores, 12);
  for (const n of graph.nodes) assert.equal(data.nodeIn.get(n), sel.nodeIn.get(n), n);
  assert.deepEqual(data.edgeIn, sel.edgeIn);
  assert.equal([...data.nodeIn.values()].filter(Boolean).length, 13);
  assert.equal(json.circuitscope.edges, sel.edgeIn.reduce((a: number, x: number) => a + x, 0));

  // The engine's reader keeps the provenance and the node scores.
  const loaded = readCircuitFile(out);
  assert.equal(loaded.provenance?.level, 'node');
  assert.equal(loaded.data.nodeScores?.size, want.size);
});

test('CLI: --level node refuses edge selection flags, and --node-top-n needs --level node', () => {
  const out = path.join(tmpDir(), 'x.json');
  const a = spawnSync(process.execPath, [cli, 'discover', stories260K, '--prompts', prompts, '--out', out, '--level', 'node', '--top-n', '5'], { encoding: 'utf8' });
  assert.equal(a.status, 1);
  assert.match(a.stderr, /--level node selects the top nodes by node score: give their number with --node-top-n N/);
  const b = spawnSync(process.execPath, [cli, 'discover', stories260K, '--prompts', prompts, '--out', out, '--node-top-n', '5'], { encoding: 'utf8' });
  assert.equal(b.status, 1);
  assert.match(b.stderr, /--node-top-n N counts nodes: it needs --level node/);
  const c = spawnSync(process.execPath, [cli, 'discover', stories260K, '--prompts', prompts, '--out', out, '--level', 'neuron'], { encoding: 'utf8' });
  assert.equal(c.status, 1);
  assert.match(c.stderr, /--level/);
  assert.equal(fs.existsSync(out), false);
});
