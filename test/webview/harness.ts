/**
 * A standalone harness for the circuit webview: it writes an HTML page that loads
 * dist/webview/circuit.js and circuit.css under the same CSP the extension uses, with a fake
 * `acquireVsCodeApi` that records what the webview posts and answers 'ready' by posting the page's
 * fixture messages (as the host does), and the --vscode-* variables and body class of VS Code's
 * Light Modern or Dark Modern theme. A loopback HTTP server serves it to Debian's chromium, driven by
 * playwright-core from test/e2e/node_modules. Used by test/webview/webview.test.ts and
 * bench/render.bench.ts.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import type { Browser, Page, PlaywrightCore } from './playwright';
import type { ToWebview } from '../../src/shared/webviewProtocol';

export const outDir = path.resolve('test-output', 'webview');
export const chromiumPath = process.env.CIRCUITSCOPE_E2E_CHROMIUM || '/usr/bin/chromium';

export type ThemeName = 'light' | 'dark' | 'hc';

const font = '-apple-system, BlinkMacSystemFont, "Segoe WPC", "Segoe UI", "Ubuntu", "Droid Sans", sans-serif';

/** A subset of the variables VS Code 1.100 sets for its default themes (Light Modern, Dark Modern). */
export const themes: Record<ThemeName, { readonly bodyClass: string; readonly vars: Readonly<Record<string, string>> }> = {
  dark: {
    bodyClass: 'vscode-dark',
    vars: {
      '--vscode-font-family': font,
      '--vscode-font-size': '13px',
      '--vscode-editor-font-family': "'Droid Sans Mono', 'monospace', monospace",
      '--vscode-editor-background': '#1f1f1f',
      '--vscode-foreground': '#cccccc',
      '--vscode-descriptionForeground': '#9d9d9d',
      '--vscode-focusBorder': '#0078d4',
      '--vscode-editorWidget-background': '#202020',
      '--vscode-editorWidget-border': '#313131',
      '--vscode-editorHoverWidget-background': '#202020',
      '--vscode-editorHoverWidget-border': '#454545',
      '--vscode-editorHoverWidget-foreground': '#cccccc',
      '--vscode-widget-border': '#313131',
      '--vscode-widget-shadow': 'rgba(0, 0, 0, 0.36)',
      '--vscode-panel-border': '#2b2b2b',
      '--vscode-badge-background': '#616161',
      '--vscode-badge-foreground': '#f8f8f8',
      '--vscode-button-background': '#0078d4',
      '--vscode-button-foreground': '#ffffff',
      '--vscode-button-border': 'rgba(255, 255, 255, 0.07)',
      '--vscode-button-hoverBackground': '#026ec1',
      '--vscode-button-secondaryBackground': '#313131',
      '--vscode-button-secondaryForeground': '#cccccc',
      '--vscode-button-secondaryHoverBackground': '#3c3c3c',
      '--vscode-input-background': '#313131',
      '--vscode-input-foreground': '#cccccc',
      '--vscode-input-border': '#3c3c3c',
      '--vscode-input-placeholderForeground': '#989898',
      '--vscode-inputValidation-errorBackground': '#5a1d1d',
      '--vscode-inputValidation-errorBorder': '#be1100',
      '--vscode-checkbox-background': '#313131',
      '--vscode-checkbox-border': '#3c3c3c',
      '--vscode-checkbox-foreground': '#cccccc',
      '--vscode-charts-blue': '#3794ff',
      '--vscode-charts-orange': '#d18616',
      '--vscode-charts-green': '#89d185',
      '--vscode-charts-red': '#f14c4c',
      '--vscode-charts-yellow': '#cca700',
      '--vscode-charts-foreground': '#cccccc',
      '--vscode-textCodeBlock-background': '#2b2b2b',
      '--vscode-scrollbarSlider-background': 'rgba(121, 121, 121, 0.4)',
      '--vscode-scrollbarSlider-activeBackground': 'rgba(191, 191, 191, 0.4)',
      '--vscode-settings-checkboxBackground': '#313131',
      '--vscode-settings-checkboxBorder': '#3c3c3c',
      '--vscode-settings-checkboxForeground': '#cccccc',
      '--vscode-settings-textInputBackground': '#313131',
      '--vscode-settings-textInputForeground': '#cccccc',
      '--vscode-settings-textInputBorder': '#3c3c3c',
    },
  },
  /** Default High Contrast (dark). */
  hc: {
    bodyClass: 'vscode-high-contrast',
    vars: {
      '--vscode-font-family': font,
      '--vscode-font-size': '13px',
      '--vscode-editor-font-family': "'Droid Sans Mono', 'monospace', monospace",
      '--vscode-editor-background': '#000000',
      '--vscode-foreground': '#ffffff',
      '--vscode-descriptionForeground': 'rgba(255, 255, 255, 0.7)',
      '--vscode-focusBorder': '#f38518',
      '--vscode-contrastBorder': '#6fc3df',
      '--vscode-contrastActiveBorder': '#f38518',
      '--vscode-editorWidget-background': '#0c141f',
      '--vscode-editorWidget-border': '#6fc3df',
      '--vscode-editorHoverWidget-background': '#0c141f',
      '--vscode-editorHoverWidget-border': '#6fc3df',
      '--vscode-editorHoverWidget-foreground': '#ffffff',
      '--vscode-widget-border': '#6fc3df',
      '--vscode-panel-border': '#6fc3df',
      '--vscode-badge-background': '#000000',
      '--vscode-badge-foreground': '#ffffff',
      '--vscode-button-background': '#000000',
      '--vscode-button-foreground': '#ffffff',
      '--vscode-button-border': '#6fc3df',
      '--vscode-button-secondaryBackground': '#000000',
      '--vscode-button-secondaryForeground': '#ffffff',
      '--vscode-input-background': '#000000',
      '--vscode-input-foreground': '#ffffff',
      '--vscode-input-border': '#6fc3df',
      '--vscode-textLink-foreground': '#21a6ff',
      '--vscode-charts-blue': '#3794ff',
      '--vscode-charts-orange': '#d18616',
      '--vscode-charts-green': '#89d185',
      '--vscode-charts-red': '#f14c4c',
      '--vscode-charts-yellow': '#cca700',
      '--vscode-charts-foreground': '#ffffff',
      '--vscode-textCodeBlock-background': '#000000',
    },
  },
  light: {
    bodyClass: 'vscode-light',
    vars: {
      '--vscode-font-family': font,
      '--vscode-font-size': '13px',
      '--vscode-editor-font-family': "Menlo, Monaco, 'Courier New', monospace",
      '--vscode-editor-background': '#ffffff',
      '--vscode-foreground': '#3b3b3b',
      '--vscode-descriptionForeground': '#3b3b3b',
      '--vscode-focusBorder': '#005fb8',
      '--vscode-editorWidget-background': '#f8f8f8',
      '--vscode-editorWidget-border': '#c8c8c8',
      '--vscode-editorHoverWidget-background': '#f8f8f8',
      '--vscode-editorHoverWidget-border': '#c8c8c8',
      '--vscode-editorHoverWidget-foreground': '#3b3b3b',
      '--vscode-widget-border': '#e5e5e5',
      '--vscode-widget-shadow': 'rgba(0, 0, 0, 0.16)',
      '--vscode-panel-border': '#e5e5e5',
      '--vscode-badge-background': '#cccccc',
      '--vscode-badge-foreground': '#3b3b3b',
      '--vscode-button-background': '#005fb8',
      '--vscode-button-foreground': '#ffffff',
      '--vscode-button-border': 'rgba(0, 0, 0, 0.1)',
      '--vscode-button-hoverBackground': '#0258a8',
      '--vscode-button-secondaryBackground': '#e5e5e5',
      '--vscode-button-secondaryForeground': '#3b3b3b',
      '--vscode-button-secondaryHoverBackground': '#cccccc',
      '--vscode-input-background': '#ffffff',
      '--vscode-input-foreground': '#3b3b3b',
      '--vscode-input-border': '#cecece',
      '--vscode-input-placeholderForeground': '#767676',
      '--vscode-inputValidation-errorBackground': '#f2dede',
      '--vscode-inputValidation-errorBorder': '#be1100',
      '--vscode-checkbox-background': '#f8f8f8',
      '--vscode-checkbox-border': '#cecece',
      '--vscode-checkbox-foreground': '#3b3b3b',
      '--vscode-charts-blue': '#1a85ff',
      '--vscode-charts-orange': '#d18616',
      '--vscode-charts-green': '#388a34',
      '--vscode-charts-red': '#e51400',
      '--vscode-charts-yellow': '#bf8803',
      '--vscode-charts-foreground': '#616161',
      '--vscode-textCodeBlock-background': '#f8f8f8',
      '--vscode-scrollbarSlider-background': 'rgba(100, 100, 100, 0.4)',
      '--vscode-scrollbarSlider-activeBackground': 'rgba(0, 0, 0, 0.6)',
      '--vscode-settings-checkboxBackground': '#f8f8f8',
      '--vscode-settings-checkboxBorder': '#cecece',
      '--vscode-settings-checkboxForeground': '#3b3b3b',
      '--vscode-settings-textInputBackground': '#ffffff',
      '--vscode-settings-textInputForeground': '#3b3b3b',
      '--vscode-settings-textInputBorder': '#cecece',
    },
  },
};

export interface PageSpec {
  /** File name stem under test-output/webview. */
  readonly name: string;
  readonly theme: ThemeName;
  /** Posted in order when the webview says 'ready'. */
  readonly messages: readonly ToWebview[];
  /** What getState() returns at load, as after a reload. */
  readonly state?: unknown;
  /** Use WebGL for large graphs even when the browser only has a software rasterizer. */
  readonly forceWebgl?: boolean;
}

/**
 * The fake host, run before circuit.js. It exposes window.__harness (posted messages, CSP
 * violations, painted events, send/setTheme helpers) and asks the webview for its test hooks.
 */
const fakeHost = String.raw`(() => {
  const fixture = JSON.parse(document.getElementById('fixture').textContent);
  const h = (window.__harness = { posted: [], violations: [], painted: [], state: fixture.state, fixture });
  document.addEventListener('securitypolicyviolation', (e) => h.violations.push(e.violatedDirective + ' blocked ' + e.blockedURI + ' at ' + e.sourceFile + ':' + e.lineNumber));
  window.__circuitscopeTest = { forceWebgl: fixture.forceWebgl === true };
  h.setTheme = (name) => {
    const t = fixture.themes[name];
    for (const [k, v] of Object.entries(t.vars)) document.documentElement.style.setProperty(k, v);
    document.body.className = t.bodyClass;
  };
  h.setTheme(fixture.theme);
  window.addEventListener('circuitscope:painted', (e) => h.painted.push({ t: performance.now(), side: e.detail.side, reason: e.detail.reason }));
  h.send = (msg) => {
    performance.mark('host:post:' + msg.type);
    h.lastPostAt = performance.now();
    window.postMessage(msg, '*');
  };
  h.resend = () => { for (const m of fixture.messages) h.send(m); };
  /** Resolves with the ms from the next mousemove to the frame after the hover card becomes visible. */
  /** Arms the hover measurement; await h.hover after moving the pointer (arming must finish first). */
  h.armHover = (side) => { h.hover = h.measureHover(side); return true; };
  h.measureHover = (side) => new Promise((resolve, reject) => {
    const cards = [...document.querySelectorAll('.cs-card')];
    const card = side === 'b' ? cards[1] : cards[0];
    // Listener order is not ours to choose (Cytoscape may see the event first and show the card before
    // this listener runs), so both callbacks check, and the event's own timestamp is the start.
    let t0;
    let settled = false;
    const check = () => {
      if (settled || t0 === undefined || card.hidden) return;
      settled = true;
      obs.disconnect();
      requestAnimationFrame(() => resolve(performance.now() - t0));
    };
    const obs = new MutationObserver(check);
    obs.observe(card, { attributes: true, attributeFilter: ['hidden'], childList: true, subtree: true });
    window.addEventListener('mousemove', (e) => { t0 = t0 ?? e.timeStamp; check(); }, { capture: true, once: true });
    setTimeout(() => { if (!settled) { obs.disconnect(); reject(new Error('hover card did not appear')); } }, 5000);
  });
  window.acquireVsCodeApi = () => ({
    postMessage(m) {
      h.posted.push(JSON.parse(JSON.stringify(m)));
      if (m && m.type === 'ready') h.resend();
    },
    getState() { return h.state; },
    setState(s) { h.state = s; return s; },
  });
})();`;

/** The page for a spec: the CSP the host uses, the stylesheet and script links, and the fixture. */
export function pageHtml(spec: PageSpec, cspSource: string, nonce = randomBytes(16).toString('base64')): string {
  const csp = [
    "default-src 'none'",
    `img-src ${cspSource} data:`,
    `style-src ${cspSource} 'nonce-${nonce}'`,
    `script-src 'nonce-${nonce}'`,
    `font-src ${cspSource}`,
  ].join('; ');
  // The fixture is JSON inside a non-executed script element; '<' is escaped so no '</script>' ends it early.
  const fixture = JSON.stringify({ theme: spec.theme, themes, messages: spec.messages, state: spec.state, forceWebgl: spec.forceWebgl }).replace(/</g, '\\u003c');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${cspSource}/dist/webview/circuit.css" nonce="${nonce}">
<title>Circuitscope webview harness: ${spec.name}</title>
</head>
<body>
<div id="app"></div>
<script type="application/json" id="fixture">${fixture}</script>
<script nonce="${nonce}">${fakeHost}</script>
<script nonce="${nonce}" src="${cspSource}/dist/webview/circuit.js"></script>
</body>
</html>
`;
}

/** Writes the page for `spec` to test-output/webview/<name>.html and returns its path under the server root. */
export function writePage(spec: PageSpec, cspSource: string): string {
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `${spec.name}.html`);
  fs.writeFileSync(file, pageHtml(spec, cspSource));
  return '/' + path.relative(process.cwd(), file).split(path.sep).join('/');
}

const types: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

export interface Server {
  readonly origin: string;
  close(): Promise<void>;
}

/** Serves dist/webview and test-output/webview of the working directory on 127.0.0.1. */
export async function startServer(): Promise<Server> {
  const root = process.cwd();
  const allowed = [path.join(root, 'dist', 'webview') + path.sep, outDir + path.sep];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const file = path.normalize(path.join(root, decodeURIComponent(url.pathname)));
    if (!allowed.some((a) => file.startsWith(a)) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Why the browser tests cannot run here, or undefined when they can. */
export function missingPrerequisite(): string | undefined {
  if (!fs.existsSync(chromiumPath)) return `no chromium at ${chromiumPath}`;
  if (!fs.existsSync(path.resolve('test/e2e/node_modules/playwright-core'))) return 'playwright-core is not installed in test/e2e (run bash test/e2e/setup.sh)';
  if (!fs.existsSync(path.resolve('dist/webview/circuit.js'))) return 'dist/webview/circuit.js is missing (run node esbuild.mjs)';
  return undefined;
}

/** Flags for a headless container, and none of them reach the network. */
export const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
];

export async function launch(extraArgs: readonly string[] = [], dropArgs: readonly string[] = []): Promise<Browser> {
  const req = createRequire(path.resolve('test/e2e/package.json'));
  const { chromium } = req('playwright-core') as PlaywrightCore;
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [...chromiumArgs.filter((a) => !dropArgs.includes(a)), ...extraArgs],
    timeout: 30_000,
  });
}

export interface OpenedPage {
  readonly page: Page;
  /** Uncaught exceptions and console errors of the page. */
  readonly errors: string[];
}

/** Opens a spec's page and waits for the first painted frame of every side it shows. */
export async function openPage(
  browser: Browser,
  server: Server,
  spec: PageSpec,
  opts: { viewport?: { width: number; height: number }; waitPainted?: number } = {},
): Promise<OpenedPage> {
  const url = server.origin + writePage(spec, server.origin);
  const page = await browser.newPage({ viewport: opts.viewport ?? { width: 1280, height: 800 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  await page.goto(url, { waitUntil: 'load' });
  const want = opts.waitPainted ?? spec.messages.filter((m) => m.type === 'showCircuit').length + 2 * spec.messages.filter((m) => m.type === 'showCompare').length;
  if (want > 0) await waitFor(page, `window.__harness.painted.filter((p) => p.reason === 'show').length >= ${want}`, 60_000);
  return { page, errors };
}

/** Evaluates an expression in the page; expressions are strings because this tsconfig has no DOM types. */
export async function evaluate<T>(page: Page, expression: string): Promise<T> {
  return (await page.evaluate(expression)) as T;
}

/**
 * Polls an expression until it is truthy. Playwright's waitForFunction re-evaluates string predicates
 * with eval inside the page, which the webview's CSP (no 'unsafe-eval') forbids; page.evaluate goes
 * through the debugging protocol and is not subject to it.
 */
export async function waitFor(page: Page, expression: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await evaluate<unknown>(page, expression))) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${expression}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface PostedMessage {
  readonly type: string;
  readonly [key: string]: unknown;
}

export function posted(page: Page): Promise<PostedMessage[]> {
  return evaluate<PostedMessage[]>(page, 'window.__harness.posted');
}

export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `${name}.png`);
  await page.screenshot({ path: file });
  return path.relative(process.cwd(), file);
}

/** A node's centre in page pixels, from the webview's test hooks. */
export async function nodePosition(page: Page, side: string, node: string): Promise<{ x: number; y: number }> {
  const p = await evaluate<{ x: number; y: number } | undefined>(page, `window.__circuitscopeTest.nodePosition(${JSON.stringify(side)}, ${JSON.stringify(node)})`);
  if (!p) throw new Error(`no node ${node} on side ${side}`);
  return p;
}
