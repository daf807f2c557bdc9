// UI acceptance spec: the packaged extension (circuitscope.vsix) installed in code-server 4.100.3,
// driven through Chromium by playwright-core, once in a light and once in a dark theme.
//
//   1. Explorer: runs/tiny-gpt2/checkpoint-100 → right-click → Discover Circuits → cities.jsonl →
//      the circuit view renders its nodes (canvas pixels, graph label, legend, status line).
//   2. Hovering a head (a real pointer move onto its rendered position) shows its card with its role.
//   3. Circuitscope tree: checkpoint-20 + Ctrl-click checkpoint-300 → Compare Checkpoints →
//      cities.jsonl → both graphs and the drift chart render.
//   4. Back on the circuit view: Export Circuit Edges as CSV and Export View as SVG through the save
//      dialog (code-server's path QuickInput); the files exist and parse.
//
// Screenshots: test-output/ui/{light,dark}-NN-step.png at the repository root (git-ignored), with
// copies of the exported files ({light,dark}-export-edges.csv, {light,dark}-export-view.svg).
//
// Expects a built VSIX (circuitscope.vsix at the repository root, `npm run package`) and
// out/test/integration/makeWorkspace.js (`node esbuild.mjs`, which `npm run package` also runs);
// test/ui/run.mjs builds both and then runs this file. Needs `bash test/e2e/setup.sh` once.
//
// Environment: CIRCUITSCOPE_UI_VSIX (the VSIX), CIRCUITSCOPE_UI_OUTPUT (screenshot folder),
// CIRCUITSCOPE_UI_THEMES (comma list of light,dark; default both), and the harness's CIRCUITSCOPE_E2E_*.
// Prints one line per check and closes with `N passed, N failed`; exit code 1 when a check failed.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser, openWorkbench, runCommand, startServer, withTimeout } from '../e2e/harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const vsixPath = path.resolve(process.env.CIRCUITSCOPE_UI_VSIX ?? path.join(repo, 'circuitscope.vsix'));
const makeWorkspace = path.join(repo, 'out', 'test', 'integration', 'makeWorkspace.js');
const outputDir = path.resolve(process.env.CIRCUITSCOPE_UI_OUTPUT ?? path.join(repo, 'test-output', 'ui'));
const allThemes = { light: 'Default Light Modern', dark: 'Default Dark Modern' };
const themeNames = (process.env.CIRCUITSCOPE_UI_THEMES ?? 'light,dark').split(',').map((s) => s.trim()).filter(Boolean);

/** Limits in milliseconds; every wait below is bounded by one of these. */
const limits = {
  step: 90_000, // one check, whatever it waits for
  ui: 15_000, // a workbench element to appear
  engine: 60_000, // discovery or comparison of the tiny checkpoints, until the view shows
  file: 20_000, // an exported file to be written
};

for (const name of themeNames) if (!(name in allThemes)) throw new Error(`unknown theme '${name}' in CIRCUITSCOPE_UI_THEMES (light, dark)`);
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
for (const f of fs.readdirSync(outputDir)) if (/^(light|dark)-.*\.(png|csv|svg)$/.test(f)) fs.rmSync(path.join(outputDir, f));

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const rel = (p) => path.relative(process.cwd(), p);

// ---- workbench helpers ----

/** Throws with the toast's text when the extension reported an error. */
async function failOnErrorToast(page) {
  const toast = page.locator('.notifications-toasts .notification-toast', { hasText: 'Circuitscope:' }).first();
  if ((await toast.count()) === 0) return;
  const text = (await toast.innerText().catch(() => '')).trim();
  // Progress toasts are titled "Discovering…"/"Comparing…"; errors start with "Circuitscope:".
  if (/Circuitscope: .*(failed|cannot|error)/i.test(text)) throw new Error(`the extension reported: ${text}`);
}

/** A row of a tree or list whose label (not description) is exactly `label`. */
function rowByLabel(scope, label) {
  // The inner locator of `has` is matched inside the row, so it is built from the page, not from `scope`.
  return scope.locator('.monaco-list-row').filter({ has: scope.page().locator('.label-name', { hasText: new RegExp(`^${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) }) }).first();
}

/** Expands a collapsed tree row by clicking it (folders and tree items toggle on click). */
async function expand(row) {
  await row.waitFor({ state: 'visible', timeout: limits.ui });
  if ((await row.getAttribute('aria-expanded')) !== 'true') await row.click();
  const deadline = Date.now() + limits.ui;
  while ((await row.getAttribute('aria-expanded')) !== 'true') {
    if (Date.now() > deadline) throw new Error(`row ${await row.getAttribute('aria-label')} did not expand`);
    await sleep(100);
  }
}

/**
 * Right-clicks `row` and clicks the context-menu item `item`. The menu is reopened until the item is
 * there, because the extension adds its items only after its workspace scan has set a context key.
 */
async function contextMenu(page, row, item, { timeoutMs = 30_000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  const entry = page.locator('.monaco-menu .action-item .action-label', { hasText: new RegExp(`^${item}$`) }).first();
  for (;;) {
    await row.click({ button: 'right' });
    try {
      await entry.waitFor({ state: 'visible', timeout: 1_500 });
      break;
    } catch {
      await page.keyboard.press('Escape');
      if (Date.now() > deadline) throw new Error(`context menu item '${item}' did not appear within ${timeoutMs} ms`);
      await sleep(500);
    }
  }
  // VS Code's menu can drop a click that arrives while it is still settling; the item takes focus on
  // hover, so Enter is the fallback when the menu is still open afterwards.
  await entry.hover();
  await entry.click();
  const menu = page.locator('.monaco-menu').first();
  try {
    await menu.waitFor({ state: 'hidden', timeout: 1_000 });
  } catch {
    await page.keyboard.press('Enter');
    await menu.waitFor({ state: 'hidden', timeout: 2_000 });
  }
}

/** Picks the QuickPick row with label `label`. */
async function pickQuick(page, label, { timeoutMs = limits.ui } = {}) {
  const row = page.locator('.quick-input-widget .quick-input-list .monaco-list-row').filter({ has: page.locator('.label-name', { hasText: new RegExp(`^${label}$`) }) }).first();
  await row.waitFor({ state: 'visible', timeout: timeoutMs });
  await row.click();
}

/**
 * The innermost webview frame showing the circuitscope view of `kind` ('circuit' or 'compare') with
 * its graphs drawn. Webviews are two nested iframes; they are found by content, not by position.
 */
async function viewFrame(page, kind, { panes = 1, timeoutMs = limits.engine } = {}) {
  const deadline = Date.now() + timeoutMs;
  const selector = `#app[data-view="${kind}"] .cs-cy canvas`;
  for (;;) {
    for (const f of page.frames()) {
      if (f === page.mainFrame() || f.isDetached()) continue;
      const n = await f
        .locator(selector)
        .count()
        .catch(() => 0);
      if (n === 0) continue;
      const drawn = await f
        .locator('.cs-cy')
        .count()
        .catch(() => 0);
      if (drawn >= panes) return f;
    }
    await failOnErrorToast(page);
    if (Date.now() > deadline) throw new Error(`no ${kind} view with ${panes} graph(s) appeared within ${timeoutMs} ms`);
    await sleep(250);
  }
}

/**
 * What one graph shows, read in the webview: the node and edge counts of its accessible label, the
 * number of painted pixels on its canvases (Cytoscape's layers), and whether the test hooks exist.
 */
async function graphFacts(frame, index = 0) {
  return frame.locator('.cs-cy').nth(index).evaluate((cy) => {
    const m = /(\d+) nodes and (\d+) edges in the circuit/.exec(cy.getAttribute('aria-label') ?? '');
    let painted = 0;
    for (const c of cy.querySelectorAll('canvas')) {
      if (!c.width || !c.height) continue;
      const ctx = c.getContext('2d');
      if (!ctx) continue;
      const px = ctx.getImageData(0, 0, c.width, c.height).data;
      for (let i = 3; i < px.length; i += 4 * 7) if (px[i] > 0) painted++;
    }
    const r = cy.getBoundingClientRect();
    return { nodes: m ? Number(m[1]) : -1, edges: m ? Number(m[2]) : -1, painted, width: r.width, height: r.height, hooks: typeof window.__circuitscopeTest?.nodePosition === 'function' };
  });
}

function assertDrawn(facts, what) {
  if (!(facts.nodes > 0 && facts.edges > 0)) throw new Error(`${what}: the graph's label reports ${facts.nodes} nodes and ${facts.edges} edges`);
  if (facts.width < 100 || facts.height < 100) throw new Error(`${what}: the graph is ${facts.width}×${facts.height} px`);
  if (facts.painted < 50) throw new Error(`${what}: the graph's canvases are blank (${facts.painted} painted samples)`);
}

/** Activates the editor tab whose label starts with `title`. */
async function activateTab(page, title) {
  const tab = page.locator('.tabs-container .tab', { hasText: title }).first();
  await tab.waitFor({ state: 'visible', timeout: limits.ui });
  await tab.click();
}

/**
 * Answers a save dialog. In code-server the dialog is the "simple file dialog": a QuickInput whose
 * value is the proposed path. As a user would, the test first types the target folder (with a trailing
 * slash, which makes the dialog list it), then the full path, and presses Enter. A path in a folder the
 * dialog has not listed yet only makes the first Enter list that folder, and an Enter that arrives while
 * the dialog is still updating can be lost, so Enter is repeated (at most 5 times) until it closes.
 */
async function answerSaveDialog(page, target, { timeoutMs = limits.ui } = {}) {
  const widget = page.locator('.quick-input-widget');
  const input = widget.locator('input.input');
  await input.waitFor({ state: 'visible', timeout: timeoutMs });
  // The dialog shows its OK button; the command palette that opened it does not.
  await widget.locator('.quick-input-action', { hasText: 'OK' }).first().waitFor({ state: 'visible', timeout: timeoutMs });
  /** Waits until the box holds a value matching `ok` that stays put for 300 ms; returns it. */
  const settled = async (ok) => {
    let value = '';
    for (let stable = 0, by = Date.now() + 5_000; stable < 3 && Date.now() < by; ) {
      const v = await input.inputValue();
      stable = v === value && ok(v) ? stable + 1 : 0;
      value = v;
      await sleep(100);
    }
    return value;
  };
  // The dialog fills in its proposal (folder, then file name) asynchronously; typing earlier could be overwritten.
  const proposed = await settled((v) => /[^/]$/.test(v));
  const folder = path.dirname(target) + '/';
  await input.fill(folder);
  await settled((v) => v === folder);
  await input.fill(target);
  await settled((v) => v === target);
  const deadline = Date.now() + timeoutMs;
  for (let presses = 1; ; presses++) {
    await page.keyboard.press('Enter');
    try {
      await widget.waitFor({ state: 'hidden', timeout: 2_000 });
      return { proposed, presses };
    } catch {
      const message = (await widget.locator('.quick-input-message').innerText().catch(() => '')).trim();
      const value = await input.inputValue().catch(() => '');
      if (value !== target) throw new Error(`the save dialog changed the path to ${value}${message ? ` (${message})` : ''}`);
      if (Date.now() > deadline || presses >= 5) throw new Error(`the save dialog did not accept ${target} after ${presses} Enter${message ? `: ${message}` : ''}`);
    }
  }
}

async function waitForFile(file, timeoutMs = limits.file) {
  const deadline = Date.now() + timeoutMs;
  while (!(fs.existsSync(file) && fs.statSync(file).size > 0)) {
    if (Date.now() > deadline) throw new Error(`${file} was not written within ${timeoutMs} ms`);
    await sleep(200);
  }
  // Written with one writeFileSync; wait for the size to settle anyway.
  let size = -1;
  while (size !== fs.statSync(file).size) {
    size = fs.statSync(file).size;
    await sleep(100);
  }
  return fs.readFileSync(file, 'utf8');
}

// ---- file checks ----

/** Splits CSV text into rows of fields (RFC 4180 quoting). */
export function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') row.push(field), (field = '');
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field), rows.push(row), (row = []), (field = '');
    } else field += c;
  }
  if (quoted) throw new Error('CSV ends inside a quoted field');
  if (field !== '' || row.length) row.push(field), rows.push(row);
  return rows;
}

/** Checks that SVG text is one well-nested element tree rooted at <svg>; returns its element count. */
export function checkSvg(text) {
  const body = text.replace(/^\uFEFF/, '').trimStart();
  if (!body.startsWith('<svg') && !body.startsWith('<?xml')) throw new Error(`the SVG starts with ${JSON.stringify(body.slice(0, 40))}`);
  const stack = [];
  let elements = 0;
  let root;
  const re = /<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>|<\?[\s\S]*?\?>|<!DOCTYPE[^>]*>|<(\/?)([A-Za-z_][\w:.-]*)((?:[^>"']|"[^"]*"|'[^']*')*?)(\/?)>/g;
  let m;
  let last = 0;
  while ((m = re.exec(body))) {
    // Text between tags may hold '>' but no '<', and '&' only as an entity.
    const between = body.slice(last, m.index);
    if (/<|&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[\da-fA-F]+);)/.test(between)) throw new Error(`bad text near ${JSON.stringify(between.slice(0, 60))}`);
    last = re.lastIndex;
    if (!m[2]) continue;
    const [, close, name, , selfClose] = m;
    if (close) {
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open ?? 'nothing'}>`);
    } else {
      if (root !== undefined && stack.length === 0) throw new Error(`a second root element <${name}>`);
      elements++;
      root ??= name;
      if (!selfClose) stack.push(name);
    }
  }
  if (body.slice(last).trim()) throw new Error(`text after the root element: ${JSON.stringify(body.slice(last, last + 60))}`);
  if (stack.length) throw new Error(`unclosed elements: ${stack.join(' > ')}`);
  if (root !== 'svg') throw new Error(`the root element is <${root}>`);
  return elements;
}

// ---- the checks of one theme ----

function checksFor(theme, ctx) {
  const shot = async (n, step) => {
    const file = path.join(outputDir, `${theme}-${String(n).padStart(2, '0')}-${step}.png`);
    await ctx.page.screenshot({ path: file });
    console.log(`    screenshot: ${rel(file)}`);
  };
  return [
    [
      'the workbench opens the workspace with the VSIX installed',
      async () => {
        ctx.timings.workbenchMs = await openWorkbench(ctx.page, ctx.server);
        await ctx.page.locator('.explorer-folders-view .monaco-list-row').first().waitFor({ timeout: limits.ui });
        // The activity bar shows the extension's view container once the VSIX is loaded.
        await ctx.page.locator('.activitybar .action-label[aria-label^="Circuitscope"]').first().waitFor({ timeout: limits.ui });
      },
    ],
    [
      'Explorer: right-click checkpoint-100 → Discover Circuits → cities.jsonl renders the circuit view',
      async () => {
        const { page } = ctx;
        const explorer = page.locator('.explorer-folders-view');
        await expand(rowByLabel(explorer, 'runs'));
        await expand(rowByLabel(explorer, 'tiny-gpt2'));
        const t = Date.now();
        await contextMenu(page, rowByLabel(explorer, 'checkpoint-100'), 'Discover Circuits');
        await pickQuick(page, 'cities.jsonl');
        await page.locator('.tabs-container .tab', { hasText: 'Circuit: checkpoint-100' }).first().waitFor({ timeout: limits.engine });
        const frame = await viewFrame(page, 'circuit');
        ctx.timings.discoverMs = Date.now() - t;
        ctx.circuitFrame = frame;
        const facts = await graphFacts(frame);
        assertDrawn(facts, 'circuit view');
        ctx.hooks = facts.hooks;
        const legend = await frame.locator('.cs-legend').innerText({ timeout: limits.ui });
        for (const w of ['q (query)', 'k (key)', 'v (value)', 'mover', 'relation', 'mixture']) if (!legend.includes(w)) throw new Error(`the legend lacks '${w}': ${legend}`);
        const status = await frame.locator('.cs-status').innerText();
        if (!/edges → \d+ edges and \d+ nodes after pruning/.test(status)) throw new Error(`unexpected status line: ${status}`);
        const title = await frame.locator('.cs-pane-title').innerText();
        if (!title.includes('checkpoint-100')) throw new Error(`the pane is titled '${title}'`);
        console.log(`    ${facts.nodes} nodes, ${facts.edges} edges; status: ${status}`);
        // Let the last paint land, and move the pointer off the graph for a clean picture.
        await page.mouse.move(5, 450);
        await sleep(300);
        await shot(1, 'discover');
      },
    ],
    [
      'hovering a head in the circuit shows its card with the head role',
      async () => {
        const { page } = ctx;
        const frame = ctx.circuitFrame ?? (await viewFrame(page, 'circuit'));
        const cy = frame.locator('.cs-cy').first();
        const card = frame.locator('.cs-card:not([hidden])').first();
        let target;
        let at;
        if (ctx.hooks) {
          // The webview's test hooks (installed by the init script) give each node's rendered position.
          const heads = await cy.evaluate(() => window.__circuitscopeTest.circuitNodes('single').filter((n) => /^a\d+\.h\d+$/.test(n)));
          if (heads.length === 0) throw new Error('no attention head is in the circuit');
          target = heads[heads.length - 1];
          at = await cy.evaluate((el, n) => {
            const r = el.getBoundingClientRect();
            const p = window.__circuitscopeTest.nodePosition('single', n);
            return p && { x: p.x - r.left, y: p.y - r.top };
          }, target);
        } else {
          // Without hooks: the search box selects and centres a head that is in the circuit (its status
          // line says 'Found …'); the pointer then goes to the centre of the graph, onto that head.
          const search = frame.locator('vscode-textfield.cs-search input').first();
          for (const head of ['a1.h1', 'a1.h0', 'a0.h1', 'a0.h0']) {
            await search.fill(head);
            await search.press('Enter');
            if ((await frame.locator('.cs-status').innerText()).startsWith(`Found ${head}.`)) {
              target = head;
              break;
            }
          }
          if (!target) throw new Error('the search box found no head of the 2×2 fixture in the circuit');
          await sleep(400); // the centring animation takes 180 ms
          const box = await cy.boundingBox();
          at = { x: box.width / 2, y: box.height / 2 };
        }
        if (!at) throw new Error(`no position for ${target}`);
        await cy.hover({ position: at, timeout: limits.ui });
        await card.waitFor({ state: 'visible', timeout: limits.ui });
        await frame.waitForFunction((n) => document.querySelector('.cs-card:not([hidden]) .cs-card-name')?.textContent === n, target, { timeout: 5_000 });
        const text = await card.innerText();
        if (!text.includes('attention head')) throw new Error(`the card is not a head's: ${text}`);
        const chip = await card.locator('.cs-role-chip').innerText({ timeout: 2_000 }).catch(() => '');
        if (!/^(mover|relation|mixture)$/.test(chip) || !new RegExp(`Role\\s*${chip} head`).test(text)) throw new Error(`the card of ${target} shows no role: ${text}`);
        const ring = await frame.locator('.cs-hover-ring:not([hidden])').count();
        if (ring !== 1) throw new Error('the hover ring is not shown');
        console.log(`    ${target}: ${chip} head (${ctx.hooks ? 'pointer on the node' : 'search box, then pointer'})`);
        await shot(2, 'hover');
        await page.mouse.move(5, 450);
      },
    ],
    [
      'Circuitscope tree: checkpoint-20 + Ctrl-click checkpoint-300 → Compare Checkpoints renders both graphs and the drift chart',
      async () => {
        const { page } = ctx;
        await page.locator('.activitybar .action-label[aria-label^="Circuitscope"]').first().click();
        const sidebar = page.locator('.part.sidebar');
        const a = rowByLabel(sidebar, 'checkpoint-20');
        const b = rowByLabel(sidebar, 'checkpoint-300');
        await a.waitFor({ state: 'visible', timeout: limits.ui });
        await a.click();
        await b.click({ modifiers: ['Control'] });
        const selected = await sidebar.locator('.monaco-list-row.selected').count();
        if (selected !== 2) throw new Error(`${selected} rows are selected in the tree, not 2`);
        const t = Date.now();
        await contextMenu(page, b, 'Compare Checkpoints');
        await pickQuick(page, 'cities.jsonl');
        await page.locator('.tabs-container .tab', { hasText: 'Compare: checkpoint-20' }).first().waitFor({ timeout: limits.engine });
        const frame = await viewFrame(page, 'compare', { panes: 2 });
        ctx.timings.compareMs = Date.now() - t;
        const titles = await frame.locator('.cs-split .cs-pane-title').allInnerTexts();
        if (titles.length !== 2 || !/A\s*checkpoint-20/.test(titles[0]) || !/B\s*checkpoint-300/.test(titles[1])) throw new Error(`pane titles: ${JSON.stringify(titles)}`);
        for (const i of [0, 1]) assertDrawn(await graphFacts(frame, i), `compare pane ${'AB'[i]}`);
        const chart = frame.locator('svg.cs-drift-chart').first();
        await chart.waitFor({ state: 'visible', timeout: limits.ui });
        const bars = await chart.evaluate((s) => ({
          // Bars carry a <title>; the key's swatches share their classes but have none.
          a: s.querySelectorAll('rect.cs-bar-a:has(title)').length,
          b: s.querySelectorAll('rect.cs-bar-b:has(title)').length,
          w: s.getBoundingClientRect().width,
          h: s.getBoundingClientRect().height,
        }));
        if (bars.a < 2 || bars.b < 2 || bars.w < 200 || bars.h < 50) throw new Error(`drift chart: ${JSON.stringify(bars)}`);
        const figures = await frame.locator('.cs-drift-figures').innerText();
        if (!/Edge Jaccard/.test(figures)) throw new Error(`drift figures: ${figures}`);
        console.log(`    drift chart ${Math.round(bars.w)}×${Math.round(bars.h)} px, ${bars.a} layers`);
        await page.mouse.move(5, 450);
        await sleep(300);
        await shot(3, 'compare');
      },
    ],
    [
      'circuit view focused: Export Circuit Edges as CSV writes a CSV that parses',
      async () => {
        const { page } = ctx;
        await activateTab(page, 'Circuit: checkpoint-100');
        // The panel does not retain its context when hidden, so it reloads and the host re-sends the data.
        ctx.circuitFrame = await viewFrame(page, 'circuit', { timeoutMs: limits.ui });
        const file = path.join(ctx.exportDir, 'edges from the UI.csv');
        await runCommand(page, 'Circuitscope: Export Circuit Edges as CSV');
        const { proposed, presses } = await answerSaveDialog(page, file);
        const text = await waitForFile(file);
        fs.copyFileSync(file, path.join(outputDir, `${theme}-export-edges.csv`));
        const rows = parseCsv(text).filter((r) => !(r.length === 1 && r[0] === ''));
        const header = rows[0]?.join(',');
        if (header !== 'edge,parent,child,qkv,score,in_graph,rank') throw new Error(`CSV header: ${header}`);
        if (rows.length < 2) throw new Error('the CSV has no data row');
        const bad = rows.find((r) => r.length !== 7);
        if (bad) throw new Error(`a CSV row has ${bad.length} fields: ${bad.join(',')}`);
        const inGraph = rows.slice(1).filter((r) => r[5] === 'true').length;
        if (inGraph === 0 || rows.slice(1).some((r) => !Number.isFinite(Number(r[4])))) throw new Error('the CSV has no in-graph edge or a non-numeric score');
        console.log(`    ${rows.length - 1} edges (${inGraph} in the graph); the dialog proposed ${proposed}, accepted after ${presses} Enter`);
      },
    ],
    [
      'circuit view focused: Export View as SVG writes well-formed SVG',
      async () => {
        const { page } = ctx;
        const file = path.join(ctx.exportDir, 'view.svg');
        await runCommand(page, 'Circuitscope: Export View as SVG');
        const { presses } = await answerSaveDialog(page, file);
        const text = await waitForFile(file);
        fs.copyFileSync(file, path.join(outputDir, `${theme}-export-view.svg`));
        const elements = checkSvg(text);
        for (const n of ['logits', 'input']) if (!text.includes(`>${n}<`)) throw new Error(`the SVG has no label '${n}'`);
        console.log(`    ${text.length} characters, ${elements} elements; the dialog accepted after ${presses} Enter`);
        await page.mouse.move(5, 450);
        await sleep(300);
        await shot(4, 'export');
      },
    ],
  ];
}

// ---- runner ----

let passed = 0;
let failed = 0;
const started = Date.now();
const timingLines = [];

for (const theme of themeNames) {
  console.log(`${theme} theme (${allThemes[theme]})`);
  const ctx = { timings: {} };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `circuitscope-ui-${theme}-`));
  const workspaceDir = path.join(tmp, 'workspace');
  ctx.exportDir = path.join(tmp, 'exports');
  fs.mkdirSync(ctx.exportDir, { recursive: true });
  let t = Date.now();
  execFileSync(process.execPath, [makeWorkspace, workspaceDir], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 60_000 });
  ctx.timings.workspaceMs = Date.now() - t;
  t = Date.now();
  ctx.server = await startServer({
    vsixPath,
    workspaceDir,
    settings: {
      'workbench.colorTheme': allThemes[theme],
      // One folder per row, so the test expands runs and then tiny-gpt2 as a user would see them.
      'explorer.compactFolders': false,
      'workbench.editor.enablePreview': false,
    },
  });
  ctx.timings.serverMs = Date.now() - t;
  let browser;
  try {
    browser = await launchBrowser();
    ctx.page = browser.page;
    // Installs the circuit view's test hooks (webview/circuit/main.ts reads window.__circuitscopeTest at
    // load); the script runs in every frame, the webviews' inner frames included.
    await browser.context.addInitScript(() => {
      window.__circuitscopeTest ??= {};
    });
    for (const [name, fn] of checksFor(theme, ctx)) {
      const t0 = Date.now();
      try {
        await withTimeout(fn(), limits.step, name);
        passed++;
        console.log(`  ✔ ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      } catch (error) {
        failed++;
        console.log(`  ✘ ${name}\n    ${String(error?.stack ?? error).split('\n').join('\n    ')}`);
        const file = path.join(outputDir, `${theme}-failure-${passed + failed}.png`);
        await ctx.page.screenshot({ path: file, timeout: 10_000 }).catch(() => {});
        console.log(`    failure screenshot: ${rel(file)}`);
        await ctx.page.keyboard.press('Escape').catch(() => {});
      }
    }
  } finally {
    await browser?.close();
    await ctx.server.stop();
    if (process.env.CIRCUITSCOPE_E2E_KEEP === '1') console.error(`[ui] kept ${tmp}`);
    else fs.rmSync(tmp, { recursive: true, force: true });
  }
  const s = (ms) => (ms === undefined ? '-' : `${(ms / 1000).toFixed(1)} s`);
  const tm = ctx.timings;
  timingLines.push(`[ui] ${theme}: workspace ${s(tm.workspaceMs)}, server ${s(tm.serverMs)}, workbench ${s(tm.workbenchMs)}, discover → view ${s(tm.discoverMs)}, compare → view ${s(tm.compareMs)}`);
}
for (const line of timingLines) console.error(line);
console.error(`[ui] total ${((Date.now() - started) / 1000).toFixed(1)} s`);
// CI reads this closing line.
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
