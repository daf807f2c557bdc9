/**
 * What the circuit view draws (`CircuitViewData`), built from a circuit that `fromEapJson` read and
 * its `circuitscope` provenance: by the engine for circuit files, and by the notebook renderer for a
 * notebook output of the circuit MIME type (EAP-IG's `Graph.to_json` shape, or a Circuitscope circuit
 * file). Pure: no Node, no vscode, no DOM.
 */
import { CircuitFormatError, countIn, coveringTopN, fromEapJson, isPlainObject, typeName, type CircuitData, type CircuitGraph } from './circuit';
import { defaultTopN } from './methods';
import type { CircuitProvenanceView, CircuitViewData, HeadInfo } from './webviewProtocol';

/** The MIME type of a circuit in a notebook output; its data is EAP-IG graph JSON. */
export const circuitMimeType = 'application/vnd.circuitscope.circuit+json';

/** The parts of a circuit file's `circuitscope` provenance that the view reads (the engine's `Provenance` has them all). */
export interface ViewProvenance {
  readonly createdAt?: string;
  readonly checkpoint: { readonly path: string; readonly step?: number };
  readonly prompts: { readonly path: string; readonly count: number };
  readonly method: string;
  readonly steps?: number;
  readonly selection: { readonly kind: string; readonly value: number };
  readonly level?: 'edge' | 'node';
  readonly faithfulness?: number;
  readonly hit10?: number;
  readonly curve?: readonly { readonly topN: number; readonly edges: number; readonly faithfulness: number | null }[];
  readonly mib?: { readonly cpr: number; readonly cmd: number; readonly ablation?: string };
  readonly trust?: { readonly warnings: readonly string[] };
}

const isNum = (v: unknown) => typeof v === 'number' || v === null;

/** What is wrong with a `circuitscope` provenance key, in the parts the engine and the views read. */
export function provenanceProblem(p: unknown): string | undefined {
  if (!isPlainObject(p)) return `is ${typeName(p)}, not an object`;
  const ck = p.checkpoint;
  if (!isPlainObject(ck) || typeof ck.path !== 'string' || typeof ck.architecture !== 'string') return "'checkpoint' needs string 'path' and 'architecture'";
  if (ck.step !== undefined && typeof ck.step !== 'number') return "'checkpoint.step' must be a number";
  const pr = p.prompts;
  if (!isPlainObject(pr) || typeof pr.path !== 'string' || typeof pr.count !== 'number') return "'prompts' needs a string 'path' and a number 'count'";
  const sel = p.selection;
  if (!isPlainObject(sel) || typeof sel.kind !== 'string' || typeof sel.value !== 'number') return "'selection' needs a string 'kind' and a number 'value'";
  if (typeof p.method !== 'string') return "'method' must be a string";
  if (p.level !== undefined && p.level !== 'edge' && p.level !== 'node') return "'level' must be 'edge' or 'node'";
  for (const k of ['faithfulness', 'hit10', 'edges', 'nodes']) if (p[k] !== undefined && !isNum(p[k])) return `'${k}' must be a number`;
  if (p.curve !== undefined && (!Array.isArray(p.curve) || !p.curve.every((c) => isPlainObject(c) && typeof c.topN === 'number' && typeof c.edges === 'number' && isNum(c.faithfulness)))) {
    return "'curve' must be a list of {topN, edges, faithfulness}";
  }
  return undefined;
}

/** A number as the view shows it: six significant digits; null when not finite. */
export const round = (x: number | null | undefined) => (typeof x === 'number' && Number.isFinite(x) ? Number(x.toPrecision(6)) : null);

/**
 * The N the view's slider opens at. A Circuitscope circuit has its selection's N; a node-level one
 * counts nodes, so the slider, which counts edges, opens at its edge count. A graph from elsewhere
 * (EAP-IG's own files) opens at the smallest top-N that holds its in_graph edges, which for a top-n
 * circuit draws exactly those edges.
 */
function openingN(c: { readonly graph: CircuitGraph; readonly data: CircuitData; readonly provenance?: ViewProvenance }): number {
  const prov = c.provenance;
  if (prov?.selection.kind === 'topn' && prov.level !== 'node') return prov.selection.value;
  return (prov ? countIn(c.data.edgeIn) : coveringTopN(c.data.scores, c.data.edgeIn)) || defaultTopN(c.graph);
}

/** The view's data of a circuit; `title` and `checkpoint` head the view, `heads` feeds the hover cards and role colours. */
export function viewDataOf(
  c: { readonly graph: CircuitGraph; readonly data: CircuitData; readonly provenance?: ViewProvenance },
  o: { readonly title: string; readonly checkpoint: string; readonly heads?: Readonly<Record<string, HeadInfo>>; readonly provenanceView?: CircuitProvenanceView },
): CircuitViewData {
  const prov = c.provenance;
  const warnings: unknown = prov?.trust?.warnings;
  const trustWarnings = Array.isArray(warnings) ? warnings.filter((w): w is string => typeof w === 'string') : [];
  return {
    title: o.title,
    checkpoint: o.checkpoint,
    cfg: c.data.cfg,
    scores: Array.from(c.data.scores, round),
    topN: openingN(c),
    curve: (prov?.curve ?? []).map((x) => ({ topN: x.topN, edges: x.edges, faithfulness: round(x.faithfulness) ?? 0 })),
    // MIB's areas (discover --mib), shown beside the size slider.
    ...(prov?.mib && Number.isFinite(prov.mib.cpr) && Number.isFinite(prov.mib.cmd) ? { mib: { cpr: round(prov.mib.cpr)!, cmd: round(prov.mib.cmd)!, ablation: prov.mib.ablation } } : {}),
    ...(trustWarnings.length ? { trustWarnings } : {}),
    heads: o.heads ?? {},
    summary: { faithfulness: prov?.faithfulness, hit10: prov?.hit10, method: prov?.method, prompts: prov?.prompts.count },
    ...(o.provenanceView ? { provenance: o.provenanceView } : {}),
  };
}

/** The last part of a path written on any system. */
function baseName(p: string): string {
  return p.replace(/[\\/]+$/, '').split(/[\\/]/).pop() ?? '';
}

/** Largest output accepted: a full GPT-2 medium graph with scores is about 20 MB of JSON. */
export const maxNotebookCircuitChars = 256 * 1024 * 1024;

/** How to produce the output, for every message about a bad one. */
const howTo = `Display an EAP-IG graph as a dict under '${circuitMimeType}': graph.to_json(path), then display({'${circuitMimeType}': json.load(open(path))}, raw=True).`;

/**
 * Reads a notebook output of the circuit MIME type: EAP-IG graph JSON (either format), optionally with
 * Circuitscope's `circuitscope` provenance, as text; a JSON string holding that text is accepted too.
 * Throws a `CircuitFormatError` that names the output, the field and what to do.
 */
export function notebookCircuitView(text: string): CircuitViewData {
  const source = `circuit output (${circuitMimeType})`;
  if (text.trim() === '') throw new CircuitFormatError(`${source}: the output is empty. ${howTo}`);
  if (text.length > maxNotebookCircuitChars) throw new CircuitFormatError(`${source}: ${Math.round(text.length / 2 ** 20)} MB of JSON, more than the ${maxNotebookCircuitChars / 2 ** 20} MB a notebook output may hold; open the circuit file with Circuitscope: Open Circuit instead`);
  let json: unknown;
  try {
    json = JSON.parse(text);
    // A JSON string holding the graph's JSON text (json.dumps(graph) displayed as it is).
    if (typeof json === 'string') json = JSON.parse(json);
  } catch (e) {
    const nan = /(^|[^\w"])(NaN|-?Infinity)([^\w"]|$)/.test(text);
    throw new CircuitFormatError(
      nan
        ? `${source}: the JSON holds NaN or Infinity, which JSON does not allow; write unscored edges' scores as None (null) before displaying the graph`
        : `${source}: not valid JSON (${e instanceof Error ? e.message : String(e)}). ${howTo}`,
    );
  }
  if (!isPlainObject(json)) throw new CircuitFormatError(`${source}: the data is ${typeName(json)}, not an EAP-IG graph object with 'cfg', 'nodes' and 'edges'. ${howTo}`);
  const { graph, data } = fromEapJson(json, source);
  const raw = (json as { circuitscope?: unknown }).circuitscope;
  const problem = raw === undefined ? undefined : provenanceProblem(raw);
  if (problem) throw new CircuitFormatError(`${source}: 'circuitscope' (the provenance Circuitscope writes): ${problem}. The key was edited or comes from another tool; remove it to show the graph without provenance`);
  if (!data.scores.some((s) => Number.isFinite(s))) {
    throw new CircuitFormatError(`${source}: no edge of the ${data.cfg.nLayers}-layer, ${data.cfg.nHeads}-head graph has a numeric 'score'; score the graph (EAP-IG's attribute) before displaying it`);
  }
  const prov = raw as ViewProvenance | undefined;
  const shape = `${data.cfg.nLayers}-layer, ${data.cfg.nHeads}-head graph`;
  const name = prov ? baseName(prov.checkpoint.path) : '';
  const step = prov?.checkpoint.step;
  return viewDataOf(
    { graph, data, provenance: prov },
    {
      title: name ? `${name}${step !== undefined && !/checkpoint-/.test(name) ? ` (step ${step})` : ''}` : 'EAP-IG graph',
      checkpoint: prov ? prov.checkpoint.path : shape,
      provenanceView: prov
        ? {
            promptSet: baseName(prov.prompts.path) || undefined,
            promptsPath: prov.prompts.path,
            method: prov.method,
            steps: typeof prov.steps === 'number' ? prov.steps : undefined,
            createdAt: typeof prov.createdAt === 'string' ? prov.createdAt : undefined,
          }
        : undefined,
    },
  );
}
