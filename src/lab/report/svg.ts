/**
 * Small, dependency-free SVG charts for reports: line charts and heatmaps. Text is escaped; colours
 * are fixed so reports read the same in any viewer.
 */

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const fmt = (x: number) => (Math.abs(x) >= 100 || Number.isInteger(x) ? String(Math.round(x)) : x.toPrecision(3));

export interface Series {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
}

const palette = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2'];

/** A line chart with axes, ticks, a legend and optional vertical markers. */
export function lineChart(opts: {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  logX?: boolean;
  yRange?: [number, number];
  markers?: readonly { x: number; label: string }[];
  width?: number;
  height?: number;
}): string {
  const W = opts.width ?? 640;
  const H = opts.height ?? 360;
  const m = { l: 60, r: 150, t: 36, b: 48 };
  const all = opts.series.flatMap((s) => s.points);
  const tx = (x: number) => (opts.logX ? Math.log10(Math.max(x, 1e-12)) : x);
  const xs = all.map((p) => tx(p[0]));
  const ys = all.map((p) => p[1]).filter(Number.isFinite);
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = opts.yRange ?? [Math.min(...ys), Math.max(...ys)];
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
  const px = (x: number) => m.l + ((tx(x) - x0) / (x1 - x0)) * (W - m.l - m.r);
  const py = (y: number) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="${m.l}" y="20" font-size="14" font-weight="bold">${esc(opts.title)}</text>`,
    `<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="#333"/>`,
    `<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="#333"/>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const yv = y0 + ((y1 - y0) * i) / 4;
    out.push(`<line x1="${m.l - 4}" y1="${py(yv)}" x2="${W - m.r}" y2="${py(yv)}" stroke="#ddd"/>`);
    out.push(`<text x="${m.l - 6}" y="${py(yv) + 4}" text-anchor="end">${fmt(yv)}</text>`);
    const xv = x0 + ((x1 - x0) * i) / 4;
    const label = opts.logX ? fmt(10 ** xv) : fmt(xv);
    const xp = m.l + ((xv - x0) / (x1 - x0)) * (W - m.l - m.r);
    out.push(`<text x="${xp}" y="${H - m.b + 16}" text-anchor="middle">${label}</text>`);
  }
  out.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 10}" text-anchor="middle">${esc(opts.xLabel)}</text>`);
  out.push(`<text transform="translate(14 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">${esc(opts.yLabel)}</text>`);
  for (const mk of opts.markers ?? []) {
    out.push(`<line x1="${px(mk.x)}" y1="${m.t}" x2="${px(mk.x)}" y2="${H - m.b}" stroke="#888" stroke-dasharray="4 3"/>`);
    out.push(`<text x="${px(mk.x) + 4}" y="${m.t + 12}" fill="#555">${esc(mk.label)}</text>`);
  }
  opts.series.forEach((s, i) => {
    const c = palette[i % palette.length];
    const pts = s.points.filter((p) => Number.isFinite(p[1]));
    out.push(`<polyline fill="none" stroke="${c}" stroke-width="2" points="${pts.map((p) => `${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join(' ')}"/>`);
    for (const p of pts) out.push(`<circle cx="${px(p[0]).toFixed(1)}" cy="${py(p[1]).toFixed(1)}" r="2.5" fill="${c}"/>`);
    out.push(`<rect x="${W - m.r + 12}" y="${m.t + i * 18}" width="12" height="3" fill="${c}"/>`);
    out.push(`<text x="${W - m.r + 30}" y="${m.t + i * 18 + 5}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** A heatmap of rows × columns with a blue (low) to red (high) scale and a value legend. */
export function heatmap(opts: { title: string; rowLabels: readonly string[]; colLabels: readonly string[]; values: readonly (readonly number[])[]; xLabel: string; yLabel: string }): string {
  const cell = 28;
  const m = { l: 70, t: 40, b: 50, r: 90 };
  const W = m.l + m.r + cell * opts.colLabels.length;
  const H = m.t + m.b + cell * opts.rowLabels.length;
  const flat = opts.values.flat().filter(Number.isFinite);
  const lo = Math.min(...flat);
  const hi = Math.max(...flat);
  const colour = (v: number) => {
    if (!Number.isFinite(v)) return '#eeeeee';
    const t = hi === lo ? 0.5 : (v - lo) / (hi - lo);
    const r = Math.round(255 * t);
    const b = Math.round(255 * (1 - t));
    return `rgb(${r},${Math.round(90 + 60 * (1 - Math.abs(2 * t - 1)))},${b})`;
  };
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="${m.l}" y="20" font-size="14" font-weight="bold">${esc(opts.title)}</text>`,
  ];
  opts.values.forEach((row, i) =>
    row.forEach((v, j) => {
      out.push(`<rect x="${m.l + j * cell}" y="${m.t + i * cell}" width="${cell}" height="${cell}" fill="${colour(v)}"><title>${esc(`${opts.rowLabels[i]}, ${opts.colLabels[j]}: ${fmt(v)}`)}</title></rect>`);
    }),
  );
  opts.rowLabels.forEach((l, i) => out.push(`<text x="${m.l - 6}" y="${m.t + i * cell + cell / 2 + 4}" text-anchor="end">${esc(l)}</text>`));
  opts.colLabels.forEach((l, j) => out.push(`<text x="${m.l + j * cell + cell / 2}" y="${H - m.b + 14}" text-anchor="middle">${esc(l)}</text>`));
  out.push(`<text x="${m.l + (cell * opts.colLabels.length) / 2}" y="${H - 12}" text-anchor="middle">${esc(opts.xLabel)}</text>`);
  out.push(`<text transform="translate(14 ${m.t + (cell * opts.rowLabels.length) / 2}) rotate(-90)" text-anchor="middle">${esc(opts.yLabel)}</text>`);
  out.push(`<text x="${W - m.r + 8}" y="${m.t + 10}">high ${fmt(hi)}</text>`, `<text x="${W - m.r + 8}" y="${m.t + 26}">low ${fmt(lo)}</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}
