/**
 * Export commands: EAP-IG JSON, GraphML, DOT, CSV, SVG and PNG of the current view, and the drift
 * report of a comparison as CSV and Markdown. Formats are produced by the pure functions of
 * src/shared/exporters.ts (images by the webview); this file asks where to save and writes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { fromEapJson, pruneDeadNodes, toEapJsonV2, topN, type CircuitData, type CircuitGraph } from '../shared/circuit';
import { defaultExportName, driftCsv, driftMarkdown, toCsv, toDot, toGraphML } from '../shared/exporters';
import type { ViewSide } from '../shared/webviewProtocol';
import { CircuitPanel } from './circuitPanel';
import { showError, type Context } from './commands';

type Kind = 'json' | 'graphml' | 'dot' | 'csv' | 'svg' | 'png' | 'drift.csv' | 'drift.md';

/** The circuit shown on one side of a panel, at the N the user chose there. */
function currentCircuit(panel: CircuitPanel, side: ViewSide): { graph: CircuitGraph; data: CircuitData; file: string; title: string } {
  const c = panel.content;
  const file = c.kind === 'circuit' ? c.circuitFile : c.circuitFiles[side === 'b' ? 1 : 0];
  const title = c.kind === 'circuit' ? c.circuit.title : side === 'b' ? c.b.title : c.a.title;
  const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  const { graph, data } = fromEapJson(raw, file);
  const n = panel.topN.get(side);
  if (n === undefined) return { graph, data, file, title };
  const sel = pruneDeadNodes(graph, topN(graph, data.scores, n));
  return { graph, data: { ...data, edgeIn: sel.edgeIn, nodeIn: sel.nodeIn }, file, title };
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
      const labels = { a: c.a.title, b: c.b.title };
      const uri = await saveAs(`${c.a.title}-vs-${c.b.title}`, kind, kind === 'drift.csv' ? { CSV: ['csv'] } : { Markdown: ['md'] });
      if (!uri) return undefined;
      fs.writeFileSync(uri.fsPath, kind === 'drift.csv' ? driftCsv(c.drift, labels) : driftMarkdown(c.drift, labels));
      return uri.fsPath;
    }
    const side = await pickSide(panel);
    if (!side) return undefined;
    const { graph, data, title } = currentCircuit(panel, side);
    const filters: Record<Kind, Record<string, string[]>> = {
      json: { 'EAP-IG JSON': ['json'] },
      graphml: { GraphML: ['graphml'] },
      dot: { 'Graphviz DOT': ['dot', 'gv'] },
      csv: { CSV: ['csv'] },
      svg: { SVG: ['svg'] },
      png: { PNG: ['png'] },
      'drift.csv': {},
      'drift.md': {},
    };
    const uri = await saveAs(title, kind, filters[kind]);
    if (!uri) return undefined;
    let content: string | Buffer;
    switch (kind) {
      case 'json':
        content = JSON.stringify(toEapJsonV2(graph, data)) + '\n';
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
    ctx.log.info(`Exported ${kind} to ${uri.fsPath}`);
    void vscode.window.showInformationMessage(`Circuitscope: exported ${path.basename(uri.fsPath)}`, 'Open').then((choice) => {
      if (choice === 'Open') void vscode.commands.executeCommand('vscode.open', uri);
    });
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
  ];
  for (const [id, kind] of commands) ctx.extension.subscriptions.push(vscode.commands.registerCommand(id, () => exportKind(ctx, kind)));
}
