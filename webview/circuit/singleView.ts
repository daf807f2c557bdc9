/**
 * The circuit view: a heading with the circuit's figures, the toolbar, one pane and the legend.
 */
import type { CircuitViewData, SavedView, ViewSide } from '../../src/shared/webviewProtocol';
import { CircuitPane } from './circuitPane';
import { el, figures } from './dom';
import { formatCount, formatFixed } from './format';
import type { GraphView } from './graphView';
import { legend } from './legend';
import type { StateStore } from './state';
import type { Theme } from './theme';
import { toolbar } from './toolbar';
import { faithfulnessAt, headerRows } from './viewModel';

/** "checkpoint · prompt set · method", the circuit's identity in the header and the exports. */
export function provenanceLine(data: CircuitViewData): string {
  const p = data.provenance;
  const parts = [data.title];
  const prompts = p?.promptSet ?? undefined;
  if (prompts) parts.push(data.summary.prompts !== undefined ? `${prompts} (${formatCount(data.summary.prompts)} prompts)` : prompts);
  else if (data.summary.prompts !== undefined) parts.push(`${formatCount(data.summary.prompts)} prompts`);
  const method = data.summary.method ?? p?.method;
  if (method) parts.push(p?.steps !== undefined ? `${method}, ${p.steps} steps` : method);
  return parts.join(' · ');
}

export class SingleView {
  readonly pane: CircuitPane;
  private readonly status: HTMLElement;
  private readonly figureSlot: HTMLElement;
  private readonly discoveredN: number;

  constructor(
    private readonly root: HTMLElement,
    private readonly data: CircuitViewData,
    theme: Theme,
    store: StateStore,
    saved?: SavedView,
  ) {
    store.open(`single:${data.checkpoint}:${data.title}`);
    this.status = el('div', { cls: 'cs-status', attrs: { role: 'status', 'aria-live': 'polite' } });
    const setStatus = (t: string) => (this.status.textContent = t);
    const slot = el('div', { cls: 'cs-main' });
    const side = el('aside', { cls: 'cs-side', attrs: { 'aria-label': 'Subgraph, groups and legend' } });
    const hasRoles = Object.values(data.heads).some((h) => h.role);
    this.figureSlot = el('div', { cls: 'cs-figure-slot' });
    root.replaceChildren(
      el('header', { cls: 'cs-header' }, el('h1', { cls: 'cs-title', text: 'Circuit' }), el('span', { cls: 'cs-provenance', text: provenanceLine(data) }), this.figureSlot),
      toolbar({
        onFind: (name) => {
          if (!this.pane.graph.select(name, { notify: true, center: true, card: true })) return `No node '${name}' in this ${data.cfg.nLayers}-layer, ${data.cfg.nHeads}-head graph.`;
          this.pane.report();
          return this.pane.graph.selection.nodeIn.get(name) ? '' : `${name} is not in the circuit at N = ${formatCount(this.pane.n)}.`;
        },
        onFit: () => this.pane.graph.fit(),
        onClear: () => this.clearSelection(),
        onStatus: setStatus,
      }),
      el('div', { cls: 'cs-body' }, slot, side),
      el('p', { cls: 'cs-keys', text: keyHints }),
      this.status,
    );
    this.pane = new CircuitPane({ side: 'single', parent: slot, data, theme, store, onStatus: setStatus, saved, sidePanel: side, onN: (n) => this.showFigures(n) });
    this.discoveredN = this.pane.model.clampN(data.topN);
    side.appendChild(legend({ compare: false, roles: hasRoles }));
    this.showFigures(this.pane.n);
    this.pane.report();
  }

  graph(side: ViewSide): GraphView | undefined {
    return side === 'single' ? this.pane.graph : undefined;
  }

  title(side: ViewSide): string {
    return side === 'single' ? `Circuit: ${this.data.title} (top ${this.pane.n})` : '';
  }

  /** Lines under an exported image's title. */
  subtitle(side: ViewSide): string[] {
    if (side !== 'single') return [];
    const sel = this.pane.graph.selection;
    const f = faithfulnessAt(this.data.curve, this.pane.n);
    return [
      provenanceLine(this.data),
      `N = ${formatCount(this.pane.n)} (discovered ${formatCount(this.discoveredN)}): ${formatCount(sel.edges.length)} edges, ${formatCount(sel.nodeCount)} nodes after pruning${f !== undefined ? `; faithfulness ≈ ${formatFixed(f)}` : ''}`,
    ];
  }

  hasRoles(): boolean {
    return Object.values(this.data.heads).some((h) => h.role);
  }

  applyTheme(t: Theme): void {
    this.pane.applyTheme(t);
  }

  clearSelection(): void {
    this.pane.graph.select(null, { notify: true });
    this.pane.report();
  }

  destroy(): void {
    this.pane.destroy();
    this.root.replaceChildren();
  }

  private showFigures(n: number): void {
    this.figureSlot.replaceChildren(figures(headerRows(this.data, n, this.discoveredN ?? this.pane?.model.clampN(this.data.topN) ?? n)));
  }
}

/** The key hints shown under the graph. */
export const keyHints = '↑↓ follow strongest edge · ←→ along the layer · [ ] step edges · Enter follow edge · P pin · hold G + click group · Ctrl/Cmd+click pin · F fit · +/− zoom · Esc clear';
