/**
 * The scan's checks (#14): broken prompt files stay listed with every bad line as a problem at its
 * line; checkpoint folders with pickled weights, weights without config.json, a broken or refused
 * config.json, or no tokenizer stay listed as unusable with problems at the file and line; small
 * prompt sets get a warning; files that are no prompt set are left alone.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { readPromptSet } from '../../src/engine/circuits/prompts';
import { TextTokenizer } from '../../src/engine/model/tokenizer';
import { scanWorkspace } from '../../src/engine/scan';
import { checkCheckpoint, checkPromptFile, keyPosition } from '../../src/engine/validate';
import { minPromptPairs } from '../../src/shared/problems';
import { gpt2Tiny, gpt2TokenizerDir, tmpDir, writeCheckpoint } from '../helpers/tinyModels';

const pair = (i: number) => JSON.stringify({ prompt: `The person P${i} lives in`, target: ' Paris', corruptedPrompt: `The person Q${i} lives in`, corruptedTarget: ' Rome' });

test('every bad line of a JSONL prompt file is a problem at its line and column; the file stays listed', () => {
  const ws = tmpDir('cs-validate-');
  const file = path.join(ws, 'prompts', 'cities.jsonl');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const lines = Array.from({ length: 25 }, (_, i) => pair(i));
  lines[2] = '{"prompt": "The person X lives in", "target": " Paris", "corruptedPrompt": "The person Y lives in"}';
  lines[6] = '{"prompt": "oops" "target": 1}';
  fs.writeFileSync(file, lines.join('\n') + '\n');

  const checked = checkPromptFile(file);
  assert.equal(checked.set, undefined, 'a file with bad lines is not usable');
  assert.deepEqual(
    checked.problems.map((p) => [p.line, p.code, p.severity]),
    [
      [3, 'prompt-line', 'error'],
      [7, 'prompt-line', 'error'],
    ],
  );
  assert.match(checked.problems[0].message, /missing field 'corruptedTarget'/);
  assert.equal(checked.problems[1].column, 19, 'the syntax error has its column (the second string)');
  assert.doesNotMatch(checked.problems[0].message, new RegExp(file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'the message does not repeat the file');

  const scan = scanWorkspace({ roots: [ws] });
  assert.equal(scan.promptSets.length, 1, 'the broken file is still listed');
  assert.match(scan.promptSets[0].problem ?? '', /missing field/);
  assert.equal(scan.problems.length, 2);
  assert.ok(scan.problems.every((p) => p.item === file && p.file === file));
});

test('a small prompt set is usable with a warning; a large one has no problem', () => {
  const ws = tmpDir('cs-validate-');
  const small = path.join(ws, 'one.jsonl');
  fs.writeFileSync(small, pair(0) + '\n');
  const s = checkPromptFile(small);
  assert.equal(s.set?.pairs.length, 1);
  assert.deepEqual(
    s.problems.map((p) => [p.code, p.severity, p.line]),
    [['small-prompt-set', 'warning', 1]],
  );
  assert.match(s.problems[0].message, new RegExp(`only 1 prompt: with fewer than ${minPromptPairs}`));
  const big = path.join(ws, 'big.jsonl');
  fs.writeFileSync(big, Array.from({ length: minPromptPairs }, (_, i) => pair(i)).join('\n'));
  assert.deepEqual(checkPromptFile(big).problems, []);
  const scan = scanWorkspace({ roots: [ws] });
  const entry = scan.promptSets.find((p) => p.file === small)!;
  assert.equal(entry.problem, undefined, 'a small set is not unusable');
  assert.equal(entry.count, 1);
  assert.match(entry.note ?? '', /noisy/);
});

test('CSV and JSONL files that are no prompt set are not listed; a facts file needs no problem', () => {
  const ws = tmpDir('cs-validate-');
  fs.writeFileSync(path.join(ws, 'losses.csv'), 'step,loss\n1,2.5\n');
  fs.writeFileSync(path.join(ws, 'train.jsonl'), '{"text": "Once upon a time"}\n');
  fs.writeFileSync(path.join(ws, 'facts.jsonl'), JSON.stringify({ subject: 'Lily', object: 'Paris', template: '{subject} lives in' }) + '\n');
  const scan = scanWorkspace({ roots: [ws] });
  assert.deepEqual(
    scan.promptSets.map((p) => [path.basename(p.file), p.format, p.problem]),
    [['facts.jsonl', 'facts', undefined]],
  );
  assert.deepEqual(scan.problems, []);
});

test('a facts JSONL as Create Prompt Set from Facts reads it ("answer", a relation template) is a facts prompt set too', () => {
  const ws = tmpDir('cs-validate-');
  const subjects = ['Alice', 'Bob', 'David', 'Emma', 'Frank', 'Grace', 'Henry', 'Jack', 'Kate', 'Paul', 'Peter', 'John'];
  const file = path.join(ws, 'facts.jsonl');
  fs.writeFileSync(file, subjects.map((s, i) => JSON.stringify({ subject: s, relation: 'The person {subject} lives in the city of', answer: ['Paris', 'Rome'][i % 2] })).join('\n') + '\n');
  const scan = scanWorkspace({ roots: [ws] });
  assert.deepEqual(
    scan.promptSets.map((p) => [path.basename(p.file), p.format, p.problem]),
    [['facts.jsonl', 'facts', undefined]],
  );
  assert.deepEqual(scan.problems, []);
  const set = readPromptSet(file, { tokenizer: TextTokenizer.load(gpt2TokenizerDir) });
  assert.equal(set.format, 'facts');
  const alice = set.pairs.find((p) => p.subject === 'Alice');
  assert.ok(alice, `Alice is kept (${set.pairs.length} pairs)`);
  assert.equal(alice.prompt, 'The person Alice lives in the city of');
  assert.equal(alice.target.trim(), 'Paris');
});

test('the scan follows linked folders: a linked model folder is listed at its link, a link back up the tree ends there', () => {
  const ws = tmpDir('cs-validate-');
  const elsewhere = tmpDir('cs-validate-models-');
  writeCheckpoint(path.join(elsewhere, 'tiny'), gpt2Tiny({ nLayer: 1, nHead: 2, nEmbd: 8, seed: 3 }), { tokenizerFrom: gpt2TokenizerDir });
  fs.symlinkSync(path.join(elsewhere, 'tiny'), path.join(ws, 'linked-model'), 'dir');
  fs.mkdirSync(path.join(ws, 'sub'));
  fs.symlinkSync(ws, path.join(ws, 'sub', 'loop'), 'dir');
  fs.symlinkSync(path.join(ws, 'gone'), path.join(ws, 'broken-link'), 'dir');
  const scan = scanWorkspace({ roots: [ws] });
  assert.deepEqual(
    scan.checkpoints.map((c) => [c.dir, c.problem]),
    [[path.join(ws, 'linked-model'), undefined]],
  );
});

test('a pickled checkpoint with config.json is unusable, with the conversion as a fix at config.json', () => {
  const ws = tmpDir('cs-validate-');
  const dir = path.join(ws, 'pickled');
  writeCheckpoint(dir, gpt2Tiny({ nLayer: 1, nHead: 2, nEmbd: 8, seed: 1 }), { tokenizerFrom: gpt2TokenizerDir });
  fs.renameSync(path.join(dir, 'model.safetensors'), path.join(dir, 'pytorch_model.bin'));
  const c = checkCheckpoint(dir);
  assert.equal(c.spec?.architecture, 'GPT2LMHeadModel', 'config.json still reads');
  assert.equal(c.problems.length, 1);
  const p = c.problems[0];
  assert.equal(p.code, 'pickled-weights');
  assert.equal(p.file, path.join(dir, 'config.json'), 'the problem sits where the editor can offer the fix');
  assert.equal(p.line, 1);
  assert.match(p.message, /pytorch_model\.bin is a pickled PyTorch checkpoint/);
  assert.match(p.fixCommand ?? '', /^python -c '.*save_pretrained\(.*safe_serialization=True\)'$/);
  const scan = scanWorkspace({ roots: [ws] });
  assert.equal(scan.checkpoints.length, 1, 'listed');
  assert.match(scan.checkpoints[0].problem ?? '', /pickled/);
  assert.equal(scan.checkpoints[0].summary?.nLayers, 1, 'with its summary');
});

test('a folder with only pytorch_model.bin is listed as unusable: no config.json, pickled weights', () => {
  const ws = tmpDir('cs-validate-');
  const dir = path.join(ws, 'only-bin');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'pytorch_model.bin'), Buffer.alloc(16));
  const scan = scanWorkspace({ roots: [ws] });
  assert.equal(scan.checkpoints.length, 1);
  assert.equal(scan.checkpoints[0].summary, undefined);
  assert.match(scan.checkpoints[0].problem ?? '', /no config\.json/);
  assert.deepEqual(
    scan.problems.map((p) => [path.basename(p.file), p.code]),
    [
      ['pytorch_model.bin', 'no-config'],
      ['pytorch_model.bin', 'pickled-weights'],
    ],
  );
});

test('config.json problems are at their line: a syntax error at its column, a refused field at its key', () => {
  const ws = tmpDir('cs-validate-');
  const broken = path.join(ws, 'broken');
  writeCheckpoint(broken, gpt2Tiny({ nLayer: 1, nHead: 2, nEmbd: 8, seed: 2 }), { tokenizerFrom: gpt2TokenizerDir });
  fs.writeFileSync(path.join(broken, 'config.json'), '{\n  "model_type": "gpt2",\n  "n_layer": 1,,\n}\n');
  const b = checkCheckpoint(broken).problems.find((p) => p.code === 'config')!;
  assert.deepEqual([b.file, b.line, b.column], [path.join(broken, 'config.json'), 3, 16]);

  const refused = path.join(ws, 'refused');
  writeCheckpoint(refused, gpt2Tiny({ nLayer: 1, nHead: 2, nEmbd: 8, seed: 3 }), { tokenizerFrom: gpt2TokenizerDir });
  const cfgFile = path.join(refused, 'config.json');
  const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as Record<string, unknown>;
  cfg.architectures = ['MambaForCausalLM'];
  const text = JSON.stringify(cfg, null, 2);
  fs.writeFileSync(cfgFile, text);
  const r = checkCheckpoint(refused).problems.find((p) => p.code === 'config')!;
  assert.equal(r.line, keyPosition(text, 'architectures')!.line);
  assert.match(r.message, /^'architectures': unsupported architecture MambaForCausalLM/);
});

test('a checkpoint without a tokenizer is unusable, with the problem at the folder', () => {
  const ws = tmpDir('cs-validate-');
  const dir = path.join(ws, 'no-tok');
  writeCheckpoint(dir, gpt2Tiny({ nLayer: 1, nHead: 2, nEmbd: 8, seed: 4 }), { tokenizerFrom: null });
  const c = checkCheckpoint(dir);
  assert.deepEqual(
    c.problems.map((p) => [p.code, p.file]),
    [['tokenizer', dir]],
  );
});
