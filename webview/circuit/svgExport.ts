/**
 * A minimal SVG serializer of what a Cytoscape instance shows now: edges as lines, nodes as boxes with
 * their labels, in the colours and widths on screen, plus a title. cytoscape-svg is not a dependency,
 * and this graph only uses straight edges and (round) rectangles, so a few dozen lines cover it.
 */
import type { Core } from 'cytoscape';

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
  readonly background: string;
  readonly foreground: string;
  readonly fontFamily: string;
}

export function exportSvg(cy: Core, o: SvgExportOptions): string {
  const visible = cy.elements(':visible');
  const bb = visible.boundingBox({ includeLabels: true, includeOverlays: false });
  const pad = 24;
  const titleH = 28;
  const x0 = bb.x1 - pad;
  const y0 = bb.y1 - pad - titleH;
  const w = bb.w + 2 * pad;
  const h = bb.h + 2 * pad + titleH;
  const font = escapeXml(o.fontFamily);
  const out: string[] = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="${num(x0)} ${num(y0)} ${num(w)} ${num(h)}" width="${num(w)}" height="${num(h)}" font-family="${font}">`,
    `<title>${escapeXml(o.title)}</title>`,
    `<rect x="${num(x0)}" y="${num(y0)}" width="${num(w)}" height="${num(h)}" fill="${colour(o.background, '#ffffff')}"/>`,
    `<text x="${num(x0 + pad)}" y="${num(y0 + pad + 8)}" font-size="14" font-weight="bold" fill="${colour(o.foreground, '#000000')}">${escapeXml(o.title)}</text>`,
    `<g fill="none" stroke-linecap="round">`,
  ];
  // Edges first, weakest first, so strong edges are drawn on top as on screen.
  const edges = cy.edges(':visible').sort((a, b) => Number(a.data('z') ?? 0) - Number(b.data('z') ?? 0));
  edges.forEach((e) => {
    const s = e.sourceEndpoint();
    const t = e.targetEndpoint();
    const dash = e.style('line-style') === 'dashed' ? ' stroke-dasharray="6 4"' : e.style('line-style') === 'dotted' ? ' stroke-dasharray="1 3"' : '';
    const op = e.effectiveOpacity();
    const outline = Number.parseFloat(e.style('line-outline-width')) || 0;
    const width = e.numericStyle('width');
    if (outline > 0) {
      out.push(
        `<line x1="${num(s.x)}" y1="${num(s.y)}" x2="${num(t.x)}" y2="${num(t.y)}" stroke="${colour(e.style('line-outline-color'), o.foreground)}" stroke-width="${num(width + 2 * outline)}" stroke-opacity="${num(op)}"/>`,
      );
    }
    out.push(
      `<line x1="${num(s.x)}" y1="${num(s.y)}" x2="${num(t.x)}" y2="${num(t.y)}" stroke="${colour(e.style('line-color'), o.foreground)}" stroke-width="${num(width)}" stroke-opacity="${num(op)}"${dash}><title>${escapeXml(String(e.data('name') ?? e.id()))}</title></line>`,
    );
  });
  out.push(`</g>`, `<g text-anchor="middle" dominant-baseline="central">`);
  cy.nodes(':visible').forEach((n) => {
    const p = n.position();
    const nw = n.width();
    const nh = n.height();
    const bw = n.numericStyle('border-width');
    const shape = n.style('shape');
    const rx = shape === 'round-rectangle' ? Math.min(6, nh / 4) : 0;
    const dash = n.style('border-style') === 'dashed' ? ' stroke-dasharray="4 3"' : '';
    const op = n.effectiveOpacity();
    out.push(
      `<g opacity="${num(op)}"><rect x="${num(p.x - nw / 2)}" y="${num(p.y - nh / 2)}" width="${num(nw)}" height="${num(nh)}" rx="${num(rx)}" fill="${colour(n.style('background-color'), o.background)}" stroke="${colour(n.style('border-color'), o.foreground)}" stroke-width="${num(bw)}"${dash}/>`,
      `<text x="${num(p.x)}" y="${num(p.y)}" font-size="${num(n.numericStyle('font-size'))}" fill="${colour(n.style('color'), o.foreground)}">${escapeXml(String(n.data('label') ?? n.id()))}</text></g>`,
    );
  });
  out.push(`</g>`, `</svg>`);
  return out.join('\n');
}
