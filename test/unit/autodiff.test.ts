/**
 * The autodiff walk: pruning, accumulation, seeds, refusals, and end-to-end gradients of small
 * transformers (a hand-built GPT-2-like block, and the model compiler's own graphs) checked by
 * finite differences.
 */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { gradients } from '../../src/engine/onnx/autodiff';
import { GraphBuilder, type Value } from '../../src/engine/onnx/graphBuilder';
import type { ModelSpec } from '../../src/engine/model/config';
import { buildTransformer, ropeTables, type LoadedWeights } from '../../src/engine/model/transformer';
import type { LayerWeights } from '../../src/engine/model/weights';
import { Session, i64, type HostTensor } from '../../src/engine/runtime/session';
import { checkGradients, lossWeights, randomF32, uniform, type CheckOptions } from '../helpers/gradCheck';

const sumAll = (b: GraphBuilder, v: Value): Value => b.reduceSum(v, v.shape.map((_, i) => i), false);

async function runGraph(b: GraphBuilder, feeds: Record<string, HostTensor>): Promise<Record<string, Float32Array>> {
  const s = await Session.create(b.serialize());
  const out = await s.run(feeds);
  await s.dispose();
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
}

async function fd(name: string, opts: CheckOptions): Promise<Record<string, Float32Array>> {
  const r = await checkGradients(opts);
  if (process.env.GRADCHECK_MARGINS) console.log(`margin ${r.margin.toFixed(3)} ${name}`);
  assert.ok(r.ok, `${name}:\n${r.message}`);
  for (const [input, g] of Object.entries(r.grads)) {
    assert.ok(g.some((v) => v !== 0), `${name}: gradient of ${input} is all zeros, so the check compared nothing`);
  }
  return r.grads;
}

function assertClose(got: Float32Array, want: ArrayLike<number>, what: string, tol: number): void {
  assert.equal(got.length, want.length, `${what}: length`);
  let maxdiff = 0;
  for (let i = 0; i < got.length; i++) maxdiff = Math.max(maxdiff, Math.abs(got[i] - want[i]));
  const pairs = Array.from({ length: Math.min(5, got.length) }, (_, i) => `[${i}] ${got[i]} vs ${want[i]}`);
  assert.ok(maxdiff <= tol, `${what}: maxdiff=${maxdiff}; first 5 pairs: ${pairs.join(', ')}`);
}

// ---- the walk ----

test('pruning: a branch that does not lead to wrt adds no gradient nodes, and weights not asked for get none', () => {
  /** Builds sum((x W)²) [+ an unrelated branch], and returns the ops that `gradients` appended. */
  const backwardOps = (withBranch: boolean, withW: boolean): string[] => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [3, 4]);
    const W = b.weight('W', uniform(8, 1), [4, 2]);
    const a = b.matMul(x, W); // [3, 2]
    let loss = sumAll(b, a.mul(a));
    if (withBranch) {
      // This branch reads only z, and includes an op that has no VJP rule at all.
      const z = b.input('z', 'float32', [3, 2]);
      loss = b.add(loss, sumAll(b, b.unary('Hardmax', b.unary('Tanh', b.unary('Exp', z)))));
    }
    const before = b.nodes.length;
    const g = gradients(b, loss, withW ? [x, W] : [x]);
    assert.ok(g.every((v) => v !== undefined));
    return b.nodes.slice(before).map((n) => n.op);
  };
  const plain = backwardOps(false, false);
  assert.deepEqual(backwardOps(true, false), plain);
  assert.ok(plain.length > 0);
  // Asking for W as well adds the ops of its gradient, and only then.
  assert.ok(backwardOps(false, true).length > plain.length);
});

test('pruning: the gradient graph runs and gives d/dx sum((x W)²) = 2 (x W) Wᵀ', async () => {
  const b = new GraphBuilder();
  const xs = randomF32([3, 4], 2);
  const Wd = uniform(8, 3);
  const x = b.input('x', 'float32', [3, 4]);
  const W = b.weight('W', Wd, [4, 2]);
  const a = b.matMul(x, W);
  const [dx] = gradients(b, sumAll(b, a.mul(a)), [x]);
  b.output('dx', dx!);
  const got = (await runGraph(b, { x: xs })).dx;
  const X = xs.data as Float32Array;
  const want: number[] = [];
  for (let i = 0; i < 3; i++) {
    for (let k = 0; k < 4; k++) {
      let s = 0;
      for (let j = 0; j < 2; j++) {
        let xw = 0;
        for (let l = 0; l < 4; l++) xw += X[i * 4 + l] * Wd[l * 2 + j];
        s += 2 * xw * Wd[k * 2 + j];
      }
      want.push(s);
    }
  }
  assertClose(got, want, 'd/dx', 1e-5);
});

test('an op without a rule on the path throws No VJP for <op>', () => {
  const b = new GraphBuilder();
  const x = b.input('x', 'float32', [2, 3]);
  const loss = sumAll(b, b.unary('Hardmax', x));
  assert.throws(() => gradients(b, loss, [x]), /No VJP for Hardmax/);
});

test('a value used several times accumulates: d/dx sum(x·x·x) = 3x², and d/dx x = seed', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', 'float32', [4]);
  const [dx] = gradients(b, sumAll(b, x.mul(x).mul(x)), [x]);
  b.output('dx', dx!);
  // A non-scalar target needs a seed of its shape; the gradient of x with respect to itself is the seed.
  const seed = b.input('seed', 'float32', [4]);
  const cube = x.mul(x).mul(x); // [4]
  assert.throws(() => gradients(b, cube, [x]), /not a scalar/);
  const [dSeeded, dSelf] = gradients(b, cube, [x, cube], seed);
  b.output('dSeeded', dSeeded!);
  b.output('dSelf', dSelf!);
  const xs = [1, -2, 0.5, 3];
  const sd = [1, 0.5, -1, 2];
  const vec = (v: number[]): HostTensor => ({ dtype: 'float32', shape: [4], data: Float32Array.from(v) });
  const out = await runGraph(b, { x: vec(xs), seed: vec(sd) });
  assertClose(out.dx, xs.map((v) => 3 * v * v), 'd sum(x³)', 1e-5);
  assertClose(out.dSeeded, xs.map((v, i) => 3 * v * v * sd[i]), 'seeded', 1e-5);
  assertClose(out.dSelf, sd, 'self', 0);
});

test('values the target does not depend on, and integer values, get undefined', () => {
  const b = new GraphBuilder();
  const x = b.input('x', 'float32', [3]);
  const other = b.input('other', 'float32', [3]);
  const ids = b.input('ids', 'int64', [2]);
  const W = b.weight('W', uniform(6, 4), [3, 2]);
  const loss = sumAll(b, b.gather(W, ids, 0).mul(x.reshape([1, 3]).matMul(W)));
  const [dx, dOther, dIds, dW] = gradients(b, loss, [x, other, ids, W]);
  assert.ok(dx && dW);
  assert.equal(dOther, undefined);
  assert.equal(dIds, undefined);
});

// ---- a hand-built GPT-2-like block ----

/** Builds one pre-norm block with learned positions, partial rotary q/k, a gated MLP and a tied head. */
function gptLike(b: GraphBuilder, x: Record<string, Value>): Value {
  const [V, P, d, H, e, r, m] = [11, 6, 8, 2, 4, 2, 12];
  let seed = 100;
  const W = (name: string, shape: number[], scale = 0.5, center = 0): Value =>
    b.weight(name, uniform(shape.reduce((p, q) => p * q, 1), seed++, center - scale, center + scale), shape);
  const { tokens, positions, attnBias, cos, sin } = x;
  /** rotate_half RoPE on the first r dims of [batch, H, pos, e]. */
  const rope = (t: Value): Value => {
    const tr = b.slice(t, -1, 0, r); // [batch, H, pos, r]
    const rotated = b.concat([b.slice(tr, -1, r / 2, r).neg(), b.slice(tr, -1, 0, r / 2)], -1); // [batch, H, pos, r]
    const out = b.add(b.mul(tr, cos), b.mul(rotated, sin)); // [batch, H, pos, r]
    return b.concat([out, b.slice(t, -1, r, e)], -1); // [batch, H, pos, e]
  };
  const WE = W('WE', [V, d]);
  const x0 = b.add(b.gather(WE, tokens, 0), b.gather(W('Wpos', [P, d]), positions, 0)); // [batch, pos, d]
  const h = b.unsqueeze(b.layerNorm(x0, W('ln1.w', [d], 0.2, 1), W('ln1.b', [d], 0.2), 1e-5), [1]); // [batch, 1, pos, d]
  const q = rope(b.add(b.matMul(h, W('WQ', [H, d, e])), W('bQ', [H, 1, e]))); // [batch, H, pos, e]
  const k = rope(b.matMul(h, W('WK', [H, d, e]))); // [batch, H, pos, e]
  const v = b.matMul(h, W('WV', [H, d, e])); // [batch, H, pos, e]
  const scores = b.add(b.mul(b.matMul(q, b.transpose(k, [0, 1, 3, 2])), 1 / Math.sqrt(e)), attnBias); // [batch, H, pos, pos]
  const z = b.matMul(b.softmax(scores, -1), v); // [batch, H, pos, e]
  const zFlat = b.reshape(b.transpose(z, [0, 2, 1, 3]), [0, 0, H * e]); // [batch, pos, H e]
  const attnOut = b.add(b.matMul(zFlat, b.reshape(W('WO', [H, e, d]), [H * e, d])), W('bO', [d], 0.2)); // [batch, pos, d]
  const resid = b.add(x0, attnOut); // [batch, pos, d]
  const h2 = b.rmsNorm(resid, W('ln2.w', [d], 0.2, 1), 1e-5); // [batch, pos, d]
  const pre = b.add(b.matMul(h2, W('Win', [d, m])), W('bin', [m], 0.2)); // [batch, pos, m]
  const post = b.mul(b.geluTanh(pre), b.silu(b.matMul(h2, W('Wgate', [d, m])))); // [batch, pos, m]
  const out = b.add(resid, b.matMul(post, W('Wout', [m, d]))); // [batch, pos, d]
  const normed = b.layerNorm(out, W('lnf.w', [d], 0.2, 1), null, 1e-5); // [batch, pos, d]
  const logits = b.matMul(normed, b.transpose(WE, [1, 0])); // [batch, pos, V]
  return b.unary('Log', b.softmax(logits, -1)); // [batch, pos, V]
}

/** Causal additive mask [pos, pos]: 0 on and below the diagonal, -1e9 above. */
function causal(p: number): HostTensor {
  const data = new Float32Array(p * p);
  for (let i = 0; i < p; i++) for (let j = i + 1; j < p; j++) data[i * p + j] = -1e9;
  return { dtype: 'float32', shape: [p, p], data };
}

test('end to end: a GPT-2-like block (layerNorm, rotary, attention, rmsNorm, geluTanh, silu) by finite differences', async () => {
  const nPos = 4;
  const angles = randomF32([nPos, 1], 7, 0, 3);
  const a = angles.data as Float32Array;
  const cos = Float32Array.from({ length: nPos * 2 }, (_, i) => Math.cos(a[i >> 1]));
  const sin = Float32Array.from({ length: nPos * 2 }, (_, i) => Math.sin(a[i >> 1]));
  await fd('gpt-like', {
    inputs: {
      tokens: { value: i64([3, 1, 3, 7, 10, 0, 2, 2], [2, nPos]), shape: ['batch', 'pos'] },
      positions: { value: i64([0, 1, 2, 3], [nPos]), shape: ['pos'] },
      attnBias: { value: causal(nPos), shape: ['pos', 'pos'], wrt: false },
      cos: { value: { dtype: 'float32', shape: [nPos, 2], data: cos }, shape: ['pos', 2], wrt: false },
      sin: { value: { dtype: 'float32', shape: [nPos, 2], data: sin }, shape: ['pos', 2], wrt: false },
    },
    build: gptLike,
    weights: true,
    samples: 16,
  });
});

// ---- the model compiler's graphs ----

const baseSpec: ModelSpec = {
  family: 'gpt2',
  architecture: 'GPT2LMHeadModel',
  nLayers: 1,
  nHeads: 2,
  nKvHeads: 2,
  dModel: 8,
  dHead: 4,
  dMlp: 16,
  vocabSize: 13,
  maxPositions: 8,
  norm: 'layernorm',
  normEps: 1e-5,
  act: 'gelu_new',
  gatedMlp: false,
  positional: 'learned',
  rotaryDim: 4,
  rope: { type: 'default', theta: 10000 },
  parallelAttnMlp: false,
  sharedBlockNorm: false,
  preNorm: true,
  postNorm: false,
  qkNorm: 'none',
  normWeights: true,
  attnScale: 0.5,
  embedScale: 1,
  layerTypes: ['full'],
  tiedEmbeddings: true,
  qkvBias: true,
  oBias: true,
  mlpBias: true,
  unembedBias: false,
  scaleByInverseLayer: false,
  bosTokenId: undefined,
  eosTokenId: undefined,
};

/** Random weights in canonical layout; norm gains sit near 1. */
function randomWeights(s: ModelSpec, seed: number): LoadedWeights {
  const { dModel: d, nHeads: H, nKvHeads: Hkv, dHead: e, dMlp: m, vocabSize: V } = s;
  let k = seed;
  const w = (n: number, scale = 0.5, center = 0): Float32Array => uniform(n, k++, center - scale, center + scale);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < s.nLayers; l++) {
    const norms = s.norm === 'layernorm';
    layers.push({
      ln1W: w(d, 0.2, 1),
      ln1B: norms ? w(d, 0.2) : undefined,
      ln2W: w(d, 0.2, 1),
      ln2B: norms ? w(d, 0.2) : undefined,
      WQ: w(H * d * e),
      bQ: s.qkvBias ? w(H * e, 0.2) : undefined,
      WK: w(Hkv * d * e),
      bK: s.qkvBias ? w(Hkv * e, 0.2) : undefined,
      WV: w(Hkv * d * e),
      WO: w(H * e * d),
      bO: s.oBias ? w(d, 0.2) : undefined,
      Win: w(d * m),
      bin: s.mlpBias ? w(m, 0.2) : undefined,
      Wgate: s.gatedMlp ? w(d * m) : undefined,
      Wout: w(m * d),
      bout: s.mlpBias ? w(d, 0.2) : undefined,
    });
  }
  return {
    WE: w(V * d),
    Wpos: s.positional === 'learned' ? w(s.maxPositions * d) : undefined,
    layers,
    lnfW: w(d, 0.2, 1),
    lnfB: s.norm === 'layernorm' ? w(d, 0.2) : undefined,
    WU: s.tiedEmbeddings ? undefined : w(d * V),
  };
}

/** The graph inputs the compiler declares, for a batch of two rows of four tokens. */
function compilerFeeds(s: ModelSpec): Record<string, HostTensor> {
  const nPos = 4;
  const select = new Float32Array(2 * nPos);
  select[nPos - 1] = 1;
  select[nPos + 2] = 1;
  const feeds: Record<string, HostTensor> = {
    tokens: i64([1, 5, 12, 5, 0, 7, 3, 3], [2, nPos]),
    attn_bias: causal(nPos),
    select: { dtype: 'float32', shape: [2, 1, nPos], data: select },
  };
  if (s.positional === 'learned') {
    feeds.positions = i64([0, 1, 2, 3], [nPos]);
  } else {
    const { cos, sin } = ropeTables(s, nPos);
    feeds.rope_cos = { dtype: 'float32', shape: [nPos, s.rotaryDim], data: cos };
    feeds.rope_sin = { dtype: 'float32', shape: [nPos, s.rotaryDim], data: sin };
  }
  return feeds;
}

test('end to end: the compiled GPT-2 graph (learned positions, tied head), gradients of every weight', async () => {
  const s = baseSpec;
  await fd('compiled gpt2', {
    inputs: {},
    feeds: compilerFeeds(s),
    build: (b) => buildTransformer(b, s, randomWeights(s, 200)),
    weights: true,
    outShape: [2, 1, s.vocabSize],
    samples: 12,
  });
});

test('end to end: the compiled split-head graph of a grouped-query, partial-rotary, gated model', async () => {
  const s: ModelSpec = {
    ...baseSpec,
    family: 'llama',
    architecture: 'LlamaForCausalLM',
    nLayers: 2,
    nHeads: 4,
    nKvHeads: 2,
    dMlp: 12,
    norm: 'rmsnorm',
    act: 'silu',
    gatedMlp: true,
    positional: 'rotary',
    rotaryDim: 2,
    layerTypes: ['full', 'full'],
    parallelAttnMlp: true,
    tiedEmbeddings: false,
    oBias: false,
    mlpBias: false,
  };
  await fd('compiled split llama', {
    inputs: {},
    feeds: compilerFeeds(s),
    build: (b) => buildTransformer(b, s, randomWeights(s, 300), { split: true }),
    weights: true,
    outShape: [2, 1, s.vocabSize],
    samples: 8,
  });
});

test('gradients with respect to an activation (a hook point) match finite differences of a perturbation there', async () => {
  const s = baseSpec;
  const weights = randomWeights(s, 400);
  const feeds = compilerFeeds(s);
  const hookName = 'blocks.0.hook_resid_mid';
  // Finite differences of the loss in a perturbation added at the hook point, which starts at zero.
  const viaDelta = await fd('hook delta', {
    inputs: { delta: { value: randomF32([2, 4, s.dModel], 0, 0, 0), shape: ['batch', 'pos', s.dModel] } },
    feeds,
    build: (b, { delta }) => buildTransformer(b, s, weights, { hook: (n, v) => (n === hookName ? v.add(delta) : v) }),
    outShape: [2, 1, s.vocabSize],
  });
  // The same loss without the perturbation, differentiated with respect to the hook's value itself,
  // and together with a weight upstream of it, so that the walk must continue past the activation.
  const b = new GraphBuilder();
  let act: Value | undefined;
  const logits = buildTransformer(b, s, weights, { hook: (n, v) => (n === hookName ? (act = v) : v) }); // [batch, 1, V]
  const R = b.input('R', 'float32', logits.shape);
  const loss = sumAll(b, logits.mul(R));
  const WQ = [...b.tensors.keys()].find((v) => v.name === 'blocks.0.attn.W_Q')!;
  const [dAct] = gradients(b, loss, [act!]);
  const [dActBoth, dWQ] = gradients(b, loss, [act!, WQ]);
  const [dWQAlone] = gradients(b, loss, [WQ]);
  b.output('dAct', dAct!);
  b.output('dActBoth', dActBoth!);
  b.output('dWQ', dWQ!);
  b.output('dWQAlone', dWQAlone!);
  const out = await runGraph(b, { ...feeds, R: lossWeights([2, 1, s.vocabSize]) });
  assertClose(out.dAct, viaDelta.delta, 'd/d hook_resid_mid', 1e-6);
  assertClose(out.dActBoth, out.dAct, 'with a weight too', 1e-6);
  assertClose(out.dWQ, out.dWQAlone, 'd W_Q', 1e-6);
});
