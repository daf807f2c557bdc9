/**
 * Generated circuits for the webview harness: seeded, shaped like real EAP-IG scores (heavy-tailed
 * magnitudes, a few important heads and MLPs, more weight toward the logits), with head roles,
 * a faithfulness curve, and the drift of a second, perturbed checkpoint computed with the real
 * analysis code. Nothing here touches the DOM; the harness serializes the results into the page.
 */
import { compareCircuits } from '../../src/shared/analysis';
import { CircuitGraph, pruneDeadNodes, topN, type CircuitConfig } from '../../src/shared/circuit';
import type { CircuitViewData, DriftData, HeadInfo } from '../../src/shared/webviewProtocol';
import { mulberry32 } from '../../src/engine/util/random';

/** The project's seeded generator, so screenshots are the same from run to run. */
export const rng = mulberry32;

function normal(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

export const storiesCfg: CircuitConfig = { nLayers: 5, nHeads: 8, parallelAttnMlp: false, dModel: 64 };
export const gpt2Cfg: CircuitConfig = { nLayers: 12, nHeads: 12, parallelAttnMlp: false, dModel: 768 };
/** Llama-3.2-1B's circuit graph: 16 layers of 32 query heads (k and v edges per query head), 386,713 edges. */
export const llama1bCfg: CircuitConfig = { nLayers: 16, nHeads: 32, parallelAttnMlp: false, dModel: 2048 };

export interface FakeOptions {
  readonly cfg: CircuitConfig;
  readonly seed: number;
  readonly topN: number;
  readonly title: string;
  readonly checkpoint: string;
  /** Share of edges left unscored (null), to exercise that path. */
  readonly nullShare?: number;
}

/** Token strings with the awkward cases: leading spaces, newlines, markup that must stay text. */
const vocab = [' Paris', ' France', ' capital', ' city', '\n', '<|endoftext|>', ' the', '<b>bold</b>', ' Berlin', ' "quoted"', ' Rome', ' river', ' king', '&amp;', ' Lyon', ' of'];

function heads(cfg: CircuitConfig, r: () => number): Record<string, HeadInfo> {
  const out: Record<string, HeadInfo> = {};
  const roles = ['mover', 'relation', 'mixture'] as const;
  for (let l = 0; l < cfg.nLayers; l++) {
    for (let h = 0; h < cfg.nHeads; h++) {
      // About a fifth of the heads have a role, more of them in later layers, as in the papers' plots.
      if (r() > 0.12 + (0.25 * l) / cfg.nLayers) continue;
      const role = roles[Math.floor(r() * 3)];
      const ratio = role === 'mover' ? 10 + r() * 40 : role === 'relation' ? r() * 0.09 : 0.2 + r() * 5;
      const pick = (k: number) => Array.from({ length: k }, () => vocab[Math.floor(r() * vocab.length)]);
      out[`a${l}.h${h}`] = {
        role,
        ratio,
        attnSubj: r() * 0.8,
        attnRel: r() * 0.5,
        promotes: pick(5),
        suppresses: pick(3),
      };
    }
  }
  return out;
}

/** The score vector of a fake circuit; important nodes get larger edges, in either direction. */
function scores(g: CircuitGraph, r: () => number, nullShare: number, hot: ReadonlyMap<string, number>): (number | null)[] {
  const { nLayers: L } = g.cfg;
  const layerOf = (n: string) => (n === 'input' ? 0 : n === 'logits' ? L : Number(/\d+/.exec(n)![0]));
  return g.edges.map((e) => {
    if (r() < nullShare) return null;
    let mag = Math.exp(normal(r) * 1.3) * 1e-3;
    mag *= 1 + (2 * layerOf(e.child)) / L;
    if (e.child === 'logits') mag *= 4;
    if (e.qkv === 'v') mag *= 1.6;
    else if (e.qkv === 'k') mag *= 0.6;
    mag *= (hot.get(e.parent) ?? 1) * (hot.get(e.child) ?? 1);
    const sign = r() < 0.72 ? 1 : -1;
    return Number((sign * mag).toPrecision(4));
  });
}

function hotNodes(g: CircuitGraph, r: () => number, count: number): Map<string, number> {
  const hot = new Map<string, number>([['input', 2], ['logits', 2]]);
  const candidates = g.nodes.filter((n) => n !== 'input' && n !== 'logits');
  while (hot.size < count + 2) hot.set(candidates[Math.floor(r() * candidates.length)], 4 + r() * 8);
  return hot;
}

/** A faithfulness curve that rises with N and levels off near 1, measured at log-spaced sizes. */
function curve(scored: number, r: () => number, topN: number): CircuitViewData['curve'] {
  const ns = new Set<number>([topN, scored]);
  for (let n = 5; n < scored; n = Math.round(n * 1.8)) ns.add(n);
  const scale = Math.max(20, scored / 40);
  return [...ns]
    .filter((n) => n >= 1 && n <= scored)
    .sort((a, b) => a - b)
    .map((n) => ({
      topN: n,
      edges: Math.round(n * (0.85 + 0.1 * r())),
      faithfulness: Number((1 - Math.exp(-n / scale) + 0.08 * Math.exp(-n / (scale * 4)) + 0.02 * (r() - 0.5)).toFixed(4)),
    }));
}

export function fakeCircuit(o: FakeOptions): CircuitViewData {
  const r = rng(o.seed);
  const g = new CircuitGraph(o.cfg);
  const hot = hotNodes(g, r, Math.max(4, Math.round(g.nodes.length / 12)));
  const s = scores(g, r, o.nullShare ?? 0.002, hot);
  const scored = s.filter((x) => x !== null).length;
  return {
    title: o.title,
    checkpoint: o.checkpoint,
    cfg: o.cfg,
    scores: s,
    topN: o.topN,
    curve: curve(scored, r, o.topN),
    heads: heads(o.cfg, r),
    summary: { faithfulness: 0.874, hit10: 0.62, method: 'EAP-IG (inputs, 5 steps)', prompts: 128 },
  };
}

/**
 * A later checkpoint of the same circuit: scores drift multiplicatively, 3% of the edges flip sign,
 * and a few nodes gain or lose weight, so the compare view has added, removed and flipped edges.
 */
export function perturbed(a: CircuitViewData, seed: number, title: string, checkpoint: string): CircuitViewData {
  const r = rng(seed);
  const g = new CircuitGraph(a.cfg);
  const boost = hotNodes(g, r, 4);
  const s = a.scores.map((x, i) => {
    if (x === null) return null;
    const e = g.edges[i];
    let y = x * Math.exp(0.35 * normal(r)) * Math.sqrt((boost.get(e.parent) ?? 1) * (boost.get(e.child) ?? 1));
    if (r() < 0.03) y = -y;
    return Number(y.toPrecision(4));
  });
  return { ...a, title, checkpoint, scores: s, summary: { ...a.summary, faithfulness: 0.912 } };
}

/** The drift the host would compute for the pair at their discovered sizes. */
export function fakeDrift(a: CircuitViewData, b: CircuitViewData): DriftData {
  const g = new CircuitGraph(a.cfg);
  const side = (d: CircuitViewData) => {
    const sc = Float64Array.from(d.scores, (x) => (x === null ? NaN : x));
    return { scores: sc, ...pruneDeadNodes(g, topN(g, sc, d.topN)) };
  };
  const c = compareCircuits(g, side(a), side(b), { faithfulnessA: a.summary.faithfulness, faithfulnessB: b.summary.faithfulness });
  return {
    layers: Array.from({ length: a.cfg.nLayers }, (_, l) => l),
    edgeActivationA: [...c.layers.edgeActivationA],
    edgeActivationB: [...c.layers.edgeActivationB],
    scoreMassA: [...c.layers.scoreMassA],
    scoreMassB: [...c.layers.scoreMassB],
    nodeJaccard: c.nodeJaccard,
    edgeJaccard: c.edgeJaccard,
    pearson: c.pearson,
    kendallTauB: c.kendallTauB,
    faithfulnessDelta: c.faithfulnessDelta,
    addedCount: c.addedCount,
    removedCount: c.removedCount,
    signFlippedCount: c.signFlippedCount,
  };
}

export function storiesCircuit(): CircuitViewData {
  return fakeCircuit({ cfg: storiesCfg, seed: 260, topN: 300, title: 'stories260K · step 4000', checkpoint: 'runs/stories260K/checkpoint-4000' });
}

export function gpt2Circuit(): CircuitViewData {
  return fakeCircuit({ cfg: gpt2Cfg, seed: 124, topN: 8000, title: 'gpt2 · final', checkpoint: 'models/gpt2' });
}

/** A Llama-3.2-1B-sized circuit: 386,713 scored edges, discovered at N = 20,000. */
export function llama1bCircuit(): CircuitViewData {
  return fakeCircuit({ cfg: llama1bCfg, seed: 1001, topN: 20000, title: 'Llama-3.2-1B · final', checkpoint: 'models/Llama-3.2-1B' });
}
