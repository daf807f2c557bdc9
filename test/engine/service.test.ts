/**
 * The engine service's Discover, in process: one request opens the checkpoint and the prompt set once
 * (the prompt file is read once, counted through the workload's reader), sends the cost estimate as
 * its first progress notification, and returns the view data the circuit file gives when read back.
 * A cancelled Discover writes nothing.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { CancelledError } from '../../src/engine/errors';
import * as service from '../../src/engine/service';
import type { CostEstimate, DiscoverSettings } from '../../src/shared/engineProtocol';
import { gpt2TokenizerDir, gpt2Tiny, tmpDir, writeCheckpoint } from '../helpers/tinyModels';

function workspace() {
  const ws = tmpDir('cs-service-');
  const dir = writeCheckpoint(path.join(ws, 'model'), gpt2Tiny({ nLayer: 2, nHead: 2, nEmbd: 16, seed: 5 }), { tokenizerFrom: gpt2TokenizerDir });
  const promptsFile = path.join(ws, 'city.jsonl');
  const names = ['Alice', 'Bob', 'Carol', 'David'];
  // Corrupted subjects outside the clean set: a rotation of the same names would make the clean and
  // corrupted baselines equal, and faithfulness undefined (refused since #15).
  const others = ['Eve', 'Frank', 'Grace', 'Henry'];
  fs.writeFileSync(
    promptsFile,
    names.map((n, i) => JSON.stringify({ prompt: `The person ${n} lives in`, target: ' Paris', corruptedPrompt: `The person ${others[i]} lives in`, corruptedTarget: ' Rome', subject: n })).join('\n'),
  );
  return { ws, dir, promptsFile };
}

/** A prompt reader that counts its reads of `file`. */
function countingReader(file: string) {
  const counter = {
    reads: 0,
    readFile: (f: string): Buffer => {
      if (path.resolve(f) === path.resolve(file)) counter.reads++;
      return fs.readFileSync(f);
    },
  };
  return counter;
}

test('one Discover reads the prompt file once, reports its cost first, and returns the view data from memory', async () => {
  const { ws, dir, promptsFile } = workspace();
  const out = path.join(ws, 'results', 'model--city.circuit.json');
  const settings = { topN: 10 };
  const counter = countingReader(promptsFile);
  const seen: { message: string; fraction?: number; cost?: CostEstimate }[] = [];
  const r = await service.discover({ token: 't', dir, promptsFile, out, settings }, new AbortController().signal, (message, fraction, cost) => seen.push({ message, fraction, cost }), { readFile: counter.readFile });
  assert.equal(counter.reads, 1, 'the prompt file is read once');
  assert.ok(fs.existsSync(out), 'the circuit file is written');

  assert.ok(seen[0].cost, 'the first progress notification carries the cost estimate');
  assert.deepEqual(seen[0].cost, await service.estimateCost({ dir, promptsFile, settings }));
  assert.equal(seen.filter((p) => p.cost).length, 1);
  assert.equal(seen[0].cost?.prompts, 4);

  // The view built in memory is the one the written file gives with head roles on the same prompts.
  const fromFile = await service.circuitViewData({ circuitFile: out, dir, promptsFile, settings });
  assert.deepEqual(r.view, fromFile);
  assert.equal(r.view.topN, 10);
  assert.equal(r.edges, JSON.parse(fs.readFileSync(out, 'utf8')).circuitscope.edges);
});

test('a Discover cancelled on its first progress notification throws CancelledError and writes nothing', async () => {
  const { ws, dir, promptsFile } = workspace();
  const out = path.join(ws, 'never.circuit.json');
  const ac = new AbortController();
  await assert.rejects(
    service.discover({ token: 'c', dir, promptsFile, out, settings: { method: 'exact', batchSize: 1 } }, ac.signal, () => ac.abort()),
    (e: unknown) => e instanceof CancelledError,
  );
  assert.equal(fs.existsSync(out), false);
});

test('a second Discover with the same checkpoint, prompts and settings reopens the circuit file without attribution; recompute or a change discovers again', async () => {
  const { ws, dir, promptsFile } = workspace();
  const out = path.join(ws, 'results', 'model--city.circuit.json');
  const settings: DiscoverSettings = { topN: 10, method: 'eap-ig-inputs', steps: 2 };
  const run = async (s: DiscoverSettings, recompute?: boolean) => {
    const seen: { message: string; cost?: CostEstimate }[] = [];
    const r = await service.discover({ token: 't', dir, promptsFile, out, settings: s, recompute }, new AbortController().signal, (message, _f, cost) => seen.push({ message, cost }));
    return { r, seen };
  };
  const first = await run(settings);
  assert.equal(first.r.reused, false);
  assert.ok(first.seen.some((p) => /^eap-ig-inputs: batch /.test(p.message)), `the first Discover attributes (${first.seen.map((p) => p.message).join('; ')})`);
  const bytes = fs.readFileSync(out);
  const mtime = fs.statSync(out).mtimeMs;

  const second = await run(settings);
  assert.equal(second.r.reused, true);
  // No cost estimate and no progress of any discovery phase: only the reopening is reported.
  assert.deepEqual(second.seen.map((p) => p.message), ['opening the existing circuit (same checkpoint, prompts and settings)']);
  assert.ok(fs.readFileSync(out).equals(bytes) && fs.statSync(out).mtimeMs === mtime, 'the file is neither recomputed nor rewritten');
  assert.deepEqual(second.r.view, first.r.view, 'the reopened view is the discovered one');
  // The figures as the file has them (rounded as written).
  const prov = JSON.parse(bytes.toString('utf8')).circuitscope;
  assert.deepEqual([second.r.edges, second.r.nodes, second.r.faithfulness, second.r.hit10], [prov.edges, prov.nodes, prov.faithfulness, prov.hit10]);
  assert.equal(second.r.edges, first.r.edges);

  // Recompute, another setting, and other prompt bytes each discover again.
  const recomputed = await run(settings, true);
  assert.equal(recomputed.r.reused, false);
  assert.ok(recomputed.seen[0].cost, 'a recomputation starts with its cost estimate');
  assert.equal((await run({ ...settings, steps: 3 })).r.reused, false, 'other steps');
  assert.equal((await run({ ...settings, steps: 3 })).r.reused, true, 'the same steps again');
  // Steps do not change EAP's scores: EAP's key ignores them, as its provenance records steps = 1.
  assert.equal((await run({ topN: 10, method: 'eap', steps: 2 })).r.reused, false, 'another method');
  assert.equal((await run({ topN: 10, method: 'eap', steps: 4 })).r.reused, true, 'EAP with other steps is the same discovery');
  fs.appendFileSync(promptsFile, '\n');
  assert.equal((await run({ topN: 10, method: 'eap', steps: 4 })).r.reused, false, 'other prompt file bytes');
  // The model's N, written out in the file, matches a request that leaves top-N to the model.
  assert.equal((await run({ method: 'eap' })).r.reused, false, 'top-N by model after top-N 10');
  assert.equal((await run({ method: 'eap' })).r.reused, true, 'top-N by model again');
});
