/**
 * Entry point of the extension-host suite: the harness (test/e2e/harness.mjs) loads the extension
 * under development and this module, and calls run() inside the real extension host.
 */
import * as path from 'node:path';

export function run(): Promise<void> {
  const modules = process.env.CIRCUITSCOPE_E2E_NODE_MODULES;
  if (!modules) return Promise.reject(new Error('run this suite through test/e2e/harness.mjs (CIRCUITSCOPE_E2E_NODE_MODULES is not set)'));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { runMocha } = require(path.join(modules, '..', 'mochaRunner.cjs')) as { runMocha: (o: { files: string[]; timeout?: number }) => Promise<void> };
  return runMocha({ files: [path.join(__dirname, 'extension.suite.js')], timeout: 60_000 });
}
