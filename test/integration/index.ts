/**
 * Entry point of the extension-host suite: test/integration/run.mjs starts VS Code through
 * @vscode/test-electron's runTests (the code-server harness, test/e2e/harness.mjs, here), which loads the
 * extension under development and this module, and calls run() inside the real extension host.
 */
import * as path from 'node:path';

export function run(): Promise<void> {
  const modules = process.env.CIRCUITSCOPE_E2E_NODE_MODULES;
  if (!modules) return Promise.reject(new Error('run this suite through test/integration/run.mjs (CIRCUITSCOPE_E2E_NODE_MODULES is not set)'));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { runMocha } = require(path.join(modules, '..', 'mochaRunner.cjs')) as { runMocha: (o: { files: string[]; timeout?: number }) => Promise<void> };
  return runMocha({ files: suites(['extension.suite.js', 'problems.suite.js', 'soak.suite.js', 'circuitTests.suite.js']).map((f) => path.join(__dirname, f)), timeout: 60_000 });
}

/** The suites to run: all, or those CIRCUITSCOPE_SUITES names (comma list, e.g. "problems"). */
function suites(all: string[]): string[] {
  const only = process.env.CIRCUITSCOPE_SUITES?.split(',').map((s) => `${s.trim()}.suite.js`);
  return only ? all.filter((f) => only.includes(f)) : all;
}
