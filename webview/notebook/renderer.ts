/**
 * The notebook renderer (dist/webview/notebook.js, package.json's `contributes.notebookRenderer`): a
 * notebook output of the circuit MIME type (src/shared/circuitView.ts) is drawn with the circuit view
 * of webview/circuit, the same graph, size slider, tracing, hover cards, pins and groups, inside the
 * output element. It needs no extension host: nothing is posted (the actions layer stays unbound), each
 * output's UI state lives in memory for as long as the notebook is open, and everything it loads is
 * bundled (its stylesheet is notebook.css beside this module). Bad data gets a message in the output.
 */
import '../circuit/circuit.css';
import './notebook.css';
import { notebookCircuitView } from '../../src/shared/circuitView';
import { el } from '../circuit/dom';
import { applyThemeProperties } from '../circuit/legend';
import { SingleView } from '../circuit/singleView';
import { StateStore, type PersistedState } from '../circuit/state';
import { readTheme, watchTheme } from '../circuit/theme';

/** The parts of VS Code's notebook renderer API (its `vscode-notebook-renderer` contract) used here. */
interface OutputItem {
  readonly id: string;
  readonly mime: string;
  text(): string;
}

interface OutputRenderer {
  renderOutputItem(item: OutputItem, element: HTMLElement, signal: AbortSignal): Promise<void>;
  disposeOutputItem(id?: string): void;
}

/** Views drawn now, by output id. */
const shown = new Map<string, { dispose(): void }>();
/** The view of each output's root element, for the key handler. */
const views = new WeakMap<Element, SingleView>();
/** Each output's UI intent (N, selection, zoom), kept when VS Code re-renders the output. */
const states = new Map<string, PersistedState>();

let stylesheet: Promise<void> | undefined;

/**
 * Links notebook.css into the page once and resolves when it has loaded: Cytoscape measures its
 * container when the view is built, so the view must not be built before its sizes apply.
 */
function loadStylesheet(): Promise<void> {
  stylesheet ??= new Promise<void>((resolve, reject) => {
    const link = document.createElement('link');
    link.rel = 'stylesheet';
    link.href = new URL('notebook.css', import.meta.url).href;
    link.addEventListener('load', () => resolve());
    link.addEventListener('error', () => reject(new Error(`the renderer's stylesheet ${link.href} did not load; reinstall the Circuitscope extension`)));
    document.head.appendChild(link);
  });
  return stylesheet;
}

/** Replaces the output with a message that says what is wrong and what to do. */
function showProblem(element: HTMLElement, message: string): void {
  element.replaceChildren(
    el(
      'div',
      { cls: 'cs-notebook-problem', attrs: { role: 'alert' } },
      el('strong', { text: 'Circuitscope cannot show this circuit. ' }),
      el('span', { cls: 'cs-notebook-problem-text', text: message }),
    ),
  );
}

function dispose(id: string): void {
  shown.get(id)?.dispose();
  shown.delete(id);
}

function render(item: OutputItem, element: HTMLElement): void {
  const data = notebookCircuitView(item.text());
  const root = el('div', { cls: 'cs-root cs-notebook', attrs: { 'aria-label': `Circuit: ${data.title}` } });
  element.replaceChildren(root);
  let theme = readTheme();
  applyThemeProperties(root, theme);
  let state = states.get(item.id);
  const store = new StateStore({
    getState: () => state,
    setState: (s) => {
      state = s;
      if (s) states.set(item.id, s);
      return s;
    },
  });
  const view = new SingleView(root, data, theme, store);
  const unwatch = watchTheme((t) => {
    theme = t;
    applyThemeProperties(root, t);
    view.applyTheme(t);
  });
  views.set(root, view);
  // The circuit webview's page hides the card when the pointer leaves the page; here, the output.
  root.addEventListener('mouseleave', () => view.graph('single')?.hideHover());
  shown.set(item.id, {
    dispose: () => {
      unwatch();
      view.destroy();
      root.remove();
    },
  });
}

/**
 * VS Code forwards every key pressed in an output to the workbench (a listener on the window), where
 * the notebook's keybindings act on it: Enter edits the cell, so a search typed in the view would end
 * in the cell's editor. Keys pressed in a view stop at the document, where the view's own listeners
 * have run; keys with Ctrl, Alt or Meta, function keys and Tab go on, so workbench shortcuts still work,
 * and so does Escape when the view has no selection to clear (it then leaves the output).
 */
function keepViewKeys(ev: KeyboardEvent): void {
  const root = ev.composedPath().find((t): t is HTMLElement => t instanceof HTMLElement && t.classList.contains('cs-notebook'));
  const view = root && views.get(root);
  if (!view || ev.ctrlKey || ev.altKey || ev.metaKey || ev.key === 'Tab' || /^F\d+$/.test(ev.key)) return;
  if (ev.key === 'Escape') {
    const graph = view.graph('single');
    if (ev.type !== 'keydown' || ev.defaultPrevented || !graph || (graph.selectedNode === null && graph.selectedEdgeName === null)) return;
    view.clearSelection();
  }
  ev.stopPropagation();
}

export function activate(): OutputRenderer {
  document.addEventListener('keydown', keepViewKeys);
  document.addEventListener('keyup', keepViewKeys);
  return {
    async renderOutputItem(item, element, signal) {
      dispose(item.id);
      try {
        await loadStylesheet();
        if (signal.aborted) return;
        render(item, element);
      } catch (e) {
        dispose(item.id);
        showProblem(element, e instanceof Error ? e.message : String(e));
      }
    },
    disposeOutputItem(id) {
      if (id !== undefined) return dispose(id);
      for (const k of [...shown.keys()]) dispose(k);
    },
  };
}
