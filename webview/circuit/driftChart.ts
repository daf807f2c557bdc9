/**
 * The per-layer drift chart of the compare view: A and B side by side per layer, their difference
 * B − A in a strip below, drawn in SVG with colours from CSS classes (so a theme switch restyles it).
 */
import type { DriftData } from '../../src/shared/webviewProtocol';
import { svg } from './dom';
import { formatFixed } from './format';
import { shares } from './viewModel';

export type DriftMetric = 'edgeActivation' | 'scoreMass';

export const driftMetricLabel: Record<DriftMetric, string> = {
  edgeActivation: 'Edge activation (share of a layer’s edges in the circuit)',
  scoreMass: 'Score mass share (each circuit’s Σ|score| by parent layer, as a share of its total)',
};


function series(d: DriftData, m: DriftMetric): [readonly number[], readonly number[]] {
  switch (m) {
    case 'edgeActivation':
      return [d.edgeActivationA, d.edgeActivationB];
    case 'scoreMass':
      return [d.scoreMassA, d.scoreMassB];
  }
}

/** A compact number for axis ticks. */
function tick(x: number): string {
  const a = Math.abs(x);
  if (a === 0) return '0';
  if (a >= 0.01 && a < 1000) return formatFixed(x, a < 1 ? 2 : 1);
  return x.toExponential(0);
}

export function driftChart(d: DriftData, metric: DriftMetric): SVGSVGElement {
  const [rawA, rawB] = series(d, metric);
  const [a, b] = metric === 'scoreMass' ? [shares(rawA), shares(rawB)] : [rawA, rawB];
  const n = Math.min(d.layers.length, a.length, b.length);
  const W = 600;
  const H = 176;
  const pad = { l: 44, r: 70, t: 8 };
  const mainH = 92;
  const gap = 18;
  const deltaH = 36;
  const x0 = pad.l;
  const x1 = W - pad.r;
  const band = (x1 - x0) / Math.max(1, n);
  const bw = Math.max(2, Math.min(14, band * 0.36));
  const maxV = Math.max(1e-12, ...a.slice(0, n), ...b.slice(0, n));
  const deltas = Array.from({ length: n }, (_, i) => b[i] - a[i]);
  const maxD = Math.max(1e-12, ...deltas.map(Math.abs));
  const yMain = (v: number) => pad.t + mainH - (v / maxV) * mainH;
  const dTop = pad.t + mainH + gap;
  const dMid = dTop + deltaH / 2;
  const yDelta = (v: number) => dMid - (v / maxD) * (deltaH / 2);

  const root = svg('svg', { class: 'cs-drift-chart', viewBox: `0 0 ${W} ${H}`, role: 'img' });
  const label = `${driftMetricLabel[metric]} per layer for A and B, and B − A`;
  root.setAttribute('aria-label', label);
  root.appendChild(svg('title', {}, label));
  // Axes and ticks.
  root.append(
    svg('line', { class: 'cs-axis', x1: x0, y1: pad.t + mainH, x2: x1, y2: pad.t + mainH }),
    svg('line', { class: 'cs-axis', x1: x0, y1: pad.t, x2: x0, y2: pad.t + mainH }),
    svg('text', { class: 'cs-tick', x: x0 - 4, y: pad.t + 8, 'text-anchor': 'end' }, tick(maxV)),
    svg('text', { class: 'cs-tick', x: x0 - 4, y: pad.t + mainH, 'text-anchor': 'end' }, '0'),
    svg('line', { class: 'cs-axis', x1: x0, y1: dMid, x2: x1, y2: dMid }),
    svg('text', { class: 'cs-tick', x: x0 - 4, y: dTop + 8, 'text-anchor': 'end' }, `+${tick(maxD)}`),
    svg('text', { class: 'cs-tick', x: x0 - 4, y: dTop + deltaH, 'text-anchor': 'end' }, `−${tick(maxD)}`),
    svg('text', { class: 'cs-tick cs-strip-label', x: x1, y: dTop - 4, 'text-anchor': 'end' }, 'B − A'),
  );
  for (let i = 0; i < n; i++) {
    const cx = x0 + band * (i + 0.5);
    const barA = svg('rect', { class: 'cs-bar-a', x: cx - bw - 1, y: yMain(a[i]), width: bw, height: Math.max(0, pad.t + mainH - yMain(a[i])) });
    barA.appendChild(svg('title', {}, `layer ${d.layers[i]}, A: ${formatFixed(a[i], 4)}${metric === 'scoreMass' ? ` (Σ|score| ${formatFixed(rawA[i], 4)})` : ''}`));
    const barB = svg('rect', { class: 'cs-bar-b', x: cx + 1, y: yMain(b[i]), width: bw, height: Math.max(0, pad.t + mainH - yMain(b[i])) });
    barB.appendChild(svg('title', {}, `layer ${d.layers[i]}, B: ${formatFixed(b[i], 4)}${metric === 'scoreMass' ? ` (Σ|score| ${formatFixed(rawB[i], 4)})` : ''}`));
    const dv = deltas[i];
    const yd = yDelta(dv);
    const barD = svg('rect', {
      class: dv >= 0 ? 'cs-bar-up' : 'cs-bar-down',
      x: cx - bw,
      y: Math.min(yd, dMid),
      width: 2 * bw,
      height: Math.max(0.5, Math.abs(yd - dMid)),
    });
    barD.appendChild(svg('title', {}, `layer ${d.layers[i]}, B − A: ${formatFixed(dv, 4, true)}`));
    root.append(barA, barB, barD);
    // Label every layer when they fit, else every other one.
    if (n <= 16 || i % 2 === 0) root.appendChild(svg('text', { class: 'cs-tick', x: cx, y: H - 4, 'text-anchor': 'middle' }, String(d.layers[i])));
  }
  root.appendChild(svg('text', { class: 'cs-tick', x: x0 - 4, y: H - 4, 'text-anchor': 'end' }, 'layer'));
  // The key sits in the right margin: which bar is which circuit, and the sign colours of B − A.
  const key: [string, string][] = [
    ['cs-bar-a', 'A'],
    ['cs-bar-b', 'B'],
    ['cs-bar-up', 'B − A > 0'],
    ['cs-bar-down', 'B − A < 0'],
  ];
  key.forEach(([cls, text], i) => {
    const y = pad.t + 4 + i * 14;
    root.append(svg('rect', { class: cls, x: x1 + 8, y, width: 9, height: 9 }), svg('text', { class: 'cs-tick cs-key', x: x1 + 21, y: y + 8 }, text));
  });
  return root;
}
