/**
 * `circuitscope export`: a circuit file into another tool's format, for scripts, with the same pure
 * exporters the extension uses. The N exported is `--top-n`, else the N saved in the circuit's view
 * sidecar (`<circuit>.view.json`, written by the circuit view), else the circuit as discovered; pins
 * and groups of the sidecar go into Neuronpedia's qParams.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { countIn, pruneDeadNodes, topN as selectTopN } from '../shared/circuit';
import { toCsv, toDot, toGraphML } from '../shared/exporters';
import { firstPromptIn, toEapJsonExport, toModelExplorerOverlay, toNeuronpedia, type ExportContext } from '../shared/graphExports';
import { isSavedView, type SavedView } from '../shared/webviewProtocol';
import { readCircuitFile } from './circuits/circuitFile';
import { UserError } from './errors';

export const exportFormats = ['eap-ig', 'neuronpedia', 'model-explorer', 'csv', 'dot', 'graphml'] as const;
export type ExportFormatName = (typeof exportFormats)[number];

/** The view state saved beside a circuit file by the circuit view, if any. */
export function readViewSidecar(circuitFile: string): SavedView | undefined {
  const file = circuitFile.replace(/\.json$/i, '') + '.view.json';
  if (!fs.existsSync(file)) return undefined;
  try {
    const view = (JSON.parse(fs.readFileSync(file, 'utf8')) as { view?: unknown }).view;
    return isSavedView(view) ? view : undefined;
  } catch {
    return undefined;
  }
}

function firstPrompt(file: string | undefined): string | undefined {
  if (!file || !fs.existsSync(file)) return undefined;
  try {
    return firstPromptIn(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

export interface ExportResult {
  readonly text: string;
  readonly topN: number;
  readonly edges: number;
  /** A file name that states N: `<circuit>-top<N>.<format extension>`. */
  readonly defaultName: string;
}

const extensions: Record<ExportFormatName, string> = {
  'eap-ig': '.json',
  neuronpedia: '.neuronpedia.json',
  'model-explorer': '.model-explorer.json',
  csv: '.csv',
  dot: '.dot',
  graphml: '.graphml',
};

export function exportCircuit(circuitFile: string, format: ExportFormatName, opts: { topN?: number; noView?: boolean; exportedAt?: string } = {}): ExportResult {
  const c = readCircuitFile(circuitFile);
  const view = opts.noView ? undefined : readViewSidecar(circuitFile);
  const prov = c.provenance;
  const discovered = prov?.selection.kind === 'topn' ? prov.selection.value : countIn(c.data.edgeIn);
  const n = opts.topN ?? view?.topN;
  let data = c.data;
  if (n !== undefined) {
    if (!(n >= 1)) throw new UserError(`--top-n must be a positive integer, not ${n}`);
    const sel = pruneDeadNodes(c.graph, selectTopN(c.graph, c.data.scores, n));
    data = { ...data, edgeIn: sel.edgeIn, nodeIn: sel.nodeIn };
  }
  const shownN = n ?? discovered;
  const checkpoint = prov?.checkpoint.path ?? '';
  const title = path.basename(checkpoint) || path.basename(circuitFile).replace(/\.json$/i, '');
  const ctx: ExportContext = {
    model: path.basename(checkpoint) || title,
    title,
    topN: shownN,
    provenance: prov as unknown as Record<string, unknown> | undefined,
    view,
    toolVersion: prov?.toolVersion,
    exportedAt: opts.exportedAt,
    prompt: firstPrompt(prov?.prompts.path),
  };
  let text: string;
  switch (format) {
    case 'eap-ig':
      text = toEapJsonExport(c.graph, data, ctx);
      break;
    case 'neuronpedia':
      text = JSON.stringify(toNeuronpedia(c.graph, data, ctx)) + '\n';
      break;
    case 'model-explorer':
      text = JSON.stringify(toModelExplorerOverlay(c.graph, data, ctx), null, 1) + '\n';
      break;
    case 'csv':
      text = toCsv(c.graph, data);
      break;
    case 'dot':
      text = toDot(c.graph, data, { title: `${title} (top ${shownN})` });
      break;
    case 'graphml':
      text = toGraphML(c.graph, data);
      break;
  }
  const stem = path.basename(circuitFile).replace(/(\.circuit)?\.json$/i, '');
  return { text, topN: shownN, edges: countIn(data.edgeIn), defaultName: `${stem}-top${shownN}${extensions[format]}` };
}
