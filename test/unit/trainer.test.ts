/**
 * The demo lab's trainer: weight gradients against central finite differences of an independent
 * float64 loss (HF-layout reference forwards), packing, loss that falls on a memorization corpus,
 * checkpoints that load back bit-identically, determinism, the run folder and cancellation.
 */
import { familyDef } from '../../src/engine/model/families';
import { gpt2 } from '../../src/engine/model/families/gpt2';
import { saveTensors } from '../../src/engine/model/families/table';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { CancelledError } from '../../src/engine/errors';
import { packDocuments, type Block } from '../../src/lab/trainer/blocks';
import { saveModel } from '../../src/lab/trainer/checkpoints';
import { Trainer } from '../../src/lab/trainer/graph';
import { initModel, loadTrainableModel, mapWeights, type TrainableModel } from '../../src/lab/trainer/models';
import { train } from '../../src/lab/trainer/train';
import { listRunCheckpoints } from '../../src/engine/model/checkpoint';
import { Model, batchFeeds } from '../../src/engine/model/runner';
import { buildTransformer, type LoadedWeights } from '../../src/engine/model/transformer';
import { transpose2d } from '../../src/engine/model/weights';
import { GraphBuilder } from '../../src/engine/onnx/graphBuilder';
import { f32, Session, type HostTensor } from '../../src/engine/runtime/session';
import { gpt2Forward, llamaForward, neoxForward, type LlamaCfg, type Mat, type NeoxCfg, type Tensors } from '../helpers/reference';
import { gpt2Tiny, llamaTiny, maxAbsDiff, neoxTiny, rng, stories260K, tmpDir, writeCheckpoint } from '../helpers/tinyModels';

type Forward = (t: Tensors, ids: number[]) => Mat;

function asTensors(t: Record<string, { shape: readonly number[]; data: Float32Array }>): Tensors {
  return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, { shape: [...v.shape], data: v.data }]));
}

/** Mean next-token NLL over the real positions of the blocks, in float64 from the reference forward. */
function referenceLoss(forward: Forward, t: Tensors, blocks: readonly Block[]): number {
  let sum = 0;
  let count = 0;
  for (const blk of blocks) {
    const ids = blk.tokens.slice(0, blk.length);
    const logits = forward(t, ids);
    for (let p = 0; p + 1 < blk.length; p++) {
      const row = logits[p];
      let max = -Infinity;
      for (const v of row) max = Math.max(max, v);
      let z = 0;
      for (const v of row) z += Math.exp(v - max);
      sum += max + Math.log(z) - row[ids[p + 1]];
      count++;
    }
  }
  return sum / count;
}

/** Random blocks of the given real lengths, padded to `T` with `pad`. */
function randomBlocks(lengths: readonly number[], T: number, V: number, pad: number, seed: number): Block[] {
  const r = rng(seed);
  return lengths.map((n) => {
    const tokens = Array.from({ length: T }, (_, p) => (p < n ? 3 + Math.floor(r() * (V - 3)) : pad));
    return { tokens, length: n };
  });
}

/**
 * Compares the trainer's weight gradients, mapped to HF names, with central differences of the
 * reference loss on a sample of entries of every tensor. `skip` leaves out entries that are not
 * trained parameters (the value-bias part of GPT-2's c_attn.bias, which stays zero).
 */
async function checkWeightGradients(model: TrainableModel, forward: Forward, blocks: readonly Block[], skip: (name: string, i: number) => boolean = () => false): Promise<void> {
  const trainer = await Trainer.create(model, { threads: 1 });
  let result;
  try {
    result = await trainer.lossAndGradients(blocks);
  } finally {
    await trainer.dispose();
  }
  const t = asTensors(saveTensors(familyDef(model.spec.family), model.spec, model.weights));
  const g = saveTensors(familyDef(model.spec.family), model.spec, result.grads);
  const ref = referenceLoss(forward, t, blocks);
  assert.ok(Math.abs(result.loss - ref) <= 2e-6 * Math.abs(ref), `loss ${result.loss} vs reference ${ref}`);

  const used = new Set(blocks.flatMap((blk) => blk.tokens.slice(0, blk.length)));
  const d = model.spec.dModel;
  const failures: string[] = [];
  let checked = 0;
  let nonzero = 0;
  let margin = 0;
  const r = rng(7);
  for (const [name, tensor] of Object.entries(t)) {
    const grad = g[name].data;
    const scale = grad.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const coords = new Set<number>();
    while (coords.size < 6) coords.add(Math.floor(r() * tensor.data.length));
    // The rows of tokens in the batch take gradient through the lookup as well as through a tied head.
    if (/(wte|embed_tokens)\.weight$/.test(name)) for (const tok of [...used].slice(0, 4)) coords.add(tok * d + Math.floor(r() * d));
    const pairs: string[] = [];
    let bad = false;
    for (const i of [...coords].sort((a, b) => a - b)) {
      if (skip(name, i)) continue;
      const orig = tensor.data[i];
      const h = 1e-3;
      tensor.data[i] = orig + h;
      const xp = tensor.data[i];
      const lp = referenceLoss(forward, t, blocks);
      tensor.data[i] = orig - h;
      const xm = tensor.data[i];
      const lm = referenceLoss(forward, t, blocks);
      tensor.data[i] = orig;
      const fd = (lp - lm) / (xp - xm);
      const diff = Math.abs(grad[i] - fd);
      const tol = 1e-3 * Math.abs(fd) + 1e-5 * scale + 1e-9;
      const fails = diff > tol;
      margin = Math.max(margin, diff / tol);
      bad ||= fails;
      checked++;
      if (fd !== 0) nonzero++;
      pairs.push(`${fails ? '!' : ''}[${i}] ${grad[i].toPrecision(6)} vs ${fd.toPrecision(6)}`);
    }
    if (bad) failures.push(`${name} (scale ${scale.toExponential(3)}): ${pairs.slice(0, 8).join(', ')}`);
  }
  if (process.env.GRADCHECK_MARGINS) console.log(`margin ${margin.toFixed(3)} over ${checked} entries`);
  assert.equal(failures.length, 0, `graph vs finite differences:\n${failures.join('\n')}`);
  assert.ok(nonzero > checked / 2, `only ${nonzero} of ${checked} finite differences are non-zero, so the check compared little`);
}

test('weight gradients of a tiny GPT-2 match finite differences of a float64 reference loss', async () => {
  const tiny = gpt2Tiny({ vocab: 512, nPos: 16 });
  const model = loadTrainableModel(writeCheckpoint(path.join(tmpDir(), 'gpt2'), tiny));
  // Loading folded the value biases into c_proj's bias; the reference sees the same model as saved (v bias zero).
  const cfg = tiny.config as Parameters<typeof gpt2Forward>[1];
  const forward: Forward = (t, ids) => gpt2Forward(t, cfg, ids);
  const blocks = randomBlocks([8, 5], 8, 512, 2, 11);
  const d = model.spec.dModel;
  await checkWeightGradients(model, forward, blocks, (name, i) => name.endsWith('c_attn.bias') && i >= 2 * d);
});

test('weight gradients of a tiny Llama with grouped-query attention and tied embeddings match finite differences', async () => {
  const tiny = llamaTiny({ vocab: 512, nHead: 4, nKv: 2, tied: true });
  const model = loadTrainableModel(writeCheckpoint(path.join(tmpDir(), 'llama'), tiny));
  assert.equal(model.weights.WU, undefined, 'a tied head must train W_E itself, not an untied copy');
  const cfg = tiny.config as unknown as LlamaCfg;
  const forward: Forward = (t, ids) => llamaForward(t, cfg, ids);
  await checkWeightGradients(model, forward, randomBlocks([8, 6], 8, 512, 2, 12));
});

test('folding GPT-2 value biases for training keeps the function: saved tensors give the original logits', () => {
  const tiny = gpt2Tiny({ vocab: 512, nPos: 16 });
  const model = loadTrainableModel(writeCheckpoint(path.join(tmpDir(), 'gpt2'), tiny));
  const saved = saveTensors(familyDef(model.spec.family), model.spec, model.weights);
  assert.deepEqual(Object.keys(saved).sort(), Object.keys(tiny.tensors).sort(), 'tensor names as GPT2LMHeadModel saves them');
  const d = model.spec.dModel;
  assert.ok(saved['transformer.h.0.attn.c_attn.bias'].data.subarray(2 * d).every((x) => x === 0), 'value bias is saved as zero');
  const cfg = tiny.config as Parameters<typeof gpt2Forward>[1];
  const ids = [5, 17, 300, 42, 9, 111];
  const a = gpt2Forward(tiny.tensors, cfg, ids).flatMap((row) => [...row]);
  const b = gpt2Forward(asTensors(saved), cfg, ids).flatMap((row) => [...row]);
  const diff = maxAbsDiff(a, b);
  assert.ok(diff.max < 1e-5, diff.report);
});

test('two optimizer steps match AdamW written from torch.optim.AdamW, with clipping and decay on matrices only', async () => {
  const model = loadTrainableModel(writeCheckpoint(path.join(tmpDir(), 'gpt2'), gpt2Tiny({ vocab: 512, nPos: 16 })));
  const trainer = await Trainer.create(model, { threads: 1 });
  const blocks = randomBlocks([8, 7], 8, 512, 2, 13);
  const opts = { learningRate: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-6, weightDecay: 0.1, maxGradNorm: 0.5 };
  try {
    // Matrices and embeddings decay; biases and norm weights do not. The names say which, independently of the trainer's rule.
    for (const p of trainer.params) assert.equal(p.decay, /\.W_/.test(p.name), p.name);
    const x = trainer.params.map((p) => Float64Array.from(p.data));
    const m = x.map((a) => new Float64Array(a.length));
    const v = x.map((a) => new Float64Array(a.length));
    for (let t = 1; t <= 2; t++) {
      const g = (await trainer.lossAndGradients(blocks)).byParam.map((a) => Float64Array.from(a));
      const norm = Math.sqrt(g.reduce((s, a) => s + a.reduce((q, y) => q + y * y, 0), 0));
      assert.ok(norm > opts.maxGradNorm, `the gradient norm ${norm} must exceed the clip for this test to check clipping`);
      const clip = opts.maxGradNorm / (norm + 1e-6);
      const result = await trainer.step(blocks, opts);
      assert.ok(Math.abs(result.gradNorm - norm) <= 1e-9 * norm);
      // torch.optim.AdamW: p *= 1 - lr wd; m, v moments; p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps).
      trainer.params.forEach((p, k) => {
        for (let i = 0; i < x[k].length; i++) {
          const gi = g[k][i] * clip;
          if (p.decay) x[k][i] *= 1 - opts.learningRate * opts.weightDecay;
          m[k][i] = 0.9 * m[k][i] + 0.1 * gi;
          v[k][i] = 0.95 * v[k][i] + 0.05 * gi * gi;
          x[k][i] -= ((opts.learningRate / (1 - 0.9 ** t)) * m[k][i]) / (Math.sqrt(v[k][i]) / Math.sqrt(1 - 0.95 ** t) + opts.eps);
        }
        const diff = maxAbsDiff(p.data, x[k]);
        assert.ok(diff.max <= 1e-6, `${p.name} after step ${t}: ${diff.report}`);
      });
    }
  } finally {
    await trainer.dispose();
  }
});

test('packing keeps documents whole, pads with a mask, and cuts only documents longer than a block', () => {
  const docs = [[10, 11, 12], [20, 21], [30, 31, 32, 33, 34, 35], [40], Array.from({ length: 11 }, (_, i) => 50 + i)];
  const { blocks, splitDocuments, tokens } = packDocuments(docs, { blockSize: 8, bos: 1, eos: 2, pad: 0 });
  // Documents with separators: 5, 4, 8, 3, 13 tokens.
  assert.equal(tokens, 5 + 4 + 8 + 3 + 13);
  assert.equal(splitDocuments, 1);
  // A document that does not fit in the rest of a block starts the next one; only the long one is cut.
  const flat = blocks.map((b) => b.tokens.slice(0, b.length));
  assert.deepEqual(flat, [
    [1, 10, 11, 12, 2],
    [1, 20, 21, 2],
    [1, 30, 31, 32, 33, 34, 35, 2],
    [1, 40, 2],
    [1, 50, 51, 52, 53, 54, 55, 56],
    [57, 58, 59, 60, 2],
  ]);
  for (const b of blocks) {
    assert.equal(b.tokens.length, 8);
    assert.ok(b.tokens.slice(b.length).every((x) => x === 0));
  }
});

/** A small memorization corpus: short sentences, each a document. */
const corpus = [
  'Lily had a red ball.',
  'Tom saw a big dog in the park.',
  'The cat sat on the mat.',
  'Sam liked to eat apples.',
  'The sun was warm and bright.',
  'Mia found a small blue box.',
  'The bird sang a happy song.',
  'Ben ran fast to the tree.',
  'A frog jumped into the pond.',
  'The girl smiled at her mom.',
  'He gave the toy to his friend.',
  'They played with the kite all day.',
];

function tinyGpt2FromScratch(seed: number): TrainableModel {
  const config = gpt2.newConfig!({ vocabSize: 512, nLayer: 2, nHead: 4, nEmbd: 32, nPositions: 64, bosTokenId: 1, eosTokenId: 2 });
  return initModel(config, { seed, tokenizerDir: stories260K });
}

/** Logits of in-memory weights through the graph Model.load builds (tied heads get an untied copy there). */
async function inMemoryLogits(model: TrainableModel, seqs: number[][]): Promise<Float32Array> {
  const w: LoadedWeights = model.weights.WU ? model.weights : { ...model.weights, WU: transpose2d(model.weights.WE, model.spec.vocabSize, model.spec.dModel) };
  const b = new GraphBuilder();
  b.output('logits', buildTransformer(b, model.spec, w, { fullLogits: true }));
  const feeds: Record<string, HostTensor> = {};
  for (const [v, t] of b.tensors) if (v.kind === 'weight') feeds[v.name!] = f32(t.data as Float32Array, t.shape);
  const s = await Session.create(b.serialize({ weightsAsInputs: true }), { constantFeeds: feeds });
  try {
    return (await s.run(batchFeeds(model.spec, seqs).feeds, ['logits'])).logits.data as Float32Array;
  } finally {
    await s.dispose();
  }
}

/** Asserts two canonical weight sets are bit-identical, field by field. */
function assertSameWeights(a: LoadedWeights, b: LoadedWeights): void {
  const flat = (w: LoadedWeights) => {
    const out: [string, Float32Array][] = [];
    mapWeights(w, (x, key, l) => {
      out.push([`${l ?? ''}.${key}`, x]);
      return x;
    });
    return out;
  };
  const fa = flat(a);
  const fb = new Map(flat(b));
  assert.deepEqual(fa.map(([k]) => k).sort(), [...fb.keys()].sort());
  for (const [k, x] of fa) assert.ok(Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(Buffer.from(fb.get(k)!.buffer, fb.get(k)!.byteOffset, fb.get(k)!.byteLength)), `${k} differs after the round trip`);
}

test('a GPT-2 trained from scratch: the loss falls, checkpoints load back exactly, and the run folder lists in step order', async () => {
  const model = tinyGpt2FromScratch(1);
  const runDir = path.join(tmpDir(), 'run');
  const steps: number[] = [];
  const saved: string[] = [];
  const t0 = performance.now();
  const result = await train({
    model,
    documents: corpus,
    runDir,
    epochs: 12,
    batchSize: 2,
    blockSize: 32,
    learningRate: 1e-2,
    loggingSteps: 4,
    seed: 3,
    onProgress: (p) => (p.type === 'step' ? steps.push(p.step) : saved.push(p.dir)),
  });
  const seconds = (performance.now() - t0) / 1000;
  const losses = result.stepLosses;
  console.log(`gpt2 from scratch: ${losses.length} steps in ${seconds.toFixed(2)} s, ${result.tokensPerSecond.toFixed(0)} tokens/s, loss ${losses[0].toFixed(3)} -> ${losses[losses.length - 1].toFixed(3)}`);
  assert.ok(losses.length >= 24, `only ${losses.length} steps`);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  assert.ok(losses[0] > 5.5, `a fresh model over 512 tokens starts near ln 512; got ${losses[0]}`);
  assert.ok(mean(losses.slice(-result.stepsPerEpoch)) < 0.5 * losses[0], `loss did not fall: ${losses.map((l) => l.toFixed(2)).join(' ')}`);
  assert.deepEqual(steps, Array.from({ length: losses.length }, (_, i) => i + 1));

  // The run folder: one checkpoint per epoch at its global step, no checkpoint-0, nothing half written.
  const listed = listRunCheckpoints(runDir);
  assert.deepEqual(
    listed.map((c) => c.step),
    Array.from({ length: 12 }, (_, i) => (i + 1) * result.stepsPerEpoch),
  );
  assert.deepEqual(listed.map((c) => c.dir), saved);
  assert.deepEqual(fs.readdirSync(runDir).filter((f) => f.startsWith('.')), []);
  const last = listed[listed.length - 1];
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'trainer_state.json']) {
    assert.ok(fs.existsSync(path.join(last.dir, f)), `${f} missing from ${last.dir}`);
  }
  const state = JSON.parse(fs.readFileSync(path.join(last.dir, 'trainer_state.json'), 'utf8'));
  assert.equal(state.global_step, last.step);
  assert.equal(state.epoch, 12);
  assert.deepEqual(state.log_history.map((e: { step: number }) => e.step), Array.from({ length: Math.floor(last.step / 4) }, (_, i) => 4 * (i + 1)));
  assert.ok(Math.abs(state.log_history[0].loss - mean(losses.slice(0, 4))) < 1e-12);

  // Round trip: the checkpoint's canonical weights are the trained arrays, bit for bit, and so are the logits.
  assertSameWeights(loadTrainableModel(last.dir).weights, model.weights);
  const seqs = [[1, 45, 99, 300, 7, 2], [1, 17, 18]];
  const loaded = await Model.load(last.dir);
  try {
    const got = await loaded.allLogits(seqs);
    const want = await inMemoryLogits(model, seqs);
    assert.ok(Buffer.from(got.data.buffer, got.data.byteOffset, got.data.byteLength).equals(Buffer.from(want.buffer, want.byteOffset, want.byteLength)), maxAbsDiff(got.data, want).report);
  } finally {
    await loaded.dispose();
  }
});

test('continual pre-training of stories260K (Llama, GQA, tied): the loss falls and the checkpoint loads back exactly', async () => {
  const model = loadTrainableModel(stories260K);
  assert.equal(model.weights.WU, undefined);
  const runDir = path.join(tmpDir(), 'run');
  const t0 = performance.now();
  const result = await train({ model, documents: corpus, runDir, epochs: 4, batchSize: 2, blockSize: 64, learningRate: 5e-3, loggingSteps: 1, seed: 5 });
  const losses = result.stepLosses;
  console.log(
    `stories260K: ${losses.length} steps in ${((performance.now() - t0) / 1000).toFixed(2)} s, ${result.tokensPerSecond.toFixed(0)} tokens/s, loss ${losses[0].toFixed(3)} -> ${losses[losses.length - 1].toFixed(3)}`,
  );
  assert.ok(losses[losses.length - 1] < 0.8 * losses[0], `loss did not fall: ${losses.map((l) => l.toFixed(2)).join(' ')}`);
  const last = listRunCheckpoints(runDir).at(-1)!;
  const cfg = JSON.parse(fs.readFileSync(path.join(last.dir, 'config.json'), 'utf8'));
  assert.equal(cfg.tie_word_embeddings, true);
  assert.equal(cfg.num_key_value_heads, 4);
  assert.ok(fs.existsSync(path.join(last.dir, 'generation_config.json')));
  // The checkpoint has the tensors of the HF-saved original: the same names, shapes and dtype.
  const header = (file: string) => {
    const buf = fs.readFileSync(file);
    const json = JSON.parse(buf.subarray(8, 8 + Number(buf.readBigUInt64LE(0))).toString('utf8'));
    delete json.__metadata__;
    return Object.fromEntries(Object.entries(json as Record<string, { dtype: string; shape: number[] }>).map(([k, v]) => [k, `${v.dtype}[${v.shape}]`]));
  };
  assert.deepEqual(header(path.join(last.dir, 'model.safetensors')), header(path.join(stories260K, 'model.safetensors')));
  assertSameWeights(loadTrainableModel(last.dir).weights, model.weights);
  const seqs = [[1, 403, 407, 261, 9, 13]];
  const loaded = await Model.load(last.dir);
  try {
    const got = (await loaded.allLogits(seqs)).data;
    const want = await inMemoryLogits(model, seqs);
    assert.ok(Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(Buffer.from(want.buffer, want.byteOffset, want.byteLength)), maxAbsDiff(got, want).report);
  } finally {
    await loaded.dispose();
  }
});

test('two runs with the same seed and one thread write byte-identical checkpoints; another seed does not', async () => {
  const run = async (seed: number): Promise<Buffer[]> => {
    const runDir = path.join(tmpDir(), 'run');
    await train({ model: tinyGpt2FromScratch(seed), documents: corpus, runDir, epochs: 2, batchSize: 2, blockSize: 32, learningRate: 1e-2, seed, threads: 1 });
    return listRunCheckpoints(runDir).map((c) => fs.readFileSync(path.join(c.dir, 'model.safetensors')));
  };
  const a = await run(9);
  const b = await run(9);
  const c = await run(10);
  assert.equal(a.length, 2);
  a.forEach((x, i) => assert.ok(x.equals(b[i]), `checkpoint ${i} differs between identical runs`));
  assert.ok(!a[1].equals(c[1]), 'a different seed gave the same weights');
});

test('saveModel round trips a Llama with q/k/v and output biases and an untied head, and a GPT-NeoX', () => {
  const cases: [string, ReturnType<typeof llamaTiny>, (t: Tensors, ids: number[]) => Mat][] = [
    ['llama', llamaTiny({ vocab: 512, qkvBias: true, tied: false }), (t, ids) => llamaForward(t, cases[0][1].config as unknown as LlamaCfg, ids)],
    ['neox', neoxTiny({ vocab: 512 }), (t, ids) => neoxForward(t, cases[1][1].config as unknown as NeoxCfg, ids)],
  ];
  for (const [name, tiny, forward] of cases) {
    const model = loadTrainableModel(writeCheckpoint(path.join(tmpDir(), 'src'), tiny));
    const dir = path.join(tmpDir(), 'copy');
    saveModel(dir, model);
    assert.deepEqual(Object.keys(saveTensors(familyDef(model.spec.family), model.spec, model.weights)).sort(), Object.keys(tiny.tensors).sort(), `${name}: tensor names`);
    assertSameWeights(loadTrainableModel(dir).weights, model.weights);
    // The saved v bias is zero and the output bias holds the fold; the function is the original one.
    const ids = [1, 40, 41, 300, 7];
    const saved = asTensors(saveTensors(familyDef(model.spec.family), model.spec, model.weights));
    const diff = maxAbsDiff(forward(tiny.tensors, ids).flatMap((r) => [...r]), forward(saved, ids).flatMap((r) => [...r]));
    assert.ok(diff.max < 1e-5, `${name}: ${diff.report}`);
  }
});

test('initModel draws weights as HF does: normal(0, 0.02), GPT-2 residual projections scaled, norms one, biases zero', () => {
  const model = tinyGpt2FromScratch(4);
  const stats = (x: Float32Array) => {
    const mean = x.reduce((a, b) => a + b, 0) / x.length;
    return { mean, std: Math.sqrt(x.reduce((a, b) => a + (b - mean) ** 2, 0) / x.length) };
  };
  const close = (x: Float32Array, std: number, what: string) => {
    const s = stats(x);
    assert.ok(Math.abs(s.mean) < (4 * std) / Math.sqrt(x.length) && Math.abs(s.std / std - 1) < 0.05, `${what}: mean ${s.mean}, std ${s.std}, want 0 and ${std}`);
  };
  const w = model.weights;
  close(w.WE, 0.02, 'W_E');
  close(w.Wpos!, 0.02, 'W_pos');
  close(w.layers[0].WQ, 0.02, 'W_Q');
  close(w.layers[1].Win, 0.02, 'W_in');
  close(w.layers[0].WO, 0.02 / Math.sqrt(4), 'W_O');
  close(w.layers[1].Wout, 0.02 / Math.sqrt(4), 'W_out');
  assert.ok(w.layers[0].ln1W!.every((x) => x === 1) && w.lnfW.every((x) => x === 1));
  assert.ok([w.lnfB!, w.layers[0].bO!, w.layers[0].bQ!, w.layers[1].bin!].every((b) => b.every((x) => x === 0)));
  assert.equal(w.WU, undefined);
  // The same seed gives the same weights.
  assert.ok(Buffer.from(tinyGpt2FromScratch(4).weights.WE.buffer).equals(Buffer.from(w.WE.buffer)));
});

test('a run stops at an abort before the next step and leaves no half-written checkpoint; a used run folder is refused', async () => {
  const runDir = path.join(tmpDir(), 'run');
  const ac = new AbortController();
  await assert.rejects(
    train({
      model: tinyGpt2FromScratch(1),
      documents: corpus,
      runDir,
      epochs: 3,
      batchSize: 2,
      blockSize: 32,
      learningRate: 1e-2,
      signal: ac.signal,
      onProgress: (p) => {
        // Abort in the middle of the second epoch: the first checkpoint stays, the second is never started.
        if (p.type === 'checkpoint') ac.abort();
      },
    }),
    CancelledError,
  );
  assert.deepEqual(listRunCheckpoints(runDir).length, 1);
  assert.deepEqual(fs.readdirSync(runDir).filter((f) => f.startsWith('.')), []);
  await assert.rejects(
    train({ model: tinyGpt2FromScratch(1), documents: corpus, runDir, epochs: 1, batchSize: 2, blockSize: 32, learningRate: 1e-2 }),
    /already has 1 checkpoints/,
  );
});
