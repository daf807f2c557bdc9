/**
 * The statistics of the knowledge analyses (method spec §4 and §5.3), as pure functions of circuit
 * graphs, selections and score vectors: per-layer edge activation and score mass, comparison of two
 * circuits (Jaccard, added/removed/sign-flipped edges, Pearson and Kendall tau-b of the scores),
 * Jaccard to the final checkpoint, phase-shift detection, head roles, and Hit@k. Nothing here runs a
 * model; the engine computes faithfulness, ratios and ranks and hands them in.
 */
import { nodeLayer, parseNodeId, type CircuitGraph, type Edge, type Selection } from './circuit';

// ---- layers ----

/** The per-edge parent layer of each graph, computed once because graphs reach 1.5M edges. */
const parentLayerCache = new WeakMap<CircuitGraph, Int32Array>();

function nodeLayerByName(g: CircuitGraph, name: string): number {
  const id = parseNodeId(name);
  if (!id) throw new Error(`'${name}' is not a node name`);
  return nodeLayer(id, g.cfg);
}

/** The parent layer of every edge of `g`, indexed like `g.edges`. */
function parentLayers(g: CircuitGraph): Int32Array {
  let layers = parentLayerCache.get(g);
  if (!layers) {
    const byNode = new Map<string, number>();
    for (const n of g.nodes) byNode.set(n, nodeLayerByName(g, n));
    layers = Int32Array.from(g.edges, (e) => byNode.get(e.parent)!);
    parentLayerCache.set(g, layers);
  }
  return layers;
}

/**
 * The layer of an edge's parent node, as the edge-activation statistic counts it (method spec §5.3,
 * §1.1): `input` is layer 0, and `a{l}.h{h}` and `m{l}` are layer l. Logits is never a parent.
 * @param edge an index into `g.edges`, or the edge itself.
 */
export function layerOfParent(g: CircuitGraph, edge: number | Edge): number {
  if (typeof edge === 'number') {
    if (!Number.isInteger(edge) || edge < 0 || edge >= g.edges.length) throw new RangeError(`edge index ${edge} is out of range 0..${g.edges.length - 1}`);
    return parentLayers(g)[edge];
  }
  return nodeLayerByName(g, edge.parent);
}

function checkLength(what: string, got: number, g: CircuitGraph): void {
  if (got !== g.edges.length) throw new RangeError(`${what} has ${got} entries but the graph has ${g.edges.length} edges`);
}

/**
 * Edge activation ratio per layer (method spec §5.3, Components 1): for each layer ℓ in 0..L−1, the
 * number of circuit edges whose parent is in layer ℓ divided by the number of all graph edges whose
 * parent is in layer ℓ. Every layer has outgoing edges, so the ratio is always defined. The notebooks
 * drop the last layer (the last two for GPT-2 medium) when plotting; that choice is left to the view.
 * @returns one ratio per layer, in [0, 1].
 */
export function edgeActivationByLayer(g: CircuitGraph, edgeIn: Uint8Array): Float64Array {
  checkLength('edgeIn', edgeIn.length, g);
  const layers = parentLayers(g);
  const inCircuit = new Float64Array(g.cfg.nLayers);
  const all = new Float64Array(g.cfg.nLayers);
  for (let i = 0; i < layers.length; i++) {
    all[layers[i]]++;
    if (edgeIn[i]) inCircuit[layers[i]]++;
  }
  return inCircuit.map((c, l) => c / all[l]);
}

/**
 * Summed |score| of the in-circuit edges per parent layer (layers as in {@link layerOfParent}).
 * A null score (NaN) counts as 0, because an edge that was never scored carries no attribution mass.
 * @returns one sum per layer, for l in 0..L−1.
 */
export function scoreMassByLayer(g: CircuitGraph, scores: ArrayLike<number>, edgeIn: Uint8Array): Float64Array {
  checkLength('scores', scores.length, g);
  checkLength('edgeIn', edgeIn.length, g);
  const layers = parentLayers(g);
  const mass = new Float64Array(g.cfg.nLayers);
  for (let i = 0; i < layers.length; i++) {
    if (edgeIn[i] && !Number.isNaN(scores[i])) mass[layers[i]] += Math.abs(scores[i]);
  }
  return mass;
}

// ---- Jaccard ----

/**
 * Node Jaccard |A∩B| / |A∪B| over the in-graph node names of `g` (input and logits included, as the
 * notebooks count them); 1 when both circuits are empty, since two empty circuits are identical.
 */
export function nodeJaccard(g: CircuitGraph, a: ReadonlyMap<string, boolean>, b: ReadonlyMap<string, boolean>): number {
  let both = 0;
  let either = 0;
  for (const n of g.nodes) {
    const x = a.get(n) === true;
    const y = b.get(n) === true;
    if (x && y) both++;
    if (x || y) either++;
  }
  return either === 0 ? 1 : both / either;
}

/** Edge Jaccard |A∩B| / |A∪B| over in-graph edges; 1 when both circuits are empty. */
export function edgeJaccard(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) throw new RangeError(`edge masks differ in length: ${a.length} vs ${b.length}`);
  let both = 0;
  let either = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] && b[i]) both++;
    if (a[i] || b[i]) either++;
  }
  return either === 0 ? 1 : both / either;
}

/** Node and edge Jaccard of each checkpoint's circuit to the last one. */
export interface JaccardSeries {
  readonly node: Float64Array;
  readonly edge: Float64Array;
}

/**
 * Node and edge Jaccard of each checkpoint's circuit to the LAST checkpoint's circuit (method spec
 * §5.3; not between successive checkpoints). The notebooks compute it for i = 0..T−2; for convenience
 * this returns T values, and the last is the circuit compared with itself, which is 1. Drop it before
 * plotting or before {@link detectPhaseShift} to match the notebooks, because the self-comparison is a
 * jump to 1 that no training produced.
 * @param series the circuits in checkpoint order.
 */
export function jaccardToFinal(series: readonly Selection[], g: CircuitGraph): JaccardSeries {
  const T = series.length;
  const node = new Float64Array(T);
  const edge = new Float64Array(T);
  if (T === 0) return { node, edge };
  const last = series[T - 1];
  for (let t = 0; t < T; t++) {
    checkLength(`series[${t}].edgeIn`, series[t].edgeIn.length, g);
    node[t] = nodeJaccard(g, series[t].nodeIn, last.nodeIn);
    edge[t] = edgeJaccard(series[t].edgeIn, last.edgeIn);
  }
  return { node, edge };
}

// ---- correlations ----

/** The pairs (x[i], y[i]) where both are finite, because null scores (NaN) have no rank or value. */
function finitePairs(x: ArrayLike<number>, y: ArrayLike<number>): { xs: Float64Array; ys: Float64Array } {
  if (x.length !== y.length) throw new RangeError(`vectors differ in length: ${x.length} vs ${y.length}`);
  let n = 0;
  for (let i = 0; i < x.length; i++) if (Number.isFinite(x[i]) && Number.isFinite(y[i])) n++;
  const xs = new Float64Array(n);
  const ys = new Float64Array(n);
  let k = 0;
  for (let i = 0; i < x.length; i++) {
    if (Number.isFinite(x[i]) && Number.isFinite(y[i])) {
      xs[k] = x[i];
      ys[k++] = y[i];
    }
  }
  return { xs, ys };
}

/** The number of indices where both x[i] and y[i] are finite: the n of {@link pearson} and {@link kendallTauB}. */
export function countFinitePairs(x: ArrayLike<number>, y: ArrayLike<number>): number {
  if (x.length !== y.length) throw new RangeError(`vectors differ in length: ${x.length} vs ${y.length}`);
  let n = 0;
  for (let i = 0; i < x.length; i++) if (Number.isFinite(x[i]) && Number.isFinite(y[i])) n++;
  return n;
}

/**
 * Pearson correlation over the indices where both values are finite, in float64 with the means
 * subtracted first (two passes), because the one-pass sum-of-products formula cancels badly when
 * scores are small and numerous. NaN when fewer than 2 pairs remain or either side is constant.
 */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const { xs, ys } = finitePairs(x, y);
  const n = xs.length;
  if (n < 2) return NaN;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += xs[i];
    my += ys[i];
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = xs[i] - mx;
    const dy = ys[i] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx === 0 || syy === 0) return NaN;
  return sxy / Math.sqrt(sxx * syy);
}

/** Σ t(t−1)/2 over runs of equal values in a sorted array: the number of tied pairs. */
function tiedPairsSorted(a: Float64Array): number {
  let ties = 0;
  let run = 1;
  for (let i = 1; i <= a.length; i++) {
    if (i < a.length && a[i] === a[i - 1]) run++;
    else {
      ties += (run * (run - 1)) / 2;
      run = 1;
    }
  }
  return ties;
}

/**
 * Sorts `a` ascending in place (bottom-up merge sort) and returns the number of pairs i < j with
 * a[i] > a[j]. Equal values are not counted, so pairs tied in y are neither concordant nor discordant.
 */
function sortCountingInversions(a: Float64Array): number {
  const n = a.length;
  let src: Float64Array = a;
  let dst: Float64Array = new Float64Array(n);
  let inversions = 0;
  for (let width = 1; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(lo + width, n);
      const hi = Math.min(lo + 2 * width, n);
      let i = lo;
      let j = mid;
      let k = lo;
      while (i < mid && j < hi) {
        if (src[j] < src[i]) {
          // Every element still waiting on the left is greater than src[j].
          inversions += mid - i;
          dst[k++] = src[j++];
        } else dst[k++] = src[i++];
      }
      while (i < mid) dst[k++] = src[i++];
      while (j < hi) dst[k++] = src[j++];
    }
    [src, dst] = [dst, src];
  }
  if (src !== a) a.set(src);
  return inversions;
}

/**
 * Kendall tau-b over the indices where both values are finite, by Knight's O(n log n) algorithm
 * (Knight 1966, with the tie corrections scipy uses), because score vectors reach 1.5M edges (about
 * 1 s for Llama-2-7B's 1,592,881): sort the pairs by (x, y) (radix-sorted ranks packed into one
 * key per pair); count ties in x (n1) and joint ties in
 * (x, y) (n3); merge-sort y counting swaps (the discordant pairs); count ties in y (n2). With n0 = n(n−1)/2,
 * tau_b = (n0 − n1 − n2 + n3 − 2·swaps) / sqrt((n0 − n1)(n0 − n2)).
 * All counts are integers below 2^53, so they are exact. NaN when fewer than 2 pairs remain or either
 * side is constant.
 */
export function kendallTauB(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const { xs, ys } = finitePairs(x, y);
  const n = xs.length;
  if (n < 2) return NaN;
  if (n > 90_000_000) throw new RangeError(`kendallTauB packs rank pairs into doubles and supports at most 9e7 pairs, got ${n}`);
  // Sorting by (x, y) through a comparator callback costs seconds at 1.5M pairs, so each pair is
  // packed into one exact integer key, rank(x)·n + rank(y) < 2^53, and sorted natively.
  const rx = tieRanks(xs);
  const ry = tieRanks(ys);
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) keys[i] = rx[i] * n + ry[i];
  keys.sort();
  const xSorted = new Float64Array(n);
  const ySorted = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    xSorted[i] = Math.floor(keys[i] / n);
    ySorted[i] = keys[i] - xSorted[i] * n;
  }
  const n1 = tiedPairsSorted(xSorted);
  // Joint ties are equal keys, adjacent after the sort.
  const n3 = tiedPairsSorted(keys);
  // Within a run of tied x the y values are already ascending, so those pairs add no swaps.
  const swaps = sortCountingInversions(ySorted);
  const n2 = tiedPairsSorted(ySorted);
  const n0 = (n * (n - 1)) / 2;
  const denominator = Math.sqrt(n0 - n1) * Math.sqrt(n0 - n2);
  if (denominator === 0) return NaN;
  return (n0 - n1 - n2 + n3 - 2 * swaps) / denominator;
}

/**
 * Each value's rank as the position of the first equal value in sorted order: order and ties are
 * kept, and ranks are integers below the length. Values compare with `===`, so −0 and +0, which the
 * radix sort puts next to each other, get one rank.
 */
function tieRanks(v: Float64Array): Float64Array {
  const order = argsortFinite(v);
  const ranks = new Float64Array(v.length);
  for (let k = 1; k < order.length; k++) {
    ranks[order[k]] = v[order[k]] === v[order[k - 1]] ? ranks[order[k - 1]] : k;
  }
  return ranks;
}

/** Whether this platform stores the low 32-bit word of a double first. */
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * The indices that sort finite doubles ascending, by an LSD radix sort on their IEEE-754 bits (four
 * 16-bit digits), because a comparator-driven sort of 1.5M indices calls back into JavaScript tens of
 * millions of times. The bits are first mapped to unsigned order: a negative number has all its bits
 * inverted, a non-negative one only its sign bit.
 */
function argsortFinite(v: Float64Array): Int32Array {
  const n = v.length;
  const words = new Uint32Array(Float64Array.from(v).buffer); // [2n]
  const [loWord, hiWord] = littleEndian ? [0, 1] : [1, 0];
  let lo = new Uint32Array(n);
  let hi = new Uint32Array(n);
  let idx = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const h = words[2 * i + hiWord];
    const l = words[2 * i + loWord];
    const negative = h >>> 31 === 1;
    hi[i] = negative ? ~h >>> 0 : (h | 0x80000000) >>> 0;
    lo[i] = negative ? ~l >>> 0 : l;
    idx[i] = i;
  }
  let lo2 = new Uint32Array(n);
  let hi2 = new Uint32Array(n);
  let idx2 = new Int32Array(n);
  const count = new Uint32Array(65536);
  for (let pass = 0; pass < 4; pass++) {
    const shift = (pass % 2) * 16;
    count.fill(0);
    const digits = pass < 2 ? lo : hi;
    for (let i = 0; i < n; i++) count[(digits[i] >>> shift) & 0xffff]++;
    // A digit that is the same everywhere would only copy the arrays.
    if (count[(digits[0] >>> shift) & 0xffff] === n) continue;
    let sum = 0;
    for (let d = 0; d < 65536; d++) {
      const c = count[d];
      count[d] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const at = count[(digits[i] >>> shift) & 0xffff]++;
      lo2[at] = lo[i];
      hi2[at] = hi[i];
      idx2[at] = idx[i];
    }
    [lo, lo2] = [lo2, lo];
    [hi, hi2] = [hi2, hi];
    [idx, idx2] = [idx2, idx];
  }
  return idx;
}

// ---- comparing two circuits ----

/** One side of a comparison: a circuit's full score vector and its selection. */
export interface CircuitScores extends Selection {
  /** One score per edge of the graph; NaN where the edge was never scored (null). */
  readonly scores: ArrayLike<number>;
}

export interface CompareOptions {
  /** Faithfulness of A at the compared size, computed by the engine (method spec §3.3). */
  readonly faithfulnessA?: number;
  /** Faithfulness of B at the same size. */
  readonly faithfulnessB?: number;
}

/** Per-layer statistics of both circuits, indexed by parent layer 0..L−1; deltas are B − A. */
export interface LayerComparison {
  readonly edgeActivationA: Float64Array;
  readonly edgeActivationB: Float64Array;
  readonly edgeActivationDelta: Float64Array;
  readonly scoreMassA: Float64Array;
  readonly scoreMassB: Float64Array;
  readonly scoreMassDelta: Float64Array;
}

/** How circuit B differs from circuit A on the same graph. */
export interface CircuitComparison {
  readonly nodeJaccard: number;
  readonly edgeJaccard: number;
  /** Node names in B and not in A, in construction order. */
  readonly nodesAdded: readonly string[];
  /** Node names in A and not in B, in construction order. */
  readonly nodesRemoved: readonly string[];
  /** Indices of edges in B and not in A, ascending. */
  readonly added: Int32Array;
  /** Indices of edges in A and not in B, ascending. */
  readonly removed: Int32Array;
  /** Indices of edges in both circuits whose scores are non-zero and of opposite sign, ascending. */
  readonly signFlipped: Int32Array;
  readonly addedCount: number;
  readonly removedCount: number;
  readonly signFlippedCount: number;
  /** Pearson correlation of the full score vectors over edges where both scores are finite. */
  readonly pearson: number;
  /** Kendall tau-b of the full score vectors over the same edges. */
  readonly kendallTauB: number;
  /** The number of edges both correlations were computed over. */
  readonly scorePairs: number;
  readonly layers: LayerComparison;
  /** faithfulnessB − faithfulnessA, present only when both were given. */
  readonly faithfulnessDelta?: number;
}

/**
 * Compares circuit B with circuit A on one graph: Jaccard of nodes and edges (as {@link nodeJaccard}
 * and {@link edgeJaccard}), the edges added (in B, not A), removed (in A, not B) and sign-flipped (in
 * both, both scores non-zero and finite, signs differ), the Pearson and Kendall tau-b correlations of
 * the two FULL score vectors (every edge of the graph, not only circuit edges, over the edges where
 * both scores are finite, because null scores have no value), and per-layer edge activation and score
 * mass of both with their difference B − A. Faithfulness at equal size needs a model, so the engine
 * computes it; when both values are given, their difference B − A is returned.
 */
export function compareCircuits(g: CircuitGraph, a: CircuitScores, b: CircuitScores, opts: CompareOptions = {}): CircuitComparison {
  for (const [what, side] of [['A', a], ['B', b]] as const) {
    checkLength(`${what}.edgeIn`, side.edgeIn.length, g);
    checkLength(`${what}.scores`, side.scores.length, g);
  }
  const added: number[] = [];
  const removed: number[] = [];
  const signFlipped: number[] = [];
  for (let i = 0; i < g.edges.length; i++) {
    const inA = a.edgeIn[i] === 1;
    const inB = b.edgeIn[i] === 1;
    if (inB && !inA) added.push(i);
    else if (inA && !inB) removed.push(i);
    else if (inA && inB) {
      const sa = Math.sign(a.scores[i]);
      const sb = Math.sign(b.scores[i]);
      // Math.sign is NaN for null scores and ±0 for zeros; both fail the test below.
      if ((sa === 1 && sb === -1) || (sa === -1 && sb === 1)) signFlipped.push(i);
    }
  }
  const nodesAdded = g.nodes.filter((n) => b.nodeIn.get(n) === true && a.nodeIn.get(n) !== true);
  const nodesRemoved = g.nodes.filter((n) => a.nodeIn.get(n) === true && b.nodeIn.get(n) !== true);
  const edgeActivationA = edgeActivationByLayer(g, a.edgeIn);
  const edgeActivationB = edgeActivationByLayer(g, b.edgeIn);
  const scoreMassA = scoreMassByLayer(g, a.scores, a.edgeIn);
  const scoreMassB = scoreMassByLayer(g, b.scores, b.edgeIn);
  const { faithfulnessA: fa, faithfulnessB: fb } = opts;
  return {
    nodeJaccard: nodeJaccard(g, a.nodeIn, b.nodeIn),
    edgeJaccard: edgeJaccard(a.edgeIn, b.edgeIn),
    nodesAdded,
    nodesRemoved,
    added: Int32Array.from(added),
    removed: Int32Array.from(removed),
    signFlipped: Int32Array.from(signFlipped),
    addedCount: added.length,
    removedCount: removed.length,
    signFlippedCount: signFlipped.length,
    pearson: pearson(a.scores, b.scores),
    kendallTauB: kendallTauB(a.scores, b.scores),
    scorePairs: countFinitePairs(a.scores, b.scores),
    layers: {
      edgeActivationA,
      edgeActivationB,
      edgeActivationDelta: edgeActivationB.map((v, l) => v - edgeActivationA[l]),
      scoreMassA,
      scoreMassB,
      scoreMassDelta: scoreMassB.map((v, l) => v - scoreMassA[l]),
    },
    ...(fa !== undefined && fb !== undefined ? { faithfulnessDelta: fb - fa } : {}),
  };
}

// ---- phase shift ----

/** The point where a Jaccard-to-final curve stops rising fast and plateaus. */
export interface PhaseShift {
  /** Index into the `steps`/`values` arrays given. */
  readonly index: number;
  readonly step: number;
  /** Height of the normalized curve above the diagonal at the knee, in (0, 1): larger is a sharper knee. */
  readonly score: number;
  /** The rule that produced it, in words, for display next to the result. */
  readonly rule: string;
}

export interface PhaseShiftOptions {
  /** The least rise (max − first value of the running maximum) that counts as rising; default 1e-3. */
  readonly minRise?: number;
}

/** A knee this close to the diagonal is rounding, not a bend. */
const minKneeScore = 1e-9;

/**
 * Finds the formation → optimization phase shift of a Jaccard-to-final curve (rising, then a
 * plateau). The method spec reads it visually and has no detector (§5.3), so this is Circuitscope's
 * rule, the offline Kneedle algorithm (Satopää et al. 2011):
 * 1. Replace the values by their running maximum. Kneedle assumes a monotone curve (the paper smooths
 *    first), and min–max normalization of raw noisy values anchors on the dips: a dip below the first
 *    value stretches the scale and can drag the knee to the first point, and a falling curve gets a
 *    spurious knee there. The running maximum is a parameter-free monotone envelope; the knee on it is
 *    always a checkpoint where the curve itself reached a new high, and a dip after it moves nothing.
 * 2. Normalize steps and running-maximum values to [0, 1] by min–max.
 * 3. The knee is the first index maximizing (normalized value − normalized step), the normalized
 *    curve's height above the diagonal from its first to its last point.
 *
 * Returns undefined when there are fewer than 3 points, when the curve does not rise (its running
 * maximum rises by less than `minRise`, default 1e-3), or when no point lies above the diagonal (a
 * straight or convex curve: still rising at the end, with no plateau). Steps must be finite and
 * strictly increasing, and values finite. Pass the Jaccard values of checkpoints 0..T−2 (see
 * {@link jaccardToFinal}) to match the notebooks.
 */
export function detectPhaseShift(steps: readonly number[], values: readonly number[], opts: PhaseShiftOptions = {}): PhaseShift | undefined {
  if (steps.length !== values.length) throw new RangeError(`steps has ${steps.length} entries but values has ${values.length}`);
  for (let i = 0; i < steps.length; i++) {
    if (!Number.isFinite(steps[i]) || !Number.isFinite(values[i])) throw new RangeError(`point ${i} is not finite: step ${steps[i]}, value ${values[i]}`);
    if (i > 0 && !(steps[i] > steps[i - 1])) throw new RangeError(`steps must increase strictly: steps[${i - 1}] = ${steps[i - 1]}, steps[${i}] = ${steps[i]}`);
  }
  const n = values.length;
  if (n < 3) return undefined;
  const minRise = opts.minRise ?? 1e-3;
  const running = new Float64Array(n);
  running[0] = values[0];
  for (let i = 1; i < n; i++) running[i] = Math.max(running[i - 1], values[i]);
  const rise = running[n - 1] - running[0];
  if (!(rise >= minRise) || rise === 0) return undefined;
  const span = steps[n - 1] - steps[0];
  let best = -1;
  let score = -Infinity;
  for (let i = 0; i < n; i++) {
    const d = (running[i] - running[0]) / rise - (steps[i] - steps[0]) / span;
    if (d > score) {
      score = d;
      best = i;
    }
  }
  if (!(score > minKneeScore)) return undefined;
  return { index: best, step: steps[best], score, rule: phaseShiftRule(minRise) };
}

function phaseShiftRule(minRise: number): string {
  return (
    'Kneedle (Satopää et al. 2011), offline: values replaced by their running maximum; steps and values ' +
    'min-max normalized to [0, 1]; the knee is the first point maximizing normalized value − normalized step ' +
    `(height above the diagonal). None if fewer than 3 points, a rise below ${minRise}, or no point above the diagonal.`
  );
}

// ---- head roles (method spec §4) ----

/** Mover (subject) head, relation head, or mixture head. */
export type HeadRole = 'mover' | 'relation' | 'mixture';

/**
 * Classifies a head by R = ratioSubj / ratioRel (method spec §4): |R| > tau is a mover head (the
 * notebooks' "subject head"), |R| < 1/tau a relation head, and anything else, including both bounds
 * themselves, a mixture head. ratioRel = 0 with ratioSubj ≠ 0 makes R infinite, so a mover; both zero
 * leave R undefined, and such a head is counted as a mixture because it favours neither source.
 * @throws RangeError for a NaN ratio (an upstream bug, which should not be hidden in a proportion) or tau < 1.
 */
export function classifyHead(ratioSubj: number, ratioRel: number, tau = 10): HeadRole {
  if (Number.isNaN(ratioSubj) || Number.isNaN(ratioRel)) throw new RangeError(`head ratio is NaN: subject ${ratioSubj}, relation ${ratioRel}`);
  if (!(tau >= 1)) throw new RangeError(`tau must be at least 1, got ${tau}`);
  if (ratioSubj === 0 && ratioRel === 0) return 'mixture';
  const r = Math.abs(ratioSubj / ratioRel);
  if (r > tau) return 'mover';
  if (r < 1 / tau) return 'relation';
  return 'mixture';
}

/**
 * The roles of the heads that are in the circuit; the spec counts only those (§4).
 * @param ratioSubj prompt-averaged ratios indexed [layer][head].
 * @param ratioRel the same for the relation positions.
 */
export function circuitHeadRoles(
  g: CircuitGraph,
  nodeIn: ReadonlyMap<string, boolean>,
  ratioSubj: readonly ArrayLike<number>[],
  ratioRel: readonly ArrayLike<number>[],
  tau = 10,
): Map<string, HeadRole> {
  const { nLayers: L, nHeads: H } = g.cfg;
  for (const [what, m] of [['ratioSubj', ratioSubj], ['ratioRel', ratioRel]] as const) {
    if (m.length !== L || m.some((row) => row.length !== H)) throw new RangeError(`${what} must be [${L}][${H}] (layers × heads)`);
  }
  const roles = new Map<string, HeadRole>();
  for (const n of g.nodes) {
    const id = parseNodeId(n);
    if (id?.kind !== 'attn' || nodeIn.get(n) !== true) continue;
    roles.set(n, classifyHead(ratioSubj[id.layer][id.head], ratioRel[id.layer][id.head], tau));
  }
  return roles;
}

/**
 * "Proportion of Specialized Heads" (method spec §4): the count of each role divided by ALL circuit
 * nodes, including input, MLPs and logits, as the notebooks do with `count_included_nodes()`. So the
 * three proportions sum to (circuit heads) / (circuit nodes), not to 1.
 * @param roles the roles of the circuit's heads only (see {@link circuitHeadRoles}).
 * @param circuitNodeCount the number of in-graph nodes of the circuit.
 */
export function headTypeProportions(roles: ReadonlyMap<string, HeadRole>, circuitNodeCount: number): Record<HeadRole, number> {
  if (!Number.isInteger(circuitNodeCount) || circuitNodeCount < roles.size) {
    throw new RangeError(`circuitNodeCount ${circuitNodeCount} must be an integer at least the number of classified heads (${roles.size})`);
  }
  const counts: Record<HeadRole, number> = { mover: 0, relation: 0, mixture: 0 };
  for (const r of roles.values()) counts[r]++;
  // An empty circuit has no heads, and a proportion of nothing is 0 rather than NaN in a plot.
  if (circuitNodeCount === 0) return counts;
  return { mover: counts.mover / circuitNodeCount, relation: counts.relation / circuitNodeCount, mixture: counts.mixture / circuitNodeCount };
}

/**
 * Heads of each role per layer, for the layer × checkpoint heatmaps of §4. Rows are the heads' own
 * layers; the notebook's `node[0] − 1` row shift is not reproduced.
 * @returns for each role, counts indexed by layer 0..nLayers−1.
 */
export function headRolesByLayer(roles: ReadonlyMap<string, HeadRole>, nLayers: number): Record<HeadRole, Int32Array> {
  const out: Record<HeadRole, Int32Array> = { mover: new Int32Array(nLayers), relation: new Int32Array(nLayers), mixture: new Int32Array(nLayers) };
  for (const [name, role] of roles) {
    const id = parseNodeId(name);
    if (id?.kind !== 'attn' || id.layer >= nLayers) throw new RangeError(`'${name}' is not a head of a ${nLayers}-layer model`);
    out[role][id.layer]++;
  }
  return out;
}

// ---- Hit@k ----

/**
 * Hit@k (method spec §3.4): the fraction of prompts whose target's 0-based rank is at most k − 1, so
 * Hit@10 counts `token_rank <= 9`. NaN for no prompts, since a rate of nothing is undefined.
 */
export function hitAtK(ranks: readonly number[], k = 10): number {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`k must be a positive integer, got ${k}`);
  let hits = 0;
  for (const r of ranks) {
    if (!Number.isInteger(r) || r < 0) throw new RangeError(`rank ${r} is not a 0-based integer rank`);
    if (r <= k - 1) hits++;
  }
  return ranks.length === 0 ? NaN : hits / ranks.length;
}

/** Arithmetic mean; NaN for an empty list. */
export function mean(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return xs.length === 0 ? NaN : s / xs.length;
}

/** A group's size and aggregated value. */
export interface Group {
  readonly n: number;
  readonly value: number;
}

/**
 * Aggregates per-prompt values by a group label (a frequency, a knowledge type, a checkpoint):
 * `groupBy(ranks, freqs, (r) => hitAtK(r))` gives Hit@10 per frequency. Groups keep the order in which
 * their labels first appear.
 * @param aggregate reduces one group's values; the mean by default.
 */
export function groupBy<K>(values: readonly number[], labels: readonly K[], aggregate: (xs: number[]) => number = mean): Map<K, Group> {
  if (values.length !== labels.length) throw new RangeError(`values has ${values.length} entries but labels has ${labels.length}`);
  const members = new Map<K, number[]>();
  values.forEach((v, i) => {
    const list = members.get(labels[i]);
    if (list) list.push(v);
    else members.set(labels[i], [v]);
  });
  return new Map(Array.from(members, ([k, xs]) => [k, { n: xs.length, value: aggregate(xs) }]));
}
