/**
 * Rendering figures of the circuit webview in Debian's chromium (headless, GPU off, through the
 * test/webview harness) for a GPT-2-small-sized circuit: 32,491 scored edges, top 8,000 shown.
 *
 *   - showCircuit → first painted frame: from the fake host's postMessage to the animation frame after
 *     Cytoscape's 'render' (cold: a fresh page per run, as a panel opening; warm: the same page again);
 *   - slider → painted frame: a new N through the number field (top-N, pruning, redraw);
 *   - hover latency: the pointer moves onto a node → the frame after the hover card is visible.
 *
 * The stories260K-sized circuit (2,461 edges) is measured the same way for scale, and the GPT-2 one
 * again with the WebGL renderer forced on (software-rendered in this container).
 *
 *   node esbuild.mjs && node out/bench/render.bench.js [--runs N]
 *   node out/bench/render.bench.js --serve   # writes the harness pages and serves them for a browser
 */
import * as os from 'node:os';
import type { Page } from '../test/webview/playwright';
import type { CircuitViewData } from '../src/shared/webviewProtocol';
import { fakeDrift, gpt2Circuit, llama1bCircuit, perturbed, storiesCircuit } from '../test/webview/fakeData';
import { evaluate, launch, missingPrerequisite, nodePosition, openPage, startServer, waitFor, writePage } from '../test/webview/harness';

function stats(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return `median ${q(0.5).toFixed(0)} ms (min ${s[0].toFixed(0)}, p90 ${q(0.9).toFixed(0)}, n=${s.length})`;
}

/** ms from the host's post of showCircuit to the painted event of the show. */
async function showToPaint(page: Page, showIndex: number): Promise<number> {
  await waitFor(page, `window.__harness.painted.filter((p) => p.reason === 'show').length > ${showIndex}`, 120_000);
  return evaluate<number>(page, `window.__harness.painted.filter((p) => p.reason === 'show')[${showIndex}].t - window.__harness.lastPostAt`);
}

async function sliderToPaint(page: Page, n: number): Promise<number> {
  return evaluate<number>(
    page,
    `new Promise((resolve) => {
      const f = document.querySelector('.cs-number');
      f.value = '${n}';
      const t0 = performance.now();
      window.addEventListener('circuitscope:painted', () => resolve(performance.now() - t0), { once: true });
      f.dispatchEvent(new Event('change'));
    })`,
  );
}

async function hoverLatencies(page: Page, count: number): Promise<number[]> {
  const nodes = (await evaluate<string[]>(page, `window.__circuitscopeTest.circuitNodes('single')`)).filter((n) => n !== 'input' && n !== 'logits');
  const box = await evaluate<{ x: number; y: number }>(page, `(() => { const r = document.querySelector('.cs-cy').getBoundingClientRect(); return { x: r.left + 4, y: r.top + 4 }; })()`);
  const out: number[] = [];
  for (let i = 0; i < Math.min(count, nodes.length); i++) {
    const node = nodes[Math.floor((i * nodes.length) / count)];
    const p = await nodePosition(page, 'single', node);
    await page.mouse.move(box.x, box.y);
    await waitFor(page, `document.querySelector('.cs-card').hidden`, 5000);
    // Arm first and wait for it: input events can overtake a pending evaluate.
    await evaluate(page, `window.__harness.armHover('single')`);
    await page.mouse.move(p.x, p.y);
    out.push(await evaluate<number>(page, 'window.__harness.hover'));
  }
  return out;
}

/**
 * `openAt`: the N the view opens at (sent as the saved view state); by default the view's own legible
 * size chosen from the faithfulness curve.
 */
async function measure(label: string, data: CircuitViewData, runs: number, forceWebgl = false, openAt?: number): Promise<void> {
  const server = await startServer();
  const browser = await launch();
  try {
    const cold: number[] = [];
    let renderer = '';
    let last: Page | undefined;
    for (let i = 0; i < runs; i++) {
      await last?.close();
      const saved = openAt === undefined ? undefined : { topN: openAt };
      const { page } = await openPage(browser, server, { name: `bench-${label}`, theme: 'dark', messages: [{ type: 'showCircuit', circuit: data, saved }], forceWebgl }, { waitPainted: 0 });
      cold.push(await showToPaint(page, 0));
      renderer = await evaluate<string>(page, `window.__circuitscopeTest.renderer('single')`);
      last = page;
    }
    const page = last!;
    const warm: number[] = [];
    for (let i = 0; i < runs; i++) {
      await page.evaluate('window.__harness.resend()');
      warm.push(await showToPaint(page, i + 1));
    }
    const edges = await evaluate<number>(page, `window.__circuitscopeTest.edgeCount('single')`);
    const shown = await evaluate<string>(page, `document.querySelector('.cs-number').value`);
    console.log(`${label}: ${data.scores.length} scored edges (discovered N ${data.topN}), opened at N ${shown} → ${edges} drawn after pruning, renderer ${renderer}`);
    console.log(`  showCircuit → first painted frame, cold page: ${stats(cold)}`);
    console.log(`  showCircuit → first painted frame, warm page: ${stats(warm)}`);
    const slider: number[] = [];
    const ns = [Math.round(data.topN / 2), Math.min(data.topN * 2, data.scores.length), data.topN];
    for (let i = 0; i < runs; i++) for (const n of ns) slider.push(await sliderToPaint(page, n));
    console.log(`  slider N ${ns.join(' → ')} → painted frame: ${stats(slider)}`);
    console.log(`  hover onto a node → card visible (next frame): ${stats(await hoverLatencies(page, 20))}`);
  } finally {
    await browser.close();
    await server.close();
  }
}

/** Writes the harness pages (both themes) and serves them on loopback until interrupted. */
async function serve(): Promise<void> {
  const server = await startServer();
  const a = storiesCircuit();
  const b = perturbed(a, 7, 'stories260K · step 8000', 'runs/stories260K/checkpoint-8000');
  for (const theme of ['light', 'dark'] as const) {
    for (const [name, messages] of [
      ['stories', [{ type: 'showCircuit', circuit: a }]],
      ['gpt2', [{ type: 'showCircuit', circuit: gpt2Circuit() }]],
      ['compare', [{ type: 'showCompare', a, b, drift: fakeDrift(a, b) }]],
    ] as const) {
      console.log(server.origin + writePage({ name: `page-${name}-${theme}`, theme, messages }, server.origin));
    }
  }
  console.log('serving on loopback; Ctrl-C stops');
  await new Promise(() => {});
}

async function main(): Promise<void> {
  if (process.argv.includes('--serve')) return serve();
  const missing = missingPrerequisite();
  if (missing) throw new Error(missing);
  const i = process.argv.indexOf('--runs');
  const runs = i > 0 ? Number(process.argv[i + 1]) : 5;
  console.log(`cpu: ${os.cpus()[0]?.model ?? '?'} x${os.cpus().length}; chromium headless, --disable-gpu, viewport 1280x800`);
  const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
  // --only gpt2 | gpt2-top | llama | llama-top | stories: one model's figures (-top: the acceptance sizes alone).
  const want = (k: string) => only === undefined || only === k || only === k.replace(/-(top|legible)$/, '');
  if (want('gpt2-top')) await measure('GPT-2-small-sized, top 8,000', gpt2Circuit(), runs, false, 8000);
  if (want('gpt2-legible')) await measure('GPT-2-small-sized, legible default', gpt2Circuit(), runs);
  if (want('llama-legible')) await measure('Llama-3.2-1B-sized, legible default', llama1bCircuit(), Math.min(runs, 3));
  if (want('llama-top')) await measure('Llama-3.2-1B-sized, top 20,000', llama1bCircuit(), Math.min(runs, 2), false, 20000);
  if (want('stories')) await measure('stories260K-sized', storiesCircuit(), runs);
  if (only) return;
  // The view uses WebGL only when it is hardware-accelerated; here it can only be software (SwiftShader),
  // measured to show why that case is left to the canvas renderer.
  await measure('GPT-2-small-sized, WebGL forced', gpt2Circuit(), runs, true);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
