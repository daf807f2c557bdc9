/**
 * Checkpoint folders as users have them: single and sharded safetensors, F16/BF16, run folders, and
 * every kind of bad input, each of which must give an error naming the file and tensor or field.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { Checkpoint, listRunCheckpoints } from '../../src/engine/model/checkpoint';
import { UserError } from '../../src/engine/errors';
import { Model } from '../../src/engine/model/runner';
import { readSafetensorsHeader } from '../../src/engine/model/safetensors';
import { gpt2TokenizerDir, gpt2Tiny, llamaTiny, repoRoot, tmpDir, writeCheckpoint } from '../helpers/tinyModels';

const prompt = [1, 403, 407, 261, 378];

async function logitsOf(dir: string): Promise<Float32Array> {
  const m = await Model.load(dir);
  try {
    return await m.lastLogits([prompt]);
  } finally {
    await m.dispose();
  }
}

test('sharded, F16 and BF16 checkpoints give the same logits as the F32 one', async () => {
  // Weights are multiples of 1/1024 with small numerators, so they are exact in every dtype.
  const model = llamaTiny({ tied: false, qkvBias: true });
  const root = tmpDir();
  const ref = await logitsOf(writeCheckpoint(path.join(root, 'f32'), model));
  for (const [name, opts] of [
    ['sharded', { shards: 3 }],
    ['f16', { dtype: 'F16' }],
    ['bf16', { dtype: 'BF16' }],
    ['bf16-sharded', { dtype: 'BF16', shards: 2 }],
  ] as const) {
    const dir = writeCheckpoint(path.join(root, name), model, opts);
    if ('shards' in opts) assert.ok(fs.existsSync(path.join(dir, 'model.safetensors.index.json')));
    assert.deepEqual(await logitsOf(dir), ref, `${name} logits differ from F32`);
  }
});

test('F16 and BF16 decoding rounds like the formats do', () => {
  // Values chosen so that F16 and BF16 each lose precision differently.
  const model = llamaTiny();
  const emb = model.tensors['model.embed_tokens.weight'].data;
  emb[0] = 1 / 3;
  emb[1] = 65504; // Largest F16 value.
  emb[2] = 1e-7; // F16 subnormal.
  const root = tmpDir();
  for (const [dtype, want] of [
    ['F16', [0.333251953125, 65504, 1.1920928955078125e-7]],
    ['BF16', [0.333984375, 65536, 1.0011717677116394e-7]],
  ] as const) {
    const dir = writeCheckpoint(path.join(root, dtype), model, { dtype });
    const got = Checkpoint.open(dir).weights.loadAll().WE.slice(0, 3);
    assert.deepEqual(Array.from(got), want, dtype);
  }
});

test('a run folder lists checkpoint-N in step order, and checkpoints without a tokenizer take the run’s', async () => {
  const run = tmpDir('cs-run-');
  for (const step of [100, 2, 10]) writeCheckpoint(path.join(run, `checkpoint-${step}`), gpt2Tiny({ seed: step }), { tokenizerFrom: null });
  fs.mkdirSync(path.join(run, 'checkpoint-7')); // Not a checkpoint: no config.json.
  fs.mkdirSync(path.join(run, 'logs'));
  for (const f of ['vocab.json', 'merges.txt', 'tokenizer_config.json']) fs.copyFileSync(path.join(gpt2TokenizerDir, f), path.join(run, f));
  const list = listRunCheckpoints(run);
  assert.deepEqual(
    list.map((r) => r.step),
    [2, 10, 100],
  );
  const ck = Checkpoint.open(list[0].dir);
  assert.equal(ck.tokenizer.dir, run);
  // vocab.json + merges.txt must tokenize exactly like the HF tokenizer.json does.
  assert.deepEqual(ck.tokenizer.encode('Hello world'), [15496, 995]);
  assert.equal(ck.bosId, 50256);
  // Opening the run folder itself explains what to do.
  assert.throws(() => Checkpoint.open(run), /run folder with 3 checkpoints \(checkpoint-2, checkpoint-10, checkpoint-100\)/);
});

/** Writes a valid one-tensor safetensors file, then lets `mutate` corrupt its bytes. */
function corruptFile(mutate: (buf: Buffer, headerLen: number) => Buffer): string {
  const dir = writeCheckpoint(path.join(tmpDir(), 'ck'), gpt2Tiny({ nLayer: 1, vocab: 50257 }), { tokenizerFrom: gpt2TokenizerDir });
  const file = path.join(dir, 'model.safetensors');
  const buf = fs.readFileSync(file);
  fs.writeFileSync(file, mutate(buf, Number(buf.readBigUInt64LE(0))));
  return dir;
}

function rewriteHeader(buf: Buffer, headerLen: number, edit: (h: Record<string, { data_offsets: number[]; shape: number[]; dtype: string }>) => void): Buffer {
  const h = JSON.parse(buf.subarray(8, 8 + headerLen).toString('utf8'));
  edit(h);
  // Offsets are relative to the data section, so a header of another length stays consistent.
  const json = Buffer.from(JSON.stringify(h));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, buf.subarray(8 + headerLen)]);
}

/** Asserts that opening + loading `dir` fails with a UserError whose message matches every pattern. */
async function expectUserError(dir: string, ...patterns: RegExp[]): Promise<void> {
  await assert.rejects(
    () => Model.load(dir),
    (e: unknown) => {
      assert.ok(e instanceof UserError, `expected a UserError, got ${(e as Error).stack}`);
      for (const p of patterns) assert.match((e as Error).message, p);
      return true;
    },
  );
}

test('bad safetensors files give clear errors naming the file and tensor', async () => {
  await expectUserError(
    corruptFile((b) => b.subarray(0, b.length - 100)),
    /model\.safetensors/,
    /out of range|truncated/,
  );
  await expectUserError(
    corruptFile((b) => b.subarray(0, 5)),
    /model\.safetensors/,
    /shorter than the 8-byte header length/,
  );
  await expectUserError(
    corruptFile((b) => {
      const c = Buffer.from(b);
      c.writeBigUInt64LE(BigInt(b.length + 10), 0);
      return c;
    }),
    /model\.safetensors/,
    /header length \d+ runs past the end of the file/,
  );
  await expectUserError(
    corruptFile((b, n) =>
      rewriteHeader(b, n, (h) => {
        const a = h['transformer.h.0.ln_1.bias'].data_offsets;
        const w = h['transformer.h.0.ln_1.weight'];
        w.data_offsets = [a[0] + 4, a[1] + 4];
      }),
    ),
    /model\.safetensors/,
    /overlap/,
    /transformer\.h\.0\.ln_1/,
  );
  await expectUserError(
    corruptFile((b, n) =>
      rewriteHeader(b, n, (h) => {
        h['transformer.ln_f.bias'].data_offsets = [99999999, 99999999 + 128];
      }),
    ),
    /'transformer\.ln_f\.bias'/,
    /out of range/,
  );
  await expectUserError(
    corruptFile((b, n) => {
      const c = Buffer.from(b);
      c.write('{', 8 + n - 1); // Break the JSON.
      return c;
    }),
    /model\.safetensors/,
    /invalid JSON/,
  );
});

test('a missing or wrongly shaped tensor names the tensor, the file and the expected shape', async () => {
  const missing = llamaTiny({ tied: false });
  delete (missing.tensors as Record<string, unknown>)['model.layers.1.mlp.up_proj.weight'];
  await expectUserError(writeCheckpoint(path.join(tmpDir(), 'm'), missing), /'model\.layers\.1\.mlp\.up_proj\.weight'/, /missing/, /\[48,32\]/);

  const untiedNoHead = llamaTiny({ tied: false });
  delete (untiedNoHead.tensors as Record<string, unknown>)['lm_head.weight'];
  await expectUserError(writeCheckpoint(path.join(tmpDir(), 'h'), untiedNoHead), /'lm_head\.weight'/, /tie_word_embeddings=false/);

  const shaped = llamaTiny();
  shaped.tensors['model.layers.0.self_attn.k_proj.weight'] = { shape: [32, 32], data: new Float32Array(32 * 32) };
  await expectUserError(writeCheckpoint(path.join(tmpDir(), 's'), shaped), /model\.safetensors/, /'model\.layers\.0\.self_attn\.k_proj\.weight'/, /shape \[32,32\]/, /implies \[16,32\]/);
});

test('config problems name config.json and the field', async () => {
  const unknown = llamaTiny();
  unknown.config.architectures = ['MambaForCausalLM'];
  await expectUserError(writeCheckpoint(path.join(tmpDir(), 'a'), unknown), /config\.json/, /unsupported architecture MambaForCausalLM; supported: GPT2LMHeadModel/);

  const unknownType = llamaTiny();
  delete unknownType.config.architectures;
  unknownType.config.model_type = 'mamba';
  await expectUserError(writeCheckpoint(path.join(tmpDir(), 't'), unknownType), /'model_type'/, /unsupported architecture mamba/);

  const noField = gpt2Tiny({ nLayer: 1 });
  delete noField.config.n_head;
  await expectUserError(writeCheckpoint(path.join(tmpDir(), 'f'), noField, { tokenizerFrom: gpt2TokenizerDir }), /config\.json/, /'n_head'/, /required field is missing/);

  const badJson = writeCheckpoint(path.join(tmpDir(), 'j'), llamaTiny());
  fs.writeFileSync(path.join(badJson, 'config.json'), '{"architectures": [');
  await expectUserError(badJson, /config\.json/, /invalid JSON/);
});

test('missing tokenizer, pickled weights and non-checkpoint folders are refused with what to do', async () => {
  await expectUserError(writeCheckpoint(path.join(tmpDir(), 'nt'), llamaTiny(), { tokenizerFrom: null }), /has no tokenizer/, /Copy the tokenizer files/);

  const pickled = path.join(tmpDir(), 'pt');
  fs.mkdirSync(pickled);
  fs.writeFileSync(path.join(pickled, 'config.json'), JSON.stringify(llamaTiny().config));
  fs.writeFileSync(path.join(pickled, 'pytorch_model.bin'), 'PK\x03\x04 not really a zip');
  await expectUserError(pickled, /pytorch_model\.bin/, /arbitrary code/, /safe_serialization=True/);

  await expectUserError(tmpDir(), /has no config\.json/);
  await expectUserError('/nonexistent/folder', /does not exist/);
});

test('the header reader accepts a real checkpoint written by another tool', () => {
  const { entries } = readSafetensorsHeader(path.join(repoRoot, '../shared/models/stories260K/model.safetensors'));
  assert.equal(entries.size, 47);
  assert.deepEqual(entries.get('model.embed_tokens.weight')?.shape, [512, 64]);
});

test('CLI errors go to stderr with exit code 1 and no stack trace', () => {
  const bad = llamaTiny();
  bad.config.architectures = ['MambaForCausalLM'];
  const dir = writeCheckpoint(path.join(tmpDir(), 'cli'), bad);
  const cli = path.join(repoRoot, 'dist/cli.js');
  const r = spawnSync(process.execPath, [cli, 'logits', dir, '--prompt', 'x'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /unsupported architecture MambaForCausalLM/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  const unknown = spawnSync(process.execPath, [cli, 'frobnicate'], { encoding: 'utf8' });
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown command 'frobnicate'/);
  const flag = spawnSync(process.execPath, [cli, 'generate', dir, '--max-new-tokens', 'lots'], { encoding: 'utf8' });
  assert.equal(flag.status, 1);
  assert.match(flag.stderr, /--max-new-tokens must be an integer/);
});
