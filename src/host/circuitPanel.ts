/**
 * The circuit view and the compare view: one WebviewPanel each, with a strict CSP (nonce scripts, no
 * remote resources), messages from the webview validated before dispatch, and exports answered by
 * the webview (SVG, PNG) or written here (everything else).
 */
import * as crypto from 'node:crypto';
import * as vscode from 'vscode';
import type { CircuitViewData, DriftData, ExportFormat, FromWebview, ToWebview, ViewSide } from '../shared/webviewProtocol';
import { assertNever, isFromWebview } from '../shared/webviewProtocol';
import { readProvenance, readSidecar, writeSidecar } from './viewState';

export type PanelContent =
  | { readonly kind: 'circuit'; readonly circuit: CircuitViewData; readonly circuitFile: string }
  | { readonly kind: 'compare'; readonly a: CircuitViewData; readonly b: CircuitViewData; readonly drift: DriftData; readonly circuitFiles: [string, string] };

export class CircuitPanel implements vscode.Disposable {
  private static readonly panels = new Set<CircuitPanel>();
  private readonly pendingExports = new Map<string, (data: string) => void>();
  private disposed = false;
  /** The N the user last chose on each side. */
  readonly topN = new Map<ViewSide, number>();

  private constructor(
    readonly panel: vscode.WebviewPanel,
    public content: PanelContent,
    private readonly extensionUri: vscode.Uri,
    private readonly log: vscode.LogOutputChannel,
  ) {
    panel.webview.options = { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist', 'webview'), vscode.Uri.joinPath(extensionUri, 'media')] };
    panel.webview.html = this.html();
    panel.webview.onDidReceiveMessage((m: unknown) => this.receive(m));
    panel.onDidDispose(() => this.dispose());
    CircuitPanel.panels.add(this);
  }

  /** The panel that has focus, or was focused last. */
  static active(): CircuitPanel | undefined {
    let last: CircuitPanel | undefined;
    for (const p of CircuitPanel.panels) {
      if (p.panel.active) return p;
      last = p;
    }
    return last;
  }

  static all(): CircuitPanel[] {
    return [...CircuitPanel.panels];
  }

  /** The tab title: checkpoint, prompt set and method, so two circuits of one checkpoint differ. */
  static titleOf(content: PanelContent): string {
    const tail = (d: CircuitViewData) => [d.provenance?.promptSet, d.summary.method ?? d.provenance?.method].filter(Boolean).join(', ');
    if (content.kind === 'circuit') {
      const t = tail(content.circuit);
      return `Circuit: ${content.circuit.title}${t ? ` (${t})` : ''}`;
    }
    const t = tail(content.a);
    return `Compare: ${content.a.title} ↔ ${content.b.title}${t ? ` (${t})` : ''}`;
  }

  /** Adds the provenance read from the circuit files to the view data. */
  static withProvenance(content: PanelContent): PanelContent {
    if (content.kind === 'circuit') return { ...content, circuit: { ...content.circuit, provenance: content.circuit.provenance ?? readProvenance(content.circuitFile) } };
    return {
      ...content,
      a: { ...content.a, provenance: content.a.provenance ?? readProvenance(content.circuitFiles[0]) },
      b: { ...content.b, provenance: content.b.provenance ?? readProvenance(content.circuitFiles[1]) },
    };
  }

  /** The open panel showing this circuit file (or pair of files), if any. */
  static find(content: PanelContent): CircuitPanel | undefined {
    const key = (c: PanelContent) => (c.kind === 'circuit' ? `circuit:${c.circuitFile}` : `compare:${c.circuitFiles.join('|')}`);
    return [...CircuitPanel.panels].find((p) => key(p.content) === key(content));
  }

  static show(content: PanelContent, extensionUri: vscode.Uri, log: vscode.LogOutputChannel): CircuitPanel {
    content = CircuitPanel.withProvenance(content);
    // The same circuit file opens its existing tab rather than a second, identically titled one.
    const open = CircuitPanel.find(content);
    if (open) {
      open.update(content);
      open.panel.reveal();
      return open;
    }
    const title = CircuitPanel.titleOf(content);
    const panel = vscode.window.createWebviewPanel(content.kind === 'circuit' ? 'circuits.circuitView' : 'circuits.compareView', title, vscode.ViewColumn.Active, {
      enableScripts: true,
      retainContextWhenHidden: false,
    });
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'circuitscope.svg');
    return new CircuitPanel(panel, content, extensionUri, log);
  }

  private post(m: ToWebview): void {
    if (!this.disposed) void this.panel.webview.postMessage(m);
  }

  private sendContent(): void {
    if (this.content.kind === 'circuit') this.post({ type: 'showCircuit', circuit: this.content.circuit, saved: readSidecar(this.content.circuitFile, (m) => this.log.warn(m)) });
    else this.post({ type: 'showCompare', a: this.content.a, b: this.content.b, drift: this.content.drift });
  }

  private receive(m: unknown): void {
    if (!isFromWebview(m)) {
      this.log.warn(`Dropped a malformed message from the circuit view: ${JSON.stringify(m)?.slice(0, 200)}`);
      return;
    }
    const msg: FromWebview = m;
    switch (msg.type) {
      case 'ready':
        // Sent on first load and after every reload: the data is re-sent, UI state lives in the webview.
        this.sendContent();
        break;
      case 'topNChanged':
        this.topN.set(msg.side, msg.topN);
        break;
      case 'nodeSelected':
        break;
      case 'exported': {
        const key = `${msg.format}:${msg.side}`;
        this.pendingExports.get(key)?.(msg.data);
        this.pendingExports.delete(key);
        break;
      }
      case 'log':
        this.log[msg.level](`[webview] ${msg.message}`);
        break;
      case 'viewStateChanged':
        if (this.content.kind === 'circuit' && msg.side === 'single') {
          try {
            writeSidecar(this.content.circuitFile, msg.state);
          } catch (e) {
            this.log.warn(`Could not save the view state beside ${this.content.circuitFile}: ${(e as Error).message}`);
          }
        }
        break;
      default:
        assertNever(msg);
    }
  }

  /** Asks the webview for an image of the current view (SVG text or a PNG data URL). */
  requestImage(format: ExportFormat, side: ViewSide): Promise<string> {
    return new Promise((resolve, reject) => {
      const key = `${format}:${side}`;
      const timer = setTimeout(() => {
        this.pendingExports.delete(key);
        reject(new Error('the circuit view did not answer the export request within 20 s'));
      }, 20_000);
      this.pendingExports.set(key, (data) => {
        clearTimeout(timer);
        resolve(data);
      });
      this.post({ type: 'requestExport', format, side });
    });
  }

  update(content: PanelContent): void {
    this.content = CircuitPanel.withProvenance(content);
    this.panel.title = CircuitPanel.titleOf(this.content);
    this.sendContent();
  }

  private html(): string {
    const webview = this.panel.webview;
    const nonce = crypto.randomBytes(16).toString('base64');
    const asset = (file: string) => webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, 'dist', 'webview', file));
    const csp = [
      "default-src 'none'",
      `img-src ${webview.cspSource} data:`,
      `style-src ${webview.cspSource} 'nonce-${nonce}'`,
      `font-src ${webview.cspSource}`,
      `script-src 'nonce-${nonce}'`,
    ].join('; ');
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" nonce="${nonce}" href="${asset('circuit.css')}">
<title>Circuitscope</title>
</head>
<body>
<div id="app" data-view="${this.content.kind}"></div>
<script nonce="${nonce}" src="${asset('circuit.js')}"></script>
</body>
</html>`;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    CircuitPanel.panels.delete(this);
    for (const resolve of this.pendingExports.values()) resolve('');
    this.pendingExports.clear();
    this.panel.dispose();
  }
}
