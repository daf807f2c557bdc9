/**
 * CPU profile of the circuit view: first paint of a circuit at N, and hovers. Prints the functions with
 * the most self time.  node out/bench/profile.bench.js [gpt2|llama] [N]
 */
import type { Page } from '../test/webview/playwright';
import { gpt2Circuit, llama1bCircuit } from '../test/webview/fakeData';
import { evaluate, launch, nodePosition, openPage, startServer, waitFor, writePage } from '../test/webview/harness';

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number }; children?: number[] }
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }
type Cdp = { send(m: string, p?: unknown): Promise<unknown> };

const viaName = process.argv.includes('--via') ? process.argv[process.argv.indexOf('--via') + 1] : 'drawImage';

function top(p: Profile, n = 30): void {
  const byId = new Map(p.nodes.map((x) => [x.id, x]));
  const self = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const node = byId.get(p.samples[i])!;
    const f = node.callFrame;
    const k = `${f.functionName || '(anon)'} ${f.url.split('/').pop()}:${f.lineNumber + 1}`;
    const dt = (p.timeDeltas[i] ?? 0) / 1000;
    self.set(k, (self.get(k) ?? 0) + dt);
    total += dt;
  }
  console.log(`  total ${total.toFixed(0)} ms`);
  const parent = new Map<number, ProfileNode>();
  for (const x of p.nodes) for (const c of x.children ?? []) parent.set(c, x);
  const via = new Map<string, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const node = byId.get(p.samples[i])!;
    if (node.callFrame.functionName !== viaName) continue;
    let chain = '';
    let q: ProfileNode | undefined = node;
    for (let d = 0; d < 7 && q; d++, q = parent.get(q.id)) chain += ' < ' + (q.callFrame.functionName || '(anon)') + ':' + (q.callFrame.lineNumber + 1);
    via.set(chain, (via.get(chain) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
  }
  for (const [k, v] of [...via].sort((a, b) => b[1] - a[1]).slice(0, 5)) console.log(`  ${viaName} ${v.toFixed(1)} ms ${k}`);
  // Inclusive time of the view's own functions (a sample counts once per function on its stack).
  const inclusive = new Map<string, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const seen = new Set<string>();
    for (let q: ProfileNode | undefined = byId.get(p.samples[i]); q; q = parent.get(q.id)) {
      const f = q.callFrame;
      if (!f.url.endsWith('circuit.js') || f.lineNumber < 29000) continue;
      const k = `${f.functionName || '(anon)'}:${f.lineNumber + 1}`;
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
    }
  }
  if (process.argv.includes('--inclusive')) for (const [k, v] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`  incl ${v.toFixed(1).padStart(8)} ms  ${k}`);
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(`  ${v.toFixed(1).padStart(8)} ms  ${k}`);
}

async function main(): Promise<void> {
  const which = process.argv[2] ?? 'gpt2';
  const n = Number(process.argv[3] ?? (which === 'gpt2' ? 8000 : 20000));
  const data = which === 'gpt2' ? gpt2Circuit() : llama1bCircuit();
  const server = await startServer();
  const browser = await launch();
  try {
    if (process.argv.includes('--cold')) {
      // A fresh page profiled from its navigation: script load, model, Cytoscape and the first frame.
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      const cdp = (await (page as unknown as { context(): { newCDPSession(p: Page): Promise<Cdp> } }).context().newCDPSession(page)) as Cdp;
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
      await cdp.send('Profiler.start');
      const url = server.origin + writePage({ name: `profile-cold-${which}`, theme: 'dark', messages: [{ type: 'showCircuit', circuit: data, saved: { topN: n } }] }, server.origin);
      await page.goto(url, { waitUntil: 'load' });
      await waitFor(page, `window.__harness.painted.filter((p) => p.reason === 'show').length > 0`, 120_000);
      const ms = await evaluate<number>(page, `window.__harness.painted.filter((p) => p.reason === 'show')[0].t - window.__harness.lastPostAt`);
      const nav = await evaluate<number>(page, `window.__harness.painted.filter((p) => p.reason === 'show')[0].t`);
      const { profile } = (await cdp.send('Profiler.stop')) as { profile: Profile };
      console.log(`${which} N ${n}: cold show → paint ${ms.toFixed(0)} ms (from navigation ${nav.toFixed(0)} ms)`);
      top(profile, 40);
      return;
    }
    const { page } = await openPage(browser, server, { name: `profile-${which}`, theme: 'dark', messages: [{ type: 'showCircuit', circuit: data, saved: { topN: n } }] }, {});
    const cdp = (await (page as unknown as { context(): { newCDPSession(p: Page): Promise<Cdp> } }).context().newCDPSession(page)) as Cdp;
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
    await cdp.send('Profiler.start');
    const t0 = Date.now();
    await page.evaluate('window.__harness.resend()');
    await waitFor(page, `window.__harness.painted.filter((p) => p.reason === 'show').length > 1`, 120_000);
    const ms = await evaluate<number>(page, `window.__harness.painted.filter((p) => p.reason === 'show')[1].t - window.__harness.lastPostAt`);
    const { profile } = (await cdp.send('Profiler.stop')) as { profile: Profile };
    console.log(`${which} N ${n}: warm show → paint ${ms.toFixed(0)} ms (wall ${Date.now() - t0})`);
    top(profile);
    const nodes = (await evaluate<string[]>(page, `window.__circuitscopeTest.circuitNodes('single')`)).filter((x) => x !== 'input' && x !== 'logits');
    await cdp.send('Profiler.start');
    const lat: number[] = [];
    for (let i = 0; i < 10; i++) {
      const p = await nodePosition(page, 'single', nodes[Math.floor((i * nodes.length) / 10)]);
      await page.mouse.move(5, 5);
      await waitFor(page, `document.querySelector('.cs-card').hidden`, 5000);
      await evaluate(page, `window.__harness.armHover('single')`);
      await page.mouse.move(p.x, p.y);
      lat.push(await evaluate<number>(page, 'window.__harness.hover'));
    }
    const { profile: hp } = (await cdp.send('Profiler.stop')) as { profile: Profile };
    console.log(`hover: ${lat.map((x) => x.toFixed(0)).join(' ')}`);
    top(hp, 20);
  } finally {
    await browser.close();
    await server.close();
  }
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
