/**
 * The notebook renderer (dist/webview/notebook.js) in Debian's chromium, on a page standing in for the
 * notebook's output webview: the page's own text and two output elements, the module imported as VS
 * Code imports it, and its activate() called with output items. A circuit output draws the graph at its
 * in_graph N (counts checked against src/shared/circuit.ts), a bad output shows a message naming the
 * field, the page's own styles are left alone, the view's keys do not reach the workbench's
 * keybindings (a window listener standing in for VS Code's), and disposing an output removes its view. The
 * code-server acceptance check is in test/ui/view.spec.mjs; screenshots go to test-output/webview/.
 *
 *   node esbuild.mjs && node --test out/test/webview/notebook.test.js
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { CircuitGraph, pruneDeadNodes, topN } from '../../src/shared/circuit';
import { circuitMimeType } from '../../src/shared/circuitView';
import { storiesCircuit } from './fakeData';
import { evaluate, launch, missingPrerequisite, outDir, screenshot, startServer, themes, waitFor, type Server } from './harness';
import type { Browser, Page } from './playwright';

const skip = missingPrerequisite() ?? (fs.existsSync('dist/webview/notebook.js') ? undefined : 'dist/webview/notebook.js is missing (run node esbuild.mjs)');

/**
 * The fake stories260K-sized circuit as EAP-IG's Graph.to_json writes it after apply_topn(120) and
 * pruning; `n` is the rank of its weakest in_graph edge (the N the view should open at).
 */
function eapJson(): { json: object; n: number; edges: number; nodes: number } {
  const c = storiesCircuit();
  const g = new CircuitGraph(c.cfg);
  const scores = Float64Array.from(c.scores, (s) => s ?? NaN);
  const sel = pruneDeadNodes(g, topN(g, scores, 120));
  const edges: Record<string, { score: number | null; in_graph: boolean }> = {};
  g.edges.forEach((e, i) => (edges[e.name] = { score: c.scores[i], in_graph: sel.edgeIn[i] === 1 }));
  const nodes = Object.fromEntries(g.nodes.map((x) => [x, { in_graph: sel.nodeIn.get(x) === true }]));
  const ranked = [...g.edges.keys()].filter((i) => c.scores[i] !== null).sort((a, b) => Math.abs(scores[b]) - Math.abs(scores[a]) || a - b);
  const n = Math.max(...ranked.map((e, r) => (sel.edgeIn[e] ? r + 1 : 0)));
  return {
    json: { cfg: { n_layers: c.cfg.nLayers, n_heads: c.cfg.nHeads, parallel_attn_mlp: false }, nodes, edges },
    n,
    edges: sel.edgeIn.reduce((a, x) => a + x, 0),
    nodes: [...sel.nodeIn.values()].filter(Boolean).length,
  };
}

/** The stand-in page: VS Code's Light Modern variables, the page's own paragraph, two output elements. */
function pageHtml(items: { id: string; text: string }[]): string {
  const t = themes.light;
  const vars = Object.entries(t.vars)
    .map(([k, v]) => `${k}: ${v};`)
    .join(' ');
  return `<!DOCTYPE html>
<html lang="en" style="${vars.replace(/"/g, '&quot;')}">
<head><meta charset="UTF-8"><link rel="icon" href="data:,"><title>notebook renderer</title></head>
<body class="${t.bodyClass}">
<p id="own">The notebook's own text.</p>
${items.map((x) => `<div class="output" id="${x.id}"></div>`).join('\n')}
<script type="application/json" id="items">${JSON.stringify(items).replace(/</g, '\\u003c')}</script>
<script>
  // VS Code's forwarder: every key that reaches the window goes to the workbench's keybindings.
  window.__forwarded = [];
  window.addEventListener('keydown', (e) => window.__forwarded.push((e.ctrlKey ? 'Ctrl+' : '') + e.key));
</script>
<script type="module">
  import { activate } from '/dist/webview/notebook.js';
  const renderer = activate();
  const items = JSON.parse(document.getElementById('items').textContent);
  window.__renderer = renderer;
  window.__rendered = Promise.all(items.map((x) => renderer.renderOutputItem({ id: x.id, mime: '${circuitMimeType}', text: () => x.text }, document.getElementById(x.id), new AbortController().signal)));
  window.__rendered.then(() => (window.__done = true), (e) => (window.__done = String(e)));
</script>
</body>
</html>
`;
}

let server: Server;
let browser: Browser;
let page: Page;
const errors: string[] = [];
const expected = eapJson();

before(async () => {
  if (skip) return;
  server = await startServer();
  browser = await launch();
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, 'notebook-renderer.html');
  fs.writeFileSync(
    file,
    pageHtml([
      { id: 'good', text: JSON.stringify(expected.json) },
      { id: 'bad', text: JSON.stringify({ nodes: {}, edges: {} }) },
    ]),
  );
  page = await browser.newPage({ viewport: { width: 1100, height: 1000 } });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  await page.goto(`${server.origin}/${path.relative(process.cwd(), file).split(path.sep).join('/')}`, { waitUntil: 'load' });
  await waitFor(page, 'window.__done !== undefined', 30_000);
});

after(async () => {
  await browser?.close();
  await server?.close();
});

test('a circuit output draws the graph at its in_graph N, and leaves the page alone', { skip }, async () => {
  assert.equal(await evaluate(page, 'window.__done'), true);
  const facts = await evaluate<{ label: string; painted: number; height: number; status: string }>(
    page,
    `(() => {
      const cy = document.querySelector('#good .cs-cy');
      let painted = 0;
      for (const c of cy.querySelectorAll('canvas')) {
        const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 3; i < px.length; i += 28) if (px[i] > 0) painted++;
      }
      return { label: cy.getAttribute('aria-label'), painted, height: cy.getBoundingClientRect().height, status: document.querySelector('#good .cs-status').textContent };
    })()`,
  );
  assert.match(facts.label, new RegExp(`: ${expected.nodes} nodes and ${expected.edges} edges in the circuit`));
  assert.match(facts.status, new RegExp(`^top ${expected.n} edges → ${expected.edges} edges and ${expected.nodes} nodes after pruning`));
  assert.ok(facts.painted > 50, `the canvases are blank (${facts.painted} painted samples)`);
  assert.ok(facts.height > 200, `the graph is ${facts.height} px high`);
  // The notebook's page keeps its own margins and scrolling: the view's rules are scoped to it.
  const own = await evaluate<{ margin: string; overflow: string }>(page, `({ margin: getComputedStyle(document.body).margin, overflow: getComputedStyle(document.body).overflow })`);
  assert.deepEqual(own, { margin: '8px', overflow: 'visible' });
  assert.deepEqual(errors, []);
  console.log(`  screenshot: ${await screenshot(page, 'notebook-renderer')}`);
});

test("the view's keys stay in the output; modified keys, F-keys and an Escape with nothing to clear reach the workbench", { skip }, async () => {
  const status = () => evaluate<string>(page, `document.querySelector('#good .cs-status').textContent`);
  await page.locator('#good .cs-cy').first().focus();
  await page.keyboard.press('ArrowUp');
  assert.match(await status(), /; selected logits$/);
  await page.keyboard.press('Enter');
  await page.keyboard.press('Escape');
  assert.doesNotMatch(await status(), /selected/);
  assert.deepEqual(await evaluate(page, 'window.__forwarded'), [], 'ArrowUp, Enter and the Escape that cleared the selection stay in the view');
  await page.keyboard.press('Escape');
  await page.keyboard.press('F1');
  await page.keyboard.press('Control+k');
  assert.deepEqual(await evaluate(page, 'window.__forwarded'), ['Escape', 'F1', 'Ctrl+Control', 'Ctrl+k']);
  // Keys outside the views are not the renderer's business.
  await evaluate(page, `(document.getElementById('own').tabIndex = 0, document.getElementById('own').focus())`);
  await page.keyboard.press('ArrowUp');
  assert.deepEqual(await evaluate(page, 'window.__forwarded'), ['Escape', 'F1', 'Ctrl+Control', 'Ctrl+k', 'ArrowUp']);
});

test('a bad output shows what is wrong, naming the field; disposing an output removes its view', { skip }, async () => {
  const text = await evaluate<string>(page, `document.querySelector('#bad [role=alert]')?.textContent ?? ''`);
  assert.match(text, /^Circuitscope cannot show this circuit\. circuit output \(application\/vnd\.circuitscope\.circuit\+json\): 'cfg' is missing/);
  await evaluate(page, `window.__renderer.disposeOutputItem('good')`);
  assert.equal(await evaluate(page, `document.querySelector('#good .cs-root') === null && document.querySelector('#good .cs-cy') === null`), true);
});
