/**
 * One Cytoscape instance drawing one circuit. Every node of the graph is placed once by the layered
 * layout (out-of-circuit nodes stay as faint outlines, so the picture does not jump while the slider
 * moves); edges are added and removed as the selection changes. Colours come from the theme, so a
 * theme switch only swaps the stylesheet. The view reports hovers, selections and viewport changes
 * through callbacks, which is all the compare view needs to keep two of them in step.
 */
import cytoscape, { type Core, type ElementDefinition, type EdgeSingular, type NodeSingular, type StylesheetJson } from 'cytoscape';
import { parseNodeId } from '../../src/shared/circuit';
import type { ViewSide } from '../../src/shared/webviewProtocol';
import { el } from './dom';
import { HoverCard } from './hoverCard';
import { layeredPositions, metrics, neighbourInDirection, type Point } from './layout';
import { penWidth, type CircuitModel, type CircuitSelection } from './model';
import { exportSvg } from './svgExport';
import type { Theme } from './theme';

/** Edges shown at start from which the WebGL renderer is used, when the browser offers WebGL 2. */
export const webglMinEdges = 2000;

export type EdgeMark = 'added' | 'removed' | 'flipped';
export type NodeMark = 'added' | 'removed';

/** How the compare view marks this side's elements. */
export interface DiffMarks {
  readonly edges: ReadonlyMap<number, EdgeMark>;
  readonly nodes: ReadonlyMap<string, NodeMark>;
  /** Hide the edges that are the same on both sides. */
  readonly onlyDifferences: boolean;
}

export interface Viewport {
  readonly zoom: number;
  readonly pan: { readonly x: number; readonly y: number };
}

export interface GraphViewOptions {
  readonly side: ViewSide;
  readonly host: HTMLElement;
  readonly model: CircuitModel;
  readonly selection: CircuitSelection;
  readonly theme: Theme;
  /** Accessible name of the graph, e.g. the checkpoint. */
  readonly label: string;
  readonly viewport?: Viewport;
  readonly onHover?: (node: string | null) => void;
  readonly onSelect?: (node: string | null) => void;
  /** The viewport changed; `fitted` when it was the automatic or requested fit, not a pan or zoom. */
  readonly onViewport?: (v: Viewport, fitted: boolean) => void;
  /** Called on the first frame painted after a change of elements (startup, slider). */
  readonly onPainted?: (reason: string) => void;
}

let webgl2: boolean | undefined;
let webglPolicy: 'auto' | 'software-too' = 'auto';

/** Lets the test harness exercise the WebGL path on a machine that only has SwiftShader. */
export function allowSoftwareWebgl(): void {
  webglPolicy = 'software-too';
  webgl2 = undefined;
}

/**
 * Whether this browser gives Cytoscape a hardware WebGL 2 context. A software rasterizer (SwiftShader,
 * which Chromium falls back to when GPU acceleration is off, or Mesa's llvmpipe) draws a large circuit
 * several times slower than Cytoscape's canvas renderer, so it counts as unavailable.
 */
export function webglAvailable(): boolean {
  if (webgl2 === undefined) {
    try {
      const gl = document.createElement('canvas').getContext('webgl2');
      let renderer = '';
      if (gl) {
        const info = gl.getExtension('WEBGL_debug_renderer_info');
        renderer = String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER) ?? '');
        gl.getExtension('WEBGL_lose_context')?.loseContext();
      }
      webgl2 = !!gl && (webglPolicy === 'software-too' || !/swiftshader|llvmpipe|softpipe|software|basic render/i.test(renderer));
    } catch {
      webgl2 = false;
    }
  }
  return webgl2;
}

/**
 * Cytoscape adds a <style> element to <head> unless an element with this id exists. The webview's CSP
 * blocks inline style elements, so an inert placeholder takes the id, and circuit.css carries the one
 * rule Cytoscape wanted to add.
 */
function preventInlineStylesheet(): void {
  const id = '__________cytoscape_stylesheet';
  if (document.getElementById(id)) return;
  const placeholder = document.createElement('meta');
  placeholder.id = id;
  placeholder.name = 'cytoscape-stylesheet';
  placeholder.content = 'provided by circuit.css';
  document.head.appendChild(placeholder);
}

function stylesheet(t: Theme, large: boolean): StylesheetJson {
  const arrows = !large;
  return [
    {
      selector: 'node',
      style: {
        shape: 'round-rectangle',
        width: metrics.headWidth,
        height: metrics.height,
        'background-color': t.nodeFill,
        'border-width': 1,
        'border-color': t.nodeBorder,
        label: 'data(label)',
        color: t.foreground,
        'font-size': 11,
        'font-family': t.fontFamily,
        'text-valign': 'center',
        'text-halign': 'center',
        'min-zoomed-font-size': 6,
      },
    },
    { selector: 'node.mlp', style: { shape: 'rectangle', width: metrics.mlpWidth } },
    { selector: 'node.input, node.logits', style: { width: metrics.endWidth, 'font-weight': 'bold', 'border-width': 1.5, 'border-color': t.foreground } },
    { selector: 'node.role-mover', style: { 'background-color': t.role.mover, color: t.role.text } },
    { selector: 'node.role-relation', style: { 'background-color': t.role.relation, color: t.role.text } },
    { selector: 'node.role-mixture', style: { 'background-color': t.role.mixture, color: t.role.text } },
    { selector: 'node.out', style: { opacity: 0.3, 'border-style': 'dashed' } },
    {
      selector: 'edge',
      style: {
        width: 'data(w)',
        'line-color': t.edge.pos,
        'curve-style': 'straight',
        // Thousands of overlapping edges read better when each is lighter.
        opacity: large ? 0.55 : 0.8,
        'z-index': 'data(z)' as unknown as number,
        'target-arrow-shape': arrows ? 'triangle' : 'none',
        'target-arrow-color': t.edge.pos,
        'arrow-scale': 0.55,
      },
    },
    { selector: 'edge.q', style: { 'line-color': t.edge.q, 'target-arrow-color': t.edge.q } },
    { selector: 'edge.k', style: { 'line-color': t.edge.k, 'target-arrow-color': t.edge.k } },
    { selector: 'edge.v', style: { 'line-color': t.edge.v, 'target-arrow-color': t.edge.v } },
    { selector: 'edge.neg', style: { 'line-color': t.edge.neg, 'target-arrow-color': t.edge.neg } },
    // Compare marks: removed edges dashed and lighter (WebGL draws no dashes, so opacity carries it too),
    // added edges with a thick outline, sign flips with an outline of their own colour.
    { selector: 'edge.removed', style: { 'line-style': 'dashed', 'line-dash-pattern': [6, 4], opacity: 0.7 } },
    { selector: 'edge.added', style: { 'line-outline-width': 2, 'line-outline-color': t.diff.added, opacity: 1 } },
    { selector: 'edge.flipped', style: { 'line-outline-width': 2, 'line-outline-color': t.diff.flipped, opacity: 1 } },
    { selector: 'edge.same-hidden', style: { display: 'none' } },
    { selector: 'node.removed', style: { 'border-style': 'dashed', 'border-width': 2, 'border-color': t.diff.removed } },
    { selector: 'node.added', style: { 'border-width': 4, 'border-color': t.diff.added } },
    // Interaction states come last so they win over the marks above.
    { selector: '.faded', style: { opacity: 0.1 } },
    { selector: 'node.faded', style: { opacity: 0.25 } },
    { selector: 'edge.path', style: { opacity: 1 } },
    {
      selector: 'node.sel',
      style: { 'border-width': 3, 'border-color': t.focus, 'underlay-color': t.focus, 'underlay-padding': 5, 'underlay-opacity': 0.35, opacity: 1 },
    },
  ];
}

export class GraphView {
  readonly side: ViewSide;
  readonly cy: Core;
  readonly renderer: 'webgl' | 'canvas';
  readonly card: HoverCard;
  private readonly container: HTMLDivElement;
  private readonly ring: HTMLDivElement;
  private model: CircuitModel;
  private sel: CircuitSelection;
  private theme: Theme;
  private readonly large: boolean;
  private readonly positions: Map<string, Point>;
  /** 1 where the edge is drawn. */
  private drawn: Uint8Array;
  private selected: string | null = null;
  private hovered: string | null = null;
  private marks: DiffMarks | undefined;
  private applyingViewport = false;
  /** True until the user pans or zooms: until then a resize fits the graph again. */
  private autoFit = true;
  private readonly resizeObserver: ResizeObserver;

  constructor(private readonly o: GraphViewOptions) {
    this.side = o.side;
    this.model = o.model;
    this.sel = o.selection;
    this.theme = o.theme;
    this.drawn = new Uint8Array(o.model.graph.edges.length);
    this.positions = layeredPositions(o.model.graph.cfg, o.model.graph.nodes);
    this.large = o.selection.edges.length >= webglMinEdges;
    this.container = el('div', {
      cls: 'cs-cy',
      attrs: {
        tabindex: '0',
        role: 'application',
        'aria-roledescription': 'circuit graph',
        'aria-label': `${o.label}. Arrow keys move between nodes, Enter selects, Escape clears, F fits the view.`,
      },
    });
    o.host.appendChild(this.container);
    this.ring = el('div', { cls: 'cs-hover-ring', attrs: { 'aria-hidden': 'true' } });
    this.ring.hidden = true;
    o.host.appendChild(this.ring);
    this.card = new HoverCard(o.host);
    this.container.setAttribute('aria-describedby', this.card.element.id);

    preventInlineStylesheet();
    const useWebgl = this.large && webglAvailable();
    const base = {
      container: this.container,
      elements: this.nodeElements(),
      style: stylesheet(this.theme, this.large),
      layout: { name: 'preset' },
      minZoom: 0.05,
      maxZoom: 6,
      autoungrabify: true,
      autounselectify: true,
      boxSelectionEnabled: false,
      textureOnViewport: this.large && !useWebgl,
      pixelRatio: this.large ? 1 : ('auto' as const),
    };
    let cy: Core;
    let renderer: 'webgl' | 'canvas' = 'canvas';
    if (useWebgl) {
      try {
        cy = cytoscape({ ...base, webgl: true });
        renderer = 'webgl';
      } catch {
        // A WebGL context can still fail to initialise (lost context, blocklisted driver); the canvas
        // renderer draws the same stylesheet, only slower.
        this.container.replaceChildren();
        cy = cytoscape(base);
      }
    } else {
      cy = cytoscape(base);
    }
    this.cy = cy;
    this.renderer = renderer;
    this.applySelection(o.selection);
    if (o.viewport) this.setViewport(o.viewport);
    else this.fit();
    this.bindEvents();
    this.resizeObserver = new ResizeObserver(() => {
      this.cy.resize();
      // The panes settle after the first layout (the compare view's chart arrives later), so a graph
      // nobody has moved yet is fitted again rather than left cropped.
      if (this.autoFit) this.fit();
    });
    this.resizeObserver.observe(this.container);
    this.whenPainted('show');
  }

  get selection(): CircuitSelection {
    return this.sel;
  }

  get selectedNode(): string | null {
    return this.selected;
  }

  get viewport(): Viewport {
    return { zoom: this.cy.zoom(), pan: { ...this.cy.pan() } };
  }

  /** Redraws for a new selection (the slider moved). */
  setSelection(sel: CircuitSelection): void {
    this.applySelection(sel);
    this.whenPainted('selection');
  }

  setDiff(marks: DiffMarks | undefined): void {
    this.marks = marks;
    this.cy.batch(() => this.applyMarks());
  }

  applyTheme(t: Theme): void {
    this.theme = t;
    this.cy.style(stylesheet(t, this.large));
  }

  fit(): void {
    this.applyingViewport = true;
    try {
      this.cy.fit(this.cy.nodes(), 24);
    } finally {
      this.applyingViewport = false;
    }
    this.autoFit = true;
    this.o.onViewport?.(this.viewport, true);
  }

  setViewport(v: Viewport): void {
    this.autoFit = false;
    this.applyingViewport = true;
    try {
      this.cy.viewport({ zoom: v.zoom, pan: { x: v.pan.x, y: v.pan.y } });
    } finally {
      this.applyingViewport = false;
    }
  }

  focus(): void {
    this.container.focus();
  }

  /**
   * Selects a node and highlights its paths to logits (its successors in the circuit); null clears.
   * Returns false for a name that is not a node of this graph.
   */
  select(name: string | null, opts: { notify?: boolean; center?: boolean; card?: boolean } = {}): boolean {
    const node = name === null ? undefined : this.cy.getElementById(name);
    if (name !== null && (!node || node.empty())) return false;
    this.selected = name;
    this.cy.batch(() => this.applyHighlight());
    if (node && opts.center) {
      this.cy.animate({ center: { eles: node }, zoom: Math.max(this.cy.zoom(), 1.1) }, { duration: 180 });
    }
    if (node && opts.card) this.showNodeCard(node);
    else if (!node) this.card.hide();
    if (opts.notify) this.o.onSelect?.(name);
    return true;
  }

  /** Shows the hover state of a node without a pointer (a synchronized hover from the other side). */
  showHover(name: string | null): void {
    this.setHovered(name);
    const node = name ? this.cy.getElementById(name) : undefined;
    if (node && node.nonempty()) this.showNodeCard(node);
    else this.card.hide();
  }

  exportPng(): string {
    return this.cy.png({ output: 'base64uri', full: true, bg: this.theme.background, scale: 2, maxWidth: 8192, maxHeight: 8192 });
  }

  exportSvg(title: string): string {
    return exportSvg(this.cy, { title, background: this.theme.background, foreground: this.theme.foreground, fontFamily: this.theme.fontFamily });
  }

  /** The node's position in client (page) pixels, for tests and benches. */
  clientPosition(name: string): { x: number; y: number } | undefined {
    const n = this.cy.getElementById(name);
    if (n.empty()) return undefined;
    const r = this.container.getBoundingClientRect();
    const p = n.renderedPosition();
    return { x: r.left + p.x, y: r.top + p.y };
  }

  /** The midpoint of a drawn edge in client pixels, for tests and benches. */
  clientEdgeMidpoint(edgeName: string): { x: number; y: number } | undefined {
    const i = this.model.graph.edgeByName(edgeName);
    const e = i === undefined ? undefined : this.cy.getElementById(`e${i}`);
    if (!e || e.empty()) return undefined;
    const r = this.container.getBoundingClientRect();
    const p = e.renderedMidpoint();
    return { x: r.left + p.x, y: r.top + p.y };
  }

  destroy(): void {
    this.resizeObserver.disconnect();
    this.cy.destroy();
    this.o.host.replaceChildren();
  }

  // ---- internals ----

  private nodeElements(): ElementDefinition[] {
    return this.model.graph.nodes.map((name) => {
      const id = parseNodeId(name)!;
      const role = id.kind === 'attn' ? this.model.data.heads[name]?.role : undefined;
      return {
        group: 'nodes',
        data: { id: name, label: name },
        position: { ...this.positions.get(name)! },
        classes: role ? `${id.kind} role-${role}` : id.kind,
      };
    });
  }

  private applySelection(sel: CircuitSelection): void {
    this.sel = sel;
    const { graph, scores } = this.model;
    const cy = this.cy;
    cy.batch(() => {
      const gone = cy.collection();
      for (let i = 0; i < this.drawn.length; i++) {
        if (this.drawn[i] && !sel.edgeIn[i]) {
          gone.merge(cy.getElementById(`e${i}`));
          this.drawn[i] = 0;
        }
      }
      cy.remove(gone);
      const fresh: ElementDefinition[] = [];
      for (const i of sel.edges) {
        const a = Math.abs(scores[i]);
        const w = penWidth(a, sel.minAbs, sel.maxAbs);
        // Ten z-levels by |score| keep strong edges on top without a full sort in the renderer.
        const z = sel.maxAbs > sel.minAbs ? Math.round((9 * (a - sel.minAbs)) / (sel.maxAbs - sel.minAbs)) : 9;
        if (this.drawn[i]) {
          const e = cy.getElementById(`e${i}`);
          if (e.data('w') !== w) e.data({ w, z });
          continue;
        }
        const edge = graph.edges[i];
        fresh.push({
          group: 'edges',
          data: { id: `e${i}`, source: edge.parent, target: edge.child, name: edge.name, w, z },
          classes: edge.qkv ?? (scores[i] < 0 ? 'neg' : 'pos'),
        });
        this.drawn[i] = 1;
      }
      cy.add(fresh);
      cy.nodes().forEach((n) => {
        n.toggleClass('out', sel.nodeIn.get(n.id()) !== true);
      });
      this.applyMarks();
      this.applyHighlight();
    });
    this.container.setAttribute('aria-label', `${this.o.label}: ${sel.nodeCount} nodes and ${sel.edges.length} edges in the circuit.`);
  }

  private applyMarks(): void {
    const m = this.marks;
    this.cy.edges().removeClass('added removed flipped same-hidden');
    this.cy.nodes().removeClass('added removed');
    if (!m) return;
    this.cy.edges().forEach((e) => {
      const mark = m.edges.get(Number(e.id().slice(1)));
      if (mark) e.addClass(mark);
      else if (m.onlyDifferences) e.addClass('same-hidden');
    });
    for (const [name, mark] of m.nodes) this.cy.getElementById(name).addClass(mark);
  }

  private applyHighlight(): void {
    const cy = this.cy;
    cy.elements().removeClass('sel path faded');
    if (this.selected === null) return;
    const node = cy.getElementById(this.selected);
    if (node.empty()) return;
    node.addClass('sel');
    const succ = node.successors();
    succ.addClass('path');
    cy.elements().difference(succ).difference(node).addClass('faded');
  }

  private setHovered(name: string | null): void {
    if (this.hovered === name) return;
    this.hovered = name;
    this.placeRing();
  }

  /**
   * The hover highlight is a DOM ring over the canvas, not a Cytoscape style: a style change repaints
   * every edge, which on a GPT-2-sized circuit more than doubles the time until the hover card shows.
   */
  private placeRing(): void {
    const node = this.hovered ? this.cy.getElementById(this.hovered) : undefined;
    if (!node || node.empty()) {
      this.ring.hidden = true;
      return;
    }
    const bb = node.renderedBoundingBox({ includeLabels: false, includeOverlays: false, includeUnderlays: false });
    const pad = 3;
    this.ring.style.left = `${bb.x1 - pad}px`;
    this.ring.style.top = `${bb.y1 - pad}px`;
    this.ring.style.width = `${bb.w + 2 * pad}px`;
    this.ring.style.height = `${bb.h + 2 * pad}px`;
    this.ring.hidden = false;
  }

  private showNodeCard(node: NodeSingular): void {
    const d = this.model.nodeDetails(node.id(), this.sel);
    if (!d) return;
    const p = node.renderedPosition();
    this.card.showNode(d, { x: p.x, y: p.y });
  }

  private showEdgeCard(edge: EdgeSingular, at: { x: number; y: number }): void {
    const i = Number(edge.id().slice(1));
    const e = this.model.graph.edges[i];
    this.card.showEdge(this.model.edgeDetails(i, this.sel), e.qkv, e.child, at);
  }

  private bindEvents(): void {
    const cy = this.cy;
    cy.on('mouseover', 'node', (ev) => {
      const n = ev.target as NodeSingular;
      this.setHovered(n.id());
      this.showNodeCard(n);
      this.o.onHover?.(n.id());
    });
    cy.on('mouseout', 'node', () => {
      this.setHovered(null);
      this.restoreCard();
      this.o.onHover?.(null);
    });
    cy.on('mouseover', 'edge', (ev) => {
      const p = ev.renderedPosition ?? { x: 0, y: 0 };
      this.showEdgeCard(ev.target as EdgeSingular, p);
    });
    cy.on('mouseout', 'edge', () => this.restoreCard());
    cy.on('tap', (ev) => {
      if (ev.target === cy) this.select(null, { notify: true });
    });
    cy.on('tap', 'node', (ev) => {
      const id = (ev.target as NodeSingular).id();
      this.select(this.selected === id ? null : id, { notify: true, card: true });
      this.container.focus({ preventScroll: true });
    });
    cy.on('viewport', () => {
      if (this.hovered) this.placeRing();
      if (this.card.visible) this.restoreCard();
      if (this.applyingViewport) return;
      this.autoFit = false;
      this.o.onViewport?.(this.viewport, false);
    });
    this.container.addEventListener('keydown', (ev) => this.onKey(ev));
    // Cytoscape sends no mouseout when the pointer leaves the canvas straight from a node.
    this.container.addEventListener('mouseleave', () => {
      if (this.hovered === null) return;
      this.setHovered(null);
      this.restoreCard();
      this.o.onHover?.(null);
    });
  }

  /** After a pointer leaves, the card goes back to the selected node, if any. */
  private restoreCard(): void {
    const keep = this.hovered ?? this.selected;
    const node = keep ? this.cy.getElementById(keep) : undefined;
    if (node && node.nonempty()) this.showNodeCard(node);
    else this.card.hide();
  }

  private onKey(ev: KeyboardEvent): void {
    const dirs: Record<string, 'up' | 'down' | 'left' | 'right'> = { ArrowUp: 'up', ArrowDown: 'down', ArrowLeft: 'left', ArrowRight: 'right' };
    const dir = dirs[ev.key];
    if (dir) {
      ev.preventDefault();
      const from = this.selected ?? this.hovered;
      const visible = (name: string) => this.sel.nodeIn.get(name) === true;
      const candidates = [...this.positions].filter(([n]) => visible(n) && n !== from);
      let next: string | undefined;
      if (from) next = neighbourInDirection(this.positions.get(from)!, dir, candidates);
      // With nothing selected yet, start where researchers read a circuit from: the logits.
      else next = visible('logits') ? 'logits' : candidates[0]?.[0];
      if (next) this.moveTo(next);
      return;
    }
    switch (ev.key) {
      case 'Enter':
        if (this.hovered) this.select(this.hovered, { notify: true, card: true });
        break;
      case 'Escape':
        if (this.selected !== null) {
          ev.stopPropagation();
          this.select(null, { notify: true });
        }
        break;
      case 'f':
      case 'F':
        this.fit();
        break;
      case '+':
      case '=':
        this.cy.zoom({ level: this.cy.zoom() * 1.25, renderedPosition: { x: this.container.clientWidth / 2, y: this.container.clientHeight / 2 } });
        break;
      case '-':
        this.cy.zoom({ level: this.cy.zoom() / 1.25, renderedPosition: { x: this.container.clientWidth / 2, y: this.container.clientHeight / 2 } });
        break;
      default:
        return;
    }
  }

  private moveTo(name: string): void {
    const node = this.cy.getElementById(name);
    this.select(name, { notify: true, card: true });
    // Keep the keyboard cursor on screen: pan only when the node left the visible area.
    const p = node.renderedPosition();
    const m = 40;
    if (p.x < m || p.y < m || p.x > this.container.clientWidth - m || p.y > this.container.clientHeight - m) {
      this.cy.animate({ center: { eles: node } }, { duration: 150 });
    }
  }

  /**
   * Reports the first frame painted after a change. The canvas renderer emits 'render' after drawing;
   * the WebGL renderer does not, so there the second animation frame stands in for it (Cytoscape's
   * own frame callback was registered first and draws in the next frame).
   */
  private whenPainted(reason: string): void {
    if (!this.o.onPainted) return;
    const done = () => requestAnimationFrame(() => this.o.onPainted?.(reason));
    if (this.renderer === 'canvas') this.cy.one('render', done);
    else requestAnimationFrame(done);
  }
}
