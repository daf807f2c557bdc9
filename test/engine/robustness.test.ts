/**
 * Regression tests for the classes of issue #15's fuzz campaign, each on its minimal reproduction:
 * crashes, hangs, silent wrong successes, messages and leftovers. Every case runs the built CLI
 * (dist/cli.js) and must end in one clean line that names the file (exit 1), or succeed where the
 * input is valid; nothing may print a stack, hang, or exit 0 on input that cannot be right.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, test } from 'node:test';
import { classify, messageProblem, runCliSync, stories260KCopy, storiesPrompts, type CliResult } from '../helpers/cliRun';
import { deepJson, joinSafetensors, patchF32, splitSafetensors } from '../helpers/mutate';
import { stories260K, tmpDir } from '../helpers/tinyModels';
import { writeFileAtomic } from '../../src/engine/util/atomicWrite';

const prompt = ['--prompt', 'Once upon a time'];

/** Asserts a one-line user error (exit 1) whose message matches every pattern. */
function userError(r: CliResult, ...patterns: RegExp[]): void {
  const outcome = classify(r);
  assert.equal(outcome, 'user-error', `expected a user error, got ${outcome} (exit ${r.status}, ${r.ms} ms): ${messageProblem(r.stderr) ?? ''}\n${r.stderr.slice(0, 2000)}\n${r.stdout.slice(0, 500)}`);
  for (const p of patterns) assert.match(r.stderr, p);
}

function withFile(dir: string, name: string, text: string | Buffer): string {
  fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

function ckpt(mut?: (dir: string) => void): string {
  const d = stories260KCopy();
  mut?.(d);
  return d;
}

function promptFile(name: string, text: string): string {
  const f = path.join(tmpDir(), name);
  fs.writeFileSync(f, text);
  return f;
}

const row = (o: Record<string, unknown>) => JSON.stringify(o);
const goodRow = { prompt: 'Lily had a big ball. She loved her', target: ' ball', corruptedPrompt: 'Lily had a big cat. She loved her', corruptedTarget: ' cat' };

let circuitFile = '';
let circuit: Record<string, unknown> & { nodes: Record<string, { in_graph: boolean }>; edges: Record<string, { in_graph: boolean; score: number }> };

before(() => {
  circuitFile = path.join(tmpDir(), 'good.circuit.json');
  const r = runCliSync(['discover', stories260K, '--prompts', storiesPrompts, '--out', circuitFile, '--method', 'eap', '--top-n', '200'], { timeoutMs: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  circuit = JSON.parse(fs.readFileSync(circuitFile, 'utf8'));
});

function circuitVariant(mut: (c: typeof circuit) => unknown): string {
  const c = structuredClone(circuit);
  const out = (mut(c) ?? c) as object;
  const f = path.join(tmpDir(), 'x.circuit.json');
  fs.writeFileSync(f, typeof out === 'string' ? out : JSON.stringify(out));
  return f;
}

// ---- Crashes --------------------------------------------------------------------------------

test('crash: a value nested thousands deep in config.json, a safetensors header or a prompt field', () => {
  const cfg = fs.readFileSync(path.join(stories260K, 'config.json'), 'utf8').replace('"rope_theta": 10000', `"rope_theta": ${deepJson(20000)}`);
  userError(runCliSync(['logits', ckpt((d) => withFile(d, 'config.json', cfg)), ...prompt]), /config\.json/);
  const deepHeader = ckpt((d) => {
    const f = path.join(d, 'model.safetensors');
    const { header, data } = splitSafetensors(f);
    joinSafetensors(f, header.replace('"dtype":"F32"', `"dtype":${deepJson(20000)}`), data);
  });
  userError(runCliSync(['logits', deepHeader, ...prompt]), /model\.safetensors/);
  const deepPrompt = promptFile('p.jsonl', `{"prompt": ${deepJson(20000, '"x"')}, "target": " a", "corruptedPrompt": "b", "corruptedTarget": " c"}\n`);
  userError(runCliSync(['discover', stories260K, '--prompts', deepPrompt, '--out', path.join(tmpDir(), 'o.json')]), /p\.jsonl:1/);
});

test('crash: heads on a circuit with no attention head in it', () => {
  const f = circuitVariant((c) => {
    for (const [k, n] of Object.entries(c.nodes)) if (k.startsWith('a')) n.in_graph = false;
    for (const [k, e] of Object.entries(c.edges)) if (/a\d+\.h\d+/.test(k)) e.in_graph = false;
  });
  const r = runCliSync(['heads', stories260K, '--circuit', f, '--prompts', storiesPrompts]);
  assert.ok(classify(r) === 'ok' || classify(r) === 'user-error', r.stderr);
  if (r.status !== 0) userError(r, /x\.circuit\.json/, /no attention head/);
});

test('crash: a circuit whose provenance is {} or whose checkpoint is null, with a wrong shape', () => {
  for (const prov of [{}, { checkpoint: null }, 'text', null]) {
    const f = circuitVariant((c) => {
      (c.cfg as { n_layers: number }).n_layers = 4;
      c.nodes = {};
      c.edges = {};
      c.circuitscope = prov;
    });
    userError(runCliSync(['evaluate', stories260K, '--circuit', f, '--prompts', storiesPrompts]), /x\.circuit\.json/, /4-layer/);
  }
});

test('crash: a .json prompt array holding a non-object or null row', () => {
  for (const bad of ['null', '3', '"text"', '[1]']) {
    const f = promptFile('p.json', `[${row(goodRow)}, ${bad}]`);
    userError(runCliSync(['discover', stories260K, '--prompts', f, '--out', path.join(tmpDir(), 'o.json')]), /p\.json/, /row 2/);
  }
});

test('crash: a CSV row shorter than its header (unbalanced quote)', () => {
  const f = promptFile('p.csv', 'clean,corrupted,target,corrupted_target\n"Lily had a big ball,x\n');
  userError(runCliSync(['discover', stories260K, '--prompts', f, '--out', path.join(tmpDir(), 'o.json')]), /p\.csv/);
  const g = promptFile('q.csv', 'clean,corrupted,target,corrupted_target\nLily had,Lily has\n');
  userError(runCliSync(['discover', stories260K, '--prompts', g, '--out', path.join(tmpDir(), 'o.json')]), /q\.csv:2/, /4 columns/);
});

test('crash: vocab.json that is null', () => {
  const d = ckpt((dir) => {
    fs.rmSync(path.join(dir, 'tokenizer.json'));
    withFile(dir, 'vocab.json', 'null');
    withFile(dir, 'merges.txt', '#version: 0.2\na b\n');
  });
  userError(runCliSync(['logits', d, ...prompt]), /vocab\.json/);
});

test('crash: model.safetensors.index.json that is null or names a shard by a number', () => {
  for (const text of ['null', '{"weight_map": {"model.norm.weight": 5}}', '{"weight_map": []}', '{"weight_map": {"x": "../../etc/passwd"}}']) {
    const d = ckpt((dir) => withFile(dir, 'model.safetensors.index.json', text));
    userError(runCliSync(['logits', d, ...prompt]), /model\.safetensors\.index\.json/);
  }
});

test('crash: heads --tau 0', () => {
  userError(runCliSync(['heads', stories260K, '--circuit', circuitFile, '--prompts', storiesPrompts, '--tau', '0']), /--tau/);
});

test('crash: --out naming an existing directory or a path below a regular file fails before the run', () => {
  const dir = tmpDir();
  const r = runCliSync(['discover', stories260K, '--prompts', storiesPrompts, '--out', dir]);
  userError(r, /--out/, /folder/);
  assert.doesNotMatch(r.stderr, /attribution/, 'the run started before --out was checked');
  const file = path.join(dir, 'plain.txt');
  fs.writeFileSync(file, 'x');
  userError(runCliSync(['discover', stories260K, '--prompts', storiesPrompts, '--out', path.join(file, 'c.json')]), /--out/);
  userError(runCliSync(['compare', stories260K, stories260K, '--prompts', storiesPrompts, '--out', dir]), /--out/);
  userError(runCliSync(['heads', stories260K, '--circuit', circuitFile, '--prompts', storiesPrompts, '--out', dir]), /--out/);
});

test('crash: generate --max-new-tokens 0, and a prompt as long as the context', () => {
  const r = runCliSync(['generate', stories260K, '--max-new-tokens', '0']);
  assert.ok(classify(r) === 'user-error' || classify(r) === 'ok', r.stderr);
  const long = Array.from({ length: 600 }, () => 'the').join(' ');
  userError(runCliSync(['generate', stories260K, '--prompt', long, '--max-new-tokens', '3']), /context/, /512/);
  userError(runCliSync(['logits', stories260K, '--prompt', long]), /context/, /512/);
});

test('crash: model.safetensors that is a directory', () => {
  const d = ckpt((dir) => {
    fs.rmSync(path.join(dir, 'model.safetensors'));
    fs.mkdirSync(path.join(dir, 'model.safetensors'));
  });
  userError(runCliSync(['logits', d, ...prompt]), /model\.safetensors/);
});

test('crash and hang: --threads out of range, and other flags out of range, are refused before work starts', () => {
  for (const t of ['99999999999', '100000', '1.5', 'x', '-1']) userError(runCliSync(['logits', stories260K, ...prompt, '--threads', t], { timeoutMs: 10_000 }), /--threads/);
  const base = ['discover', stories260K, '--prompts', storiesPrompts, '--out', path.join(tmpDir(), 'o.json')];
  for (const [flag, v] of [
    ['--steps', '0'],
    ['--steps', '100000'],
    ['--batch-size', '0'],
    ['--top-n', '0'],
    ['--threshold', 'NaN'],
  ]) {
    userError(runCliSync([...base, flag, v], { timeoutMs: 10_000 }), new RegExp(flag));
  }
  userError(runCliSync(['logits', stories260K, ...prompt, '--top', '0']), /--top/);
});

// ---- Hangs ----------------------------------------------------------------------------------

test('hang: facts with more than five sharing one subject under one template', () => {
  const facts = Array.from({ length: 8 }, (_, i) => row({ subject: 'Lily', object: i % 2 ? 'ball' : 'cat', template: '{subject} had a big' })).join('\n');
  const f = promptFile('facts.jsonl', facts + '\n');
  const r = runCliSync(['discover', stories260K, '--prompts', f, '--out', path.join(tmpDir(), 'o.json')], { timeoutMs: 20_000 });
  userError(r, /facts\.jsonl/);
});

test('hang: a circuit claiming 1000 layers x 1000 heads, or 1e300 layers, is refused before a graph is built', () => {
  for (const [L, H] of [
    [1000, 1000],
    [1e300, 8],
    [5, 1e9],
  ]) {
    const f = circuitVariant(() => `{"cfg": {"n_layers": ${L}, "n_heads": ${H}}, "nodes": {}, "edges": {}}`);
    userError(runCliSync(['evaluate', stories260K, '--circuit', f, '--prompts', storiesPrompts], { timeoutMs: 15_000, heapMb: 512 }), /x\.circuit\.json/);
    userError(runCliSync(['heads', stories260K, '--circuit', f, '--prompts', storiesPrompts], { timeoutMs: 15_000, heapMb: 512 }), /x\.circuit\.json/);
  }
});

// ---- Silent wrong successes -----------------------------------------------------------------

test('silent: NaN, ±Inf or 3e38 weights are refused, naming the tensor or the prompt', () => {
  for (const v of [NaN, Infinity, -Infinity]) {
    const d = ckpt((dir) => patchF32(path.join(dir, 'model.safetensors'), 'model.layers.1.mlp.up_proj.weight', v, 7));
    userError(runCliSync(['logits', d, ...prompt]), /model\.layers\.1\.mlp\.up_proj\.weight/, /model\.safetensors/);
  }
  const big = ckpt((dir) => {
    for (let i = 0; i < 64; i++) patchF32(path.join(dir, 'model.safetensors'), 'model.norm.weight', 3e38, i);
  });
  userError(runCliSync(['logits', big, ...prompt]), /not finite/);
  userError(runCliSync(['discover', big, '--prompts', storiesPrompts, '--out', path.join(tmpDir(), 'o.json'), '--method', 'eap']), /not finite/, /stories260k\.jsonl:1/);
});

test('silent: a safetensors header length lowered into its padding is refused', () => {
  const d = ckpt((dir) => {
    const f = path.join(dir, 'model.safetensors');
    const { header, data } = splitSafetensors(f);
    joinSafetensors(f, header, data, -4);
  });
  userError(runCliSync(['logits', d, ...prompt]), /model\.safetensors/);
});

test('silent: rope_theta <= 0 and rms_norm_eps < 0 are refused', () => {
  for (const [k, v] of [
    ['rope_theta', '0'],
    ['rope_theta', '-5'],
    ['rms_norm_eps', '-1e-5'],
  ]) {
    const cfg = JSON.parse(fs.readFileSync(path.join(stories260K, 'config.json'), 'utf8'));
    cfg[k] = Number(v);
    userError(runCliSync(['logits', ckpt((d) => withFile(d, 'config.json', JSON.stringify(cfg))), ...prompt]), new RegExp(k));
  }
});

test('silent: a CSV correct_idx outside the vocabulary names the file and line', () => {
  const f = promptFile('ids.csv', 'clean,corrupted,correct_idx,incorrect_idx\nLily had a big ball. She loved her,Lily had a big cat. She loved her,9999,5\n');
  userError(runCliSync(['discover', stories260K, '--prompts', f, '--out', path.join(tmpDir(), 'o.json')]), /ids\.csv:2/, /vocabulary/);
});

test('silent: --no-bos with an empty prompt is refused', () => {
  userError(runCliSync(['logits', stories260K, '--prompt', '', '--no-bos']), /empty|zero tokens/);
  const f = promptFile('p.jsonl', [row(goodRow), row({ prompt: '', target: ' a', corruptedPrompt: '', corruptedTarget: ' b' })].join('\n'));
  userError(runCliSync(['discover', stories260K, '--prompts', f, '--out', path.join(tmpDir(), 'o.json'), '--no-bos']), /p\.jsonl:2/);
});

test('silent: a corrupted prompt identical to the clean one is refused', () => {
  const f = promptFile('p.jsonl', [row(goodRow), row({ ...goodRow, corruptedPrompt: goodRow.prompt, corruptedTarget: goodRow.target })].join('\n'));
  userError(runCliSync(['discover', stories260K, '--prompts', f, '--out', path.join(tmpDir(), 'o.json')]), /p\.jsonl:2/, /identical|same/);
});

test('silent: a duplicated tensor name in a safetensors header is refused', () => {
  const d = ckpt((dir) => {
    const f = path.join(dir, 'model.safetensors');
    const { header, data } = splitSafetensors(f);
    joinSafetensors(f, header.replace('"model.norm.weight":', '"model.norm.weight":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"model.norm.weight":'), data);
  });
  userError(runCliSync(['logits', d, ...prompt]), /model\.safetensors/, /model\.norm\.weight/, /twice|duplicate/);
});

test('silent: tokenizer files that Hugging Face would refuse are refused with the file and field', () => {
  const tj = JSON.parse(fs.readFileSync(path.join(stories260K, 'tokenizer.json'), 'utf8'));
  const cases: [string, (t: typeof tj) => void, RegExp][] = [
    ['empty vocab', (t) => (t.model.vocab = {}), /vocab/],
    ['unknown model type', (t) => (t.model.type = 'Magic'), /type/],
    ['three-part merges', (t) => (t.model.merges = ['a b c']), /merges/],
    ['merges not strings', (t) => (t.model.merges = [5]), /merges/],
    ['vocab id not a number', (t) => (t.model.vocab = { a: 'x' }), /vocab/],
    ['added token without id', (t) => (t.added_tokens = [{ content: 'x' }]), /added_tokens/],
  ];
  for (const [what, mut, re] of cases) {
    const t = structuredClone(tj);
    mut(t);
    userError(runCliSync(['logits', ckpt((d) => withFile(d, 'tokenizer.json', JSON.stringify(t))), ...prompt]), /tokenizer\.json/, re);
    void what;
  }
  const pair = (vocab: string, merges: string) =>
    ckpt((d) => {
      fs.rmSync(path.join(d, 'tokenizer.json'));
      withFile(d, 'vocab.json', vocab);
      withFile(d, 'merges.txt', merges);
    });
  userError(runCliSync(['logits', pair('["a","b"]', 'a b\n'), ...prompt]), /vocab\.json/);
  userError(runCliSync(['logits', pair('{}', 'a b\n'), ...prompt]), /vocab\.json/);
  userError(runCliSync(['logits', pair('{"a":0,"b":1,"ab":2}', 'a b c\n'), ...prompt]), /merges\.txt:1/);
});

test('silent: --steps 0 is refused', () => {
  userError(runCliSync(['discover', stories260K, '--prompts', storiesPrompts, '--out', path.join(tmpDir(), 'o.json'), '--steps', '0']), /--steps/);
});

// ---- Messages -------------------------------------------------------------------------------

test('messages: internal exception text never reaches the user; V8 JSON errors are one line', () => {
  const tj = JSON.parse(fs.readFileSync(path.join(stories260K, 'tokenizer.json'), 'utf8'));
  tj.model.merges = {};
  userError(runCliSync(['logits', ckpt((d) => withFile(d, 'tokenizer.json', JSON.stringify(tj))), ...prompt]), /tokenizer\.json/, /merges/);
  const nullNode = circuitVariant((c) => {
    (c.nodes as Record<string, unknown>)['a0.h0'] = null;
  });
  userError(runCliSync(['evaluate', stories260K, '--circuit', nullNode, '--prompts', storiesPrompts]), /x\.circuit\.json/, /a0\.h0/);
  for (const text of ['{\n"a": 1,\n"b": [1,\n2,,]\n}', '{"a":\n', '\u0000']) {
    userError(runCliSync(['logits', ckpt((d) => withFile(d, 'config.json', text)), ...prompt]), /config\.json/);
    userError(runCliSync(['evaluate', stories260K, '--circuit', circuitVariant(() => text), '--prompts', storiesPrompts]), /x\.circuit\.json/);
  }
});

test('messages: a missing tensor names the .safetensors file; tokenizer_config.json problems name that file', () => {
  const d = ckpt((dir) => {
    const f = path.join(dir, 'model.safetensors');
    const { header, data } = splitSafetensors(f);
    joinSafetensors(f, header.replace('"model.norm.weight"', '"model.norm.weigh"'), data);
  });
  userError(runCliSync(['logits', d, ...prompt]), /model\.safetensors/, /model\.norm\.weight/);
  for (const text of ['[1]', '{"additional_special_tokens": 5}', '{"bos_token": 7}', '{"eos_token": [1]}']) {
    userError(runCliSync(['logits', ckpt((dir) => withFile(dir, 'tokenizer_config.json', text)), ...prompt]), /tokenizer_config\.json/);
  }
});

test('messages: token ids outside the vocabulary and prompts longer than the context name the file and line', () => {
  const long = Array.from({ length: 600 }, () => 'the').join(' ');
  const f = promptFile('p.jsonl', [row(goodRow), row({ prompt: long + ' ball', target: ' x', corruptedPrompt: long + ' cat', corruptedTarget: ' y' })].join('\n'));
  userError(runCliSync(['discover', stories260K, '--prompts', f, '--out', path.join(tmpDir(), 'o.json')]), /p\.jsonl:2/, /context/);
});

// ---- Leftovers ------------------------------------------------------------------------------

test('leftovers: a temporary file left by a killed writer is removed by the next write of that file', () => {
  const dir = tmpDir();
  const target = path.join(dir, 'r.circuit.json');
  fs.writeFileSync(target, 'old');
  const stale = path.join(dir, `.r.circuit.json.2147483646.abc.tmp`);
  fs.writeFileSync(stale, 'half');
  const other = path.join(dir, `.other.json.2147483646.abc.tmp`);
  fs.writeFileSync(other, 'half');
  writeFileAtomic(target, 'new');
  assert.equal(fs.readFileSync(target, 'utf8'), 'new');
  assert.ok(!fs.existsSync(stale), 'the stale temporary file is still there');
  assert.ok(fs.existsSync(other), "another file's temporary file was removed");
  assert.deepEqual(fs.readdirSync(dir).sort(), ['.other.json.2147483646.abc.tmp', 'r.circuit.json']);
});
