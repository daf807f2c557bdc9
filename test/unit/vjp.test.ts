/**
 * Every VJP rule against central finite differences (tinygrad test_gradient.py, micrograd
 * test_engine.py), and one hand-computed case per family of rules.
 */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { gradients } from '../../src/engine/onnx/autodiff';
import { GraphBuilder, type Value } from '../../src/engine/onnx/graphBuilder';
import { unbroadcast, vjpRules } from '../../src/engine/onnx/vjp';
import { Session, i64, type HostTensor } from '../../src/engine/runtime/session';
import { checkGradients, randomF32, type CheckInput, type CheckOptions } from '../helpers/gradCheck';

/** Runs a finite-difference check and fails with its maxdiff report. */
async function fd(name: string, opts: CheckOptions): Promise<void> {
  const r = await checkGradients(opts);
  if (process.env.GRADCHECK_MARGINS) console.log(`margin ${r.margin.toFixed(3)} ${name}`);
  assert.ok(r.ok, `${name}:\n${r.message}`);
  for (const [input, g] of Object.entries(r.grads)) {
    assert.ok(g.some((v) => v !== 0), `${name}: gradient of ${input} is all zeros, so the check compared nothing`);
  }
}

const f32 = (shape: number[], seed: number, lo = -1, hi = 1, gap = 0): CheckInput => ({ value: randomF32(shape, seed, lo, hi, gap) });

/** Computes the gradients of a scalar built from fed inputs, for hand-computed expectations. */
async function gradOf(
  inputs: Record<string, HostTensor>,
  build: (b: GraphBuilder, x: Record<string, Value>) => Value,
  wrt: readonly string[],
): Promise<Record<string, Float32Array>> {
  const b = new GraphBuilder();
  const x: Record<string, Value> = {};
  for (const [name, t] of Object.entries(inputs)) x[name] = b.input(name, t.dtype, t.shape);
  const grads = gradients(b, build(b, x), wrt.map((n) => x[n]));
  wrt.forEach((n, i) => b.output(`d_${n}`, grads[i]!));
  const s = await Session.create(b.serialize());
  const out = await s.run(inputs);
  await s.dispose();
  return Object.fromEntries(wrt.map((n) => [n, out[`d_${n}`].data as Float32Array]));
}

const t32 = (data: number[], shape: number[]): HostTensor => ({ dtype: 'float32', data: Float32Array.from(data), shape });

function assertClose(got: Float32Array, want: readonly number[], what: string, tol = 1e-5): void {
  assert.equal(got.length, want.length, `${what}: length`);
  let maxdiff = 0;
  for (let i = 0; i < got.length; i++) maxdiff = Math.max(maxdiff, Math.abs(got[i] - want[i]));
  const pairs = Array.from({ length: Math.min(5, got.length) }, (_, i) => `[${i}] ${got[i]} vs ${want[i]}`);
  assert.ok(maxdiff <= tol, `${what}: maxdiff=${maxdiff}; first 5 pairs: ${pairs.join(', ')}`);
}

const sumAll = (b: GraphBuilder, v: Value): Value => b.reduceSum(v, v.shape.map((_, i) => i), false);

// ---- elementwise binary ops and broadcasting ----

test('Add, Sub, Mul, Div: same shapes', async () => {
  for (const op of ['Add', 'Sub', 'Mul', 'Div'] as const) {
    await fd(op, {
      inputs: { a: f32([2, 3, 4], 1), c: f32([2, 3, 4], 2, 0.5, 1.5) },
      build: (b, { a, c }) => b.binary(op, a, c),
    });
  }
});

test('Add, Mul, Div: a bias [d] broadcast over [batch, pos, d] with symbolic dims', async () => {
  for (const op of ['Add', 'Mul', 'Div'] as const) {
    await fd(`${op} bias`, {
      inputs: { x: { value: randomF32([2, 3, 5], 3), shape: ['batch', 'pos', 5] }, bias: f32([5], 4, 0.5, 1.5) },
      build: (b, { x, bias }) => b.binary(op, x, bias),
    });
  }
});

test('Sub, Mul: [b, 1, p, d] against [b, h, p, d], and a scalar constant', async () => {
  for (const op of ['Sub', 'Mul'] as const) {
    await fd(`${op} head broadcast`, {
      inputs: { a: f32([2, 1, 3, 4], 5), c: f32([2, 3, 3, 4], 6) },
      build: (b, { a, c }) => b.binary(op, b.binary(op, a, c), 0.7),
    });
  }
  // Both operands broadcast at once: [3, 1] with [1, 4].
  await fd('Mul outer', { inputs: { a: f32([3, 1], 7), c: f32([1, 4], 8) }, build: (b, { a, c }) => b.mul(a, c) });
});

test('Pow: base and exponent', async () => {
  await fd('Pow', {
    inputs: { a: f32([3, 4], 9, 0.5, 2), e: f32([4], 10, 0.5, 2.5) },
    build: (b, { a, e }) => b.binary('Pow', a, e),
  });
});

test('hand-computed: d/dx sum(x*y) = y, d/dy = x, d/dbias sum((x+bias)*y) = column sums of y, Div', async () => {
  const x = t32([1, 2, 3, 4, 5, 6], [2, 3]);
  const y = t32([0.5, -1, 2, 3, -0.25, 4], [2, 3]);
  const g = await gradOf({ x, y }, (b, v) => sumAll(b, b.mul(v.x, v.y)), ['x', 'y']);
  assertClose(g.x, [0.5, -1, 2, 3, -0.25, 4], 'd/dx sum(x*y)');
  assertClose(g.y, [1, 2, 3, 4, 5, 6], 'd/dy sum(x*y)');
  const bias = t32([0, 0, 0], [3]);
  const gb = await gradOf({ x, y, bias }, (b, v) => sumAll(b, b.mul(b.add(v.x, v.bias), v.y)), ['bias']);
  assertClose(gb.bias, [3.5, -1.25, 6], 'd/dbias');
  const gd = await gradOf({ x, y }, (b, v) => sumAll(b, b.div(v.x, v.y)), ['x', 'y']);
  assertClose(gd.x, [2, -1, 0.5, 1 / 3, -4, 0.25], 'd/dx sum(x/y)');
  assertClose(gd.y, [-4, -2, -0.75, -4 / 9, -80, -6 / 16], 'd/dy sum(x/y)', 1e-4);
});

// ---- elementwise unary ops ----

test('unary ops: Neg, Sqrt, Exp, Log, Tanh, Sigmoid, Erf, Relu, Identity, Reciprocal, Abs', async () => {
  const cases: [string, number, number, number][] = [
    // op, lo, hi, gap: positive inputs where the op needs them, and a gap around the kink of Relu and Abs.
    ['Neg', -1, 1, 0],
    ['Sqrt', 0.3, 2, 0],
    ['Exp', -1, 1, 0],
    ['Log', 0.3, 2, 0],
    ['Tanh', -2, 2, 0],
    ['Sigmoid', -3, 3, 0],
    ['Erf', -2, 2, 0],
    ['Relu', -1, 1, 0.05],
    ['Identity', -1, 1, 0],
    ['Reciprocal', 0.5, 2, 0],
    ['Abs', -1, 1, 0.05],
  ];
  for (const [op, lo, hi, gap] of cases) {
    assert.ok(vjpRules[op], `${op} has a rule`);
    await fd(op, { inputs: { x: f32([3, 5], 11, lo, hi, gap) }, build: (b, { x }) => b.unary(op, x), eps: 5e-3 });
  }
});

test('hand-computed: d sum(exp x) = exp x, d sum(sqrt x) = 1/(2 sqrt x), d sum(relu x) = [x > 0], d sum(tanh x) = 1 - tanh²', async () => {
  const x = t32([0.25, 1, 4, 9], [4]);
  const d = async (op: string): Promise<Float32Array> => (await gradOf({ x }, (b, v) => sumAll(b, b.unary(op, v.x)), ['x'])).x;
  assertClose(await d('Exp'), [0.25, 1, 4, 9].map(Math.exp), 'Exp', 1e-3);
  assertClose(await d('Sqrt'), [1, 0.5, 0.25, 1 / 6], 'Sqrt');
  assertClose(await d('Log'), [4, 1, 0.25, 1 / 9], 'Log');
  assertClose(await d('Tanh'), [0.25, 1, 4, 9].map((v) => 1 - Math.tanh(v) ** 2), 'Tanh');
  const xr = t32([-1, 2, -3, 4], [4]);
  assertClose((await gradOf({ xr }, (b, v) => sumAll(b, b.unary('Relu', v.xr)), ['xr'])).xr, [0, 1, 0, 1], 'Relu');
});

test('Cast: float32 to float32 by finite differences; through float16 by hand', async () => {
  await fd('Cast', { inputs: { x: f32([3, 4], 12) }, build: (b, { x }) => b.mul(b.cast(x, 'float32'), x) });
  // Values that are exact in float16, so the round trip loses nothing.
  const x = t32([0.5, -2, 0.25, 8], [4]);
  const w = t32([1.5, 0.75, -3, 0.125], [4]);
  const g = await gradOf({ x, w }, (b, v) => sumAll(b, b.mul(b.cast(b.cast(v.x, 'float16'), 'float32'), v.w)), ['x']);
  assertClose(g.x, [1.5, 0.75, -3, 0.125], 'd/dx sum(cast(cast(x, f16), f32) * w)');
});

// ---- normalization ----

test('LayerNormalization: x, scale and bias over [batch, pos, d], and a [b, h, p, d] input with shared scale', async () => {
  await fd('LayerNormalization', {
    inputs: { x: f32([2, 3, 8], 31, -2, 2), g: f32([8], 32, 0.5, 1.5), bias: f32([8], 33) },
    build: (b, { x, g, bias }) => b.layerNorm(x, g, bias, 1e-5),
  });
  await fd('LayerNormalization, no bias, rank 4', {
    inputs: { x: f32([2, 2, 3, 6], 34, -3, 3), g: f32([6], 35, 0.5, 1.5) },
    build: (b, { x, g }) => b.layerNorm(x, g, null, 1e-5),
  });
});

test('hand-computed: a LayerNorm output has zero mean, so d sum(layerNorm(x)) = 0 for unit scale', async () => {
  const x = t32([1, 2, 4, 8, -3, 0.5, 7, 2], [2, 4]);
  const g = await gradOf({ x }, (b, v) => sumAll(b, b.layerNorm(v.x, null, null, 1e-5)), ['x']);
  assertClose(g.x, [0, 0, 0, 0, 0, 0, 0, 0], 'd sum(layerNorm(x))', 1e-5);
});

/**
 * The taps' layout (circuits/instrument.ts): u [batch, pos, 1, d] copied to every head by Expand and
 * transposed to [batch, H, pos, d], then normed. The gradient at the copies is each copy's own; the rules
 * read the copies' source instead of the copies (vjp.ts `compact`), so it is checked against the same
 * function of a fed input that holds the copies, whose gradient the ordinary rules give (finite
 * differences above), and no gradient op may read a forward value of the copies' size.
 */
test('per-head copies of one input: norms, products and quotients of the copies, without keeping them', async () => {
  const [B, H, P, d] = [2, 3, 4, 5];
  const u = randomF32([B, P, 1, d], 61, -2, 2);
  const copies = new Float32Array(B * H * P * d); // [B, H, P, d]
  for (let i = 0; i < B; i++) for (let h = 0; h < H; h++) for (let p = 0; p < P; p++) for (let k = 0; k < d; k++) copies[((i * H + h) * P + p) * d + k] = (u.data as Float32Array)[(i * P + p) * d + k];
  const R = randomF32([B, H, P, d], 62);
  const gamma = randomF32([d], 63, 0.5, 1.5);
  const fs: Record<string, (b: GraphBuilder, x: Value, g: Value) => Value> = {
    layerNorm: (b, x, g) => b.layerNorm(x, g, g, 1e-5),
    rmsNorm: (b, x, g) => b.rmsNorm(x, g, 1e-5),
    'x·x·g': (b, x, g) => b.mul(b.mul(x, x), g),
    'x / mean(x²)': (b, x) => b.div(x, b.add(b.reduceMean(b.mul(x, x), [-1]), 1)),
  };
  for (const [name, f] of Object.entries(fs)) {
    const grad = async (fromCopies: boolean): Promise<Float32Array> => {
      const b = new GraphBuilder();
      const g = b.input('gamma', 'float32', [d]);
      const r = b.input('R', 'float32', [B, H, P, d]);
      let x: Value;
      if (fromCopies) {
        const ui = b.input('u', 'float32', [B, P, 1, d]);
        x = b.transpose(b.op('Expand', [ui, b.ints([B, P, H, d])], 'float32', [B, P, H, d]), [0, 2, 1, 3]);
      } else {
        x = b.input('x', 'float32', [B, H, P, d]);
      }
      const loss = sumAll(b, b.mul(f(b, x, g), r));
      const start = b.nodes.length;
      const [dx] = gradients(b, loss, [x]);
      const forward = new Set(b.nodes.slice(0, start).flatMap((n) => n.outputs));
      for (const node of fromCopies ? b.nodes.slice(start) : []) {
        for (const v of node.inputs) {
          if (v && forward.has(v) && v.shape.length === 4 && v.shape[1] === H && v.shape[3] === d) assert.fail(`${name}: gradient op ${node.op} reads ${v.producer?.op} [${v.shape}], a forward value of the copies' size`);
        }
      }
      b.output('dx', dx!);
      const sess = await Session.create(b.serialize());
      const out = await sess.run({ gamma, R, ...(fromCopies ? { u } : { x: { dtype: 'float32', data: copies, shape: [B, H, P, d] } }) });
      await sess.dispose();
      return out.dx.data as Float32Array;
    };
    const [got, want] = [await grad(true), await grad(false)];
    // Same numbers, computed by the same kernels from the same values.
    assertClose(got, Array.from(want), name, 1e-6 * Math.max(...want.map(Math.abs)));
  }
});

test('Split: along a static axis and along an axis next to a symbolic one, with an unused output', async () => {
  await fd('Split', {
    inputs: { x: f32([2, 6, 3], 36) },
    build: (b, { x }) => {
      const [p, q, r] = b.opMulti('Split', [x, b.ints([1, 2, 3])], [1, 2, 3].map((k) => ({ dtype: 'float32' as const, shape: [2, k, 3] })), { axis: { kind: 'int', value: 1 } });
      return b.concat([b.mul(p, 2), b.unary('Tanh', q), r.mul(r)], 1);
    },
  });
  await fd('Split, one output unused', {
    inputs: { x: f32([5, 4], 37) },
    build: (b, { x }) => {
      const [p] = b.opMulti('Split', [x, b.ints([2, 3])], [2, 3].map((k) => ({ dtype: 'float32' as const, shape: [k, 4] })), { axis: { kind: 'int', value: 0 } });
      return b.mul(p, p);
    },
  });
});

// ---- softmax ----

test('Softmax and LogSoftmax on the last axis and on a middle axis', async () => {
  for (const axis of [-1, 1]) {
    await fd(`Softmax axis ${axis}`, { inputs: { x: f32([2, 3, 4], 13, -2, 2) }, build: (b, { x }) => b.softmax(x, axis) });
    await fd(`LogSoftmax axis ${axis}`, {
      inputs: { x: f32([2, 3, 4], 14, -2, 2) },
      build: (b, { x }) => b.unary('LogSoftmax', x, { axis: { kind: 'int', value: axis } }),
    });
  }
});

test('hand-computed: softmax rows sum to 1, so d sum(softmax x) = 0; d softmax(x)_0 = y_0 (e_0 - y)', async () => {
  const x = t32([0.1, -0.3, 0.7], [1, 3]);
  assertClose((await gradOf({ x }, (b, v) => sumAll(b, b.softmax(v.x)), ['x'])).x, [0, 0, 0], 'd sum(softmax)', 1e-6);
  const e = [0.1, -0.3, 0.7].map(Math.exp);
  const y = e.map((v) => v / (e[0] + e[1] + e[2]));
  const g = await gradOf({ x }, (b, v) => b.reshape(b.slice(b.softmax(v.x), -1, 0, 1), []), ['x']);
  assertClose(g.x, [y[0] * (1 - y[0]), -y[0] * y[1], -y[0] * y[2]], 'd softmax_0');
});

// ---- MatMul ----

test('MatMul: plain, batched, and broadcast batches [2,3,4,5]@[3,5,6], [b,1,p,d]@[h,d,e], [4,5]@[3,5,6]', async () => {
  const cases: [number[], number[]][] = [
    [[3, 4], [4, 5]],
    [[2, 3, 4], [2, 4, 5]],
    [[2, 3, 4, 5], [3, 5, 6]],
    [[2, 1, 3, 4], [3, 4, 5]],
    [[4, 5], [3, 5, 6]],
    [[2, 3, 4, 5], [1, 3, 5, 2]],
  ];
  for (const [sa, sb] of cases) {
    await fd(`MatMul [${sa}]@[${sb}]`, { inputs: { a: f32(sa, 15), w: f32(sb, 16) }, build: (b, { a, w }) => b.matMul(a, w) });
  }
});

test('MatMul by a weight whose heads are gathered (grouped-query attention): the gather is made again, not kept', async () => {
  // Query heads 0, 1 read key head 0 and heads 2, 3 key head 1, as `ungroup` in transformer.ts.
  const build = (b: GraphBuilder, { x, wk }: Record<string, Value>) => b.matMul(x, b.gather(wk, b.ints([0, 0, 1, 1]), 0)); // [2,4,3,5]@[4,5,6]
  await fd('MatMul gathered weight', { inputs: { x: f32([2, 4, 3, 5], 64), wk: { value: randomF32([2, 5, 6], 65), wrt: false } }, build });
  const b = new GraphBuilder();
  const x = b.input('x', 'float32', [2, 4, 3, 5]);
  const y = build(b, { x, wk: b.input('wk', 'float32', [2, 5, 6]) });
  const gathered = y.producer!.inputs[1]!;
  const start = b.nodes.length;
  gradients(b, sumAll(b, y), [x]);
  assert.ok(b.nodes.slice(start).every((n) => !n.inputs.includes(gathered)), 'the backward pass gathers the heads again');
});

test('MatMul: a rank-2 weight applied to [batch, pos, d] with symbolic dims (the flattened-GEMM path)', async () => {
  await fd('MatMul weight', {
    inputs: { x: { value: randomF32([2, 3, 4], 17), shape: ['batch', 'pos', 4] }, w: f32([4, 6], 18) },
    build: (b, { x, w }) => b.matMul(x, w),
  });
});

test('Gemm (x · wᵀ, the tied unembedding): rank 2, and [batch, pos, d] with symbolic dims', async () => {
  await fd('Gemm rank 2', { inputs: { x: f32([3, 4], 31), w: f32([5, 4], 32) }, build: (b, { x, w }) => b.matMulTransposed(x, w) });
  await fd('Gemm flattened', {
    inputs: { x: { value: randomF32([2, 3, 4], 33), shape: ['batch', 'pos', 4] }, w: f32([6, 4], 34) },
    build: (b, { x, w }) => b.matMulTransposed(x, w),
  });
});

test('hand-computed: d/dA sum(A B) = row sums of B, broadcast; d/dB = column sums of A', async () => {
  const A = t32([1, 2, 3, 4, 5, 6], [2, 3]);
  const B = t32([1, -1, 2, 0.5, 3, -2], [3, 2]);
  const g = await gradOf({ A, B }, (b, v) => sumAll(b, b.matMul(v.A, v.B)), ['A', 'B']);
  assertClose(g.A, [0, 2.5, 1, 0, 2.5, 1], 'dA');
  assertClose(g.B, [5, 5, 7, 7, 9, 9], 'dB');
});

// ---- shape ops ----

test('Transpose, Reshape (numeric and symbolic), Unsqueeze, Squeeze, Expand', async () => {
  await fd('Transpose', { inputs: { x: f32([2, 3, 4], 19) }, build: (b, { x }) => b.transpose(x, [2, 0, 1]) });
  await fd('Reshape', { inputs: { x: f32([2, 3, 4], 20) }, build: (b, { x }) => b.reshape(x, [6, 4]) });
  await fd('Reshape symbolic', {
    inputs: { x: { value: randomF32([2, 3, 4], 21), shape: ['batch', 'pos', 4] } },
    build: (b, { x }) => b.reshape(x, [0, 0, 2, 2]),
  });
  await fd('Unsqueeze', { inputs: { x: f32([3, 4], 22) }, build: (b, { x }) => b.unsqueeze(x, [0, 2]) });
  await fd('Squeeze', { inputs: { x: f32([3, 1, 4], 23) }, build: (b, { x }) => b.squeeze(x, [1]) });
  await fd('Expand', {
    inputs: { x: f32([3, 1], 24), like: { value: randomF32([2, 3, 4], 25), wrt: false } },
    build: (b, { x, like }) => b.expandLike(x, like),
  });
});

test('hand-computed: d sum(reshape(transpose(x)) * r) = r laid back out; d sum(expand(x)) = counts', async () => {
  const x = t32([1, 2, 3, 4, 5, 6], [2, 3]);
  const r = t32([10, 20, 30, 40, 50, 60], [6]);
  const g = await gradOf({ x, r }, (b, v) => sumAll(b, b.mul(b.reshape(b.transpose(v.x, [1, 0]), [6]), v.r)), ['x']);
  // Transposed x read row by row is x[0,0], x[1,0], x[0,1], x[1,1], x[0,2], x[1,2].
  assertClose(g.x, [10, 30, 50, 20, 40, 60], 'reshape∘transpose');
  const small = t32([1, 2], [2, 1]);
  const like = t32(new Array(6).fill(0), [2, 3]);
  assertClose((await gradOf({ small, like }, (b, v) => sumAll(b, b.expandLike(v.small, v.like)), ['small'])).small, [3, 3], 'expand');
});

// ---- reductions ----

test('ReduceSum, ReduceMean, ReduceMax with and without keepdims, and a mean over a symbolic axis', async () => {
  for (const op of ['ReduceSum', 'ReduceMean', 'ReduceMax'] as const) {
    for (const keep of [true, false]) {
      await fd(`${op} keepdims=${keep}`, { inputs: { x: f32([2, 3, 4], 26) }, build: (b, { x }) => b.reduce(op, x, [0, 2], keep) });
    }
  }
  await fd('ReduceMean symbolic', {
    inputs: { x: { value: randomF32([2, 3, 4], 27), shape: ['batch', 'pos', 4] } },
    build: (b, { x }) => b.reduceMean(x, [1, 2], false),
  });
  // An omitted axes input reduces over every axis.
  await fd('ReduceSum all', {
    inputs: { x: f32([2, 3], 28) },
    build: (b, { x }) => b.mul(b.op('ReduceSum', [x], 'float32', [1, 1]), x),
  });
});

test('hand-computed: d mean(x) = 1/n, d max(x) goes to the maximum, split between ties', async () => {
  const x = t32([1, 5, 2, 5], [4]);
  assertClose((await gradOf({ x }, (b, v) => b.reduceMean(v.x, [0], false), ['x'])).x, [0.25, 0.25, 0.25, 0.25], 'mean');
  assertClose((await gradOf({ x }, (b, v) => b.reduce('ReduceMax', v.x, [0], false), ['x'])).x, [0, 0.5, 0, 0.5], 'max');
});

// ---- Gather ----

test('Gather: an embedding table by fed token ids (with repeats), by constant ids, and along axes 1 and 2', async () => {
  const tokens = i64([3, 0, 3, 5, 1, 3], [2, 3]);
  await fd('Gather embedding', {
    inputs: { W: f32([6, 4], 29), tokens: { value: tokens, shape: ['batch', 'pos'] } },
    build: (b, { W, tokens }) => b.gather(W, tokens, 0),
  });
  await fd('Gather constant', {
    inputs: { W: f32([4, 3, 2], 30) },
    build: (b, { W }) => b.gather(W, b.ints([0, 0, 1, 3, 1, 0]), 0),
  });
  await fd('Gather axis 1', {
    inputs: { W: f32([2, 5, 3], 31) },
    build: (b, { W }) => b.gather(W, b.constant(BigInt64Array.from([4n, 0n, 4n, 2n]), [2, 2]), 1),
  });
  await fd('Gather axis 2', { inputs: { W: f32([2, 3, 4], 32) }, build: (b, { W }) => b.gather(W, b.ints([3, 3, 1]), 2) });
});

test('hand-computed: d sum(gather(W, ids)) counts how often each row was read, a negative id from the end', async () => {
  const W = t32(new Array(8).fill(0.5), [4, 2]);
  const ids = i64([1, -1, 1, 1], [4]);
  const g = await gradOf({ W, ids }, (b, v) => sumAll(b, b.gather(v.W, v.ids, 0)), ['W']);
  assertClose(g.W, [0, 0, 3, 3, 0, 0, 1, 1], 'gather counts');
});

// ---- Slice and Concat ----

test('Slice: static ranges, negative starts, a symbolic sliced axis, several axes at once', async () => {
  await fd('Slice', { inputs: { x: f32([3, 6], 33) }, build: (b, { x }) => b.slice(x, 1, 1, 4) });
  await fd('Slice negative', {
    inputs: { x: f32([3, 6], 34) },
    build: (b, { x }) => b.op('Slice', [x, b.ints([-4]), b.ints([-1]), b.ints([-1])], 'float32', [3, 3]),
  });
  await fd('Slice symbolic', {
    inputs: { x: { value: randomF32([2, 5, 3], 35), shape: ['batch', 'pos', 3] } },
    build: (b, { x }) => b.slice(x, 1, 1, 3),
  });
  await fd('Slice two axes', {
    inputs: { x: f32([4, 5], 36) },
    build: (b, { x }) => b.op('Slice', [x, b.ints([1, 0]), b.ints([3, 4]), b.ints([0, 1])], 'float32', [2, 4]),
  });
});

test('Concat: numeric extents, and along a symbolic axis', async () => {
  await fd('Concat', {
    inputs: { a: f32([2, 3], 37), c: f32([2, 2], 38) },
    build: (b, { a, c }) => b.concat([a, c.neg(), a], -1),
  });
  await fd('Concat symbolic', {
    inputs: { a: { value: randomF32([3, 2], 39), shape: ['pos', 2] }, c: f32([1, 2], 40) },
    build: (b, { a, c }) => b.concat([c, a], 0),
    outShape: [4, 2],
  });
});

test('hand-computed: rotate-half by Slice/Concat moves the cotangent back to the swapped halves', async () => {
  const x = t32([1, 2, 3, 4], [4]);
  const r = t32([10, 20, 30, 40], [4]);
  const g = await gradOf(
    { x, r },
    (b, v) => sumAll(b, b.mul(b.concat([b.slice(v.x, 0, 2, 4).neg(), b.slice(v.x, 0, 0, 2)], 0), v.r)),
    ['x'],
  );
  assertClose(g.x, [30, 40, -10, -20], 'rotate_half');
});

// ---- Where ----

test('Where: both branches, with a broadcast condition', async () => {
  const cond: CheckInput = { value: { dtype: 'bool', shape: [3, 1], data: Uint8Array.from([1, 0, 1]) } };
  await fd('Where', {
    inputs: { cond, a: f32([3, 4], 41), c: f32([4], 42) },
    build: (b, { cond, a, c }) => b.where(cond, a, c),
  });
  const x = t32([1, 2, 3], [3]);
  const m = { dtype: 'bool' as const, shape: [3], data: Uint8Array.from([1, 0, 1]) };
  const g = await gradOf({ m, x }, (b, v) => sumAll(b, b.where(v.m, v.x, b.scalar(0))), ['x']);
  assertClose(g.x, [1, 0, 1], 'where');
});

// ---- refusals ----

test('refusals: ambiguous unbroadcast, strided Slice, computed axes', () => {
  const b = new GraphBuilder();
  const g = b.input('g', 'float32', ['batch', 3]);
  assert.throws(() => unbroadcast(g, ['pos', 3]), /ambiguous/);
  assert.throws(() => unbroadcast(g, [2, 'batch', 3]), /lower rank/);
  const x = b.input('x', 'float32', [6]);
  const strided = b.op('Slice', [x, b.ints([0]), b.ints([6]), b.ints([0]), b.ints([2])], 'float32', [3]);
  assert.throws(() => gradients(b, sumAll(b, strided), [x]), /steps \[2\] are not supported/);
  const axes = b.input('axes', 'int64', [1]);
  const reduced = b.op('ReduceSum', [x, axes], 'float32', [1]);
  assert.throws(() => gradients(b, sumAll(b, reduced), [x]), /must be a constant/);
});
