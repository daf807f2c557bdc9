/**
 * One side of a view: the circuit's heading, its top-N control and its graph. The single view has one
 * pane ('single'); the compare view has two ('a' and 'b'). The pane owns the N of its side, persists it
 * with the selection and viewport, and tells the host when the user settles on a new N.
 */
import type { AutoGroupMode, CircuitViewData, SavedGroup, SavedView, ViewSide, ViewState } from '../../src/shared/webviewProtocol';
import { actions } from './actions';
import { debounce, el, perFrame } from './dom';
import { formatCount } from './format';
import { GraphView, webglMinEdges, type Viewport } from './graphView';
import { CircuitModel, type CircuitSelection } from './model';
import { PinPanel } from './pinPanel';
import { SizeControl } from './sizeControl';
import type { StateStore } from './state';
import type { Theme } from './theme';
import { autoGroups, legibleN, manualGroups, type LegibleSize, type ViewGroup } from './viewModel';

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
  /** The view state saved with the circuit (the host's sidecar), used when the webview holds none. */
  readonly saved?: SavedView;
  /** Pins, groups and the subgraph panel go here (the single view); without it they are off. */
  readonly sidePanel?: HTMLElement;
  /** N changed (any cause): the header's figures follow it. */
  readonly onN?: (n: number) => void;
}

/** Fired on window after each painted frame that follows a change of elements; benches listen to it. */
export const paintedEvent = 'circuitscope:painted';

export class CircuitPane {
  readonly element: HTMLElement;
  readonly model: CircuitModel;
  readonly graph: GraphView;
  readonly size: SizeControl;
  /** The size the view opens at, chosen from the faithfulness curve. */
  readonly legible: LegibleSize;
  private readonly saveViewport: (v: Viewport | undefined) => void;
  private readonly pinPanel: PinPanel | undefined;
  private pins: string[];
  private groups: SavedGroup[];
  private autoMode: AutoGroupMode;
  private collapsedAuto: Set<string>;
  /** Nodes clicked while G is held, for the group being made. */
  private pending: string[] = [];
  private readonly postState: (s: SavedView) => void;

  // Longer than 80 lines: it builds the pane's DOM (title, size control, graph, pin panel) and binds
  // each control to the graph in one place, so the pane's wiring reads top to bottom.
  constructor(private readonly o: PaneOptions) {
    this.model = new CircuitModel(o.data);
    const session = o.store.view(o.side);
    // The webview's own state (hide/show, reload) is newer than the sidecar, when it exists.
    const saved: ViewState = { ...o.saved, ...session };
    this.pins = (saved.pins ?? []).filter((p) => this.model.hasNode(p));
    this.groups = (saved.groups ?? []).map((g) => ({ ...g, members: g.members.filter((m) => this.model.hasNode(m)) }));
    this.autoMode = saved.autoGroups ?? 'none';
    this.collapsedAuto = new Set(saved.collapsedAuto ?? []);
    this.postState = debounce((st: SavedView) => actions.viewStateChanged(o.side, st), 400);
    this.legible = legibleN(o.data.curve, this.model.clampN(o.data.topN), o.data.summary.faithfulness);
    const n0 = this.model.clampN(saved.topN ?? this.legible.n);
    const sel = this.model.select(n0);
    const applyN = perFrame((n: number) => this.setN(n, false));
    this.size = new SizeControl({
      label: o.badge ? `Circuit ${o.badge}` : 'Circuit',
      max: this.model.scoredCount,
      value: n0,
      curve: o.data.curve,
      mib: o.data.mib,
      presets: [
        { label: `Legible (${formatCount(this.legible.n)})`, n: this.legible.n, title: `N = ${formatCount(this.legible.n)}: ${this.legible.reason}` },
        { label: `Discovered (${formatCount(this.model.clampN(o.data.topN))})`, n: this.model.clampN(o.data.topN), title: 'The circuit as discovered' },
      ],
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
    if (o.badge) title.appendChild(el('span', { cls: `cs-badge cs-badge-${o.badge.toLowerCase()}`, text: o.badge }));
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
        this.saveState();
        actions.nodeSelected(o.side, node);
        o.onSelect?.(node);
        this.report();
      },
      onTogglePin: o.sidePanel ? (node) => this.togglePin(node) : undefined,
      onGroupPick: o.sidePanel ? (node) => this.pickForGroup(node) : undefined,
      onGroupEnd: o.sidePanel ? () => this.endGroup() : undefined,
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
    if (o.sidePanel) {
      this.pinPanel = new PinPanel({
        model: this.model,
        theme: o.theme,
        onSelect: (node) => this.graph.select(node, { notify: true, center: true, card: true }),
        onUnpin: (node) => this.togglePin(node),
        onClearPins: () => {
          this.pins = [];
          this.applyPinsAndGroups();
        },
        onAutoMode: (m) => {
          this.autoMode = m;
          this.applyPinsAndGroups();
        },
        onToggleCollapse: (g) => {
          if (g.kind === 'manual') {
            const i = Number(g.id.slice(7));
            this.groups[i] = { ...this.groups[i], collapsed: !g.collapsed };
          } else if (g.collapsed) this.collapsedAuto.delete(g.id);
          else this.collapsedAuto.add(g.id);
          this.applyPinsAndGroups();
        },
        onRename: (g, label) => {
          const i = Number(g.id.slice(7));
          this.groups[i] = { ...this.groups[i], label };
          this.applyPinsAndGroups();
        },
        onDelete: (g) => {
          this.groups.splice(Number(g.id.slice(7)), 1);
          this.applyPinsAndGroups();
        },
      });
      o.sidePanel.appendChild(this.pinPanel.element);
      this.applyPinsAndGroups(false);
    }
    // The host's exports use the N shown, which need not be the discovered one.
    actions.topNChanged(o.side, n0);
    if (sel.edges.length >= webglMinEdges) {
      // The user sees no difference but the speed, so the choice goes to the log rather than the UI.
      actions.log('info', `${o.side}: ${sel.edges.length} edges drawn with the ${this.graph.renderer} renderer${this.graph.renderer === 'canvas' ? ' (no hardware WebGL 2)' : ''}`);
    }
  }

  get n(): number {
    return this.graph.selection.n;
  }

  /** The groups shown now: manual ones first, then the automatic ones of the chosen mode. */
  viewGroups(): ViewGroup[] {
    const sel = this.graph.selection;
    return [...manualGroups(this.groups), ...autoGroups(this.autoMode, this.model.graph.nodes, this.model.data.heads, (n) => sel.nodeIn.get(n) === true, this.collapsedAuto)];
  }

  get pinned(): readonly string[] {
    return this.pins;
  }

  /** What is saved with the circuit. */
  savedView(): SavedView {
    return {
      topN: this.n,
      selected: this.graph.selectedNode ?? undefined,
      pins: [...this.pins],
      groups: this.groups.map((g) => ({ ...g, members: [...g.members] })),
      autoGroups: this.autoMode,
      collapsedAuto: [...this.collapsedAuto],
    };
  }

  togglePin(node: string): void {
    this.pins = this.pins.includes(node) ? this.pins.filter((p) => p !== node) : [...this.pins, node];
    this.applyPinsAndGroups();
    this.o.onStatus?.(this.pins.includes(node) ? `Pinned ${node} (${this.pins.length} pinned).` : `Unpinned ${node}.`);
  }

  private pickForGroup(node: string): void {
    if (!this.pending.includes(node)) this.pending.push(node);
    this.o.onStatus?.(`Group: ${this.pending.join(', ')} (release G to make the group)`);
  }

  private endGroup(): void {
    if (this.pending.length === 0) return;
    const label = `Group ${this.groups.length + 1}`;
    this.groups.push({ label, members: this.pending, collapsed: false });
    this.o.onStatus?.(`Made ${label} of ${this.pending.length} node${this.pending.length === 1 ? '' : 's'}; rename or collapse it in the side panel.`);
    this.pending = [];
    this.applyPinsAndGroups();
  }

  private applyPinsAndGroups(save = true): void {
    const groups = this.viewGroups();
    this.graph.setPins(new Set(this.pins));
    this.graph.setGroups(groups);
    this.pinPanel?.update(this.pins, groups, this.autoMode, this.graph.selection);
    if (save) this.saveState();
  }

  /** Keeps the state in the webview (setState) and sends it to the host for the sidecar. */
  private saveState(): void {
    const st = this.savedView();
    this.o.store.update(this.o.side, st);
    if (this.o.sidePanel) this.postState(st);
  }

  /** Applies a new N: selects top-N, prunes and redraws. */
  setN(n: number, moveSlider = true): void {
    n = this.model.clampN(n);
    if (moveSlider) this.size.set(n);
    if (n === this.graph.selection.n) return;
    const sel = this.model.select(n);
    this.graph.setSelection(sel);
    if (this.pinPanel) this.applyPinsAndGroups(false);
    this.o.onSelection?.(sel);
    this.o.onN?.(n);
    this.report();
  }

  /** The user settled on N: persist it and tell the host (exports use the current N). */
  commitN(n: number): void {
    this.setN(n);
    this.o.store.update(this.o.side, { topN: this.n });
    this.saveState();
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
    this.pinPanel?.applyTheme(t);
  }

  destroy(): void {
    this.pinPanel?.destroy();
    this.graph.destroy();
    this.element.remove();
  }
}
