/**
 * Specialized heads and the logit lens: head roles on a model whose heads have known roles by
 * construction, DLA ratios against a float64 computation from the reference forward, and logit-lens
 * ranks at the last row against the model's own output.
 */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { analyzeHeads } from '../../src/engine/analysis/heads';
import { classifyHead as headRole } from '../../src/shared/analysis';
import { logitLens } from '../../src/engine/analysis/lens';
import { readPromptSet, tokenizePairs, type TokenizedPair } from '../../src/engine/circuits/prompts';
import { Model } from '../../src/engine/model/runner';
import { gpt2Forward, type Mat } from '../helpers/reference';
import { repoRoot, stories260K, tmpDir, writeCheckpoint, type TinyModel } from '../helpers/tinyModels';

const d = 16;
const H = 2;
const e = 8;
const V = 512;
/** Tokens 100–149 are "subjects" in the constructed model; BOS (1) and the rest are not. */
const isSubjectToken = (t: number) => t >= 100 && t < 150;

/**
 * A one-layer GPT-2 (vocabulary 512, the stories260K tokenizer) whose head 0 attends to subject
 * tokens and head 1 to other non-BOS tokens. Embeddings put ±c on dims 0/1 by subjecthood (0 for BOS)
 * and a constant +c/−c on dims 4/5 (so every token carries the same "value" direction), with small
 * token-identity noise elsewhere in ± pairs, so every embedding has mean zero and LayerNorm only
 * rescales it. Each head's key reads dims 0 − 1 (head 1 with the opposite sign) against a constant
 * query bias; values read dims 4 − 5, and W_O writes them back to dim 4, where the tied unembedding's
 * column sum is large.
 */
function constructedModel(): TinyModel {
  const c = 1;
  const wte = new Float32Array(V * d);
  for (let t = 0; t < V; t++) {
    const row = wte.subarray(t * d, (t + 1) * d);
    const sgn = t === 1 ? 0 : isSubjectToken(t) ? 1 : -1;
    row[0] = sgn * c;
    row[1] = -sgn * c;
    row[4] = c;
    row[5] = -c;
    for (let k = 6; k < d; k += 2) {
      const noise = (((t * 37 + k * 11) % 17) - 8) / 40;
      row[k] = noise;
      row[k + 1] = -noise;
    }
  }
  const cAttn = new Float32Array(d * 3 * d); // [in, out]: q | k | v, each [h][e]
  const bAttn = new Float32Array(3 * d);
  const col = (which: number, h: number, j: number) => which * d + h * e + j;
  for (let h = 0; h < H; h++) {
    const sign = h === 0 ? 1 : -1;
    bAttn[col(0, h, 0)] = 12; // Constant query.
    cAttn[0 * 3 * d + col(1, h, 0)] = sign; // key = ±(x0 − x1)
    cAttn[1 * 3 * d + col(1, h, 0)] = -sign;
    cAttn[4 * 3 * d + col(2, h, 0)] = 1; // value = x4 − x5
    cAttn[5 * 3 * d + col(2, h, 0)] = -1;
  }
  const cProj = new Float32Array(d * d); // [(h e), d]
  for (let h = 0; h < H; h++) cProj[(h * e + 0) * d + 4] = 1;
  const t = (shape: number[], data?: Float32Array) => ({ shape, data: data ?? new Float32Array(shape.reduce((a, b) => a * b, 1)) });
  const ones = new Float32Array(d).fill(1);
  return {
    config: { architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', n_layer: 1, n_head: H, n_embd: d, vocab_size: V, n_positions: 64, layer_norm_epsilon: 1e-5, bos_token_id: 1, eos_token_id: 2 },
    tensors: {
      'transformer.wte.weight': t([V, d], wte),
      'transformer.wpe.weight': t([64, d]),
      'transformer.h.0.ln_1.weight': t([d], ones),
      'transformer.h.0.ln_1.bias': t([d]),
      'transformer.h.0.attn.c_attn.weight': t([d, 3 * d], cAttn),
      'transformer.h.0.attn.c_attn.bias': t([3 * d], bAttn),
      'transformer.h.0.attn.c_proj.weight': t([d, d], cProj),
      'transformer.h.0.attn.c_proj.bias': t([d]),
      'transformer.h.0.ln_2.weight': t([d], ones),
      'transformer.h.0.ln_2.bias': t([d]),
      'transformer.h.0.mlp.c_fc.weight': t([d, 4 * d]),
      'transformer.h.0.mlp.c_fc.bias': t([4 * d]),
      'transformer.h.0.mlp.c_proj.weight': t([4 * d, d]),
      'transformer.h.0.mlp.c_proj.bias': t([d]),
      'transformer.ln_f.weight': t([d], ones),
      'transformer.ln_f.bias': t([d]),
    },
  };
}

/** Prompts [BOS, relation…, subject…, relation…] with known subject spans. */
function constructedPrompts(): TokenizedPair[] {
  const rows: [number[], [number, number]][] = [
    [[1, 300, 101, 102, 310, 320, 330], [2, 4]],
    [[1, 120, 121, 122, 301, 302], [1, 4]],
    [[1, 305, 306, 140, 307, 308, 309], [3, 4]],
  ];
  return rows.map(([clean, span]) => ({ clean, corrupted: clean, cleanLabel: 5, corruptedLabel: 6, subjectSpan: span, pair: { prompt: '', target: '', corruptedPrompt: '', corruptedTarget: '', line: 0 } }));
}

/** The reference formula of method spec §4 in float64, from the reference forward's hooks. */
function referenceRatios(model: TinyModel, pairs: TokenizedPair[]): { subj: number[]; rel: number[] } {
  const wte = model.tensors['transformer.wte.weight'].data;
  const uSum = new Float64Array(d);
  for (let v = 0; v < V; v++) for (let i = 0; i < d; i++) uSum[i] += wte[v * d + i]; // Tied W_U = W_Eᵀ.
  const subj = [0, 0];
  const rel = [0, 0];
  for (const p of pairs) {
    const outs = new Map<string, Mat>();
    const pats = new Map<string, Mat>();
    gpt2Forward(model.tensors, model.config as never, p.clean, { record: (n, o) => outs.set(n, o), pattern: (n, A) => pats.set(n, A) });
    const T = p.clean.length;
    for (let h = 0; h < H; h++) {
      const Hh = outs.get(`a0.h${h}`)!;
      const A = pats.get(`a0.h${h}`)![T - 1];
      let s = 0;
      let r = 0;
      let tot = 0;
      for (let pos = 0; pos < T; pos++) {
        const dla = Hh[pos].reduce((acc, x, i) => acc + x * uSum[i], 0);
        tot += dla;
        if (pos >= p.subjectSpan![0] && pos < p.subjectSpan![1]) s += A[pos] * dla;
        else if (pos >= 1) r += A[pos] * dla;
      }
      subj[h] += s / tot / pairs.length;
      rel[h] += r / tot / pairs.length;
    }
  }
  return { subj, rel };
}

test('heads with a known role by construction get it, under both formulas; ratios match float64', async () => {
  const model = constructedModel();
  const dir = writeCheckpoint(path.join(tmpDir(), 'roles'), model, { tokenizerFrom: stories260K });
  const m = await Model.load(dir);
  const pairs = constructedPrompts();
  const paper = await analyzeHeads(m, pairs);
  const ref = referenceRatios(model, pairs);
  for (let h = 0; h < H; h++) {
    const got = paper.heads[h];
    assert.ok(Math.abs(got.ratioSubj - ref.subj[h]) <= 1e-4 * Math.max(1, Math.abs(ref.subj[h])), `a0.h${h} ratio_subj ${got.ratioSubj} vs float64 ${ref.subj[h]}`);
    assert.ok(Math.abs(got.ratioRel - ref.rel[h]) <= 1e-4 * Math.max(1, Math.abs(ref.rel[h])), `a0.h${h} ratio_rel ${got.ratioRel} vs float64 ${ref.rel[h]}`);
  }
  assert.equal(paper.heads[0].role, 'mover', `head 0 attends to the subject: ${JSON.stringify(paper.heads[0])}`);
  assert.equal(paper.heads[1].role, 'relation', `head 1 attends to relation tokens: ${JSON.stringify(paper.heads[1])}`);
  assert.ok(paper.heads[0].attnSubj > 0.95 && paper.heads[1].attnRel > 0.95, 'attention goes where it was built to');
  const corrected = await analyzeHeads(m, pairs, { formula: 'per-source' });
  assert.deepEqual(
    corrected.heads.map((x) => x.role),
    ['mover', 'relation'],
  );
  // Both heads write along dim 4, which every token's embedding shares, so no token is promoted over another by much;
  // the promoted list still has the requested length and is sorted.
  assert.equal(paper.heads[0].promotes.length, 5);
  assert.ok(paper.heads[0].promotes[0].logit >= paper.heads[0].promotes[4].logit);
  await m.dispose();
});

test('without subject fields, subjects are the tokens where clean and corrupted differ, and heads get the same roles', async () => {
  const model = constructedModel();
  const dir = writeCheckpoint(path.join(tmpDir(), 'roles-inferred'), model, { tokenizerFrom: stories260K });
  const m = await Model.load(dir);
  const explicit = constructedPrompts();
  // The same prompts with another subject of the same length in the corrupted prompt, and no subject field or span.
  const bare: TokenizedPair[] = explicit.map((p) => ({
    ...p,
    corrupted: p.clean.map((t, i) => (i >= p.subjectSpan![0] && i < p.subjectSpan![1] ? t + 20 : t)),
    subjectSpan: undefined,
  }));
  const a = await analyzeHeads(m, explicit);
  const b = await analyzeHeads(m, bare);
  assert.deepEqual(b.subjects, { field: 0, inferred: 3, notFound: 0, note: b.subjects.note });
  assert.match(b.subjects.note, /3 inferred as the tokens where the clean and corrupted prompts differ/);
  assert.deepEqual(a.subjects.field, 3);
  assert.equal(b.prompts, 3);
  assert.deepEqual(
    b.heads.map((h) => [h.role, h.ratioSubj, h.ratioRel]),
    a.heads.map((h) => [h.role, h.ratioSubj, h.ratioRel]),
  );
  // A 'subject' field that is not found on the tokens is not replaced by a guess.
  const given = bare.map((p) => ({ ...p, pair: { ...p.pair, subject: 'nowhere' } }));
  await assert.rejects(analyzeHeads(m, given), /3 skipped \('subject' field not found/);
  await m.dispose();
});

test('head roles follow the thresholds of the method (|R| > 10 mover, < 0.1 relation)', () => {
  assert.equal(headRole(0.5, 0.04), 'mover');
  assert.equal(headRole(0.5, -0.04), 'mover');
  assert.equal(headRole(0.004, 0.5), 'relation');
  assert.equal(headRole(0.3, 0.3), 'mixture');
  assert.equal(headRole(0.3, 0), 'mover');
  assert.equal(headRole(0, 0), 'mixture');
  assert.equal(headRole(0.5, 0.2, 3), 'mixture');
  assert.equal(headRole(0.5, 0.1, 3), 'mover');
});

test('logit lens: the final row equals the model’s own output ranks and probabilities', async () => {
  const m = await Model.load(stories260K);
  const pairs = tokenizePairs(m.tokenizer, readPromptSet(path.join(repoRoot, 'demo/prompts/stories260k.jsonl')), 1);
  const lens = await logitLens(m, pairs);
  assert.equal(lens.rows.length, m.spec.nLayers + 1);
  const logits = await m.lastLogits(pairs.map((p) => p.clean));
  pairs.forEach((p, i) => {
    const row = logits.subarray(i * 512, (i + 1) * 512);
    const rank = 1 + Array.from(row).filter((x) => x > row[p.cleanLabel]).length;
    const max = Math.max(...row);
    const prob = Math.exp(row[p.cleanLabel] - max) / Array.from(row).reduce((a, x) => a + Math.exp(x - max), 0);
    assert.equal(lens.prompts[i].rank[m.spec.nLayers], rank, `prompt ${i}`);
    assert.ok(Math.abs(lens.prompts[i].prob[m.spec.nLayers] - prob) < 1e-5, `prompt ${i}: ${lens.prompts[i].prob[m.spec.nLayers]} vs ${prob}`);
  });
  // The set was chosen so that the model gets every target right.
  assert.equal(lens.meanRank[m.spec.nLayers], 1);
  // Subject spans were found on tokens for every prompt.
  assert.ok(lens.prompts.every((r) => r.subjectRank !== undefined));
  await m.dispose();
});
