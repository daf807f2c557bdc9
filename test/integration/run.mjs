// Builds the suite's workspace, then runs the extension-host suite in code-server through the harness.
// Usage: node test/integration/run.mjs (after `node esbuild.mjs` and `bash test/e2e/setup.sh`).
import { execFileSync, spawnSync } from 'node:child_process';

const ws = execFileSync(process.execPath, ['out/test/integration/makeWorkspace.js'], { encoding: 'utf8' }).trim();
const r = spawnSync(process.execPath, ['test/e2e/harness.mjs', 'host', '--extensionDevelopmentPath=.', '--extensionTestsPath=out/test/integration/index.js', ws], {
  stdio: 'inherit',
  // The kill-and-cancel soak (soak.suite.ts) runs a few minutes on a busy machine: a 15-minute bound for the whole suite.
  env: { CIRCUITSCOPE_E2E_SUITE_TIMEOUT_MS: '900000', ...process.env, CIRCUITSCOPE_TEST_WORKSPACE: ws },
});
process.exit(r.status ?? 1);
