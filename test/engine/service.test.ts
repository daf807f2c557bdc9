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
import type { CostEstimate } from '../../src/shared/engineProtocol';
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
