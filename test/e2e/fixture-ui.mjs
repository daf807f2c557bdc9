// Playwright UI spec against the real workbench, using the throwaway fixture extension: it runs the
// fixture's command from the command palette, checks the notification it shows, and saves
// screenshots to test-output/e2e/ at the repository root (git-ignored).
//
// Usage: node test/e2e/fixture-ui.mjs
// Prints one line per check and closes with `N passed, N failed`; the exit code is 1 when a check failed.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser, openWorkbench, runCommand, startServer, waitForToast } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const outputDir = process.env.CIRCUITSCOPE_E2E_OUTPUT ?? path.resolve(here, '..', '..', 'test-output', 'e2e');
fs.mkdirSync(outputDir, { recursive: true });

const checks = [];
const check = (name, fn) => checks.push({ name, fn });

const ctx = {};

check('the workbench renders with the fixture extension loaded', async () => {
  ctx.timings.workbenchMs = await openWorkbench(ctx.page, ctx.server);
  // The Explorer opens on the workspace folder; its header shows that the folder reached the server.
  await ctx.page.locator('.pane-header', { hasText: 'fixture-workspace' }).first().waitFor({ timeout: 15_000 });
});

check('Circuits Fixture: Say Hello runs from the palette and shows its toast', async () => {
  const started = Date.now();
  await runCommand(ctx.page, 'Circuits Fixture: Say Hello');
  const text = await waitForToast(ctx.page, 'Hello from the Circuits fixture');
  ctx.timings.commandMs = Date.now() - started;
  if (!text.includes('Hello from the Circuits fixture')) throw new Error(`unexpected toast text: ${text}`);
  const file = path.join(outputDir, 'fixture-ui.png');
  await ctx.page.screenshot({ path: file });
  console.log(`  screenshot: ${path.relative(process.cwd(), file)}`);
});

let failed = 0;
let passed = 0;
const started = Date.now();
ctx.timings = {};
let t = Date.now();
ctx.server = await startServer({
  extensionDir: path.join(here, 'fixture-ext'),
  workspaceDir: path.join(here, 'fixture-workspace'),
});
ctx.timings.serverMs = Date.now() - t;
t = Date.now();
const browser = await launchBrowser().catch(async (e) => {
  await ctx.server.stop();
  throw e;
});
ctx.timings.browserMs = Date.now() - t;
ctx.page = browser.page;
try {
  for (const { name, fn } of checks) {
    try {
      await fn();
      passed++;
      console.log(`  ✔ ${name}`);
    } catch (error) {
      failed++;
      console.log(`  ✘ ${name}\n    ${String(error?.stack ?? error).split('\n').join('\n    ')}`);
      const file = path.join(outputDir, `fixture-ui-failure-${passed + failed}.png`);
      await ctx.page.screenshot({ path: file }).catch(() => {});
      console.log(`    failure screenshot: ${path.relative(process.cwd(), file)}`);
    }
  }
} finally {
  await browser.close();
  await ctx.server.stop();
}
const { serverMs, browserMs, workbenchMs, commandMs } = ctx.timings;
console.error(
  `[e2e] timings: server ${serverMs} ms, chromium ${browserMs} ms, workbench ${workbenchMs} ms, palette command + toast ${commandMs} ms, total ${Date.now() - started} ms`,
);
// CI reads this closing line.
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
