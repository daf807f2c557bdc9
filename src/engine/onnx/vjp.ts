/**
 * Vector-Jacobian products for the ONNX ops that the graph builder and the model compiler emit: one
 * table keyed by op type, in the manner of tinygrad's gradient.py. A rule reads the node's inputs `x`,
 * outputs `y` and output cotangents `dy`, and appends ops to the same builder that compute the input
 * cotangents `dx` (the words of onnxruntime's gradient_builder). Every rule emits standard ai.onnx
 * ops of opset 18 only, so one ONNX graph computes the forward and the backward pass.
 *
 * A rule returns one entry per input; `undefined` marks an input that takes no gradient (integer
 * indices, shapes, axes, conditions). Rules compute every differentiable input's cotangent; autodiff
 * removes the ops whose results nobody reads, which keeps each rule a single readable expression.
 */
import { ShapeError, type DType, type GradTag, type GraphBuilder, type OpNode, type Shape, type Value } from './graphBuilder';

/** What a rule sees of one recorded node. */
export interface VjpArgs {
  readonly node: OpNode;
  /** The node's inputs; an omitted optional input is null. */
  readonly x: readonly (Value | null)[];
  /** The node's outputs. */
  readonly y: readonly Value[];
  /** The cotangent of each output, undefined for an output that no cotangent reached. */
  readonly dy: readonly (Value | undefined)[];
  readonly b: GraphBuilder;
}

/** Returns one cotangent per input of the node, each with that input's static shape. */
export type VjpRule = (args: VjpArgs) => (Value | undefined)[];

/** The arguments of a single-output op whose inputs are all present, as most rules want them. */
interface SingleArgs {
  readonly node: OpNode;
  readonly x: readonly Value[];
  readonly y: Value;
  readonly dy: Value;
  readonly b: GraphBuilder;
}

/**
 * Adapts a rule for a single-output op. Autodiff calls a rule only when some output has a cotangent,
 * so for one output `dy` is always present; an omitted optional input is refused here rather than
 * being misread by a rule that indexes its inputs by position.
 */
function single(rule: (a: SingleArgs) => (Value | undefined)[]): VjpRule {
  return ({ node, x, y, dy, b }) => {
    const present = x.map((v, i) => {
      if (!v) throw new Error(`VJP of ${node.op}: omitted optional input ${i} is not supported`);
      return v;
    });
    if (y.length !== 1 || !dy[0]) throw new Error(`VJP of ${node.op}: expected one output with a cotangent`);
    return rule({ node, x: present, y: y[0], dy: dy[0], b });
  };
}

const floatTypes: readonly DType[] = ['float32', 'float16', 'bfloat16'];

/** Floating-point types are the only ones that carry gradients. */
export function isFloat(dtype: DType): boolean {
  return floatTypes.includes(dtype);
}

const range = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => from + i);

function normAxis(axis: number, rank: number, what: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new ShapeError(`${what}: axis ${axis} out of range for rank ${rank}`);
  return a;
}

function floatAttr(node: OpNode, name: string, fallback: number): number {
  const a = node.attrs[name];
  if (!a) return fallback;
  if (a.kind !== 'float') throw new Error(`${node.op}: attribute ${name} is not a float`);
  return a.value;
}

function intAttr(node: OpNode, name: string, fallback: number): number {
  const a = node.attrs[name];
  if (!a) return fallback;
  if (a.kind !== 'int') throw new Error(`${node.op}: attribute ${name} is not an int`);
  return a.value;
}

function isNumeric(shape: Shape): shape is readonly number[] {
  return shape.every((d) => typeof d === 'number');
}

/** The product of some dims: a number when all are numeric, else a symbolic name for the product. */
function dimProduct(dims: Shape): number | string {
  return isNumeric(dims) ? dims.reduce((p, d) => p * d, 1) : dims.join('*');
}

/**
 * Reads an int64 constant (axes, starts, ends) from the builder's tensors. Gradients of these ops
 * depend on the values at build time, so a computed axes tensor is refused with a clear message.
 */
export function constInts(b: GraphBuilder, v: Value, what: string): number[] {
  const t = b.tensors.get(v);
  if (!t || v.kind !== 'constant') throw new Error(`${what} must be a constant, got a value of kind '${v.kind}'`);
  if (!(t.data instanceof BigInt64Array)) throw new Error(`${what} must be an int64 constant, got ${t.dtype}`);
  return Array.from(t.data, (x) => Number(x));
}

/** Shape(v): the run-time shape of v, for targets whose static shape has symbolic dims. */
function shapeOf(b: GraphBuilder, v: Value): Value {
  return b.op('Shape', [v], 'int64', [v.rank]);
}

/** Reshapes g to `like`'s shape, taking the shape from the graph only when it has symbolic dims. */
function reshapeLike(b: GraphBuilder, g: Value, like: Value): Value {
  const shape = isNumeric(like.shape) ? b.ints(like.shape) : shapeOf(b, like);
  return b.op('Reshape', [g, shape], g.dtype, like.shape);
}

/** Zeros of a run-time shape, in the cotangent's type (ConstantOfShape makes float32 zeros by default). */
function zerosOfShape(b: GraphBuilder, shape: Value, staticShape: Shape, dtype: DType): Value {
  const z = b.op('ConstantOfShape', [shape], 'float32', staticShape);
  return dtype === 'float32' ? z : b.cast(z, dtype);
}

function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Sums a cotangent over the axes along which its input was broadcast, so that it gets the input's
 * shape back. Leading extra axes are summed away (keepdims=0); an axis where the target has 1 and g
 * does not is summed with keepdims=1. Any other mismatch means the static shapes cannot say which
 * axes were broadcast (a symbolic dim against a different one), and guessing would give wrong
 * gradients, so it is an error.
 */
export function unbroadcast(g: Value, target: Shape): Value {
  const b = g.builder;
  const lead = g.rank - target.length;
  if (lead < 0) throw new ShapeError(`unbroadcast: cotangent [${g.shape}] has lower rank than its input [${target}]`);
  let out = lead > 0 ? b.reduceSum(g, range(lead), false) : g;
  const axes: number[] = [];
  target.forEach((d, i) => {
    const gd = out.shape[i];
    if (gd === d) return;
    if (d === 1) axes.push(i);
    else throw new ShapeError(`unbroadcast: ambiguous reduction of [${g.shape}] to [${target}]: dim ${i} is ${gd} vs ${d}`);
  });
  if (axes.length > 0) out = b.reduceSum(out, axes, true);
  return out;
}

/** Swaps the last two axes (the transpose inside a batched MatMul). */
function transposeLast2(b: GraphBuilder, v: Value): Value {
  const r = v.rank;
  return b.transpose(v, [...range(r - 2), r - 1, r - 2]);
}

/**
 * A value with the elements of `v` that broadcasts to v's shape: v itself, or, when v is a broadcast
 * copy (an Expand, possibly under Transposes), the smaller tensor it was copied from. Rules that read
 * a forward value only elementwise against a full-sized cotangent read `compact(v)`, so that a
 * backward pass never keeps a broadcast copy alive: taps give every head its own copy of the residual
 * stream (circuits/instrument.ts), and each head's norm would otherwise hold its copy, and the copy's
 * square and quotient, from the forward pass to the backward pass. The results are the same numbers.
 */
function compact(b: GraphBuilder, v: Value): Value {
  const p = v.producer;
  const a = p?.inputs[0];
  if (!p || !a) return v;
  if (p.op === 'Expand') return compact(b, a);
  if (p.op !== 'Transpose') return v;
  const small = compact(b, a);
  if (small === a) return v;
  const lifted = small.rank < a.rank ? b.unsqueeze(small, range(a.rank - small.rank)) : small;
  const attr = p.attrs.perm;
  return b.transpose(lifted, attr && attr.kind === 'ints' ? attr.value : range(a.rank).reverse());
}

/**
 * `w` itself, or, when w is made from graph inputs by one cheap op (the Gather that gives every query
 * head its key and value head under grouped-query attention, a Transpose or Reshape of a weight), that
 * op emitted again for the backward pass, so that the forward pass's copy dies at its forward use
 * instead of waiting for the backward pass (32 MiB per layer at Llama-3.2-1B's shape).
 */
function remade(b: GraphBuilder, w: Value): Value {
  const p = w.producer;
  if (!p || p.outputs.length !== 1 || !['Gather', 'Transpose', 'Reshape', 'Unsqueeze'].includes(p.op)) return w;
  if (p.inputs.some((x) => x && x.kind === 'op')) return w;
  return b.op(p.op, p.inputs, w.dtype, w.shape, p.attrs);
}

/** Flattens every axis but the last into one, so that a batched product becomes a single GEMM. */
function flattenLeading(b: GraphBuilder, v: Value): Value {
  const last = v.shape[v.rank - 1] as number;
  return b.op('Reshape', [v, b.ints([-1, last])], v.dtype, [dimProduct(v.shape.slice(0, -1)), last]);
}

/**
 * MatMul with numpy batch broadcasting: dA = dY · Bᵀ and dB = Aᵀ · dY, each summed over the batch
 * axes along which its operand was broadcast. A rank-2 weight applied to a batched input is the
 * common case, and its gradient is taken as one GEMM over the flattened batch instead of a batched
 * product followed by a sum.
 */
function matMulVjp({ x: [a, w], dy, b }: SingleArgs): (Value | undefined)[] {
  if (a.rank < 2 || w.rank < 2) throw new ShapeError(`VJP of MatMul: rank-1 operands are not supported ([${a.shape}] @ [${w.shape}])`);
  const da = unbroadcast(b.matMul(dy, transposeLast2(b, remade(b, w))), a.shape); // [...batch, m, k]
  let dw: Value;
  if (w.rank === 2 && a.rank > 2 && isNumeric(w.shape)) {
    const a2 = flattenLeading(b, a); // [batch*m, k]
    const dy2 = flattenLeading(b, dy); // [batch*m, n]
    dw = b.matMul(b.transpose(a2, [1, 0]), dy2); // [k, n]
  } else {
    dw = unbroadcast(b.matMul(transposeLast2(b, a), dy), w.shape); // [...batch, k, n]
  }
  return [da, dw];
}

/** The reduced axes of a Reduce* node, normalized; an empty list means all axes unless noop is set. */
function reduceAxes(node: OpNode, x: Value, axesInput: Value | null | undefined, b: GraphBuilder): number[] | 'noop' {
  const given = axesInput ? constInts(b, axesInput, `${node.op} axes`) : [];
  if (given.length === 0) return intAttr(node, 'noop_with_empty_axes', 0) ? 'noop' : range(x.rank);
  return given.map((a) => normAxis(a, x.rank, node.op)).sort((p, q) => p - q);
}

/** The shape of x with the reduced axes kept as 1. */
function keptShape(x: Value, axes: readonly number[]): Shape {
  return x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

/** Brings a Reduce* output (or its cotangent) back to keepdims layout, so that it broadcasts against x. */
function keepDims(b: GraphBuilder, node: OpNode, v: Value, x: Value, axes: readonly number[]): Value {
  if (intAttr(node, 'keepdims', 1)) return v;
  return b.op('Unsqueeze', [v, b.ints(axes)], v.dtype, keptShape(x, axes));
}

/**
 * ReduceSum, ReduceMean and ReduceMax: the cotangent is broadcast back over the reduced axes. For the
 * mean it is divided by the number of reduced elements, counted at run time when a reduced dim is
 * symbolic. For the max it goes to the maximal elements, split evenly between ties.
 */
const reduceVjp: VjpRule = ({ node, x: [x, axesInput], y: [y], dy: [dy], b }) => {
  if (!x || !dy) throw new Error(`VJP of ${node.op}: missing input or cotangent`);
  const axes = reduceAxes(node, x, axesInput, b);
  if (axes === 'noop') return [dy, undefined];
  const dyk = keepDims(b, node, dy, x, axes); // [x with reduced axes as 1]
  // With numeric reduced dims the target shape is dyk's with those dims filled in (Expand broadcasts
  // the 1s), so x is not kept alive for its shape alone.
  const reduced = axes.map((a) => x.shape[a]);
  const target = isNumeric(reduced) ? b.ints(x.shape.map((d, i) => (axes.includes(i) ? d : 1)) as number[]) : shapeOf(b, x);
  const spread = b.op('Expand', [dyk, target], dy.dtype, x.shape); // [x]
  switch (node.op) {
    case 'ReduceSum':
      return [spread, undefined];
    case 'ReduceMean': {
      const n = dimProduct(axes.map((a) => x.shape[a]));
      if (typeof n === 'number') return [b.mul(spread, 1 / n), undefined];
      const dims = b.op('Gather', [shapeOf(b, x), b.ints(axes)], 'int64', [axes.length]); // [reduced axes]
      const count = b.cast(b.op('ReduceProd', [dims], 'int64', [], { keepdims: { kind: 'int', value: 0 } }), x.dtype); // []
      return [b.div(spread, count), undefined];
    }
    case 'ReduceMax': {
      const mask = b.cast(b.compare('Equal', x, keepDims(b, node, y, x, axes)), x.dtype); // [x]
      const ties = b.reduceSum(mask, axes, true); // [x with reduced axes as 1]
      return [b.div(b.mul(spread, mask), ties), undefined];
    }
    default:
      throw new Error(`No VJP for ${node.op}`);
  }
};

/**
 * Gather's cotangent scatters dy back into zeros shaped like the data, adding where an index repeats
 * (a token that occurs twice, a key head shared by several query heads). ScatterND writes along the
 * leading axis, so for another axis the data's axis is moved to the front and moved back afterwards.
 */
const gatherVjp = single(({ node, x: [data, indices], dy, b }) => {
  const axis = normAxis(intAttr(node, 'axis', 0), data.rank, 'Gather');
  const q = indices.rank;
  const idx64 = indices.dtype === 'int64' ? indices : b.cast(indices, 'int64'); // [...indices]
  const idx = b.op('Unsqueeze', [idx64, b.ints([q])], 'int64', [...indices.shape, 1]); // [...indices, 1]
  const scatter = (zeros: Value, updates: Value): Value =>
    b.op('ScatterND', [zeros, idx, updates], dy.dtype, zeros.shape, { reduction: { kind: 'string', value: 'add' } });
  // ONNX Gather accepts negative indices; onnxruntime's ScatterND counts them from the end as well.
  if (axis === 0) return [scatter(zerosOfShape(b, shapeOf(b, data), data.shape, dy.dtype), dy), undefined];
  const perm = [axis, ...range(axis), ...range(data.rank - axis - 1, axis + 1)];
  const inverse = perm.map((_, i) => perm.indexOf(i));
  const zerosShape = b.op('Gather', [shapeOf(b, data), b.ints(perm)], 'int64', [data.rank]); // [rank]
  const zeros = zerosOfShape(b, zerosShape, perm.map((p) => data.shape[p]), dy.dtype); // [data with axis first]
  const dyPerm = [...range(q, axis), ...range(axis), ...range(dy.rank - axis - q, axis + q)];
  const dyT = b.transpose(dy, dyPerm); // [...indices, data without axis]
  return [b.transpose(scatter(zeros, dyT), inverse), undefined];
});

/**
 * Slice's cotangent is dy padded with zeros back to the input's extent. The pads are computed at
 * build time when the sliced dims are numeric; with a symbolic dim, the zeros after the slice are
 * whatever remains of the run-time extent. Strided slices are refused rather than approximated.
 */
const sliceVjp: VjpRule = ({ x: [x, startsIn, endsIn, axesIn, stepsIn], dy: [dy], b }) => {
  if (!x || !startsIn || !endsIn || !dy) throw new Error('VJP of Slice: missing input or cotangent');
  const starts = constInts(b, startsIn, 'Slice starts');
  const ends = constInts(b, endsIn, 'Slice ends');
  const axes = axesIn ? constInts(b, axesIn, 'Slice axes').map((a) => normAxis(a, x.rank, 'Slice')) : range(starts.length);
  const steps = stepsIn ? constInts(b, stepsIn, 'Slice steps') : axes.map(() => 1);
  if (steps.some((s) => s !== 1)) throw new Error(`VJP of Slice: steps [${steps}] are not supported (only 1)`);
  const before = x.shape.map(() => 0);
  const after = x.shape.map(() => 0);
  let numeric = true;
  axes.forEach((a, i) => {
    const d = x.shape[a];
    if (typeof d === 'number') {
      const clamp = (v: number): number => Math.min(Math.max(v < 0 ? v + d : v, 0), d);
      const s = clamp(starts[i]);
      before[a] = s;
      after[a] = d - Math.max(clamp(ends[i]), s);
    } else if (starts[i] >= 0) {
      before[a] = starts[i];
      numeric = false;
    } else {
      throw new ShapeError(`VJP of Slice: negative start ${starts[i]} on symbolic dim '${d}'`);
    }
  });
  let pads: Value; // [2 rank]: all the zeros before, then all the zeros after
  if (numeric) {
    pads = b.ints([...before, ...after]);
  } else {
    const outside = b.op('Sub', [shapeOf(b, x), shapeOf(b, dy)], 'int64', [x.rank]); // [rank]
    pads = b.concat([b.ints(before), b.op('Sub', [outside, b.ints(before)], 'int64', [x.rank])], 0);
  }
  const dx = b.op('Pad', [dy, pads], dy.dtype, x.shape); // [x]
  return [dx, undefined, undefined, undefined, undefined];
};

/** Concat's cotangent is split back into the inputs' extents along the axis. */
const concatVjp = single(({ node, x, dy, b }) => {
  const axis = normAxis(intAttr(node, 'axis', 0), dy.rank, 'Concat');
  const sizes = x.map((v) => v.shape[axis]);
  const split = isNumeric(sizes)
    ? b.ints(sizes)
    : b.concat(x.map((v) => b.op('Gather', [shapeOf(b, v), b.ints([axis])], 'int64', [1])), 0); // [inputs]
  const outs = x.map((v) => ({ dtype: dy.dtype, shape: v.shape }));
  return b.opMulti('Split', [dy, split], outs, { axis: { kind: 'int', value: axis } });
});

/**
 * LayerNormalization's input cotangent over the last axis, for g = dy·γ, the cotangent of its
 * normalized output. The statistics are recomputed from x rather than taken from the forward pass,
 * which trades a little arithmetic for not keeping normalized copies alive; x may have fewer leading
 * entries than g (a broadcast copy's source, or one residual stream for every head):
 *   x̂ = (x − μ)/σ,  dx = (g − mean(g) − x̂·mean(g·x̂)) / σ;  with σ held constant (RelP's LN-rule, the
 *   mean subtraction stays differentiable) dx = (g − mean(g)) / σ.
 * Also returns x̂ for the scale's cotangent.
 */
export function layerNormInputVjp(b: GraphBuilder, x: Value, g: Value, eps: number, holdScale: boolean): { dx: Value; xhat: Value } {
  const xc = b.sub(x, b.reduceMean(x, [-1])); // [..., d]
  const rstd = b.div(1, b.unary('Sqrt', b.add(b.reduceMean(b.mul(xc, xc), [-1]), eps))); // [..., 1]
  const xhat = b.mul(xc, rstd); // [..., d]
  const centered = b.sub(g, b.reduceMean(g, [-1]));
  const dx = holdScale ? b.mul(centered, rstd) : b.mul(b.sub(centered, b.mul(xhat, b.reduceMean(b.mul(g, xhat), [-1]))), rstd);
  return { dx, xhat };
}

/** LayerNormalization over the last axis, its scale held constant or not: dx (above), dγ = Σ dy·x̂, dβ = Σ dy. */
function layerNormVjp(holdScale: boolean): VjpRule {
  return single(({ node, x: [x, gamma, beta], dy, b }) => {
    const axis = intAttr(node, 'axis', -1);
    if (normAxis(axis, x.rank, 'LayerNormalization') !== x.rank - 1) throw new Error('VJP of LayerNormalization: only the last axis is supported');
    const { dx, xhat } = layerNormInputVjp(b, compact(b, x), b.mul(dy, gamma), floatAttr(node, 'epsilon', 1e-5), holdScale);
    return [dx, unbroadcast(b.mul(dy, xhat), gamma.shape), beta ? unbroadcast(dy, beta.shape) : undefined];
  });
}

const layerNormConstScaleVjp = layerNormVjp(true);

/** Holds a node's result constant: no input receives a cotangent. */
const held: VjpRule = ({ x }) => x.map(() => undefined);

/** Split's cotangent is the Concat of its outputs' cotangents; an unused output contributes zeros. */
const splitVjp: VjpRule = ({ node, x: [x], y, dy, b }) => {
  if (!x) throw new Error('VJP of Split: missing input');
  const axis = normAxis(intAttr(node, 'axis', 0), x.rank, 'Split');
  const parts = y.map((out, i) => dy[i] ?? zerosOfShape(b, isNumeric(out.shape) ? b.ints(out.shape) : shapeOf(b, out), out.shape, out.dtype));
  return [b.concat(parts, axis), undefined];
};

const softmaxAxis = (node: OpNode, rank: number): number => normAxis(intAttr(node, 'axis', -1), rank, node.op);

export const vjpRules: Record<string, VjpRule> = {
  // Elementwise binary ops broadcast, so each cotangent is summed back to its input's shape.
  Add: single(({ x: [a, c], dy }) => [unbroadcast(dy, a.shape), unbroadcast(dy, c.shape)]),
  Sub: single(({ x: [a, c], dy }) => [unbroadcast(dy, a.shape), unbroadcast(dy.neg(), c.shape)]),
  Mul: single(({ x: [a, c], dy, b }) => [unbroadcast(dy.mul(compact(b, c)), a.shape), unbroadcast(dy.mul(compact(b, a)), c.shape)]),
  // A quotient of a broadcast copy is recomputed from the copy's source rather than kept.
  Div: single(({ x: [a, c], y, dy, b }) => {
    const as = compact(b, a);
    const q = as === a ? y : b.div(as, c);
    return [unbroadcast(dy.div(compact(b, c)), a.shape), unbroadcast(dy.mul(q).div(c).neg(), c.shape)];
  }),
  // The exponent's cotangent uses log(a), which is defined only where the base is positive.
  Pow: single(({ x: [a, e], y, dy, b }) => [
    unbroadcast(dy.mul(e).mul(b.binary('Pow', a, e.sub(1))), a.shape),
    unbroadcast(dy.mul(y).mul(b.unary('Log', a)), e.shape),
  ]),

  // Elementwise unary ops, written with y where the derivative is cheapest in terms of the output.
  Identity: single(({ dy }) => [dy]),
  Neg: single(({ dy }) => [dy.neg()]),
  Sqrt: single(({ y, dy }) => [dy.mul(0.5).div(y)]),
  Exp: single(({ y, dy }) => [dy.mul(y)]),
  Log: single(({ x: [a], dy }) => [dy.div(a)]),
  Reciprocal: single(({ y, dy }) => [dy.mul(y).mul(y).neg()]),
  Abs: single(({ x: [a], dy, b }) => [dy.mul(b.unary('Sign', a))]),
  Tanh: single(({ y, dy, b }) => [dy.mul(b.sub(1, y.mul(y)))]),
  Sigmoid: single(({ y, dy, b }) => [dy.mul(y).mul(b.sub(1, y))]),
  Erf: single(({ x: [a], dy, b }) => [dy.mul(b.unary('Exp', a.mul(a).neg())).mul(2 / Math.sqrt(Math.PI))]),
  Relu: single(({ x: [a], dy, b }) => [b.where(b.compare('Greater', a, b.scalar(0)), dy, b.scalar(0))]),
  // Float-to-float casts pass the cotangent through in the input's type; integer inputs take none.
  Cast: single(({ x: [a], dy, b }) => [isFloat(a.dtype) ? b.cast(dy, a.dtype) : undefined]),

  // dx = y (dy - sum(dy y)) along the softmax axis: the Jacobian diag(y) - y yᵀ applied to dy.
  Softmax: single(({ node, y, dy, b }) => [y.mul(dy.sub(b.reduceSum(dy.mul(y), [softmaxAxis(node, y.rank)], true)))]),
  // dx = dy - softmax(x) sum(dy), with softmax(x) = exp(y).
  LogSoftmax: single(({ node, y, dy, b }) => [dy.sub(b.unary('Exp', y).mul(b.reduceSum(dy, [softmaxAxis(node, y.rank)], true)))]),

  MatMul: single(matMulVjp),
  // Only the form matMulTransposed emits: y = a · wᵀ (transB = 1, no C, alpha = beta = 1).
  Gemm: single(({ node, x: [a, w], dy, b }) => {
    if (node.inputs.length !== 2 || intAttr(node, 'transA', 0) !== 0 || intAttr(node, 'transB', 0) !== 1) throw new Error('VJP of Gemm: only a · wᵀ is supported');
    return [b.matMul(dy, w), b.matMul(b.transpose(dy, [1, 0]), a)];
  }),
  LayerNormalization: layerNormVjp(false),

  // Shape ops move the cotangent back to where each element came from.
  Transpose: single(({ node, x: [a], dy, b }) => {
    const attr = node.attrs.perm;
    const perm = attr && attr.kind === 'ints' ? attr.value : range(a.rank).reverse();
    return [b.transpose(dy, perm.map((_, i) => perm.indexOf(i)))];
  }),
  Reshape: single(({ x: [a], dy, b }) => [reshapeLike(b, dy, a), undefined]),
  Unsqueeze: single(({ x: [a, axes], dy, b }) => [b.op('Squeeze', [dy, axes], dy.dtype, a.shape), undefined]),
  Squeeze: ({ x: [a, axes], dy: [dy], b }) => {
    if (!a || !dy) throw new Error('VJP of Squeeze: missing input or cotangent');
    return [axes ? b.op('Unsqueeze', [dy, axes], dy.dtype, a.shape) : reshapeLike(b, dy, a), undefined];
  },
  Expand: single(({ x: [a], dy }) => [unbroadcast(dy, a.shape), undefined]),
  Slice: sliceVjp,
  Concat: concatVjp,
  Split: splitVjp,
  Gather: gatherVjp,

  ReduceSum: reduceVjp,
  ReduceMean: reduceVjp,
  ReduceMax: reduceVjp,

  // The condition takes no gradient; each branch gets dy where it was chosen and zero elsewhere.
  Where: single(({ x: [cond, a, c], dy, b }) => [
    undefined,
    unbroadcast(b.where(cond, dy, b.scalar(0)), a.shape),
    unbroadcast(b.where(cond, b.scalar(0), dy), c.shape),
  ]),
};

/**
 * RelP's propagation rules (LRP; Jafari et al. 2025, code FarnoushRJ/RelP) as alternative rows of the
 * table: a node tagged t (graphBuilder.ts GradTag) takes `relevanceRules[t]` in a gradient run whose
 * rule set names t, and its ordinary row otherwise.
 * - 'norm-scale' (LN-rule): a LayerNormalization node with σ constant; an RMS norm's denominator held.
 * - 'act-ratio' (Identity-rule): act(x) = x · r(x) with r held, so the cotangent of x is dy · r(x).
 * - 'gate-product' (Half-rule): y = a · u passes half of each share, dy·u/2 to a and dy·a/2 to u.
 * - 'attn-pattern' (AH-rule): the attention probabilities held, so q and k receive nothing.
 */
export const relevanceRules: Record<GradTag, VjpRule> = {
  'norm-scale': (args) => (args.node.op === 'LayerNormalization' ? layerNormConstScaleVjp(args) : held(args)),
  'act-ratio': held,
  'gate-product': single(({ node, x: [a, c], dy }) => {
    if (node.op !== 'Mul') throw new Error(`gate-product rule: expected Mul, got ${node.op}`);
    const half = dy.mul(0.5);
    return [unbroadcast(half.mul(c), a.shape), unbroadcast(half.mul(a), c.shape)];
  }),
  'attn-pattern': held,
};

/** Checks that a rule gave each input a cotangent of that input's shape and type. */
export function checkCotangent(node: OpNode, i: number, x: Value, dx: Value): void {
  if (!sameShape(x.shape, dx.shape) || x.dtype !== dx.dtype) {
    throw new ShapeError(`VJP of ${node.op}: cotangent ${dx.dtype}[${dx.shape}] for input ${i} of type ${x.dtype}[${x.shape}]`);
  }
}
