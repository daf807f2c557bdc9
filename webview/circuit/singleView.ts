/**
 * The circuit view: a heading with the circuit's figures, the toolbar, one pane and the legend.
 */
import type { CircuitViewData, ViewSide } from '../../src/shared/webviewProtocol';
import { CircuitPane } from './circuitPane';
import { el, figures } from './dom';
import { formatCount, formatFixed, formatPercent } from './format';
import type { GraphView } from './graphView';
import { legend } from './legend';
import type { StateStore } from './state';
import type { Theme } from './theme';
import { toolbar } from './toolbar';

export class SingleView {
  readonly pane: CircuitPane;
  private readonly status: HTMLElement;

  constructor(
    private readonly root: HTMLElement,
    private readonly data: CircuitViewData,
    theme: Theme,
    store: StateStore,
  ) {
    store.open(`single:${data.checkpoint}:${data.title}`);
    const s = data.summary;
    const rows: [string, string][] = [];
    if (s.faithfulness !== undefined) rows.push(['Faithfulness', formatFixed(s.faithfulness)]);
    if (s.hit10 !== undefined) rows.push(['Hit@10', formatPercent(s.hit10)]);
    if (s.method) rows.push(['Method', s.method]);
    if (s.prompts !== undefined) rows.push(['Prompts', formatCount(s.prompts)]);
    this.status = el('div', { cls: 'cs-status', attrs: { role: 'status', 'aria-live': 'polite' } });
    const setStatus = (t: string) => (this.status.textContent = t);
    const slot = el('div', { cls: 'cs-main' });
    const hasRoles = Object.values(data.heads).some((h) => h.role);
    root.replaceChildren(
      el('header', { cls: 'cs-header' }, el('h1', { cls: 'cs-title', text: 'Circuit' }), figures(rows)),
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
      el('div', { cls: 'cs-body' }, slot, legend({ compare: false, roles: hasRoles })),
      this.status,
    );
    this.pane = new CircuitPane({ side: 'single', parent: slot, data, theme, store, onStatus: setStatus });
    this.pane.report();
  }

  graph(side: ViewSide): GraphView | undefined {
    return side === 'single' ? this.pane.graph : undefined;
  }

  title(side: ViewSide): string {
    return side === 'single' ? `${this.data.title} (top ${this.pane.n})` : '';
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
}
