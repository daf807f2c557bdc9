// UI spec of Restricted Mode and of the webview's isolation (#15): the packaged extension
// (this platform's VSIX from dist/vsix) in code-server 4.100.3 with workspace trust ON (the other specs run with it off),
// a fresh browser profile (so the folder is not trusted yet), driven by playwright-core.
//
//   1. The workbench asks whether to trust the folder; the spec answers "No" (Restricted Mode).
//   2. Untrusted: the Circuitscope tree shows the Restricted Mode message and lists no checkpoint;
//      Discover Circuits from the palette answers with the Restricted Mode warning; no engine process
//      of this extension exists and nothing is written into the workspace.
//   3. The folder is trusted through the workbench's own Workspace Trust editor (its Trust button):
//      the tree fills with the run, the model folders and the prompt sets, and the engine starts.
//   4. Offline view: Discover Circuits renders the circuit view while every request of the browser
//      is recorded; the webview's requests are only its own resources (the webview host page of
//      code-server and the extension's dist/webview and media files), nothing reaches another host,
//      and the view's Content-Security-Policy has default-src 'none', a nonce-only script-src and
//      no source but the webview's own resource origin and data: images.
//
// Expects this platform's VSIX and out/test/integration/makeWorkspace.js (test/ui/run.mjs builds both).
// Environment: CIRCUITSCOPE_UI_VSIX, CIRCUITSCOPE_UI_OUTPUT (screenshots), the harness's CIRCUITSCOPE_E2E_*.
// Prints one line per check and closes with `N passed, N failed`; exit code 1 when a check failed.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser, openWorkbench, runCommand, startServer, waitForToast, withTimeout } from '../e2e/harness.mjs';
import { hostTarget, vsixPath as platformVsix } from '../../scripts/targets.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
// This machine's platform VSIX (dist/vsix/circuitscope-linux-x64.vsix in CI), unless CIRCUITSCOPE_UI_VSIX names another.
const vsixPath = path.resolve(process.env.CIRCUITSCOPE_UI_VSIX ?? platformVsix(hostTarget()));
const makeWorkspace = path.join(repo, 'out', 'test', 'integration', 'makeWorkspace.js');
const outputDir = path.resolve(process.env.CIRCUITSCOPE_UI_OUTPUT ?? path.join(repo, 'test-output', 'ui'));
const limits = { ui: 20_000, engine: 90_000, step: 120_000 };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

for (const [file, how] of [
  [vsixPath, 'npm run package'],
  [makeWorkspace, 'node esbuild.mjs'],
]) {
  if (!fs.existsSync(file)) {
    console.error(`[ui] missing ${path.relative(repo, file)}; build it with \`${how}\` (or run node test/ui/run.mjs)`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
}
fs.mkdirSync(outputDir, { recursive: true });

/** Engine processes (dist/engine.js) of the extension installed under `root`. */
function enginesUnder(root) {
  const found = [];
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let cmd;
    try {
      cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
    } catch {
      continue;
    }
    if (cmd.includes(root) && /dist[/\\]engine\.js/.test(cmd)) found.push(Number(pid));
  }
  return found;
}

/** The Circuitscope side bar, opened from the activity bar. */
async function openCircuitscopeView(page) {
  const sidebar = page.locator('.part.sidebar');
  const icon = page.locator('.activitybar .action-label[aria-label^="Circuitscope"]').first();
  await icon.waitFor({ timeout: limits.ui });
  const title = sidebar.locator('.composite.title', { hasText: /circuitscope/i }).first();
  if (!(await title.isVisible().catch(() => false))) await icon.click();
  await title.waitFor({ timeout: limits.ui });
  return sidebar;
}

/** Texts of the rows of the Circuitscope tree, expanding its two sections. */
async function treeRows(sidebar) {
  const rows = sidebar.locator('.monaco-list-row');
  for (const section of ['Checkpoints', 'Prompts']) {
    const row = rows.filter({ hasText: new RegExp(`^${section}`) }).first();
    if ((await row.count()) && (await row.getAttribute('aria-expanded')) === 'false') await row.click();
  }
  return (await rows.allInnerTexts()).map((t) => t.trim().replace(/\s+/g, ' '));
}

async function waitFor(what, fn, ms = limits.ui) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    last = await fn();
    if (last.ok) return last;
    if (Date.now() > deadline) throw new Error(`${what} (last seen: ${JSON.stringify(last.seen ?? last).slice(0, 400)})`);
    await sleep(250);
  }
}

/** The frame of the circuit view's content (the webview's #active-frame). */
async function circuitFrame(page) {
  const { frame } = await waitFor(
    'the circuit view frame',
    async () => {
      for (const f of page.frames()) {
        if (!/\/webview\//.test(f.url()) && !/vscode-webview/.test(f.url())) continue;
        if (await f.locator('meta[http-equiv="Content-Security-Policy"]').count().catch(() => 0)) {
          if (await f.locator('canvas, .cs-cy').count().catch(() => 0)) return { ok: true, frame: f };
        }
      }
      return { ok: false, seen: page.frames().map((f) => f.url()) };
    },
    limits.engine,
  );
  return frame;
}

/** Checks a Content-Security-Policy string; returns its directives. */
export function checkCsp(csp, resourceOrigins) {
  const directives = new Map(
    csp
      .split(';')
      .map((d) => d.trim())
      .filter(Boolean)
      .map((d) => {
        const [name, ...sources] = d.split(/\s+/);
        return [name, sources];
      }),
  );
  const problems = [];
  if ((directives.get('default-src') ?? []).join(' ') !== "'none'") problems.push(`default-src is not 'none': ${directives.get('default-src')}`);
  const scripts = directives.get('script-src') ?? [];
  if (scripts.length === 0 || !scripts.every((s) => /^'nonce-[A-Za-z0-9+/=]+'$/.test(s))) problems.push(`script-src is not nonce-only: ${scripts.join(' ')}`);
  for (const [name, sources] of directives) {
    for (const s of sources) {
      if (/^'(none|self|nonce-[A-Za-z0-9+/=]+)'$/.test(s)) continue;
      if (s === 'data:' && (name === 'img-src' || name === 'font-src')) continue;
      if (/unsafe|^\*$|^https?:$|^wss?:$|^blob:$/.test(s)) {
        problems.push(`${name} allows ${s}`);
        continue;
      }
      // A host source must be the webview's own resource origin (VS Code's cspSource).
      if (!resourceOrigins.some((o) => s === o || (s.startsWith('https://*.') && o.endsWith(s.slice('https://*'.length))))) problems.push(`${name} allows ${s}, not the webview's resource origin (${resourceOrigins.join(', ')})`);
    }
  }
  if (directives.has('connect-src')) problems.push(`connect-src is set: ${directives.get('connect-src')}`);
  return { directives, problems };
}

async function main() {
  const results = [];
  const ws = execFileSync(process.execPath, [makeWorkspace], { encoding: 'utf8' }).trim();
  const server = await startServer({ vsixPath, workspaceDir: ws, workspaceTrust: true });
  const browser = await launchBrowser();
  const { page, context } = browser;
  const requests = [];
  context.on('request', (r) => {
    let frameUrl = '';
    try {
      frameUrl = r.frame()?.url() ?? '';
    } catch {
      frameUrl = '(service worker)';
    }
    requests.push({ url: r.url(), frameUrl, serviceWorker: r.serviceWorker() !== null, request: r });
  });
  const failed = [];
  context.on('requestfailed', (r) => failed.push(`${r.url()} (${r.failure()?.errorText})`));
  const shot = (name) => page.screenshot({ path: path.join(outputDir, `trust-${name}.png`) }).catch(() => undefined);
  const check = async (name, fn) => {
    const t0 = Date.now();
    try {
      await withTimeout(fn(), limits.step, name);
      results.push(true);
      console.log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    } catch (e) {
      results.push(false);
      console.log(`FAIL ${name}\n     ${String(e?.message ?? e).split('\n').join('\n     ')}`);
      await shot(`fail-${results.length}`);
    }
  };
  const extRoot = server.dirs.root;
  try {
    await check('the workbench asks whether to trust the folder, and "No" opens it in Restricted Mode', async () => {
      await openWorkbench(page, server);
      const dialog = page.locator('.monaco-dialog-box', { hasText: 'Do you trust the authors' }).first();
      await dialog.waitFor({ timeout: limits.ui });
      await dialog.locator('.monaco-button', { hasText: "No, I don't trust the authors" }).first().click();
      await dialog.waitFor({ state: 'hidden', timeout: limits.ui });
      await page.locator('.statusbar', { hasText: 'Restricted Mode' }).first().waitFor({ timeout: limits.ui });
    });

    await check('untrusted: the tree shows the Restricted Mode message, no engine runs, nothing is written', async () => {
      const sidebar = await openCircuitscopeView(page);
      const { rows } = await waitFor('the Restricted Mode message in the tree', async () => {
        const rows = await treeRows(sidebar);
        return { ok: rows.some((r) => /Restricted Mode/.test(r)), rows, seen: rows };
      });
      for (const name of ['tiny-gpt2', 'checkpoint-100', 'cities.jsonl']) if (rows.some((r) => r.includes(name))) throw new Error(`the untrusted tree lists ${name}: ${rows.join(' | ')}`);
      // The extension is active (its tree answers) and has had time to scan, had it been allowed to.
      await sleep(3000);
      const engines = enginesUnder(extRoot);
      if (engines.length) throw new Error(`an engine process runs in Restricted Mode: pids ${engines.join(', ')}`);
      if (fs.existsSync(path.join(ws, '.circuitscope'))) throw new Error('the results folder was created in Restricted Mode');
      await shot('01-restricted');
    });

    await check('untrusted: Discover Circuits answers with the Restricted Mode warning and starts nothing', async () => {
      await runCommand(page, 'Circuitscope: Discover Circuits');
      const text = await waitForToast(page, 'Restricted Mode', { timeoutMs: limits.ui });
      if (!/Trust this workspace/.test(text)) throw new Error(`unexpected warning: ${text}`);
      await sleep(1500);
      const engines = enginesUnder(extRoot);
      if (engines.length) throw new Error(`Discover started an engine in Restricted Mode: pids ${engines.join(', ')}`);
      if (fs.existsSync(path.join(ws, '.circuitscope'))) throw new Error('Discover wrote into the workspace in Restricted Mode');
      await page.keyboard.press('Escape');
    });

    await check('trusting the folder in the Workspace Trust editor fills the tree and starts the engine', async () => {
      await runCommand(page, 'Workspaces: Manage Workspace Trust');
      const editor = page.locator('.workspace-trust-editor').first();
      await editor.waitFor({ timeout: limits.ui });
      await editor.locator('.monaco-button', { hasText: /^Trust( Folder)?$/ }).first().click();
      await page.locator('.statusbar', { hasText: 'Restricted Mode' }).first().waitFor({ state: 'hidden', timeout: limits.ui });
      await page.keyboard.press('Escape');
      const sidebar = await openCircuitscopeView(page);
      const { rows } = await waitFor(
        'the trusted tree to list the run, the model folders and the prompt sets',
        async () => {
          const rows = await treeRows(sidebar);
          const ok = ['tiny-gpt2', 'base', 'cities.jsonl'].every((n) => rows.some((r) => r.includes(n))) && !rows.some((r) => /Restricted Mode/.test(r));
          return { ok, rows, seen: rows };
        },
        limits.engine,
      );
      const engines = enginesUnder(extRoot);
      if (engines.length === 0) throw new Error('no engine process after trusting the folder');
      console.log(`    tree: ${rows.slice(0, 6).join(' | ')}; engine pid ${engines.join(', ')}`);
      await shot('02-trusted');
    });

    await check('the circuit view loads no remote resource, and its CSP allows none', async () => {
      const from = requests.length;
      failed.length = 0;
      await runCommand(page, 'Circuitscope: Discover Circuits');
      const pick = async (label) => {
        const row = page.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: label }).first();
        await row.waitFor({ timeout: limits.ui });
        await row.click();
      };
      await pick('checkpoint-100');
      await pick('cities.jsonl');
      const frame = await circuitFrame(page);
      await sleep(2000);
      const doc = await frame.evaluate(() => ({
        csp: document.querySelector('meta[http-equiv="Content-Security-Policy"]')?.getAttribute('content') ?? '',
        urls: [...document.querySelectorAll('[src], link[href]')].map((e) => e.getAttribute('src') ?? e.getAttribute('href')),
      }));
      const origins = [...new Set(doc.urls.map((u) => new URL(u, 'http://invalid/').origin))];
      const { problems } = checkCsp(doc.csp, origins);
      if (problems.length) throw new Error(`CSP problems: ${problems.join('; ')}\n${doc.csp}`);
      console.log(`    CSP: ${doc.csp}`);
      console.log(`    the view's own resources from ${origins.join(', ')}: ${doc.urls.map((u) => path.basename(new URL(u).pathname)).join(', ')}`);
      const mine = requests.slice(from);
      const serverOrigin = new URL(server.url).origin;
      const remote = [];
      const webviewRequests = [];
      for (const r of mine) {
        const u = new URL(r.url);
        const inWebview = /\/webview\//.test(r.frameUrl) || r.frameUrl === '(service worker)' || r.serviceWorker || origins.includes(u.origin);
        if (inWebview) webviewRequests.push(r);
        if (u.protocol === 'data:' || u.protocol === 'blob:') continue;
        if (u.origin === serverOrigin) continue;
        // The webview's resource origin is answered by its service worker from the extension's files, never fetched.
        if (origins.includes(u.origin)) {
          const resp = await r.request.response().catch(() => null);
          const own = /\/(dist\/webview|media)\//.test(decodeURIComponent(u.pathname));
          if (own && (!resp || resp.fromServiceWorker())) continue;
        }
        remote.push(`${r.url} (from ${r.frameUrl || 'the page'})`);
      }
      if (remote.length) throw new Error(`requests left the machine or the webview's own resources:\n${remote.join('\n')}`);
      const webviewFailed = failed.filter((f) => !f.startsWith(serverOrigin));
      if (webviewFailed.length) throw new Error(`failed requests: ${webviewFailed.join(', ')}`);
      if (webviewRequests.length === 0) throw new Error('no request of the webview was recorded');
      console.log(`    ${mine.length} requests while the view opened, ${webviewRequests.length} of the webview, all local:`);
      for (const r of webviewRequests.slice(0, 12)) console.log(`      ${r.url.length > 140 ? r.url.slice(0, 140) + '…' : r.url}`);
      await shot('03-view');
    });
  } finally {
    await browser.close();
    await server.stop();
    fs.rmSync(ws, { recursive: true, force: true });
  }
  const passed = results.filter(Boolean).length;
  console.log(`${passed} passed, ${results.length - passed} failed`);
  process.exitCode = passed === results.length ? 0 : 1;
}

main().catch((e) => {
  console.error(e?.stack ?? String(e));
  console.log('0 passed, 1 failed');
  process.exit(1);
});
