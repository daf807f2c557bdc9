/**
 * The text exports on a hand-made 2-layer, 2-head circuit whose expected rows, ranks, colours and pen
 * widths are worked out in the comments: CSV read back with a small RFC 4180 parser, DOT read back
 * statement by statement, GraphML checked for well-formedness with a small tag scanner, and the
 * drift CSV and Markdown.
 */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { CircuitGraph, pruneDeadNodes, topN, type CircuitData } from '../../src/shared/circuit';
import {
  defaultExportName,
  driftCsv,
  driftMarkdown,
  dotPenWidth,
  toCsv,
  toDot,
  toGraphML,
  type ExportKind,
} from '../../src/shared/exporters';
import type { DriftData } from '../../src/shared/webviewProtocol';

// ---- the hand-made circuit ----
//
// The 2-layer, 2-head sequential graph has 8 nodes and 46 edges. Scores: every edge 0.25 except
//   input->a0.h0<q>  3.25  in      input->a1.h1<v>  0.75  in
//   input->a0.h0<k> -1     in      a1.h1->logits   -0.25  in
//   input->a0.h0<v>  0.5   in      input->m0        1/3   out
//   a0.h0->m0       -2     in      m1->logits       4.25  out (the largest |score|)
//   m0->logits       1.25  in      a0.h1->m0        null  out
// so over all scored edges min|s| = 0.25 and max|s| = 4.25 (an out-of-graph edge: the pen widths
// below would differ if only drawn edges were used), and max − min = 4.

const g = new CircuitGraph({ nLayers: 2, nHeads: 2, parallelAttnMlp: false });
const special: Record<string, number> = {
  'input->a0.h0<q>': 3.25,
  'input->a0.h0<k>': -1,
  'input->a0.h0<v>': 0.5,
  'a0.h0->m0': -2,
  'm0->logits': 1.25,
  'input->a1.h1<v>': 0.75,
  'a1.h1->logits': -0.25,
  'input->m0': 1 / 3,
  'm1->logits': 4.25,
  'a0.h1->m0': NaN,
};
/** The circuit's edges in construction order (layer 1's head inputs come before the edges into logits). */
const inGraphEdges = ['input->a0.h0<q>', 'input->a0.h0<k>', 'input->a0.h0<v>', 'a0.h0->m0', 'input->a1.h1<v>', 'm0->logits', 'a1.h1->logits'];

function circuit(): CircuitData {
  const scores = Float64Array.from(g.edges, (e) => special[e.name] ?? 0.25);
  const sel = new Uint8Array(g.edges.length);
  for (const n of inGraphEdges) sel[g.edgeByName(n)!] = 1;
  const { edgeIn, nodeIn } = pruneDeadNodes(g, sel);
  return { cfg: g.cfg, scores, edgeIn, nodeIn };
}
const data = circuit();

test('the fixture is what the comments say', () => {
  assert.equal(g.edges.length, 46);
  for (const n of Object.keys(special)) assert.ok(g.edgeByName(n) !== undefined, n);
  assert.deepEqual(
    g.edges.filter((_, i) => data.edgeIn[i]).map((e) => e.name),
    inGraphEdges,
    'pruning keeps every chosen edge',
  );
  assert.deepEqual(
    g.nodes.filter((n) => data.nodeIn.get(n)),
    ['input', 'a0.h0', 'm0', 'a1.h1', 'logits'],
  );
});

// ---- CSV ----

/** RFC 4180 reader: quoted fields may hold commas, doubled quotes and line breaks. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
        continue;
      }
      if (c === '"') quoted = false;
      else field += c;
      i++;
      continue;
    }
    if (c === '"') {
      assert.equal(field, '', `a quote inside an unquoted field at ${i}`);
      quoted = true;
    } else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else {
      assert.notEqual(c, '\r', 'lines end in \\n only');
      field += c;
    }
    i++;
  }
  assert.equal(quoted, false, 'unterminated quoted field');
  assert.ok(field === '' && row.length === 0, 'the file ends with a line break');
  return rows;
}

test('CSV: one row per edge with score, in_graph and rank worked out by hand', () => {
  const rows = parseCsv(toCsv(g, data));
  assert.deepEqual(rows[0], ['edge', 'parent', 'child', 'qkv', 'score', 'in_graph', 'rank']);
  assert.equal(rows.length, 1 + 46);
  for (const r of rows) assert.equal(r.length, 7);
  assert.deepEqual(
    rows.slice(1).map((r) => r[0]),
    g.edges.map((e) => e.name),
    'construction order',
  );
  const byName = new Map(rows.slice(1).map((r) => [r[0], r]));
  // Ranks by |score|: 4.25 (1), 3.25 (2), 2 (3), 1.25 (4), 1 (5), 0.75 (6), 0.5 (7), 1/3 (8), then the
  // 37 edges of |score| 0.25 in construction order (9..45); the null edge has no rank. The first
  // 0.25 edge is input->a0.h1<q> (right after input->a0.h0<q,k,v>); the last is a1.h1->logits, since
  // only m1->logits (4.25) comes after it.
  assert.deepEqual(byName.get('m1->logits'), ['m1->logits', 'm1', 'logits', '', '4.25', 'false', '1']);
  assert.deepEqual(byName.get('input->a0.h0<q>'), ['input->a0.h0<q>', 'input', 'a0.h0', 'q', '3.25', 'true', '2']);
  assert.deepEqual(byName.get('a0.h0->m0'), ['a0.h0->m0', 'a0.h0', 'm0', '', '-2', 'true', '3']);
  assert.deepEqual(byName.get('m0->logits'), ['m0->logits', 'm0', 'logits', '', '1.25', 'true', '4']);
  assert.deepEqual(byName.get('input->a0.h0<k>'), ['input->a0.h0<k>', 'input', 'a0.h0', 'k', '-1', 'true', '5']);
  assert.deepEqual(byName.get('input->a1.h1<v>'), ['input->a1.h1<v>', 'input', 'a1.h1', 'v', '0.75', 'true', '6']);
  assert.deepEqual(byName.get('input->a0.h0<v>'), ['input->a0.h0<v>', 'input', 'a0.h0', 'v', '0.5', 'true', '7']);
  assert.deepEqual(byName.get('input->m0'), ['input->m0', 'input', 'm0', '', '0.3333333333333333', 'false', '8']);
  assert.deepEqual(byName.get('input->a0.h1<q>'), ['input->a0.h1<q>', 'input', 'a0.h1', 'q', '0.25', 'false', '9']);
  assert.deepEqual(byName.get('a1.h1->logits'), ['a1.h1->logits', 'a1.h1', 'logits', '', '-0.25', 'true', '45']);
  assert.deepEqual(byName.get('a0.h1->m0'), ['a0.h1->m0', 'a0.h1', 'm0', '', '', 'false', '']);
  // Full precision: the written score reads back to the same double.
  assert.equal(Number(byName.get('input->m0')![4]), 1 / 3);
  const ranks = rows.slice(1).map((r) => r[6]).filter((r) => r !== '').map(Number).sort((a, b) => a - b);
  assert.deepEqual(ranks, Array.from({ length: 45 }, (_, k) => k + 1), 'ranks are 1..45, each once');
  // Rank <= N picks the same edges as topN(N), ties included (the 0.25 block is cut in the middle).
  for (const n of [3, 12]) {
    const sel = topN(g, data.scores, n);
    assert.deepEqual(
      rows.slice(1).filter((r) => r[6] !== '' && Number(r[6]) <= n).map((r) => r[0]),
      g.edges.filter((_, i) => sel[i]).map((e) => e.name),
      `N=${n}`,
    );
  }
});

test('CSV: the in-graph scope keeps the global ranks', () => {
  const rows = parseCsv(toCsv(g, data, { scope: 'inGraph' }));
  assert.deepEqual(
    rows.slice(1).map((r) => [r[0], r[6]]),
    [
      ['input->a0.h0<q>', '2'],
      ['input->a0.h0<k>', '5'],
      ['input->a0.h0<v>', '7'],
      ['a0.h0->m0', '3'],
      ['input->a1.h1<v>', '6'],
      ['m0->logits', '4'],
      ['a1.h1->logits', '45'],
    ],
  );
});

// ---- DOT ----

interface DotStatement {
  readonly kind: 'node' | 'edge';
  readonly ids: string[];
  readonly attrs: Record<string, string>;
}

const dotQuoted = String.raw`"((?:[^"\\]|\\.)*)"`;
const unescapeDot = (s: string) => s.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));

function parseAttrs(text: string): Record<string, string> {
  const attrs: Record<string, string> = {};
  const re = new RegExp(String.raw`(\w+)=${dotQuoted}(?:, |$)`, 'gy');
  let m: RegExpExecArray | null;
  let end = 0;
  while ((m = re.exec(text))) {
    attrs[m[1]] = unescapeDot(m[2]);
    end = re.lastIndex;
  }
  assert.equal(end, text.length, `every attribute is key="value": ${text}`);
  return attrs;
}

/** The node and edge statements of a DOT file as toDot writes them (one statement per line). */
function dotStatements(dot: string): DotStatement[] {
  const node = new RegExp(String.raw`^  ${dotQuoted} \[(.*)\];$`);
  const edge = new RegExp(String.raw`^  ${dotQuoted} -> ${dotQuoted} \[(.*)\];$`);
  const out: DotStatement[] = [];
  for (const line of dot.split('\n')) {
    let m = edge.exec(line);
    if (m) {
      out.push({ kind: 'edge', ids: [unescapeDot(m[1]), unescapeDot(m[2])], attrs: parseAttrs(m[3]) });
      continue;
    }
    m = node.exec(line);
    if (m) out.push({ kind: 'node', ids: [unescapeDot(m[1])], attrs: parseAttrs(m[2]) });
  }
  return out;
}

test('DOT: exactly the in-graph nodes and edges, one edge per q/k/v input', () => {
  const dot = toDot(g, data);
  assert.ok(dot.startsWith('digraph circuit {\n') && dot.endsWith('}\n'));
  const st = dotStatements(dot);
  assert.deepEqual(
    st.filter((s) => s.kind === 'node').map((s) => s.ids[0]),
    ['input', 'a0.h0', 'm0', 'a1.h1', 'logits'],
  );
  const edges = st.filter((s) => s.kind === 'edge');
  assert.deepEqual(
    edges.map((s) => s.attrs.tooltip),
    inGraphEdges,
  );
  // Three separate input -> a0.h0 edges (pygraphviz's strict graph would draw one).
  assert.equal(edges.filter((s) => s.ids[0] === 'input' && s.ids[1] === 'a0.h0').length, 3);
  // Every other line is structure: the header, the defaults, rank groups, the closing brace.
  const other = dot.split('\n').filter((l) => l !== '' && !/^  "/.test(l));
  assert.deepEqual(other.map((l) => l.trim().split(' ')[0]), ['digraph', 'graph', 'node', '{', '{', '}']);
});

test('DOT: EAP-IG styles, q/k/v and sign colours, and pen widths from min/max over all edges', () => {
  const dot = toDot(g, data);
  assert.match(dot, /^ {2}graph \[.*rankdir="BT".*\];$/m);
  assert.match(dot, /^ {2}graph \[.*layout="dot".*\];$/m);
  const defaults = parseAttrs(/^ {2}node \[(.*)\];$/m.exec(dot)![1]);
  assert.deepEqual(defaults, { shape: 'box', style: 'filled, rounded', color: 'black', fontname: 'Helvetica' });
  const st = dotStatements(dot);
  const fill = Object.fromEntries(st.filter((s) => s.kind === 'node').map((s) => [s.ids[0], s.attrs.fillcolor]));
  // Pastel2: input grey (#cccccc), logits #f1e2cc, heads of layer l colour 2l, MLP of layer l colour 2l+1.
  assert.deepEqual(fill, { input: '#cccccc', 'a0.h0': '#b3e2cd', m0: '#fdcdac', 'a1.h1': '#cbd5e8', logits: '#f1e2cc' });
  const edge = Object.fromEntries(st.filter((s) => s.kind === 'edge').map((s) => [s.attrs.tooltip, s.attrs]));
  // penwidth = max(0.6, 5·(|s| − 0.25)/4):
  //   q 3.25 -> 5·3/4 = 3.75;  k −1 -> 5·0.75/4 = 0.9375;  v 0.5 -> 5·0.25/4 = 0.3125 -> 0.6;
  //   a0.h0->m0 −2 -> 5·1.75/4 = 2.1875;  m0->logits 1.25 -> 5·1/4 = 1.25;
  //   input->a1.h1<v> 0.75 -> 5·0.5/4 = 0.625;  a1.h1->logits −0.25 -> 0 -> 0.6.
  // (With min/max over the drawn edges only, max would be 3.25 and every width would differ.)
  const expected: Record<string, [color: string, penwidth: number]> = {
    'input->a0.h0<q>': ['#FF00FF', 3.75],
    'input->a0.h0<k>': ['#00FF00', 0.9375], // Negative, but the k colour wins.
    'input->a0.h0<v>': ['#0000FF', 0.6],
    'a0.h0->m0': ['#FF0000', 2.1875],
    'm0->logits': ['#000000', 1.25],
    'input->a1.h1<v>': ['#0000FF', 0.625],
    'a1.h1->logits': ['#FF0000', 0.6],
  };
  for (const [name, [color, penwidth]] of Object.entries(expected)) {
    assert.equal(edge[name].color, color, name);
    assert.equal(Number(edge[name].penwidth), penwidth, name);
  }
});

test('DOT: pen width corner cases of the reference', () => {
  // All magnitudes equal: the reference uses |s| itself, so 0.5 -> 2.5 and 0.1 -> 0.5 -> 0.6.
  assert.equal(dotPenWidth(-0.5, 0.5, 0.5), 2.5);
  assert.equal(dotPenWidth(0.1, 0.1, 0.1), 0.6);
  // A null score draws as 0.
  assert.equal(dotPenWidth(NaN, 0, 2), 0.6);
  // An in-graph edge with a null score is drawn thin and black.
  const d = circuit();
  const scores = Float64Array.from(d.scores);
  scores[g.edgeByName('m0->logits')!] = NaN;
  const st = dotStatements(toDot(g, { ...d, scores })).filter((s) => s.kind === 'edge');
  const e = st.find((s) => s.attrs.tooltip === 'm0->logits')!;
  assert.deepEqual([e.attrs.color, e.attrs.penwidth], ['#000000', '0.6']);
});

test('DOT: names and the title are quoted strings, never HTML labels, and escaped', () => {
  const title = 'He said "a0.h0<q>" \\ then\nleft';
  const dot = toDot(g, data, { title });
  // Edge names with '<' and '>' sit inside double quotes; an HTML-like label would start with '=<'.
  assert.ok(!dot.includes('=<'));
  assert.ok(dot.includes('tooltip="input->a0.h0<q>"'));
  const graphLine = /^ {2}graph \[(.*)\];$/m.exec(dot)![1];
  assert.ok(graphLine.includes(String.raw`label="He said \"a0.h0<q>\" \\ then\nleft"`));
  assert.equal(parseAttrs(graphLine).label, title);
  assert.equal(dot.split('\n').length, toDot(g, data).split('\n').length, 'the title adds no line');
  // Quotes balance on every line (escaped quotes aside).
  for (const line of dot.split('\n')) assert.equal(line.replace(/\\./g, '').split('"').length % 2, 1, line);
});

test('DOT: rank groups put the heads of a layer together', () => {
  const sel = new Uint8Array(g.edges.length);
  for (const n of ['input->a0.h0<q>', 'input->a0.h1<k>', 'a0.h0->logits', 'a0.h1->logits']) sel[g.edgeByName(n)!] = 1;
  const { edgeIn, nodeIn } = pruneDeadNodes(g, sel);
  const dot = toDot(g, { ...data, edgeIn, nodeIn });
  assert.ok(dot.includes('{ rank=same; "a0.h0"; "a0.h1"; }'));
  assert.ok(dot.includes('{ rank=min; "input"; }'));
  assert.ok(dot.includes('{ rank=max; "logits"; }'));
  assert.ok(!toDot(g, { ...data, edgeIn, nodeIn }, { layerRanks: false }).includes('rank='));
});

// ---- GraphML ----

interface XmlElement {
  readonly name: string;
  readonly attrs: Record<string, string>;
  readonly children: XmlElement[];
  text: string;
}

const entities: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
function decodeXml(s: string): string {
  return s.replace(/&(#\d+|\w+);/g, (_, e: string) => (e.startsWith('#') ? String.fromCharCode(Number(e.slice(1))) : entities[e]));
}

/**
 * A small XML reader for what toGraphML writes: a declaration, then elements with double-quoted
 * attributes and text. It fails on unbalanced tags, a '<' or '&' that does not start a tag or a
 * known entity, a raw '<' or '>' in an attribute, and a duplicate attribute.
 */
function parseXml(text: string): XmlElement {
  const decl = /^<\?xml version="1\.0" encoding="UTF-8"\?>\n/.exec(text);
  assert.ok(decl, 'XML declaration');
  const root: XmlElement = { name: '#document', attrs: {}, children: [], text: '' };
  const stack: XmlElement[] = [root];
  const tag = /<(\/?)([A-Za-z_][\w.:-]*)((?:\s+[\w.:-]+="[^"<>]*")*)\s*(\/?)>/y;
  let i = decl[0].length;
  while (i < text.length) {
    const lt = text.indexOf('<', i);
    const chunk = text.slice(i, lt < 0 ? text.length : lt);
    assert.ok(!chunk.includes('>'), `a raw '>' in text: ${chunk}`);
    for (const amp of chunk.matchAll(/&/g)) assert.match(chunk.slice(amp.index), /^&(amp|lt|gt|quot|apos|#\d+);/);
    stack.at(-1)!.text += decodeXml(chunk);
    if (lt < 0) break;
    tag.lastIndex = lt;
    const m = tag.exec(text);
    assert.ok(m, `a malformed tag at ${lt}: ${text.slice(lt, lt + 60)}`);
    const [, close, name, attrText, selfClose] = m;
    if (close) {
      assert.equal(stack.pop()!.name, name, `</${name}> closes another element`);
    } else {
      const attrs: Record<string, string> = {};
      for (const a of attrText.matchAll(/([\w.:-]+)="([^"]*)"/g)) {
        assert.ok(!(a[1] in attrs), `duplicate attribute ${a[1]}`);
        for (const amp of a[2].matchAll(/&/g)) assert.match(a[2].slice(amp.index), /^&(amp|lt|gt|quot|apos|#\d+);/);
        attrs[a[1]] = decodeXml(a[2]);
      }
      const el: XmlElement = { name, attrs, children: [], text: '' };
      stack.at(-1)!.children.push(el);
      if (!selfClose) stack.push(el);
    }
    i = tag.lastIndex;
  }
  assert.equal(stack.length, 1, `unclosed <${stack.at(-1)!.name}>`);
  assert.equal(root.children.length, 1, 'one root element');
  assert.equal(root.text.trim(), '');
  return root.children[0];
}

/** Checks the GraphML structure and returns nodes and edges with their data by key name. */
function readGraphML(xml: string) {
  const root = parseXml(xml);
  assert.equal(root.name, 'graphml');
  assert.equal(root.attrs.xmlns, 'http://graphml.graphdrawing.org/xmlns');
  const keys = new Map<string, { for: string; name: string; type: string }>();
  for (const k of root.children.filter((c) => c.name === 'key')) {
    assert.ok(!keys.has(k.attrs.id), `duplicate key ${k.attrs.id}`);
    keys.set(k.attrs.id, { for: k.attrs.for, name: k.attrs['attr.name'], type: k.attrs['attr.type'] });
  }
  // GraphML order: all keys, then the graph.
  assert.deepEqual(root.children.map((c) => c.name), [...Array(keys.size).fill('key'), 'graph']);
  const graph = root.children.at(-1)!;
  assert.equal(graph.attrs.edgedefault, 'directed');
  const dataOf = (el: XmlElement, what: string) => {
    const out: Record<string, string> = {};
    for (const d of el.children.filter((c) => c.name === 'data')) {
      const k = keys.get(d.attrs.key);
      assert.ok(k && k.for === what, `data key ${d.attrs.key} is declared for ${what}`);
      assert.ok(!(k.name in out), `one ${k.name} per ${what}`);
      if (k.type === 'int') assert.match(d.text, /^-?\d+$/);
      if (k.type === 'boolean') assert.match(d.text, /^(true|false)$/);
      if (k.type === 'double') assert.ok(!Number.isNaN(Number(d.text)), d.text);
      out[k.name] = d.text;
    }
    return out;
  };
  const nodes = graph.children.filter((c) => c.name === 'node').map((n) => ({ id: n.attrs.id, data: dataOf(n, 'node') }));
  const edges = graph.children
    .filter((c) => c.name === 'edge')
    .map((e) => ({ id: e.attrs.id, source: e.attrs.source, target: e.attrs.target, data: dataOf(e, 'edge') }));
  assert.deepEqual(
    graph.children.map((c) => c.name),
    [...Array(graph.children.length - nodes.length - edges.length).fill('data'), ...Array(nodes.length).fill('node'), ...Array(edges.length).fill('edge')],
  );
  const ids = new Set(nodes.map((n) => n.id));
  assert.equal(ids.size, nodes.length, 'node ids are unique');
  for (const id of ids) assert.match(id, /^[\w.:-]+$/, 'node ids are NMTOKENs');
  for (const e of edges) {
    assert.ok(ids.has(e.source) && ids.has(e.target), `edge ${e.id} joins declared nodes`);
    assert.match(e.id, /^[\w.:-]+$/, 'edge ids are NMTOKENs');
  }
  assert.equal(new Set(edges.map((e) => e.id)).size, edges.length, 'edge ids are unique');
  return { graphData: dataOf(graph, 'graph'), nodes, edges };
}

test('GraphML: well-formed, in-graph nodes and edges by default, names escaped', () => {
  const xml = toGraphML(g, data);
  const { graphData, nodes, edges } = readGraphML(xml);
  assert.deepEqual(graphData, { n_layers: '2', n_heads: '2', parallel_attn_mlp: 'false' });
  assert.deepEqual(
    nodes.map((n) => [n.id, n.data.kind, n.data.layer, n.data.head, n.data.in_graph]),
    [
      ['input', 'input', '0', undefined, 'true'],
      ['a0.h0', 'attn', '0', '0', 'true'],
      ['m0', 'mlp', '0', undefined, 'true'],
      ['a1.h1', 'attn', '1', '1', 'true'],
      ['logits', 'logits', '1', undefined, 'true'],
    ],
  );
  assert.equal((xml.match(/<node /g) ?? []).length, 5);
  assert.equal((xml.match(/<edge /g) ?? []).length, 7);
  assert.deepEqual(
    edges.map((e) => e.data.name),
    inGraphEdges,
  );
  const q = edges[0];
  assert.deepEqual(q, {
    id: `e${g.edgeByName('input->a0.h0<q>')}`,
    source: 'input',
    target: 'a0.h0',
    data: { name: 'input->a0.h0<q>', score: '3.25', qkv: 'q', in_graph: 'true' },
  });
  assert.deepEqual(edges[3].data, { name: 'a0.h0->m0', score: '-2', in_graph: 'true' });
  // The raw file never holds an edge name unescaped.
  assert.ok(!xml.includes('<q>') && xml.includes('input-&gt;a0.h0&lt;q&gt;'));
});

test('GraphML: the full graph, with null scores left out', () => {
  const { nodes, edges } = readGraphML(toGraphML(g, data, { scope: 'all' }));
  assert.equal(nodes.length, 8);
  assert.equal(edges.length, 46);
  assert.deepEqual(nodes.find((n) => n.id === 'a0.h1')!.data, { kind: 'attn', layer: '0', head: '1', in_graph: 'false' });
  const nullEdge = edges.find((e) => e.data.name === 'a0.h1->m0')!;
  assert.deepEqual(nullEdge.data, { name: 'a0.h1->m0', in_graph: 'false' });
  assert.equal(edges.find((e) => e.data.name === 'input->m0')!.data.score, '0.3333333333333333');
  assert.deepEqual(
    edges.map((e) => e.id),
    g.edges.map((_, i) => `e${i}`),
  );
});

test('GraphML: node scores get their own key when the circuit has them', () => {
  const nodeScores = new Map([
    ['a0.h0', 0.5],
    ['m0', -1.5],
  ]);
  const { nodes } = readGraphML(toGraphML(g, { ...data, nodeScores }));
  assert.equal(nodes.find((n) => n.id === 'm0')!.data.score, '-1.5');
  assert.equal(nodes.find((n) => n.id === 'input')!.data.score, undefined);
  // Without node scores there is no node score key at all.
  assert.equal((toGraphML(g, { ...data, nodeScores }).match(/for="node" attr.name="score"/g) ?? []).length, 1);
  assert.equal((toGraphML(g, data).match(/for="node" attr.name="score"/g) ?? []).length, 0);
});

// ---- drift ----

const drift: DriftData = {
  layers: [0, 1],
  edgeActivationA: [0.5, 0.25],
  edgeActivationB: [0.75, 0.125],
  scoreMassA: [1.5, 0],
  scoreMassB: [1, 0.5],
  nodeJaccard: 0.6,
  edgeJaccard: 1 / 3,
  pearson: 0.912345678,
  kendallTauB: NaN,
  faithfulnessDelta: 0.0123456,
  addedCount: 3,
  removedCount: 2,
  signFlippedCount: 1,
};

test('drift CSV: per-layer rows with B − A, labels quoted per RFC 4180', () => {
  const labels = { a: 'step 1,000 "early"', b: 'final\nrun' };
  const text = driftCsv(drift, labels);
  assert.ok(text.includes('"step 1,000 ""early"""'), 'comma and quotes force quoting, quotes doubled');
  const rows = parseCsv(text);
  assert.deepEqual(rows, [
    ['layer', 'edge_activation_a', 'edge_activation_b', 'edge_activation_delta', 'score_mass_a', 'score_mass_b', 'score_mass_delta', 'label_a', 'label_b'],
    // 0.75 − 0.5 = 0.25; 1 − 1.5 = −0.5; 0.125 − 0.25 = −0.125; 0.5 − 0 = 0.5.
    ['0', '0.5', '0.75', '0.25', '1.5', '1', '-0.5', labels.a, labels.b],
    ['1', '0.25', '0.125', '-0.125', '0', '0.5', '0.5', labels.a, labels.b],
  ]);
  assert.throws(() => driftCsv({ ...drift, scoreMassB: [1] }, labels), /scoreMassB has 1 entries but there are 2 layers/);
});

/** The cells of a Markdown table row, honouring escaped pipes. */
function mdCells(line: string): string[] {
  assert.ok(line.startsWith('| ') && line.endsWith(' |'), line);
  return line
    .slice(2, -2)
    .split(/(?<!\\) \| /)
    .map((c) => c.replace(/\\([\\|])/g, '$1'));
}

test('drift Markdown: summary and per-layer tables', () => {
  const md = driftMarkdown(drift, { a: 'ckpt|A', b: 'step 2000' });
  const lines = md.split('\n');
  const rowOf = (first: string) => mdCells(lines.find((l) => l.startsWith(`| ${first} |`))!);
  assert.deepEqual(rowOf('A'), ['A', 'ckpt|A']);
  assert.ok(md.includes('| A | ckpt\\|A |'), 'a pipe in a label is escaped');
  assert.deepEqual(rowOf('Node Jaccard'), ['Node Jaccard', '0.6']);
  assert.deepEqual(rowOf('Edge Jaccard'), ['Edge Jaccard', '0.3333']);
  assert.deepEqual(rowOf('Pearson r (edge scores)'), ['Pearson r (edge scores)', '0.9123']);
  assert.deepEqual(rowOf('Kendall τ-b (edge scores)'), ['Kendall τ-b (edge scores)', 'n/a']);
  assert.deepEqual(rowOf('Δ faithfulness (B − A)'), ['Δ faithfulness (B − A)', '+0.01235']);
  assert.deepEqual(rowOf('Edges added (in B, not A)'), ['Edges added (in B, not A)', '3']);
  assert.deepEqual(rowOf('Edges removed (in A, not B)'), ['Edges removed (in A, not B)', '2']);
  assert.deepEqual(rowOf('Edges with flipped sign'), ['Edges with flipped sign', '1']);
  assert.deepEqual(rowOf('0'), ['0', '0.5', '0.75', '+0.25', '1.5', '1', '-0.5']);
  assert.deepEqual(rowOf('1'), ['1', '0.25', '0.125', '-0.125', '0', '0.5', '+0.5']);
  // Every table row has as many cells as its header.
  let width = 0;
  for (const line of lines) {
    if (!line.startsWith('|')) {
      width = 0;
      continue;
    }
    const n = line.startsWith('|---') || line.startsWith('|--:') ? line.split('|').length - 2 : mdCells(line).length;
    if (width === 0) width = n;
    assert.equal(n, width, line);
  }
});

test('drift Markdown: NaN statistics and a missing Δ faithfulness read n/a, also after JSON', () => {
  const sent = JSON.parse(JSON.stringify({ ...drift, pearson: NaN, faithfulnessDelta: undefined })) as DriftData;
  assert.equal(sent.pearson, null);
  const md = driftMarkdown(sent, { a: 'a', b: 'b' });
  assert.ok(md.includes('| Pearson r (edge scores) | n/a |'));
  assert.ok(md.includes('| Δ faithfulness (B − A) | n/a |'));
});

// ---- file names ----

test('default export names are safe file names with the kind’s extension', () => {
  const cases: [string, ExportKind, string][] = [
    ['gpt2-small step 1000', 'json', 'gpt2-small-step-1000.json'],
    ['ckpts/run:7', 'dot', 'ckpts-run-7.dot'],
    ['C:\\models\\tiny', 'graphml', 'C-models-tiny.graphml'],
    ['results.csv', 'csv', 'results.csv'],
    ['results.CSV', 'csv', 'results.csv'],
    ['step-100 vs step-200', 'drift.md', 'step-100-vs-step-200.drift.md'],
    ['a<b>|c?*"d"', 'drift.csv', 'a-b-c-d.drift.csv'],
    ['', 'png', 'circuit.png'],
    ['...', 'svg', 'circuit.svg'],
    ['.hidden', 'json', 'hidden.json'],
    ['CON', 'csv', 'CON_.csv'],
    ['con.data', 'csv', 'con_.data.csv'],
    ['console', 'csv', 'console.csv'],
    ['Überprüfung 名前', 'graphml', 'Überprüfung-名前.graphml'],
  ];
  for (const [base, kind, expected] of cases) assert.equal(defaultExportName(base, kind), expected, base);
  const long = defaultExportName('x'.repeat(300), 'json');
  assert.equal(long, 'x'.repeat(100) + '.json');
  for (const [base] of cases) {
    assert.doesNotMatch(defaultExportName(base + '\u0001\t/', 'csv'), /[<>:"/\\|?*\u0000-\u001f]/);
  }
});
