/**
 * How well attribution methods estimate exact patching (the RelP paper's report table, #12 §7): on
 * the same prompts, each method's edge scores against exact one-edge patching scores (method 'exact'),
 * per component type of the edge's source: the input (token embeddings, the residual stream's start),
 * attention heads and MLPs, and over all edges. Pearson and Spearman correlations, plus each method's
 * top-n Jaccard with the exact top-n.
 */
import { pearson } from '../../shared/analysis';
import { topN } from '../../shared/circuit';
import type { Method } from '../../shared/methods';
import { jaccard, spearman } from '../../shared/trust';
import type { Model } from '../model/runner';
import { attribute } from './attribute';
import type { TokenizedPair } from './prompts';

export const componentTypes = ['input', 'heads', 'mlps', 'all'] as const;
export type ComponentType = (typeof componentTypes)[number];

export interface AgreementRow {
  readonly method: Method;
  readonly seconds: number;
  /** Per source type: edges, Pearson and Spearman with exact patching. */
  readonly byType: Record<ComponentType, { readonly edges: number; readonly pearson: number; readonly spearman: number }>;
  /** Jaccard of the method's top-n edges (by |score|) with exact patching's top-n. */
  readonly jaccardTopN: number;
}

export interface AgreementTable {
  readonly prompts: number;
  readonly edges: number;
  readonly topN: number;
  readonly exactSeconds: number;
  readonly rows: AgreementRow[];
}

const typeOf = (parent: string): ComponentType => (parent === 'input' ? 'input' : parent.startsWith('a') ? 'heads' : 'mlps');

export async function agreementTable(
  model: Model,
  pairs: readonly TokenizedPair[],
  methods: readonly Method[],
  opts: { steps?: number; batchSize?: number; topN?: number; signal?: AbortSignal; onProgress?: (done: number, total: number, message: string) => void } = {},
): Promise<AgreementTable> {
  const exact = await attribute(model, pairs, { method: 'exact', batchSize: opts.batchSize, signal: opts.signal, onProgress: opts.onProgress });
  const g = exact.graph;
  const n = opts.topN ?? Math.max(1, Math.round(g.edges.length * 0.05));
  const rows: AgreementRow[] = [];
  for (const method of methods) {
    const a = await attribute(model, pairs, { method, steps: opts.steps, batchSize: opts.batchSize, signal: opts.signal, onProgress: opts.onProgress });
    const byType = {} as Record<ComponentType, { edges: number; pearson: number; spearman: number }>;
    for (const t of componentTypes) {
      const idx = g.edges.flatMap((e, i) => (t === 'all' || typeOf(e.parent) === t ? [i] : []));
      const x = idx.map((i) => a.scores[i]);
      const y = idx.map((i) => exact.scores[i]);
      byType[t] = { edges: idx.length, pearson: pearson(x, y), spearman: spearman(x, y) };
    }
    rows.push({ method, seconds: a.seconds, byType, jaccardTopN: jaccard(topN(g, a.scores, n), topN(g, exact.scores, n)) });
  }
  return { prompts: pairs.length, edges: g.edges.length, topN: n, exactSeconds: exact.seconds, rows };
}

/** The table as Markdown. */
export function agreementMarkdown(t: AgreementTable): string {
  const f = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : '–');
  const head = `| method | ${componentTypes.map((c) => `${c} r / ρ`).join(' | ')} | top-${t.topN} Jaccard | s |`;
  const sep = `|---|${componentTypes.map(() => '---').join('|')}|---|---|`;
  const rows = t.rows.map((r) => `| ${r.method} | ${componentTypes.map((c) => `${f(r.byType[c].pearson)} / ${f(r.byType[c].spearman)}`).join(' | ')} | ${f(r.jaccardTopN)} | ${r.seconds.toFixed(1)} |`);
  return [`${t.prompts} prompts, ${t.edges} edges; r = Pearson, ρ = Spearman with exact one-edge patching (${t.exactSeconds.toFixed(1)} s)`, head, sep, ...rows].join('\n') + '\n';
}
