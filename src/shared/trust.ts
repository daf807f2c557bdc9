/**
 * How much to trust a circuit: the checks stored with it (the engine computes the spot check, which
 * needs the model) and the pure ones, which the extension can also run on a file it opens.
 *
 * - Spot check: the top K edges by |score| re-scored by exact one-edge patching; Pearson and Spearman
 *   correlations of the method's scores with the exact ones over those K edges.
 * - Connectivity: every in-circuit edge should lie on a path from `input` to `logits`; an edge or a node
 *   off every such path (a piece the pruning left behind, or a hand-edited file) is reported.
 * - Faithfulness below a threshold.
 * - Agreement of two methods on the same prompts: Jaccard of their top-n edge sets, rank correlation.
 */
import { pearson } from './analysis';
import { topN, type CircuitGraph, type Selection } from './circuit';

/** Default number of edges the spot check re-scores by exact patching. */
export const defaultSpotCheckEdges = 20;
/** Faithfulness under which a circuit is flagged. */
export const defaultFaithfulnessThreshold = 0.5;

/** Ranks (1-based, ties averaged) of the finite values of x; NaN where x is not finite. */
export function ranks(x: ArrayLike<number>): Float64Array {
  const idx = Array.from({ length: x.length }, (_, i) => i).filter((i) => Number.isFinite(x[i]));
  idx.sort((a, b) => x[a] - x[b]);
  const r = new Float64Array(x.length).fill(NaN);
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && x[idx[j + 1]] === x[idx[i]]) j++;
    const mid = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) r[idx[k]] = mid;
    i = j + 1;
  }
  return r;
}

/** Spearman's rank correlation over the indices where both are finite (Pearson of average ranks). */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const keep = Array.from({ length: x.length }, (_, i) => i).filter((i) => Number.isFinite(x[i]) && Number.isFinite(y[i]));
  return pearson(
    ranks(keep.map((i) => x[i])),
    ranks(keep.map((i) => y[i])),
  );
}

/** |A ∩ B| / |A ∪ B| of two edge masks; 1 when both are empty. */
export function jaccard(a: Uint8Array, b: Uint8Array): number {
  let inter = 0;
  let union = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] && b[i]) inter++;
    if (a[i] || b[i]) union++;
  }
  return union === 0 ? 1 : inter / union;
}

export interface Connectivity {
  /** Some in-circuit path leads from input to logits. */
  readonly connected: boolean;
  /** In-circuit nodes and edges on no input → logits path of in-circuit edges. */
  readonly strayNodes: string[];
  readonly strayEdges: string[];
}

/** Which in-circuit nodes and edges lie on no path from input to logits through in-circuit edges. */
export function connectivity(g: CircuitGraph, sel: Selection): Connectivity {
  const fromInput = new Set<string>(['input']);
  for (const n of g.nodes) {
    if (!fromInput.has(n)) continue;
    for (const i of g.childEdges.get(n) ?? []) if (sel.edgeIn[i]) fromInput.add(g.edges[i].child);
  }
  const toLogits = new Set<string>(['logits']);
  for (let k = g.nodes.length - 1; k >= 0; k--) {
    const n = g.nodes[k];
    if (!toLogits.has(n)) continue;
    for (const i of g.parentEdges.get(n) ?? []) if (sel.edgeIn[i]) toLogits.add(g.edges[i].parent);
  }
  const on = (n: string) => fromInput.has(n) && toLogits.has(n);
  const strayEdges: string[] = [];
  const touched = new Set<string>();
  g.edges.forEach((e, i) => {
    if (!sel.edgeIn[i]) return;
    touched.add(e.parent);
    touched.add(e.child);
    if (!on(e.parent) || !on(e.child)) strayEdges.push(e.name);
  });
  const strayNodes = g.nodes.filter((n) => (sel.nodeIn.get(n) || touched.has(n)) && n !== 'input' && n !== 'logits' && !on(n));
  return { connected: fromInput.has('logits'), strayNodes, strayEdges };
}

export interface SpotCheck {
  readonly k: number;
  /** The edges re-scored, with the method's score and the exact one (same sign and scale). */
  readonly edges: { readonly edge: string; readonly score: number; readonly exact: number }[];
  readonly pearson: number;
  readonly spearman: number;
}

export interface Agreement {
  readonly methods: readonly [string, string];
  readonly topN: number;
  readonly jaccard: number;
  readonly spearman: number;
  readonly pearson: number;
}

/** Agreement of two score vectors over the same graph: top-n (by |score|) Jaccard and correlations. */
export function agreement(g: CircuitGraph, methods: readonly [string, string], a: ArrayLike<number>, b: ArrayLike<number>, n: number): Agreement {
  return { methods, topN: n, jaccard: jaccard(topN(g, a, n), topN(g, b, n)), spearman: spearman(a, b), pearson: pearson(a, b) };
}

/** The trust checks stored with a circuit (`circuitscope.trust` in its file). */
export interface TrustReport {
  readonly spotCheck?: SpotCheck;
  readonly connectivity: Connectivity;
  readonly faithfulness?: { readonly value: number; readonly threshold: number; readonly low: boolean };
  readonly agreement?: Agreement;
  /** One sentence per problem found; empty when every check passed. */
  readonly warnings: string[];
}

/** Warnings of a set of checks, in words, and the spot-check's correlation floor. */
export function trustWarnings(r: Omit<TrustReport, 'warnings'>, minCorrelation = 0.5): string[] {
  const w: string[] = [];
  const c = r.connectivity;
  if (!c.connected) w.push('the circuit does not connect input to logits: no path of circuit edges leads from the input to the logits');
  if (c.strayEdges.length > 0) {
    w.push(
      `${c.strayEdges.length} circuit edge${c.strayEdges.length === 1 ? '' : 's'} lie${c.strayEdges.length === 1 ? 's' : ''} on no input → logits path (a disconnected piece${c.strayNodes.length ? `: ${c.strayNodes.slice(0, 5).join(', ')}${c.strayNodes.length > 5 ? ', ...' : ''}` : ''})`,
    );
  }
  if (r.faithfulness?.low) w.push(`faithfulness ${r.faithfulness.value.toFixed(3)} is below ${r.faithfulness.threshold}: the circuit recovers little of the clean − corrupted gap`);
  const s = r.spotCheck;
  if (s && !(s.pearson >= minCorrelation)) {
    w.push(`the top ${s.k} edges' scores correlate weakly with exact one-edge patching (Pearson ${fmt(s.pearson)}, Spearman ${fmt(s.spearman)}): the method's linear estimate is unreliable here`);
  }
  if (r.agreement && r.agreement.jaccard < 0.5) {
    w.push(`${r.agreement.methods[0]} and ${r.agreement.methods[1]} agree on ${(100 * r.agreement.jaccard).toFixed(0)}% of their top ${r.agreement.topN} edges (Jaccard)`);
  }
  return w;
}

const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : 'undefined');
