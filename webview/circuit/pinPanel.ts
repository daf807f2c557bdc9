/**
 * The side panel of the circuit view, in the manner of Neuronpedia's subgraph pane: the pinned nodes
 * drawn as their own small graph (with the circuit's edges among them), and the groups: supernodes
 * made by hand (hold G and click nodes) and automatic ones by head role or by layer, each collapsible
 * into one node. The panel owns no state; the pane gives it the state and takes the user's edits.
 */
import cytoscape, { type Core, type ElementDefinition } from 'cytoscape';
import { el } from './dom';
import { layeredPositions } from './layout';
import { penWidth, type CircuitModel, type CircuitSelection } from './model';
import type { Theme } from './theme';
import type { AutoGroupMode, ViewGroup } from './viewModel';

export interface PinPanelOptions {
  readonly model: CircuitModel;
  readonly theme: Theme;
  readonly onSelect: (node: string) => void;
  readonly onUnpin: (node: string) => void;
  readonly onClearPins: () => void;
  readonly onAutoMode: (mode: AutoGroupMode) => void;
  readonly onToggleCollapse: (group: ViewGroup) => void;
  readonly onRename: (group: ViewGroup, label: string) => void;
  readonly onDelete: (group: ViewGroup) => void;
}

const modes: readonly [AutoGroupMode, string][] = [
  ['none', 'None'],
  ['role', 'By role'],
  ['layer', 'By layer'],
];

export class PinPanel {
  readonly element: HTMLElement;
  private readonly pinList: HTMLElement;
  private readonly pinGraphHost: HTMLElement;
  private readonly groupList: HTMLElement;
  private readonly modeButtons: HTMLButtonElement[];
  private readonly positions;
  private cy: Core | undefined;
  private theme: Theme;

  constructor(private readonly o: PinPanelOptions) {
    this.theme = o.theme;
    this.positions = layeredPositions(o.model.graph.cfg, o.model.graph.nodes);
    this.pinList = el('ul', { cls: 'cs-pin-list', attrs: { 'aria-label': 'Pinned nodes' } });
    this.pinGraphHost = el('div', { cls: 'cs-subgraph', attrs: { role: 'img', 'aria-label': 'Subgraph of the pinned nodes' } });
    this.groupList = el('ul', { cls: 'cs-group-list', attrs: { 'aria-label': 'Groups' } });
    this.modeButtons = modes.map(([m, text]) => {
      const b = el('button', { cls: 'cs-seg', text, attrs: { type: 'button', 'data-mode': m, title: m === 'none' ? 'No automatic groups' : `Group the circuit's nodes ${text.toLowerCase()}` } });
      b.addEventListener('click', () => o.onAutoMode(m));
      return b;
    });
    const clear = el('button', { cls: 'cs-link', text: 'Clear pins', attrs: { type: 'button' } });
    clear.addEventListener('click', () => o.onClearPins());
    this.element = el(
      'section',
      { cls: 'cs-pins', attrs: { 'aria-label': 'Subgraph and groups' } },
      el('div', { cls: 'cs-legend-head' }, el('span', { text: 'Subgraph (pinned)' }), clear),
      el('p', { cls: 'cs-hint', text: 'Ctrl/Cmd+click or P pins a node.' }),
      this.pinGraphHost,
      this.pinList,
      el('div', { cls: 'cs-legend-head', text: 'Groups' }),
      el('div', { cls: 'cs-segs', attrs: { role: 'group', 'aria-label': 'Automatic groups' } }, ...this.modeButtons),
      el('p', { cls: 'cs-hint', text: 'Hold G and click nodes to make a group; collapse it into one supernode.' }),
      this.groupList,
    );
  }

  update(pins: readonly string[], groups: readonly ViewGroup[], mode: AutoGroupMode, sel: CircuitSelection): void {
    for (const b of this.modeButtons) b.setAttribute('aria-pressed', String(b.dataset.mode === mode));
    this.pinList.replaceChildren(
      ...pins.map((p) => {
        const go = el('button', { cls: 'cs-link cs-pin-name', text: p, attrs: { type: 'button', title: `Select ${p}` } });
        go.addEventListener('click', () => this.o.onSelect(p));
        const x = el('button', { cls: 'cs-icon-button', text: '×', attrs: { type: 'button', 'aria-label': `Unpin ${p}`, title: `Unpin ${p}` } });
        x.addEventListener('click', () => this.o.onUnpin(p));
        return el('li', {}, go, el('span', { cls: 'cs-muted', text: sel.nodeIn.get(p) ? '' : ' (not in circuit)' }), x);
      }),
    );
    this.drawSubgraph(pins, sel);
    this.groupList.replaceChildren(
      ...groups.map((g) => {
        const row = el('li', { cls: `cs-group cs-group-${g.kind}` });
        if (g.kind === 'manual') {
          const input = el('input', { cls: 'cs-group-label', attrs: { type: 'text', value: g.label, 'aria-label': `Label of group ${g.label}` } });
          input.value = g.label;
          input.addEventListener('change', () => this.o.onRename(g, input.value.trim() || g.label));
          row.appendChild(input);
        } else row.appendChild(el('span', { cls: 'cs-group-name', text: g.label }));
        row.appendChild(el('span', { cls: 'cs-muted', text: ` ${g.members.length}`, attrs: { title: g.members.join(', ') } }));
        const c = el('button', { cls: 'cs-link', text: g.collapsed ? 'Expand' : 'Collapse', attrs: { type: 'button', 'aria-pressed': String(g.collapsed), 'aria-label': `${g.collapsed ? 'Expand' : 'Collapse'} ${g.label}` } });
        c.addEventListener('click', () => this.o.onToggleCollapse(g));
        row.appendChild(c);
        if (g.kind === 'manual') {
          const d = el('button', { cls: 'cs-icon-button', text: '×', attrs: { type: 'button', 'aria-label': `Delete group ${g.label}`, title: `Delete group ${g.label}` } });
          d.addEventListener('click', () => this.o.onDelete(g));
          row.appendChild(d);
        }
        return row;
      }),
    );
  }

  applyTheme(t: Theme): void {
    this.theme = t;
    this.cy?.style(this.style());
  }

  destroy(): void {
    this.cy?.destroy();
    this.element.remove();
  }

  private style() {
    const t = this.theme;
    return [
      {
        selector: 'node',
        style: {
          shape: 'round-rectangle',
          width: 46,
          height: 22,
          'background-color': t.nodeFill,
          'border-width': 2,
          'border-color': t.pin,
          label: 'data(id)',
          color: t.foreground,
          'font-size': 11,
          'font-family': t.fontFamily,
          'text-valign': 'center',
          'text-halign': 'center',
        },
      },
      {
        selector: 'edge',
        style: { width: 'data(w)', 'line-color': t.edge.pos, 'target-arrow-color': t.edge.pos, 'target-arrow-shape': 'triangle', 'curve-style': 'straight', 'arrow-scale': 0.6 },
      },
      { selector: 'edge.neg', style: { 'line-color': t.edge.neg, 'target-arrow-color': t.edge.neg } },
    ] as cytoscape.StylesheetJson;
  }

  /** The pinned nodes at their places in the layered layout, with the circuit's edges among them. */
  private drawSubgraph(pins: readonly string[], sel: CircuitSelection): void {
    this.pinGraphHost.hidden = pins.length === 0;
    if (pins.length === 0) {
      this.cy?.elements().remove();
      return;
    }
    const set = new Set(pins);
    const els: ElementDefinition[] = pins.filter((p) => this.positions.has(p)).map((p) => ({ group: 'nodes', data: { id: p }, position: { ...this.positions.get(p)! } }));
    const { graph, scores } = this.o.model;
    let count = 0;
    for (const i of sel.edges) {
      const e = graph.edges[i];
      if (!set.has(e.parent) || !set.has(e.child)) continue;
      count++;
      els.push({ group: 'edges', data: { id: `e${i}`, source: e.parent, target: e.child, w: penWidth(Math.abs(scores[i]), sel.minAbs, sel.maxAbs) }, classes: scores[i] < 0 ? 'neg' : 'pos' });
    }
    this.pinGraphHost.setAttribute('aria-label', `Subgraph of ${pins.length} pinned nodes with ${count} circuit edges among them`);
    if (!this.cy) {
      this.cy = cytoscape({ container: this.pinGraphHost, style: this.style(), layout: { name: 'preset' }, autoungrabify: true, autounselectify: true, userZoomingEnabled: false, userPanningEnabled: false, boxSelectionEnabled: false });
      this.cy.on('tap', 'node', (ev) => this.o.onSelect((ev.target as cytoscape.NodeSingular).id()));
    }
    const cy = this.cy;
    cy.batch(() => {
      cy.elements().remove();
      cy.add(els);
    });
    cy.resize();
    cy.fit(undefined, 12);
  }
}
