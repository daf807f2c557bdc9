/**
 * The detail card shown for the node or edge under the pointer (or the node selected with the
 * keyboard), in the manner of Neuronpedia's hover pane. Everything is rendered with textContent:
 * token strings come from a model's vocabulary and may contain anything.
 */
import type { NodeId, Qkv } from '../../src/shared/circuit';
import { el } from './dom';
import { formatCount, formatFixed, formatScore } from './format';
import type { EdgeDetails, NodeDetails } from './model';
import { visibleToken } from './viewModel';

let cardIds = 0;

function kindLabel(id: NodeId): string {
  switch (id.kind) {
    case 'input':
      return 'input (token and position embeddings)';
    case 'attn':
      return 'attention head';
    case 'mlp':
      return 'MLP';
    case 'logits':
      return 'logits';
  }
}

const qkvLabel: Record<Qkv, string> = { q: 'query', k: 'key', v: 'value' };

export class HoverCard {
  readonly element: HTMLDivElement;
  /** What the card shows now, so a synchronized hover can tell whether to redraw. */
  private shown: string | undefined;

  constructor(private readonly host: HTMLElement) {
    this.element = el('div', { cls: 'cs-card', attrs: { id: `cs-card-${++cardIds}`, role: 'status', 'aria-live': 'polite' } });
    this.element.hidden = true;
    host.appendChild(this.element);
  }

  get visible(): boolean {
    return !this.element.hidden;
  }

  get subject(): string | undefined {
    return this.visible ? this.shown : undefined;
  }

  showNode(d: NodeDetails, at: { x: number; y: number }, pinned = false): void {
    const rows: [string, string][] = [['Kind', kindLabel(d.id)]];
    if (d.id.kind === 'attn' || d.id.kind === 'mlp') rows.push(['Layer', String(d.id.layer)]);
    if (d.id.kind === 'attn') rows.push(['Head', String(d.id.head)]);
    rows.push(['In circuit', d.inCircuit ? 'yes' : 'no']);
    if (pinned) rows.push(['Pinned', 'yes (P or Ctrl/Cmd+click unpins)']);
    if (d.id.kind !== 'input') rows.push(['Incoming', `${formatCount(d.inEdges)} edges, Σ|score| ${formatScore(d.inAbs)}`]);
    if (d.id.kind !== 'logits') rows.push(['Outgoing', `${formatCount(d.outEdges)} edges, Σ|score| ${formatScore(d.outAbs)}`]);
    rows.push(['Σ|score| of circuit edges', formatScore(d.inAbs + d.outAbs)]);
    const body: Node[] = [this.table(rows)];
    const h = d.head;
    if (h) {
      const headRows: [string, string][] = [];
      if (h.role) headRows.push(['Role', `${h.role} head`]);
      if (h.ratio !== undefined) headRows.push(['Ratio subject / relation', formatFixed(h.ratio, 2)]);
      if (h.attnSubj !== undefined) headRows.push(['Attention to subject', formatFixed(h.attnSubj, 3)]);
      if (h.attnRel !== undefined) headRows.push(['Attention to relation', formatFixed(h.attnRel, 3)]);
      if (headRows.length) body.push(this.table(headRows));
      if (h.promotes?.length) body.push(this.tokens('Promotes', h.promotes, 'cs-tok-promote'));
      if (h.suppresses?.length) body.push(this.tokens('Suppresses', h.suppresses, 'cs-tok-suppress'));
    }
    const title = el('div', { cls: 'cs-card-title' }, el('span', { cls: 'cs-card-name', text: d.name }));
    if (h?.role) title.appendChild(el('span', { cls: `cs-role-chip cs-role-${h.role}`, text: h.role }));
    this.render(`node:${d.name}`, title, body, at);
  }

  showEdge(d: EdgeDetails, qkv: Qkv | undefined, child: string, at: { x: number; y: number }, ends: readonly NodeDetails[] = []): void {
    const rows: [string, string][] = [
      ['Score', formatScore(d.score)],
      ['Rank by |score|', d.rank ? `${formatCount(d.rank)} of ${formatCount(d.scored)}` : 'unscored'],
      ['Into', qkv ? `${qkvLabel[qkv]} input of ${child}` : child],
      ['In circuit', d.inCircuit ? 'yes' : 'no'],
    ];
    const body: Node[] = [this.table(rows)];
    // The end points' details, so a selected edge tells what it connects.
    for (const [label, e] of ends.map((x, i) => [i === 0 ? 'From' : 'To', x] as const)) {
      const r: [string, string][] = [[label, `${e.name} (${kindLabel(e.id)}${e.head?.role ? `, ${e.head.role} head` : ''})`]];
      r.push(['  edges in / out', `${formatCount(e.inEdges)} / ${formatCount(e.outEdges)}, Σ|score| ${formatScore(e.inAbs)} / ${formatScore(e.outAbs)}`]);
      body.push(this.table(r));
    }
    const title = el('div', { cls: 'cs-card-title' }, el('span', { cls: 'cs-card-name', text: d.name }));
    this.render(`edge:${d.index}`, title, body, at);
  }

  /** A collapsed group (supernode). */
  showGroup(label: string, members: readonly string[], edges: number, at: { x: number; y: number }): void {
    const rows: [string, string][] = [
      ['Kind', 'group (supernode)'],
      ['Members', members.length <= 12 ? members.join(', ') : `${members.slice(0, 12).join(', ')} and ${members.length - 12} more`],
      ['Merged edges', formatCount(edges)],
    ];
    const title = el('div', { cls: 'cs-card-title' }, el('span', { cls: 'cs-card-name', text: label }));
    this.render(`group:${label}`, title, [this.table(rows)], at);
  }

  /** An edge into or out of a collapsed group: the sum of its members' edges. */
  showMergedEdge(name: string, score: number, count: number, at: { x: number; y: number }): void {
    const rows: [string, string][] = [
      ['Σ score', formatScore(score)],
      ['Edges merged', formatCount(count)],
    ];
    const title = el('div', { cls: 'cs-card-title' }, el('span', { cls: 'cs-card-name', text: name }));
    this.render(`merged:${name}`, title, [this.table(rows)], at);
  }

  hide(): void {
    this.element.hidden = true;
    this.shown = undefined;
  }

  /**
   * Puts the card in the corner of the graph farthest from `at` (container coordinates), as
   * Neuronpedia's detail pane sits beside the graph: it never covers the node it describes, nor the
   * paths around it.
   */
  place(at: { x: number; y: number }): void {
    const pad = 8;
    const w = this.element.offsetWidth;
    const h = this.element.offsetHeight;
    const W = this.host.clientWidth;
    const H = this.host.clientHeight;
    const x = at.x < W / 2 ? W - w - pad : pad;
    const y = at.y < H / 2 ? H - h - pad : pad;
    this.element.style.left = `${Math.max(pad, x)}px`;
    this.element.style.top = `${Math.max(pad, y)}px`;
  }

  private render(key: string, title: HTMLElement, body: readonly Node[], at: { x: number; y: number }): void {
    if (this.shown !== key || this.element.hidden) {
      this.element.replaceChildren(title, ...body);
      this.shown = key;
    }
    this.element.hidden = false;
    this.place(at);
  }

  private table(rows: readonly (readonly [string, string])[]): HTMLElement {
    const dl = el('dl', { cls: 'cs-card-rows' });
    for (const [k, v] of rows) dl.append(el('dt', { text: k }), el('dd', { text: v }));
    return dl;
  }

  private tokens(label: string, toks: readonly string[], cls: string): HTMLElement {
    const list = el('div', { cls: 'cs-tokens' });
    for (const t of toks.slice(0, 12)) list.appendChild(el('span', { cls: `cs-tok ${cls}`, text: visibleToken(t), attrs: { title: JSON.stringify(t) } }));
    return el('div', { cls: 'cs-card-tokens' }, el('div', { cls: 'cs-card-label', text: label }), list);
  }
}
