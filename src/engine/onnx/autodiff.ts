/**
 * Reverse-mode autodiff over the graph builder, after tinygrad's gradient(): a topological walk from
 * the target back to the values asked for, pruned to the nodes that lie on a path between them, then
 * reverse accumulation through the rules of `vjp.ts`. The gradient ops are appended to the same
 * builder, so one ONNX graph computes the forward and the backward pass; callers expose the results
 * with `b.output(name, v)`.
 */
import { ShapeError, type GradTag, type GraphBuilder, type OpNode, type Value } from './graphBuilder';
import { checkCotangent, isFloat, relevanceRules, vjpRules } from './vjp';

/**
 * The nodes that y depends on, in topological order (inputs before users), restricted to the nodes
 * that also depend on some value in `from`. A value created before every value of `from` cannot
 * depend on them (the tape only ever refers back), so the walk does not descend below it.
 */
function pathNodes(y: Value, from: ReadonlySet<Value>): { order: OpNode[]; onPath: Set<Value> } {
  const minId = Math.min(...[...from].map((v) => v.id));
  const onPath = new Set<Value>(from);
  const order: OpNode[] = [];
  // A node is 'open' while its inputs are being walked and 'done' once it has been placed in order.
  const state = new Map<OpNode, 'open' | 'done'>();
  // An explicit stack keeps deep models (thousands of nodes in a chain) off the call stack. A node
  // may sit on it more than once; it is placed at the first time all its inputs are done, which is
  // what keeps a node that two users share ahead of both of them.
  const stack: OpNode[] = [];
  const push = (v: Value | null): void => {
    if (v && v.producer && v.id >= minId && !state.has(v.producer)) stack.push(v.producer);
  };
  push(y);
  while (stack.length > 0) {
    const node = stack[stack.length - 1];
    const st = state.get(node);
    if (st === undefined) {
      state.set(node, 'open');
      for (const x of node.inputs) push(x);
      continue;
    }
    stack.pop();
    if (st === 'done') continue;
    state.set(node, 'done');
    // Integer and boolean values carry no gradient, so a path through one does not count.
    if (node.inputs.some((x) => x && onPath.has(x) && isFloat(x.dtype))) {
      for (const o of node.outputs) if (isFloat(o.dtype)) onPath.add(o);
      order.push(node);
    }
  }
  return { order, onPath };
}

/** A seed of ones for a target with a single element. */
function onesLike(b: GraphBuilder, y: Value): Value {
  const one = y.rank === 0 ? b.scalar(1) : b.constant(new Float32Array([1]), y.shape as number[]);
  return y.dtype === 'float32' ? one : b.cast(one, y.dtype);
}

/**
 * Removes the gradient ops appended since `start` whose results reach none of `keep`. Rules compute
 * the cotangent of every differentiable input, including constants and weights that were not asked
 * for; this is where that work is dropped again.
 */
function removeUnread(b: GraphBuilder, start: number, keep: readonly (Value | undefined)[]): void {
  const live = new Set<Value>(keep.filter((v): v is Value => v !== undefined));
  const kept: OpNode[] = [];
  for (let i = b.nodes.length - 1; i >= start; i--) {
    const node = b.nodes[i];
    if (!node.outputs.some((o) => live.has(o))) continue;
    for (const x of node.inputs) if (x) live.add(x);
    kept.push(node);
  }
  b.nodes.splice(start, b.nodes.length - start, ...kept.reverse());
}

/**
 * Appends ops that compute d(seed · y)/dv for each v in `wrt`, and returns those values in the order
 * of `wrt`. Without a seed, y must hold a single element and the seed is 1. The entry for a value is
 * undefined when y does not depend on it through floating-point values (its gradient is zero, or it
 * is an integer tensor). Only the nodes on a path from some value of `wrt` to y are differentiated,
 * so unrelated branches and weights that are not asked for cost nothing.
 *
 * `rules` names the node tags whose alternative VJP rows this run takes (RelP's propagation rules,
 * `relevanceRules` in vjp.ts); without it every node takes its ordinary gradient.
 */
export function gradients(b: GraphBuilder, y: Value, wrt: readonly Value[], seed?: Value, rules: ReadonlySet<GradTag> = new Set()): (Value | undefined)[] {
  for (const v of [y, ...wrt, ...(seed ? [seed] : [])]) {
    if (v.builder !== b) throw new Error('gradients: a value comes from another graph builder');
  }
  if (!isFloat(y.dtype)) throw new Error(`gradients: target has type ${y.dtype}; only floating-point targets have gradients`);
  if (seed && (seed.dtype !== y.dtype || seed.rank !== y.rank || seed.shape.some((d, i) => d !== y.shape[i]))) {
    throw new ShapeError(`gradients: seed ${seed.dtype}[${seed.shape}] does not match target ${y.dtype}[${y.shape}]`);
  }
  if (!seed && !y.shape.every((d) => d === 1)) {
    throw new ShapeError(`gradients: target of shape [${y.shape}] is not a scalar; pass a seed of that shape`);
  }
  const start = b.nodes.length;
  const from = new Set(wrt.filter((v) => isFloat(v.dtype)));
  if (from.size === 0) return wrt.map(() => undefined);
  const { order, onPath } = pathNodes(y, from);
  if (!onPath.has(y)) return wrt.map(() => undefined);

  // Cotangents accumulate here; a value used by several nodes receives the sum of their shares.
  const dOf = new Map<Value, Value>([[y, seed ?? onesLike(b, y)]]);
  for (let n = order.length - 1; n >= 0; n--) {
    const node = order[n];
    const dy = node.outputs.map((o) => dOf.get(o));
    if (dy.every((d) => d === undefined)) continue;
    const rule = node.tag && rules.has(node.tag) ? relevanceRules[node.tag] : vjpRules[node.op];
    // The table holds ai.onnx ops only; an op of another domain may share a name with one of them.
    if (!rule || node.domain) throw new Error(`No VJP for ${node.domain ? `${node.domain}.` : ''}${node.op}`);
    const dx = rule({ node, x: node.inputs, y: node.outputs, dy, b });
    node.inputs.forEach((x, i) => {
      const d = dx[i];
      if (!x || !d || !onPath.has(x)) return;
      checkCotangent(node, i, x, d);
      const prev = dOf.get(x);
      dOf.set(x, prev ? b.add(prev, d) : d);
    });
  }
  const result = wrt.map((v) => (from.has(v) ? dOf.get(v) : undefined));
  removeUnread(b, start, result);
  return result;
}
