/**
 * The top-N control: a slider on a logarithmic scale (circuits are read at 50 edges and at 8,000, and a
 * linear slider over 32,491 positions cannot reach the small ones), an exact number field, and the
 * faithfulness-vs-size curve drawn in SVG with the current N marked; clicking the curve picks the
 * nearest measured N. MIB's CPR and CMD, when the circuit has them, sit beside the slider: they
 * summarize faithfulness over all sizes, so they do not move with N.
 */
import type { CircuitViewData } from '../../src/shared/webviewProtocol';
import { el, svg } from './dom';
import { formatCount, formatFixed } from './format';
import { curvePoints, faithfulnessAt } from './viewModel';

type Curve = CircuitViewData['curve'];

const steps = 1000;
let ids = 0;

export interface SizeControlOptions {
  readonly label: string;
  readonly max: number;
  readonly value: number;
  readonly curve: Curve;
  /** MIB's areas over all sizes (CPR, CMD), when the circuit file has them. */
  readonly mib?: CircuitViewData['mib'];
  /** One-click sizes (the legible default, the discovered N). */
  readonly presets?: readonly { readonly label: string; readonly n: number; readonly title: string }[];
  /** Called while the slider moves (at most once a frame by the caller's choice). */
  readonly onInput: (n: number) => void;
  /** Called when the user settles on a value (slider released, field committed, curve clicked). */
  readonly onCommit: (n: number) => void;
}

export class SizeControl {
  readonly element: HTMLElement;
  private readonly range: HTMLInputElement;
  private readonly number: HTMLInputElement;
  private readonly curve: CurveChart;
  private presetButtons: readonly (readonly [HTMLButtonElement, number])[] = [];
  private n: number;

  constructor(private readonly o: SizeControlOptions) {
    this.n = o.value;
    const id = `cs-size-${++ids}`;
    this.range = el('input', {
      cls: 'cs-range',
      attrs: { id, type: 'range', min: '0', max: String(steps), step: '1', 'aria-label': `${o.label}: top N edges` },
    });
    this.number = el('input', {
      cls: 'cs-number',
      attrs: { type: 'number', min: '1', max: String(o.max), step: '1', 'aria-label': `${o.label}: exact N` },
    });
    this.curve = new CurveChart(o.curve, o.max, (n) => {
      this.set(n);
      o.onInput(this.n);
      o.onCommit(this.n);
    });
    this.range.addEventListener('input', () => {
      this.n = this.fromSlider(Number(this.range.value));
      this.sync(false);
      o.onInput(this.n);
    });
    this.range.addEventListener('change', () => o.onCommit(this.n));
    this.number.addEventListener('change', () => {
      const v = Math.round(Number(this.number.value));
      if (!Number.isFinite(v)) return;
      this.set(v);
      o.onInput(this.n);
      o.onCommit(this.n);
    });
    const presets = (o.presets ?? []).map((p) => {
      const b = el('button', { cls: 'cs-seg cs-preset', text: p.label, attrs: { type: 'button', title: p.title } });
      b.addEventListener('click', () => {
        this.set(p.n);
        o.onInput(this.n);
        o.onCommit(this.n);
      });
      return b;
    });
    this.element = el(
      'div',
      { cls: 'cs-size' },
      el('label', { cls: 'cs-size-label', text: 'Edges (top N)', attrs: { for: id } }),
      this.range,
      this.number,
      el('span', { cls: 'cs-size-of', text: `of ${formatCount(o.max)}` }),
      mibFigures(o.mib),
      presets.length ? el('span', { cls: 'cs-segs cs-presets', attrs: { role: 'group', 'aria-label': 'Circuit size presets' } }, ...presets) : null,
      this.curve.element,
    );
    this.presetButtons = presets.map((b, i) => [b, o.presets![i].n] as const);
    this.sync(true);
  }

  get value(): number {
    return this.n;
  }

  /** Sets N from outside (restored state, the linked slider of the other side). */
  set(n: number): void {
    this.n = Math.max(1, Math.min(this.o.max, Math.round(n)));
    this.sync(true);
  }

  private toSlider(n: number): number {
    if (this.o.max <= 1) return steps;
    return Math.round((Math.log(n) / Math.log(this.o.max)) * steps);
  }

  private fromSlider(v: number): number {
    return Math.max(1, Math.min(this.o.max, Math.round(Math.exp((v / steps) * Math.log(this.o.max)))));
  }

  private sync(moveSlider: boolean): void {
    if (moveSlider) this.range.value = String(this.toSlider(this.n));
    this.range.setAttribute('aria-valuetext', `${formatCount(this.n)} edges`);
    this.number.value = String(this.n);
    this.curve.mark(this.n);
    for (const [b, n] of this.presetButtons) b.setAttribute('aria-pressed', String(n === this.n));
  }
}

/** MIB's CPR and CMD as two labelled figures with their definitions as tooltips; null without finite figures. */
function mibFigures(mib: SizeControlOptions['mib']): HTMLElement | null {
  if (!mib || !Number.isFinite(mib.cpr) || !Number.isFinite(mib.cmd)) return null;
  const over = `over 0.1–100 % of the edges${mib.ablation && mib.ablation !== 'patch' ? `, ${mib.ablation} ablation` : ''}`;
  const figure = (cls: string, name: string, value: number, title: string) =>
    el('span', { cls: `cs-mib-figure ${cls}`, attrs: { title } }, el('span', { cls: 'cs-mib-name', text: name }), el('span', { cls: 'cs-mib-value', text: formatFixed(value, 3) }));
  return el(
    'span',
    { cls: 'cs-mib', attrs: { role: 'group', 'aria-label': `MIB: CPR ${formatFixed(mib.cpr, 3)}, CMD ${formatFixed(mib.cmd, 3)}` } },
    figure('cs-mib-cpr', 'CPR', mib.cpr, `MIB circuit performance ratio: area under the faithfulness of the top-n circuits by signed score, ${over}. Higher is better.`),
    figure('cs-mib-cmd', 'CMD', mib.cmd, `MIB circuit–model distance: area between 1 and the faithfulness of the top-n circuits by |score|, ${over}. Lower is better.`),
  );
}

/** The faithfulness-vs-size curve; x is N on a log scale, y is faithfulness. */
class CurveChart {
  readonly element: SVGSVGElement;
  private readonly marker: SVGGElement;
  private readonly markerLine: SVGLineElement;
  private readonly markerDot: SVGCircleElement;
  private readonly markerText: SVGTextElement;
  private readonly w = 220;
  private readonly h = 56;
  private readonly pad = { l: 28, r: 6, t: 6, b: 14 };
  private readonly yMin: number;
  private readonly yMax: number;
  private readonly points: Curve;

  constructor(
    curve: Curve,
    private readonly max: number,
    onPick: (n: number) => void,
  ) {
    this.points = curvePoints(curve);
    const ys = this.points.map((p) => p.faithfulness);
    this.yMin = Math.min(0, ...ys);
    this.yMax = Math.max(1, ...ys);
    const { w, h, pad } = this;
    this.element = svg('svg', { class: 'cs-curve', viewBox: `0 0 ${w} ${h}`, width: w, height: h, role: 'img' });
    const title = svg('title', {}, this.points.length ? 'Faithfulness against circuit size; click to pick N' : 'No faithfulness curve for this circuit');
    this.element.appendChild(title);
    this.element.setAttribute('aria-label', title.textContent ?? '');
    const x0 = pad.l;
    const x1 = w - pad.r;
    const y0 = h - pad.b;
    const y1 = pad.t;
    this.element.append(
      svg('line', { class: 'cs-axis', x1: x0, y1: y0, x2: x1, y2: y0 }),
      svg('line', { class: 'cs-axis', x1: x0, y1: y0, x2: x0, y2: y1 }),
      svg('text', { class: 'cs-tick', x: x0 - 3, y: this.y(this.yMax) + 4, 'text-anchor': 'end' }, formatFixed(this.yMax, 1)),
      svg('text', { class: 'cs-tick', x: x0 - 3, y: this.y(this.yMin), 'text-anchor': 'end' }, formatFixed(this.yMin, 1)),
      svg('text', { class: 'cs-tick', x: x0, y: h - 2, 'text-anchor': 'start' }, '1'),
      svg('text', { class: 'cs-tick', x: x1, y: h - 2, 'text-anchor': 'end' }, formatCount(max)),
    );
    if (this.yMin < 1 && this.yMax >= 1) {
      this.element.appendChild(svg('line', { class: 'cs-grid', x1: x0, y1: this.y(1), x2: x1, y2: this.y(1) }));
    }
    if (this.points.length) {
      const d = this.points.map((p, i) => `${i ? 'L' : 'M'}${this.x(p.topN).toFixed(1)},${this.y(p.faithfulness).toFixed(1)}`).join(' ');
      this.element.appendChild(svg('path', { class: 'cs-curve-line', d }));
      for (const p of this.points) {
        const c = svg('circle', { class: 'cs-curve-point', cx: this.x(p.topN), cy: this.y(p.faithfulness), r: 2 });
        c.appendChild(svg('title', {}, `N = ${formatCount(p.topN)} (${formatCount(p.edges)} edges after pruning): faithfulness ${formatFixed(p.faithfulness)}`));
        this.element.appendChild(c);
      }
    }
    this.markerLine = svg('line', { class: 'cs-curve-marker', y1: y1, y2: y0 });
    this.markerDot = svg('circle', { class: 'cs-curve-marker-dot', r: 3.5 });
    this.markerText = svg('text', { class: 'cs-tick cs-curve-marker-text', y: y1 + 8 });
    this.marker = svg('g');
    this.marker.append(this.markerLine, this.markerDot, this.markerText);
    this.element.appendChild(this.marker);
    this.element.addEventListener('click', (ev) => {
      if (!this.points.length) return;
      const r = this.element.getBoundingClientRect();
      const px = ((ev.clientX - r.left) / r.width) * w;
      let best = this.points[0];
      for (const p of this.points) if (Math.abs(this.x(p.topN) - px) < Math.abs(this.x(best.topN) - px)) best = p;
      onPick(best.topN);
    });
  }

  private x(n: number): number {
    const { w, pad } = this;
    const t = this.max > 1 ? Math.log(Math.max(1, n)) / Math.log(this.max) : 1;
    return pad.l + t * (w - pad.l - pad.r);
  }

  private y(f: number): number {
    const { h, pad } = this;
    return h - pad.b - ((f - this.yMin) / (this.yMax - this.yMin || 1)) * (h - pad.t - pad.b);
  }

  private at(n: number): number | undefined {
    return faithfulnessAt(this.points, n);
  }

  mark(n: number): void {
    const x = this.x(n);
    this.markerLine.setAttribute('x1', String(x));
    this.markerLine.setAttribute('x2', String(x));
    const f = this.at(n);
    this.markerDot.setAttribute('visibility', f === undefined ? 'hidden' : 'visible');
    if (f !== undefined) {
      this.markerDot.setAttribute('cx', String(x));
      this.markerDot.setAttribute('cy', String(this.y(f)));
    }
    const right = x > this.w * 0.6;
    this.markerText.setAttribute('x', String(right ? x - 4 : x + 4));
    this.markerText.setAttribute('text-anchor', right ? 'end' : 'start');
    this.markerText.textContent = f === undefined ? '' : `≈${formatFixed(f, 2)}`;
  }
}
