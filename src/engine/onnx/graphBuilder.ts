/**
 * A tape-style ONNX graph builder (in the manner of onnxscript's Tape): every op returns a `Value`
 * handle that carries its element type and a static shape, so that model code reads like array code
 * and the autodiff can work out broadcasting at build time. Names are assigned only when the graph is
 * serialized, except for graph inputs, outputs and weights, which keep the names they were given.
 *
 * Shapes are static where they can be: a dimension is a number, or a string for a symbolic size such
 * as 'batch' or 'pos' that is fixed only when the session runs. Two equal strings are the same size.
 */
import { ProtoWriter } from './proto';

export type Dim = number | string;
export type Shape = readonly Dim[];
export type DType = 'float32' | 'int64' | 'bool' | 'float16' | 'bfloat16' | 'int32';

const onnxDType: Record<DType, number> = {
  float32: 1,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  bfloat16: 16,
};

export type AttrValue =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'ints'; value: readonly number[] }
  | { kind: 'floats'; value: readonly number[] };

/**
 * What a node computes, for the propagation rules of RelP (Jafari et al. 2025, LRP rules in place of
 * local gradients): the scale of a norm ('norm-scale': a LayerNormalization node, or the denominator
 * of an RMS norm), the ratio act(x)/x of an element-wise activation written as x · ratio
 * ('act-ratio'), the product of a gated MLP's two halves ('gate-product'), an attention pattern
 * ('attn-pattern'). A tag changes nothing in the forward pass; a gradient run that names it takes the
 * tagged node's alternative VJP row (onnx/vjp.ts `relevanceRules`).
 */
export type GradTag = 'norm-scale' | 'act-ratio' | 'gate-product' | 'attn-pattern';
export const gradTags: readonly GradTag[] = Object.freeze(['norm-scale', 'act-ratio', 'gate-product', 'attn-pattern'] as const);

/** One recorded operation. Inputs may be `null` for omitted optional inputs. */
export interface OpNode {
  readonly op: string;
  readonly inputs: readonly (Value | null)[];
  readonly outputs: readonly Value[];
  readonly attrs: Readonly<Record<string, AttrValue>>;
  readonly domain?: string;
  /** Set by `GraphBuilder.tag`; not serialized. */
  tag?: GradTag;
}

/** Constant data attached to the graph: small constants or model weights. */
export interface TensorData {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: Float32Array | BigInt64Array | Int32Array | Uint8Array | Uint16Array;
}

export type ValueKind = 'input' | 'weight' | 'constant' | 'op';

/** A handle to a tensor in the graph under construction. */
export class Value {
  /** The op that produced this value, when kind is 'op'. */
  producer: OpNode | undefined;
  /** A name fixed at creation (inputs, weights), or given later by `GraphBuilder.output`. */
  name: string | undefined;

  constructor(
    readonly builder: GraphBuilder,
    readonly id: number,
    readonly kind: ValueKind,
    readonly dtype: DType,
    readonly shape: Shape,
  ) {}

  get rank(): number {
    return this.shape.length;
  }

  add(o: Value | number): Value {
    return this.builder.add(this, o);
  }
  sub(o: Value | number): Value {
    return this.builder.sub(this, o);
  }
  mul(o: Value | number): Value {
    return this.builder.mul(this, o);
  }
  div(o: Value | number): Value {
    return this.builder.div(this, o);
  }
  matMul(o: Value): Value {
    return this.builder.matMul(this, o);
  }
  neg(): Value {
    return this.builder.unary('Neg', this);
  }
  reshape(shape: readonly number[]): Value {
    return this.builder.reshape(this, shape);
  }
  transpose(perm: readonly number[]): Value {
    return this.builder.transpose(this, perm);
  }
}

export class ShapeError extends Error {}

function dimEq(a: Dim, b: Dim): boolean {
  return a === b;
}

/** Numpy-style broadcast of two static shapes. */
export function broadcastShapes(a: Shape, b: Shape, what = 'broadcast'): Dim[] {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const da = i < n - a.length ? 1 : a[i - (n - a.length)];
    const db = i < n - b.length ? 1 : b[i - (n - b.length)];
    if (dimEq(da, db)) out.push(da);
    else if (da === 1) out.push(db);
    else if (db === 1) out.push(da);
    else throw new ShapeError(`${what}: cannot broadcast [${a}] with [${b}]`);
  }
  return out;
}

function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new ShapeError(`axis ${axis} out of range for rank ${rank}`);
  return a;
}

export interface SerializeOptions {
  /** Weights become graph inputs (for training or to share one session across weight sets). */
  readonly weightsAsInputs?: boolean;
  readonly graphName?: string;
}

export interface SerializedModel {
  /** ModelProto bytes. */
  readonly bytes: Uint8Array;
  /** In-memory external data files for weight initializers (onnxruntime-node `externalData`). */
  readonly externalData: { path: string; data: Uint8Array }[];
  /** When weights are inputs: their names in the order they appear. */
  readonly weightInputs: string[];
}

/** Opset of the default domain. 18 makes every Reduce* op take `axes` as an input. */
export const opsetVersion = 18;

export class GraphBuilder {
  readonly nodes: OpNode[] = [];
  readonly inputs: Value[] = [];
  readonly outputs: Value[] = [];
  readonly tensors = new Map<Value, TensorData>();
  private nextId = 0;
  private readonly scalarCache = new Map<string, Value>();

  private make(kind: ValueKind, dtype: DType, shape: Shape): Value {
    return new Value(this, this.nextId++, kind, dtype, [...shape]);
  }

  /** A graph input fed at run time. */
  input(name: string, dtype: DType, shape: Shape): Value {
    const v = this.make('input', dtype, shape);
    v.name = name;
    this.inputs.push(v);
    return v;
  }

  /** A named weight tensor (serialized as an external-data initializer, or as a graph input). */
  weight(name: string, data: Float32Array, shape: readonly number[]): Value {
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== data.length) throw new ShapeError(`weight ${name}: ${data.length} values for shape [${shape}]`);
    const v = this.make('weight', 'float32', shape);
    v.name = name;
    this.tensors.set(v, { dtype: 'float32', shape, data });
    return v;
  }

  /** A small constant embedded in the model. */
  constant(data: Float32Array | BigInt64Array, shape: readonly number[]): Value {
    const dtype: DType = data instanceof Float32Array ? 'float32' : 'int64';
    const v = this.make('constant', dtype, shape);
    this.tensors.set(v, { dtype, shape, data });
    return v;
  }

  /** A float32 scalar constant, shared between uses. */
  scalar(x: number): Value {
    const key = `f${Object.is(x, -0) ? '-0' : x}`;
    let v = this.scalarCache.get(key);
    if (!v) {
      v = this.constant(new Float32Array([x]), []);
      this.scalarCache.set(key, v);
    }
    return v;
  }

  /** An int64 vector constant (shapes, axes, indices). */
  ints(values: readonly number[]): Value {
    const key = `i${values.join(',')}`;
    let v = this.scalarCache.get(key);
    if (!v) {
      v = this.constant(BigInt64Array.from(values.map((x) => BigInt(x))), [values.length]);
      this.scalarCache.set(key, v);
    }
    return v;
  }

  /** Marks a value as a graph output under `name`. A value already named elsewhere is copied. */
  output(name: string, v: Value): Value {
    const out = v.kind === 'op' && v.name === undefined && !this.outputs.includes(v) ? v : this.unary('Identity', v);
    out.name = name;
    this.outputs.push(out);
    return out;
  }

  /** Records an op with explicitly given output types and shapes. */
  opMulti(
    op: string,
    inputs: readonly (Value | null)[],
    outs: readonly { dtype: DType; shape: Shape }[],
    attrs: Record<string, AttrValue> = {},
    domain?: string,
  ): Value[] {
    for (const x of inputs) {
      if (x && x.builder !== this) throw new Error(`${op}: input from another graph builder`);
    }
    const outputs = outs.map((o) => this.make('op', o.dtype, o.shape));
    const node: OpNode = { op, inputs, outputs, attrs, domain };
    for (const o of outputs) o.producer = node;
    this.nodes.push(node);
    return outputs;
  }

  op(op: string, inputs: readonly (Value | null)[], dtype: DType, shape: Shape, attrs: Record<string, AttrValue> = {}): Value {
    return this.opMulti(op, inputs, [{ dtype, shape }], attrs)[0];
  }

  /** Tags the op that produced v (see GradTag) and returns v. */
  tag(v: Value, t: GradTag): Value {
    if (!v.producer || v.builder !== this) throw new Error(`tag ${t}: the value is not an op of this graph`);
    v.producer.tag = t;
    return v;
  }

  private lift(x: Value | number): Value {
    return typeof x === 'number' ? this.scalar(x) : x;
  }

  // ---- elementwise ----

  binary(op: 'Add' | 'Sub' | 'Mul' | 'Div' | 'Pow', a: Value | number, b: Value | number): Value {
    const x = this.lift(a);
    const y = this.lift(b);
    return this.op(op, [x, y], x.dtype, broadcastShapes(x.shape, y.shape, op));
  }
  add(a: Value | number, b: Value | number): Value {
    return this.binary('Add', a, b);
  }
  sub(a: Value | number, b: Value | number): Value {
    return this.binary('Sub', a, b);
  }
  mul(a: Value | number, b: Value | number): Value {
    return this.binary('Mul', a, b);
  }
  div(a: Value | number, b: Value | number): Value {
    return this.binary('Div', a, b);
  }

  unary(op: string, x: Value, attrs: Record<string, AttrValue> = {}): Value {
    return this.op(op, [x], x.dtype, x.shape, attrs);
  }

  compare(op: 'Equal' | 'Less' | 'Greater', a: Value, b: Value): Value {
    return this.op(op, [a, b], 'bool', broadcastShapes(a.shape, b.shape, op));
  }

  where(cond: Value, a: Value, b: Value): Value {
    return this.op('Where', [cond, a, b], a.dtype, broadcastShapes(cond.shape, broadcastShapes(a.shape, b.shape)));
  }

  cast(x: Value, to: DType): Value {
    return this.op('Cast', [x], to, x.shape, { to: { kind: 'int', value: onnxDType[to] } });
  }

  softmax(x: Value, axis = -1): Value {
    return this.unary('Softmax', x, { axis: { kind: 'int', value: axis } });
  }

  // ---- linear algebra and shapes ----

  matMul(a: Value, b: Value): Value {
    if (a.rank < 2 || b.rank < 2) throw new ShapeError(`MatMul needs rank >= 2, got [${a.shape}] @ [${b.shape}]`);
    const [m, k1] = a.shape.slice(-2);
    const [k2, n] = b.shape.slice(-2);
    if (!dimEq(k1, k2)) throw new ShapeError(`MatMul: inner dims differ: [${a.shape}] @ [${b.shape}]`);
    const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2), 'MatMul');
    return this.op('MatMul', [a, b], a.dtype, [...batch, m, n]);
  }

  /**
   * x [..., k] @ wᵀ for w [n, k], as one Gemm with transB over the flattened leading dims, so that a
   * tied unembedding reads W_E in place (a Transpose would copy it on every run).
   */
  matMulTransposed(x: Value, w: Value): Value {
    if (w.rank !== 2 || !dimEq(x.shape[x.rank - 1], w.shape[1])) throw new ShapeError(`Gemm: [${x.shape}] @ [${w.shape}]ᵀ`);
    const lead = x.shape.slice(0, -1);
    const flat = x.rank === 2 ? x : this.reshapeLike(x, ['rows', x.shape[x.rank - 1]], [-1, w.shape[1] as number]);
    const y = this.op('Gemm', [flat, w], x.dtype, [flat.shape[0], w.shape[0]], { transB: { kind: 'int', value: 1 } });
    if (x.rank === 2) return y;
    const shape = this.concat([this.slice(this.op('Shape', [x], 'int64', [x.rank]), 0, 0, x.rank - 1), this.ints([w.shape[0] as number])], 0);
    return this.op('Reshape', [y, shape], x.dtype, [...lead, w.shape[0]]);
  }

  /** Reshape with ONNX semantics: 0 copies the input dim, -1 is inferred. */
  reshape(x: Value, shape: readonly number[]): Value {
    const out: Dim[] = shape.map((d, i) => (d === 0 ? x.shape[i] : d));
    const minus = out.indexOf(-1);
    if (minus >= 0) {
      const known = out.filter((d, i) => i !== minus);
      const inNumeric = x.shape.every((d) => typeof d === 'number');
      const outNumeric = known.every((d) => typeof d === 'number');
      if (inNumeric && outNumeric) {
        const total = (x.shape as number[]).reduce((a, b) => a * b, 1);
        out[minus] = total / (known as number[]).reduce((a, b) => a * b, 1);
      } else {
        // Symbolic sizes: cancel the dims that appear on both sides, then the rest must multiply out.
        const rest = [...x.shape];
        let numeric = 1;
        for (const d of known) {
          const j = rest.findIndex((r) => r === d);
          if (j >= 0) rest.splice(j, 1);
          else if (typeof d === 'number') numeric *= d;
          else throw new ShapeError(`Reshape: cannot infer -1 for [${x.shape}] -> [${shape}]`);
        }
        const restNum = rest.filter((r): r is number => typeof r === 'number').reduce((a, b) => a * b, 1);
        const restSym = rest.filter((r) => typeof r === 'string');
        if (restSym.length === 1 && restNum === numeric) out[minus] = restSym[0];
        else if (restSym.length === 0) out[minus] = restNum / numeric;
        else throw new ShapeError(`Reshape: cannot infer -1 for [${x.shape}] -> [${shape}]`);
      }
    }
    return this.op('Reshape', [x, this.ints(shape)], x.dtype, out);
  }

  /** Reshape to a shape that may contain symbolic dims taken from existing values. */
  reshapeLike(x: Value, shape: Shape, dims: readonly number[]): Value {
    return this.op('Reshape', [x, this.ints(dims)], x.dtype, shape);
  }

  transpose(x: Value, perm: readonly number[]): Value {
    if (perm.length !== x.rank) throw new ShapeError(`Transpose: perm [${perm}] for rank ${x.rank}`);
    return this.op('Transpose', [x], x.dtype, perm.map((p) => x.shape[p]), { perm: { kind: 'ints', value: perm } });
  }

  unsqueeze(x: Value, axes: readonly number[]): Value {
    const rank = x.rank + axes.length;
    const norm = axes.map((a) => normAxis(a, rank)).sort((a, b) => a - b);
    const out: Dim[] = [];
    let j = 0;
    for (let i = 0; i < rank; i++) out.push(norm.includes(i) ? 1 : x.shape[j++]);
    return this.op('Unsqueeze', [x, this.ints(norm)], x.dtype, out);
  }

  squeeze(x: Value, axes: readonly number[]): Value {
    const norm = axes.map((a) => normAxis(a, x.rank));
    for (const a of norm) if (x.shape[a] !== 1) throw new ShapeError(`Squeeze: dim ${a} of [${x.shape}] is not 1`);
    return this.op('Squeeze', [x, this.ints(norm)], x.dtype, x.shape.filter((_, i) => !norm.includes(i)));
  }

  reduce(op: 'ReduceSum' | 'ReduceMean' | 'ReduceMax', x: Value, axes: readonly number[], keepdims: boolean): Value {
    const norm = axes.map((a) => normAxis(a, x.rank));
    const out: Dim[] = [];
    x.shape.forEach((d, i) => {
      if (norm.includes(i)) {
        if (keepdims) out.push(1);
      } else out.push(d);
    });
    return this.op(op, [x, this.ints(norm)], x.dtype, out, { keepdims: { kind: 'int', value: keepdims ? 1 : 0 } });
  }
  reduceSum(x: Value, axes: readonly number[], keepdims = true): Value {
    return this.reduce('ReduceSum', x, axes, keepdims);
  }
  reduceMean(x: Value, axes: readonly number[], keepdims = true): Value {
    return this.reduce('ReduceMean', x, axes, keepdims);
  }

  /** Gather along `axis` with integer indices (embedding lookup, head un-grouping). */
  gather(data: Value, indices: Value, axis = 0): Value {
    const a = normAxis(axis, data.rank);
    const shape = [...data.shape.slice(0, a), ...indices.shape, ...data.shape.slice(a + 1)];
    return this.op('Gather', [data, indices], data.dtype, shape, { axis: { kind: 'int', value: a } });
  }

  /** Static slice [start, end) along one axis. */
  slice(x: Value, axis: number, start: number, end: number): Value {
    const a = normAxis(axis, x.rank);
    const d = x.shape[a];
    if (typeof d === 'number' && (start < 0 || end > d || start >= end)) {
      throw new ShapeError(`Slice [${start}, ${end}) out of range for dim ${a} of [${x.shape}]`);
    }
    const shape = [...x.shape];
    shape[a] = end - start;
    return this.op('Slice', [x, this.ints([start]), this.ints([end]), this.ints([a])], x.dtype, shape);
  }

  concat(xs: readonly Value[], axis: number): Value {
    const a = normAxis(axis, xs[0].rank);
    const shape = [...xs[0].shape];
    let total: Dim = 0;
    for (const x of xs) {
      const d = x.shape[a];
      if (typeof d !== 'number' || typeof total !== 'number') total = `concat${this.nextId}`;
      else total += d;
    }
    shape[a] = total;
    return this.op('Concat', xs, xs[0].dtype, shape, { axis: { kind: 'int', value: a } });
  }

  /** Broadcasts `x` to a static target shape (all dims numeric or taken from `like`). */
  expandLike(x: Value, like: Value): Value {
    const shape = this.op('Shape', [like], 'int64', [like.rank]);
    return this.op('Expand', [x, shape], x.dtype, broadcastShapes(x.shape, like.shape, 'Expand'));
  }

  // ---- composites ----

  /**
   * LayerNorm over the last axis as ONNX LayerNormalization. Its VJP recomputes the statistics from
   * x, so a backward pass keeps no normalized copies alive (split heads normalize H copies).
   */
  layerNorm(x: Value, gamma: Value | null, beta: Value | null, eps: number): Value {
    const d = x.shape[x.rank - 1];
    if (typeof d !== 'number') throw new ShapeError(`layerNorm: last dim of [${x.shape}] must be static`);
    const scale = gamma ?? this.constant(new Float32Array(d).fill(1), [d]);
    const y = this.op('LayerNormalization', beta ? [x, scale, beta] : [x, scale], x.dtype, x.shape, {
      axis: { kind: 'int', value: -1 },
      epsilon: { kind: 'float', value: eps },
    });
    return this.tag(y, 'norm-scale');
  }

  /** RMSNorm over the last axis: x / sqrt(mean(x^2) + eps) * gamma. */
  rmsNorm(x: Value, gamma: Value | null, eps: number): Value {
    const ms = this.reduceMean(this.mul(x, x), [-1]);
    let y = this.div(x, this.tag(this.unary('Sqrt', this.add(ms, eps)), 'norm-scale'));
    if (gamma) y = this.mul(y, gamma);
    return y;
  }

  /**
   * GPT-2's tanh approximation of GELU ("gelu_new"), as x · ratio with the ratio tagged 'act-ratio'.
   * Halving is exact in binary floating point, so x · (0.5 (1 + t)) equals 0.5 x (1 + t) bit for bit.
   */
  geluTanh(x: Value): Value {
    const c = Math.sqrt(2 / Math.PI);
    const inner = this.mul(this.add(x, this.mul(this.mul(this.mul(x, x), x), 0.044715)), c);
    return this.mul(x, this.tag(this.mul(this.add(this.unary('Tanh', inner), 1), 0.5), 'act-ratio'));
  }

  /** Exact GELU: x · (0.5 (1 + erf(x / sqrt 2))), the ratio tagged 'act-ratio'. */
  geluErf(x: Value): Value {
    return this.mul(x, this.tag(this.mul(this.add(this.unary('Erf', this.mul(x, Math.SQRT1_2)), 1), 0.5), 'act-ratio'));
  }

  /** x · sigmoid(x), the sigmoid tagged 'act-ratio'. */
  silu(x: Value): Value {
    return this.mul(x, this.tag(this.unary('Sigmoid', x), 'act-ratio'));
  }

  // ---- serialization ----

  /**
   * Serializes the graph as an ONNX ModelProto. Longer than 80 lines: the fields of onnx.proto's
   * ModelProto, GraphProto and NodeProto written in their order, one after the other.
   */
  serialize(opts: SerializeOptions = {}): SerializedModel {
    const names = new Map<Value, string>();
    const used = new Set<string>();
    const claim = (v: Value, name: string): void => {
      if (used.has(name)) throw new Error(`duplicate value name '${name}' in graph`);
      used.add(name);
      names.set(v, name);
    };
    for (const v of this.inputs) claim(v, v.name!);
    for (const v of this.tensors.keys()) if (v.kind === 'weight') claim(v, v.name!);
    for (const v of this.outputs) claim(v, v.name!);
    const nameOf = (v: Value): string => {
      let n = names.get(v);
      if (n === undefined) {
        n = `${v.kind === 'constant' ? 'c' : 'v'}${v.id}`;
        names.set(v, n);
      }
      return n;
    };

    const externalData: { path: string; data: Uint8Array }[] = [];
    const weightInputs: string[] = [];
    const w = new ProtoWriter();
    w.varint(1, 8); // ir_version 8 (opset 18 needs IR >= 8).
    w.string(2, 'circuitscope');
    w.string(3, '0.1.0');
    w.message(8, (o) => o.string(1, '').varint(2, opsetVersion));
    w.message(7, (g) => {
      for (const node of this.nodes) {
        g.message(1, (n) => {
          for (const x of node.inputs) n.string(1, x ? nameOf(x) : '');
          for (const y of node.outputs) n.string(2, nameOf(y));
          n.string(4, node.op);
          for (const [key, attr] of Object.entries(node.attrs)) n.message(5, (a) => writeAttr(a, key, attr));
          if (node.domain) n.string(7, node.domain);
        });
      }
      g.string(2, opts.graphName ?? 'circuitscope');
      for (const [v, t] of this.tensors) {
        if (v.kind === 'weight' && opts.weightsAsInputs) {
          weightInputs.push(nameOf(v));
          continue;
        }
        g.message(5, (tp) => {
          for (const d of t.shape) tp.varint(1, d);
          tp.varint(2, onnxDType[t.dtype]);
          tp.string(8, nameOf(v));
          const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
          if (v.kind === 'weight' && bytes.byteLength > 1024) {
            const path = `w${externalData.length}.bin`;
            externalData.push({ path, data: bytes });
            tp.message(13, (e) => e.string(1, 'location').string(2, path));
            tp.message(13, (e) => e.string(1, 'offset').string(2, '0'));
            tp.message(13, (e) => e.string(1, 'length').string(2, String(bytes.byteLength)));
            tp.varint(14, 1);
          } else {
            tp.bytes(9, bytes);
          }
        });
      }
      const valueInfo = (field: number, v: Value): void => {
        g.message(field, (vi) => {
          vi.string(1, nameOf(v));
          vi.message(2, (tp) =>
            tp.message(1, (tt) => {
              tt.varint(1, onnxDType[v.dtype]);
              tt.message(2, (sh) => {
                for (const d of v.shape) {
                  sh.message(1, (dim) => (typeof d === 'number' ? dim.varint(1, d) : dim.string(2, d)));
                }
              });
            }),
          );
        });
      };
      for (const v of this.inputs) valueInfo(11, v);
      if (opts.weightsAsInputs) for (const v of this.tensors.keys()) if (v.kind === 'weight') valueInfo(11, v);
      for (const v of this.outputs) valueInfo(12, v);
    });
    return { bytes: w.finish(), externalData, weightInputs };
  }
}

function writeAttr(a: ProtoWriter, name: string, attr: AttrValue): void {
  a.string(1, name);
  switch (attr.kind) {
    case 'float':
      a.float(2, attr.value).varint(20, 1);
      break;
    case 'int':
      a.varint(3, attr.value).varint(20, 2);
      break;
    case 'string':
      a.string(4, attr.value).varint(20, 3);
      break;
    case 'floats':
      a.packedFloat(7, attr.value).varint(20, 6);
      break;
    case 'ints':
      a.packedInt64(8, attr.value).varint(20, 7);
      break;
  }
}
