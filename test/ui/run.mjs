// Builds what the UI spec installs and opens, then runs it:
//   1. `npm run package`: the production bundles and this machine's platform VSIX,
//      dist/vsix/circuitscope-<target>.vsix (linux-x64 in CI; this also rebuilds out/, so
//      out/test/integration/makeWorkspace.js exists);
//   2. node test/ui/ui.spec.mjs, node test/ui/view.spec.mjs, node test/ui/trust.spec.mjs, then
//      node test/ui/start.spec.mjs (see those files).
// Usage, from the repository root: node test/ui/run.mjs [--no-build] [ui|view|trust|start ...]
// --no-build (or CIRCUITSCOPE_UI_NO_BUILD=1) skips step 1 and uses the VSIX that is there (npm test
// passes it: `npm run package:all` has just written every target's); naming specs runs only those.
// The closing line sums the specs' own closing lines.
// Needs `bash test/e2e/setup.sh` once per machine. The build's output goes to stderr, so the spec's
// closing `N passed, N failed` line stays the last line of stdout; the exit code is the spec's.
import { spawn, spawnSync } from 'node:child_process';
import * as readline from 'node:readline';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostTarget, vsixPath } from '../../scripts/targets.mjs';

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
  console.error(`[ui] built ${path.relative(repo, vsixPath(hostTarget()))} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
const named = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const specs = named.length ? named : ['ui', 'view', 'trust', 'start'];
let passed = 0;
let failed = 0;
/** Runs one spec, passing its lines through as they come, all but its closing line; returns its counts. */
function runSpec(spec) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(here, `${spec}.spec.mjs`)], { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'] });
    const timer = setTimeout(() => child.kill('SIGTERM'), 900_000);
    let counts;
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const m = /^(\d+) passed, (\d+) failed$/.exec(line);
      if (m) counts = { passed: Number(m[1]), failed: Number(m[2]) };
      else console.log(line);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      // A spec that died without its closing line, or exited non-zero with no failure counted, is one failure.
      if (!counts) counts = { passed: 0, failed: 1 };
      else if (code !== 0 && counts.failed === 0) counts.failed = 1;
      resolve(counts);
    });
  });
}
for (const spec of specs) {
  const c = await runSpec(spec);
  passed += c.passed;
  failed += c.failed;
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
