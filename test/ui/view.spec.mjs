// UI acceptance spec of the circuit view (#13): the packaged extension (this platform's VSIX,
// dist/vsix/circuitscope-<target>.vsix) installed in code-server 4.100.3, driven through Chromium by playwright-core, in a light, a dark and a
// high-contrast theme. Each theme gets a fresh workspace, server and browser, and these checks:
//
//   1. Discover Circuits (palette) → checkpoint-100 → cities.jsonl: the view opens at the legible size
//      from the faithfulness curve (the Legible preset is pressed, the header names that N), with the
//      discovered N one click away.
//   2. Tracing from the mouse: a click on a head lights its paths both ways (input and logits).
//   3. Tracing from the keyboard: ] and [ step through the node's edges, Enter follows one, arrow keys
//      follow the strongest edge; the key hints are shown.
//   4. Pins: Ctrl+click and P pin two nodes; the subgraph pane draws them.
//   5. A manual supernode: hold G, click two nodes, rename the group, collapse it into one node.
//   6. Automatic groups by role: the role groups are listed and one collapses.
//   7. State: the sidecar <circuit>.view.json holds N, pins and groups; after closing the tab and
//      reopening the circuit from the Circuitscope tree, all of it is back.
//   8. Every export of the circuit view (EAP-IG JSON, GraphML, DOT, CSV, SVG, PNG, Neuronpedia graph
//      JSON, Model Explorer node data): the save dialog proposes a name stating N, the toast names the
//      file, and the file parses (Neuronpedia's qParams carry the pins and the supernode).
//   9. The hover card leaves with the pointer: shown on a node, gone when the pointer leaves the
//      webview, even with a node selected.
//  10. The notebook renderer: an .ipynb written here, whose cells hold stored outputs of the circuit
//      MIME type (one without 'cfg', and the discovered circuit as EAP-IG's Graph.to_json writes it),
//      opens in the notebook editor (VS Code's built-in ipynb serializer; no Jupyter extension, no
//      kernel); the first output says what is wrong, the second draws the graph with its in_graph
//      nodes and edges, and its search and keys work without the notebook taking them.
//
// Screenshots: test-output/ui/view-{theme}-NN-step.png (git-ignored), and copies of the exported
// files as view-{theme}-export.*.
//
// Expects this platform's VSIX and out/test/integration/makeWorkspace.js (test/ui/run.mjs builds both).
// Environment: as ui.spec.mjs (CIRCUITSCOPE_UI_VSIX, CIRCUITSCOPE_UI_OUTPUT, CIRCUITSCOPE_UI_THEMES).
// Prints one line per check and closes with `N passed, N failed`; exit code 1 when a check failed.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser, openWorkbench, runCommand, startServer, waitForToast, withTimeout } from '../e2e/harness.mjs';
import { hostTarget, vsixPath as platformVsix } from '../../scripts/targets.mjs';
import { activateTab, allThemes, answerSaveDialog, assertDrawn, checkSvg, frameWith, graphFacts, limits, parseCsv, pickQuick, sleep, viewFrame, waitForFile } from './workbench.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
// This machine's platform VSIX (dist/vsix/circuitscope-linux-x64.vsix in CI), unless CIRCUITSCOPE_UI_VSIX names another.
const vsixPath = path.resolve(process.env.CIRCUITSCOPE_UI_VSIX ?? platformVsix(hostTarget()));
const makeWorkspace = path.join(repo, 'out', 'test', 'integration', 'makeWorkspace.js');
const outputDir = path.resolve(process.env.CIRCUITSCOPE_UI_OUTPUT ?? path.join(repo, 'test-output', 'ui'));
const themeNames = (process.env.CIRCUITSCOPE_UI_THEMES ?? 'light,dark,hc').split(',').map((s) => s.trim()).filter(Boolean);

for (const name of themeNames) if (!(name in allThemes)) throw new Error(`unknown theme '${name}' in CIRCUITSCOPE_UI_THEMES (${Object.keys(allThemes).join(', ')})`);
for (const [file, how] of [
  [vsixPath, 'npm run package'],
  [makeWorkspace, 'node esbuild.mjs'],
]) {
  if (!fs.existsSync(file)) {
    console.error(`[view] missing ${path.relative(repo, file)}; build it with \`${how}\` (or run node test/ui/run.mjs)`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
}
fs.mkdirSync(outputDir, { recursive: true });
for (const f of fs.readdirSync(outputDir)) if (/^view-/.test(f)) fs.rmSync(path.join(outputDir, f));

const rel = (p) => path.relative(process.cwd(), p);
const circuitTab = 'Circuit: checkpoint-100';

// ---- reading the view ----

/** Calls a webview test hook (webview/circuit/main.ts) in the frame. */
function hook(frame, name, ...args) {
  return frame.evaluate(([n, a]) => window.__circuitscopeTest[n]('single', ...a), [name, args]);
}

/** A node's position relative to the graph element, for locator clicks and hovers. */
async function nodeAt(frame, node) {
  const at = await frame.locator('.cs-cy').first().evaluate((el, n) => {
    const r = el.getBoundingClientRect();
    const p = window.__circuitscopeTest.nodePosition('single', n);
    return p && { x: p.x - r.left, y: p.y - r.top };
  }, node);
  if (!at) throw new Error(`${node} is not drawn`);
  return at;
}

/** The circuit's heads and MLPs at the N shown, lowest layer first. */
async function innerNodes(frame) {
  const nodes = await hook(frame, 'circuitNodes');
  return nodes.filter((n) => /^(a\d+\.h\d+|m\d+)$/.test(n)).sort((a, b) => Number(/\d+/.exec(a)[0]) - Number(/\d+/.exec(b)[0]) || a.localeCompare(b));
}

/** Waits until `fn` (evaluated in the frame) is truthy. */
async function until(frame, fn, arg, what, timeoutMs = 5_000) {
  try {
    await frame.waitForFunction(fn, arg, { timeout: timeoutMs });
  } catch {
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
  }
}

/**
 * Runs a palette command. F1 is sometimes not delivered for a while after a save dialog closed over
 * the webview, so when it does not open the palette the title bar's command center is clicked
 * instead, and the command typed after '>' as in the palette.
 */
async function palette(page, title) {
  try {
    return await runCommand(page, title, { timeoutMs: 8_000 });
  } catch {
    await page.keyboard.press('Escape');
    await page.locator('.command-center .command-center-center').first().click({ timeout: limits.ui });
    const input = page.locator('.quick-input-widget input.input');
    await input.waitFor({ state: 'visible', timeout: limits.ui });
    await input.fill(`>${title}`);
    await page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first().waitFor({ state: 'visible', timeout: limits.ui });
    await page.keyboard.press('Enter');
  }
}

/** Shows the Circuitscope side bar; its activity bar item toggles, so it is clicked only when not active. */
async function showCircuitscope(page) {
  const item = page.locator('.activitybar .action-item:has(.action-label[aria-label^="Circuitscope"])').first();
  if (!/\bchecked\b/.test((await item.getAttribute('class')) ?? '')) await item.locator('.action-label').click();
}

const cardVisible = () => {
  const c = document.querySelector('.cs-card');
  return !!c && !c.hidden;
};
const cardHidden = () => {
  const c = document.querySelector('.cs-card');
  return !c || c.hidden;
};

// ---- the checks of one theme ----

function checksFor(theme, ctx) {
  const shot = async (n, step) => {
    const file = path.join(outputDir, `view-${theme}-${String(n).padStart(2, '0')}-${step}.png`);
    await ctx.page.screenshot({ path: file });
    console.log(`    screenshot: ${rel(file)}`);
  };
  /** Moves the pointer off the webview (onto the activity bar) and lets the last paint land. */
  const away = async () => {
    await ctx.page.mouse.move(5, 450);
    await sleep(300);
  };
  return [
    [
      'the workbench opens the workspace with the VSIX installed',
      async () => {
        ctx.timings.workbenchMs = await openWorkbench(ctx.page, ctx.server);
        await ctx.page.locator('.activitybar .action-label[aria-label^="Circuitscope"]').first().waitFor({ timeout: limits.ui });
      },
    ],
    [
      'Discover Circuits opens the view at the legible size from the faithfulness curve; the discovered N is one click away',
      async () => {
        const { page } = ctx;
        // The palette's checkpoint list comes from the extension's workspace scan: wait until the tree shows it.
        await showCircuitscope(page);
        await page.locator('.part.sidebar .monaco-list-row', { hasText: 'checkpoint-100' }).first().waitFor({ state: 'visible', timeout: limits.engine });
        const t = Date.now();
        await palette(page, 'Circuitscope: Discover Circuits');
        await pickQuick(page, 'checkpoint-100');
        await pickQuick(page, 'cities.jsonl');
        await page.locator('.tabs-container .tab', { hasText: circuitTab }).first().waitFor({ timeout: limits.engine });
        const frame = await viewFrame(page, 'circuit');
        ctx.timings.discoverMs = Date.now() - t;
        ctx.frame = frame;
        const facts = await graphFacts(frame);
        assertDrawn(facts, 'circuit view');
        if (!facts.hooks) throw new Error('the webview test hooks are missing');
        const presets = await frame.locator('.cs-preset').evaluateAll((bs) => bs.map((b) => ({ text: b.textContent, pressed: b.getAttribute('aria-pressed'), title: b.title })));
        const legible = presets.find((p) => p.text.startsWith('Legible'));
        const discovered = presets.find((p) => p.text.startsWith('Discovered'));
        if (!legible || !discovered) throw new Error(`size presets: ${JSON.stringify(presets)}`);
        const num = (s) => Number(/\(([\d,]+)\)/.exec(s)[1].replace(/,/g, ''));
        ctx.legibleN = num(legible.text);
        ctx.discoveredN = num(discovered.text);
        const shown = Number(await frame.locator('.cs-number').inputValue());
        if (shown !== ctx.legibleN || legible.pressed !== 'true') throw new Error(`the view opened at N = ${shown}, not the legible ${ctx.legibleN} (${JSON.stringify(presets)})`);
        if (ctx.legibleN > ctx.discoveredN) throw new Error(`legible N ${ctx.legibleN} > discovered ${ctx.discoveredN}`);
        const header = await frame.locator('.cs-header').innerText();
        if (!header.includes(`top ${ctx.legibleN.toLocaleString('en-US')}`)) throw new Error(`the header does not name N = ${ctx.legibleN}: ${header}`);
        // Labels are drawn at a readable size: Cytoscape's 11 px labels at the fitted zoom.
        const zoom = (await hook(frame, 'viewport')).zoom;
        if (11 * zoom < 8) throw new Error(`labels render at ${(11 * zoom).toFixed(1)} px (zoom ${zoom.toFixed(2)})`);
        // The discovered circuit is one click away, and back.
        await frame.locator('.cs-preset', { hasText: 'Discovered' }).click();
        await until(frame, (n) => document.querySelector('.cs-number')?.value === String(n), ctx.discoveredN, `N = ${ctx.discoveredN}`);
        if (!/as discovered/.test(await frame.locator('.cs-header').innerText())) throw new Error('the header does not say "as discovered" at the discovered N');
        await frame.locator('.cs-preset', { hasText: 'Legible' }).click();
        await until(frame, (n) => document.querySelector('.cs-number')?.value === String(n), ctx.legibleN, `N = ${ctx.legibleN}`);
        console.log(`    legible N = ${ctx.legibleN} (${legible.title}); discovered N = ${ctx.discoveredN}; ${facts.nodes} nodes, ${facts.edges} edges; label size ${(11 * zoom).toFixed(1)} px`);
        await away();
        await shot(1, 'legible');
      },
    ],
    [
      'tracing from the mouse: a click on a head lights its paths to the input and to the logits',
      async () => {
        const frame = ctx.frame;
        const nodes = await innerNodes(frame);
        const head = nodes.find((n) => /^a/.test(n));
        if (!head) throw new Error(`no head in the circuit: ${nodes.join(' ')}`);
        await frame.locator('.cs-cy').first().click({ position: await nodeAt(frame, head) });
        await until(frame, (n) => window.__circuitscopeTest.selected('single') === n, head, `${head} selected`);
        const lit = await hook(frame, 'litNodes');
        const all = await hook(frame, 'circuitNodes');
        if (!lit.includes('input') || !lit.includes('logits') || !lit.includes(head)) throw new Error(`lit from ${head}: ${lit.join(' ')}`);
        ctx.head = head;
        console.log(`    ${head}: ${lit.length} of ${all.length} nodes lit (input and logits among them)`);
        await away();
        await shot(2, 'trace-mouse');
      },
    ],
    [
      'tracing from the keyboard: ] [ step edges, Enter follows, arrows follow the strongest edge; key hints shown',
      async () => {
        const { page, frame } = ctx;
        const hints = await frame.locator('.cs-keys').innerText();
        for (const k of ['[ ] step edges', 'Enter follow edge', 'P pin', 'hold G + click group']) if (!hints.includes(k)) throw new Error(`the key hints lack '${k}': ${hints}`);
        await frame.locator('.cs-cy').first().focus();
        await page.keyboard.press(']');
        await until(frame, () => window.__circuitscopeTest.selectedEdge('single') != null, undefined, 'an edge selected by ]');
        const e1 = await hook(frame, 'selectedEdge');
        if (!e1.includes(ctx.head)) throw new Error(`] selected ${e1}, not an edge of ${ctx.head}`);
        await page.keyboard.press(']');
        const e2 = await hook(frame, 'selectedEdge');
        await page.keyboard.press('[');
        const back = await hook(frame, 'selectedEdge');
        if (back !== e1) throw new Error(`[ went to ${back}, not back to ${e1} (after ${e2})`);
        const card = await frame.locator('.cs-card').innerText();
        if (!/From/.test(card) || !/To/.test(card)) throw new Error(`the edge card does not name its ends: ${card}`);
        await shot(3, 'trace-edge');
        await page.keyboard.press('Enter');
        const far = await hook(frame, 'selected');
        if (!far || far === ctx.head || !e1.includes(far)) throw new Error(`Enter on ${e1} went to ${far}`);
        // From nothing selected: ↑ starts at the logits, ↓ follows the strongest incoming edge.
        await page.keyboard.press('Escape');
        await until(frame, () => window.__circuitscopeTest.selected('single') == null, undefined, 'Escape to clear');
        await frame.locator('.cs-cy').first().focus();
        await page.keyboard.press('ArrowUp');
        await until(frame, () => window.__circuitscopeTest.selected('single') === 'logits', undefined, '↑ to select the logits');
        await page.keyboard.press('ArrowDown');
        const down = await hook(frame, 'selected');
        if (!down || down === 'logits') throw new Error(`↓ from the logits selected ${down}`);
        const lit = await hook(frame, 'litNodes');
        if (!lit.includes('input') || !lit.includes('logits')) throw new Error(`lit from ${down}: ${lit.join(' ')}`);
        console.log(`    ] ${e1}, ] ${e2}, [ back; Enter → ${far}; ↑ logits, ↓ ${down}`);
        await away();
        await shot(4, 'trace-keys');
      },
    ],
    [
      'pins: Ctrl+click and P pin two nodes; the subgraph pane draws them',
      async () => {
        const { page, frame } = ctx;
        await page.keyboard.press('Escape');
        const nodes = await innerNodes(frame);
        if (nodes.length < 3) throw new Error(`only ${nodes.length} heads and MLPs in the circuit`);
        const [n1, n2] = [nodes[nodes.length - 1], nodes[0]];
        const cy = frame.locator('.cs-cy').first();
        await cy.click({ position: await nodeAt(frame, n1), modifiers: ['Control'] });
        await until(frame, (n) => window.__circuitscopeTest.pins('single')?.includes(n), n1, `${n1} pinned by Ctrl+click`);
        await cy.click({ position: await nodeAt(frame, n2) });
        await until(frame, (n) => window.__circuitscopeTest.selected('single') === n, n2, `${n2} selected`);
        await page.keyboard.press('p');
        await until(frame, (n) => window.__circuitscopeTest.pins('single')?.includes(n), n2, `${n2} pinned by P`);
        const pins = await hook(frame, 'pins');
        if (pins.join() !== [n1, n2].join()) throw new Error(`pins: ${pins.join(' ')}`);
        if ((await frame.locator('.cs-pin-list li').count()) !== 2) throw new Error('the pin list does not show 2 pins');
        const sub = await frame.locator('.cs-subgraph').evaluate((el) => ({ hidden: el.hidden, h: el.getBoundingClientRect().height, canvases: el.querySelectorAll('canvas').length, label: el.getAttribute('aria-label') }));
        if (sub.hidden || sub.h < 40 || sub.canvases === 0) throw new Error(`subgraph pane: ${JSON.stringify(sub)}`);
        ctx.pins = pins;
        console.log(`    pinned ${pins.join(', ')}; ${sub.label}`);
        await away();
        await shot(5, 'pins');
      },
    ],
    [
      'a manual supernode: hold G and click two nodes, rename the group, collapse it into one node',
      async () => {
        const { page, frame } = ctx;
        const nodes = await innerNodes(frame);
        const members = nodes.slice(0, 2);
        const cy = frame.locator('.cs-cy').first();
        await cy.focus();
        await page.keyboard.down('g');
        for (const n of members) await cy.click({ position: await nodeAt(frame, n) });
        await page.keyboard.up('g');
        await until(frame, () => document.querySelectorAll('.cs-group-manual').length === 1, undefined, 'one manual group listed');
        const label = frame.locator('.cs-group-label').first();
        await label.fill('my supernode');
        await label.press('Enter');
        await frame.locator('.cs-group-manual .cs-link', { hasText: 'Collapse' }).click();
        await until(frame, () => window.__circuitscopeTest.nodePosition('single', 'group:manual:0') !== undefined, undefined, 'the collapsed group drawn as one node');
        // Hovering the supernode shows its card with the members.
        await cy.hover({ position: await nodeAt(frame, 'group:manual:0') });
        await until(frame, cardVisible, undefined, 'the supernode card');
        const card = await frame.locator('.cs-card').innerText();
        if (!/group \(supernode\)/.test(card) || !members.every((m) => card.includes(m))) throw new Error(`supernode card: ${card}`);
        ctx.groupMembers = members;
        console.log(`    'my supernode' = ${members.join(' + ')}, collapsed`);
        await shot(6, 'supernode');
        await away();
      },
    ],
    [
      'automatic groups by role: mover / relation / mixture groups listed, one collapses',
      async () => {
        const { frame } = ctx;
        await frame.locator('.cs-pins .cs-seg', { hasText: 'By role' }).click();
        await until(frame, () => document.querySelectorAll('.cs-group-role').length > 0, undefined, 'role groups listed');
        const rows = await frame.locator('.cs-group-role').allInnerTexts();
        if (!rows.some((t) => /(mover|relation|mixture) heads/.test(t))) throw new Error(`role groups: ${rows.join(' | ')}`);
        const pressed = await frame.locator('.cs-pins .cs-seg[aria-pressed="true"]').innerText();
        if (pressed !== 'By role') throw new Error(`the pressed mode is '${pressed}'`);
        await frame.locator('.cs-group-role .cs-link', { hasText: 'Collapse' }).first().click();
        await until(frame, () => [...document.querySelectorAll('.cs-group-role .cs-link')].some((b) => b.textContent === 'Expand'), undefined, 'a role group collapsed');
        console.log(`    ${rows.map((r) => r.replace(/\s+/g, ' ').trim()).join(' | ')}`);
        await away();
        await shot(7, 'role-groups');
      },
    ],
    [
      'state: N, pins and groups are saved beside the circuit and restored after closing and reopening',
      async () => {
        const { page, frame } = ctx;
        // A size that differs from the one the view opens at, so restoring it is visible.
        const n = ctx.legibleN > 2 ? ctx.legibleN - 1 : ctx.legibleN + 1;
        const box = frame.locator('.cs-number');
        await box.fill(String(n));
        await box.press('Enter');
        await box.evaluate((el) => el.dispatchEvent(new Event('change')));
        await until(frame, (v) => document.querySelector('.cs-number')?.value === String(v), n, `N = ${n}`);
        const sidecar = path.join(ctx.workspaceDir, '.circuitscope', 'checkpoint-100--cities.circuit.view.json');
        const deadline = Date.now() + limits.file;
        let saved;
        for (;;) {
          try {
            saved = JSON.parse(fs.readFileSync(sidecar, 'utf8')).view;
            if (saved.topN === n && saved.pins?.length === 2 && saved.groups?.[0]?.label === 'my supernode' && saved.autoGroups === 'role') break;
          } catch {
            // Not written yet.
          }
          if (Date.now() > deadline) throw new Error(`${sidecar} does not hold the view: ${JSON.stringify(saved)}`);
          await sleep(200);
        }
        fs.copyFileSync(sidecar, path.join(outputDir, `view-${theme}-sidecar.view.json`));
        ctx.savedN = n;
        await activateTab(page, circuitTab);
        await palette(page, 'View: Close Editor');
        await page.locator('.tabs-container .tab', { hasText: circuitTab }).first().waitFor({ state: 'detached', timeout: limits.ui });
        // Reopen from the Circuitscope tree: the checkpoint lists the circuits discovered for it.
        await showCircuitscope(page);
        const sidebar = page.locator('.part.sidebar');
        const circuitRow = sidebar.locator('.monaco-list-row', { hasText: 'checkpoint-100--cities' }).first();
        const ckptRow = sidebar.locator('.monaco-list-row', { hasText: /^checkpoint-100/ }).first();
        if (!(await circuitRow.isVisible().catch(() => false))) {
          await ckptRow.waitFor({ state: 'visible', timeout: limits.ui });
          if ((await ckptRow.getAttribute('aria-expanded')) !== 'true') await ckptRow.click();
        }
        await circuitRow.waitFor({ state: 'visible', timeout: limits.ui });
        await circuitRow.click();
        await page.locator('.tabs-container .tab', { hasText: circuitTab }).first().waitFor({ timeout: limits.engine });
        const again = await viewFrame(page, 'circuit');
        ctx.frame = again;
        const shown = Number(await again.locator('.cs-number').inputValue());
        const pins = await hook(again, 'pins');
        const label = await again.locator('.cs-group-label').first().inputValue();
        const collapsed = await hook(again, 'nodePosition', 'group:manual:0');
        const mode = await again.locator('.cs-pins .cs-seg[aria-pressed="true"]').innerText();
        const problems = [];
        if (shown !== n) problems.push(`N ${shown}, not ${n}`);
        if (pins.join() !== ctx.pins.join()) problems.push(`pins ${pins.join(' ')}, not ${ctx.pins.join(' ')}`);
        if (label !== 'my supernode') problems.push(`group label '${label}'`);
        if (!collapsed) problems.push('the supernode is not collapsed');
        if (mode !== 'By role') problems.push(`automatic groups '${mode}'`);
        // The head roles come back with the circuit (the role groups need them).
        await until(again, () => document.querySelectorAll('.cs-group-role').length > 0, undefined, 'role groups after reopening', limits.ui).catch(() => problems.push('no role groups (head roles lost)'));
        if (!/relation|mixture|mover/.test(await again.locator('.cs-legend').innerText())) problems.push('the legend has no head roles');
        if (problems.length) throw new Error(`after reopening: ${problems.join('; ')}`);
        console.log(`    ${rel(sidecar).startsWith('..') ? path.basename(sidecar) : rel(sidecar)}: N ${saved.topN}, pins ${saved.pins.join(' ')}, group '${saved.groups[0].label}', auto ${saved.autoGroups}; restored after reopening`);
        await away();
        await shot(8, 'restored');
      },
    ],
    ...exportChecks(theme, ctx, shot),
    [
      'the hover card leaves with the pointer, even with a node selected',
      async () => {
        const { page, frame } = ctx;
        await palette(page, 'Notifications: Clear All Notifications').catch(() => {});
        await page.keyboard.press('Escape');
        const cy = frame.locator('.cs-cy').first();
        // An MLP: role groups hold heads only, and the manual group holds two heads, so it is drawn on its own.
        const head = (await innerNodes(frame)).find((n) => /^m/.test(n) && !ctx.groupMembers.includes(n));
        if (!head) throw new Error('no MLP outside the groups');
        await cy.click({ position: await nodeAt(frame, head) });
        await until(frame, cardVisible, undefined, `the card of ${head}`);
        await until(frame, (n) => document.querySelector('.cs-card-name')?.textContent === n, head, `the card naming ${head}`);
        await shot(10, 'hover-card');
        // The pointer leaves the webview for the activity bar: the card goes.
        await page.mouse.move(5, 450);
        await until(frame, cardHidden, undefined, 'the card to leave with the pointer');
        // Back onto the node: it returns; off the graph within the page (the side panel): it goes again.
        await cy.hover({ position: await nodeAt(frame, head) });
        await until(frame, cardVisible, undefined, 'the card back on hover');
        await frame.locator('.cs-legend').first().hover();
        await until(frame, cardHidden, undefined, 'the card to leave when the pointer moves to the side panel');
        await sleep(200);
        await shot(11, 'hover-left');
        console.log(`    ${head}: card shown on hover, hidden when the pointer left the webview and when it moved to the side panel`);
      },
    ],
    [
      "a notebook's stored circuit output renders the interactive graph offline; bad data gets a message",
      async () => {
        const { page } = ctx;
        // A cell whose output lacks 'cfg', then the circuit just discovered, as EAP-IG's Graph.to_json
        // writes it (no 'circuitscope' key), stored as a cell's display_data output.
        const circuit = JSON.parse(fs.readFileSync(path.join(ctx.workspaceDir, '.circuitscope', 'checkpoint-100--cities.circuit.json'), 'utf8'));
        delete circuit.circuitscope;
        const inEdges = Object.values(circuit.edges).filter((e) => e.in_graph).length;
        const inNodes = Object.values(circuit.nodes).filter((n) => n.in_graph).length;
        const mime = 'application/vnd.circuitscope.circuit+json';
        const cell = (source, data) => ({ cell_type: 'code', execution_count: 1, metadata: {}, source: [source], outputs: [{ output_type: 'display_data', metadata: {}, data }] });
        const notebook = {
          nbformat: 4,
          nbformat_minor: 5,
          metadata: { kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' }, language_info: { name: 'python' } },
          cells: [
            cell(`display({'${mime}': {'nodes': {}, 'edges': {}}}, raw=True)`, { [mime]: { nodes: {}, edges: {} } }),
            cell(`display({'${mime}': json.load(open('circuit.json'))}, raw=True)`, { [mime]: circuit }),
          ],
        };
        const file = path.join(ctx.workspaceDir, 'circuit.ipynb');
        fs.writeFileSync(file, JSON.stringify(notebook, null, 1));
        // Quick Open (the palette without '>') by absolute path: its file search has not indexed a file
        // this new, but a path it resolves directly.
        await page.keyboard.press('Escape');
        await page.keyboard.press('F1');
        const input = page.locator('.quick-input-widget input.input');
        await input.waitFor({ state: 'visible', timeout: limits.ui });
        await input.fill(file);
        await page.locator('.quick-input-list .monaco-list-row', { hasText: 'circuit.ipynb' }).first().waitFor({ state: 'visible', timeout: limits.ui });
        await page.keyboard.press('Enter');
        await page.locator('.tabs-container .tab', { hasText: 'circuit.ipynb' }).first().waitFor({ timeout: limits.ui });
        const frame = await frameWith(page, '.cs-notebook .cs-cy canvas', 'the notebook output with the circuit graph');
        const facts = await graphFacts(frame);
        assertDrawn(facts, 'notebook output');
        if (facts.nodes !== inNodes || facts.edges !== inEdges) throw new Error(`the output draws ${facts.nodes} nodes and ${facts.edges} edges; the graph has ${inNodes} and ${inEdges} in_graph`);
        const header = await frame.locator('.cs-notebook .cs-header').innerText();
        if (!header.includes('EAP-IG graph')) throw new Error(`the output's header: ${header}`);
        // Interactive, and its keys stay in the output (the notebook's Enter would edit the cell): the
        // node search selects the logits and its card stays; ↓ follows the strongest edge.
        const search = frame.locator('.cs-notebook .cs-search input').first();
        await search.fill('logits');
        await search.press('Enter');
        await until(frame, () => document.querySelector('.cs-notebook .cs-card-name')?.textContent === 'logits' && !document.querySelector('.cs-notebook .cs-card').hidden, undefined, 'the card of logits');
        await sleep(300);
        if (!(await frame.evaluate(() => document.hasFocus() && !document.querySelector('.cs-notebook .cs-card').hidden))) throw new Error('Enter in the search left the output (the card went)');
        const status = frame.locator('.cs-notebook .cs-status');
        await frame.locator('.cs-notebook .cs-cy').first().focus();
        await page.keyboard.press('ArrowDown');
        await until(frame, () => /; selected (a\d+\.h\d+|m\d+|input)/.test(document.querySelector('.cs-notebook .cs-status').textContent), undefined, '↓ from the logits to select a node');
        const selected = /selected (\S+)/.exec(await status.innerText())[1];
        const problem = (await frame.locator('.cs-notebook-problem').innerText({ timeout: limits.ui })).replace(/\s+/g, ' ');
        if (!/Circuitscope cannot show this circuit\. circuit output \(application\/vnd\.circuitscope\.circuit\+json\): 'cfg' is missing/.test(problem)) throw new Error(`the bad output shows: ${problem}`);
        console.log(`    ${facts.nodes} nodes and ${facts.edges} edges drawn (as in_graph in the stored output); search → logits, ↓ → ${selected}; bad output: "${problem.slice(0, 110)}…"`);
        await shot(12, 'notebook');
      },
    ],
  ];
}

/** One check per export command of the circuit view. */
function exportChecks(theme, ctx, shot) {
  const json = (text) => JSON.parse(text);
  const kinds = [
    ['Export Circuit as EAP-IG JSON', 'eap-ig.json', (text) => {
      const j = json(text);
      if (!j.nodes || !j.edges || !j.circuitscope) throw new Error(`EAP-IG keys: ${Object.keys(j).join(', ')}`);
      const inGraph = Object.values(j.edges).filter((e) => e.in_graph).length;
      return `${Object.keys(j.edges).length} edges, ${inGraph} in_graph`;
    }],
    ['Export Circuit as GraphML', 'circuit.graphml', (text) => {
      if (!/^<\?xml/.test(text) || !text.includes('<graphml') || !text.trimEnd().endsWith('</graphml>')) throw new Error(`GraphML starts ${JSON.stringify(text.slice(0, 60))}`);
      return `${(text.match(/<edge /g) ?? []).length} edges`;
    }],
    ['Export Circuit as DOT', 'circuit.dot', (text) => {
      if (!/^\s*(strict\s+)?digraph\b/.test(text) || !text.trimEnd().endsWith('}')) throw new Error(`DOT starts ${JSON.stringify(text.slice(0, 60))}`);
      return `${(text.match(/->/g) ?? []).length} edges`;
    }],
    ['Export Circuit Edges as CSV', 'edges.csv', (text) => {
      const rows = parseCsv(text).filter((r) => !(r.length === 1 && r[0] === ''));
      if (rows[0]?.join(',') !== 'edge,parent,child,qkv,score,in_graph,rank') throw new Error(`CSV header: ${rows[0]?.join(',')}`);
      return `${rows.length - 1} rows`;
    }],
    ['Export View as SVG', 'view.svg', (text) => {
      const n = checkSvg(text);
      for (const w of ['logits', 'input', 'Circuit: checkpoint-100']) if (!text.includes(w)) throw new Error(`the SVG lacks '${w}'`);
      if (!text.includes('marker')) throw new Error('the SVG has no arrowheads');
      return `${n} elements`;
    }],
    ['Export View as PNG', 'view.png', (_text, bytes) => {
      if (bytes.subarray(0, 8).toString('hex') !== '89504e470d0a1a0a') throw new Error('not a PNG');
      return `${bytes.readUInt32BE(16)}×${bytes.readUInt32BE(20)} px`;
    }],
    ['Export Circuit as Neuronpedia Graph JSON', 'graph.neuronpedia.json', (text) => {
      const j = json(text);
      for (const k of ['metadata', 'qParams', 'nodes', 'links']) if (!(k in j)) throw new Error(`Neuronpedia JSON lacks '${k}'`);
      const { pinnedIds, supernodes } = j.qParams;
      if (!Array.isArray(pinnedIds) || pinnedIds.length === 0) throw new Error(`qParams.pinnedIds: ${JSON.stringify(pinnedIds)}`);
      if (!supernodes?.some((s) => s[0] === 'my supernode')) throw new Error(`qParams.supernodes: ${JSON.stringify(supernodes)}`);
      return `${j.nodes.length} nodes, ${j.links.length} links, ${pinnedIds.length} pinned, supernode ${JSON.stringify(supernodes[0])}`;
    }],
    ['Export Node Data for Model Explorer', 'nodes.model-explorer.json', (text) => {
      const j = json(text);
      const size = JSON.stringify(j).length;
      if (size < 20) throw new Error(`Model Explorer JSON: ${text.slice(0, 80)}`);
      return `${Object.keys(j).join(', ')}`;
    }],
  ];
  return kinds.map(([title, name, check]) => [
    `${title}: the dialog proposes a name with N, the toast names the file, the file parses`,
    async () => {
      const { page } = ctx;
      await activateTab(page, circuitTab);
      const file = path.join(ctx.exportDir, name);
      await palette(page, `Circuitscope: ${title}`);
      const { proposed } = await answerSaveDialog(page, file);
      if (!proposed.includes(`top${ctx.savedN}`)) throw new Error(`the proposed name ${proposed} does not state N = ${ctx.savedN}`);
      const text = await waitForFile(file);
      const bytes = fs.readFileSync(file);
      const toast = await waitForToast(page, `exported ${name}`, { timeoutMs: limits.ui });
      if (!/Open/.test(toast)) throw new Error(`the toast offers no Open: ${toast}`);
      fs.copyFileSync(file, path.join(outputDir, `view-${theme}-export.${name}`));
      console.log(`    ${name}: ${check(text, bytes)}; proposed ${path.basename(proposed)}; toast "${toast.split('\n').find((l) => l.includes('exported'))}"`);
      if (name === 'graph.neuronpedia.json') await shot(9, 'export-toast');
    },
  ]);
}

// ---- runner ----

let passed = 0;
let failed = 0;
const started = Date.now();
const timingLines = [];

for (const theme of themeNames) {
  console.log(`circuit view, ${theme} theme (${allThemes[theme]})`);
  const ctx = { timings: {} };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `circuitscope-view-${theme}-`));
  ctx.workspaceDir = path.join(tmp, 'workspace');
  ctx.exportDir = path.join(tmp, 'exports');
  fs.mkdirSync(ctx.exportDir, { recursive: true });
  execFileSync(process.execPath, [makeWorkspace, ctx.workspaceDir], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 60_000 });
  ctx.server = await startServer({
    vsixPath,
    workspaceDir: ctx.workspaceDir,
    settings: { 'workbench.colorTheme': allThemes[theme], 'explorer.compactFolders': false, 'workbench.editor.enablePreview': false },
  });
  let browser;
  let skipRest = false;
  try {
    browser = await launchBrowser();
    ctx.page = browser.page;
    // The circuit view's test hooks (webview/circuit/main.ts); the script runs in every frame.
    await browser.context.addInitScript(() => {
      window.__circuitscopeTest ??= {};
    });
    for (const [name, fn] of checksFor(theme, ctx)) {
      if (skipRest) {
        failed++;
        console.log(`  ✘ ${name}\n    skipped: the view did not open`);
        continue;
      }
      const t0 = Date.now();
      try {
        await withTimeout(fn(), limits.step, name);
        passed++;
        console.log(`  ✔ ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      } catch (error) {
        failed++;
        console.log(`  ✘ ${name}\n    ${String(error?.stack ?? error).split('\n').join('\n    ')}`);
        const file = path.join(outputDir, `view-${theme}-failure-${passed + failed}.png`);
        await ctx.page.screenshot({ path: file, timeout: 10_000 }).catch(() => {});
        console.log(`    failure screenshot: ${rel(file)}`);
        await ctx.page.keyboard.press('Escape').catch(() => {});
        // Every later check needs the view.
        if (!ctx.frame) skipRest = true;
      }
    }
  } finally {
    await browser?.close();
    await ctx.server.stop();
    if (process.env.CIRCUITSCOPE_E2E_KEEP === '1') console.error(`[view] kept ${tmp}`);
    else fs.rmSync(tmp, { recursive: true, force: true });
  }
  timingLines.push(`[view] ${theme}: workbench ${((ctx.timings.workbenchMs ?? 0) / 1000).toFixed(1)} s, discover → view ${((ctx.timings.discoverMs ?? 0) / 1000).toFixed(1)} s`);
}
for (const line of timingLines) console.error(line);
console.error(`[view] total ${((Date.now() - started) / 1000).toFixed(1)} s`);
// CI reads this closing line.
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
