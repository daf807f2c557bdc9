// UI acceptance spec: the packaged extension (this platform's VSIX, dist/vsix/circuitscope-<target>.vsix)
// installed in code-server 4.100.3, driven through Chromium by playwright-core, once in each of a light, a dark and a high-contrast theme.
//
//   1. Explorer: runs/tiny-gpt2/checkpoint-100 → right-click → Discover Circuits → cities.jsonl →
//      the circuit view renders its nodes (canvas pixels, graph label, legend, status line).
//   2. Hovering a head (a real pointer move onto its rendered position) shows its card with its role.
//   3. Circuitscope tree: checkpoint-20 + Ctrl-click checkpoint-300 → Compare Checkpoints →
//      cities.jsonl → both graphs and the drift chart render.
//   4. Back on the circuit view: Export Circuit Edges as CSV and Export View as SVG through the save
//      dialog (code-server's path QuickInput); the files exist and parse.
//
// Screenshots: test-output/ui/{light,dark,hc}-NN-step.png at the repository root (git-ignored), with
// copies of the exported files ({theme}-export-edges.csv, {theme}-export-view.svg).
//
// Expects a built VSIX (dist/vsix/circuitscope-<this platform>.vsix, `npm run package`) and
// out/test/integration/makeWorkspace.js (`node esbuild.mjs`, which `npm run package` also runs);
// test/ui/run.mjs builds both and then runs this file. Needs `bash test/e2e/setup.sh` once.
//
// Environment: CIRCUITSCOPE_UI_VSIX (the VSIX), CIRCUITSCOPE_UI_OUTPUT (screenshot folder),
// CIRCUITSCOPE_UI_THEMES (comma list of light,dark,hc; default all three), and the harness's CIRCUITSCOPE_E2E_*.
// Prints one line per check and closes with `N passed, N failed`; exit code 1 when a check failed.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser, openWorkbench, runCommand, startServer, withTimeout } from '../e2e/harness.mjs';
import { hostTarget, vsixPath as platformVsix } from '../../scripts/targets.mjs';
import { activateTab, allThemes, answerSaveDialog, assertDrawn, checkSvg, contextMenu, expand, graphFacts, limits, parseCsv, pickQuick, rowByLabel, sleep, viewFrame, waitForFile } from './workbench.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
// This machine's platform VSIX (dist/vsix/circuitscope-linux-x64.vsix in CI), unless CIRCUITSCOPE_UI_VSIX names another.
const vsixPath = path.resolve(process.env.CIRCUITSCOPE_UI_VSIX ?? platformVsix(hostTarget()));
const makeWorkspace = path.join(repo, 'out', 'test', 'integration', 'makeWorkspace.js');
const outputDir = path.resolve(process.env.CIRCUITSCOPE_UI_OUTPUT ?? path.join(repo, 'test-output', 'ui'));
const themeNames = (process.env.CIRCUITSCOPE_UI_THEMES ?? 'light,dark,hc').split(',').map((s) => s.trim()).filter(Boolean);

for (const name of themeNames) if (!(name in allThemes)) throw new Error(`unknown theme '${name}' in CIRCUITSCOPE_UI_THEMES (light, dark, hc)`);
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
for (const f of fs.readdirSync(outputDir)) if (/^(light|dark|hc)-.*\.(png|csv|svg)$/.test(f)) fs.rmSync(path.join(outputDir, f));

const rel = (p) => path.relative(process.cwd(), p);

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
