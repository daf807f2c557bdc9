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
import { exportSvg, type SvgExportOptions } from './svgExport';
import type { Theme } from './theme';
import { groupEdges, nodeEdges, pathThrough, representatives, superId, type ViewGroup } from './viewModel';

/** Edges shown at start from which the WebGL renderer is used, when the browser offers WebGL 2. */
export const webglMinEdges = 2000;
/** Fitting never zooms in further: 11 px labels show at about 19 px. */
export const maxFitZoom = 1.75;

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
  /** Ctrl/Cmd+click or P on a node: pin or unpin it. */
  readonly onTogglePin?: (node: string) => void;
  /** A click on a node while G is held: add it to the group being made. */
  readonly onGroupPick?: (node: string) => void;
  /** G was released (`picked`: whether nodes were clicked while it was held). */
  readonly onGroupEnd?: (picked: boolean) => void;
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

// Longer than 80 lines: Cytoscape's stylesheet is one declarative list of selectors and their styles;
// split up, a selector's look would be spread over several places.
function stylesheet(t: Theme, large: boolean): StylesheetJson {
  const arrows = !large;
  // Dimmed states change colours, not opacity: text under opacity on a black high-contrast background
  // becomes dark grey on black. Edges (no text) still fade by opacity.
  const dimmed = { 'background-color': t.background, color: t.dim, 'border-color': t.dim, opacity: 1 };
  return [
    {
      selector: 'node',
      style: {
        shape: 'round-rectangle',
        width: metrics.headWidth,
        height: metrics.height,
        'background-color': t.nodeFill,
        'border-width': t.highContrast ? 1.5 : 1,
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
    { selector: 'node.out', style: { ...dimmed, 'border-style': 'dashed' } },
    { selector: 'node.member-hidden, edge.member-hidden', style: { display: 'none' } },
    {
      selector: 'node.super',
      style: {
        shape: 'round-rectangle',
        width: 'data(w)' as unknown as number,
        height: 'data(h)' as unknown as number,
        'text-wrap': 'wrap',
        'text-max-width': 'data(w)' as unknown as string,
        'background-color': t.nodeFill,
        'border-width': 3,
        'border-style': 'double',
        'border-color': t.foreground,
        'font-weight': 'bold',
      },
    },
    {
      selector: 'edge',
      style: {
        width: penWidth(1, 0, 1),
        'line-color': t.edge.pos,
        // Haystack edges are straight lines between node centres with no control points or arrow
        // geometry to compute; a large circuit draws no arrows anyway.
        'curve-style': large ? 'haystack' : 'straight',
        'haystack-radius': 0,
        // Thousands of overlapping edges read better when each is lighter.
        opacity: large ? 0.55 : 0.8,
        'target-arrow-shape': arrows ? 'triangle' : 'none',
        'target-arrow-color': t.edge.pos,
        'arrow-scale': 0.55,
        // Cytoscape hit-tests every edge on every pointer move (over 10 ms at 8,000 edges); a large
        // circuit's edges are found by GraphView.edgeAt instead, over plain arrays.
        events: large ? 'no' : 'yes',
      },
    },
    // Pen width and z-order by |score| come in widthLevels steps, as classes: edges of one level share
    // one style, where a data mapper gave each edge a style of its own (most of a first paint's style time).
    ...Array.from({ length: widthLevels }, (_, b) => ({ selector: `edge.b${b}`, style: { width: levelWidth(b), 'z-index': b } })),
    { selector: 'edge.grouped', style: { width: 'data(w)', 'z-index': widthLevels, events: 'yes' } },
    { selector: 'edge.q', style: { 'line-color': t.edge.q, 'target-arrow-color': t.edge.q } },
    { selector: 'edge.k', style: { 'line-color': t.edge.k, 'target-arrow-color': t.edge.k } },
    { selector: 'edge.v', style: { 'line-color': t.edge.v, 'target-arrow-color': t.edge.v } },
    { selector: 'edge.neg', style: { 'line-color': t.edge.neg, 'target-arrow-color': t.edge.neg } },
    { selector: 'edge.grouped', style: { 'line-style': 'solid', 'target-arrow-shape': 'triangle' } },
    // Compare marks: removed edges dashed and lighter (WebGL draws no dashes, so opacity carries it too),
    // added edges with a thick outline, sign flips with an outline of their own colour.
    { selector: 'edge.removed', style: { 'line-style': 'dashed', 'line-dash-pattern': [6, 4], opacity: 0.7 } },
    { selector: 'edge.added', style: { 'line-outline-width': 2, 'line-outline-color': t.diff.added, opacity: 1 } },
    { selector: 'edge.flipped', style: { 'line-outline-width': 2, 'line-outline-color': t.diff.flipped, opacity: 1 } },
    { selector: 'edge.same-hidden', style: { display: 'none' } },
    { selector: 'node.removed', style: { 'border-style': 'dashed', 'border-width': 2, 'border-color': t.diff.removed } },
    { selector: 'node.added', style: { 'border-width': 4, 'border-color': t.diff.added } },
    { selector: 'node.pinned', style: { 'outline-width': 3, 'outline-color': t.pin, 'outline-offset': 2, 'outline-opacity': 1 } as never },
    // Interaction states come last so they win over the marks above.
    { selector: 'edge.faded', style: { opacity: t.highContrast ? 0.22 : 0.1 } },
    { selector: 'node.faded', style: dimmed },
    { selector: 'edge.path', style: { opacity: 1 } },
    {
      selector: 'edge.sel',
      style: { opacity: 1, 'underlay-color': t.focus, 'underlay-padding': 4, 'underlay-opacity': 0.45, 'z-index': 100 } as never,
    },
    {
      selector: 'node.sel',
      style: { 'border-width': 3, 'border-color': t.focus, 'underlay-color': t.focus, 'underlay-padding': 5, 'underlay-opacity': 0.35, opacity: 1 },
    },
    { selector: 'node.end', style: { 'border-width': 3, 'border-color': t.focus } },
  ];
}

/** Steps of pen width (and z-order) between EAP-IG's thinnest and thickest pen. */
const widthLevels = 12;
const thinnest = penWidth(0, 0, 1);
const thickest = penWidth(1, 0, 1);

/** The width level of an edge of |score| `abs`, for the in-circuit range [minAbs, maxAbs]. */
function widthLevel(abs: number, minAbs: number, maxAbs: number): number {
  return Math.round(((widthLevels - 1) * (penWidth(abs, minAbs, maxAbs) - thinnest)) / (thickest - thinnest));
}

function levelWidth(b: number): number {
  return Number((thinnest + (b * (thickest - thinnest)) / (widthLevels - 1)).toFixed(3));
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
  /** Large at start: the renderer's settings (WebGL, textures while moving, pixel ratio) are chosen once. */
  private readonly large: boolean;
  /** Large now: the stylesheet (haystack edges without arrows or events) follows the slider. */
  private largeStyle: boolean;
  private readonly positions: Map<string, Point>;
  /** 1 where the edge is drawn. */
  private drawn: Uint8Array;
  private selected: string | null = null;
  /** The selected edge, with the node the keyboard reached it from. */
  private selectedEdge: { index: number; anchor: string } | null = null;
  private hovered: string | null = null;
  /** Whether diff marks, collapsed groups or highlight classes may be on elements (each pass to undo them visits every element). */
  private marked = false;
  private collapsed = false;
  private highlighted = false;
  /** The edge under the pointer, found by edgeAt (large circuits only). */
  private hoveredEdge: number | undefined;
  /** End points of the drawn edges (model coordinates), for edgeAt: x1, y1, x2, y2 per edge of `sel.edges`. */
  private edgeEnds = new Float64Array(0);
  private marks: DiffMarks | undefined;
  private pins: ReadonlySet<string> = new Set();
  private groups: readonly ViewGroup[] = [];
  private applyingViewport = false;
  /** True until the user pans or zooms: until then a resize fits the graph again. */
  private autoFit = true;
  /** G is held: clicks add nodes to a group instead of selecting. */
  private grouping: { picked: boolean } | undefined;
  private readonly resizeObserver: ResizeObserver;
  private readonly unbind: (() => void)[] = [];

  constructor(private readonly o: GraphViewOptions) {
    this.side = o.side;
    this.model = o.model;
    this.sel = o.selection;
    this.theme = o.theme;
    this.drawn = new Uint8Array(o.model.graph.edges.length);
    this.positions = layeredPositions(o.model.graph.cfg, o.model.graph.nodes);
    this.large = o.selection.edges.length >= webglMinEdges;
    this.largeStyle = this.large;
    this.container = el('div', {
      cls: 'cs-cy',
      attrs: {
        tabindex: '0',
        role: 'application',
        'aria-roledescription': 'circuit graph',
        'aria-label': `${o.label}. ${keyHelp}`,
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
      hideEdgesOnViewport: this.large && !useWebgl,
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

  /** The selected edge's name, if an edge is selected. */
  get selectedEdgeName(): string | null {
    return this.selectedEdge ? this.model.graph.edges[this.selectedEdge.index].name : null;
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

  /** Marks the pinned nodes. */
  setPins(pins: ReadonlySet<string>): void {
    this.pins = pins;
    this.cy.batch(() => this.cy.nodes().forEach((n) => void n.toggleClass('pinned', pins.has(n.id()))));
  }

  /** Shows the groups: a collapsed group is drawn as one supernode with its members' edges merged. */
  setGroups(groups: readonly ViewGroup[]): void {
    this.groups = groups;
    this.cy.batch(() => {
      this.applyGroups();
      this.applyHighlight();
    });
  }

  applyTheme(t: Theme): void {
    this.theme = t;
    this.cy.style(stylesheet(t, this.largeStyle));
  }

  fit(): void {
    this.applyingViewport = true;
    try {
      this.cy.fit(this.cy.nodes(':visible'), 24);
      // A small circuit fitted to a large pane would show 40 px labels in boxes a third of the pane
      // wide; past maxFitZoom it stays centred at that zoom instead.
      if (this.cy.zoom() > maxFitZoom) this.cy.zoom({ level: maxFitZoom, renderedPosition: { x: this.cy.width() / 2, y: this.cy.height() / 2 } });
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
   * Selects a node and highlights every path through it, upstream to the input and downstream to the
   * logits, dimming the rest; null clears. Returns false for a name that is not a node of this graph.
   */
  select(name: string | null, opts: { notify?: boolean; center?: boolean; card?: boolean } = {}): boolean {
    const node = name === null ? undefined : this.cy.getElementById(name);
    if (name !== null && (!node || node.empty())) return false;
    this.selected = name;
    this.selectedEdge = null;
    this.cy.batch(() => this.applyHighlight());
    if (node && opts.center) {
      this.cy.animate({ center: { eles: node }, zoom: Math.max(this.cy.zoom(), 1.1) }, { duration: 180 });
    }
    if (node && opts.card) this.showNodeCard(node);
    else if (!node) this.card.hide();
    if (opts.notify) this.o.onSelect?.(name);
    return true;
  }

  /** Selects an edge (by index): it and its two end points stay lit, the card shows both ends. */
  selectEdge(index: number, anchor: string, opts: { notify?: boolean } = {}): void {
    const e = this.cy.getElementById(`e${index}`);
    if (e.empty()) return;
    this.selectedEdge = { index, anchor };
    this.selected = null;
    this.cy.batch(() => this.applyHighlight());
    this.showEdgeCard(e as EdgeSingular, e.renderedMidpoint());
    const m = e.renderedMidpoint();
    if (!this.onScreen(m)) this.cy.animate({ center: { eles: e } }, { duration: 150 });
    if (opts.notify) this.o.onSelect?.(null);
  }

  /** Shows the hover state of a node without a pointer (a synchronized hover from the other side). */
  showHover(name: string | null): void {
    this.setHovered(name);
    const node = name ? this.cy.getElementById(name) : undefined;
    if (node && node.nonempty()) this.showNodeCard(node);
    else this.card.hide();
  }

  /** Hides the hover card and ring (the pointer left the view). */
  hideHover(): void {
    this.setHovered(null);
    this.card.hide();
  }

  exportPng(): string {
    return this.cy.png({ output: 'base64uri', full: true, bg: this.theme.background, scale: 2, maxWidth: 8192, maxHeight: 8192 });
  }

  exportSvg(o: Omit<SvgExportOptions, 'background' | 'foreground' | 'fontFamily' | 'theme'>): string {
    return exportSvg(this.cy, { ...o, background: this.theme.background, foreground: this.theme.foreground, fontFamily: this.theme.fontFamily, theme: this.theme });
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

  /** Names of the nodes lit as on a path (tests). */
  litNodes(): string[] {
    return this.cy.nodes('.sel, .end').union(this.cy.nodes(':visible').not('.faded')).map((n) => n.id());
  }

  destroy(): void {
    for (const u of this.unbind) u();
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
    // A circuit that grew past (or shrank below) the large size takes the other stylesheet, so a view
    // opened small and moved to thousands of edges hovers and draws as fast as one opened large.
    const large = sel.edges.length >= webglMinEdges;
    if (large !== this.largeStyle) {
      this.largeStyle = large;
      this.cy.style(stylesheet(this.theme, large));
    }
    if (large) {
      this.edgeEnds = new Float64Array(4 * sel.edges.length);
      sel.edges.forEach((i, k) => {
        const a = this.positions.get(graph.edges[i].parent)!;
        const b = this.positions.get(graph.edges[i].child)!;
        this.edgeEnds.set([a.x, a.y, b.x, b.y], 4 * k);
      });
    }
    const cy = this.cy;
    if (this.selectedEdge && !sel.edgeIn[this.selectedEdge.index]) this.selectedEdge = null;
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
        // The width level is also the z-level: strong edges on top without a full sort in the renderer.
        const z = widthLevel(Math.abs(scores[i]), sel.minAbs, sel.maxAbs);
        const w = levelWidth(z);
        if (this.drawn[i]) {
          const e = cy.getElementById(`e${i}`);
          const was = e.data('z') as number;
          if (was !== z) e.removeClass(`b${was}`).addClass(`b${z}`).data({ w, z });
          continue;
        }
        const edge = graph.edges[i];
        fresh.push({
          group: 'edges',
          data: { id: `e${i}`, i, source: edge.parent, target: edge.child, name: edge.name, w, z },
          classes: `${edge.qkv ?? (scores[i] < 0 ? 'neg' : 'pos')} b${z}`,
        });
        this.drawn[i] = 1;
      }
      cy.add(fresh);
      cy.nodes().forEach((n) => {
        // Only real changes: a node whose classes change has its style and every connected edge's redone.
        const out = sel.nodeIn.get(n.id()) !== true;
        if (!n.hasClass('super') && n.hasClass('out') !== out) n.toggleClass('out', out);
      });
      this.applyMarks();
      this.applyGroups();
      this.applyHighlight();
    });
    this.container.setAttribute('aria-label', `${this.o.label}: ${sel.nodeCount} nodes and ${sel.edges.length} edges in the circuit. ${keyHelp}`);
  }

  private applyMarks(): void {
    const m = this.marks;
    // Each pass over every element costs tens of milliseconds on a large circuit: skip the ones with
    // nothing to undo.
    if (this.marked) {
      this.cy.edges().removeClass('added removed flipped same-hidden');
      this.cy.nodes().removeClass('added removed');
    }
    this.marked = m !== undefined;
    if (!m) return;
    this.cy.edges('[i >= 0]').forEach((e) => {
      const mark = m.edges.get(Number(e.data('i')));
      if (mark) e.addClass(mark);
      else if (m.onlyDifferences) e.addClass('same-hidden');
    });
    for (const [name, mark] of m.nodes) this.cy.getElementById(name).addClass(mark);
  }

  /** Collapsed groups: members hidden, one supernode at their centre, member edges merged into it. */
  private applyGroups(): void {
    const cy = this.cy;
    if (this.collapsed) {
      cy.remove(cy.elements('.super, .grouped'));
      cy.elements('.member-hidden').removeClass('member-hidden');
    }
    const rep = representatives(this.groups);
    this.collapsed = rep.size > 0;
    if (rep.size === 0) return;
    const { merged, replaced } = groupEdges(this.model.graph, this.model.scores, this.sel.edges, rep);
    for (const i of replaced) cy.getElementById(`e${i}`).addClass('member-hidden');
    const els: ElementDefinition[] = [];
    for (const g of new Set(rep.values())) {
      const members = g.members.filter((m) => this.positions.has(m));
      if (!members.length) continue;
      for (const m of members) cy.getElementById(m).addClass('member-hidden');
      const x = members.reduce((s, m) => s + this.positions.get(m)!.x, 0) / members.length;
      const y = members.reduce((s, m) => s + this.positions.get(m)!.y, 0) / members.length;
      const label = `${g.label} (${members.length})`;
      // As wide as its members' row (at least an end node), the label wrapped inside: a supernode of
      // one or two heads then covers no neighbour.
      const xs = members.map((m) => this.positions.get(m)!.x);
      const w = Math.max(metrics.endWidth, Math.min(7 * label.length + 12, Math.max(...xs) - Math.min(...xs) + metrics.headWidth));
      const lines = Math.ceil((7 * label.length) / (w - 10));
      els.push({ group: 'nodes', data: { id: superId(g), label, w, h: metrics.height + 6 + 13 * (lines - 1), members }, position: { x, y }, classes: 'super' });
    }
    const maxAbs = Math.max(this.sel.maxAbs, ...merged.map((m) => m.abs));
    for (const m of merged) {
      els.push({
        group: 'edges',
        data: { id: m.id, i: -1, source: m.source, target: m.target, name: `${m.source} → ${m.target}`, w: penWidth(m.abs, 0, maxAbs), z: widthLevels, score: m.score, count: m.count },
        classes: `grouped ${m.score < 0 ? 'neg' : 'pos'}`,
      });
    }
    cy.add(els);
    if (this.pins.size) this.setPins(this.pins);
  }

  private applyHighlight(): void {
    const cy = this.cy;
    if (this.highlighted) cy.elements().removeClass('sel path faded end');
    this.highlighted = this.selectedEdge !== null || this.selected !== null;
    if (this.selectedEdge) {
      const e = cy.getElementById(`e${this.selectedEdge.index}`);
      if (e.empty()) return;
      e.addClass('sel');
      e.connectedNodes().addClass('end');
      cy.elements().difference(e).difference(e.connectedNodes()).addClass('faded');
      return;
    }
    if (this.selected === null) return;
    let node = cy.getElementById(this.selected);
    if (node.empty()) return;
    // A selected node inside a collapsed group is shown through its supernode.
    const group = node.hasClass('member-hidden') ? representatives(this.groups).get(this.selected) : undefined;
    if (group) node = cy.getElementById(superId(group));
    node.addClass('sel');
    if (node.hasClass('super')) {
      const around = node.closedNeighborhood();
      around.addClass('path');
      cy.elements().difference(around).addClass('faded');
      return;
    }
    // Both directions: what feeds the node (to the input) and what it feeds (to the logits).
    const { edges, nodes } = pathThrough(this.model.graph, this.sel.edgeIn, this.selected);
    const lit = cy.collection();
    for (const i of edges) lit.merge(cy.getElementById(`e${i}`));
    for (const n of nodes) lit.merge(cy.getElementById(n));
    lit.addClass('path');
    cy.elements().difference(lit).difference(node).addClass('faded');
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
    const p = node.renderedPosition();
    if (node.hasClass('super')) {
      const members = (node.data('members') as string[]) ?? [];
      this.card.showGroup(String(node.data('label')), members, node.connectedEdges().length, { x: p.x, y: p.y });
      return;
    }
    const d = this.model.nodeDetails(node.id(), this.sel);
    if (!d) return;
    this.card.showNode(d, { x: p.x, y: p.y }, this.pins.has(d.name));
  }

  private showEdgeCard(edge: EdgeSingular, at: { x: number; y: number }): void {
    const i = Number(edge.data('i'));
    if (!(i >= 0)) {
      this.card.showMergedEdge(String(edge.data('name')), Number(edge.data('score')), Number(edge.data('count')), at);
      return;
    }
    const e = this.model.graph.edges[i];
    const ends = [e.parent, e.child].map((n) => this.model.nodeDetails(n, this.sel)).filter((d) => d !== undefined);
    this.card.showEdge(this.model.edgeDetails(i, this.sel), e.qkv, e.child, at, ends);
  }

  /**
   * The drawn edge nearest to a point of the container (rendered pixels) within Cytoscape's own
   * tolerance (half its width plus 8 px), topmost (strongest) first on ties; hidden edges (collapsed
   * group members, same-on-both-sides edges) are skipped. For large circuits, whose edges take no
   * Cytoscape events.
   */
  private edgeAt(rx: number, ry: number): EdgeSingular | undefined {
    const zoom = this.cy.zoom();
    const pan = this.cy.pan();
    const x = (rx - pan.x) / zoom;
    const y = (ry - pan.y) / zoom;
    const tol = 8 / zoom;
    const ends = this.edgeEnds;
    const found: { k: number; d: number }[] = [];
    for (let k = 0; k < this.sel.edges.length; k++) {
      const x1 = ends[4 * k];
      const y1 = ends[4 * k + 1];
      const x2 = ends[4 * k + 2];
      const y2 = ends[4 * k + 3];
      // Bounding-box rejection first: most edges are nowhere near the pointer.
      const reach = tol + 3;
      if (x < Math.min(x1, x2) - reach || x > Math.max(x1, x2) + reach || y < Math.min(y1, y2) - reach || y > Math.max(y1, y2) + reach) continue;
      const dx = x2 - x1;
      const dy = y2 - y1;
      const len2 = dx * dx + dy * dy;
      const t = len2 > 0 ? Math.max(0, Math.min(1, ((x - x1) * dx + (y - y1) * dy) / len2)) : 0;
      const d = Math.hypot(x - (x1 + t * dx), y - (y1 + t * dy));
      if (d <= reach) found.push({ k, d });
    }
    found.sort((a, b) => a.d - b.d);
    for (const { k, d } of found) {
      const e = this.cy.getElementById(`e${this.sel.edges[k]}`);
      if (e.empty() || !e.visible()) continue;
      if (d <= e.numericStyle('width') / 2 + tol) return e as EdgeSingular;
    }
    return undefined;
  }

  /** Pointer moves over a large circuit: the edge under the pointer, when no node is, gets the hover card. */
  private trackEdgeHover(ev: MouseEvent): void {
    if (this.hovered) return;
    const r = this.container.getBoundingClientRect();
    const at = { x: ev.clientX - r.left, y: ev.clientY - r.top };
    const e = this.edgeAt(at.x, at.y);
    const i = e ? Number(e.data('i')) : undefined;
    if (i === this.hoveredEdge) return;
    this.hoveredEdge = i;
    if (e) this.showEdgeCard(e, at);
    else this.restoreCard();
  }

  private onScreen(p: { x: number; y: number }, m = 40): boolean {
    return p.x >= m && p.y >= m && p.x <= this.container.clientWidth - m && p.y <= this.container.clientHeight - m;
  }

  // Longer than 80 lines: one handler per Cytoscape, pointer and keyboard event of the graph, each a
  // few lines, registered together so that every input the graph reacts to is listed in one place.
  private bindEvents(): void {
    const cy = this.cy;
    const enter = (n: NodeSingular) => {
      this.hoveredEdge = undefined;
      this.setHovered(n.id());
      this.showNodeCard(n);
      this.o.onHover?.(n.id());
    };
    cy.on('mouseover', 'node', (ev) => enter(ev.target as NodeSingular));
    // Cytoscape still counts a node as hovered after the pointer left the canvas straight from it, so
    // coming back onto the same node sends no mouseover; the first move over it stands in.
    cy.on('mousemove', 'node', (ev) => {
      if (this.hovered !== (ev.target as NodeSingular).id()) enter(ev.target as NodeSingular);
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
      if (ev.target !== cy) return;
      // A large circuit's edges take no Cytoscape events: a tap on one lands on the background.
      const e = this.largeStyle ? this.edgeAt(ev.renderedPosition.x, ev.renderedPosition.y) : undefined;
      const i = e ? Number(e.data('i')) : -1;
      if (i >= 0) {
        this.selectEdge(i, this.model.graph.edges[i].child, { notify: true });
        this.container.focus({ preventScroll: true });
      } else this.select(null, { notify: true });
    });
    const move = (ev: MouseEvent) => {
      if (this.largeStyle) this.trackEdgeHover(ev);
    };
    this.container.addEventListener('mousemove', move);
    this.unbind.push(() => this.container.removeEventListener('mousemove', move));
    cy.on('tap', 'node', (ev) => {
      const id = (ev.target as NodeSingular).id();
      const oe = ev.originalEvent as MouseEvent | undefined;
      if (this.grouping && !id.startsWith('group:')) {
        this.grouping.picked = true;
        this.o.onGroupPick?.(id);
      } else if (oe && (oe.ctrlKey || oe.metaKey) && !id.startsWith('group:')) {
        this.o.onTogglePin?.(id);
      } else {
        this.select(this.selected === id ? null : id, { notify: true, card: true });
      }
      this.container.focus({ preventScroll: true });
    });
    cy.on('tap', 'edge', (ev) => {
      const e = ev.target as EdgeSingular;
      const i = Number(e.data('i'));
      if (i >= 0) this.selectEdge(i, this.model.graph.edges[i].child, { notify: true });
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
    // Cytoscape sends no mouseout when the pointer leaves the canvas straight from a node; the card
    // goes with the pointer, so it never stays over the graph (or outside the webview) on its own.
    this.container.addEventListener('mouseleave', () => {
      this.hoveredEdge = undefined;
      this.setHovered(null);
      this.card.hide();
      this.o.onHover?.(null);
    });
    // G held anywhere in the view (not in a text field) turns clicks into group picks.
    const typing = (ev: KeyboardEvent) => {
      const t = ev.target as HTMLElement | null;
      return !!t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName.startsWith('VSCODE-TEXT'));
    };
    const down = (ev: KeyboardEvent) => {
      if ((ev.key === 'g' || ev.key === 'G') && !ev.repeat && !ev.ctrlKey && !ev.metaKey && !ev.altKey && !typing(ev)) this.grouping = { picked: false };
    };
    const up = (ev: KeyboardEvent) => {
      if ((ev.key === 'g' || ev.key === 'G') && this.grouping) {
        const picked = this.grouping.picked;
        this.grouping = undefined;
        // From the keyboard (nothing clicked), G adds the selected node.
        if (!picked && this.selected && !this.selected.startsWith('group:')) this.o.onGroupPick?.(this.selected);
        this.o.onGroupEnd?.(picked || !!this.selected);
      }
    };
    const blur = () => {
      this.grouping = undefined;
      this.hideHover();
    };
    document.addEventListener('keydown', down);
    document.addEventListener('keyup', up);
    window.addEventListener('blur', blur);
    this.unbind.push(
      () => document.removeEventListener('keydown', down),
      () => document.removeEventListener('keyup', up),
      () => window.removeEventListener('blur', blur),
    );
  }

  /** After a pointer leaves an element inside the graph, the card goes back to the selection, if any. */
  private restoreCard(): void {
    if (this.selectedEdge && !this.hovered) {
      const e = this.cy.getElementById(`e${this.selectedEdge.index}`);
      if (e.nonempty()) {
        this.showEdgeCard(e as EdgeSingular, e.renderedMidpoint());
        return;
      }
    }
    const keep = this.hovered ?? this.selected;
    const node = keep ? this.cy.getElementById(keep) : undefined;
    if (node && node.nonempty()) this.showNodeCard(node);
    else this.card.hide();
  }

  /** Steps through the selected node's edges (incoming, then outgoing, strongest first). */
  private stepEdge(delta: 1 | -1): void {
    const anchor = this.selectedEdge?.anchor ?? this.selected;
    if (!anchor || anchor.startsWith('group:')) return;
    const list = nodeEdges(this.model.graph, this.model.scores, this.sel.edgeIn, anchor).filter((i) => !this.cy.getElementById(`e${i}`).hasClass('member-hidden'));
    if (!list.length) return;
    const at = this.selectedEdge ? list.indexOf(this.selectedEdge.index) : -1;
    const next = at < 0 ? (delta > 0 ? 0 : list.length - 1) : (at + delta + list.length) % list.length;
    this.selectEdge(list[next], anchor, { notify: true });
  }

  /** Up follows the strongest outgoing edge (toward the logits), down the strongest incoming one. */
  private follow(from: string, dir: 'up' | 'down'): string | undefined {
    const g = this.model.graph;
    const list = (dir === 'up' ? g.childEdges.get(from) : g.parentEdges.get(from)) ?? [];
    let best: number | undefined;
    for (const i of list) if (this.sel.edgeIn[i] && (best === undefined || Math.abs(this.model.scores[i]) > Math.abs(this.model.scores[best]))) best = i;
    if (best === undefined) return undefined;
    return dir === 'up' ? g.edges[best].child : g.edges[best].parent;
  }

  private onKey(ev: KeyboardEvent): void {
    const dirs: Record<string, 'up' | 'down' | 'left' | 'right'> = { ArrowUp: 'up', ArrowDown: 'down', ArrowLeft: 'left', ArrowRight: 'right' };
    const dir = dirs[ev.key];
    if (dir) {
      ev.preventDefault();
      const from = this.selected ?? this.selectedEdge?.anchor ?? this.hovered;
      const visible = (name: string) => this.sel.nodeIn.get(name) === true && !this.cy.getElementById(name).hasClass('member-hidden');
      const candidates = [...this.positions].filter(([n]) => visible(n) && n !== from);
      let next: string | undefined;
      if (from && this.positions.has(from)) {
        if (dir === 'up' || dir === 'down') next = this.follow(from, dir);
        next ??= neighbourInDirection(this.positions.get(from)!, dir, candidates);
      }
      // With nothing selected yet, start where researchers read a circuit from: the logits.
      else next = visible('logits') ? 'logits' : candidates[0]?.[0];
      if (next) this.moveTo(next);
      return;
    }
    switch (ev.key) {
      case ']':
      case '.':
        ev.preventDefault();
        this.stepEdge(1);
        break;
      case '[':
      case ',':
        ev.preventDefault();
        this.stepEdge(-1);
        break;
      case 'Enter':
        if (this.selectedEdge) {
          // Follows the edge to its other end.
          const e = this.model.graph.edges[this.selectedEdge.index];
          this.moveTo(this.selectedEdge.anchor === e.child ? e.parent : e.child);
        } else if (this.hovered) this.select(this.hovered, { notify: true, card: true });
        break;
      case 'Escape':
        if (this.selected !== null || this.selectedEdge !== null) {
          ev.stopPropagation();
          this.select(null, { notify: true });
        }
        break;
      case 'p':
      case 'P':
        if (this.selected && !this.selected.startsWith('group:')) this.o.onTogglePin?.(this.selected);
        break;
      case 'f':
      case 'F':
        this.fit();
        break;
      case '+':
      case '=':
        this.zoomBy(1.25);
        break;
      case '-':
        this.zoomBy(1 / 1.25);
        break;
      default:
        return;
    }
  }

  /** Zooms about the selection (node or edge), else about the centre of the view. */
  private zoomBy(f: number): void {
    let at = { x: this.container.clientWidth / 2, y: this.container.clientHeight / 2 };
    const sel = this.selectedEdge ? this.cy.getElementById(`e${this.selectedEdge.index}`) : this.selected ? this.cy.getElementById(this.selected) : undefined;
    if (sel && sel.nonempty()) {
      const p = sel.isEdge() ? (sel as EdgeSingular).renderedMidpoint() : (sel as NodeSingular).renderedPosition();
      if (this.onScreen(p, 0)) at = p;
      else {
        this.cy.center(sel);
        at = { x: this.container.clientWidth / 2, y: this.container.clientHeight / 2 };
      }
    }
    this.cy.zoom({ level: this.cy.zoom() * f, renderedPosition: at });
  }

  private moveTo(name: string): void {
    const node = this.cy.getElementById(name);
    this.select(name, { notify: true, card: true });
    // Keep the keyboard cursor on screen: pan only when the node left the visible area.
    if (!this.onScreen(node.renderedPosition())) this.cy.animate({ center: { eles: node } }, { duration: 150 });
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

/** The keys of the graph, for its accessible name and the hint line under it. */
export const keyHelp =
  'Arrow up/down follow the strongest edge toward the logits/input, left/right move along the layer; ] and [ step through the selected node’s edges, Enter follows an edge; P pins; hold G and click to group; F fits; + and − zoom about the selection; Escape clears.';
