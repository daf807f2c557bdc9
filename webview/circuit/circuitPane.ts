/**
 * One side of a view: the circuit's heading, its top-N control and its graph. The single view has one
 * pane ('single'); the compare view has two ('a' and 'b'). The pane owns the N of its side, persists it
 * with the selection and viewport, and tells the host when the user settles on a new N.
 */
import type { CircuitViewData, ViewSide } from '../../src/shared/webviewProtocol';
import { actions } from './actions';
import { debounce, el, perFrame } from './dom';
import { formatCount } from './format';
import { GraphView, webglMinEdges, type Viewport } from './graphView';
import { CircuitModel, type CircuitSelection } from './model';
import { SizeControl } from './sizeControl';
import type { StateStore } from './state';
import type { Theme } from './theme';

export interface PaneOptions {
  readonly side: ViewSide;
  /** The pane appends itself here before creating its graph, so Cytoscape measures a real size. */
  readonly parent: HTMLElement;
  readonly data: CircuitViewData;
  readonly theme: Theme;
  readonly store: StateStore;
  /** Shown before the title in the compare view ('A', 'B'). */
  readonly badge?: string;
  readonly onHover?: (node: string | null) => void;
  readonly onSelect?: (node: string | null) => void;
  readonly onViewport?: (v: Viewport, fitted: boolean) => void;
  /** The selection changed (slider, restored state); the compare view recomputes its marks. */
  readonly onSelection?: (sel: CircuitSelection) => void;
  /** N moved by the user (committed: settled on it), for the compare view's linked sliders. */
  readonly onUserN?: (n: number, committed: boolean) => void;
  readonly onStatus?: (text: string) => void;
}

/** Fired on window after each painted frame that follows a change of elements; benches listen to it. */
export const paintedEvent = 'circuitscope:painted';

export class CircuitPane {
  readonly element: HTMLElement;
  readonly model: CircuitModel;
  readonly graph: GraphView;
  readonly size: SizeControl;
  private readonly saveViewport: (v: Viewport | undefined) => void;

  constructor(private readonly o: PaneOptions) {
    this.model = new CircuitModel(o.data);
    const saved = o.store.view(o.side);
    const n0 = this.model.clampN(saved.topN ?? o.data.topN);
    const sel = this.model.select(n0);
    const applyN = perFrame((n: number) => this.setN(n, false));
    this.size = new SizeControl({
      label: o.badge ? `Circuit ${o.badge}` : 'Circuit',
      max: this.model.scoredCount,
      value: n0,
      curve: o.data.curve,
      onInput: (n) => {
        applyN(n);
        o.onUserN?.(n, false);
      },
      onCommit: (n) => {
        this.commitN(n);
        o.onUserN?.(n, true);
      },
    });
    const title = el('h2', { cls: 'cs-pane-title' });
    if (o.badge) title.appendChild(el('span', { cls: 'cs-badge', text: o.badge }));
    title.appendChild(el('span', { text: o.data.title }));
    const graphHost = el('div', { cls: 'cs-graph' });
    this.element = el(
      'section',
      { cls: 'cs-pane', attrs: { 'aria-label': o.badge ? `Circuit ${o.badge}: ${o.data.title}` : o.data.title } },
      el('div', { cls: 'cs-pane-head' }, el('div', { cls: 'cs-pane-heading' }, title, el('span', { cls: 'cs-checkpoint', text: o.data.checkpoint })), this.size.element),
      graphHost,
    );
    o.parent.appendChild(this.element);
    this.saveViewport = debounce((v: Viewport | undefined) => o.store.update(o.side, { zoom: v?.zoom, pan: v?.pan }), 300);
    this.graph = new GraphView({
      side: o.side,
      host: graphHost,
      model: this.model,
      selection: sel,
      theme: o.theme,
      label: o.badge ? `Circuit ${o.badge}, ${o.data.title}` : o.data.title,
      viewport: saved.zoom !== undefined && saved.pan ? { zoom: saved.zoom, pan: saved.pan } : undefined,
      onHover: o.onHover,
      onSelect: (node) => {
        o.store.update(o.side, { selected: node ?? undefined });
        actions.nodeSelected(o.side, node);
        o.onSelect?.(node);
        this.report();
      },
      onViewport: (v, fitted) => {
        // A fitted view is not worth keeping: after a reload the graph is fitted to the new size anyway.
        this.saveViewport(fitted ? undefined : v);
        o.onViewport?.(v, fitted);
      },
      onPainted: (reason) => {
        performance.mark(`${paintedEvent}:${o.side}:${reason}`);
        window.dispatchEvent(new CustomEvent(paintedEvent, { detail: { side: o.side, reason } }));
      },
    });
    if (saved.selected && this.model.hasNode(saved.selected)) this.graph.select(saved.selected);
    if (sel.edges.length >= webglMinEdges) {
      // The user sees no difference but the speed, so the choice goes to the log rather than the UI.
      actions.log('info', `${o.side}: ${sel.edges.length} edges drawn with the ${this.graph.renderer} renderer${this.graph.renderer === 'canvas' ? ' (no hardware WebGL 2)' : ''}`);
    }
  }

  get n(): number {
    return this.graph.selection.n;
  }

  /** Applies a new N: selects top-N, prunes and redraws. */
  setN(n: number, moveSlider = true): void {
    n = this.model.clampN(n);
    if (moveSlider) this.size.set(n);
    if (n === this.graph.selection.n) return;
    const sel = this.model.select(n);
    this.graph.setSelection(sel);
    this.o.onSelection?.(sel);
    this.report();
  }

  /** The user settled on N: persist it and tell the host (exports use the current N). */
  commitN(n: number): void {
    this.setN(n);
    this.o.store.update(this.o.side, { topN: this.n });
    actions.topNChanged(this.o.side, this.n);
  }

  report(): void {
    const s = this.graph.selection;
    const selected = this.graph.selectedNode;
    const parts = [`${this.o.badge ? `${this.o.badge}: ` : ''}top ${formatCount(s.n)} edges → ${formatCount(s.edges.length)} edges and ${formatCount(s.nodeCount)} nodes after pruning`];
    if (selected) parts.push(`selected ${selected}${s.nodeIn.get(selected) ? '' : ' (not in the circuit)'}`);
    this.o.onStatus?.(parts.join('; '));
  }

  applyTheme(t: Theme): void {
    this.graph.applyTheme(t);
  }

  destroy(): void {
    this.graph.destroy();
    this.element.remove();
  }
}
