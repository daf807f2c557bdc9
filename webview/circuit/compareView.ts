/**
 * The compare view: circuits A and B side by side, in the manner of Model Explorer's split view. Pan,
 * zoom, hover and selection are mirrored by node id; the two layouts are identical for one config, so
 * the same node sits at the same place on both sides. Edges in A only are drawn dashed on A's side,
 * edges in B only with a thick outline on B's side, and sign flips outlined on both; the marks follow
 * the two sliders. Below, the per-layer drift chart and the host's summary figures.
 */
import type { CircuitViewData, DriftData, ViewSide } from '../../src/shared/webviewProtocol';
import { CircuitPane } from './circuitPane';
import { el, figures, perFrame } from './dom';
import { driftChart, driftMetricLabel, type DriftMetric } from './driftChart';
import { formatCount, formatFixed } from './format';
import type { DiffMarks, EdgeMark, GraphView, NodeMark } from './graphView';
import { legend } from './legend';
import type { StateStore } from './state';
import type { Theme } from './theme';
import { toolbar } from './toolbar';

/** Marks for both sides from the two current selections, matched by edge and node name. */
export function diffMarks(a: CircuitPane, b: CircuitPane, onlyDifferences: boolean): { a: DiffMarks; b: DiffMarks; added: number; removed: number; flipped: number } {
  const ga = a.model.graph;
  const gb = b.model.graph;
  const sa = a.graph.selection;
  const sb = b.graph.selection;
  const sameShape = JSON.stringify(ga.cfg) === JSON.stringify(gb.cfg);
  // With one config the edge indices coincide; otherwise edges are matched by name.
  const inB = (i: number): number | undefined => (sameShape ? i : gb.edgeByName(ga.edges[i].name));
  const inA = (j: number): number | undefined => (sameShape ? j : ga.edgeByName(gb.edges[j].name));
  const edgesA = new Map<number, EdgeMark>();
  const edgesB = new Map<number, EdgeMark>();
  let flipped = 0;
  for (const i of sa.edges) {
    const j = inB(i);
    if (j === undefined || !sb.edgeIn[j]) {
      edgesA.set(i, 'removed');
      continue;
    }
    const x = Math.sign(a.model.scores[i]);
    const y = Math.sign(b.model.scores[j]);
    if (x * y === -1) {
      edgesA.set(i, 'flipped');
      edgesB.set(j, 'flipped');
      flipped++;
    }
  }
  for (const j of sb.edges) {
    const i = inA(j);
    if (i === undefined || !sa.edgeIn[i]) edgesB.set(j, 'added');
  }
  const nodesA = new Map<string, NodeMark>();
  const nodesB = new Map<string, NodeMark>();
  for (const [n, v] of sa.nodeIn) if (v && sb.nodeIn.get(n) !== true) nodesA.set(n, 'removed');
  for (const [n, v] of sb.nodeIn) if (v && sa.nodeIn.get(n) !== true) nodesB.set(n, 'added');
  let removed = 0;
  for (const m of edgesA.values()) if (m === 'removed') removed++;
  let added = 0;
  for (const m of edgesB.values()) if (m === 'added') added++;
  return {
    a: { edges: edgesA, nodes: nodesA, onlyDifferences },
    b: { edges: edgesB, nodes: nodesB, onlyDifferences },
    added,
    removed,
    flipped,
  };
}

export class CompareView {
  readonly a: CircuitPane;
  readonly b: CircuitPane;
  private linkN: boolean;
  private onlyDifferences: boolean;
  private metric: DriftMetric = 'edgeActivation';
  private readonly status: HTMLElement;
  private readonly liveCounts: HTMLElement;
  private readonly chartSlot: HTMLElement;
  private readonly segButtons: HTMLButtonElement[];
  /** Viewports are mirrored only once both sides exist, so B's first fit cannot undo A's restored view. */
  private built = false;

  // Longer than 80 lines: it builds the view's one DOM tree (header, toolbar, both sides, drift
  // section, legend) and wires the two panes to each other; split up, the layout would be scattered
  // over functions that each need most of the same state.
  constructor(
    private readonly root: HTMLElement,
    private readonly dataA: CircuitViewData,
    private readonly dataB: CircuitViewData,
    private readonly drift: DriftData,
    theme: Theme,
    store: StateStore,
  ) {
    const st = store.open(`compare:${dataA.checkpoint}:${dataA.title}|${dataB.checkpoint}:${dataB.title}`);
    this.linkN = st.linkN ?? true;
    this.onlyDifferences = st.onlyDifferences ?? false;
    this.status = el('div', { cls: 'cs-status', attrs: { role: 'status', 'aria-live': 'polite' } });
    const setStatus = (t: string) => (this.status.textContent = t);
    const slotA = el('div', { cls: 'cs-split-side' });
    const slotB = el('div', { cls: 'cs-split-side' });
    this.liveCounts = el('p', { cls: 'cs-live-counts' });
    this.chartSlot = el('div', { cls: 'cs-drift-chart-slot' });
    const metricButtons = (['edgeActivation', 'scoreMass'] as const).map((m) => {
      const b = el('button', { cls: 'cs-seg', text: m === 'edgeActivation' ? 'Edge activation' : 'Score mass share', attrs: { type: 'button', title: driftMetricLabel[m] } });
      b.addEventListener('click', () => this.showMetric(m));
      return b;
    });
    const d = drift;
    const summary = figures([
      ['Node Jaccard', formatFixed(d.nodeJaccard)],
      ['Edge Jaccard', formatFixed(d.edgeJaccard)],
      ['Pearson r', formatFixed(d.pearson)],
      ['Kendall τb', formatFixed(d.kendallTauB)],
      ['Δ faithfulness', formatFixed(d.faithfulnessDelta, 3, true)],
      ['Added', formatCount(d.addedCount)],
      ['Removed', formatCount(d.removedCount)],
      ['Sign-flipped', formatCount(d.signFlippedCount)],
    ]);
    const hasRoles = [dataA, dataB].some((x) => Object.values(x.heads).some((h) => h.role));
    root.replaceChildren(
      el(
        'header',
        { cls: 'cs-header' },
        el('h1', { cls: 'cs-title', text: 'Circuit comparison' }),
        el('span', { cls: 'cs-vs' }, el('span', { cls: 'cs-badge cs-badge-a', text: 'A' }), el('span', { text: dataA.title }), el('span', { text: '→' }), el('span', { cls: 'cs-badge cs-badge-b', text: 'B' }), el('span', { text: dataB.title })),
      ),
      toolbar({
        onFind: (name) => this.find(name),
        // A's fit is forwarded to B like any viewport change.
        onFit: () => this.a.graph.fit(),
        onClear: () => this.clearSelection(),
        onStatus: setStatus,
        toggles: [
          [
            'Same N on both sides',
            this.linkN,
            (v) => {
              this.linkN = v;
              store.setFlags({ linkN: v });
              if (v) this.b.commitN(this.a.n);
            },
          ],
          [
            'Differences only',
            this.onlyDifferences,
            (v) => {
              this.onlyDifferences = v;
              store.setFlags({ onlyDifferences: v });
              this.updateMarks();
            },
          ],
        ],
      }),
      el('div', { cls: 'cs-split' }, slotA, slotB),
      el(
        'div',
        { cls: 'cs-bottom' },
        el(
          'section',
          { cls: 'cs-drift', attrs: { 'aria-label': 'Per-layer drift' } },
          el('div', { cls: 'cs-drift-head' }, el('h2', { cls: 'cs-pane-title', text: 'Per-layer drift (B − A)' }), el('div', { cls: 'cs-segs', attrs: { role: 'group', 'aria-label': 'Drift metric' } }, ...metricButtons)),
          el('div', { cls: 'cs-drift-body' }, this.chartSlot, el('div', { cls: 'cs-drift-figures' }, summary, this.liveCounts)),
        ),
        legend({ compare: true, roles: hasRoles }),
      ),
      this.status,
    );
    this.segButtons = metricButtons;
    const applyOther = (side: 'a' | 'b') => perFrame((n: number) => this.pane(side).setN(n));
    const toA = applyOther('a');
    const toB = applyOther('b');
    const updateMarks = perFrame(() => this.updateMarks());
    const make = (side: 'a' | 'b', parent: HTMLElement, data: CircuitViewData): CircuitPane =>
      new CircuitPane({
        side,
        parent,
        data,
        theme,
        store,
        badge: side.toUpperCase(),
        onHover: (node) => this.other(side)?.graph.showHover(node),
        onSelect: (node) => {
          this.other(side)?.graph.select(node, { card: node !== null });
        },
        onViewport: (v) => {
          if (this.built) this.other(side)?.graph.setViewport(v);
        },
        onSelection: () => updateMarks(undefined),
        onUserN: (n, committed) => {
          if (!this.linkN) return;
          const o = this.other(side);
          if (!o) return;
          if (committed) o.commitN(n);
          else (side === 'a' ? toB : toA)(n);
        },
        onStatus: () => setStatus(this.statusText()),
      });
    this.a = make('a', slotA, dataA);
    this.b = make('b', slotB, dataB);
    this.built = true;
    // Both sides fitted themselves to panes of one size, so they already match, unless A's viewport was
    // restored from a reload: then B takes it.
    if (store.view('a').zoom !== undefined) this.b.graph.setViewport(this.a.graph.viewport);
    if (this.linkN && this.b.n !== this.a.n) this.b.setN(this.a.n);
    this.updateMarks();
    this.showMetric(this.metric);
    setStatus(this.statusText());
  }

  graph(side: ViewSide): GraphView | undefined {
    switch (side) {
      case 'a':
        return this.a.graph;
      case 'b':
        return this.b.graph;
      case 'single':
        return undefined;
    }
  }

  title(side: ViewSide): string {
    switch (side) {
      case 'a':
        return `A: ${this.dataA.title} (top ${this.a.n})`;
      case 'b':
        return `B: ${this.dataB.title} (top ${this.b.n})`;
      case 'single':
        return '';
    }
  }

  subtitle(side: ViewSide): string[] {
    const p = side === 'b' ? this.b : this.a;
    const d = side === 'b' ? this.dataB : this.dataA;
    if (side === 'single') return [];
    const sel = p.graph.selection;
    return [
      `Comparison ${this.dataA.title} → ${this.dataB.title}; this is side ${side.toUpperCase()}`,
      `${d.summary.method ?? ''}${d.provenance?.promptSet ? ` · ${d.provenance.promptSet}` : ''} · N = ${formatCount(p.n)} (discovered ${formatCount(d.topN)}): ${formatCount(sel.edges.length)} edges, ${formatCount(sel.nodeCount)} nodes`,
    ];
  }

  hasRoles(): boolean {
    return [this.dataA, this.dataB].some((x) => Object.values(x.heads).some((h) => h.role));
  }

  applyTheme(t: Theme): void {
    this.a.applyTheme(t);
    this.b.applyTheme(t);
  }

  clearSelection(): void {
    this.a.graph.select(null, { notify: true });
    this.b.graph.select(null);
    this.status.textContent = this.statusText();
  }

  destroy(): void {
    this.a.destroy();
    this.b.destroy();
    this.root.replaceChildren();
  }

  private pane(side: 'a' | 'b'): CircuitPane {
    return side === 'a' ? this.a : this.b;
  }

  /** The other side; undefined while the second pane is still being built. */
  private other(side: ViewSide): CircuitPane | undefined {
    return side === 'a' ? this.b : this.a;
  }

  private find(name: string): string {
    const foundA = this.a.graph.select(name, { notify: true, center: true, card: true });
    const foundB = this.b.graph.select(name, { card: true });
    if (!foundA && !foundB) return `No node '${name}' in either graph.`;
    const inA = this.a.graph.selection.nodeIn.get(name) === true;
    const inB = this.b.graph.selection.nodeIn.get(name) === true;
    if (inA && inB) return '';
    if (!inA && !inB) return `${name} is in neither circuit at the current N.`;
    return `${name} is only in circuit ${inA ? 'A' : 'B'}.`;
  }

  private updateMarks(): void {
    if (!this.a || !this.b) return;
    const m = diffMarks(this.a, this.b, this.onlyDifferences);
    this.a.graph.setDiff(m.a);
    this.b.graph.setDiff(m.b);
    this.liveCounts.textContent = `At N = ${formatCount(this.a.n)} / ${formatCount(this.b.n)}: ${formatCount(m.added)} added, ${formatCount(m.removed)} removed, ${formatCount(m.flipped)} sign-flipped (the figures above are at the discovered sizes).`;
  }

  private showMetric(m: DriftMetric): void {
    this.metric = m;
    this.chartSlot.replaceChildren(driftChart(this.drift, m));
    for (const b of this.segButtons) b.setAttribute('aria-pressed', String(b.title === driftMetricLabel[m]));
  }

  private statusText(): string {
    if (!this.a || !this.b) return '';
    const parts = [];
    for (const p of [this.a, this.b]) {
      const s = p.graph.selection;
      parts.push(`${p === this.a ? 'A' : 'B'}: ${formatCount(s.edges.length)} edges, ${formatCount(s.nodeCount)} nodes`);
    }
    const sel = this.a.graph.selectedNode ?? this.b.graph.selectedNode;
    if (sel) parts.push(`selected ${sel}`);
    return parts.join('; ');
  }
}
