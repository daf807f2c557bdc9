/**
 * Entry of the circuit webview (dist/webview/circuit.js). It owns the message loop: the host sends
 * ToWebview messages, this module builds the circuit or compare view, and everything sent back goes
 * through actions.ts. UI intent (top-N, selection, zoom and pan) survives reloads through setState;
 * data does not, because the host re-sends it after 'ready'.
 */
import './page.css';
import './circuit.css';
import { assertNever, type ExportFormat, type ToWebview, type ViewSide } from '../../src/shared/webviewProtocol';
import { actions, bindActions } from './actions';
import { CompareView } from './compareView';
import { el } from './dom';
import { allowSoftwareWebgl } from './graphView';
import { applyThemeProperties } from './legend';
import { SingleView } from './singleView';
import { StateStore, type PersistedState } from './state';
import { svgToPng } from './svgExport';
import { readTheme, watchTheme } from './theme';

const vscode = acquireVsCodeApi<PersistedState>();
bindActions(vscode);
const store = new StateStore(vscode);

const app = document.getElementById('app') ?? document.body.appendChild(el('div', { attrs: { id: 'app' } }));
app.classList.add('cs-root');
const banner = el('div', { cls: 'cs-banner' });
const viewRoot = el('div', { cls: 'cs-view' }, el('p', { cls: 'cs-waiting', text: 'Waiting for circuit data…' }));
app.replaceChildren(banner, viewRoot);

let theme = readTheme();
applyThemeProperties(app, theme);
let view: SingleView | CompareView | undefined;

watchTheme((t) => {
  theme = t;
  applyThemeProperties(app, t);
  view?.applyTheme(t);
});

function showError(message: string): void {
  const close = el('button', { cls: 'cs-banner-close', text: '×', attrs: { type: 'button', 'aria-label': 'Dismiss' } });
  const item = el('div', { cls: 'cs-error', attrs: { role: 'alert' } }, el('span', { text: message }), close);
  close.addEventListener('click', () => item.remove());
  banner.replaceChildren(item);
}

/**
 * Answers an export request. PNG and SVG are the same picture: the whole graph with its title,
 * provenance and N, arrowheads and the legend; the PNG is the SVG rasterized.
 */
async function exportView(format: ExportFormat, side: ViewSide): Promise<void> {
  const graph = view?.graph(side);
  if (!view || !graph) {
    actions.log('warn', `export of side '${side}' requested, but the view shows ${view ? 'other sides' : 'nothing yet'}`);
    return;
  }
  const svgText = graph.exportSvg({ title: view.title(side), subtitle: view.subtitle(side), roles: view.hasRoles(), compare: view instanceof CompareView });
  switch (format) {
    case 'png':
      try {
        actions.exported('png', side, await svgToPng(svgText));
      } catch (e) {
        // The canvas snapshot is the fallback: it lacks the title and legend but is never empty.
        actions.log('warn', `PNG from SVG failed (${e instanceof Error ? e.message : String(e)}); sending the canvas image`);
        actions.exported('png', side, graph.exportPng());
      }
      break;
    case 'svg':
      actions.exported('svg', side, svgText);
      break;
    default:
      assertNever(format);
  }
}

/** Handles one host message; every message type has a case, so a new one fails to compile here. */
function handle(msg: ToWebview): void {
  switch (msg.type) {
    case 'showCircuit':
      view?.destroy();
      banner.replaceChildren();
      view = undefined;
      view = new SingleView(viewRoot, msg.circuit, theme, store, msg.saved);
      break;
    case 'showCompare':
      view?.destroy();
      banner.replaceChildren();
      view = undefined;
      view = new CompareView(viewRoot, msg.a, msg.b, msg.drift, theme, store);
      break;
    case 'requestExport':
      void exportView(msg.format, msg.side);
      break;
    case 'error':
      showError(msg.message);
      break;
    default:
      assertNever(msg);
  }
}

window.addEventListener('message', (ev: MessageEvent<unknown>) => {
  const msg = ev.data;
  // The host is trusted, but a message without a string tag cannot be dispatched at all.
  if (typeof msg !== 'object' || msg === null || typeof (msg as { type?: unknown }).type !== 'string') {
    actions.log('warn', `dropped a message without a type: ${String(msg).slice(0, 200)}`);
    return;
  }
  try {
    handle(msg as ToWebview);
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    showError(text);
    actions.log('error', err instanceof Error && err.stack ? err.stack : text);
  }
});

document.addEventListener('keydown', (ev) => {
  if (ev.key === 'Escape' && !ev.defaultPrevented) view?.clearSelection();
});
// The hover card goes with the pointer when it leaves the webview.
document.documentElement.addEventListener('mouseleave', () => {
  for (const side of ['single', 'a', 'b'] as const) view?.graph(side)?.hideHover();
});

/** What the test harness and the render bench read; installed only when the harness asks for it. */
interface TestHooks {
  nodePosition?: (side: ViewSide, node: string) => { x: number; y: number } | undefined;
  edgeMidpoint?: (side: ViewSide, edge: string) => { x: number; y: number } | undefined;
  selected?: (side: ViewSide) => string | null | undefined;
  viewport?: (side: ViewSide) => { zoom: number; pan: { x: number; y: number } } | undefined;
  renderer?: (side: ViewSide) => string | undefined;
  edgeCount?: (side: ViewSide) => number | undefined;
  circuitNodes?: (side: ViewSide) => string[];
  /** Nodes not dimmed by the selection (the traced paths). */
  litNodes?: (side: ViewSide) => string[];
  selectedEdge?: (side: ViewSide) => string | null | undefined;
  pins?: (side: ViewSide) => readonly string[] | undefined;
  /** Set by the harness before load: use WebGL even when it is software-rendered. */
  forceWebgl?: boolean;
}
const hooks = (window as unknown as { __circuitscopeTest?: TestHooks }).__circuitscopeTest;
if (hooks) {
  if (hooks.forceWebgl) allowSoftwareWebgl();
  hooks.nodePosition = (side, node) => view?.graph(side)?.clientPosition(node);
  hooks.edgeMidpoint = (side, edge) => view?.graph(side)?.clientEdgeMidpoint(edge);
  hooks.selected = (side) => view?.graph(side)?.selectedNode;
  hooks.viewport = (side) => view?.graph(side)?.viewport;
  hooks.renderer = (side) => view?.graph(side)?.renderer;
  hooks.edgeCount = (side) => view?.graph(side)?.cy.edges().length;
  hooks.litNodes = (side) => view?.graph(side)?.litNodes() ?? [];
  hooks.selectedEdge = (side) => view?.graph(side)?.selectedEdgeName;
  hooks.pins = (side) => (view instanceof SingleView && side === 'single' ? view.pane.pinned : undefined);
  hooks.circuitNodes = (side) => {
    const s = view?.graph(side)?.selection;
    return s ? [...s.nodeIn].filter(([, v]) => v).map(([n]) => n) : [];
  };
}

actions.ready();
