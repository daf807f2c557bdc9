/**
 * Circuit evaluation against the float64 reference, circuit files, prompt-set formats, and the
 * discover/evaluate commands on the real stories260K model.
 */
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { attribute } from '../../src/engine/circuits/attribute';
import { readCircuitFile, writeCircuitFile } from '../../src/engine/circuits/circuitFile';
import { discoverCircuit } from '../../src/engine/circuits/discover';
import { evaluatePatching, evaluateZero } from '../../src/engine/circuits/evaluate';
import { readPromptSet, tokenizePairs, type TokenizedPair } from '../../src/engine/circuits/prompts';
import { UserError } from '../../src/engine/errors';
import { Model } from '../../src/engine/model/runner';
import { TextTokenizer } from '../../src/engine/model/tokenizer';
import { CircuitGraph, pruneDeadNodes, topN, type Selection } from '../../src/shared/circuit';
import { gpt2Forward, type Mat } from '../helpers/reference';
import { gpt2TokenizerDir, gpt2Tiny, repoRoot, stories260K, tmpDir, writeCheckpoint, tokenPair } from '../helpers/tinyModels';

const cli = path.join(repoRoot, 'dist/cli.js');
const storiesPrompts = path.join(repoRoot, 'demo/prompts/stories260k.jsonl');

const pair = tokenPair;

/**
 * Reference circuit run: every edge outside the circuit reads the patch source's output of its parent
 * instead of the current one (`src` null: zero ablation), computed in float64.
 */
function refCircuitLogits(forward: (ids: number[], hooks: Parameters<typeof gpt2Forward>[3]) => Mat, g: CircuitGraph, sel: Selection, p: TokenizedPair, src: Map<string, Mat> | null): Float64Array {
  const current = new Map<string, Mat>();
  const logits = forward(p.clean, {
    record: (n, o) => current.set(n, o),
    input: (dest, x) => {
      const child = dest.replace(/<[qkv]>$/, '');
      const qkv = /<([qkv])>$/.exec(dest)?.[1];
      let y = x;
      for (const i of g.parentEdges.get(child) ?? []) {
        const e = g.edges[i];
        if ((e.qkv ?? undefined) !== qkv || sel.edgeIn[i]) continue;
        const cur = current.get(e.parent)!;
        const s = src?.get(e.parent);
        y = y.map((r, a) => r.map((v, b) => v + (s ? s[a][b] : 0) - cur[a][b]));
      }
      return y;
    },
  });
  return logits[p.clean.length - 1];
}

test('patching faithfulness and zero-ablation ranks agree with the float64 reference', async () => {
  const model = gpt2Tiny({ nLayer: 2, nHead: 2, nEmbd: 16, seed: 21 });
  const dir = writeCheckpoint(path.join(tmpDir(), 'g'), model, { tokenizerFrom: gpt2TokenizerDir });
  const m = await Model.load(dir);
  const pairs = [pair([50256, 40, 588, 257, 3797], [50256, 40, 910, 257, 3797], 11, 13), pair([50256, 7, 8, 9], [50256, 17, 8, 9], 100, 200)];
  const forward = (ids: number[], hooks: Parameters<typeof gpt2Forward>[3]) => gpt2Forward(model.tensors, model.config as never, ids, hooks);
  const att = await attribute(m, pairs, { method: 'eap-ig-inputs' });
  const g = att.graph;
  const ld = (l: Float64Array | Float32Array, p: TokenizedPair) => l[p.cleanLabel] - l[p.corruptedLabel];
  for (const n of [0, 5, 15, 30, g.edges.length]) {
    const sel = pruneDeadNodes(g, topN(g, att.scores, n));
    const [ev] = await evaluatePatching(m, pairs, [sel]);
    let refCircuit = 0;
    for (const p of pairs) {
      const corr = new Map<string, Mat>();
      forward(p.corrupted, { record: (name, o) => corr.set(name, o) });
      refCircuit += ld(refCircuitLogits(forward, g, sel, p, corr), p) / pairs.length;
    }
    assert.ok(Math.abs(ev.circuit - refCircuit) < 1e-4, `N=${n}: engine circuit metric ${ev.circuit} vs reference ${refCircuit}`);
    if (n === 0) assert.ok(Math.abs(ev.faithfulness) < 1e-5, 'an empty circuit gives the corrupted performance');
    if (n === g.edges.length) assert.ok(Math.abs(ev.faithfulness - 1) < 1e-5, 'the full graph gives the clean performance');

    const zero = await evaluateZero(m, pairs, sel);
    pairs.forEach((p, i) => {
      const row = refCircuitLogits(forward, g, sel, p, null);
      const refRank = Array.from(row).filter((v) => v > row[p.cleanLabel]).length;
      assert.equal(zero.ranks[i], refRank, `N=${n} prompt ${i}: zero-ablation rank`);
    });
  }
  await m.dispose();
});

test('circuit files: v2 JSON round-trips and is written atomically', async () => {
  const m = await Model.load(stories260K);
  const set = readPromptSet(storiesPrompts);
  const pairs = tokenizePairs(m.tokenizer, set, m.checkpoint.bosId).slice(0, 6);
  const r = await discoverCircuit(m, pairs, { method: 'eap-ig-inputs', topN: 300 });
  const out = path.join(tmpDir(), 'c.json');
  const g = r.attribution.graph;
  writeCircuitFile(out, g, { cfg: g.cfg, scores: r.attribution.scores, edgeIn: r.selection.edgeIn, nodeIn: r.selection.nodeIn });
  const back = readCircuitFile(out);
  assert.equal(back.format, 'v2');
  assert.deepEqual(Array.from(back.data.edgeIn), Array.from(r.selection.edgeIn));
  back.data.scores.forEach((s, i) => assert.ok(Math.abs(s - r.attribution.scores[i]) <= 1e-7 * Math.abs(s) + 1e-12));
  assert.equal(fs.readdirSync(path.dirname(out)).length, 1, 'no temporary files are left behind');
  await m.dispose();
});

test('prompt sets: Circuitscope JSONL, knowledge-circuits files, EAP-IG CSV, facts and LRE files', () => {
  const dir = tmpDir();
  const tok = TextTokenizer.load(gpt2TokenizerDir);
  const kc = path.join(dir, 'city.jsonl');
  fs.writeFileSync(kc, JSON.stringify({ clean_subject: 'Mary Smith', clean_label: ' Paris', corrupted_subject: 'John Brown', corrupted_label: ' Rome', type: 'new', frequency: '7' }) + '\n');
  const k = readPromptSet(kc);
  assert.equal(k.format, 'knowledge-circuits');
  assert.equal(k.pairs[0].prompt, 'Mary Smith lives in the city of');
  assert.equal(k.pairs[0].group, 'new/high');
  const [kt] = tokenizePairs(tok, k, 50256);
  assert.equal(kt.cleanLabel, tok.encode(' Paris')[0]);
  assert.deepEqual(kt.subjectSpan, [1, 1 + tok.encode('Mary Smith').length]);

  const csv = path.join(dir, 'ioi.csv');
  fs.writeFileSync(csv, 'clean,corrupted,correct_idx,incorrect_idx\n"When Mary and John went, John gave it to","When Mary and John went, Anne gave it to",5335,1757\n');
  const c = readPromptSet(csv);
  assert.equal(c.format, 'eap-csv');
  assert.equal(c.pairs[0].prompt, 'When Mary and John went, John gave it to');
  assert.equal(tokenizePairs(tok, c, undefined)[0].cleanLabel, 5335);

  const facts = path.join(dir, 'facts.jsonl');
  const names = ['Alice', 'Bob', 'Carol', 'David', 'Emma', 'Frank', 'Grace', 'Henry', 'Xqzzyx Vrtwq'];
  const template = 'The person {subject} lives in the city of';
  fs.writeFileSync(facts, names.map((n, i) => JSON.stringify({ subject: n, template, object: ['Paris', 'Rome', 'Oslo'][i % 3] })).join('\n'));
  assert.ok(names.slice(0, 8).every((n) => tok.encode(' ' + n).length === 1), 'test setup: eight one-token names');
  const f = readPromptSet(facts, { tokenizer: tok });
  assert.equal(f.format, 'facts');
  assert.equal(f.dropped, 1, 'the one subject with a rare token length has too few partners');
  for (const p of f.pairs) {
    assert.notEqual(p.corruptedSubject, p.subject);
    assert.equal(tok.encode(' ' + p.subject!).length, tok.encode(' ' + p.corruptedSubject!).length);
  }
  assert.equal(tokenizePairs(tok, f, 50256).length, 8);

  const lre = path.join(dir, 'lre.json');
  fs.writeFileSync(lre, JSON.stringify({ name: 'city', prompt_templates_zs: ['The person {} lives in'], samples: names.slice(0, 8).map((n) => ({ subject: n, object: 'Paris' })) }));
  assert.equal(readPromptSet(lre, { tokenizer: tok }).pairs[0].prompt, 'The person Alice lives in');
});

test('prompt problems name the file, line and fix', () => {
  const dir = tmpDir();
  const tok = TextTokenizer.load(gpt2TokenizerDir);
  const bad = path.join(dir, 'p.jsonl');
  fs.writeFileSync(bad, JSON.stringify({ prompt: 'Mary lives in', target: ' Paris', corruptedPrompt: 'Bartholomew Q lives in', corruptedTarget: ' Rome' }) + '\n');
  assert.throws(
    () => tokenizePairs(tok, readPromptSet(bad), 50256),
    (e: unknown) => e instanceof UserError && /p\.jsonl:1 \(prompt 1\): the clean prompt has 4 tokens but the corrupted prompt has \d+/.test((e as Error).message),
  );
  fs.writeFileSync(bad, '{"prompt": "x", "target": " y"}\n');
  assert.throws(() => readPromptSet(bad), /p\.jsonl:1: missing field 'corruptedPrompt'/);
  fs.writeFileSync(bad, '{"prompt": \n');
  assert.throws(() => readPromptSet(bad), /p\.jsonl:1: invalid JSON/);
  const kc = path.join(dir, 'mystery.jsonl');
  fs.writeFileSync(kc, JSON.stringify({ clean_subject: 'a', clean_label: ' b', corrupted_subject: 'c', corrupted_label: ' d' }));
  assert.throws(() => readPromptSet(kc), /needs a query template.*--template/);
});

test('CLI: discover on stories260K writes a circuit, evaluate reads it back, a circuit of another model is refused', () => {
  const out = path.join(tmpDir(), 'stories.json');
  const d = spawnSync(process.execPath, [cli, 'discover', stories260K, '--prompts', storiesPrompts, '--out', out, '--top-n', '400'], { encoding: 'utf8' });
  assert.equal(d.status, 0, d.stderr);
  const faith = Number(/faithfulness: (-?[\d.]+)/.exec(d.stdout)![1]);
  assert.ok(faith > 0.9, `top-400 circuit faithfulness ${faith}`);
  const json = JSON.parse(fs.readFileSync(out, 'utf8'));
  assert.deepEqual(Object.keys(json), ['cfg', 'nodes', 'edges', 'circuitscope']);
  assert.deepEqual(json.cfg, { n_layers: 5, n_heads: 8, parallel_attn_mlp: false, d_model: 64 });
  assert.equal(Object.keys(json.edges).length, 2461);
  assert.equal(json.circuitscope.method, 'eap-ig-inputs');
  assert.equal(json.circuitscope.steps, 5);
  assert.equal(json.circuitscope.prompts.count, 27);
  assert.match(json.circuitscope.checkpoint.hash, /^[0-9a-f]{16}$/);

  const e = spawnSync(process.execPath, [cli, 'evaluate', stories260K, '--circuit', out, '--prompts', storiesPrompts, '--json'], { encoding: 'utf8' });
  assert.equal(e.status, 0, e.stderr);
  const ev = JSON.parse(e.stdout);
  assert.ok(Math.abs(ev.faithfulness - json.circuitscope.faithfulness) < 1e-4, `${ev.faithfulness} vs ${json.circuitscope.faithfulness}`);
  const z = spawnSync(process.execPath, [cli, 'evaluate', stories260K, '--circuit', out, '--prompts', storiesPrompts, '--ablation', 'zero', '--json'], { encoding: 'utf8' });
  assert.ok(Math.abs(JSON.parse(z.stdout).hit10 - json.circuitscope.hit10) < 1e-6);

  const other = writeCheckpoint(path.join(tmpDir(), 'other'), gpt2Tiny({ nLayer: 2, nHead: 4 }), { tokenizerFrom: gpt2TokenizerDir });
  const x = spawnSync(process.execPath, [cli, 'evaluate', other, '--circuit', out, '--prompts', storiesPrompts], { encoding: 'utf8' });
  assert.equal(x.status, 1);
  assert.match(x.stderr, /stories\.json: the circuit is for a 5-layer, 8-head model \(discovered on LlamaForCausalLM at .*stories260K\), but .*other is a 2-layer, 4-head GPT2LMHeadModel/);

  // A failed run leaves an existing output file as it was.
  const before = fs.readFileSync(out);
  const badPrompts = path.join(tmpDir(), 'bad.jsonl');
  fs.writeFileSync(badPrompts, JSON.stringify({ prompt: 'Lily had a ball.', target: ' She', corruptedPrompt: 'Bartholomew had a ball.', corruptedTarget: ' He' }) + '\n');
  const f = spawnSync(process.execPath, [cli, 'discover', stories260K, '--prompts', badPrompts, '--out', out], { encoding: 'utf8' });
  assert.equal(f.status, 1);
  assert.match(f.stderr, /bad\.jsonl:1 \(prompt 1\): the clean prompt has \d+ tokens but the corrupted prompt has \d+/);
  assert.deepEqual(fs.readFileSync(out), before);
});

test('CLI: Ctrl-C stops discover cleanly, exit code 130, and nothing is written', async () => {
  const out = path.join(tmpDir(), 'never.json');
  // Exact patching of every edge is slow enough to interrupt.
  const child = spawn(process.execPath, [cli, 'discover', stories260K, '--prompts', storiesPrompts, '--out', out, '--method', 'exact'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let sent = false;
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    // One Ctrl-C; a second one would exit at once without the message.
    if (!sent && stderr.includes('exact patching')) {
      sent = true;
      child.kill('SIGINT');
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.equal(code, 130, stderr);
  assert.match(stderr, /cancelled; .*never\.json was not written/);
  assert.equal(fs.existsSync(out), false);
});
