/**
 * The real pretrained stories260K (Llama architecture, grouped-query attention, tied head) must
 * reproduce llama2.c's own greedy output, byte for byte.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { Model } from '../../src/engine/model/runner';
import { repoRoot, stories260K } from '../helpers/tinyModels';

const expected = fs.readFileSync(path.join(stories260K, 'expected-greedy-200.txt'), 'utf8');

test('stories260K: the tokenizer and BOS match the model card', async () => {
  const m = await Model.load(stories260K);
  assert.deepEqual(m.encodePrompt('Once upon a time'), [1, 403, 407, 261, 378]);
  await m.dispose();
});

test('stories260K: 200 greedy tokens from BOS through the engine API match expected-greedy-200.txt', async () => {
  const m = await Model.load(stories260K);
  const out = await m.generate(m.encodePrompt(''), 200);
  assert.equal(out.length, 200);
  // llama2.c prints a newline after the generated text; the file holds that output as printed.
  assert.equal(m.tokenizer.decode(out) + '\n', expected);
  await m.dispose();
});

test('stories260K: `circuitscope generate` prints expected-greedy-200.txt byte for byte', () => {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'dist/cli.js'), 'generate', stories260K, '--max-new-tokens', '200'], { encoding: 'buffer' });
  assert.equal(r.status, 0, r.stderr.toString());
  assert.ok(Buffer.compare(r.stdout, fs.readFileSync(path.join(stories260K, 'expected-greedy-200.txt'))) === 0, `output differs:\n${r.stdout}`);
});

test('stories260K: `circuitscope logits --json` gives tokens and last-position logits equal to the API', async () => {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'dist/cli.js'), 'logits', stories260K, '--prompt', 'Once upon a time', '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const parsed = JSON.parse(r.stdout) as { tokens: number[]; logits: number[] };
  assert.deepEqual(parsed.tokens, [1, 403, 407, 261, 378]);
  assert.equal(parsed.logits.length, 512);
  const m = await Model.load(stories260K);
  const api = await m.lastLogits([parsed.tokens]);
  assert.deepEqual(Float32Array.from(parsed.logits), api);
  // The story continues with a comma, as the greedy output shows.
  assert.equal(m.tokenizer.tokenText(api.indexOf(Math.max(...api))), ',');
  await m.dispose();
});
