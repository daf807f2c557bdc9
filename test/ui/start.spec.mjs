// UI acceptance spec of getting started (#14): the packaged extension (this platform's VSIX,
// dist/vsix/circuitscope-<target>.vsix) in code-server
// 4.100.3, one session per theme from an empty workspace, driven through Chromium by playwright-core.
//
//   1. Empty workspace: the Circuitscope view's welcome content opens the walkthrough "Your First
//      Knowledge Circuit"; Open the Demo Run offers both places to make the demo run (then Escape).
//   2. A checkpoint arrives: ../shared/models/stories260K is linked into the workspace; Refresh lists it.
//   3. The walkthrough's step runs Create Prompt Set from Facts: three facts typed in its input boxes,
//      the preview of the corrupted pairs, the save dialog; the prompt set is written.
//   4. The walkthrough's Discover step on stories260K with that prompt set opens the circuit view with a graph.
//   5. A prompt file with a bad line and a folder with a pickled checkpoint (config.json +
//      pytorch_model.bin) appear in the Problems panel at their file and line (read from its rows).
//   6. A *.circuit-test.json runs from the Testing view: one test shown passed, one failed.
//
// Screenshots: test-output/ui/start-{theme}-NN-step.png at the repository root (git-ignored).
//
// Expects the VSIX (`npm run package`; test/ui/run.mjs builds it) and ../shared/models/stories260K.
// Environment: CIRCUITSCOPE_UI_VSIX, CIRCUITSCOPE_UI_OUTPUT (screenshot folder), CIRCUITSCOPE_UI_START_THEMES
// (comma list of light,dark,hc; default light: CI runs one session, about a minute), the harness's CIRCUITSCOPE_E2E_*.
// Prints one line per check and closes with `N passed, N failed`; exit code 1 when a check failed.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser, openWorkbench, startServer, waitForToast, withTimeout } from '../e2e/harness.mjs';
import { hostTarget, vsixPath as platformVsix } from '../../scripts/targets.mjs';
import { activateTab, allThemes, answerSaveDialog, assertDrawn, graphFacts, limits, pickQuick, rowByLabel, sleep, viewFrame, waitForFile } from './workbench.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
// This machine's platform VSIX, unless CIRCUITSCOPE_UI_VSIX names another.
const vsixPath = path.resolve(process.env.CIRCUITSCOPE_UI_VSIX ?? platformVsix(hostTarget()));
const outputDir = path.resolve(process.env.CIRCUITSCOPE_UI_OUTPUT ?? path.join(repo, 'test-output', 'ui'));
const stories = path.resolve(repo, '..', 'shared', 'models', 'stories260K');
const themeNames = (process.env.CIRCUITSCOPE_UI_START_THEMES ?? 'light').split(',').map((t) => t.trim()).filter(Boolean);
for (const name of themeNames) if (!(name in allThemes)) throw new Error(`unknown theme '${name}' in CIRCUITSCOPE_UI_START_THEMES (light, dark, hc)`);

for (const [file, how] of [
  [vsixPath, 'build it with `npm run package` (or run node test/ui/run.mjs)'],
  [stories, 'the shared stories260K model is part of the machine (../shared/models)'],
]) {
  if (!fs.existsSync(file)) {
    console.error(`[ui] missing ${file}; ${how}`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
}
fs.mkdirSync(outputDir, { recursive: true });
for (const f of fs.readdirSync(outputDir)) if (/^start-.*\.png$/.test(f)) fs.rmSync(path.join(outputDir, f));

// Facts the stories260K tokenizer encodes (a TinyStories vocabulary of 512 tokens): names it knows and plain words.
const facts = ['Lily | {subject} went to the | park', 'Tim | {subject} went to the | store', 'Ben | {subject} played with the | ball'];
const rel = (p) => path.relative(process.cwd(), p);

/** A screenshot of the current screen, the pointer moved off it. */
async function shot(ctx, n, step) {
  await ctx.page.mouse.move(5, 450);
  await sleep(300);
  const file = path.join(outputDir, `start-${ctx.theme}-${String(n).padStart(2, '0')}-${step}.png`);
  await ctx.page.screenshot({ path: file });
  console.log(`    screenshot: ${rel(file)}`);
}

/**
 * Runs a palette command. Unlike the harness's runCommand it presses Escape only inside the palette:
 * Escape in the walkthrough page goes back to the Welcome page.
 */
async function command(page, title, { timeoutMs = 30_000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  const input = page.locator('.quick-input-widget input.input');
  const row = page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
  for (;;) {
    await page.keyboard.press('F1');
    await input.waitFor({ state: 'visible', timeout: 5_000 });
    await input.fill(`>${title}`);
    try {
      await row.waitFor({ state: 'visible', timeout: 2_000 });
      break;
    } catch {
      // The extension may not have registered its commands yet: close the palette (focus is in it) and retry.
      await input.press('Escape');
      if (Date.now() > deadline) throw new Error(`command "${title}" did not appear in the palette within ${timeoutMs} ms`);
    }
  }
  await page.keyboard.press('Enter');
}

/** Rows of the quick input's list: their label texts. */
async function quickRows(page) {
  const rows = page.locator('.quick-input-widget .quick-input-list .monaco-list-row');
  await rows.first().waitFor({ timeout: limits.ui });
  return (await rows.allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
}

/** The walkthrough page's step `title`, expanded, and its button `button` clicked. */
async function runStep(page, title, button) {
  // The walkthrough is one page of the Welcome editor; from its landing page it is reopened by its name.
  const landing = page.locator('.gettingStartedSlideCategories .getting-started-category', { hasText: 'Your First Knowledge Circuit' }).first();
  if ((await landing.isVisible().catch(() => false)) && (await landing.isEnabled().catch(() => false))) await landing.click();
  const step = page.locator('button.getting-started-step', { hasText: title }).first();
  await step.waitFor({ timeout: limits.ui });
  // A collapsed step expands when its title line is clicked.
  if ((await step.getAttribute('aria-expanded')) !== 'true') await step.click({ position: { x: 40, y: 12 } });
  const link = step.locator('.monaco-button, a', { hasText: button }).first();
  await link.waitFor({ state: 'visible', timeout: limits.ui });
  await link.click();
}

/** Problems panel rows as { level, text }: a file row (level 1) followed by its markers (level 2). */
async function problemRows(page) {
  return page.locator('.markers-panel .monaco-list-row').evaluateAll((rows) => rows.map((r) => ({ level: Number(r.getAttribute('aria-level')), text: r.innerText.replace(/\s+/g, ' ').trim(), label: r.getAttribute('aria-label') ?? '' })));
}

/**
 * The checks in order; each leaves the workbench where the next one starts. Longer than 80 lines: a flat
 * list of one closure per check over the shared session, read top to bottom as the user's path.
 */
function checks(ctx) {
  const page = ctx.page;
  return [
    [
      'empty workspace: the Circuitscope welcome opens the walkthrough; Open the Demo Run offers the workspace and the extension storage',
      async () => {
        ctx.timings.workbenchMs = await openWorkbench(ctx.page, ctx.server);
        await page.locator('.activitybar .action-label[aria-label^="Circuitscope"]').first().click();
        const welcome = page.locator('.part.sidebar .welcome-view-content');
        await welcome.waitFor({ timeout: limits.ui });
        // The demo run is not made yet: the command asks where to make it, and Escape leaves it unmade.
        await command(page, 'Circuitscope: Open the Demo Run');
        const rows = await quickRows(page);
        if (rows.length !== 2 || !/In This Workspace/.test(rows[0]) || !/In the Extension’s Storage/.test(rows[1])) throw new Error(`the demo run's places: ${JSON.stringify(rows)}`);
        const title = (await page.locator('.quick-input-widget .quick-input-title').innerText()).trim();
        if (!/about 5 minutes/.test(title)) throw new Error(`the pick does not say what making it costs: ${title}`);
        await page.keyboard.press('Escape');
        await welcome.locator('.monaco-button, a', { hasText: 'Walk Through Your First Circuit' }).first().click();
        await page.locator('.gettingStartedContainer', { hasText: 'Your First Knowledge Circuit' }).first().waitFor({ timeout: limits.ui });
        await shot(ctx, 1, 'walkthrough');
      },
    ],
    [
      'a checkpoint arrives: stories260K linked into the workspace is listed after Refresh',
      async () => {
        fs.symlinkSync(stories, path.join(ctx.workspaceDir, 'stories260K'), 'dir');
        await command(page, 'Circuitscope: Refresh');
        await rowByLabel(page.locator('.part.sidebar'), 'stories260K').waitFor({ timeout: limits.ui });
      },
    ],
    [
      "the walkthrough's step runs Create Prompt Set from Facts: three typed facts, a preview, the prompt set written",
      async () => {
        await runStep(page, 'Create a prompt set from facts', 'Create Prompt Set from Facts');
        const sources = await quickRows(page);
        if (!sources.some((r) => /From a File/.test(r))) throw new Error(`no file source offered: ${JSON.stringify(sources)}`);
        await page.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: 'Type or Paste Facts' }).first().click();
        const input = page.locator('.quick-input-widget input.input');
        const title = page.locator('.quick-input-widget .quick-input-title');
        for (let i = 0; i < facts.length; i++) {
          await title.filter({ hasText: `(${i} so far)` }).first().waitFor({ timeout: limits.ui });
          await input.fill(facts[i]);
          // Pressed on the input (focused first): the walkthrough page may have taken the keyboard focus.
          await input.press('Enter');
        }
        await title.filter({ hasText: `(${facts.length} so far)` }).first().waitFor({ timeout: limits.ui });
        await input.press('Enter');
        // The preview: every pair ticked, its corruption shown.
        await title.filter({ hasText: /^Preview: 3 pairs/ }).first().waitFor({ timeout: limits.engine });
        const pairs = await quickRows(page);
        if (pairs.length !== 3 || !pairs.every((r) => /→ .*corrupted: .* → /.test(r))) throw new Error(`preview rows: ${JSON.stringify(pairs)}`);
        await shot(ctx, 2, 'facts-preview');
        // OK writes the ticked pairs. (Clicked: the walkthrough page that ran the command can take the
        // keyboard focus back while the engine pairs the facts, so Enter is not sure to reach the preview.)
        await page.locator('.quick-input-widget .quick-input-action .monaco-button', { hasText: /^OK$/ }).first().click();
        // The save dialog is a quick input with an OK button too: wait until the preview has gone.
        await title.filter({ hasText: /^Preview: / }).first().waitFor({ state: 'hidden', timeout: limits.ui });
        // The dialog proposes facts.jsonl at the workspace root (there is no prompts folder yet).
        const file = path.join(ctx.workspaceDir, 'facts.jsonl');
        const { proposed } = await answerSaveDialog(page, file);
        if (proposed !== file) throw new Error(`the save dialog proposed ${proposed}`);
        const lines = (await waitForFile(file)).trim().split('\n').map((l) => JSON.parse(l));
        const expected = ['Lily went to the', 'Tim went to the', 'Ben played with the'];
        if (JSON.stringify(lines.map((l) => l.prompt)) !== JSON.stringify(expected)) throw new Error(`prompts written: ${JSON.stringify(lines.map((l) => l.prompt))}`);
        for (const l of lines) if (l.corruptedPrompt === l.prompt || l.corruptedTarget === l.target) throw new Error(`a pair is not corrupted: ${JSON.stringify(l)}`);
        await waitForToast(page, 'wrote 3 prompt pairs', { timeoutMs: limits.ui });
        console.log(`    ${lines.map((l) => `${l.prompt} →${l.target} / ${l.corruptedPrompt} →${l.corruptedTarget}`).join('; ')}`);
      },
    ],
    [
      "the walkthrough's Discover step on stories260K with that prompt set opens the circuit view with a graph",
      async () => {
        // Writing the prompt set opened it in an editor; the walkthrough is the other tab.
        await activateTab(page, 'Walkthrough: Circuitscope').catch(() => activateTab(page, 'Welcome'));
        const t = Date.now();
        await runStep(page, 'Discover the circuit', 'Discover Circuits');
        await pickQuick(page, 'facts.jsonl');
        await page.locator('.tabs-container .tab', { hasText: 'Circuit: stories260K' }).first().waitFor({ timeout: limits.engine });
        const frame = await viewFrame(page, 'circuit');
        ctx.timings.discoverMs = Date.now() - t;
        const facts = await graphFacts(frame);
        assertDrawn(facts, 'circuit view');
        console.log(`    ${facts.nodes} nodes, ${facts.edges} edges`);
        await sleep(300);
        await shot(ctx, 3, 'circuit');
      },
    ],
    [
      'a prompt file with a bad line and a pickled checkpoint appear in the Problems panel at their file and line',
      async () => {
        const prompts = path.join(ctx.workspaceDir, 'prompts', 'broken.jsonl');
        const good = JSON.parse(fs.readFileSync(path.join(ctx.workspaceDir, 'facts.jsonl'), 'utf8').split('\n')[0]);
        fs.mkdirSync(path.dirname(prompts), { recursive: true });
        fs.writeFileSync(prompts, [JSON.stringify(good), JSON.stringify(good), JSON.stringify({ prompt: good.prompt, target: good.target }), JSON.stringify(good)].join('\n') + '\n');
        const pickled = path.join(ctx.workspaceDir, 'pickled-model');
        fs.mkdirSync(pickled);
        for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(stories, f), path.join(pickled, f));
        fs.writeFileSync(path.join(pickled, 'pytorch_model.bin'), Buffer.alloc(64));
        // The rescan is asked for, as the tree's Refresh button does: code-server's watcher in this harness
        // does not report files that another process writes.
        await command(page, 'Circuitscope: Refresh');
        await command(page, 'Problems: Focus on Problems View');
        const deadline = Date.now() + limits.ui;
        let found;
        for (;;) {
          const rows = await problemRows(page);
          // Each marker row follows its file's row; markers say where they are as [Ln L, Col C].
          const markersOf = (name, folder) => {
            const i = rows.findIndex((r) => r.level === 1 && r.text.startsWith(name) && r.text.includes(folder));
            if (i < 0) return [];
            const out = [];
            for (let j = i + 1; j < rows.length && rows[j].level > 1; j++) out.push(rows[j].text);
            return out;
          };
          found = { prompt: markersOf('broken.jsonl', 'prompts'), pickled: markersOf('config.json', 'pickled-model'), rows };
          if (found.prompt.length && found.pickled.length) break;
          if (Date.now() > deadline) throw new Error(`the Problems panel shows: ${JSON.stringify(rows.map((r) => `${r.level}: ${r.text}`))}`);
          await sleep(250);
        }
        if (found.prompt.length !== 1 || !/missing field 'corruptedPrompt'.*\[Ln 3, Col 1\]/.test(found.prompt[0])) throw new Error(`broken.jsonl's markers: ${JSON.stringify(found.prompt)}`);
        if (!found.pickled.some((m) => /pytorch_model\.bin is a pickled PyTorch checkpoint.*\[Ln 1, Col 1\]/.test(m))) throw new Error(`pickled-model/config.json's markers: ${JSON.stringify(found.pickled)}`);
        console.log(`    broken.jsonl: ${found.prompt[0].slice(0, 90)}…; pickled-model/config.json: ${found.pickled[0].slice(0, 90)}…`);
        await shot(ctx, 4, 'problems');
      },
    ],
    [
      'a *.circuit-test.json runs from the Testing view: one test passed, one failed',
      async () => {
        // The walkthrough and the circuit view go first: an editor page over the workbench can hold the Testing view's commands back.
        await command(page, 'View: Close All Editors');
        await page.locator('.tabs-container .tab').first().waitFor({ state: 'detached', timeout: limits.ui });
        const file = path.join(ctx.workspaceDir, 'tests', 'stories.circuit-test.json');
        fs.mkdirSync(path.dirname(file), { recursive: true });
        const spec = {
          checkpoints: '../stories260K',
          prompts: '../facts.jsonl',
          discover: { method: 'eap', topN: 30 },
          tests: [
            { name: 'recall is measured', hit10: { min: 0 } },
            { name: 'faithfulness is impossible', faithfulness: { min: 1000, edges: 5 } },
          ],
        };
        fs.writeFileSync(file, JSON.stringify(spec, null, 2) + '\n');
        await command(page, 'Testing: Focus on Test Explorer View');
        const view = page.locator('.test-explorer');
        const fileRow = view.locator('.monaco-list-row', { hasText: 'stories.circuit-test.json' }).first();
        await fileRow.waitFor({ timeout: limits.ui });
        const t = Date.now();
        await command(page, 'Test: Run All Tests');
        const row = (name) => view.locator('.monaco-list-row', { hasText: name }).first();
        if ((await fileRow.getAttribute('aria-expanded')) !== 'true') await fileRow.locator('.monaco-tl-twistie').click();
        const state = async (name) => (await row(name).locator('.computed-state').first().getAttribute('class').catch(() => '')) ?? '';
        const deadline = Date.now() + limits.engine;
        let states;
        for (;;) {
          states = { pass: await state('recall is measured'), fail: await state('faithfulness is impossible') };
          if (/testing-passed-icon/.test(states.pass) && /testing-failed-icon/.test(states.fail)) break;
          if (Date.now() > deadline) throw new Error(`test states: ${JSON.stringify(states)}; rows ${JSON.stringify(await view.locator('.monaco-list-row').allInnerTexts())}`);
          await sleep(250);
        }
        ctx.timings.testsMs = Date.now() - t;
        await shot(ctx, 5, 'tests');
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
  const ctx = { theme, timings: {} };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `circuitscope-ui-start-${theme}-`));
  ctx.workspaceDir = path.join(tmp, 'workspace');
  fs.mkdirSync(ctx.workspaceDir);
  ctx.server = await startServer({ vsixPath, workspaceDir: ctx.workspaceDir, settings: { 'workbench.colorTheme': allThemes[theme], 'workbench.editor.enablePreview': false } });
  let browser;
  try {
    browser = await launchBrowser();
    ctx.page = browser.page;
    for (const [name, fn] of checks(ctx)) {
      const t0 = Date.now();
      try {
        await withTimeout(fn(), limits.step, name);
        passed++;
        console.log(`  ✔ ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      } catch (error) {
        failed++;
        console.log(`  ✘ ${name}\n    ${String(error?.stack ?? error).split('\n').join('\n    ')}`);
        const file = path.join(outputDir, `start-${theme}-failure-${passed + failed}.png`);
        await ctx.page.screenshot({ path: file, timeout: 10_000 }).catch(() => {});
        console.log(`    failure screenshot: ${rel(file)}`);
      }
    }
  } finally {
    await browser?.close();
    await ctx.server.stop();
    if (process.env.CIRCUITSCOPE_E2E_KEEP === '1') console.error(`[ui] kept ${tmp}`);
    else fs.rmSync(tmp, { recursive: true, force: true });
  }
  const s = (ms) => (ms === undefined ? '-' : `${(ms / 1000).toFixed(1)} s`);
  timingLines.push(`[ui] start, ${theme}: workbench ${s(ctx.timings.workbenchMs)}, discover → view ${s(ctx.timings.discoverMs)}, tests ${s(ctx.timings.testsMs)}`);
}
for (const line of timingLines) console.error(line);
console.error(`[ui] start: total ${((Date.now() - started) / 1000).toFixed(1)} s`);
// CI reads this closing line.
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
