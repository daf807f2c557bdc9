/**
 * The view toolbar: node search, fit and clear. Only the vscode-* components used here are imported,
 * each from its own module, so the bundle carries nothing else of @vscode-elements/elements.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import type { VscodeCheckbox } from '@vscode-elements/elements/dist/vscode-checkbox/vscode-checkbox.js';
import type { VscodeTextfield } from '@vscode-elements/elements/dist/vscode-textfield/vscode-textfield.js';
import { custom, el } from './dom';
import { normaliseNodeQuery } from './nodeQuery';

export interface ToolbarOptions {
  /** Returns a message for the status line; '' when the node was found. */
  readonly onFind: (node: string) => string;
  readonly onFit: () => void;
  readonly onClear: () => void;
  readonly onStatus: (text: string) => void;
  /** Extra toggles (the compare view's), as [label, initial, onChange]. */
  readonly toggles?: readonly (readonly [string, boolean, (checked: boolean) => void])[];
}

export function toolbar(o: ToolbarOptions): HTMLElement {
  const search = custom('vscode-textfield', { placeholder: 'Find node: a3.h7, m2, logits', 'aria-label': 'Find node by name', class: 'cs-search' }) as VscodeTextfield;
  search.addEventListener('keydown', (ev: KeyboardEvent) => {
    if (ev.key !== 'Enter') return;
    ev.preventDefault();
    const q = search.value;
    const name = normaliseNodeQuery(q);
    const msg = name === undefined ? `'${q.trim()}' is not a node name; try a3.h7, m2, input or logits.` : o.onFind(name);
    search.invalid = msg !== '';
    o.onStatus(msg || `Found ${name}.`);
  });
  search.addEventListener('input', () => (search.invalid = false));
  const fit = custom('vscode-button', { secondary: '', title: 'Fit the whole graph in view (F)' }, 'Fit');
  fit.addEventListener('click', () => o.onFit());
  const clear = custom('vscode-button', { secondary: '', title: 'Clear the selection (Escape)' }, 'Clear selection');
  clear.addEventListener('click', () => o.onClear());
  const bar = el('div', { cls: 'cs-toolbar', attrs: { role: 'toolbar', 'aria-label': 'Graph tools' } }, search, fit, clear);
  for (const [label, initial, onChange] of o.toggles ?? []) {
    const cb = custom('vscode-checkbox', { label }) as VscodeCheckbox;
    cb.checked = initial;
    cb.addEventListener('change', () => onChange(cb.checked));
    bar.appendChild(cb);
  }
  return bar;
}
