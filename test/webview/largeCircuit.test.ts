/**
 * A large circuit (GPT-2 small's top 8,000) in headless chromium: its edges take no Cytoscape events
 * (GraphView finds them itself, so a pointer move does not hit-test thousands of edges), yet an edge
 * still shows its hover card and is selected by a click; its SVG export ends the haystack edges at the
 * node borders.
 */
import * as assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CircuitModel } from '../../webview/circuit/model';
import type { Browser, Page } from './playwright';
import { gpt2Circuit } from './fakeData';
import { evaluate, launch, missingPrerequisite, nodePosition, openPage, posted, startServer, waitFor, type Server } from './harness';

const skip = missingPrerequisite();

describe('a large circuit in chromium', { skip }, () => {
  let browser: Browser;
  let server: Server;
  let page: Page;
  const gpt2 = gpt2Circuit();
  const model = new CircuitModel(gpt2);
  const sel = model.select(8000);

  before(async () => {
    server = await startServer();
    browser = await launch();
    ({ page } = await openPage(browser, server, { name: 'large-circuit', theme: 'dark', messages: [{ type: 'showCircuit', circuit: gpt2, saved: { topN: 8000 } }] }));
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  /** An in-circuit edge whose midpoint is on screen and away from every node, strongest first. */
  async function freeEdge(): Promise<{ name: string; x: number; y: number }> {
    const nodes = await evaluate<string[]>(page, `window.__circuitscopeTest.circuitNodes('single')`);
    const centres = await Promise.all(nodes.map((n) => nodePosition(page, 'single', n)));
    const order = [...sel.edges].sort((a, b) => model.rank[a] - model.rank[b]);
    for (const i of order.slice(0, 400)) {
      const name = model.graph.edges[i].name;
      const p = await evaluate<{ x: number; y: number } | undefined>(page, `window.__circuitscopeTest.edgeMidpoint('single', ${JSON.stringify(name)})`);
      if (p && p.x > 40 && p.y > 60 && p.x < 1200 && p.y < 740 && centres.every((c) => Math.abs(c.x - p.x) > 40 || Math.abs(c.y - p.y) > 20)) return { name, ...p };
    }
    throw new Error('no edge midpoint away from the nodes');
  }

  test('edges take no Cytoscape events, yet hover shows the card of the edge under the pointer and a click selects it', async () => {
    assert.equal(await evaluate(page, `window.__circuitscopeTest.edgeCount('single')`), sel.edges.length);
    const e = await freeEdge();
    await page.mouse.move(e.x, e.y);
    await waitFor(page, `!document.querySelector('.cs-card').hidden`);
    const text = await evaluate<string>(page, `document.querySelector('.cs-card').textContent`);
    for (const s of ['Score', 'Rank by |score|', 'Into']) assert.ok(text.includes(s), text);
    await page.mouse.click(e.x, e.y);
    await waitFor(page, `window.__circuitscopeTest.selectedEdge('single') !== null`);
    // Several edges can cross at a midpoint; the one selected is under the pointer and in the circuit.
    const chosen = await evaluate<string>(page, `window.__circuitscopeTest.selectedEdge('single')`);
    assert.ok(sel.edgeIn[model.graph.edgeByName(chosen)!], chosen);
    // A click away from every edge clears the selection (the card stays with the selection until then).
    const corner = await evaluate<{ x: number; y: number }>(page, `(() => { const r = document.querySelector('.cs-cy').getBoundingClientRect(); return { x: r.left + 4, y: r.top + 4 }; })()`);
    await page.mouse.move(corner.x, corner.y);
    await page.mouse.click(corner.x, corner.y);
    await waitFor(page, `window.__circuitscopeTest.selectedEdge('single') === null`);
    await waitFor(page, `document.querySelector('.cs-card').hidden`);
  });

  test('the SVG export ends haystack edges at the node borders', async () => {
    await page.evaluate(`window.__harness.send({ type: 'requestExport', format: 'svg', side: 'single' })`);
    await waitFor(page, `window.__harness.posted.some((m) => m.type === 'exported' && m.format === 'svg')`);
    const svg = String((await posted(page)).find((m) => m.type === 'exported' && m.format === 'svg')!.data);
    const lines = [...svg.matchAll(/<line x1="([-\d.]+)" y1="([-\d.]+)" x2="([-\d.]+)" y2="([-\d.]+)"/g)].map((m) => m.slice(1).map(Number));
    assert.ok(lines.length >= sel.edges.length, `${lines.length} lines`);
    const rects = [...svg.matchAll(/<rect x="([-\d.]+)" y="([-\d.]+)" width="([\d.]+)" height="([\d.]+)"[^>]*rx=/g)].map((m) => m.slice(1).map(Number));
    const inside = (x: number, y: number) => rects.some(([rx, ry, w, h]) => x > rx + 1 && x < rx + w - 1 && y > ry + 1 && y < ry + h - 1);
    assert.ok(rects.length > 0, 'node boxes are rects');
    const buried = lines.filter(([, , x2, y2]) => inside(x2, y2)).length;
    assert.ok(buried < lines.length * 0.01, `${buried} of ${lines.length} edge ends lie inside a node box, under it`);
  });
});
