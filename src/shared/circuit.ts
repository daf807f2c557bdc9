/**
 * The circuit graph of the knowledge-circuits method (method spec §1), in EAP-IG's names and index
 * layout, as plain data: node ids, edge lists, the dense score matrix [nForward, nBackward], top-N
 * selection with dead-node pruning, and the EAP-IG JSON formats. Pure: used by engine, host and webview.
 */

/** Shape of the circuit graph; the `cfg` block of EAP-IG JSON files. */
export interface CircuitConfig {
  readonly nLayers: number;
  readonly nHeads: number;
  readonly parallelAttnMlp: boolean;
  readonly dModel?: number;
}

export type NodeId =
  | { readonly kind: 'input' }
  | { readonly kind: 'attn'; readonly layer: number; readonly head: number }
  | { readonly kind: 'mlp'; readonly layer: number }
  | { readonly kind: 'logits' };

export type Qkv = 'q' | 'k' | 'v';

export function formatNodeId(n: NodeId): string {
  switch (n.kind) {
    case 'input':
      return 'input';
    case 'attn':
      return `a${n.layer}.h${n.head}`;
    case 'mlp':
      return `m${n.layer}`;
    case 'logits':
      return 'logits';
  }
}

const attnRe = /^a(\d+)\.h(\d+)$/;
const mlpRe = /^m(\d+)$/;

/** Parses 'input', 'a3.h7', 'm3' or 'logits'; undefined for anything else. */
export function parseNodeId(s: string): NodeId | undefined {
  if (s === 'input') return { kind: 'input' };
  if (s === 'logits') return { kind: 'logits' };
  let m = attnRe.exec(s);
  if (m) return { kind: 'attn', layer: Number(m[1]), head: Number(m[2]) };
  m = mlpRe.exec(s);
  if (m) return { kind: 'mlp', layer: Number(m[1]) };
  return undefined;
}

/** The layer of a node as the method counts it: input is 0, logits is n_layers - 1. */
export function nodeLayer(n: NodeId, cfg: CircuitConfig): number {
  switch (n.kind) {
    case 'input':
      return 0;
    case 'logits':
      return cfg.nLayers - 1;
    default:
      return n.layer;
  }
}

/** An edge, named `${parent}->${child}` or `${parent}->${child}<q|k|v>`. */
export interface Edge {
  readonly name: string;
  readonly parent: string;
  readonly child: string;
  readonly qkv?: Qkv;
  /** Row of the score matrix (the parent's forward index). */
  readonly fwd: number;
  /** Column of the score matrix (the child's backward index, per q/k/v). */
  readonly bwd: number;
}

/**
 * The full graph for a config: nodes in construction order, edges in construction order, and the
 * forward/backward index layout of EAP-IG (method spec §1.4).
 */
export class CircuitGraph {
  readonly nForward: number;
  readonly nBackward: number;
  /** Node names in construction order: input, then per layer its heads and its MLP, then logits. */
  readonly nodes: readonly string[];
  readonly edges: readonly Edge[];
  private readonly edgeIndex = new Map<string, number>();
  /** For each node name, the indices of edges into it and out of it. */
  readonly parentEdges = new Map<string, number[]>();
  readonly childEdges = new Map<string, number[]>();

  constructor(readonly cfg: CircuitConfig) {
    const { nLayers: L, nHeads: H } = cfg;
    this.nForward = 1 + L * (H + 1);
    this.nBackward = L * (3 * H + 1) + 1;
    const nodes: string[] = ['input'];
    const edges: Edge[] = [];
    const add = (parent: string, child: string, bwd: number, qkv?: Qkv) => {
      const name = qkv ? `${parent}->${child}<${qkv}>` : `${parent}->${child}`;
      edges.push({ name, parent, child, qkv, fwd: this.forwardIndex(parent), bwd });
    };
    let residual: string[] = ['input'];
    for (let l = 0; l < L; l++) {
      const heads = Array.from({ length: H }, (_, h) => `a${l}.h${h}`);
      for (const node of residual) {
        for (let h = 0; h < H; h++) {
          (['q', 'k', 'v'] as const).forEach((letter, j) => add(node, heads[h], l * (3 * H + 1) + j * H + h, letter));
        }
      }
      const mlpSources = cfg.parallelAttnMlp ? [...residual] : [...residual, ...heads];
      residual = [...residual, ...heads];
      nodes.push(...heads);
      for (const node of mlpSources) add(node, `m${l}`, l * (3 * H + 1) + 3 * H);
      residual.push(`m${l}`);
      nodes.push(`m${l}`);
    }
    for (const node of residual) add(node, 'logits', this.nBackward - 1);
    nodes.push('logits');
    this.nodes = nodes;
    this.edges = edges;
    edges.forEach((e, i) => {
      this.edgeIndex.set(e.name, i);
      (this.childEdges.get(e.parent) ?? this.childEdges.set(e.parent, []).get(e.parent)!).push(i);
      (this.parentEdges.get(e.child) ?? this.parentEdges.set(e.child, []).get(e.child)!).push(i);
    });
  }

  /** Forward index (row) of a source node. Logits has none. */
  forwardIndex(name: string): number {
    const n = parseNodeId(name);
    const H = this.cfg.nHeads;
    switch (n?.kind) {
      case 'input':
        return 0;
      case 'attn':
        return 1 + n.layer * (H + 1) + n.head;
      case 'mlp':
        return 1 + n.layer * (H + 1) + H;
      default:
        throw new Error(`no forward index for node '${name}'`);
    }
  }

  /** Backward index (column) of a destination input; heads need the q/k/v letter. */
  backwardIndex(name: string, qkv?: Qkv): number {
    const n = parseNodeId(name);
    const H = this.cfg.nHeads;
    switch (n?.kind) {
      case 'attn':
        if (!qkv) throw new Error(`head '${name}' needs a q/k/v letter`);
        return n.layer * (3 * H + 1) + { q: 0, k: 1, v: 2 }[qkv] * H + n.head;
      case 'mlp':
        return n.layer * (3 * H + 1) + 3 * H;
      case 'logits':
        return this.nBackward - 1;
      default:
        throw new Error(`no backward index for node '${name}'`);
    }
  }

  /** Number of forward slots that feed a destination (EAP-IG's prev_index). */
  prevIndex(name: string): number {
    const n = parseNodeId(name);
    const H = this.cfg.nHeads;
    switch (n?.kind) {
      case 'attn':
        return 1 + n.layer * (H + 1);
      case 'mlp':
        return 1 + n.layer * (H + 1) + (this.cfg.parallelAttnMlp ? 0 : H);
      case 'logits':
        return this.nForward;
      default:
        throw new Error(`'${name}' is not a destination`);
    }
  }

  edgeByName(name: string): number | undefined {
    return this.edgeIndex.get(name);
  }

  /** Scores of every edge read out of a dense [nForward, nBackward] matrix. */
  edgeScores(dense: Float32Array | Float64Array): Float64Array {
    return Float64Array.from(this.edges, (e) => dense[e.fwd * this.nBackward + e.bwd]);
  }

  /** The dense [nForward, nBackward] matrix of edge values (non-edges stay 0). */
  dense(values: ArrayLike<number>, out = new Float32Array(this.nForward * this.nBackward)): Float32Array {
    this.edges.forEach((e, i) => (out[e.fwd * this.nBackward + e.bwd] = values[i]));
    return out;
  }
}

/** A selected circuit: which edges and nodes are in the graph. */
export interface Selection {
  readonly edgeIn: Uint8Array;
  readonly nodeIn: ReadonlyMap<string, boolean>;
}

/**
 * `apply_topn(N, absolute=True)`: the N edges of largest |score| (stable order on ties), with their
 * end points. Edges whose score is null (NaN) are never selected.
 */
export function topN(g: CircuitGraph, scores: ArrayLike<number>, n: number): Uint8Array {
  const order = Array.from(g.edges.keys()).filter((i) => !Number.isNaN(scores[i]));
  order.sort((a, b) => Math.abs(scores[b]) - Math.abs(scores[a]) || a - b);
  const edgeIn = new Uint8Array(g.edges.length);
  for (const i of order.slice(0, Math.max(0, n))) edgeIn[i] = 1;
  return edgeIn;
}

/**
 * The smallest N whose top-N (`topN`'s order) holds every scored edge of `edgeIn`: the rank of its
 * weakest edge, 0 when it holds none. For a circuit that was selected by top-n and pruned, the top-N
 * circuit pruned again is that circuit; for another selection it is the smallest top-N covering it.
 */
export function coveringTopN(scores: ArrayLike<number>, edgeIn: ArrayLike<number>): number {
  let weakest = -1;
  for (let i = 0; i < edgeIn.length; i++) {
    if (!edgeIn[i] || Number.isNaN(scores[i])) continue;
    // Later edges rank after earlier ones of equal |score|, so <= keeps the last of a tie.
    if (weakest < 0 || Math.abs(scores[i]) <= Math.abs(scores[weakest])) weakest = i;
  }
  if (weakest < 0) return 0;
  const m = Math.abs(scores[weakest]);
  let n = 0;
  for (let i = 0; i < scores.length; i++) {
    const a = Math.abs(scores[i]);
    if (a > m || (a === m && i <= weakest)) n++;
  }
  return n;
}

/** Edges with |score| >= threshold. */
export function threshold(g: CircuitGraph, scores: ArrayLike<number>, t: number): Uint8Array {
  return Uint8Array.from(g.edges, (_, i) => (Math.abs(scores[i]) >= t ? 1 : 0));
}

/**
 * `apply_greedy(N)`: grow from logits, always taking the best-|score| edge whose child is already in
 * the graph; a new parent brings its own incoming edges into the candidate set.
 */
export function greedy(g: CircuitGraph, scores: ArrayLike<number>, n: number): Uint8Array {
  const edgeIn = new Uint8Array(g.edges.length);
  const inGraph = new Set<string>(['logits']);
  // A binary max-heap of edge indices keyed by |score|, ties to the earlier edge.
  const heap: number[] = [];
  const better = (a: number, b: number) => Math.abs(scores[a]) > Math.abs(scores[b]) || (Math.abs(scores[a]) === Math.abs(scores[b]) && a < b);
  const push = (i: number) => {
    heap.push(i);
    let k = heap.length - 1;
    while (k > 0) {
      const p = (k - 1) >> 1;
      if (!better(heap[k], heap[p])) break;
      [heap[k], heap[p]] = [heap[p], heap[k]];
      k = p;
    }
  };
  const pop = (): number => {
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let k = 0;
      for (;;) {
        const l = 2 * k + 1;
        const r = l + 1;
        let m = k;
        if (l < heap.length && better(heap[l], heap[m])) m = l;
        if (r < heap.length && better(heap[r], heap[m])) m = r;
        if (m === k) break;
        [heap[k], heap[m]] = [heap[m], heap[k]];
        k = m;
      }
    }
    return top;
  };
  for (const i of g.parentEdges.get('logits') ?? []) if (!Number.isNaN(scores[i])) push(i);
  let taken = 0;
  while (taken < n && heap.length > 0) {
    const i = pop();
    edgeIn[i] = 1;
    taken++;
    const parent = g.edges[i].parent;
    if (!inGraph.has(parent)) {
      inGraph.add(parent);
      for (const j of g.parentEdges.get(parent) ?? []) if (!Number.isNaN(scores[j])) push(j);
    }
  }
  return edgeIn;
}

/**
 * `prune_dead_nodes(prune_childless=True, prune_parentless=True)` of the reference code (§3.1):
 * logits is in iff it has an in-graph parent edge; then, in reverse construction order, a node with no
 * in-graph child edge is removed with its parent edges (cascading); then, in forward order, a
 * non-input node with no in-graph parent edge is removed with its child edges.
 */
export function pruneDeadNodes(g: CircuitGraph, edgeInSelected: Uint8Array): Selection {
  const edgeIn = Uint8Array.from(edgeInSelected);
  const nodeIn = new Map<string, boolean>();
  for (const n of g.nodes) nodeIn.set(n, false);
  for (let i = 0; i < edgeIn.length; i++) {
    if (edgeIn[i]) {
      nodeIn.set(g.edges[i].parent, true);
      nodeIn.set(g.edges[i].child, true);
    }
  }
  const hasIn = (list: number[] | undefined) => (list ?? []).some((i) => edgeIn[i] === 1);
  nodeIn.set('logits', hasIn(g.parentEdges.get('logits')));
  for (let k = g.nodes.length - 2; k >= 0; k--) {
    const n = g.nodes[k];
    if (!nodeIn.get(n)) continue;
    if (!hasIn(g.childEdges.get(n))) {
      nodeIn.set(n, false);
      for (const i of g.parentEdges.get(n) ?? []) edgeIn[i] = 0;
    }
  }
  for (const n of g.nodes) {
    if (n === 'input' || !nodeIn.get(n)) continue;
    if (!hasIn(g.parentEdges.get(n))) {
      nodeIn.set(n, false);
      for (const i of g.childEdges.get(n) ?? []) edgeIn[i] = 0;
    }
  }
  return { edgeIn, nodeIn };
}

// ---- Node scores (EAP-IG's node attribution, attribute_node.py) ----

/**
 * Node scores from edge scores: a source node's score is the sum of its outgoing edges' scores. For
 * the gradient methods (EAP, EAP-IG over inputs, RelP) this is EAP-IG's node score Σ Δ_u · ∂L/∂z_u
 * exactly: a node's output z_u enters the residual stream once and every later reader of it is one of
 * its edges, so ∂L/∂z_u is the sum of the gradients at those readers' inputs. For exact patching it is
 * the sum of one-edge effects, not the effect of patching the node. Logits has no score.
 */
export function nodeScoresFromEdges(g: CircuitGraph, scores: ArrayLike<number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const n of g.nodes) {
    if (n === 'logits') continue;
    let s = 0;
    for (const i of g.childEdges.get(n) ?? []) s += Number.isNaN(scores[i]) ? 0 : scores[i];
    out.set(n, s);
  }
  return out;
}

/**
 * `apply_topn(n, absolute, level='node')` as upstream's `to_json` then writes it: the n scored nodes of
 * largest (|)score(|) (stable order on ties) and logits are in the graph, and so is every edge whose
 * both ends are. Upstream fills whole score-matrix rows, so its prune never removes a selected node;
 * none is removed here either.
 */
export function topNNodes(g: CircuitGraph, nodeScores: ReadonlyMap<string, number>, n: number, absolute = true): Selection {
  const key = (x: number) => (absolute ? Math.abs(x) : x);
  const scored = g.nodes.filter((m) => nodeScores.has(m) && !Number.isNaN(nodeScores.get(m)!));
  const order = scored.map((m, i) => [m, i] as const).sort((a, b) => key(nodeScores.get(b[0])!) - key(nodeScores.get(a[0])!) || a[1] - b[1]);
  const nodeIn = new Map<string, boolean>(g.nodes.map((m) => [m, m === 'logits' || !nodeScores.has(m)]));
  for (const [m] of order.slice(0, Math.max(0, n))) nodeIn.set(m, true);
  const edgeIn = Uint8Array.from(g.edges, (e) => (nodeIn.get(e.parent) && nodeIn.get(e.child) ? 1 : 0));
  return { edgeIn, nodeIn };
}

/** Shannon entropy (natural log) of |s| / Σ|s| over in-circuit edges (`edge_entropy`). */
export function edgeEntropy(scores: ArrayLike<number>, edgeIn: Uint8Array): number {
  let total = 0;
  for (let i = 0; i < edgeIn.length; i++) if (edgeIn[i]) total += Math.abs(scores[i]);
  if (!(total > 0)) return 0;
  let h = 0;
  for (let i = 0; i < edgeIn.length; i++) {
    if (!edgeIn[i]) continue;
    const p = Math.abs(scores[i]) / total;
    if (p > 0) h -= p * Math.log(p);
  }
  return h;
}

export function countIn(edgeIn: Uint8Array): number {
  let n = 0;
  for (const x of edgeIn) n += x;
  return n;
}

// ---- EAP-IG JSON formats (method spec §1.5) ----

/** Upstream EAP-IG v2 JSON (`Graph.to_json`). */
export interface EapJsonV2 {
  cfg: { n_layers: number; n_heads: number; parallel_attn_mlp: boolean; d_model?: number };
  nodes: Record<string, { in_graph: boolean; score?: number }>;
  edges: Record<string, { score: number | null; in_graph: boolean }>;
}

/** The older DKC/KC JSON the paper's pipeline wrote: nodes map to booleans. */
export interface EapJsonOld {
  cfg: { n_layers: number; n_heads: number; parallel_attn_mlp: boolean };
  nodes: Record<string, boolean>;
  edges: Record<string, { score: number | null; in_graph: boolean }>;
}

/** Scores (NaN for null) and selection of a circuit, with its config. */
export interface CircuitData {
  readonly cfg: CircuitConfig;
  readonly scores: Float64Array;
  readonly edgeIn: Uint8Array;
  readonly nodeIn: ReadonlyMap<string, boolean>;
  readonly nodeScores?: ReadonlyMap<string, number>;
}

export function toEapJsonV2(g: CircuitGraph, c: CircuitData): EapJsonV2 {
  const nodes: EapJsonV2['nodes'] = {};
  for (const n of g.nodes) {
    const s = c.nodeScores?.get(n);
    nodes[n] = s === undefined ? { in_graph: c.nodeIn.get(n) ?? false } : { in_graph: c.nodeIn.get(n) ?? false, score: s };
  }
  const edges: EapJsonV2['edges'] = {};
  g.edges.forEach((e, i) => {
    edges[e.name] = { score: Number.isNaN(c.scores[i]) ? null : c.scores[i], in_graph: c.edgeIn[i] === 1 };
  });
  return {
    cfg: { n_layers: c.cfg.nLayers, n_heads: c.cfg.nHeads, parallel_attn_mlp: c.cfg.parallelAttnMlp, ...(c.cfg.dModel ? { d_model: c.cfg.dModel } : {}) },
    nodes,
    edges,
  };
}

export function toEapJsonOld(g: CircuitGraph, c: CircuitData): EapJsonOld {
  const v2 = toEapJsonV2(g, c);
  const nodes: Record<string, boolean> = {};
  for (const n of g.nodes) nodes[n] = c.nodeIn.get(n) ?? false;
  return { cfg: { n_layers: v2.cfg.n_layers, n_heads: v2.cfg.n_heads, parallel_attn_mlp: v2.cfg.parallel_attn_mlp }, nodes, edges: v2.edges };
}

export class CircuitFormatError extends Error {
  override name = 'CircuitFormatError';
}

/**
 * Reads either EAP-IG JSON format. Unknown edge or node names are errors (a file from another
 * model); edges missing from the file keep a null score and are out of the graph.
 */
/** Largest graph a circuit file may claim: a few times the edges of a 70B model (80 layers × 64 heads). */
export const maxCircuitEdges = 2e8;

/** The number of edges of an L-layer, H-head graph, computed without building it. */
export function edgeCount(nLayers: number, nHeads: number, parallelAttnMlp = false): number {
  let n = 0;
  for (let l = 0, residual = 1; l < nLayers; l++) {
    n += residual * 3 * nHeads + (parallelAttnMlp ? residual : residual + nHeads);
    residual += nHeads + 1;
    if (n > maxCircuitEdges) return n;
  }
  return n + 1 + nLayers * (nHeads + 1);
}

/** The shape a circuit must have to be used on a model; checked before any graph is built. */
export interface ExpectedShape {
  readonly nLayers: number;
  readonly nHeads: number;
  readonly parallelAttnMlp: boolean;
  /** The checkpoint and its architecture, for the message. */
  readonly checkpoint: string;
  readonly architecture: string;
}

export const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
export const typeName = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : typeof v);

export function fromEapJson(json: unknown, source = 'circuit file', expect?: ExpectedShape): { graph: CircuitGraph; data: CircuitData; format: 'old' | 'v2' } {
  if (!isPlainObject(json)) throw new CircuitFormatError(`${source}: not a JSON object`);
  const j = json;
  for (const key of ['cfg', 'nodes', 'edges']) {
    if (!isPlainObject(j[key])) throw new CircuitFormatError(`${source}: '${key}' is ${j[key] === undefined ? 'missing' : typeName(j[key])}; an EAP-IG graph file has 'cfg', 'nodes' and 'edges' objects`);
  }
  const cfgIn = j.cfg as Record<string, unknown>;
  for (const key of ['n_layers', 'n_heads']) {
    const v = cfgIn[key];
    if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > 4096) {
      throw new CircuitFormatError(`${source}: 'cfg.${key}' must be an integer from 1 to 4096, got ${typeof v === 'number' || typeof v === 'boolean' ? String(v) : typeName(v)}`);
    }
  }
  const parallel = cfgIn.parallel_attn_mlp === true;
  const shape = (L: unknown, H: unknown, p: boolean) => `${L}-layer, ${H}-head${p ? ', parallel' : ''}`;
  if (expect && (cfgIn.n_layers !== expect.nLayers || cfgIn.n_heads !== expect.nHeads || parallel !== expect.parallelAttnMlp)) {
    const prov = isPlainObject(j.circuitscope) && isPlainObject(j.circuitscope.checkpoint) ? j.circuitscope.checkpoint : undefined;
    const from = prov && typeof prov.architecture === 'string' && typeof prov.path === 'string' ? ` (discovered on ${prov.architecture} at ${prov.path})` : '';
    throw new CircuitFormatError(
      `${source}: the circuit is for a ${shape(cfgIn.n_layers, cfgIn.n_heads, parallel)} model${from}, but ${expect.checkpoint} is a ${shape(expect.nLayers, expect.nHeads, expect.parallelAttnMlp)} ${expect.architecture}. ` +
        'Use a circuit discovered on this architecture, or run discover on this checkpoint.',
    );
  }
  const claimed = edgeCount(cfgIn.n_layers as number, cfgIn.n_heads as number, parallel);
  if (claimed > maxCircuitEdges) {
    throw new CircuitFormatError(`${source}: 'cfg' claims a ${shape(cfgIn.n_layers, cfgIn.n_heads, parallel)} graph with more than ${maxCircuitEdges} edges, more than any supported model has; the file is corrupt`);
  }
  const cfg: CircuitConfig = {
    nLayers: cfgIn.n_layers as number,
    nHeads: cfgIn.n_heads as number,
    parallelAttnMlp: cfgIn.parallel_attn_mlp === true,
    dModel: typeof cfgIn.d_model === 'number' ? cfgIn.d_model : undefined,
  };
  const graph = new CircuitGraph(cfg);
  const scores = new Float64Array(graph.edges.length).fill(NaN);
  const edgeIn = new Uint8Array(graph.edges.length);
  const short = (name: string) => (name.length > 80 ? name.slice(0, 77) + '...' : name);
  for (const [name, v] of Object.entries(j.edges as Record<string, unknown>)) {
    const i = graph.edgeByName(name);
    if (i === undefined) {
      throw new CircuitFormatError(`${source}: edge '${short(name)}' does not exist in a ${cfg.nLayers}-layer, ${cfg.nHeads}-head graph`);
    }
    if (!isPlainObject(v)) throw new CircuitFormatError(`${source}: edge '${short(name)}' is ${typeName(v)}; it must be an object with 'score' and 'in_graph'`);
    if (v.score !== undefined && v.score !== null && typeof v.score !== 'number') throw new CircuitFormatError(`${source}: edge '${short(name)}': 'score' is ${typeName(v.score)}, not a number`);
    if (v.in_graph !== undefined && typeof v.in_graph !== 'boolean') throw new CircuitFormatError(`${source}: edge '${short(name)}': 'in_graph' is ${typeName(v.in_graph)}, not true or false`);
    scores[i] = typeof v.score === 'number' ? v.score : NaN;
    edgeIn[i] = v.in_graph ? 1 : 0;
  }
  const nodeIn = new Map<string, boolean>();
  const nodeScores = new Map<string, number>();
  let format: 'old' | 'v2' = 'v2';
  for (const [name, v] of Object.entries(j.nodes as Record<string, unknown>)) {
    if (!graph.parentEdges.has(name) && !graph.childEdges.has(name)) throw new CircuitFormatError(`${source}: node '${short(name)}' does not exist in a ${cfg.nLayers}-layer, ${cfg.nHeads}-head graph`);
    if (typeof v === 'boolean') {
      format = 'old';
      nodeIn.set(name, v);
    } else {
      if (!isPlainObject(v) || (v.in_graph !== undefined && typeof v.in_graph !== 'boolean')) {
        throw new CircuitFormatError(`${source}: node '${short(name)}' is ${typeName(v)}; it must be true, false, or an object with a boolean 'in_graph'`);
      }
      const o = v as { in_graph?: boolean; score?: number };
      nodeIn.set(name, o.in_graph === true);
      if (typeof o.score === 'number') nodeScores.set(name, o.score);
    }
  }
  for (const n of graph.nodes) if (!nodeIn.has(n)) nodeIn.set(n, false);
  // Logits is always in the graph when any edge reaches it (upstream skips it when reading).
  if (!nodeIn.get('logits')) nodeIn.set('logits', (graph.parentEdges.get('logits') ?? []).some((i) => edgeIn[i] === 1));
  return { graph, data: { cfg, scores, edgeIn, nodeIn, nodeScores: nodeScores.size ? nodeScores : undefined }, format };
}
