/**
 * Measures beyond the paper (#12): subjects inferred from the clean/corrupted difference, MIB's
 * faithfulness at fixed sizes with CPR and CMD (against an independent trapezoid), mean and resample
 * ablation (against a direct computation from the model's hooks), and the trust checks (spot check
 * against the exact method, connectivity of hand-built circuits, the warnings they raise).
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { attribute } from '../../src/engine/circuits/attribute';
import { resamplePartners } from '../../src/engine/circuits/ablation';
import { evaluatePatching } from '../../src/engine/circuits/evaluate';
import { mibEvaluation } from '../../src/engine/circuits/mib';
import type { TokenizedPair } from '../../src/engine/circuits/prompts';
import { differingSpan } from '../../src/engine/circuits/subjects';
import { spotCheck, topEdges } from '../../src/engine/circuits/trust';
import { Model } from '../../src/engine/model/runner';
import { CircuitGraph, fromEapJson, pruneDeadNodes, type Selection } from '../../src/shared/circuit';
import { connectivity, ranks, trustWarnings } from '../../src/shared/trust';
import { layerNorm } from '../helpers/reference';
import { gpt2Tiny, repoRoot, stories260K, tmpDir, tokenPair, writeCheckpoint } from '../helpers/tinyModels';

const env = { ...process.env, ORT_DISABLE_TELEMETRY: '1', ONNXRUNTIME_NODE_INSTALL: 'skip' };
const cli = (args: string[]) => spawnSync(process.execPath, [path.join(repoRoot, 'dist/cli.js'), ...args], { encoding: 'utf8', env, timeout: 120_000 });
const storiesPrompts = path.join(repoRoot, 'demo/prompts/stories260k.jsonl');

const tiny = gpt2Tiny({ nLayer: 2, nHead: 2, nEmbd: 16, vocab: 512, seed: 5 });
let modelDir: string | undefined;
async function tinyModel(): Promise<Model> {
  modelDir ??= writeCheckpoint(path.join(tmpDir(), 'measures'), tiny);
  return Model.load(modelDir);
}

/** Pairs of lengths 5, 5, 6, 6, 6: every length has a resample partner. */
function tinyPairs(): TokenizedPair[] {
  return [
    tokenPair([1, 40, 41, 42, 43], [1, 40, 90, 42, 43], 7, 9),
    tokenPair([1, 50, 51, 52, 53], [1, 50, 91, 52, 53], 9, 7),
    tokenPair([1, 60, 61, 62, 63, 64], [1, 60, 61, 92, 63, 64], 11, 13),
    tokenPair([1, 70, 71, 72, 73, 74], [1, 93, 71, 72, 73, 74], 13, 11),
    tokenPair([1, 80, 81, 82, 83, 84], [1, 80, 81, 82, 94, 84], 7, 13),
  ];
}

test('differing span: first to last differing token; none for equal lists', () => {
  assert.deepEqual(differingSpan([1, 2, 3, 4, 5], [1, 2, 9, 4, 5]), [2, 3]);
  assert.deepEqual(differingSpan([1, 2, 3, 4, 5], [1, 8, 3, 9, 5]), [1, 4]);
  assert.equal(differingSpan([1, 2, 3], [1, 2, 3]), undefined);
});

test('heads on a prompt set without subject fields labels heads and says how subjects were found', () => {
  const dir = tmpDir();
  const rows = fs
    .readFileSync(storiesPrompts, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const { prompt, target, corruptedPrompt, corruptedTarget } = JSON.parse(l) as Record<string, string>;
      return JSON.stringify({ prompt, target, corruptedPrompt, corruptedTarget });
    });
  const bare = path.join(dir, 'bare.jsonl');
  fs.writeFileSync(bare, rows.join('\n') + '\n');
  const circuit = path.join(dir, 'c.circuit.json');
  const d = cli(['discover', stories260K, '--prompts', bare, '--out', circuit, '--spot-check', '0']);
  assert.equal(d.status, 0, d.stderr);
  const h = cli(['heads', stories260K, '--circuit', circuit, '--prompts', bare]);
  assert.equal(h.status, 0, h.stderr);
  assert.match(h.stdout, new RegExp(`subjects of ${rows.length} prompts: ${rows.length} inferred as the tokens where the clean and corrupted prompts differ`));
  assert.match(h.stdout, /heads in the circuit: \d+ \(mover \d+, relation \d+, mixture \d+/);
  const j = cli(['heads', stories260K, '--circuit', circuit, '--prompts', bare, '--json']);
  const report = JSON.parse(j.stdout) as { subjects: { inferred: number }; prompts: number; skipped: number };
  assert.equal(report.subjects.inferred, rows.length);
  assert.equal(report.prompts, rows.length);
  assert.equal(report.skipped, 0);
});

/** MIB's area loop, written independently: x as fractions, trapezoids between successive sizes. */
function mibAreas(f: readonly number[]): { cprArea: number; cmdArea: number } {
  const x = [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100].map((p) => p / 100);
  let cprArea = 0;
  let cmdArea = 0;
  for (let i = 1; i < x.length; i++) {
    const w = x[i] - x[i - 1];
    cprArea += w * 0.5 * (f[i - 1] + f[i]);
    cmdArea += w * 0.5 * (Math.abs(f[i - 1] - 1) + Math.abs(f[i] - 1));
  }
  return { cprArea, cmdArea };
}

test('MIB: faithfulness at the 10 sizes (signed and absolute selection), CPR and CMD match an independent trapezoid', async () => {
  const m = await tinyModel();
  const pairs = tinyPairs();
  const a = await attribute(m, pairs, { method: 'eap-ig-inputs', steps: 3 });
  const g = a.graph;
  const r = await mibEvaluation(m, pairs, g, a.scores, { batchSize: 2 });
  const nEdges = g.edges.length;
  assert.deepEqual(r.signed.topN, [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1].map((p) => Math.trunc(p * nEdges)));
  // Each point is the patching faithfulness of the pruned top-n circuit, selected here by sorting.
  const byScore = (abs: boolean) => Array.from(g.edges.keys()).sort((i, j) => (abs ? Math.abs(a.scores[j]) - Math.abs(a.scores[i]) : a.scores[j] - a.scores[i]) || i - j);
  for (const abs of [false, true]) {
    const order = byScore(abs);
    const sels = r.signed.topN.map((n) => {
      const e = new Uint8Array(nEdges);
      for (const i of order.slice(0, n)) e[i] = 1;
      return pruneDeadNodes(g, e);
    });
    const ev = await evaluatePatching(m, pairs, sels, { batchSize: 3 });
    const curve = abs ? r.absolute : r.signed;
    ev.forEach((e, i) => assert.ok(Math.abs(e.faithfulness - curve.faithfulness[i]) < 1e-6, `${abs ? 'absolute' : 'signed'} size ${i}: ${e.faithfulness} vs ${curve.faithfulness[i]}`));
  }
  assert.ok(Math.abs(r.absolute.faithfulness[9] - 1) < 1e-4, 'the whole graph is the clean model');
  const signed = mibAreas(r.signed.faithfulness);
  const absolute = mibAreas(r.absolute.faithfulness);
  assert.ok(Math.abs(r.cpr - signed.cprArea) < 1e-12, `CPR ${r.cpr} vs ${signed.cprArea}`);
  assert.ok(Math.abs(r.cmd - absolute.cmdArea) < 1e-12, `CMD ${r.cmd} vs ${absolute.cmdArea}`);
  assert.ok(Math.abs(r.signed.areaFromOne - signed.cmdArea) < 1e-12 && Math.abs(r.absolute.area - absolute.cprArea) < 1e-12);
  await m.dispose();
});

/** The node outputs and final residual of one prompt's clean run, by position, from the model's hooks. */
async function nodeOutputs(m: Model, seq: number[]): Promise<{ z: Float64Array[][]; resid: Float64Array[] }> {
  const { nLayers: L, nHeads: H, dModel: d } = m.spec;
  const names = ['hook_embed', ...Array.from({ length: L }, (_, l) => [`blocks.${l}.attn.hook_result`, `blocks.${l}.hook_mlp_out`]).flat(), `blocks.${L - 1}.hook_resid_post`];
  const out = await m.runHooks([seq], names, { split: true });
  const T = seq.length;
  const row = (name: string, t: number, k = 0, K = 1) => Float64Array.from((out[name].data as Float32Array).subarray((t * K + k) * d, (t * K + k + 1) * d));
  const z: Float64Array[][] = [];
  for (let t = 0; t < T; t++) {
    const at: Float64Array[] = [row('hook_embed', t)];
    for (let l = 0; l < L; l++) {
      for (let h = 0; h < H; h++) at.push(row(`blocks.${l}.attn.hook_result`, t, h, H));
      at.push(row(`blocks.${l}.hook_mlp_out`, t));
    }
    z.push(at);
  }
  return { z, resid: Array.from({ length: T }, (_, t) => row(`blocks.${L - 1}.hook_resid_post`, t)) };
}

/** Logit difference of a final residual through ln_f and the tied unembedding, in float64. */
function logitDiff(r: Float64Array, p: TokenizedPair): number {
  const t = tiny.tensors;
  const [x] = layerNorm([r], t['transformer.ln_f.weight'].data, t['transformer.ln_f.bias'].data, 1e-5);
  const wte = t['transformer.wte.weight'].data;
  const d = r.length;
  const logit = (v: number) => x.reduce((s, xi, i) => s + xi * wte[v * d + i], 0);
  return logit(p.cleanLabel) - logit(p.corruptedLabel);
}

test('mean and resample ablation: the empty circuit equals a direct computation from the clean runs', async () => {
  const m = await tinyModel();
  const pairs = tinyPairs();
  const g = new CircuitGraph({ nLayers: 2, nHeads: 2, parallelAttnMlp: false, dModel: 16 });
  const runs = await Promise.all(pairs.map((p) => nodeOutputs(m, p.clean)));
  const nF = g.nForward;
  const d = 16;
  // Mean over prompts and positions of every node's output.
  const mean = Array.from({ length: nF }, () => new Float64Array(d));
  let count = 0;
  for (const r of runs) {
    for (const at of r.z) {
      at.forEach((z, u) => z.forEach((x, i) => (mean[u][i] += x)));
      count++;
    }
  }
  mean.forEach((v) => v.forEach((_, i) => (v[i] /= count)));
  // With every edge ablated, the logits read the non-node part of the residual (positions, b_O) plus the
  // ablation's node outputs: resid − Σ z_u + Σ src_u at the last position.
  let direct = 0;
  pairs.forEach((p, i) => {
    const T = p.clean.length;
    const r = Float64Array.from(runs[i].resid[T - 1]);
    for (let u = 0; u < nF; u++) for (let k = 0; k < d; k++) r[k] += mean[u][k] - runs[i].z[T - 1][u][k];
    direct += logitDiff(r, p) / pairs.length;
  });
  const all = new Uint8Array(g.edges.length).fill(1);
  const full: Selection = pruneDeadNodes(g, all);
  const [meanEval] = await evaluatePatching(m, pairs, [full], { ablation: 'mean', batchSize: 2 });
  assert.equal(meanEval.ablation, 'mean');
  assert.ok(Math.abs(meanEval.empty! - direct) < 1e-4, `mean-ablated empty circuit ${meanEval.empty} vs direct ${direct}`);
  assert.ok(Math.abs(meanEval.faithfulness - 1) < 1e-4, 'the full circuit is the clean model under any ablation');

  // Resample: each prompt's logits read its partner's clean run, so the empty circuit gives the partner's
  // logits at the prompt's own labels.
  const partner = resamplePartners(pairs, 7);
  partner.forEach((j, i) => {
    assert.notEqual(j, i);
    assert.equal(pairs[j].clean.length, pairs[i].clean.length);
  });
  let resampled = 0;
  pairs.forEach((p, i) => (resampled += logitDiff(runs[partner[i]].resid[p.clean.length - 1], p) / pairs.length));
  const [rs] = await evaluatePatching(m, pairs, [full], { ablation: 'resample', seed: 7, batchSize: 2 });
  assert.ok(Math.abs(rs.empty! - resampled) < 1e-4, `resample-ablated empty circuit ${rs.empty} vs direct ${resampled}`);
  // Faithfulness under them uses the empty circuit as its baseline.
  const half = pruneDeadNodes(g, Uint8Array.from(all, (_, i) => (i % 2 ? 1 : 0)));
  const [h] = await evaluatePatching(m, pairs, [half], { ablation: 'mean', batchSize: 5 });
  assert.ok(Math.abs(h.faithfulness - (h.circuit - h.empty!) / (h.baselines.clean - h.empty!)) < 1e-12);
  assert.throws(() => resamplePartners([...pairs, tokenPair([1, 2, 3], [1, 4, 3], 5, 6)]), /same token length \(3\)/);
  await m.dispose();
});

test('trust: the spot check re-scores the top edges exactly as the exact method does; correlations over them', async () => {
  const m = await tinyModel();
  const pairs = tinyPairs();
  const eap = await attribute(m, pairs, { method: 'eap' });
  const exact = await attribute(m, pairs, { method: 'exact', batchSize: 64 });
  const s = await spotCheck(m, pairs, eap.graph, eap.scores, { k: 12 });
  const idx = topEdges(eap.scores, 12);
  assert.equal(s.k, 12);
  s.edges.forEach((e, j) => {
    assert.equal(e.edge, eap.graph.edges[idx[j]].name);
    assert.ok(Math.abs(e.exact - exact.scores[idx[j]]) < 1e-5, `${e.edge}: ${e.exact} vs exact method ${exact.scores[idx[j]]}`);
  });
  // Spearman from ranks: the Pearson correlation of ranks, ties averaged.
  assert.deepEqual(Array.from(ranks([3, 1, 3, 2])), [3.5, 1, 3.5, 2]);
  assert.ok(s.pearson > -1 && s.pearson <= 1 && s.spearman >= -1 && s.spearman <= 1);
  await m.dispose();
});

test('trust: connectivity of hand-built circuits, and the warnings a disconnected piece and low faithfulness raise', () => {
  const g = new CircuitGraph({ nLayers: 2, nHeads: 2, parallelAttnMlp: false, dModel: 16 });
  const sel = (names: string[]): Selection => {
    const edgeIn = new Uint8Array(g.edges.length);
    for (const n of names) {
      const i = g.edges.findIndex((e) => e.name === n);
      assert.ok(i >= 0, n);
      edgeIn[i] = 1;
    }
    const nodeIn = new Map(g.nodes.map((n) => [n, false] as [string, boolean]));
    g.edges.forEach((e, i) => {
      if (edgeIn[i]) nodeIn.set(e.parent, true).set(e.child, true);
    });
    return { edgeIn, nodeIn };
  };
  const good = connectivity(g, sel(['input->a0.h0<v>', 'a0.h0->m1', 'm1->logits']));
  assert.deepEqual(good, { connected: true, strayNodes: [], strayEdges: [] });
  assert.deepEqual(trustWarnings({ connectivity: good }), []);
  // A piece a0.h1 -> a1.h0<q> -> m1... that no input feeds: a1.h0 reaches logits, but a0.h1 has no way in.
  const piece = connectivity(g, sel(['input->a0.h0<v>', 'a0.h0->logits', 'a0.h1->a1.h1<k>', 'a1.h1->m1']));
  assert.equal(piece.connected, true);
  assert.deepEqual(piece.strayEdges, ['a0.h1->a1.h1<k>', 'a1.h1->m1']);
  assert.deepEqual(piece.strayNodes, ['a0.h1', 'a1.h1', 'm1']);
  const w = trustWarnings({ connectivity: piece, faithfulness: { value: 0.2, threshold: 0.5, low: true } });
  assert.equal(w.length, 2);
  assert.match(w[0], /2 circuit edges lie on no input → logits path \(a disconnected piece: a0\.h1, a1\.h1, m1\)/);
  assert.match(w[1], /faithfulness 0\.200 is below 0\.5/);
  const cut = connectivity(g, sel(['input->a0.h0<v>', 'a1.h0->logits']));
  assert.equal(cut.connected, false);
  assert.match(trustWarnings({ connectivity: cut })[0], /does not connect input to logits/);
});

test('discover --mib writes MIB figures and trust checks into a circuit file that EAP-IG JSON readers still load', () => {
  const out = path.join(tmpDir(), 's.circuit.json');
  const r = cli(['discover', stories260K, '--prompts', storiesPrompts, '--out', out, '--mib', '--spot-check', '8']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /MIB \(patch\): CPR [\d.-]+ \(signed scores\), CMD [\d.]+ \(absolute scores\)/);
  const json = JSON.parse(fs.readFileSync(out, 'utf8')) as { circuitscope: { mib: { cpr: number; cmd: number; signed: { faithfulness: number[] } }; trust: { spotCheck: { k: number }; connectivity: { connected: boolean }; warnings: string[] } } };
  const { mib, trust } = json.circuitscope;
  assert.ok(Math.abs(mib.cpr - mibAreas(mib.signed.faithfulness).cprArea) < 1e-6);
  assert.equal(trust.spotCheck.k, 8);
  assert.equal(trust.connectivity.connected, true);
  // The EAP-IG v2 keys are untouched: the file loads as a graph.
  const { graph } = fromEapJson(json, out);
  assert.equal(graph.edges.length, 2461);
});

test('agree: per-type correlations of a method with exact patching, over a partition of the edges', async () => {
  const { agreementTable } = await import('../../src/engine/circuits/agree');
  const { pearson } = await import('../../src/shared/analysis');
  const m = await tinyModel();
  const pairs = tinyPairs();
  const t = await agreementTable(m, pairs, ['eap'], { batchSize: 64 });
  const eap = await attribute(m, pairs, { method: 'eap' });
  const exact = await attribute(m, pairs, { method: 'exact', batchSize: 64 });
  const row = t.rows[0].byType;
  assert.equal(row.input.edges + row.heads.edges + row.mlps.edges, row.all.edges);
  assert.equal(row.all.edges, eap.graph.edges.length);
  assert.ok(Math.abs(row.all.pearson - pearson(eap.scores, exact.scores)) < 1e-9);
  const heads = eap.graph.edges.flatMap((e, i) => (e.parent.startsWith('a') ? [i] : []));
  assert.ok(Math.abs(row.heads.pearson - pearson(heads.map((i) => eap.scores[i]), heads.map((i) => exact.scores[i]))) < 1e-9);
  await m.dispose();
});
