/**
 * DOM-free decisions of the circuit view, so Node's test runner can check them: the size the view
 * opens at, faithfulness at any N from the measured curve, the automatic node groups, the edges of
 * collapsed groups, and the path through a node in both directions.
 */
import { parseNodeId, type CircuitGraph } from '../../src/shared/circuit';
import type { AutoGroupMode, CircuitViewData, SavedGroup } from '../../src/shared/webviewProtocol';
import { formatCount, formatFixed, formatPercent } from './format';

export type { AutoGroupMode };

type Curve = CircuitViewData['curve'];

/** The share of the discovered circuit's faithfulness the view opens at. */
export const legibleShare = 0.8;
/** Without a curve, the view opens at no more than this N. */
export const legibleFallbackN = 150;

/** The measured points in N order, finite only. */
export function curvePoints(curve: Curve): Curve {
  return [...curve].filter((p) => p.topN >= 1 && Number.isFinite(p.faithfulness)).sort((a, b) => a.topN - b.topN);
}

/** Faithfulness at N, interpolated on the log-N axis between measured points; undefined without a curve. */
export function faithfulnessAt(curve: Curve, n: number): number | undefined {
  const p = curvePoints(curve);
  if (!p.length) return undefined;
  if (n <= p[0].topN) return p[0].faithfulness;
  for (let i = 1; i < p.length; i++) {
    if (n <= p[i].topN) {
      const t = (Math.log(n) - Math.log(p[i - 1].topN)) / (Math.log(p[i].topN) - Math.log(p[i - 1].topN) || 1);
      return p[i - 1].faithfulness + t * (p[i].faithfulness - p[i - 1].faithfulness);
    }
  }
  return p[p.length - 1].faithfulness;
}

/** Whether N is one of the measured points (then the header says "measured", else "interpolated"). */
export function isMeasured(curve: Curve, n: number): boolean {
  return curve.some((p) => p.topN === n);
}

export interface LegibleSize {
  readonly n: number;
  /** How N was chosen, for the header and the size control's tooltip. */
  readonly reason: string;
}

/**
 * The N the view opens at: the smallest measured N (not above the discovered one) whose faithfulness
 * reaches `share` of the discovered circuit's; the discovered circuit stays one click away. Without a
 * curve, or when the discovered circuit has no positive faithfulness, the smaller of the discovered N
 * and {@link legibleFallbackN}.
 */
export function legibleN(curve: Curve, discoveredN: number, discoveredFaithfulness?: number, share = legibleShare): LegibleSize {
  const points = curvePoints(curve);
  const full = discoveredFaithfulness ?? faithfulnessAt(curve, discoveredN);
  if (points.length && full !== undefined && full > 0) {
    const target = share * full;
    const hit = points.find((p) => p.topN <= discoveredN && p.faithfulness >= target);
    if (hit) return { n: hit.topN, reason: `smallest measured N reaching ${Math.round(share * 100)}% of the discovered circuit's faithfulness` };
    return { n: discoveredN, reason: `no smaller measured N reaches ${Math.round(share * 100)}% of the discovered circuit's faithfulness` };
  }
  if (discoveredN <= legibleFallbackN) return { n: discoveredN, reason: 'the discovered size' };
  return { n: legibleFallbackN, reason: `no faithfulness curve; the ${legibleFallbackN} strongest edges` };
}

/** A group as the view uses it: saved manual groups, and automatic ones computed here. */
export interface ViewGroup {
  readonly id: string;
  readonly label: string;
  readonly members: readonly string[];
  readonly kind: 'manual' | 'role' | 'layer';
  readonly collapsed: boolean;
}

/**
 * Automatic groups: by head role (mover / relation / mixture heads, from the DLA-by-source analysis),
 * or by layer (each layer's heads and MLP). Only nodes in `visible` (the circuit at this N) are
 * grouped; empty groups are left out. `collapsed` holds the ids of the collapsed ones.
 */
export function autoGroups(
  mode: AutoGroupMode,
  nodes: readonly string[],
  heads: CircuitViewData['heads'],
  visible: (n: string) => boolean,
  collapsed: ReadonlySet<string>,
): ViewGroup[] {
  const buckets = new Map<string, { label: string; members: string[] }>();
  const add = (id: string, label: string, n: string) => {
    let b = buckets.get(id);
    if (!b) buckets.set(id, (b = { label, members: [] }));
    b.members.push(n);
  };
  for (const n of nodes) {
    if (!visible(n)) continue;
    const id = parseNodeId(n);
    if (!id) continue;
    if (mode === 'role') {
      const role = id.kind === 'attn' ? heads[n]?.role : undefined;
      if (role) add(`role:${role}`, `${role} heads`, n);
    } else if (mode === 'layer') {
      if (id.kind === 'attn' || id.kind === 'mlp') add(`layer:${id.layer}`, `layer ${id.layer}`, n);
    }
  }
  const order = (id: string) => (id.startsWith('role:') ? ['role:mover', 'role:relation', 'role:mixture'].indexOf(id) : Number(id.slice(6)));
  return [...buckets]
    .sort(([a], [b]) => order(a) - order(b))
    .map(([id, b]) => ({ id, label: b.label, members: b.members, kind: mode === 'role' ? 'role' : 'layer', collapsed: collapsed.has(id) }));
}

/** Manual groups as the view uses them; ids are stable for the saved order. */
export function manualGroups(saved: readonly SavedGroup[]): ViewGroup[] {
  return saved.map((g, i) => ({ id: `manual:${i}`, label: g.label, members: g.members, kind: 'manual', collapsed: g.collapsed === true }));
}

/**
 * Which collapsed group stands for each node: the first collapsed group that lists it (manual groups
 * come first, so a hand-made group wins over an automatic one).
 */
export function representatives(groups: readonly ViewGroup[]): Map<string, ViewGroup> {
  const rep = new Map<string, ViewGroup>();
  for (const g of groups) {
    if (!g.collapsed) continue;
    for (const m of g.members) if (!rep.has(m)) rep.set(m, g);
  }
  return rep;
}

/** One edge between collapsed groups or between a group and a node: scores summed over its members' edges. */
export interface GroupEdge {
  readonly id: string;
  readonly source: string;
  readonly target: string;
  readonly score: number;
  readonly abs: number;
  readonly count: number;
}

/** The element id of a collapsed group's supernode. */
export const superId = (g: ViewGroup) => `group:${g.id}`;

/**
 * Edges of the drawn circuit (indices in `edges`) that touch a collapsed group, merged per pair of
 * endpoints; edges inside one group disappear. Returns the merged edges and the indices they replace.
 */
export function groupEdges(g: CircuitGraph, scores: ArrayLike<number>, edges: Iterable<number>, rep: ReadonlyMap<string, ViewGroup>): { merged: GroupEdge[]; replaced: Set<number> } {
  const merged = new Map<string, { source: string; target: string; score: number; abs: number; count: number }>();
  const replaced = new Set<number>();
  if (rep.size === 0) return { merged: [], replaced };
  for (const i of edges) {
    const e = g.edges[i];
    const gp = rep.get(e.parent);
    const gc = rep.get(e.child);
    if (!gp && !gc) continue;
    replaced.add(i);
    const source = gp ? superId(gp) : e.parent;
    const target = gc ? superId(gc) : e.child;
    if (source === target) continue;
    const key = `${source}->${target}`;
    let m = merged.get(key);
    if (!m) merged.set(key, (m = { source, target, score: 0, abs: 0, count: 0 }));
    m.score += scores[i];
    m.abs += Math.abs(scores[i]);
    m.count++;
  }
  return { merged: [...merged].map(([id, m]) => ({ id: `ge:${id}`, ...m })), replaced };
}

/**
 * The edges on a path through `node`, in both directions: everything upstream of it (to the input)
 * and downstream of it (to the logits), within the drawn edges `edgeIn`. Returns edge indices and the
 * nodes they touch.
 */
export function pathThrough(g: CircuitGraph, edgeIn: ArrayLike<number>, node: string): { edges: Set<number>; nodes: Set<string> } {
  const edges = new Set<number>();
  const nodes = new Set<string>([node]);
  const walk = (start: string, next: (n: string) => readonly number[] | undefined, far: (i: number) => string) => {
    const stack = [start];
    const seen = new Set<string>([start]);
    while (stack.length) {
      const n = stack.pop()!;
      for (const i of next(n) ?? []) {
        if (!edgeIn[i]) continue;
        edges.add(i);
        const m = far(i);
        nodes.add(m);
        if (!seen.has(m)) {
          seen.add(m);
          stack.push(m);
        }
      }
    }
  };
  walk(node, (n) => g.parentEdges.get(n), (i) => g.edges[i].parent);
  walk(node, (n) => g.childEdges.get(n), (i) => g.edges[i].child);
  return { edges, nodes };
}

/**
 * The drawn edges of a node in the order the keyboard visits them: incoming first (toward the input),
 * then outgoing (toward the logits), each by |score|, strongest first.
 */
export function nodeEdges(g: CircuitGraph, scores: ArrayLike<number>, edgeIn: ArrayLike<number>, node: string): number[] {
  const by = (xs: readonly number[] | undefined) => (xs ?? []).filter((i) => edgeIn[i]).sort((a, b) => Math.abs(scores[b]) - Math.abs(scores[a]) || a - b);
  return [...by(g.parentEdges.get(node)), ...by(g.childEdges.get(node))];
}

/**
 * A token as a chip shows it: spaces as ␣, newlines as ↵, tabs as ⇥, other control characters and
 * the replacement character of a partial UTF-8 sequence as <0x..>, SentencePiece's ▁ as ␣, and the
 * empty string as ∅, so no token renders as a blank chip.
 */
export function visibleToken(t: string): string {
  if (t === '') return '∅';
  let out = '';
  for (const ch of t) {
    const c = ch.codePointAt(0)!;
    if (ch === ' ' || ch === '\u2581' || ch === '\u00a0') out += '␣';
    else if (ch === '\n') out += '↵';
    else if (ch === '\r') out += '␍';
    else if (ch === '\t') out += '⇥';
    else if (ch === '\ufffd') out += '<0x??>';
    else if (c < 0x20 || c === 0x7f || (c >= 0x80 && c < 0xa0)) out += `<0x${c.toString(16).toUpperCase().padStart(2, '0')}>`;
    else if (/^\p{Zs}$/u.test(ch) || /^\p{Cf}$/u.test(ch)) out += `<U+${c.toString(16).toUpperCase().padStart(4, '0')}>`;
    else out += ch;
  }
  return out;
}

/**
 * Each side's values as shares of its own total. Score masses of two checkpoints can differ by
 * orders of magnitude (scores grow during training), and on one raw axis the larger side flattens
 * the other's bars; as shares both stay visible, and the raw values stay in the bars' tooltips.
 */
export function shares(xs: readonly number[]): number[] {
  const total = xs.reduce((a, x) => a + (Number.isFinite(x) ? Math.abs(x) : 0), 0);
  return xs.map((x) => (total > 0 && Number.isFinite(x) ? Math.abs(x) / total : 0));
}

/** The header's figures at the N shown; faithfulness and Hit@10 say at which N they hold. */
export function headerRows(data: CircuitViewData, n: number, discoveredN: number): [string, string][] {
  const s = data.summary;
  const rows: [string, string][] = [];
  rows.push(['Shown', n === discoveredN ? `top ${formatCount(n)} (as discovered)` : `top ${formatCount(n)} of the discovered ${formatCount(discoveredN)}`]);
  const fAt = n === discoveredN ? s.faithfulness : faithfulnessAt(data.curve, n);
  if (fAt !== undefined) {
    const how = n === discoveredN ? 'measured' : isMeasured(data.curve, n) ? 'measured on the curve' : 'interpolated from the curve';
    rows.push([`Faithfulness at N = ${formatCount(n)}`, `${formatFixed(fAt)} (${how})`]);
  }
  if (n !== discoveredN && s.faithfulness !== undefined) rows.push([`Faithfulness at N = ${formatCount(discoveredN)}`, formatFixed(s.faithfulness)]);
  if (s.hit10 !== undefined) rows.push([`Hit@10 at N = ${formatCount(discoveredN)}`, formatPercent(s.hit10)]);
  const warnings = data.trustWarnings ?? [];
  if (warnings.length > 0) rows.push([`Trust: ${warnings.length} warning${warnings.length === 1 ? '' : 's'}`, `⚠ ${warnings.join(' · ')}`]);
  return rows;
}
