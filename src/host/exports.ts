/**
 * Export commands: EAP-IG JSON, GraphML, DOT, CSV, SVG and PNG of the current view, and the drift
 * report of a comparison as CSV and Markdown. Formats are produced by the pure functions of
 * src/shared/exporters.ts (images by the webview); this file asks where to save and writes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { countIn, fromEapJson, pruneDeadNodes, topN, type CircuitData, type CircuitGraph } from '../shared/circuit';
import { defaultExportName, driftCsv, driftMarkdown, toCsv, toDot, toGraphML } from '../shared/exporters';
import { firstPromptIn, toEapJsonExport, toModelExplorerOverlay, toNeuronpedia, type ExportContext } from '../shared/graphExports';
import type { CircuitViewData, ViewSide } from '../shared/webviewProtocol';
import { CircuitPanel } from './circuitPanel';
import { showError, type Context } from './commands';
import { readSidecar } from './viewState';

type Kind = 'json' | 'graphml' | 'dot' | 'csv' | 'svg' | 'png' | 'drift.csv' | 'drift.md' | 'neuronpedia' | 'modelexplorer';

/** The circuit shown on one side of a panel, at the N the user chose there (the discovered N if none). */
function currentCircuit(panel: CircuitPanel, side: ViewSide): { graph: CircuitGraph; data: CircuitData; file: string; title: string; n: number; ctx: ExportContext } {
  const c = panel.content;
  const file = c.kind === 'circuit' ? c.circuitFile : c.circuitFiles[side === 'b' ? 1 : 0];
  const view: CircuitViewData = c.kind === 'circuit' ? c.circuit : side === 'b' ? c.b : c.a;
  const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  const parsed = fromEapJson(raw, file);
  const n = panel.topN.get(side);
  const graph = parsed.graph;
  let data = parsed.data;
  if (n !== undefined) {
    const sel = pruneDeadNodes(graph, topN(graph, data.scores, n));
    data = { ...data, edgeIn: sel.edgeIn, nodeIn: sel.nodeIn };
  }
  const shownN = n ?? view.topN ?? countIn(data.edgeIn);
  const ctx: ExportContext = {
    model: path.basename(view.checkpoint) || view.title,
    title: view.title,
    topN: shownN,
    provenance: raw.circuitscope as Record<string, unknown> | undefined,
    view: c.kind === 'circuit' ? readSidecar(file) : undefined,
    toolVersion: String((raw.circuitscope as { toolVersion?: string } | undefined)?.toolVersion ?? ''),
    prompt: firstPrompt((raw.circuitscope as { prompts?: { path?: string } } | undefined)?.prompts?.path),
  };
  return { graph, data, file, title: view.title, n: shownN, ctx };
}

/** The first prompt of a JSONL prompt set, for formats that name one prompt (Neuronpedia). */
function firstPrompt(file: string | undefined): string | undefined {
  if (!file || !fs.existsSync(file)) return undefined;
  try {
    return firstPromptIn(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The same toast for every export: what was written, with Open. */
function exported(ctx: Context, kind: string, uri: vscode.Uri): void {
  ctx.log.info(`Exported ${kind} to ${uri.fsPath}`);
  void vscode.window.showInformationMessage(`Circuitscope: exported ${path.basename(uri.fsPath)}`, 'Open').then((choice) => {
    if (choice === 'Open') void vscode.commands.executeCommand('vscode.open', uri);
  });
}

async function pickSide(panel: CircuitPanel): Promise<ViewSide | undefined> {
  if (panel.content.kind === 'circuit') return 'single';
  const pick = await vscode.window.showQuickPick(
    [
      { label: `A: ${panel.content.a.title}`, side: 'a' as const },
      { label: `B: ${panel.content.b.title}`, side: 'b' as const },
    ],
    { title: 'Export which circuit?' },
  );
  return pick?.side;
}

async function saveAs(base: string, kind: Kind, filters: Record<string, string[]>): Promise<vscode.Uri | undefined> {
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? '.';
  return vscode.window.showSaveDialog({ defaultUri: vscode.Uri.file(path.join(folder, defaultExportName(base, kind))), filters, saveLabel: 'Export' });
}

// Longer than 80 lines: one case per export format (dialog filters, writer, feedback), kept together
// so that every export gives the same feedback.
async function exportKind(ctx: Context, kind: Kind): Promise<string | undefined> {
  const panel = CircuitPanel.active();
  if (!panel) {
    void vscode.window.showInformationMessage('Circuitscope: open a circuit or a comparison first; exports take what the view shows.');
    return undefined;
  }
  try {
    if (kind === 'drift.csv' || kind === 'drift.md') {
      if (panel.content.kind !== 'compare') {
        void vscode.window.showInformationMessage('Circuitscope: the drift report belongs to a comparison; run Compare Checkpoints first.');
        return undefined;
      }
      const c = panel.content;
      const nA = panel.topN.get('a') ?? c.a.topN;
      const nB = panel.topN.get('b') ?? c.b.topN;
      const prov = (d: CircuitViewData) => [d.provenance?.promptSet, d.summary.method ?? d.provenance?.method].filter(Boolean).join(', ') || 'unknown';
      const labels = {
        a: c.a.title,
        b: c.b.title,
        provenance: [
          ['N shown (A)', `${nA} (discovered ${c.a.topN})`],
          ['N shown (B)', `${nB} (discovered ${c.b.topN})`],
          ['Prompt set, method (A)', prov(c.a)],
          ['Prompt set, method (B)', prov(c.b)],
          ['Drift figures', 'at the discovered sizes'],
        ] as [string, string][],
      };
      const uri = await saveAs(`${c.a.title}-vs-${c.b.title}-top${nA}-${nB}`, kind, kind === 'drift.csv' ? { CSV: ['csv'] } : { Markdown: ['md'] });
      if (!uri) return undefined;
      fs.writeFileSync(uri.fsPath, kind === 'drift.csv' ? driftCsv(c.drift, labels) : driftMarkdown(c.drift, labels));
      exported(ctx, kind, uri);
      return uri.fsPath;
    }
    const side = await pickSide(panel);
    if (!side) return undefined;
    const { graph, data, title, n, ctx: ectx } = currentCircuit(panel, side);
    const filters: Record<Kind, Record<string, string[]>> = {
      json: { 'EAP-IG JSON': ['json'] },
      graphml: { GraphML: ['graphml'] },
      dot: { 'Graphviz DOT': ['dot', 'gv'] },
      csv: { CSV: ['csv'] },
      svg: { SVG: ['svg'] },
      png: { PNG: ['png'] },
      neuronpedia: { 'Neuronpedia graph JSON': ['json'] },
      modelexplorer: { 'Model Explorer node data JSON': ['json'] },
      'drift.csv': {},
      'drift.md': {},
    };
    // The file name states the N shown, so exports of one circuit at different sizes never collide.
    const uri = await saveAs(`${title}-top${n}`, kind, filters[kind]);
    if (!uri) return undefined;
    let content: string | Buffer;
    switch (kind) {
      case 'json':
        content = toEapJsonExport(graph, data, ectx);
        break;
      case 'neuronpedia':
        content = JSON.stringify(toNeuronpedia(graph, data, ectx)) + '\n';
        break;
      case 'modelexplorer':
        content = JSON.stringify(toModelExplorerOverlay(graph, data, ectx), null, 1) + '\n';
        break;
      case 'graphml':
        content = toGraphML(graph, data);
        break;
      case 'dot':
        content = toDot(graph, data, { title });
        break;
      case 'csv':
        content = toCsv(graph, data);
        break;
      case 'svg':
        content = await panel.requestImage('svg', side);
        break;
      case 'png': {
        const url = await panel.requestImage('png', side);
        content = Buffer.from(url.replace(/^data:image\/png;base64,/, ''), 'base64');
        break;
      }
    }
    if (content.length === 0) throw new Error('the view returned nothing to save');
    fs.writeFileSync(uri.fsPath, content);
    exported(ctx, kind, uri);
    return uri.fsPath;
  } catch (e) {
    showError(ctx, `export failed`, e);
    return undefined;
  }
}

export function registerExports(ctx: Context): void {
  const commands: [string, Kind][] = [
    ['circuits.exportJson', 'json'],
    ['circuits.exportGraphML', 'graphml'],
    ['circuits.exportDot', 'dot'],
    ['circuits.exportCsv', 'csv'],
    ['circuits.exportSvg', 'svg'],
    ['circuits.exportPng', 'png'],
    ['circuits.exportDriftCsv', 'drift.csv'],
    ['circuits.exportDriftMarkdown', 'drift.md'],
    ['circuits.exportNeuronpedia', 'neuronpedia'],
    ['circuits.exportModelExplorer', 'modelexplorer'],
  ];
  for (const [id, kind] of commands) ctx.extension.subscriptions.push(vscode.commands.registerCommand(id, () => exportKind(ctx, kind)));
}
