/**
 * One circuit as the webview holds it: the graph rebuilt from `cfg`, the scores (null as NaN), each
 * edge's rank by |score|, and the top-N selection with dead nodes pruned, recomputed client-side with
 * src/shared/circuit.ts whenever the slider moves.
 */
import { CircuitGraph, parseNodeId, pruneDeadNodes, topN, type NodeId } from '../../src/shared/circuit';
import type { CircuitViewData, HeadInfo } from '../../src/shared/webviewProtocol';

/** The edges and nodes drawn for one N. */
export interface CircuitSelection {
  readonly n: number;
  readonly edgeIn: Uint8Array;
  readonly nodeIn: ReadonlyMap<string, boolean>;
  /** Indices of the in-circuit edges. */
  readonly edges: Int32Array;
  readonly nodeCount: number;
  /** Smallest and largest |score| among the in-circuit edges (EAP-IG's pen-width range). */
  readonly minAbs: number;
  readonly maxAbs: number;
}

export interface NodeDetails {
  readonly name: string;
  readonly id: NodeId;
  readonly inCircuit: boolean;
  readonly inEdges: number;
  readonly outEdges: number;
  /** Summed |score| of the node's in-circuit edges, incoming and outgoing. */
  readonly inAbs: number;
  readonly outAbs: number;
  readonly head?: HeadInfo;
}

export interface EdgeDetails {
  readonly index: number;
  readonly name: string;
  readonly score: number;
  /** 1-based rank by |score| among scored edges; 0 when unscored. */
  readonly rank: number;
  readonly scored: number;
  readonly inCircuit: boolean;
}

export class CircuitModel {
  readonly graph: CircuitGraph;
  readonly scores: Float64Array;
  readonly rank: Int32Array;
  readonly scoredCount: number;
  private readonly nodeSet: ReadonlySet<string>;

  constructor(readonly data: CircuitViewData) {
    this.graph = new CircuitGraph(data.cfg);
    this.nodeSet = new Set(this.graph.nodes);
    if (data.scores.length !== this.graph.edges.length) {
      throw new Error(
        `'${data.title}': ${data.scores.length} scores for a ${data.cfg.nLayers}-layer, ${data.cfg.nHeads}-head graph of ${this.graph.edges.length} edges`,
      );
    }
    this.scores = Float64Array.from(data.scores, (s) => (typeof s === 'number' ? s : NaN));
    // The same order as topN(): |score| descending, ties by construction order, unscored last.
    const order = Array.from(this.graph.edges.keys()).filter((i) => !Number.isNaN(this.scores[i]));
    order.sort((a, b) => Math.abs(this.scores[b]) - Math.abs(this.scores[a]) || a - b);
    this.rank = new Int32Array(this.graph.edges.length);
    order.forEach((e, r) => (this.rank[e] = r + 1));
    this.scoredCount = order.length;
  }

  hasNode(name: string): boolean {
    return this.nodeSet.has(name);
  }

  /** Clamps a requested N to what the scores allow. */
  clampN(n: number): number {
    return Math.max(1, Math.min(this.scoredCount, Math.round(n) || 1));
  }

  select(n: number): CircuitSelection {
    n = this.clampN(n);
    const { edgeIn, nodeIn } = pruneDeadNodes(this.graph, topN(this.graph, this.scores, n));
    let count = 0;
    for (let i = 0; i < edgeIn.length; i++) count += edgeIn[i];
    const edges = new Int32Array(count);
    let minAbs = Infinity;
    let maxAbs = 0;
    for (let i = 0, k = 0; i < edgeIn.length; i++) {
      if (!edgeIn[i]) continue;
      edges[k++] = i;
      const a = Math.abs(this.scores[i]);
      if (a < minAbs) minAbs = a;
      if (a > maxAbs) maxAbs = a;
    }
    let nodeCount = 0;
    for (const v of nodeIn.values()) if (v) nodeCount++;
    return { n, edgeIn, nodeIn, edges, nodeCount, minAbs: count ? minAbs : 0, maxAbs };
  }

  nodeDetails(name: string, sel: CircuitSelection): NodeDetails | undefined {
    const id = parseNodeId(name);
    if (!id || !this.nodeSet.has(name)) return undefined;
    let inEdges = 0;
    let outEdges = 0;
    let inAbs = 0;
    let outAbs = 0;
    for (const i of this.graph.parentEdges.get(name) ?? []) {
      if (!sel.edgeIn[i]) continue;
      inEdges++;
      inAbs += Math.abs(this.scores[i]);
    }
    for (const i of this.graph.childEdges.get(name) ?? []) {
      if (!sel.edgeIn[i]) continue;
      outEdges++;
      outAbs += Math.abs(this.scores[i]);
    }
    return { name, id, inCircuit: sel.nodeIn.get(name) === true, inEdges, outEdges, inAbs, outAbs, head: this.data.heads[name] };
  }

  edgeDetails(index: number, sel: CircuitSelection): EdgeDetails {
    return {
      index,
      name: this.graph.edges[index].name,
      score: this.scores[index],
      rank: this.rank[index],
      scored: this.scoredCount,
      inCircuit: sel.edgeIn[index] === 1,
    };
  }
}

/**
 * EAP-IG's pen width, max(0.6, 5·(|s|−min)/(max−min)) over the in-circuit edges, in points; the
 * view draws one point as `pxPerPoint` model pixels.
 */
export function penWidth(abs: number, minAbs: number, maxAbs: number, pxPerPoint = 1.1): number {
  const span = maxAbs - minAbs;
  const t = span > 0 ? (abs - minAbs) / span : 1;
  return Math.max(0.6, 5 * t) * pxPerPoint;
}
