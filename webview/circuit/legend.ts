/**
 * The legend, and the theme colours the page's own CSS needs. Resolved colours go into --cs-*
 * properties on #app through CSSOM (allowed by the CSP, unlike style attributes), so the legend, the
 * curve and the drift chart follow a theme switch without being rebuilt. They are set on #app, not on
 * <html>, because VS Code rewrites the variables on <html> itself.
 */
import { el } from './dom';
import type { Theme } from './theme';

export function applyThemeProperties(root: HTMLElement, t: Theme): void {
  const props: Record<string, string> = {
    '--cs-edge-q': t.edge.q,
    '--cs-edge-k': t.edge.k,
    '--cs-edge-v': t.edge.v,
    '--cs-edge-pos': t.edge.pos,
    '--cs-edge-neg': t.edge.neg,
    '--cs-role-mover': t.role.mover,
    '--cs-role-relation': t.role.relation,
    '--cs-role-mixture': t.role.mixture,
    '--cs-role-text': t.role.text,
    '--cs-node-fill': t.nodeFill,
    '--cs-node-border': t.nodeBorder,
    '--cs-diff-added': t.diff.added,
    '--cs-diff-removed': t.diff.removed,
    '--cs-diff-flipped': t.diff.flipped,
    '--cs-side-a': t.side.a,
    '--cs-side-b': t.side.b,
    '--cs-dim': t.dim,
    '--cs-pin': t.pin,
  };
  for (const [k, v] of Object.entries(props)) root.style.setProperty(k, v);
  root.dataset.theme = t.kind;
}

function item(swatchCls: string, text: string, title?: string): HTMLElement {
  return el('li', { attrs: title ? { title } : {} }, el('span', { cls: `cs-swatch ${swatchCls}`, attrs: { 'aria-hidden': 'true' } }), el('span', { text }));
}

/** The legend of a view; the compare view adds its marks. */
export function legend(opts: { compare: boolean; roles: boolean }): HTMLElement {
  const edges = el(
    'ul',
    { cls: 'cs-legend-list' },
    item('cs-sw-q', 'q (query)', "EAP-IG's #FF00FF, lightened or darkened only where it would be illegible on this theme"),
    item('cs-sw-k', 'k (key)', "EAP-IG's #00FF00, adjusted for contrast where needed"),
    item('cs-sw-v', 'v (value)', "EAP-IG's #0000FF, adjusted for contrast where needed"),
    item('cs-sw-pos', 'other, positive'),
    item('cs-sw-neg', 'other, negative'),
  );
  const parts: HTMLElement[] = [el('div', { cls: 'cs-legend-head', text: 'Edges (width ∝ |score|)' }), edges];
  if (opts.roles) {
    parts.push(
      el('div', { cls: 'cs-legend-head', text: 'Heads' }),
      el(
        'ul',
        { cls: 'cs-legend-list' },
        item('cs-sw-node cs-sw-mover', 'mover'),
        item('cs-sw-node cs-sw-relation', 'relation'),
        item('cs-sw-node cs-sw-mixture', 'mixture'),
        item('cs-sw-node', 'no role'),
        item('cs-sw-node cs-sw-out', 'not in circuit'),
      ),
    );
  }
  if (opts.compare) {
    parts.push(
      el('div', { cls: 'cs-legend-head', text: 'Compare' }),
      el(
        'ul',
        { cls: 'cs-legend-list' },
        item('cs-sw-removed', 'removed (A only)'),
        item('cs-sw-added', 'added (B only)'),
        item('cs-sw-flipped', 'sign flipped'),
      ),
    );
  }
  return el('aside', { cls: 'cs-legend', attrs: { 'aria-label': 'Legend' } }, ...parts);
}
