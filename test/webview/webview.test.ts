/**
 * The circuit webview: its DOM-free parts under Node (the message guard against everything the
 * actions module can send, node search, layout, top-N selection, pen widths), then the built bundle in
 * Debian's chromium through the harness (rendering under the real CSP in light and dark themes, hover
 * cards, slider, search, keyboard, exports, theme switches, state restore, the compare view's
 * synchronization, and unknown messages). Screenshots go to test-output/webview/.
 *
 *   node esbuild.mjs && node --test out/test/webview/webview.test.js
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CircuitGraph, pruneDeadNodes, topN } from '../../src/shared/circuit';
import { isFromWebview, type CircuitViewData, type ToWebview } from '../../src/shared/webviewProtocol';
import { actions, bindActions } from '../../webview/circuit/actions';
import { layeredPositions, neighbourInDirection } from '../../webview/circuit/layout';
import { CircuitModel, penWidth } from '../../webview/circuit/model';
import { normaliseNodeQuery } from '../../webview/circuit/nodeQuery';
import type { Browser, Page } from './playwright';
import { fakeDrift, gpt2Circuit, perturbed, storiesCircuit } from './fakeData';
import {
  evaluate,
  launch,
  missingPrerequisite,
  nodePosition,
  openPage,
  outDir,
  posted,
  screenshot,
  startServer,
  waitFor,
  type PostedMessage,
  type Server,
} from './harness';

// ---- DOM-free parts ----

test('every message the actions module sends passes the host guard', () => {
  const sent: unknown[] = [];
  bindActions({ postMessage: (m) => sent.push(m) });
  actions.ready();
  actions.topNChanged('single', 300);
  actions.topNChanged('a', 12.6);
  actions.nodeSelected('b', 'a3.h7');
  actions.nodeSelected('single', null);
  actions.exported('svg', 'single', '<svg/>');
  actions.exported('png', 'a', 'data:image/png;base64,AAAA');
  actions.log('error', 'x'.repeat(20_000));
  assert.equal(sent.length, 8);
  for (const m of sent) assert.ok(isFromWebview(m), `rejected: ${JSON.stringify(m).slice(0, 120)}`);
  assert.deepEqual(sent[2], { type: 'topNChanged', side: 'a', topN: 13 });
});

test('the host guard rejects malformed messages', () => {
  const bad: unknown[] = [
    null,
    42,
    'ready',
    [],
    {},
    { type: 'ready', extra: 1 },
    { type: 'topNChanged', side: 'c', topN: 3 },
    { type: 'topNChanged', side: 'a', topN: 2.5 },
    { type: 'topNChanged', side: 'a', topN: -1 },
    { type: 'nodeSelected', side: 'a' },
    { type: 'nodeSelected', side: 'a', node: 'x'.repeat(64) },
    { type: 'exported', format: 'jpg', side: 'a', data: '' },
    { type: 'exported', format: 'svg', side: 'a', data: 3 },
    { type: 'log', level: 'debug', message: 'x' },
    { type: 'showCircuit' },
  ];
  for (const m of bad) assert.equal(isFromWebview(m), false, JSON.stringify(m));
});

test('node search accepts the usual spellings', () => {
  const cases: [string, string | undefined][] = [
    ['a3.h7', 'a3.h7'],
    [' A3.H7 ', 'a3.h7'],
    ['a3h7', 'a3.h7'],
    ['3.7', 'a3.h7'],
    ['L3H7', 'a3.h7'],
    ['a03.h07', 'a3.h7'],
    ['m2', 'm2'],
    ['MLP2', 'm2'],
    ['logits', 'logits'],
    ['input', 'input'],
    ['embed', 'input'],
    ['', undefined],
    ['<script>', undefined],
  ];
  for (const [q, want] of cases) assert.equal(normaliseNodeQuery(q), want, q);
});

test('layout: input at the bottom, logits at the top, heads by index, MLP right of its heads', () => {
  const cfg = { nLayers: 5, nHeads: 8, parallelAttnMlp: false };
  const g = new CircuitGraph(cfg);
  const p = layeredPositions(cfg, g.nodes);
  assert.equal(p.size, g.nodes.length);
  // Cytoscape's y grows downward: later layers have smaller y.
  for (let l = 0; l < 5; l++) {
    const ys = new Set(Array.from({ length: 8 }, (_, h) => p.get(`a${l}.h${h}`)!.y));
    assert.equal(ys.size, 1, `layer ${l} heads share a row`);
    const y = p.get(`a${l}.h0`)!.y;
    assert.ok(p.get('input')!.y > y && p.get('logits')!.y < y);
    for (let h = 1; h < 8; h++) assert.ok(p.get(`a${l}.h${h}`)!.x > p.get(`a${l}.h${h - 1}`)!.x);
    assert.ok(p.get(`m${l}`)!.x > p.get(`a${l}.h7`)!.x, 'MLP right of the heads');
    assert.ok(p.get(`m${l}`)!.y < y, 'a sequential MLP sits above the heads it reads');
    if (l > 0) assert.ok(y < p.get(`m${l - 1}`)!.y, 'rows keep layer order');
  }
  const par = layeredPositions({ ...cfg, parallelAttnMlp: true }, g.nodes);
  assert.equal(par.get('m2')!.y, par.get('a2.h0')!.y);
});

test('arrow keys move to the nearest node in the row above or below, or along the row', () => {
  const pts = new Map([
    ['a', { x: 0, y: 0 }],
    ['b', { x: 10, y: 0 }],
    ['c', { x: 30, y: 0 }],
    ['up1', { x: 12, y: -10 }],
    ['up2', { x: -20, y: -10 }],
    ['upFar', { x: 10, y: -30 }],
    ['down', { x: 100, y: 10 }],
  ]);
  const from = pts.get('b')!;
  const others = [...pts].filter(([n]) => n !== 'b');
  assert.equal(neighbourInDirection(from, 'up', others), 'up1');
  assert.equal(neighbourInDirection(from, 'down', others), 'down');
  assert.equal(neighbourInDirection(from, 'left', others), 'a');
  assert.equal(neighbourInDirection(from, 'right', others), 'c');
  assert.equal(neighbourInDirection(pts.get('c')!, 'right', others), undefined);
});

test('the model selects top-N and prunes exactly as src/shared/circuit.ts, and ranks by |score|', () => {
  const data = storiesCircuit();
  const m = new CircuitModel(data);
  const g = new CircuitGraph(data.cfg);
  const scores = Float64Array.from(data.scores, (s) => (s === null ? NaN : s));
  for (const n of [1, 17, 300, m.scoredCount]) {
    const sel = m.select(n);
    const ref = pruneDeadNodes(g, topN(g, scores, n));
    assert.deepEqual([...sel.edgeIn], [...ref.edgeIn], `N=${n}`);
    assert.deepEqual([...sel.nodeIn], [...ref.nodeIn], `N=${n}`);
    assert.equal(sel.edges.length, ref.edgeIn.reduce((a, b) => a + b, 0));
  }
  const nulls = data.scores.filter((s) => s === null).length;
  assert.ok(nulls > 0, 'the fixture has unscored edges');
  assert.equal(m.scoredCount, data.scores.length - nulls);
  const byRank = [...m.rank.keys()].filter((i) => m.rank[i] > 0).sort((a, b) => m.rank[a] - m.rank[b]);
  for (let k = 1; k < byRank.length; k++) assert.ok(Math.abs(scores[byRank[k - 1]]) >= Math.abs(scores[byRank[k]]));
  assert.equal(m.clampN(0), 1);
  assert.equal(m.clampN(1e9), m.scoredCount);
  assert.throws(() => new CircuitModel({ ...data, scores: data.scores.slice(1) }), /2460 scores for a 5-layer, 8-head graph of 2461 edges/);
});

test("pen width follows EAP-IG's max(0.6, 5·(|s|−min)/(max−min))", () => {
  assert.equal(penWidth(1, 1, 3, 1), 0.6);
  assert.equal(penWidth(3, 1, 3, 1), 5);
  assert.equal(penWidth(2, 1, 3, 1), 2.5);
  assert.equal(penWidth(1.1, 1, 3, 1), 0.6);
  assert.equal(penWidth(2, 1, 3, 2), 5);
  assert.equal(penWidth(2, 2, 2, 1), 5, 'one edge, or all equal: full width');
});

// ---- the bundle in chromium ----

const skip = missingPrerequisite();

describe('circuit webview in chromium', { skip }, () => {
  let server: Server;
  let browser: Browser;
  const stories = storiesCircuit();
  const storiesB = perturbed(stories, 7, 'stories260K · step 8000', 'runs/stories260K/checkpoint-8000');
  const show = (c: CircuitViewData): ToWebview => ({ type: 'showCircuit', circuit: c });
  const compare: ToWebview = { type: 'showCompare', a: stories, b: storiesB, drift: fakeDrift(stories, storiesB) };
  const pages: Page[] = [];

  before(async () => {
    fs.mkdirSync(outDir, { recursive: true });
    server = await startServer();
    browser = await launch();
  });
  after(async () => {
    for (const p of pages) await p.close().catch(() => {});
    await browser?.close();
    await server?.close();
  });

  async function open(name: string, theme: 'light' | 'dark', messages: ToWebview[], state?: unknown): Promise<{ page: Page; errors: string[] }> {
    const r = await openPage(browser, server, { name, theme, messages, state });
    pages.push(r.page);
    return r;
  }

  async function waitPosted(page: Page, pred: (m: PostedMessage) => boolean, what: string): Promise<PostedMessage> {
    for (let i = 0; i < 100; i++) {
      const hit = (await posted(page)).find(pred);
      if (hit) return hit;
      await page.waitForTimeout(50);
    }
    throw new Error(`the webview never posted ${what}; posted: ${JSON.stringify(await posted(page)).slice(0, 400)}`);
  }

  async function circuitNodes(page: Page, side = 'single'): Promise<string[]> {
    return evaluate<string[]>(page, `window.__circuitscopeTest.circuitNodes(${JSON.stringify(side)})`);
  }

  async function cardText(page: Page, index = 0): Promise<string | null> {
    return evaluate<string | null>(page, `(() => { const c = document.querySelectorAll('.cs-card')[${index}]; return c && !c.hidden ? c.textContent : null; })()`);
  }

  for (const theme of ['light', 'dark'] as const) {
    test(`stories260K-sized circuit (${theme}): renders under the CSP, 'ready' first, every message valid`, async () => {
      const { page, errors } = await open(`circuit-stories-${theme}`, theme, [show(stories)]);
      const msgs = await posted(page);
      assert.equal(msgs[0].type, 'ready');
      for (const m of msgs) assert.ok(isFromWebview(m), JSON.stringify(m));
      assert.deepEqual(await evaluate(page, 'window.__harness.violations'), []);
      assert.deepEqual(errors, []);
      const m = new CircuitModel(stories);
      const sel = m.select(stories.topN);
      assert.equal(await evaluate(page, `window.__circuitscopeTest.edgeCount('single')`), sel.edges.length);
      assert.equal((await circuitNodes(page)).length, sel.nodeCount);
      assert.equal(await evaluate(page, `window.__circuitscopeTest.renderer('single')`), 'canvas');
      console.log(`  screenshot: ${await screenshot(page, `circuit-stories-${theme}`)}`);
    });

    test(`hover card on a head with a role (${theme}) is text only and readable`, async () => {
      const { page } = await open(`hover-${theme}`, theme, [show(stories)]);
      const nodes = await circuitNodes(page);
      const head = nodes.find((n) => stories.heads[n]?.role && stories.heads[n]?.promotes?.includes('<b>bold</b>')) ?? nodes.find((n) => stories.heads[n]?.role)!;
      const p = await nodePosition(page, 'single', head);
      await page.mouse.move(p.x, p.y);
      await waitFor(page, `!document.querySelector('.cs-card').hidden`);
      const text = (await cardText(page))!;
      for (const s of [head, 'Layer', 'Head', 'Σ|score|', 'Role', stories.heads[head].role!, 'Attention to subject', 'Promotes']) assert.ok(text.includes(s), `card lacks '${s}': ${text}`);
      assert.equal(await evaluate(page, `document.querySelector('.cs-card b, .cs-card script, .cs-card img')`), null, 'token text must never become markup');
      if (stories.heads[head].promotes?.includes('<b>bold</b>')) assert.ok(text.includes('<b>bold</b>'));
      console.log(`  screenshot: ${await screenshot(page, `hover-node-${theme}`)}`);
    });
  }

  test('edge hover shows name, score and rank', async () => {
    const { page } = await open('hover-edge', 'dark', [show(stories)]);
    const m = new CircuitModel(stories);
    const sel = m.select(stories.topN);
    const best = [...sel.edges].sort((a, b) => m.rank[a] - m.rank[b])[0];
    const name = m.graph.edges[best].name;
    const p = await evaluate<{ x: number; y: number }>(page, `window.__circuitscopeTest.edgeMidpoint('single', ${JSON.stringify(name)})`);
    await page.mouse.move(p.x, p.y);
    await waitFor(page, `!document.querySelector('.cs-card').hidden`);
    const text = (await cardText(page))!;
    for (const s of ['Score', 'Rank by |score|', 'Into']) assert.ok(text.includes(s), text);
    assert.ok(text.includes('->'), 'the card names the edge');
    console.log(`  screenshot: ${await screenshot(page, 'hover-edge-dark')}`);
  });

  test('the number field and the slider re-select top-N client-side and tell the host', async () => {
    const { page } = await open('slider', 'light', [show(stories)]);
    await page.locator('.cs-number').fill('50');
    await page.locator('.cs-number').press('Enter');
    await waitPosted(page, (m) => m.type === 'topNChanged' && m.topN === 50, 'topNChanged 50');
    await waitFor(page, `window.__circuitscopeTest.edgeCount('single') <= 50`);
    const sel = new CircuitModel(stories).select(50);
    assert.equal(await evaluate(page, `window.__circuitscopeTest.edgeCount('single')`), sel.edges.length);
    assert.match((await page.locator('.cs-status').textContent()) ?? '', /top 50 edges/);
    // The range input: End goes to the largest N.
    await page.locator('.cs-range').focus();
    await page.keyboard.press('End');
    await waitPosted(page, (m) => m.type === 'topNChanged' && m.topN === new CircuitModel(stories).scoredCount, 'topNChanged max');
    // Clicking the curve picks a measured N.
    const box = (await page.locator('.cs-curve').boundingBox())!;
    await page.mouse.click(box.x + box.width * 0.5, box.y + box.height / 2);
    const curveNs = new Set(stories.curve.map((c) => c.topN));
    const last = (await posted(page)).filter((m) => m.type === 'topNChanged').pop()!;
    assert.ok(curveNs.has(last.topN as number), `curve click gave N=${String(last.topN)}`);
  });

  test('search selects and centres a node; Escape clears; arrow keys move the selection', async () => {
    const { page } = await open('search', 'dark', [show(stories)]);
    const target = (await circuitNodes(page)).find((n) => n.startsWith('a3.'))!;
    const input = page.locator('vscode-textfield input');
    await input.fill(target.toUpperCase());
    await input.press('Enter');
    await waitPosted(page, (m) => m.type === 'nodeSelected' && m.node === target, `nodeSelected ${target}`);
    assert.equal(await evaluate(page, `window.__circuitscopeTest.selected('single')`), target);
    assert.ok((await cardText(page))?.includes(target));
    console.log(`  screenshot: ${await screenshot(page, 'search-selected-dark')}`);
    await page.keyboard.press('Escape');
    await waitPosted(page, (m) => m.type === 'nodeSelected' && m.node === null, 'nodeSelected null');
    await input.fill('a99.h1');
    await input.press('Enter');
    assert.match((await page.locator('.cs-status').textContent()) ?? '', /No node 'a99.h1'/);
    // Keyboard: the graph is focusable; the first arrow starts at logits, the next moves down a row.
    await page.locator('.cs-cy').focus();
    await page.keyboard.press('ArrowDown');
    assert.equal(await evaluate(page, `window.__circuitscopeTest.selected('single')`), 'logits');
    await page.keyboard.press('ArrowDown');
    const next = await evaluate<string>(page, `window.__circuitscopeTest.selected('single')`);
    assert.notEqual(next, 'logits');
    assert.ok((await circuitNodes(page)).includes(next));
  });

  test('requestExport answers with SVG text and a PNG data URL', async () => {
    const { page } = await open('export', 'light', [show(stories)]);
    await page.evaluate(`window.__harness.send({ type: 'requestExport', format: 'svg', side: 'single' })`);
    const svg = await waitPosted(page, (m) => m.type === 'exported' && m.format === 'svg', 'exported svg');
    const text = svg.data as string;
    assert.ok(isFromWebview(svg as unknown));
    assert.match(text, /^<\?xml/);
    assert.ok(text.includes('<svg') && text.includes('>logits</text>') && text.includes('stories260K'));
    fs.writeFileSync(path.join(outDir, 'export-stories.svg'), text);
    await page.evaluate(`window.__harness.send({ type: 'requestExport', format: 'png', side: 'single' })`);
    const png = await waitPosted(page, (m) => m.type === 'exported' && m.format === 'png', 'exported png');
    assert.match(png.data as string, /^data:image\/png;base64,/);
    fs.writeFileSync(path.join(outDir, 'export-stories.png'), Buffer.from((png.data as string).split(',')[1], 'base64'));
    // A side the view does not show is logged, not answered.
    await page.evaluate(`window.__harness.send({ type: 'requestExport', format: 'png', side: 'b' })`);
    await waitPosted(page, (m) => m.type === 'log' && m.level === 'warn' && String(m.message).includes("'b'"), 'a warning');
  });

  test('a theme switch restyles the graph and the page', async () => {
    const { page } = await open('theme-switch', 'dark', [show(stories)]);
    const v = `getComputedStyle(document.getElementById('app')).getPropertyValue('--cs-edge-v').trim()`;
    const dark = await evaluate<string>(page, v);
    assert.notEqual(dark, '#0000ff', "EAP-IG's pure blue is lightened on a dark background");
    await page.evaluate(`window.__harness.setTheme('light')`);
    await waitFor(page, `${v} === '#0000ff'`);
    assert.equal(await evaluate(page, `document.getElementById('app').dataset.theme`), 'light');
    console.log(`  screenshot: ${await screenshot(page, 'theme-switched-to-light')}`);
  });

  test('UI intent survives a reload through setState; data is re-sent', async () => {
    const { page } = await open('state-1', 'dark', [show(stories)]);
    await page.locator('.cs-number').fill('120');
    await page.locator('.cs-number').press('Enter');
    const target = (await circuitNodes(page)).find((n) => n.startsWith('a2.'))!;
    const p = await nodePosition(page, 'single', target);
    await page.mouse.click(p.x, p.y);
    await waitPosted(page, (m) => m.type === 'nodeSelected' && m.node === target, 'nodeSelected');
    await page.mouse.move(p.x + 5, p.y + 200);
    await page.mouse.wheel(0, -300);
    await page.waitForTimeout(600);
    const state = await evaluate<{ key: string; views: { single: { topN: number; selected: string; zoom?: number } } }>(page, 'window.__harness.state');
    assert.equal(state.views.single.topN, 120);
    assert.equal(state.views.single.selected, target);
    assert.ok(state.views.single.zoom !== undefined, 'zoom was saved');
    const vp = await evaluate<{ zoom: number }>(page, `window.__circuitscopeTest.viewport('single')`);
    const again = await open('state-2', 'dark', [show(stories)], state);
    assert.equal(await again.page.locator('.cs-number').inputValue(), '120');
    assert.equal(await evaluate(again.page, `window.__circuitscopeTest.selected('single')`), target);
    const vp2 = await evaluate<{ zoom: number }>(again.page, `window.__circuitscopeTest.viewport('single')`);
    assert.ok(Math.abs(vp2.zoom - vp.zoom) < 1e-6, `zoom ${vp2.zoom} vs ${vp.zoom}`);
    // Another circuit does not inherit the state.
    const other = await open('state-3', 'dark', [show(storiesB)], state);
    assert.equal(await other.page.locator('.cs-number').inputValue(), String(storiesB.topN));
  });

  test('unknown or malformed messages are logged and shown, never thrown; error messages show a banner', async () => {
    const { page, errors } = await open('bad-messages', 'dark', [show(stories)]);
    await page.evaluate(`window.__harness.send({ type: 'bogus' })`);
    await waitPosted(page, (m) => m.type === 'log' && m.level === 'error' && String(m.message).includes('unexpected message'), 'an error log');
    await page.evaluate(`window.postMessage(42, '*')`);
    await waitPosted(page, (m) => m.type === 'log' && m.level === 'warn', 'a warning');
    await page.evaluate(`window.__harness.send({ type: 'error', message: 'The engine stopped: <b>not markup</b>' })`);
    await page.waitForSelector('.cs-error');
    assert.equal(await page.locator('.cs-error span').textContent(), 'The engine stopped: <b>not markup</b>');
    assert.equal(await evaluate(page, `document.querySelector('.cs-error b')`), null);
    assert.deepEqual(errors, []);
    // The graph is still there.
    assert.ok((await evaluate<number>(page, `window.__circuitscopeTest.edgeCount('single')`)) > 0);
  });

  for (const theme of ['light', 'dark'] as const) {
    test(`GPT-2-small-sized circuit (${theme}): 32,491 scored edges, top 8,000`, async () => {
      const gpt2 = gpt2Circuit();
      assert.equal(gpt2.scores.length, 32491);
      const { page, errors } = await open(`circuit-gpt2-${theme}`, theme, [show(gpt2)]);
      assert.deepEqual(errors, []);
      assert.deepEqual(await evaluate(page, 'window.__harness.violations'), []);
      const sel = new CircuitModel(gpt2).select(8000);
      assert.equal(await evaluate(page, `window.__circuitscopeTest.edgeCount('single')`), sel.edges.length);
      console.log(`  renderer: ${await evaluate<string>(page, `window.__circuitscopeTest.renderer('single')`)}`);
      console.log(`  screenshot: ${await screenshot(page, `circuit-gpt2-${theme}`)}`);
    });
  }

  test('the WebGL renderer path draws the GPT-2-sized circuit and exports it (software WebGL here)', async () => {
    const r = await openPage(browser, server, { name: 'circuit-gpt2-webgl', theme: 'dark', messages: [show(gpt2Circuit())], forceWebgl: true });
    pages.push(r.page);
    const renderer = await evaluate<string>(r.page, `window.__circuitscopeTest.renderer('single')`);
    if (renderer !== 'webgl') {
      console.log('  no WebGL 2 context in this chromium; the canvas fallback was used');
      return;
    }
    assert.deepEqual(r.errors.filter((e) => !/GPU stall|WebGL/i.test(e)), []);
    const nodes = await circuitNodes(r.page);
    const p = await nodePosition(r.page, 'single', nodes.find((n) => n.startsWith('a5.'))!);
    await r.page.mouse.move(p.x, p.y);
    await waitFor(r.page, `!document.querySelector('.cs-card').hidden`);
    console.log(`  screenshot: ${await screenshot(r.page, 'circuit-gpt2-webgl-dark')}`);
    await r.page.evaluate(`window.__harness.send({ type: 'requestExport', format: 'png', side: 'single' })`);
    const png = await waitPosted(r.page, (m) => m.type === 'exported' && m.format === 'png', 'exported png');
    assert.match(png.data as string, /^data:image\/png;base64,/);
    fs.writeFileSync(path.join(outDir, 'export-gpt2-webgl.png'), Buffer.from((png.data as string).split(',')[1], 'base64'));
  });

  for (const theme of ['light', 'dark'] as const) {
    test(`compare view (${theme}): marks, drift chart, synchronized hover, selection and viewport`, async () => {
      const { page, errors } = await open(`compare-${theme}`, theme, [compare]);
      assert.deepEqual(errors, []);
      assert.deepEqual(await evaluate(page, 'window.__harness.violations'), []);
      assert.equal(await page.locator('.cs-drift-chart').count(), 1);
      assert.match((await page.locator('.cs-drift-figures').textContent()) ?? '', /Edge Jaccard/);
      // Hover in A shows the same node's card on both sides.
      const nodesA = await circuitNodes(page, 'a');
      const nodesB = new Set(await circuitNodes(page, 'b'));
      const both = nodesA.find((n) => n.startsWith('a') && nodesB.has(n))!;
      const p = await nodePosition(page, 'a', both);
      await page.mouse.move(p.x, p.y);
      await waitFor(page, `[...document.querySelectorAll('.cs-card')].every((c) => !c.hidden)`);
      assert.ok((await cardText(page, 1))?.includes(both));
      console.log(`  screenshot: ${await screenshot(page, `compare-hover-${theme}`)}`);
      // Click selects on both sides.
      await page.mouse.click(p.x, p.y);
      await waitPosted(page, (m) => m.type === 'nodeSelected' && m.side === 'a' && m.node === both, 'nodeSelected a');
      assert.equal(await evaluate(page, `window.__circuitscopeTest.selected('b')`), both);
      // Zooming A zooms B.
      await page.mouse.wheel(0, -400);
      await page.waitForTimeout(300);
      const va = await evaluate<{ zoom: number; pan: { x: number; y: number } }>(page, `window.__circuitscopeTest.viewport('a')`);
      const vb = await evaluate<{ zoom: number; pan: { x: number; y: number } }>(page, `window.__circuitscopeTest.viewport('b')`);
      assert.ok(Math.abs(va.zoom - vb.zoom) < 1e-9 && Math.abs(va.pan.x - vb.pan.x) < 1e-6, `${JSON.stringify(va)} vs ${JSON.stringify(vb)}`);
      await page.keyboard.press('Escape');
      await page.locator('.cs-toolbar vscode-button', { hasText: 'Fit' }).click();
      await page.mouse.move(2, 2);
      await page.waitForTimeout(200);
      console.log(`  screenshot: ${await screenshot(page, `compare-${theme}`)}`);
      // Linked sliders: N on A moves B too.
      await page.locator('.cs-number').first().fill('80');
      await page.locator('.cs-number').first().press('Enter');
      await waitPosted(page, (m) => m.type === 'topNChanged' && m.side === 'b' && m.topN === 80, 'topNChanged b 80');
      await page.locator('vscode-checkbox[label="Differences only"]').click();
      await page.waitForTimeout(300);
      console.log(`  screenshot: ${await screenshot(page, `compare-differences-${theme}`)}`);
      await page.evaluate(`window.__harness.send({ type: 'requestExport', format: 'svg', side: 'b' })`);
      const svg = await waitPosted(page, (m) => m.type === 'exported' && m.side === 'b', 'exported b');
      fs.writeFileSync(path.join(outDir, `export-compare-b-${theme}.svg`), svg.data as string);
    });
  }
});
