/**
 * Exports into other tools' formats, pure string building like exporters.ts:
 *  - EAP-IG JSON of the full scored graph with `in_graph` for the circuit shown and the circuitscope
 *    provenance key, extended with what was exported (`export.topN`, counts, time);
 *  - Neuronpedia's attribution-graph JSON (its published graph-schema.json, draft-07, "Anthropic
 *    Attribution Graph"): metadata, nodes, links, and qParams holding the pins and supernodes;
 *  - Model Explorer node-data overlays: one value per node, keyed by graph id and node id.
 */
import { parseNodeId, toEapJsonV2, type CircuitData, type CircuitGraph } from './circuit';
import type { SavedView } from './webviewProtocol';

/** What an export says about where the circuit came from and which N it shows. */
export interface ExportContext {
  /** The checkpoint's name ('checkpoint-100', 'gpt2'); Neuronpedia's `scan`. */
  readonly model: string;
  readonly title: string;
  /** The N of the circuit shown (top-N before pruning). */
  readonly topN: number;
  /** The circuit file's `circuitscope` provenance key, kept as it is. */
  readonly provenance?: Readonly<Record<string, unknown>>;
  readonly view?: SavedView;
  readonly toolVersion?: string;
  /** ISO time of the export; fixed in tests. */
  readonly exportedAt?: string;
  /** The prompt the graph describes (Neuronpedia requires one): the first prompt of the set, if known. */
  readonly prompt?: string;
  readonly promptTokens?: readonly string[];
}

function counts(g: CircuitGraph, data: CircuitData): { edges: number; nodes: number } {
  let edges = 0;
  for (let i = 0; i < data.edgeIn.length; i++) edges += data.edgeIn[i];
  let nodes = 0;
  for (const n of g.nodes) if (data.nodeIn.get(n)) nodes++;
  return { edges, nodes };
}

/** EAP-IG v2 JSON (Graph.from_json loads it) with the provenance key and the exported N. */
export function toEapJsonExport(g: CircuitGraph, data: CircuitData, ctx: ExportContext): string {
  const c = counts(g, data);
  const json = {
    ...toEapJsonV2(g, data),
    circuitscope: { ...(ctx.provenance ?? {}), export: { topN: ctx.topN, edges: c.edges, nodes: c.nodes, exportedAt: ctx.exportedAt ?? new Date().toISOString() } },
  };
  return JSON.stringify(json) + '\n';
}

// ---- Neuronpedia ----

/** Neuronpedia node ids in circuit-tracer's `{layer}_{feature}_{ctx}` form; embeddings 'E_…', logits '{L+1}_…'. */
export function neuronpediaNodeId(name: string, g: CircuitGraph, ctx: number): { nodeId: string; layer: string | number; feature: number | null; type: string } {
  const id = parseNodeId(name);
  const L = g.cfg.nLayers;
  switch (id?.kind) {
    case 'input':
      return { nodeId: `E_0_${ctx}`, layer: 'E', feature: 0, type: 'embedding' };
    case 'logits':
      return { nodeId: `${L + 1}_0_${ctx}`, layer: L + 1, feature: 0, type: 'logit' };
    case 'attn':
      return { nodeId: `${id.layer}_${id.head}_${ctx}`, layer: id.layer, feature: id.head, type: 'attention head' };
    case 'mlp':
      // Heads take features 0..H−1 of their layer; the MLP is feature H, so ids stay unique.
      return { nodeId: `${id.layer}_${g.cfg.nHeads}_${ctx}`, layer: id.layer, feature: g.cfg.nHeads, type: 'mlp' };
    default:
      throw new Error(`not a circuit node: ${name}`);
  }
}

export interface NeuronpediaGraph {
  metadata: Record<string, unknown> & { slug: string; scan: string; prompt_tokens: string[]; prompt: string };
  qParams: { pinnedIds: string[]; supernodes: string[][]; linkType: string; clickedId?: string; sg_pos?: string };
  nodes: { node_id: string; feature: number | null; layer: string | number; ctx_idx: number; feature_type: string; jsNodeId: string; clerp: string; influence?: number | null; activation?: number | null }[];
  links: { source: string; target: string; weight: number }[];
}

/**
 * The circuit shown as a Neuronpedia attribution graph. Scores are summed over positions, so every
 * node sits at the prompt's last position; `clerp` is the EAP-IG name ('a3.h7'); edges into a head's
 * q, k and v inputs from one parent become one link with their scores summed. `influence` is the
 * node's share of the circuit's Σ|score|. Pins and groups (supernodes) go into qParams.
 */
export function toNeuronpedia(g: CircuitGraph, data: CircuitData, ctx: ExportContext): NeuronpediaGraph {
  const tokens = [...(ctx.promptTokens ?? [])];
  const last = Math.max(0, tokens.length - 1);
  const idOf = (n: string) => neuronpediaNodeId(n, g, last).nodeId;
  const mass = new Map<string, number>();
  const links = new Map<string, { source: string; target: string; weight: number }>();
  let total = 0;
  for (let i = 0; i < g.edges.length; i++) {
    if (!data.edgeIn[i] || Number.isNaN(data.scores[i])) continue;
    const e = g.edges[i];
    const s = data.scores[i];
    const a = Math.abs(s);
    total += 2 * a;
    mass.set(e.parent, (mass.get(e.parent) ?? 0) + a);
    mass.set(e.child, (mass.get(e.child) ?? 0) + a);
    const key = `${e.parent}->${e.child}`;
    const l = links.get(key);
    if (l) l.weight += s;
    else links.set(key, { source: idOf(e.parent), target: idOf(e.child), weight: s });
  }
  const nodes = g.nodes
    .filter((n) => data.nodeIn.get(n))
    .map((n) => {
      const m = neuronpediaNodeId(n, g, last);
      return {
        node_id: m.nodeId,
        feature: m.feature,
        layer: m.layer,
        ctx_idx: last,
        feature_type: m.type,
        jsNodeId: `${m.layer}_${m.feature ?? 0}-0`,
        clerp: n,
        influence: total > 0 ? Number(((mass.get(n) ?? 0) / total).toPrecision(6)) : null,
        activation: null,
      };
    });
  const inGraph = new Set(g.nodes.filter((n) => data.nodeIn.get(n)));
  const v = ctx.view ?? {};
  const prov = ctx.provenance as { method?: string; steps?: number; prompts?: { path?: string; count?: number }; createdAt?: string } | undefined;
  const slug = `${ctx.title}-top${ctx.topN}`
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
  return {
    metadata: {
      slug: slug || 'circuit',
      scan: ctx.model,
      prompt_tokens: tokens,
      prompt: ctx.prompt ?? (prov?.prompts?.path ? `prompt set ${prov.prompts.path}` : ctx.title),
      info: {
        description: `Circuitscope circuit ${ctx.title}: top ${ctx.topN} edges by |score| (${prov?.method ?? 'method unknown'}${prov?.steps !== undefined ? `, ${prov.steps} steps` : ''}), nodes are attention heads and MLPs with scores summed over positions and ${prov?.prompts?.count ?? 'the'} prompts.`,
        generator: { name: 'circuitscope', version: ctx.toolVersion ?? '0', url: 'https://github.com/circuitscope/circuitscope' },
        create_time_ms: Date.parse(ctx.exportedAt ?? new Date().toISOString()),
      },
      generation_settings: { method: prov?.method, steps: prov?.steps, prompts: prov?.prompts?.path, prompt_count: prov?.prompts?.count },
      pruning_settings: { top_n: ctx.topN, dead_node_pruning: true },
      circuitscope: ctx.provenance ?? {},
    },
    qParams: {
      pinnedIds: (v.pins ?? []).filter((p) => inGraph.has(p)).map(idOf),
      supernodes: (v.groups ?? []).map((gr) => [gr.label, ...gr.members.filter((m) => inGraph.has(m)).map(idOf)]),
      linkType: 'both',
      ...(v.selected && inGraph.has(v.selected) ? { clickedId: idOf(v.selected) } : {}),
    },
    nodes,
    links: [...links.values()].map((l) => ({ ...l, weight: Number(l.weight.toPrecision(8)) })),
  };
}

// ---- Model Explorer ----

/**
 * A Model Explorer node-data overlay: `{graphId: {results: {nodeId: {value}}, gradient}}`, one value
 * per node of the circuit shown: the Σ|score| of its in-circuit edges (incoming and outgoing).
 */
export function toModelExplorerOverlay(g: CircuitGraph, data: CircuitData, ctx: ExportContext): Record<string, unknown> {
  const value = new Map<string, number>();
  for (let i = 0; i < g.edges.length; i++) {
    if (!data.edgeIn[i] || Number.isNaN(data.scores[i])) continue;
    const e = g.edges[i];
    const a = Math.abs(data.scores[i]);
    value.set(e.parent, (value.get(e.parent) ?? 0) + a);
    value.set(e.child, (value.get(e.child) ?? 0) + a);
  }
  const results: Record<string, { value: number }> = {};
  for (const n of g.nodes) if (data.nodeIn.get(n)) results[n] = { value: Number((value.get(n) ?? 0).toPrecision(6)) };
  return {
    [ctx.model]: {
      results,
      gradient: [
        { stop: 0, bgColor: '#f7fbff' },
        { stop: 1, bgColor: '#08306b' },
      ],
      circuitscope: { title: ctx.title, topN: ctx.topN, value: 'sum of |score| of the node’s in-circuit edges', provenance: ctx.provenance ?? {} },
    },
  };
}

/** The first prompt of a JSONL prompt set's text, for formats that name one prompt (Neuronpedia). */
export function firstPromptIn(text: string): string | undefined {
  try {
    const line = text.split('\n').find((l) => l.trim());
    const j = line ? (JSON.parse(line) as { prompt?: unknown; clean?: unknown } | null) : undefined;
    const p = j?.prompt ?? j?.clean;
    return typeof p === 'string' ? p : undefined;
  } catch {
    return undefined;
  }
}
