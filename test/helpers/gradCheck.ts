/**
 * Checks gradient graphs against central finite differences, run by the same onnxruntime session.
 *
 * A check builds L = ReduceSum(f(x…) · R) for a fixed random R, appends the gradient ops with
 * `gradients`, and compares dL/dx from the graph with (L(x + ε eᵢ) − L(x − ε eᵢ)) / 2ε for a sample
 * of coordinates. Everything runs in float32, so ε is large (1e-2 by default) and the tolerance is
 * relative to the gradient's scale.
 */
import { gradients } from '../../src/engine/onnx/autodiff';
import { GraphBuilder, type Dim, type Value } from '../../src/engine/onnx/graphBuilder';
import { Session, type HostTensor } from '../../src/engine/runtime/session';
import { rng } from './tinyModels';

/** A graph input: its fed value, and optionally a declared shape with symbolic dims. */
export interface CheckInput {
  readonly value: HostTensor;
  readonly shape?: readonly Dim[];
  /** Differentiate with respect to this input (default: every float32 input). */
  readonly wrt?: boolean;
}

export interface CheckOptions {
  readonly inputs: Record<string, CheckInput>;
  /** Builds f from the graph inputs, named as in `inputs`. */
  readonly build: (b: GraphBuilder, x: Record<string, Value>) => Value;
  readonly eps?: number;
  /** Coordinates checked per input (all of them when the input is smaller). */
  readonly samples?: number;
  readonly rtol?: number;
  /** Absolute tolerance as a fraction of the largest gradient entry of that input. */
  readonly atol?: number;
  readonly seed?: number;
  /** Fed values for inputs that `build` creates itself; they are not differentiated. */
  readonly feeds?: Record<string, HostTensor>;
  /** Also differentiate with respect to every weight that `build` created (fed as graph inputs). */
  readonly weights?: boolean;
  /** The run-time shape of f, needed only when f has a symbolic dim that no input binds. */
  readonly outShape?: readonly number[];
}

export interface CheckReport {
  readonly ok: boolean;
  readonly message: string;
  /** The gradient of each differentiated input, as the graph computed it. */
  readonly grads: Record<string, Float32Array>;
  /** The largest ratio of difference to tolerance over every checked coordinate; at most 1 when ok. */
  readonly margin: number;
}

/** Float32 data drawn uniformly from [lo, hi), optionally kept at least `gap` away from zero. */
export function uniform(n: number, seed: number, lo = -1, hi = 1, gap = 0): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let v = lo + (hi - lo) * r();
    if (gap > 0 && Math.abs(v) < gap) v = v < 0 ? v - gap : v + gap;
    out[i] = v;
  }
  return out;
}

export function randomF32(shape: readonly number[], seed: number, lo = -1, hi = 1, gap = 0): HostTensor {
  return { dtype: 'float32', shape, data: uniform(shape.reduce((a, b) => a * b, 1), seed, lo, hi, gap) };
}

/** The fixed random R of the loss sum(f · R), so that another graph can rebuild the same loss. */
export function lossWeights(shape: readonly number[], seed = 1): HostTensor {
  return randomF32(shape, seed + 1000);
}

/** Resolves a declared shape against the fed shape, binding each symbolic dim to its size. */
function bindDims(declared: readonly Dim[], fed: readonly number[], dims: Map<string, number>, name: string): void {
  if (declared.length !== fed.length) throw new Error(`${name}: declared rank ${declared.length}, fed rank ${fed.length}`);
  declared.forEach((d, i) => {
    if (typeof d === 'number') {
      if (d !== fed[i]) throw new Error(`${name}: dim ${i} declared ${d}, fed ${fed[i]}`);
    } else if (dims.has(d) && dims.get(d) !== fed[i]) {
      throw new Error(`${name}: symbolic dim '${d}' is ${dims.get(d)} elsewhere, ${fed[i]} here`);
    } else {
      dims.set(d, fed[i]);
    }
  });
}

/** Picks up to n coordinates of a tensor of `size` elements, always including the first and last. */
function sampleCoords(size: number, n: number, seed: number): number[] {
  if (size <= n) return Array.from({ length: size }, (_, i) => i);
  const r = rng(seed);
  const picked = new Set<number>([0, size - 1]);
  while (picked.size < n) picked.add(Math.floor(r() * size));
  return [...picked].sort((a, b) => a - b);
}

/**
 * Builds the loss and its gradient graph and compares with finite differences. The message reports
 * `maxdiff=…` and the first 5 (graph, finite difference) pairs of each input that failed.
 */
export async function checkGradients(opts: CheckOptions): Promise<CheckReport> {
  const eps = opts.eps ?? 1e-2;
  const rtol = opts.rtol ?? 1e-2;
  const atol = opts.atol ?? 2e-3;
  const b = new GraphBuilder();
  const dims = new Map<string, number>();
  const x: Record<string, Value> = {};
  for (const [name, inp] of Object.entries(opts.inputs)) {
    const declared = inp.shape ?? inp.value.shape;
    bindDims(declared, inp.value.shape, dims, name);
    x[name] = b.input(name, inp.value.dtype, declared);
  }
  const f = opts.build(b, x);
  const fShape = opts.outShape ?? f.shape.map((d) => (typeof d === 'number' ? d : dims.get(d)));
  if (fShape.some((d) => d === undefined)) throw new Error(`output shape [${f.shape}] has a dim no input binds`);
  const rShape = fShape as number[];
  const R = b.input('R', 'float32', f.shape);
  const loss = b.reduceSum(b.mul(f, R), f.shape.map((_, i) => i), false); // []
  const names = Object.keys(opts.inputs).filter((n) => opts.inputs[n].wrt ?? opts.inputs[n].value.dtype === 'float32');
  const feeds: Record<string, HostTensor> = { R: lossWeights(rShape, opts.seed) };
  for (const [name, inp] of Object.entries(opts.inputs)) feeds[name] = inp.value;
  Object.assign(feeds, opts.feeds);
  if (opts.weights) {
    for (const [v, t] of b.tensors) {
      if (v.kind !== 'weight') continue;
      names.push(v.name!);
      x[v.name!] = v;
      feeds[v.name!] = { dtype: 'float32', shape: t.shape, data: t.data as Float32Array };
    }
  }
  const grads = gradients(b, loss, names.map((n) => x[n]));
  b.output('L', loss);
  // The size of the terms the loss sums bounds its float32 rounding error, and so the noise of the differences.
  b.output('Lmag', b.reduceSum(b.unary('Abs', b.mul(f, R)), f.shape.map((_, i) => i), false));
  names.forEach((n, i) => {
    const g = grads[i];
    if (!g) throw new Error(`no gradient for input ${n}`);
    b.output(`d_${n}`, g);
  });
  const session = await Session.create(b.serialize({ weightsAsInputs: opts.weights }));
  try {
    const base = await session.run(feeds);
    const noise = ((base.Lmag.data as Float32Array)[0] * 1e-6) / eps;
    const lossAt = async (name: string, i: number, delta: number): Promise<{ loss: number; step: number }> => {
      const data = Float32Array.from(feeds[name].data as Float32Array);
      data[i] += delta;
      const step = data[i] - (feeds[name].data as Float32Array)[i];
      const out = await session.run({ ...feeds, [name]: { ...feeds[name], data } }, ['L']);
      return { loss: (out.L.data as Float32Array)[0], step };
    };
    const out: Record<string, Float32Array> = {};
    const failures: string[] = [];
    let margin = 0;
    for (const name of names) {
      const g = base[`d_${name}`].data as Float32Array;
      out[name] = g;
      const scale = g.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const pairs: [number, number, number, boolean][] = [];
      let maxdiff = 0;
      let bad = false;
      for (const i of sampleCoords(g.length, opts.samples ?? 24, opts.seed ?? 1)) {
        const plus = await lossAt(name, i, eps);
        const minus = await lossAt(name, i, -eps);
        const fd = (plus.loss - minus.loss) / (plus.step - minus.step);
        const diff = Math.abs(g[i] - fd);
        maxdiff = Math.max(maxdiff, diff);
        const tol = rtol * Math.abs(fd) + atol * scale + noise;
        const fails = diff > tol;
        margin = Math.max(margin, diff / tol);
        bad ||= fails;
        pairs.push([i, g[i], fd, fails]);
      }
      if (bad) {
        // The first 5 pairs as llm.c prints them, each failing one marked, then the first failures after them.
        const show = [...pairs.slice(0, 5), ...pairs.slice(5).filter((p) => p[3]).slice(0, 5)];
        const first = show.map(([i, a, fd, f]) => `${f ? '!' : ''}[${i}] ${a.toPrecision(6)} vs ${fd.toPrecision(6)}`);
        failures.push(`d_${name}: maxdiff=${maxdiff.toExponential(3)} (scale ${scale.toExponential(3)}); graph vs fd: ${first.join(', ')}`);
      }
    }
    return { ok: failures.length === 0, message: failures.join('\n'), grads: out, margin };
  } finally {
    await session.dispose();
  }
}
