// Builds what the UI spec installs and opens, then runs it:
//   1. `npm run package`: the production bundles and circuitscope.vsix at the repository root (this
//      also rebuilds out/, so out/test/integration/makeWorkspace.js exists);
//   2. node test/ui/ui.spec.mjs (see that file).
// Usage, from the repository root: node test/ui/run.mjs [--no-build]
// --no-build (or CIRCUITSCOPE_UI_NO_BUILD=1) skips step 1 and uses the VSIX that is there.
// Needs `bash test/e2e/setup.sh` once per machine. The build's output goes to stderr, so the spec's
// closing `N passed, N failed` line stays the last line of stdout; the exit code is the spec's.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const noBuild = process.argv.includes('--no-build') || process.env.CIRCUITSCOPE_UI_NO_BUILD === '1';

if (!noBuild) {
  const started = Date.now();
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const r = spawnSync(npm, ['run', 'package'], { cwd: repo, stdio: ['ignore', process.stderr, process.stderr], timeout: 300_000, killSignal: 'SIGKILL' });
  if (r.status !== 0) {
    console.error(`[ui] npm run package failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`})`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
  console.error(`[ui] built circuitscope.vsix in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
const r = spawnSync(process.execPath, [path.join(here, 'ui.spec.mjs')], { cwd: repo, stdio: 'inherit', timeout: 600_000, killSignal: 'SIGTERM' });
if (r.error) console.error(`[ui] ${r.error.message}`);
process.exit(r.status ?? 1);
