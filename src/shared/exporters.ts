/**
 * Text exports of a circuit and of a drift between two circuits: Graphviz DOT in the drawing
 * conventions of EAP-IG (method spec §1.5(c)), GraphML, an edge-list CSV, and the per-layer drift as
 * CSV and Markdown. Pure string building: the host writes the files, so this module imports only
 * src/shared and runs in every zone.
 */
import { parseNodeId, type CircuitData, type CircuitGraph, type Edge } from './circuit';
import type { DriftData } from './webviewProtocol';

/** Which part of the graph an export covers. */
export type ExportScope = 'inGraph' | 'all';

/** The file kinds {@link defaultExportName} knows; 'drift.csv' and 'drift.md' are compare exports. */
export type ExportKind = 'json' | 'graphml' | 'dot' | 'csv' | 'svg' | 'png' | 'drift.csv' | 'drift.md' | 'neuronpedia' | 'modelexplorer';

// ---- shared helpers ----

/**
 * The nodes an in-graph export draws: every node marked in the graph, plus the end points of
 * in-graph edges. After `pruneDeadNodes` the second set is inside the first; the union only matters
 * for hand-edited files, where pygraphviz would also create a (plain) node for a dangling edge end.
 */
function drawnNodes(g: CircuitGraph, data: CircuitData): Set<string> {
  const nodes = new Set<string>();
  for (const n of g.nodes) if (data.nodeIn.get(n) === true) nodes.add(n);
  g.edges.forEach((e, i) => {
    if (data.edgeIn[i] === 1) {
      nodes.add(e.parent);
      nodes.add(e.child);
    }
  });
  return nodes;
}

function checkData(g: CircuitGraph, data: CircuitData): void {
  if (data.scores.length !== g.edges.length || data.edgeIn.length !== g.edges.length) {
    throw new RangeError(`circuit data has ${data.scores.length} scores and ${data.edgeIn.length} edge flags but the graph has ${g.edges.length} edges`);
  }
}

/** Full precision, shortest round-trip form; empty for a null (NaN) score. */
function fullNumber(x: number): string {
  return Number.isNaN(x) ? '' : String(x);
}

/** Smallest and largest |score| over every scored edge of the graph (null scores are skipped). */
function absScoreRange(scores: ArrayLike<number>): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < scores.length; i++) {
    const a = Math.abs(scores[i]);
    if (Number.isNaN(a)) continue;
    if (a < min) min = a;
    if (a > max) max = a;
  }
  return min <= max ? { min, max } : { min: 0, max: 0 };
}

// ---- Graphviz DOT ----

/**
 * ColorBrewer Pastel2, the colormap EAP-IG draws node fills from, as matplotlib lists it (hex in
 * lower case, as EAP-IG's rgb2hex writes it).
 */
export const pastel2 = ['#b3e2cd', '#fdcdac', '#cbd5e8', '#f4cae4', '#e6f5c9', '#fff2ae', '#f1e2cc', '#cccccc'] as const;

/**
 * The fill of a node. EAP-IG picks a random Pastel2 colour per node (seeded only on request); an
 * export should be the same file every time, so the colour is a function of the node instead:
 * input grey, logits beige, and the heads and the MLP of each layer alternate over the first six
 * Pastel2 colours (heads of layer l: 2l mod 6, MLP of layer l: 2l+1 mod 6). Neighbouring ranks of
 * the drawing therefore never share a colour.
 */
export function dotNodeColor(name: string): string {
  const n = parseNodeId(name);
  switch (n?.kind) {
    case 'input':
      return pastel2[7];
    case 'logits':
      return pastel2[6];
    case 'attn':
      return pastel2[(2 * n.layer) % 6];
    case 'mlp':
      return pastel2[(2 * n.layer + 1) % 6];
    default:
      return pastel2[7];
  }
}

/** EAP-IG's `Edge.get_color`: the q/k/v letter wins; other edges are red when negative, else black. */
export function dotEdgeColor(e: Pick<Edge, 'qkv'>, score: number): string {
  if (e.qkv === 'q') return '#FF00FF';
  if (e.qkv === 'k') return '#00FF00';
  if (e.qkv === 'v') return '#0000FF';
  return score < 0 ? '#FF0000' : '#000000';
}

/**
 * EAP-IG's pen width: max(0.6, 5·(|s| − min|s|)/(max|s| − min|s|)), with min and max over every
 * scored edge of the graph (not only the drawn ones). When all scores have the same magnitude the
 * reference uses |s| itself as the normalized score; that quirk is kept. A null score counts as 0,
 * as the DKC code does for drawing.
 */
export function dotPenWidth(score: number, min: number, max: number): number {
  const s = Number.isNaN(score) ? 0 : Math.abs(score);
  const normalized = max !== min ? (s - min) / (max - min) : s;
  return Math.max(0.6, normalized * 5);
}

/** A DOT double-quoted string: quotes and backslashes escaped, line breaks as `\n`. */
function dotString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\r\n|\r|\n/g, '\\n')}"`;
}

function dotAttrs(attrs: Record<string, string>): string {
  return Object.entries(attrs)
    .map(([k, v]) => `${k}=${dotString(v)}`)
    .join(', ');
}

export interface DotOptions {
  /** Drawn above the graph (graph `label`, `labelloc=t`). */
  readonly title?: string;
  /** Put the heads of each layer on one rank (`rank=same`), input lowest and logits highest. Default true. */
  readonly layerRanks?: boolean;
}

/**
 * The in-graph circuit as a Graphviz DOT digraph, drawn as EAP-IG's `to_graphviz` draws it: only
 * in-graph nodes and edges; nodes are filled, rounded boxes in Helvetica with a black outline; edge
 * colour by q/k/v letter or sign ({@link dotEdgeColor}); pen width by |score| ({@link dotPenWidth});
 * graph attributes bgcolor=white, overlap=false, splines=true, layout=dot.
 *
 * Differences from the reference, on purpose:
 * - pygraphviz's AGraph is strict, so the q, k and v edges between one pair of nodes collapse into one
 *   drawn edge (the last one added wins). Here every in-graph edge is its own DOT edge, so a head fed
 *   by the same node through q and v shows a magenta and a blue line. Each carries the EAP-IG edge
 *   name as its `tooltip` (shown on hover in SVG).
 * - Node colours are deterministic ({@link dotNodeColor}) instead of random.
 * - `rankdir=BT` puts input at the bottom and logits at the top, as circuits are usually drawn in
 *   papers; the reference uses the default top-to-bottom.
 * Node ids are the EAP-IG node names, always quoted; every string is escaped for DOT.
 */
export function toDot(g: CircuitGraph, data: CircuitData, opts: DotOptions = {}): string {
  checkData(g, data);
  const nodes = drawnNodes(g, data);
  const { min, max } = absScoreRange(data.scores);
  const graphAttrs: Record<string, string> = { bgcolor: 'white', overlap: 'false', splines: 'true', layout: 'dot', rankdir: 'BT' };
  if (opts.title !== undefined) Object.assign(graphAttrs, { label: opts.title, labelloc: 't', fontname: 'Helvetica' });
  const lines = [
    'digraph circuit {',
    `  graph [${dotAttrs(graphAttrs)}];`,
    `  node [${dotAttrs({ shape: 'box', style: 'filled, rounded', color: 'black', fontname: 'Helvetica' })}];`,
  ];
  for (const n of g.nodes) {
    if (nodes.has(n)) lines.push(`  ${dotString(n)} [${dotAttrs({ label: n, fillcolor: dotNodeColor(n) })}];`);
  }
  if (opts.layerRanks !== false) {
    if (nodes.has('input')) lines.push(`  { rank=min; ${dotString('input')}; }`);
    for (let l = 0; l < g.cfg.nLayers; l++) {
      const heads: string[] = [];
      for (let h = 0; h < g.cfg.nHeads; h++) if (nodes.has(`a${l}.h${h}`)) heads.push(`${dotString(`a${l}.h${h}`)};`);
      if (heads.length > 1) lines.push(`  { rank=same; ${heads.join(' ')} }`);
    }
    if (nodes.has('logits')) lines.push(`  { rank=max; ${dotString('logits')}; }`);
  }
  g.edges.forEach((e, i) => {
    if (data.edgeIn[i] !== 1) return;
    const s = data.scores[i];
    const attrs = { penwidth: String(dotPenWidth(s, min, max)), color: dotEdgeColor(e, s), tooltip: e.name };
    lines.push(`  ${dotString(e.parent)} -> ${dotString(e.child)} [${dotAttrs(attrs)}];`);
  });
  lines.push('}');
  return lines.join('\n') + '\n';
}

// ---- GraphML ----

/** Text and attribute values for XML: the five predefined entities, and no raw control characters. */
function xmlEscape(s: string): string {
  return (
    s
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, '&apos;')
      // Tabs and line breaks are kept as character references so attribute values survive normalization.
      .replace(/[\t\n\r]/g, (c) => `&#${c.charCodeAt(0)};`)
      // XML 1.0 cannot carry other C0 controls at all, not even as references.
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '')
  );
}

/** xs:double spelling: INF and -INF for the infinities. */
function xsDouble(x: number): string {
  if (x === Infinity) return 'INF';
  if (x === -Infinity) return '-INF';
  return String(x);
}

export interface GraphMLOptions {
  /** 'inGraph' (default): the circuit only; 'all': every node and edge of the full graph. */
  readonly scope?: ExportScope;
}

/**
 * The circuit as GraphML (one directed `<graph>`), for Gephi, yEd, Cytoscape desktop or networkx.
 * Keys: graph n_layers, n_heads, parallel_attn_mlp; node kind (input/attn/mlp/logits), layer (as the
 * method counts it: input 0, logits n_layers − 1), head (heads only), in_graph, score (only when the
 * circuit has node scores); edge name (the EAP-IG edge name), score (absent for null), qkv (head
 * inputs only), in_graph. Node ids are the EAP-IG node names, which are valid NMTOKENs. Edge names
 * contain '<' and '>' and are not, so edge ids are `e{index}` with the index in construction order of
 * the full graph (stable under `scope`), and the name travels as data.
 */
export function toGraphML(g: CircuitGraph, data: CircuitData, opts: GraphMLOptions = {}): string {
  checkData(g, data);
  const all = opts.scope === 'all';
  const nodes = all ? new Set(g.nodes) : drawnNodes(g, data);
  const hasNodeScores = data.nodeScores !== undefined && data.nodeScores.size > 0;
  const keys: [id: string, forWhat: string, name: string, type: string][] = [
    ['g_n_layers', 'graph', 'n_layers', 'int'],
    ['g_n_heads', 'graph', 'n_heads', 'int'],
    ['g_parallel_attn_mlp', 'graph', 'parallel_attn_mlp', 'boolean'],
    ['n_kind', 'node', 'kind', 'string'],
    ['n_layer', 'node', 'layer', 'int'],
    ['n_head', 'node', 'head', 'int'],
    ['n_in_graph', 'node', 'in_graph', 'boolean'],
    ...(hasNodeScores ? [['n_score', 'node', 'score', 'double'] as [string, string, string, string]] : []),
    ['e_name', 'edge', 'name', 'string'],
    ['e_score', 'edge', 'score', 'double'],
    ['e_qkv', 'edge', 'qkv', 'string'],
    ['e_in_graph', 'edge', 'in_graph', 'boolean'],
  ];
  const datum = (key: string, value: string) => `<data key="${key}">${xmlEscape(value)}</data>`;
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<graphml xmlns="http://graphml.graphdrawing.org/xmlns" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"',
    '    xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">',
    ...keys.map(([id, f, name, type]) => `  <key id="${id}" for="${f}" attr.name="${name}" attr.type="${type}"/>`),
    '  <graph id="circuit" edgedefault="directed">',
    `    ${datum('g_n_layers', String(g.cfg.nLayers))}`,
    `    ${datum('g_n_heads', String(g.cfg.nHeads))}`,
    `    ${datum('g_parallel_attn_mlp', String(g.cfg.parallelAttnMlp))}`,
  ];
  for (const n of g.nodes) {
    if (!nodes.has(n)) continue;
    const id = parseNodeId(n)!;
    const layer = id.kind === 'input' ? 0 : id.kind === 'logits' ? g.cfg.nLayers - 1 : id.layer;
    const parts = [datum('n_kind', id.kind), datum('n_layer', String(layer))];
    if (id.kind === 'attn') parts.push(datum('n_head', String(id.head)));
    parts.push(datum('n_in_graph', String(data.nodeIn.get(n) === true)));
    const s = data.nodeScores?.get(n);
    if (hasNodeScores && s !== undefined && !Number.isNaN(s)) parts.push(datum('n_score', xsDouble(s)));
    lines.push(`    <node id="${xmlEscape(n)}">${parts.join('')}</node>`);
  }
  g.edges.forEach((e, i) => {
    if (!all && data.edgeIn[i] !== 1) return;
    const s = data.scores[i];
    const parts = [datum('e_name', e.name)];
    if (!Number.isNaN(s)) parts.push(datum('e_score', xsDouble(s)));
    if (e.qkv) parts.push(datum('e_qkv', e.qkv));
    parts.push(datum('e_in_graph', String(data.edgeIn[i] === 1)));
    lines.push(`    <edge id="e${i}" source="${xmlEscape(e.parent)}" target="${xmlEscape(e.child)}">${parts.join('')}</edge>`);
  });
  lines.push('  </graph>', '</graphml>');
  return lines.join('\n') + '\n';
}

// ---- CSV ----

/** One RFC 4180 field: quoted, with quotes doubled, when it holds a comma, a quote or a line break. */
function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function csvLines(rows: readonly (readonly string[])[]): string {
  return rows.map((r) => r.map(csvField).join(',')).join('\n') + '\n';
}

/**
 * 1-based rank of every edge by |score|, largest first, over all scored edges of the graph; ties go
 * to the earlier edge in construction order, as `topN` breaks them, so rank ≤ N exactly when the edge
 * is among `topN(N)`. 0 for a null score.
 */
export function scoreRanks(scores: ArrayLike<number>): Int32Array {
  const order: number[] = [];
  for (let i = 0; i < scores.length; i++) if (!Number.isNaN(scores[i])) order.push(i);
  order.sort((a, b) => Math.abs(scores[b]) - Math.abs(scores[a]) || a - b);
  const rank = new Int32Array(scores.length);
  order.forEach((i, r) => (rank[i] = r + 1));
  return rank;
}

export interface CsvOptions {
  /** 'all' (default): every edge of the graph, one row each; 'inGraph': the circuit's edges only. */
  readonly scope?: ExportScope;
}

/**
 * The edge list as CSV with the header `edge,parent,child,qkv,score,in_graph,rank`, one row per edge in
 * construction order. qkv is empty for edges into MLPs and logits; score is written with full
 * precision (shortest round-trip form) and empty when null; in_graph is `true`/`false`; rank is
 * {@link scoreRanks} (over all scored edges even when only in-graph rows are written), empty when the
 * score is null. Fields are quoted per RFC 4180 when needed; lines end in '\n'.
 */
export function toCsv(g: CircuitGraph, data: CircuitData, opts: CsvOptions = {}): string {
  checkData(g, data);
  const ranks = scoreRanks(data.scores);
  const rows: string[][] = [['edge', 'parent', 'child', 'qkv', 'score', 'in_graph', 'rank']];
  g.edges.forEach((e, i) => {
    const inGraph = data.edgeIn[i] === 1;
    if (opts.scope === 'inGraph' && !inGraph) return;
    rows.push([e.name, e.parent, e.child, e.qkv ?? '', fullNumber(data.scores[i]), String(inGraph), ranks[i] ? String(ranks[i]) : '']);
  });
  return csvLines(rows);
}

// ---- drift ----

/** Labels of the two compared circuits (checkpoint names, steps). */
export interface DriftLabels {
  readonly a: string;
  readonly b: string;
  /** Rows of the Markdown report's settings table: N of each side, prompt set, method. */
  readonly provenance?: readonly (readonly [string, string])[];
}

/**
 * A finite number, or undefined. DriftData crosses JSON, where NaN (an undefined correlation) turns
 * into null, so both count as missing.
 */
function finite(x: number | null | undefined): number | undefined {
  return typeof x === 'number' && Number.isFinite(x) ? x : undefined;
}

function driftRows(drift: DriftData): { layer: number; eaA: number; eaB: number; smA: number; smB: number }[] {
  const n = drift.layers.length;
  const arrays = { edgeActivationA: drift.edgeActivationA, edgeActivationB: drift.edgeActivationB, scoreMassA: drift.scoreMassA, scoreMassB: drift.scoreMassB };
  for (const [name, arr] of Object.entries(arrays)) {
    if (arr.length !== n) throw new RangeError(`drift.${name} has ${arr.length} entries but there are ${n} layers`);
  }
  return Array.from({ length: n }, (_, i) => ({
    layer: drift.layers[i],
    eaA: drift.edgeActivationA[i],
    eaB: drift.edgeActivationB[i],
    smA: drift.scoreMassA[i],
    smB: drift.scoreMassB[i],
  }));
}

/**
 * Per-layer drift as CSV, one row per layer: `layer, edge_activation_a, edge_activation_b,
 * edge_activation_delta, score_mass_a, score_mass_b, score_mass_delta, label_a, label_b`. Deltas are
 * B − A. The two deltas get distinct names so the file loads into a data frame; the labels repeat on
 * every row so that drift files of many checkpoint pairs can be concatenated and still be read.
 * Numbers at full precision; a missing value is an empty field.
 */
export function driftCsv(drift: DriftData, labels: DriftLabels): string {
  const num = (x: number | undefined) => (x === undefined ? '' : String(x));
  const rows: string[][] = [
    ['layer', 'edge_activation_a', 'edge_activation_b', 'edge_activation_delta', 'score_mass_a', 'score_mass_b', 'score_mass_delta', 'label_a', 'label_b'],
  ];
  for (const r of driftRows(drift)) {
    const [eaA, eaB, smA, smB] = [finite(r.eaA), finite(r.eaB), finite(r.smA), finite(r.smB)];
    rows.push([
      String(r.layer),
      num(eaA),
      num(eaB),
      num(eaA !== undefined && eaB !== undefined ? eaB - eaA : undefined),
      num(smA),
      num(smB),
      num(smA !== undefined && smB !== undefined ? smB - smA : undefined),
      labels.a,
      labels.b,
    ]);
  }
  return csvLines(rows);
}

/** Text inside a Markdown table cell: pipes and backslashes escaped, line breaks as spaces. */
function mdCell(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\s*[\r\n]+\s*/g, ' ');
}

/** Four significant digits for reading; "n/a" when missing. */
function mdNumber(x: number | null | undefined, signed = false): string {
  const v = finite(x);
  if (v === undefined) return 'n/a';
  const s = String(Number(v.toPrecision(4)));
  return signed && v > 0 ? `+${s}` : s;
}

/**
 * A Markdown report of a drift: the two labels, a summary table (node and edge Jaccard, Pearson and
 * Kendall tau-b of the full score vectors, Δ faithfulness B − A, edges added, removed and
 * sign-flipped), then the per-layer table of {@link driftCsv}. Numbers are rounded to 4 significant
 * digits (the CSV keeps full precision); undefined statistics read "n/a".
 */
export function driftMarkdown(drift: DriftData, labels: DriftLabels): string {
  const rows = driftRows(drift);
  const a = mdCell(labels.a);
  const b = mdCell(labels.b);
  const delta = (x: number, y: number) => (finite(x) !== undefined && finite(y) !== undefined ? y - x : undefined);
  const lines = [
    '# Circuit drift',
    '',
    '| Circuit | Label |',
    '|---|---|',
    `| A | ${a} |`,
    `| B | ${b} |`,
    ...(labels.provenance ? ['', '| Setting | Value |', '|---|---|', ...labels.provenance.map(([k, v]) => `| ${mdCell(k)} | ${mdCell(v)} |`)] : []),
    '',
    '## Summary',
    '',
    '| Statistic | Value |',
    '|---|---:|',
    `| Node Jaccard | ${mdNumber(drift.nodeJaccard)} |`,
    `| Edge Jaccard | ${mdNumber(drift.edgeJaccard)} |`,
    `| Pearson r (edge scores) | ${mdNumber(drift.pearson)} |`,
    `| Kendall τ-b (edge scores) | ${mdNumber(drift.kendallTauB)} |`,
    `| Δ faithfulness (B − A) | ${mdNumber(drift.faithfulnessDelta, true)} |`,
    `| Edges added (in B, not A) | ${drift.addedCount} |`,
    `| Edges removed (in A, not B) | ${drift.removedCount} |`,
    `| Edges with flipped sign | ${drift.signFlippedCount} |`,
    '',
    '## Per layer',
    '',
    'Edge activation: the share of a layer’s outgoing edges that are in the circuit. Score mass: the summed |score| of those edges. Δ is B − A.',
    '',
    '| Layer | Edge activation A | Edge activation B | Δ | Score mass A | Score mass B | Δ |',
    '|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.layer} | ${mdNumber(r.eaA)} | ${mdNumber(r.eaB)} | ${mdNumber(delta(r.eaA, r.eaB), true)} | ` +
        `${mdNumber(r.smA)} | ${mdNumber(r.smB)} | ${mdNumber(delta(r.smA, r.smB), true)} |`,
    ),
  ];
  return lines.join('\n') + '\n';
}

// ---- file names ----

const extensions: Record<ExportKind, string> = {
  json: '.json',
  graphml: '.graphml',
  dot: '.dot',
  csv: '.csv',
  svg: '.svg',
  png: '.png',
  'drift.csv': '.drift.csv',
  'drift.md': '.drift.md',
  neuronpedia: '.neuronpedia.json',
  modelexplorer: '.model-explorer.json',
};

const windowsReserved = /^(con|prn|aux|nul|com[1-9]|lpt[1-9])$/i;

/**
 * A file name for an export: the base (a checkpoint or task name, possibly a path) made safe on
 * Windows, macOS and Linux, then the kind's extension. Characters other than letters, digits, '.',
 * '_' and '-' become '-' (runs collapse); leading and trailing dots and dashes go; the base is cut to
 * 100 characters; a Windows device name (before the first dot) gets a '_' appended; an empty result becomes 'circuit'. A
 * base that already ends in the extension does not get it twice.
 */
export function defaultExportName(base: string, kind: ExportKind): string {
  const ext = extensions[kind];
  let stem = base.trim();
  if (stem.toLowerCase().endsWith(ext)) stem = stem.slice(0, -ext.length);
  stem = stem
    .normalize('NFC')
    .replace(/[^\p{L}\p{N}._-]+/gu, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^[.-]+|[.-]+$/g, '');
  stem = Array.from(stem).slice(0, 100).join('').replace(/[.-]+$/, '');
  if (stem === '') stem = 'circuit';
  // Windows reserves device names whatever follows the first dot ('con.data.csv' opens the console).
  const dot = stem.indexOf('.');
  const first = dot < 0 ? stem : stem.slice(0, dot);
  if (windowsReserved.test(first)) stem = `${first}_${stem.slice(first.length)}`;
  return stem + ext;
}
