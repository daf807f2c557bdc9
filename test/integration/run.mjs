// Builds the suite's workspace, then runs the extension-host suite through @vscode/test-electron's
// runTests. VS Code desktop cannot be downloaded here, so the executable is the code-server harness
// (test/e2e/harness.mjs), which takes `code`'s test flags; on a machine with VS Code desktop,
// CIRCUITSCOPE_VSCODE_PATH names its executable instead (runTests then gives it a profile under
// .vscode-test/). runTests downloads VS Code only when no executable is given: one is always given here,
// and every HTTP(S) request from this process throws, so a run never reaches the network.
// Usage: node test/integration/run.mjs (after `node esbuild.mjs` and `bash test/e2e/setup.sh`).
// Exit code: the suite's; the closing `N passed, N failed` line stays the last line of stdout.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runTests } from '@vscode/test-electron';

const require = createRequire(import.meta.url);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

// test-electron reads http/https through live bindings, so replacing the functions here covers it.
for (const name of ['http', 'https']) {
  const mod = require(`node:${name}`);
  for (const fn of ['request', 'get']) {
    mod[fn] = (target) => {
      throw new Error(`test/integration/run.mjs never downloads (${name}.${fn} ${target?.href ?? target?.host ?? target}); give runTests an executable`);
    };
  }
}

const vscodeExecutablePath = path.resolve(process.env.CIRCUITSCOPE_VSCODE_PATH || path.join(repo, 'test', 'e2e', 'harness.mjs'));
try {
  fs.accessSync(vscodeExecutablePath, fs.constants.X_OK);
} catch {
  console.error(`[integration] ${vscodeExecutablePath} is not an executable file (CIRCUITSCOPE_VSCODE_PATH or test/e2e/harness.mjs)`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

const ws = execFileSync(process.execPath, [path.join(repo, 'out/test/integration/makeWorkspace.js')], { encoding: 'utf8' }).trim();
// runTests prints `Exit code: N` with console.log after the suite's closing line; it goes to stderr.
console.log = (...args) => console.error(...args);
let code;
try {
  code = await runTests({
    vscodeExecutablePath,
    extensionDevelopmentPath: repo,
    extensionTestsPath: path.join(repo, 'out/test/integration/index.js'),
    launchArgs: [ws],
    extensionTestsEnv: {
      CIRCUITSCOPE_TEST_WORKSPACE: ws,
      // Where index.js finds mocha and mochaRunner.cjs (the harness sets the same; VS Code desktop does not).
      CIRCUITSCOPE_E2E_NODE_MODULES: path.join(repo, 'test', 'e2e', 'node_modules'),
      // The kill-and-cancel soak (soak.suite.ts) runs a few minutes on a busy machine: a 15-minute bound for the whole suite.
      CIRCUITSCOPE_E2E_SUITE_TIMEOUT_MS: process.env.CIRCUITSCOPE_E2E_SUITE_TIMEOUT_MS || '900000',
    },
  });
} catch (error) {
  // TestRunFailedError carries the executable's exit code (1 failed, 124 timed out, ...).
  code = typeof error?.code === 'number' ? error.code : 1;
  if (typeof error?.code !== 'number') console.error(`[integration] ${error?.stack ?? error}`);
}
// The workspace (about 30 MB of checkpoints) goes with the run unless the harness is asked to keep things.
if (process.env.CIRCUITSCOPE_E2E_KEEP !== '1') fs.rmSync(ws, { recursive: true, force: true });
process.exit(code);
