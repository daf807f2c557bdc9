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
import { autoGroups, faithfulnessAt, groupEdges, legibleN, manualGroups, nodeEdges, pathThrough, representatives, shares, visibleToken } from '../../webview/circuit/viewModel';
import { isSavedView } from '../../src/shared/webviewProtocol';
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

test('the view opens at the smallest measured N reaching 80% of the discovered faithfulness', () => {
  const curve = [
    { topN: 10, edges: 9, faithfulness: 0.3 },
    { topN: 40, edges: 35, faithfulness: 0.71 },
    { topN: 100, edges: 90, faithfulness: 0.85 },
    { topN: 606, edges: 560, faithfulness: 0.88 },
  ];
  assert.equal(legibleN(curve, 606, 0.9).n, 100);
  assert.equal(legibleN(curve, 606, 0.85).n, 40, '0.8 × 0.85 = 0.68 is reached at 40');
  assert.equal(legibleN([], 606).n, 150, 'no curve: the fallback size');
  assert.equal(legibleN([], 60).n, 60);
  assert.equal(legibleN(curve, 30, 0.9).n, 30, 'nothing smaller reaches it: the discovered N');
  assert.equal(faithfulnessAt(curve, 40), 0.71);
  const mid = faithfulnessAt(curve, 20)!;
  assert.ok(mid > 0.3 && mid < 0.71, 'interpolated on log N');
});

test('tracing: the path through a node goes both ways, to the input and to the logits', () => {
  const data = storiesCircuit();
  const m = new CircuitModel(data);
  const sel = m.select(200);
  const mid = m.graph.nodes.find((n) => /^a[23]\./.test(n) && sel.nodeIn.get(n))!;
  const { edges, nodes } = pathThrough(m.graph, sel.edgeIn, mid);
  assert.ok(nodes.has('input') && nodes.has('logits'), `${mid}: ${[...nodes].join(' ')}`);
  for (const i of edges) assert.equal(sel.edgeIn[i], 1);
  // Every lit edge lies upstream or downstream of the node, never beside it.
  const up = new Set<string>();
  const down = new Set<string>();
  for (const i of edges) {
    const e = m.graph.edges[i];
    if (e.child === mid) up.add(e.parent);
    if (e.parent === mid) down.add(e.child);
  }
  assert.ok(up.size > 0 && down.size > 0);
  const order = nodeEdges(m.graph, m.scores, sel.edgeIn, mid);
  const incoming = order.filter((i) => m.graph.edges[i].child === mid);
  assert.deepEqual(order.slice(0, incoming.length), incoming, 'incoming edges come first');
  for (let k = 1; k < incoming.length; k++) assert.ok(Math.abs(m.scores[incoming[k - 1]]) >= Math.abs(m.scores[incoming[k]]));
});

test('groups: automatic by role and by layer; collapsed groups merge their edges', () => {
  const data = storiesCircuit();
  const m = new CircuitModel(data);
  const sel = m.select(200);
  const visible = (n: string) => sel.nodeIn.get(n) === true;
  const roles = autoGroups('role', m.graph.nodes, data.heads, visible, new Set(['role:mover']));
  assert.ok(roles.length > 0 && roles.every((g) => g.kind === 'role'));
  for (const g of roles) for (const n of g.members) assert.equal(`${data.heads[n].role} heads`, g.label);
  assert.equal(roles.find((g) => g.id === 'role:mover')?.collapsed, true);
  const layers = autoGroups('layer', m.graph.nodes, data.heads, visible, new Set());
  assert.ok(layers.every((g) => g.members.every((n) => n.includes(g.id.slice(6)))));
  const manual = manualGroups([{ label: 'late movers', members: ['a4.h1', 'a4.h2'], collapsed: true }]);
  const rep = representatives([...manual, ...roles]);
  assert.equal(rep.get('a4.h1')?.label, 'late movers', 'a hand-made group wins over an automatic one');
  const { merged, replaced } = groupEdges(m.graph, m.scores, sel.edges, rep);
  let sum = 0;
  for (const i of replaced) {
    const e = m.graph.edges[i];
    if (rep.get(e.parent) !== rep.get(e.child) || !rep.get(e.parent)) sum += m.scores[i];
  }
  assert.ok(Math.abs(merged.reduce((a, e) => a + e.score, 0) - sum) < 1e-9, 'scores are conserved outside each group');
  for (const e of merged) assert.notEqual(e.source, e.target);
});

test('the score-mass chart shows each side as shares of its own total, so neither hides the other', () => {
  assert.deepEqual(shares([1, 3]), [0.25, 0.75]);
  assert.deepEqual(shares([100, 300]), [0.25, 0.75]);
  assert.deepEqual(shares([0, 0]), [0, 0]);
});

test('tokens show whitespace and bytes as visible symbols', () => {
  assert.equal(visibleToken(' Paris'), '␣Paris');
  assert.equal(visibleToken('\n'), '↵');
  assert.equal(visibleToken('\t'), '⇥');
  assert.equal(visibleToken(''), '∅');
  assert.equal(visibleToken('\u0001'), '<0x01>');
  assert.equal(visibleToken('\ufffd'), '<0x??>');
  assert.equal(visibleToken('\u2581the'), '␣the');
  assert.equal(visibleToken('<0x0A>'), '<0x0A>');
});

test('saved view states are validated', () => {
  assert.ok(isSavedView({}));
  assert.ok(isSavedView({ topN: 40, selected: 'a1.h2', pins: ['a1.h2', 'm3'], groups: [{ label: 'movers', members: ['a3.h1'], collapsed: true }], autoGroups: 'role', collapsedAuto: ['role:mover'] }));
  for (const bad of [null, [], { topN: 0 }, { pins: 'a1.h2' }, { groups: [{ members: [] }] }, { autoGroups: 'size' }, { selected: 'x'.repeat(80) }]) assert.equal(isSavedView(bad), false, JSON.stringify(bad));
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

  async function open(name: string, theme: 'light' | 'dark' | 'hc', messages: ToWebview[], state?: unknown): Promise<{ page: Page; errors: string[] }> {
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

  /** The N the view opens at: the legible size chosen from the curve. */
  const shownN = (c: CircuitViewData) => {
    const m = new CircuitModel(c);
    return m.clampN(legibleN(c.curve, m.clampN(c.topN), c.summary.faithfulness).n);
  };

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
      const sel = m.select(shownN(stories));
      assert.ok(shownN(stories) < stories.topN, 'the view opens below the discovered size');
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
    const sel = m.select(shownN(stories));
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
    assert.equal(await other.page.locator('.cs-number').inputValue(), String(shownN(storiesB)));
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

  for (const theme of ['light', 'dark', 'hc'] as const) {
    test(`tracing (${theme}): a click lights both directions; the keyboard steps through edges`, async () => {
      const { page, errors } = await open(`trace-${theme}`, theme, [show(stories)]);
      const nodes = await circuitNodes(page);
      const mid = nodes.find((n) => /^a[23]\./.test(n)) ?? nodes.find((n) => /^a\d/.test(n))!;
      const p = await nodePosition(page, 'single', mid);
      await page.mouse.click(p.x, p.y);
      await waitPosted(page, (m) => m.type === 'nodeSelected' && m.node === mid, `nodeSelected ${mid}`);
      const lit = await evaluate<string[]>(page, `window.__circuitscopeTest.litNodes('single')`);
      assert.ok(lit.includes('input') && lit.includes('logits') && lit.includes(mid), `lit: ${lit.join(' ')}`);
      assert.ok(lit.length < nodes.length, 'nodes off the paths are dimmed');
      await page.mouse.move(2, 2);
      await page.waitForTimeout(100);
      console.log(`  screenshot: ${await screenshot(page, `trace-node-${theme}`)}`);
      // ] selects the node's first edge (its strongest incoming one); the card names both ends.
      await page.locator('.cs-cy').focus();
      await page.keyboard.press(']');
      await waitFor(page, `window.__circuitscopeTest.selectedEdge('single') !== null`);
      const edge = await evaluate<string>(page, `window.__circuitscopeTest.selectedEdge('single')`);
      assert.ok(edge.includes(mid), `${edge} touches ${mid}`);
      const text = (await cardText(page))!;
      assert.ok(text.includes('From') && text.includes('To'), text);
      await page.keyboard.press(']');
      const edge2 = await evaluate<string>(page, `window.__circuitscopeTest.selectedEdge('single')`);
      assert.notEqual(edge2, edge);
      await page.keyboard.press('[');
      assert.equal(await evaluate(page, `window.__circuitscopeTest.selectedEdge('single')`), edge);
      console.log(`  screenshot: ${await screenshot(page, `trace-edge-${theme}`)}`);
      // Enter follows the edge to its other end.
      await page.keyboard.press('Enter');
      const other = await evaluate<string>(page, `window.__circuitscopeTest.selected('single')`);
      assert.ok(other !== mid && edge.includes(other.replace(/<.>$/, '')), `${other} is the far end of ${edge}`);
      // Up follows the strongest edge toward the logits.
      await page.keyboard.press('ArrowUp');
      assert.notEqual(await evaluate(page, `window.__circuitscopeTest.selected('single')`), other);
      assert.match((await page.locator('.cs-keys').textContent()) ?? '', /\[ \] step edges/);
      assert.deepEqual(errors, []);
    });
  }

  test('high contrast: dimmed nodes and labels keep 4.5:1 against the background', async () => {
    const { page } = await open('hc-contrast', 'hc', [show(stories)]);
    const lum = (hex: string) => {
      const c = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255).map((x) => (x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4));
      return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
    };
    const dim = await evaluate<string>(page, `getComputedStyle(document.getElementById('app')).getPropertyValue('--cs-dim').trim()`);
    const ratio = (lum(dim) + 0.05) / (lum('#000000') + 0.05);
    assert.ok(ratio >= 4.5, `dim ${dim}: ${ratio.toFixed(2)}:1`);
    const nodes = await circuitNodes(page);
    const p = await nodePosition(page, 'single', nodes.find((n) => /^a\d/.test(n))!);
    await page.mouse.click(p.x, p.y);
    await page.mouse.move(2, 2);
    await page.waitForTimeout(150);
    console.log(`  contrast of dimmed labels ${ratio.toFixed(1)}:1; screenshot: ${await screenshot(page, 'hc-selected')}`);
  });

  test('hover card: leaves with the pointer, and sits away from the node', async () => {
    const { page } = await open('hover-leave', 'dark', [show(stories)]);
    const nodes = await circuitNodes(page);
    const head = nodes.find((n) => /^a\d/.test(n))!;
    const p = await nodePosition(page, 'single', head);
    await page.mouse.click(p.x, p.y);
    await waitFor(page, `!document.querySelector('.cs-card').hidden`);
    const box = await evaluate<{ l: number; t: number; r: number; b: number }>(page, `(() => { const r = document.querySelector('.cs-card').getBoundingClientRect(); return { l: r.left, t: r.top, r: r.right, b: r.bottom }; })()`);
    assert.ok(!(p.x >= box.l && p.x <= box.r && p.y >= box.t && p.y <= box.b), 'the card does not cover the node');
    // The pointer leaves the graph (and the webview): the card goes, even with a node selected.
    await page.mouse.move(2, 2);
    await waitFor(page, `document.querySelector('.cs-card').hidden`);
    await page.mouse.move(p.x, p.y);
    await waitFor(page, `!document.querySelector('.cs-card').hidden`);
    await page.evaluate(`document.documentElement.dispatchEvent(new MouseEvent('mouseleave'))`);
    await waitFor(page, `document.querySelector('.cs-card').hidden`);
  });

  test('pins and the subgraph pane; groups by hand (G + click) and by role; state saved and restored', async () => {
    const { page, errors } = await open('pins-groups', 'light', [show(stories)]);
    const nodes = (await circuitNodes(page)).filter((n) => /^(a\d|m\d)/.test(n));
    const [n1, n2, n3] = nodes;
    const at = (n: string) => nodePosition(page, 'single', n);
    // Ctrl+click pins; P pins the selected node.
    let p = await at(n1);
    await page.keyboard.down('Control');
    await page.mouse.click(p.x, p.y);
    await page.keyboard.up('Control');
    p = await at(n2);
    await page.mouse.click(p.x, p.y);
    await page.locator('.cs-cy').focus();
    await page.keyboard.press('p');
    assert.deepEqual(await evaluate(page, `window.__circuitscopeTest.pins('single')`), [n1, n2]);
    assert.equal(await page.locator('.cs-pin-list li').count(), 2);
    assert.equal(await page.locator('.cs-subgraph canvas').count() > 0, true, 'the subgraph pane draws');
    // Hold G and click two nodes: a group.
    await page.keyboard.down('g');
    for (const n of [n2, n3]) {
      p = await at(n);
      await page.mouse.click(p.x, p.y);
    }
    await page.keyboard.up('g');
    await waitFor(page, `document.querySelectorAll('.cs-group-manual').length === 1`);
    const label = page.locator('.cs-group-label');
    await label.fill('my supernode');
    await label.press('Enter');
    await page.locator('.cs-group-manual .cs-link', { hasText: 'Collapse' }).click();
    await waitFor(page, `window.__circuitscopeTest.nodePosition('single', 'group:manual:0') !== undefined`);
    // Automatic groups by role.
    await page.locator('.cs-pins .cs-seg', { hasText: 'By role' }).click();
    const roleRows = await page.locator('.cs-group-role').allTextContents();
    assert.ok(roleRows.some((t) => /mover heads|relation heads|mixture heads/.test(t)), roleRows.join(' | '));
    await page.locator('.cs-group-role .cs-link', { hasText: 'Collapse' }).first().click();
    await page.mouse.move(2, 2);
    await page.waitForTimeout(200);
    console.log(`  screenshot: ${await screenshot(page, 'pins-groups-light')}`);
    const saved = (await waitPosted(page, (m) => m.type === 'viewStateChanged' && (m.state as { groups?: unknown[] }).groups?.length === 1 && (m.state as { autoGroups?: string }).autoGroups === 'role', 'viewStateChanged')).state as Record<string, unknown>;
    assert.ok(isFromWebview({ type: 'viewStateChanged', side: 'single', state: saved }));
    assert.deepEqual(saved.pins, [n1, n2]);
    assert.deepEqual((saved.groups as { label: string }[])[0].label, 'my supernode');
    assert.deepEqual(errors, []);
    // A new panel (no webview state) restores everything from the saved state the host sends.
    const again = await open('pins-groups-restored', 'dark', [{ type: 'showCircuit', circuit: stories, saved: saved as never }]);
    assert.deepEqual(await evaluate(again.page, `window.__circuitscopeTest.pins('single')`), [n1, n2]);
    assert.equal(await again.page.locator('.cs-number').inputValue(), String(saved.topN));
    assert.equal(await again.page.locator('.cs-group-label').inputValue(), 'my supernode');
    assert.ok(await evaluate(again.page, `window.__circuitscopeTest.nodePosition('single', 'group:manual:0') !== undefined`));
    console.log(`  screenshot: ${await screenshot(again.page, 'pins-groups-restored-dark')}`);
  });

  test('the header follows the N shown and names the prompt set and method', async () => {
    const withProv: CircuitViewData = { ...stories, provenance: { promptSet: 'cities.jsonl', method: 'eap-ig-inputs', steps: 5 } };
    const { page } = await open('header', 'light', [show(withProv)]);
    const header = () => page.locator('.cs-header').textContent();
    assert.match((await header()) ?? '', /cities\.jsonl/);
    assert.match((await header()) ?? '', new RegExp(`Faithfulness at N = ${shownN(stories)}`));
    await page.locator('.cs-preset', { hasText: 'Discovered' }).click();
    await waitFor(page, `document.querySelector('.cs-header').textContent.includes('as discovered')`);
    assert.match((await header()) ?? '', /Faithfulness at N = 300/);
  });

  test('MIB figures: CPR and CMD beside the size slider when the circuit file has them, none otherwise', async () => {
    const withMib: CircuitViewData = { ...stories, mib: { cpr: 0.81234, cmd: 0.14567, ablation: 'zero' } };
    const { page, errors } = await open('mib', 'dark', [{ type: 'showCompare', a: withMib, b: storiesB, drift: fakeDrift(withMib, storiesB) }]);
    assert.deepEqual(errors, []);
    assert.deepEqual(await evaluate(page, 'window.__harness.violations'), []);
    await waitFor(page, `document.querySelector('.cs-mib') !== null`);
    // What each pane's size control shows: the figures, their tooltips, and where they sit against the slider.
    const read = () =>
      evaluate<{ cpr: string[]; cmd: string[]; titles: string[]; label: string | null; row: number[]; mib: number[] } | null>(
        page,
        `(() => {
          const [a, b] = document.querySelectorAll('.cs-pane');
          if (b.querySelector('.cs-mib')) return null;
          const m = a.querySelector('.cs-size > .cs-mib');
          const texts = (sel) => [...m.querySelectorAll(sel + ' > span')].map((x) => x.textContent);
          const box = (e) => { const r = e.getBoundingClientRect(); return [r.top, r.bottom, r.width]; };
          return {
            cpr: texts('.cs-mib-cpr'),
            cmd: texts('.cs-mib-cmd'),
            titles: [m.querySelector('.cs-mib-cpr').title, m.querySelector('.cs-mib-cmd').title],
            label: m.getAttribute('aria-label'),
            row: box(a.querySelector('.cs-size > .cs-range')),
            mib: box(m),
          };
        })()`,
      );
    const r = (await read())!;
    assert.ok(r, 'circuit B, without MIB figures, shows none');
    assert.deepEqual(r.cpr, ['CPR', '0.812']);
    assert.deepEqual(r.cmd, ['CMD', '0.146']);
    assert.match(r.titles[0], /signed score.*zero ablation.*Higher is better/);
    assert.match(r.titles[1], /\|score\|.*Lower is better/);
    assert.equal(r.label, 'MIB: CPR 0.812, CMD 0.146');
    // Shown, and on the slider's row.
    assert.ok(r.mib[2] > 0, 'the figures have a width');
    assert.ok(r.mib[0] < r.row[1] && r.row[0] < r.mib[1], `slider row ${r.row[0]}–${r.row[1]}, MIB ${r.mib[0]}–${r.mib[1]}`);
    // They summarize every size, so they stay when N changes.
    await page.locator('.cs-preset', { hasText: 'Discovered' }).first().click();
    assert.deepEqual((await read())!.cpr, ['CPR', '0.812']);
    console.log(`  screenshot: ${await screenshot(page, 'mib-figures-dark')}`);
  });

  for (const theme of ['light', 'dark'] as const) {
    test(`GPT-2-small-sized circuit (${theme}): 32,491 scored edges, top 8,000`, async () => {
      const gpt2 = gpt2Circuit();
      assert.equal(gpt2.scores.length, 32491);
      const { page, errors } = await open(`circuit-gpt2-${theme}`, theme, [show(gpt2)]);
      assert.deepEqual(errors, []);
      assert.deepEqual(await evaluate(page, 'window.__harness.violations'), []);
      assert.equal(await evaluate(page, `window.__circuitscopeTest.edgeCount('single')`), new CircuitModel(gpt2).select(shownN(gpt2)).edges.length);
      console.log(`  screenshot: ${await screenshot(page, `circuit-gpt2-legible-${theme}`)}`);
      // The discovered circuit is one click away.
      await page.locator('.cs-preset', { hasText: 'Discovered' }).click();
      await waitPosted(page, (m) => m.type === 'topNChanged' && m.topN === 8000, 'topNChanged 8000');
      const sel = new CircuitModel(gpt2).select(8000);
      await waitFor(page, `window.__circuitscopeTest.edgeCount('single') === ${sel.edges.length}`);
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
