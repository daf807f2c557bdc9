/**
 * The knowledge-analysis statistics (method spec §4, §5.3) on hand-made circuits whose expected numbers
 * are worked out in the comments, and the correlations against naive O(n²) and textbook references.
 */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  classifyHead,
  circuitHeadRoles,
  compareCircuits,
  detectPhaseShift,
  edgeActivationByLayer,
  edgeJaccard,
  groupBy,
  headRolesByLayer,
  headTypeProportions,
  hitAtK,
  jaccardToFinal,
  kendallTauB,
  layerOfParent,
  nodeJaccard,
  pearson,
  scoreMassByLayer,
  type CircuitScores,
  type HeadRole,
} from '../../src/shared/analysis';
import { CircuitGraph, type Selection } from '../../src/shared/circuit';
import { rng } from '../helpers/tinyModels';

// ---- the hand-made graph and circuits ----
//
// A 2-layer, 2-head sequential graph has 46 edges. Edges per parent node:
//   input: 6 (a0 q/k/v) + 1 (m0) + 6 (a1 q/k/v) + 1 (m1) + 1 (logits) = 15
//   a0.h0, a0.h1: 1 (m0) + 6 (a1 q/k/v) + 1 (m1) + 1 (logits) = 9 each
//   m0: 6 (a1 q/k/v) + 1 (m1) + 1 (logits) = 8
//   a1.h0, a1.h1: 1 (m1) + 1 (logits) = 2 each;  m1: 1 (logits)
// so parent layer 0 (input, a0.*, m0) owns 15 + 9 + 9 + 8 = 41 edges and parent layer 1 owns 5.

const g = new CircuitGraph({ nLayers: 2, nHeads: 2, parallelAttnMlp: false });

const idx = (name: string): number => {
  const i = g.edgeByName(name);
  assert.ok(i !== undefined, `no edge ${name}`);
  return i;
};

/** A circuit from edge names with their scores; every other edge gets `rest`. */
function circuit(edges: Record<string, number>, nodes: string[], rest: Record<string, number> = {}): CircuitScores {
  const edgeIn = new Uint8Array(g.edges.length);
  const scores = new Float64Array(g.edges.length);
  for (const [name, s] of Object.entries(rest)) scores[idx(name)] = s;
  for (const [name, s] of Object.entries(edges)) {
    edgeIn[idx(name)] = 1;
    scores[idx(name)] = s;
  }
  const nodeIn = new Map(g.nodes.map((n) => [n, nodes.includes(n)]));
  return { edgeIn, nodeIn, scores };
}

// Circuit A: 6 edges over the nodes input, a0.h0, m0, a1.h1, logits (5 nodes). The edge
// a1.h1->logits has a null score (never scored), and input->a1.h1<q> has score 1 in A but −1 in B,
// where it is outside the circuit, so its sign change must not count as a flip.
const A = circuit(
  {
    'input->a0.h0<v>': 0.5,
    'a0.h0->m0': 0.3,
    'm0->logits': -0.1,
    'input->a1.h1<q>': 1.0,
    'a1.h1->logits': NaN,
    'a0.h0->a1.h1<k>': -0.2,
  },
  ['input', 'a0.h0', 'm0', 'a1.h1', 'logits'],
  { 'a0.h1->logits': 0.7 },
);
// Circuit B: keeps 4 of A's edges (two flip sign, one goes to exactly 0), drops input->a1.h1<q> and
// a1.h1->logits, and adds 5 edges through a0.h1 and m1: 9 edges over 7 nodes.
const B = circuit(
  {
    'input->a0.h0<v>': -0.2,
    'a0.h0->m0': 0.4,
    'm0->logits': 0,
    'a0.h0->a1.h1<k>': 0.6,
    'input->a0.h1<k>': 0.25,
    'a0.h1->m0': -0.5,
    'm0->m1': 0.75,
    'a1.h1->m1': -0.125,
    'm1->logits': 1.5,
  },
  ['input', 'a0.h0', 'a0.h1', 'm0', 'a1.h1', 'm1', 'logits'],
  { 'input->a1.h1<q>': -1.0, 'a1.h1->logits': 0.05, 'a0.h1->logits': -0.7 },
);
const empty: Selection = { edgeIn: new Uint8Array(g.edges.length), nodeIn: new Map(g.nodes.map((n) => [n, false])) };

const close = (got: number, want: number, what: string, tol = 1e-12) =>
  assert.ok(Math.abs(got - want) <= tol, `${what}: got ${got}, want ${want}`);
const closeAll = (got: ArrayLike<number>, want: number[], what: string, tol = 1e-12) => {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) close(got[i], want[i], `${what}[${i}]`, tol);
};

// ---- layers ----

test('layerOfParent: input is layer 0, a{l}.h{h} and m{l} are layer l, by index or by edge', () => {
  const cases: [string, number][] = [
    ['input->a1.h0<q>', 0],
    ['input->logits', 0],
    ['a0.h1->m0', 0],
    ['m0->a1.h1<v>', 0],
    ['a1.h0->m1', 1],
    ['a1.h1->logits', 1],
    ['m1->logits', 1],
  ];
  for (const [name, layer] of cases) {
    assert.equal(layerOfParent(g, idx(name)), layer, name);
    assert.equal(layerOfParent(g, g.edges[idx(name)]), layer, `${name} as an Edge`);
  }
  assert.throws(() => layerOfParent(g, g.edges.length), RangeError);
});

test('edge activation per layer on hand-made circuits: A is 5/41 and 1/5, B is 7/41 and 2/5', () => {
  // A: parents in layer 0 are input (twice), a0.h0 (twice) and m0; a1.h1->logits is the one in layer 1.
  closeAll(edgeActivationByLayer(g, A.edgeIn), [5 / 41, 1 / 5], 'A');
  // B: input (twice), a0.h0 (twice), a0.h1, m0 (twice) in layer 0; a1.h1 and m1 in layer 1.
  closeAll(edgeActivationByLayer(g, B.edgeIn), [7 / 41, 2 / 5], 'B');
  closeAll(edgeActivationByLayer(g, empty.edgeIn), [0, 0], 'empty');
  closeAll(edgeActivationByLayer(g, new Uint8Array(g.edges.length).fill(1)), [1, 1], 'full');
});

test('edge activation on GPT-2 small: m11->logits alone is 1/25 of layer 11', () => {
  // Layer 11's parents are its 12 heads (each feeding m11 and logits) and m11 (feeding logits): 25 edges.
  const gpt2 = new CircuitGraph({ nLayers: 12, nHeads: 12, parallelAttnMlp: false });
  const edgeIn = new Uint8Array(gpt2.edges.length);
  edgeIn[gpt2.edgeByName('m11->logits')!] = 1;
  const ratio = edgeActivationByLayer(gpt2, edgeIn);
  assert.equal(ratio.length, 12);
  close(ratio[11], 1 / 25, 'layer 11');
  for (let l = 0; l < 11; l++) assert.equal(ratio[l], 0, `layer ${l}`);
});

test('score mass per layer: summed |score| of circuit edges, null scores counting 0', () => {
  // A, layer 0: 0.5 + 0.3 + 0.1 + 1.0 + 0.2 = 2.1; layer 1: a1.h1->logits is null, so 0.
  // a0.h1->logits (0.7) is outside the circuit and must not count.
  closeAll(scoreMassByLayer(g, A.scores, A.edgeIn), [2.1, 0], 'A');
  // B, layer 0: 0.2 + 0.4 + 0 + 0.6 + 0.25 + 0.5 + 0.75 = 2.7; layer 1: 0.125 + 1.5 = 1.625.
  closeAll(scoreMassByLayer(g, B.scores, B.edgeIn), [2.7, 1.625], 'B');
});

// ---- Jaccard and comparison ----

test('Jaccard on hand-made circuits: nodes 5/7, edges 4/11; two empty circuits are identical', () => {
  // A's 5 nodes are all in B's 7; the circuits share 4 edges out of 6 + 9 − 4 = 11.
  close(nodeJaccard(g, A.nodeIn, B.nodeIn), 5 / 7, 'nodes');
  close(edgeJaccard(A.edgeIn, B.edgeIn), 4 / 11, 'edges');
  assert.equal(nodeJaccard(g, empty.nodeIn, empty.nodeIn), 1);
  assert.equal(edgeJaccard(empty.edgeIn, empty.edgeIn), 1);
  assert.equal(nodeJaccard(g, empty.nodeIn, B.nodeIn), 0);
  assert.equal(edgeJaccard(empty.edgeIn, B.edgeIn), 0);
});

test('compareCircuits: added, removed and sign-flipped edges, per-layer deltas, Δ faithfulness', () => {
  const c = compareCircuits(g, A, B, { faithfulnessA: 0.4, faithfulnessB: 0.65 });
  close(c.nodeJaccard, 5 / 7, 'nodeJaccard');
  close(c.edgeJaccard, 4 / 11, 'edgeJaccard');
  assert.deepEqual(c.nodesAdded, ['a0.h1', 'm1']);
  assert.deepEqual(c.nodesRemoved, []);
  const sorted = (names: string[]) => names.map(idx).sort((x, y) => x - y);
  assert.deepEqual(Array.from(c.added), sorted(['input->a0.h1<k>', 'a0.h1->m0', 'm0->m1', 'a1.h1->m1', 'm1->logits']));
  assert.deepEqual(Array.from(c.removed), sorted(['input->a1.h1<q>', 'a1.h1->logits']));
  // Shared edges: input->a0.h0<v> (+0.5 → −0.2, flip), a0.h0->m0 (same sign), m0->logits (−0.1 → 0,
  // not a flip because B's score is zero), a0.h0->a1.h1<k> (−0.2 → +0.6, flip). input->a1.h1<q> and
  // a0.h1->logits change sign but are not in both circuits.
  assert.deepEqual(Array.from(c.signFlipped), sorted(['input->a0.h0<v>', 'a0.h0->a1.h1<k>']));
  assert.deepEqual([c.addedCount, c.removedCount, c.signFlippedCount], [5, 2, 2]);
  closeAll(c.layers.edgeActivationA, [5 / 41, 1 / 5], 'edgeActivationA');
  closeAll(c.layers.edgeActivationB, [7 / 41, 2 / 5], 'edgeActivationB');
  closeAll(c.layers.edgeActivationDelta, [2 / 41, 1 / 5], 'edgeActivationDelta');
  closeAll(c.layers.scoreMassA, [2.1, 0], 'scoreMassA');
  closeAll(c.layers.scoreMassB, [2.7, 1.625], 'scoreMassB');
  closeAll(c.layers.scoreMassDelta, [0.6, 1.625], 'scoreMassDelta');
  close(c.faithfulnessDelta!, 0.25, 'faithfulnessDelta');
  // Only a1.h1->logits has a null score (in A), so the correlations cover the other 45 edges.
  assert.equal(c.scorePairs, 45);
  close(c.pearson, naivePearson(A.scores, B.scores), 'pearson', 1e-12);
  close(c.kendallTauB, naiveTauB(A.scores, B.scores), 'kendallTauB', 1e-12);
  assert.ok(!('faithfulnessDelta' in compareCircuits(g, A, B, { faithfulnessA: 0.4 })), 'no delta from one value');
});

test('compareCircuits of a circuit with itself: Jaccard 1, nothing added, removed or flipped', () => {
  const c = compareCircuits(g, B, B);
  assert.equal(c.nodeJaccard, 1);
  assert.equal(c.edgeJaccard, 1);
  assert.deepEqual([c.addedCount, c.removedCount, c.signFlippedCount], [0, 0, 0]);
  closeAll(c.layers.edgeActivationDelta, [0, 0], 'delta');
  close(c.pearson, 1, 'pearson');
  close(c.kendallTauB, 1, 'kendallTauB');
});

test('jaccardToFinal compares every checkpoint with the last one, which scores 1', () => {
  const j = jaccardToFinal([empty, A, B], g);
  // empty vs B: nothing shared, so 0; A vs B as above; B vs itself 1.
  closeAll(j.node, [0, 5 / 7, 1], 'node');
  closeAll(j.edge, [0, 4 / 11, 1], 'edge');
  const flat = jaccardToFinal([empty, empty], g);
  assert.deepEqual(Array.from(flat.node), [1, 1]);
  assert.deepEqual(Array.from(jaccardToFinal([], g).edge), []);
});

// ---- correlations ----

/** Kendall tau-b by its definition over all pairs: (C − D) / sqrt((C + D + Tx)(C + D + Ty)). */
function naiveTauB(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const keep = Array.from({ length: x.length }, (_, i) => i).filter((i) => Number.isFinite(x[i]) && Number.isFinite(y[i]));
  let concordant = 0;
  let discordant = 0;
  let onlyX = 0;
  let onlyY = 0;
  for (let a = 0; a < keep.length; a++) {
    for (let b = a + 1; b < keep.length; b++) {
      const dx = Math.sign(x[keep[a]] - x[keep[b]]);
      const dy = Math.sign(y[keep[a]] - y[keep[b]]);
      if (dx * dy > 0) concordant++;
      else if (dx * dy < 0) discordant++;
      else if (dx === 0 && dy !== 0) onlyX++;
      else if (dy === 0 && dx !== 0) onlyY++;
    }
  }
  return (concordant - discordant) / Math.sqrt((concordant + discordant + onlyX) * (concordant + discordant + onlyY));
}

/** Pearson by the one-pass textbook formula in float64. */
function naivePearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let n = 0;
  let sx = 0;
  let sy = 0;
  let sxx = 0;
  let syy = 0;
  let sxy = 0;
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i]) || !Number.isFinite(y[i])) continue;
    n++;
    sx += x[i];
    sy += y[i];
    sxx += x[i] * x[i];
    syy += y[i] * y[i];
    sxy += x[i] * y[i];
  }
  return (n * sxy - sx * sy) / Math.sqrt((n * sxx - sx * sx) * (n * syy - sy * sy));
}

test('Kendall tau-b and Pearson on hand-computed cases, skipping non-finite pairs', () => {
  // x = [1, 2, 3], y = [1, 3, 2]: pairs (1,2) and (1,3) concordant, (2,3) discordant, so 1/3.
  // Centered: dx = [−1, 0, 1], dy = [−1, 1, 0]; Σdxdy = 1, Σdx² = Σdy² = 2, so Pearson is 1/2.
  close(kendallTauB([1, 2, NaN, 3], [1, 3, 5, 2]), 1 / 3, 'tau');
  close(pearson([1, 2, NaN, 3], [1, 3, 5, 2]), 0.5, 'pearson');
  close(pearson([1, 2, 3, Infinity], [1, 3, 2, 0]), 0.5, 'pearson skips infinities');
  // x = [1, 1, 2], y = [1, 2, 2]: one pair tied in x, one tied in y, one concordant:
  // (1 − 0) / sqrt((3 − 1)(3 − 1)) = 1/2.
  close(kendallTauB([1, 1, 2], [1, 2, 2]), 0.5, 'tau with ties');
  // Zero and negative zero are the same value.
  close(kendallTauB([0, -0, 1], [1, 2, 2]), 0.5, 'signed zeros tie');
  assert.ok(Number.isNaN(kendallTauB([1, 1, 1], [1, 2, 3])), 'constant x');
  assert.ok(Number.isNaN(pearson([1, 2, 3], [4, 4, 4])), 'constant y');
  assert.ok(Number.isNaN(kendallTauB([1], [2])), 'one pair');
});

test('Kendall tau-b agrees with the naive O(n²) definition on random vectors with ties, to 1e-12', () => {
  for (let seed = 1; seed <= 20; seed++) {
    const r = rng(seed);
    const n = 280 + Math.floor(r() * 40);
    const levels = 3 + Math.floor(r() * 30);
    const x = new Float64Array(n);
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      x[i] = Math.floor(r() * levels) - levels / 2;
      // Correlated with x, coarse enough to tie often, and sometimes null.
      y[i] = Math.round((seed % 2 ? 1 : -1) * x[i] * r() + 4 * r());
      if (r() < 0.05) (r() < 0.5 ? x : y)[i] = NaN;
    }
    const want = naiveTauB(x, y);
    const got = kendallTauB(x, y);
    assert.ok(Math.abs(got - want) <= 1e-12, `seed ${seed}, n ${n}: got ${got}, naive ${want}`);
  }
  // Continuous values (no ties) as well.
  const r = rng(99);
  const x = Float64Array.from({ length: 301 }, () => r());
  const y = x.map((v) => v + r());
  close(kendallTauB(x, y), naiveTauB(x, y), 'no ties');
  // Both signs, magnitudes from 1e-30 to 1e30, and signed zeros, which exercise the ordering of raw
  // IEEE-754 bit patterns.
  for (let seed = 100; seed < 105; seed++) {
    const q = rng(seed);
    const wide = () => (q() < 0.1 ? (q() < 0.5 ? -0 : 0) : (q() < 0.5 ? -1 : 1) * q() * 10 ** Math.floor(q() * 61 - 30));
    const u = Float64Array.from({ length: 300 }, wide);
    const w = u.map((v) => (q() < 0.3 ? wide() : v * (1 + q())));
    close(kendallTauB(u, w), naiveTauB(u, w), `wide magnitudes, seed ${seed}`);
  }
  // Negative values within 1e-9 of each other differ only in the low 32 bits of their doubles; the
  // other side is spread out, so an ordering mistake in those bits cannot cancel between the sides.
  const near = Float64Array.from({ length: 300 }, () => -1 - r() * 1e-9);
  const noisy = near.map((v) => (-1 - v) * 1e9 + r() * 0.3);
  close(kendallTauB(near, noisy), naiveTauB(near, noisy), 'close negatives');
});

test('Pearson agrees with the textbook formula on random vectors', () => {
  for (let seed = 1; seed <= 10; seed++) {
    const r = rng(seed);
    const x = Float64Array.from({ length: 300 }, () => r() * 2 - 1);
    const y = x.map((v) => (r() < 0.03 ? NaN : v * (seed / 5) + r() - 0.5));
    const want = naivePearson(x, y);
    const got = pearson(x, y);
    assert.ok(Math.abs(got - want) <= 1e-12, `seed ${seed}: got ${got}, naive ${want}`);
  }
});

test('Kendall tau-b at Llama-2-7B size (1.5M pairs): blocks reversed inside give an exact answer', () => {
  // x = 0..n−1 and y reverses x inside each block of b, keeping the blocks in order, so the discordant
  // pairs are exactly the within-block pairs, (n/b)·b(b−1)/2, and there are no ties.
  const n = 1_500_000;
  const b = 100;
  const r = rng(7);
  // Present the pairs in a shuffled order so the sort has work to do.
  const perm = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const i = perm[k];
    x[k] = i;
    y[k] = Math.floor(i / b) * b + (b - 1 - (i % b));
  }
  const n0 = (n * (n - 1)) / 2;
  const discordant = (n / b) * ((b * (b - 1)) / 2);
  const t0 = Date.now();
  const tau = kendallTauB(x, y);
  const ms = Date.now() - t0;
  close(tau, (n0 - 2 * discordant) / n0, 'tau');
  // An O(n²) count would take hours here; the bound only guards against that, not a benchmark.
  assert.ok(ms < 30_000, `took ${ms} ms`);
});

// ---- phase shift ----

test('detectPhaseShift: piecewise linear rise then flat has its knee at the break', () => {
  // Steps 0..10, values i/4 up to i = 4, then 1. Normalized height above the diagonal is i/4 − i/10
  // while rising (0.6 at i = 4) and 1 − i/10 after, so the knee is index 4 with score 0.6.
  const steps = Array.from({ length: 11 }, (_, i) => i);
  const values = steps.map((i) => Math.min(i / 4, 1));
  const p = detectPhaseShift(steps, values)!;
  assert.equal(p.index, 4);
  assert.equal(p.step, 4);
  close(p.score, 0.6, 'score');
  assert.match(p.rule, /Kneedle/);
  assert.match(p.rule, /running maximum/);
});

test('detectPhaseShift: GPT-2-like epochs (81 steps each) from 0.2 to a 0.9 plateau at epoch 8', () => {
  // Epoch e = 1..25 at step 81e; the value rises linearly over epochs 1..8 and stays at 0.9. The
  // normalized curve is min((e − 1)/7, 1) against (e − 1)/24, highest above the diagonal at e = 8:
  // 1 − 7/24.
  const epochs = Array.from({ length: 25 }, (_, i) => i + 1);
  const steps = epochs.map((e) => 81 * e);
  const clean = epochs.map((e) => 0.2 + 0.7 * Math.min((e - 1) / 7, 1));
  const p = detectPhaseShift(steps, clean)!;
  assert.equal(p.index, 7);
  assert.equal(p.step, 648);
  close(p.score, 1 - 7 / 24, 'score');
  // A transient dip after the plateau leaves the running maximum, and so the knee, unchanged.
  const dipped = clean.map((v, i) => (i === 12 ? 0.35 : i === 13 ? 0.6 : v));
  assert.deepEqual(detectPhaseShift(steps, dipped), p);
  // Noise of ±0.01 leaves the knee at epoch 8. The running maximum there is within 0.02 of the final
  // one, so a later point gains at most 0.02/0.68 < 0.03 in normalized value while the diagonal gains
  // 1/24 ≈ 0.042 per epoch; an earlier point is at least 0.1 − 0.02 = 0.08 lower (0.11 normalized),
  // which is more than the 1/24 it saves on the diagonal.
  const r = rng(3);
  const noisy = clean.map((v) => v + (r() - 0.5) * 0.02);
  assert.equal(detectPhaseShift(steps, noisy)!.index, 7);
});

test('detectPhaseShift: an early dip below the first value does not drag the knee to the start', () => {
  // Values 0.6, 0 (a dip), 0.7, 0.8, 0.9, then 1. The running maximum is 0.6, 0.6, 0.7, 0.8, 0.9, 1, …,
  // normalized over its rise of 0.4 to 0, 0, 0.25, 0.5, 0.75, 1, …; minus i/10 that peaks at index 5
  // with 0.5. Min–max over the raw values (0..1) would instead peak at index 0 with 0.6 − 0 = 0.6.
  const steps = Array.from({ length: 11 }, (_, i) => i);
  const values = [0.6, 0, 0.7, 0.8, 0.9, 1, 1, 1, 1, 1, 1];
  const p = detectPhaseShift(steps, values)!;
  assert.equal(p.index, 5);
  close(p.score, 0.5, 'score');
});

test('detectPhaseShift: logistic curves have their knee where the normalized slope falls to 1', () => {
  // For y = σ((x − c)/w) on x ∈ [0, X], normalized by Δy = y(X) − y(0), the height above the diagonal
  // peaks where dy/dx · X/Δy = 1, i.e. σ(1 − σ) = wΔy/X, on the falling side: σ* = (1 + sqrt(1 − 4wΔy/X))/2,
  // x* = c + w·ln(σ*/(1 − σ*)). The discrete argmax on a unit grid is within one step of x*.
  const sigma = (u: number) => 1 / (1 + Math.exp(-u));
  for (const [c, w, X] of [
    [20, 5, 100],
    [30, 3, 60],
    [10, 2, 50],
  ]) {
    const steps = Array.from({ length: X + 1 }, (_, i) => i);
    const values = steps.map((x) => sigma((x - c) / w));
    const dy = values[X] - values[0];
    const s = (1 + Math.sqrt(1 - (4 * w * dy) / X)) / 2;
    const expected = c + w * Math.log(s / (1 - s));
    const p = detectPhaseShift(steps, values)!;
    assert.ok(Math.abs(p.step - expected) <= 1, `c=${c} w=${w}: knee at ${p.step}, expected ${expected.toFixed(2)}`);
  }
});

test('detectPhaseShift: undefined for short, flat, falling, straight and convex curves', () => {
  assert.equal(detectPhaseShift([1, 2], [0, 1]), undefined, 'two points');
  assert.equal(detectPhaseShift([], []), undefined, 'no points');
  assert.equal(detectPhaseShift([1, 2, 3, 4], [0.5, 0.5, 0.5, 0.5]), undefined, 'flat');
  assert.equal(detectPhaseShift([1, 2, 3, 4], [0.5, 0.5002, 0.5001, 0.5003]), undefined, 'rise below 1e-3');
  assert.equal(detectPhaseShift([1, 2, 3, 4], [0.9, 0.6, 0.4, 0.2]), undefined, 'falling');
  assert.equal(detectPhaseShift([0, 1, 2, 3, 4], [0, 0.25, 0.5, 0.75, 1]), undefined, 'straight line');
  assert.equal(detectPhaseShift([0, 1, 2, 3, 4], [0, 1, 4, 9, 16]), undefined, 'convex');
  assert.throws(() => detectPhaseShift([1, 1, 2], [0, 1, 1]), RangeError, 'steps not increasing');
  assert.throws(() => detectPhaseShift([1, 2, 3], [0, 1]), RangeError, 'length mismatch');
  assert.throws(() => detectPhaseShift([1, 2, 3], [0, NaN, 1]), RangeError, 'NaN value');
});

// ---- head roles ----

test('classifyHead: R = subject / relation ratio against tau and 1/tau, bounds are mixtures', () => {
  const cases: [number, number, number, HeadRole][] = [
    [5, 0.4, 10, 'mover'], // R = 12.5
    [-5, 0.4, 10, 'mover'], // |R| = 12.5
    [0.03, 0.5, 10, 'relation'], // R = 0.06
    [0, 0.5, 10, 'relation'], // R = 0
    [1, 1, 10, 'mixture'],
    [10, 1, 10, 'mixture'], // R = tau exactly
    [1, 10, 10, 'mixture'], // R = 1/tau exactly
    [0.5, 0, 10, 'mover'], // R infinite
    [0, 0, 10, 'mixture'], // R undefined
    [3, 1, 2, 'mover'],
    [1, 3, 2, 'relation'],
  ];
  for (const [s, rel, tau, role] of cases) assert.equal(classifyHead(s, rel, tau), role, `${s}/${rel} tau ${tau}`);
  assert.equal(classifyHead(11, 1), 'mover', 'tau defaults to 10');
  assert.throws(() => classifyHead(NaN, 1), RangeError);
  assert.throws(() => classifyHead(1, 1, 0.5), RangeError);
});

test('head roles of circuit heads only, proportions over all circuit nodes, counts by layer', () => {
  // a0.h0: 5/0.4 = 12.5 mover; a0.h1: 1/1 mixture but outside the circuit; a1.h0: 0.02/1 relation;
  // a1.h1: 3/0 mover. The circuit has 6 nodes: input, a0.h0, a1.h0, a1.h1, m1, logits.
  const nodeIn = new Map(g.nodes.map((n) => [n, ['input', 'a0.h0', 'a1.h0', 'a1.h1', 'm1', 'logits'].includes(n)]));
  const roles = circuitHeadRoles(g, nodeIn, [[5, 1], [0.02, 3]], [[0.4, 1], [1, 0]]);
  assert.deepEqual([...roles], [['a0.h0', 'mover'], ['a1.h0', 'relation'], ['a1.h1', 'mover']]);
  const p = headTypeProportions(roles, 6);
  close(p.mover, 2 / 6, 'mover');
  close(p.relation, 1 / 6, 'relation');
  assert.equal(p.mixture, 0);
  const byLayer = headRolesByLayer(roles, 2);
  assert.deepEqual(Array.from(byLayer.mover), [1, 1]);
  assert.deepEqual(Array.from(byLayer.relation), [0, 1]);
  assert.deepEqual(Array.from(byLayer.mixture), [0, 0]);
  assert.deepEqual(headTypeProportions(new Map(), 0), { mover: 0, relation: 0, mixture: 0 });
  assert.throws(() => headTypeProportions(roles, 2), RangeError, 'fewer nodes than heads');
  assert.throws(() => circuitHeadRoles(g, nodeIn, [[5, 1]], [[0.4, 1]]), RangeError, 'wrong shape');
});

// ---- Hit@k ----

test('hitAtK counts 0-based ranks up to k − 1', () => {
  // Ranks 0, 9 and 3 are in the top 10; 10 and 100 are not.
  assert.equal(hitAtK([0, 9, 10, 3, 100]), 3 / 5);
  assert.equal(hitAtK([0, 9, 10, 3, 100], 1), 1 / 5);
  assert.ok(Number.isNaN(hitAtK([])));
  assert.throws(() => hitAtK([-1]), RangeError);
  assert.throws(() => hitAtK([1], 0), RangeError);
});

test('groupBy aggregates per-prompt values by label, in first-seen order', () => {
  const means = groupBy([1, 2, 3, 4], ['high', 'low', 'high', 'low']);
  assert.deepEqual([...means], [['high', { n: 2, value: 2 }], ['low', { n: 2, value: 3 }]]);
  // Hit@10 per frequency: high has ranks 0 and 12 (1 of 2), low has 5, 9 and 10 (2 of 3).
  const hits = groupBy([0, 12, 5, 9, 10], ['high', 'high', 'low', 'low', 'low'], (r) => hitAtK(r));
  assert.deepEqual([...hits], [['high', { n: 2, value: 1 / 2 }], ['low', { n: 3, value: 2 / 3 }]]);
  assert.throws(() => groupBy([1], []), RangeError);
});
