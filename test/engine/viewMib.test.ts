/**
 * The circuit view's MIB figures: a circuit file whose provenance has `circuitscope.mib` gives the view
 * its CPR, CMD and ablation (shown beside the size slider); a file without it, or with figures that are
 * not numbers, gives none.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { circuitJson, type Provenance } from '../../src/engine/circuits/circuitFile';
import { toolVersion } from '../../src/engine/circuits/discover';
import * as service from '../../src/engine/service';
import { CircuitGraph, pruneDeadNodes, topN } from '../../src/shared/circuit';
import { tmpDir } from '../helpers/tinyModels';
import { headerRows } from '../../webview/circuit/viewModel';

function circuitFile(name: string, extra: Record<string, unknown>): string {
  const g = new CircuitGraph({ nLayers: 2, nHeads: 2, parallelAttnMlp: false, dModel: 8 });
  const scores = Float64Array.from(g.edges, (_, i) => Math.sin(i + 1));
  const sel = pruneDeadNodes(g, topN(g, scores, 30));
  const provenance = {
    formatVersion: 1,
    toolVersion,
    createdAt: '2026-01-01T00:00:00.000Z',
    checkpoint: { path: '/nowhere/tiny', hash: '0123456789abcdef', architecture: 'GPT2LMHeadModel' },
    prompts: { path: '/nowhere/p.jsonl', hash: 'fedcba9876543210', format: 'circuitscope-jsonl', count: 2 },
    method: 'eap',
    steps: 1,
    igConvention: 'paper',
    metric: 'logit-diff',
    batchSize: 8,
    prependBos: true,
    selection: { kind: 'topn', value: 10 },
    baselines: { clean: 1, corrupted: 0 },
    circuitPerformance: 0.5,
    faithfulness: 0.5,
    hit10: 1,
    meanTargetProb: 0.1,
    edges: 10,
    nodes: 5,
    edgeEntropy: 1,
    timings: { attributionSeconds: 0, evaluationSeconds: 0 },
    versions: { node: process.version, onnxruntime: 'test' },
    ...extra,
  } as unknown as Provenance;
  const file = path.join(tmpDir(), `${name}.json`);
  fs.writeFileSync(file, circuitJson(g, { cfg: g.cfg, scores, edgeIn: sel.edgeIn, nodeIn: sel.nodeIn }, provenance));
  return file;
}

test('circuit view data: CPR, CMD and the ablation from circuitscope.mib; none without it', async () => {
  const mib = { shares: [], ablation: 'zero', signed: {}, absolute: {}, cpr: 0.812345678, cmd: 0.1456789 };
  const v = await service.circuitViewData({ circuitFile: circuitFile('mib', { mib }) });
  assert.deepEqual(v.mib, { cpr: 0.812346, cmd: 0.145679, ablation: 'zero' });
  const none = await service.circuitViewData({ circuitFile: circuitFile('plain', {}) });
  assert.equal(none.mib, undefined);
  const bad = await service.circuitViewData({ circuitFile: circuitFile('bad', { mib: { ...mib, cpr: 'x' } }) });
  assert.equal(bad.mib, undefined);
});

test('circuit view data: a node-level circuit opens the edge slider at its edge count, not at its node N', async () => {
  const edge = await service.circuitViewData({ circuitFile: circuitFile('edge', {}) });
  assert.equal(edge.topN, 10);
  const file = circuitFile('node', { level: 'node', selection: { kind: 'topn', value: 999 } });
  const inFile = Object.values(JSON.parse(fs.readFileSync(file, 'utf8')).edges as Record<string, { in_graph: boolean }>).filter((e) => e.in_graph).length;
  assert.ok(inFile > 0 && inFile !== 999);
  assert.equal((await service.circuitViewData({ circuitFile: file })).topN, inFile);
});

test('circuit view data carries the trust warnings, and the header shows them', async () => {
  const warnings = ['faithfulness 0.200 is below 0.5', 'the spot check correlates weakly (Pearson 0.31)'];
  const v = await service.circuitViewData({ circuitFile: circuitFile('trust', { trust: { warnings } }) });
  assert.deepEqual(v.trustWarnings, warnings);
  const rows = headerRows(v, v.topN, v.topN);
  assert.deepEqual(rows.at(-1), ['Trust: 2 warnings', `⚠ ${warnings.join(' · ')}`]);
  const quiet = await service.circuitViewData({ circuitFile: circuitFile('trusted', { trust: { warnings: [] } }) });
  assert.equal(quiet.trustWarnings, undefined);
  assert.ok(!headerRows(quiet, quiet.topN, quiet.topN).some(([k]) => k.startsWith('Trust')));
});
