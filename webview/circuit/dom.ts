/**
 * Small DOM helpers. Text always goes in through textContent and attributes through setAttribute, so
 * nothing the host sends is ever parsed as HTML, and no inline style attribute is written into markup
 * (the webview's CSP has no 'unsafe-inline' for styles; CSSOM writes through `.style` stay allowed).
 */

export interface ElOptions {
  readonly cls?: string;
  readonly text?: string;
  readonly attrs?: Readonly<Record<string, string>>;
}

/** Creates an HTML element with an optional class, text and attributes, and appends the children. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, opts: ElOptions = {}, ...children: (Node | null | undefined)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (opts.cls) e.className = opts.cls;
  if (opts.text !== undefined) e.textContent = opts.text;
  for (const [k, v] of Object.entries(opts.attrs ?? {})) e.setAttribute(k, v);
  for (const c of children) if (c) e.appendChild(c);
  return e;
}

/** Creates a custom element (the vscode-* components) with attributes. */
export function custom(tag: string, attrs: Readonly<Record<string, string>> = {}, text?: string): HTMLElement {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

const svgNs = 'http://www.w3.org/2000/svg';

/** Creates an SVG element; presentation attributes are attributes, not inline styles, so CSP allows them. */
export function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Readonly<Record<string, string | number>> = {}, text?: string): SVGElementTagNameMap[K] {
  const e = document.createElementNS(svgNs, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A definition list of label/value rows; values are text only. */
export function figures(rows: readonly (readonly [string, string])[], cls = 'cs-figures'): HTMLDListElement {
  const dl = el('dl', { cls });
  for (const [k, v] of rows) {
    dl.appendChild(el('dt', { text: k }));
    dl.appendChild(el('dd', { text: v }));
  }
  return dl;
}

/** Calls `fn` at most once per animation frame with the latest argument. */
export function perFrame<T>(fn: (x: T) => void): (x: T) => void {
  let pending: { x: T } | undefined;
  return (x: T) => {
    const first = pending === undefined;
    pending = { x };
    if (first) {
      requestAnimationFrame(() => {
        const p = pending!;
        pending = undefined;
        fn(p.x);
      });
    }
  };
}

/** Calls `fn` once `ms` after the last call. */
export function debounce<T>(fn: (x: T) => void, ms: number): (x: T) => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return (x: T) => {
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      fn(x);
    }, ms);
  };
}
