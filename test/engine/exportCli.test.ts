/**
 * `circuitscope export` through the built CLI (dist/cli.js) on a seeded EAP-IG circuit file: each
 * format, N from --top-n or from the view sidecar, file names that state N, and the Neuronpedia
 * output validated against the schema fixture.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import Ajv from 'ajv';
import { CircuitGraph, fromEapJson, pruneDeadNodes, toEapJsonV2, topN } from '../../src/shared/circuit';
import { mulberry32 } from '../../src/engine/util/random';

const cli = path.resolve('dist/cli.js');
const cfg = { nLayers: 3, nHeads: 4, parallelAttnMlp: false, dModel: 32 };
const g = new CircuitGraph(cfg);
const r = mulberry32(7);
const scores = Float64Array.from(g.edges, () => (r() - 0.3) * Math.exp(3 * r()));
const sel = pruneDeadNodes(g, topN(g, scores, 150));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'circuitscope-export-'));
const file = path.join(dir, 'tiny.circuit.json');
fs.writeFileSync(file, JSON.stringify(toEapJsonV2(g, { cfg, scores, edgeIn: sel.edgeIn, nodeIn: sel.nodeIn })));

function run(...args: string[]): { code: number | null; out: string; err: string } {
  const p = spawnSync(process.execPath, [cli, 'export', ...args], { encoding: 'utf8', env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' } });
  return { code: p.status, out: p.stdout, err: p.stderr };
}

test('export --format eap-ig --top-n re-selects and keeps the full scored graph', () => {
  const { code, out } = run(file, '--format', 'eap-ig', '--top-n', '60');
  assert.equal(code, 0);
  const json = JSON.parse(out) as { circuitscope: { export: { topN: number } } };
  assert.equal(json.circuitscope.export.topN, 60);
  const back = fromEapJson(json, 'stdout');
  const want = pruneDeadNodes(g, topN(g, scores, 60));
  assert.deepEqual([...back.data.edgeIn], [...want.edgeIn]);
  assert.equal(back.graph.edges.length, g.edges.length);
});

test('export --format neuronpedia validates; the sidecar gives N, pins and supernodes; --out DIR names N', () => {
  const heads = g.nodes.filter((n) => n.startsWith('a') && sel.nodeIn.get(n));
  fs.writeFileSync(path.join(dir, 'tiny.circuit.view.json'), JSON.stringify({ view: { topN: 150, pins: [heads[0]], groups: [{ label: 'g', members: heads.slice(0, 2) }] } }));
  const { code, err } = run(file, '--format', 'neuronpedia', '--out', dir);
  assert.equal(code, 0, err);
  const outFile = path.join(dir, 'tiny-top150.neuronpedia.json');
  assert.ok(fs.existsSync(outFile), err);
  const json = JSON.parse(fs.readFileSync(outFile, 'utf8')) as { qParams: { pinnedIds: string[]; supernodes: string[][] } };
  const schema = JSON.parse(fs.readFileSync(path.resolve('test/fixtures/neuronpedia-graph-schema.json'), 'utf8')) as object;
  const validate = new Ajv().compile(schema);
  assert.ok(validate(json), JSON.stringify(validate.errors));
  assert.equal(json.qParams.pinnedIds.length, 1);
  assert.equal(json.qParams.supernodes[0][0], 'g');
  for (const format of ['model-explorer', 'csv', 'dot', 'graphml']) assert.equal(run(file, '--format', format).code, 0, format);
  const bad = run(file, '--format', 'pdf');
  assert.equal(bad.code, 1);
  assert.match(bad.err, /format/);
});
