/**
 * A minimal SVG serializer of a Cytoscape instance (the whole graph, not the viewport): edges as
 * lines with arrowheads, nodes as boxes with their labels, in the colours and widths on screen, plus
 * a title and a legend. cytoscape-svg is not a dependency,
 * and this graph only uses straight edges and (round) rectangles, so a few dozen lines cover it.
 */
import type { Core, NodeSingular } from 'cytoscape';
import type { Theme } from './theme';

/** Escapes text for SVG element content and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

const num = (x: number) => (Math.round(x * 100) / 100).toString();

/** Cytoscape reports colours as 'rgb(r,g,b)'; SVG takes them as they are. */
function colour(c: string | undefined, fallback: string): string {
  return escapeXml(c && c !== 'none' ? c : fallback);
}

export interface SvgExportOptions {
  readonly title: string;
  /** Lines under the title: provenance and the N shown. */
  readonly subtitle?: readonly string[];
  readonly background: string;
  readonly foreground: string;
  readonly fontFamily: string;
  /** Colours of the legend. */
  readonly theme: Theme;
  readonly roles?: boolean;
  readonly compare?: boolean;
}

/** One row of the legend: a line swatch (edges) or a box (nodes) and its text. */
type LegendRow = { readonly kind: 'line' | 'box' | 'dash'; readonly colour: string; readonly text: string; readonly fill?: string };

function legendRows(o: SvgExportOptions): { head: string; rows: LegendRow[] }[] {
  const t = o.theme;
  const out: { head: string; rows: LegendRow[] }[] = [
    {
      head: 'Edges (width ∝ |score|)',
      rows: [
        { kind: 'line', colour: t.edge.q, text: 'q (query)' },
        { kind: 'line', colour: t.edge.k, text: 'k (key)' },
        { kind: 'line', colour: t.edge.v, text: 'v (value)' },
        { kind: 'line', colour: t.edge.pos, text: 'other, positive' },
        { kind: 'line', colour: t.edge.neg, text: 'other, negative' },
      ],
    },
  ];
  if (o.roles) {
    out.push({
      head: 'Heads',
      rows: [
        { kind: 'box', colour: t.nodeBorder, fill: t.role.mover, text: 'mover' },
        { kind: 'box', colour: t.nodeBorder, fill: t.role.relation, text: 'relation' },
        { kind: 'box', colour: t.nodeBorder, fill: t.role.mixture, text: 'mixture' },
        { kind: 'box', colour: t.dim, fill: t.background, text: 'not in circuit' },
      ],
    });
  }
  if (o.compare) {
    out.push({
      head: 'Compare',
      rows: [
        { kind: 'dash', colour: t.foreground, text: 'removed (A only)' },
        { kind: 'line', colour: t.diff.added, text: 'added (B only)' },
        { kind: 'line', colour: t.diff.flipped, text: 'sign flipped' },
      ],
    });
  }
  return out;
}

/**
 * The whole graph as SVG, whatever the viewport shows: every visible element, a title with the
 * provenance and N, arrowheads in each edge's colour, and the legend on the right. Longer than 80
 * lines: it writes the document top to bottom (defs, title, edges, nodes, legend) in drawing order.
 */
export function exportSvg(cy: Core, o: SvgExportOptions): string {
  const visible = cy.elements(':visible');
  const bb = visible.boundingBox({ includeLabels: true, includeOverlays: false });
  const pad = 24;
  const sub = o.subtitle ?? [];
  const titleH = 26 + 16 * sub.length;
  const legend = legendRows(o);
  const legendW = 170;
  const legendH = legend.reduce((s, g) => s + 20 + 16 * g.rows.length, 0);
  const x0 = bb.x1 - pad;
  const y0 = bb.y1 - pad - titleH;
  const w = bb.w + 3 * pad + legendW;
  const h = Math.max(bb.h + 2 * pad + titleH, titleH + legendH + 2 * pad);
  const font = escapeXml(o.fontFamily);
  const fg = colour(o.foreground, '#000000');
  const out: string[] = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="${num(x0)} ${num(y0)} ${num(w)} ${num(h)}" width="${num(w)}" height="${num(h)}" font-family="${font}">`,
    `<title>${escapeXml(o.title)}</title>`,
  ];
  // One arrowhead marker per edge colour, filled in that colour (SVG 1.1 has no context-stroke).
  const markers = new Map<string, string>();
  const marker = (c: string): string => {
    let id = markers.get(c);
    if (!id) {
      id = `arrow${markers.size}`;
      markers.set(c, id);
    }
    return id;
  };
  const body: string[] = [];
  body.push(`<rect x="${num(x0)}" y="${num(y0)}" width="${num(w)}" height="${num(h)}" fill="${colour(o.background, '#ffffff')}"/>`);
  body.push(`<text x="${num(x0 + pad)}" y="${num(y0 + pad + 6)}" font-size="15" font-weight="bold" fill="${fg}">${escapeXml(o.title)}</text>`);
  sub.forEach((line, i) => body.push(`<text x="${num(x0 + pad)}" y="${num(y0 + pad + 24 + 16 * i)}" font-size="12" fill="${fg}">${escapeXml(line)}</text>`));
  body.push(`<g fill="none" stroke-linecap="round">`);
  // Edges first, weakest first, so strong edges are drawn on top as on screen.
  const edges = cy.edges(':visible').sort((a, b) => Number(a.data('z') ?? 0) - Number(b.data('z') ?? 0));
  edges.forEach((e) => {
    let s = e.sourceEndpoint();
    let t = e.targetEndpoint();
    // A large circuit's haystack edges run between node centres (the nodes cover their ends on
    // screen); the export ends them at the node borders, where the arrowheads show.
    if (e.style('curve-style') === 'haystack') {
      [s, t] = [atBorder(t, e.source()), atBorder(s, e.target())];
    }
    const dash = e.style('line-style') === 'dashed' ? ' stroke-dasharray="6 4"' : e.style('line-style') === 'dotted' ? ' stroke-dasharray="1 3"' : '';
    const op = e.effectiveOpacity();
    const outline = Number.parseFloat(e.style('line-outline-width')) || 0;
    const width = e.numericStyle('width');
    const stroke = colour(e.style('line-color'), o.foreground);
    if (outline > 0) {
      body.push(
        `<line x1="${num(s.x)}" y1="${num(s.y)}" x2="${num(t.x)}" y2="${num(t.y)}" stroke="${colour(e.style('line-outline-color'), o.foreground)}" stroke-width="${num(width + 2 * outline)}" stroke-opacity="${num(op)}"/>`,
      );
    }
    body.push(
      `<line x1="${num(s.x)}" y1="${num(s.y)}" x2="${num(t.x)}" y2="${num(t.y)}" stroke="${stroke}" stroke-width="${num(width)}" stroke-opacity="${num(op)}"${dash} marker-end="url(#${marker(stroke)})"><title>${escapeXml(String(e.data('name') ?? e.id()))}</title></line>`,
    );
  });
  body.push(`</g>`, `<g text-anchor="middle" dominant-baseline="central">`);
  cy.nodes(':visible').forEach((n) => {
    const p = n.position();
    const nw = n.width();
    const nh = n.height();
    const bw = n.numericStyle('border-width');
    const shape = n.style('shape');
    const rx = shape === 'round-rectangle' ? Math.min(6, nh / 4) : 0;
    const dash = n.style('border-style') === 'dashed' ? ' stroke-dasharray="4 3"' : '';
    const op = n.effectiveOpacity();
    body.push(
      `<g opacity="${num(op)}"><rect x="${num(p.x - nw / 2)}" y="${num(p.y - nh / 2)}" width="${num(nw)}" height="${num(nh)}" rx="${num(rx)}" fill="${colour(n.style('background-color'), o.background)}" stroke="${colour(n.style('border-color'), o.foreground)}" stroke-width="${num(bw)}"${dash}/>`,
      `<text x="${num(p.x)}" y="${num(p.y)}" font-size="${num(n.numericStyle('font-size'))}" fill="${colour(n.style('color'), o.foreground)}">${escapeXml(String(n.data('label') ?? n.id()))}</text></g>`,
    );
  });
  body.push(`</g>`);
  // The legend, right of the graph.
  let ly = y0 + titleH + pad;
  const lx = bb.x2 + 2 * pad;
  body.push(`<g font-size="12" fill="${fg}">`);
  for (const g of legend) {
    body.push(`<text x="${num(lx)}" y="${num(ly)}" font-weight="bold">${escapeXml(g.head)}</text>`);
    ly += 16;
    for (const r of g.rows) {
      const c = colour(r.colour, o.foreground);
      if (r.kind === 'box') body.push(`<rect x="${num(lx)}" y="${num(ly - 9)}" width="20" height="11" rx="2" fill="${colour(r.fill, o.background)}" stroke="${c}"/>`);
      else body.push(`<line x1="${num(lx)}" y1="${num(ly - 4)}" x2="${num(lx + 20)}" y2="${num(ly - 4)}" stroke="${c}" stroke-width="3"${r.kind === 'dash' ? ' stroke-dasharray="4 3"' : ''}/>`);
      body.push(`<text x="${num(lx + 28)}" y="${num(ly)}">${escapeXml(r.text)}</text>`);
      ly += 16;
    }
    ly += 4;
  }
  body.push(`</g>`);
  const defs = [...markers].map(
    ([c, id]) => `<marker id="${id}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="${c}"/></marker>`,
  );
  out.push(`<defs>${defs.join('')}</defs>`, ...body, `</svg>`);
  return out.join('\n');
}

/**
 * Rasterizes exported SVG text to a PNG data URL: the same whole graph, title, legend and arrowheads
 * as the SVG export. The image loads from a data: URL, which the webview's CSP allows for images.
 */
export function svgToPng(svgText: string, scale = 2, maxSide = 8192): Promise<string> {
  return new Promise((resolve, reject) => {
    const m = /viewBox="[-\d.]+ [-\d.]+ ([\d.]+) ([\d.]+)"/.exec(svgText);
    const w = m ? Number(m[1]) : 800;
    const h = m ? Number(m[2]) : 600;
    const k = Math.min(scale, maxSide / w, maxSide / h);
    const img = new Image();
    img.onload = () => {
      const canvas = document.createElement('canvas');
      canvas.width = Math.max(1, Math.round(w * k));
      canvas.height = Math.max(1, Math.round(h * k));
      const ctx = canvas.getContext('2d');
      if (!ctx) return reject(new Error('no 2D canvas for the PNG export'));
      ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
      resolve(canvas.toDataURL('image/png'));
    };
    img.onerror = () => reject(new Error('the SVG of the view could not be rasterized'));
    const bytes = new TextEncoder().encode(svgText);
    let bin = '';
    for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    img.src = `data:image/svg+xml;base64,${btoa(bin)}`;
  });
}

/** Where the segment from `from` to the centre of `node` enters the node's box. */
function atBorder(from: { x: number; y: number }, node: NodeSingular): { x: number; y: number } {
  const c = node.position();
  const dx = c.x - from.x;
  const dy = c.y - from.y;
  const t = Math.min(1, dx !== 0 ? node.width() / 2 / Math.abs(dx) : Infinity, dy !== 0 ? node.height() / 2 / Math.abs(dy) : Infinity);
  return { x: c.x - t * dx, y: c.y - t * dy };
}
