// Runs the Node test runner over the bundled tests in out/test (built by esbuild.mjs).
// Usage: node test/run.mjs [unit|engine|package ...]; no argument runs every suite but `package`, which
// reads the VSIXs of `npm run package:all` (`npm run test:package` runs it after packaging).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

process.env.ORT_DISABLE_TELEMETRY = '1';
const suites = process.argv.slice(2);
const root = 'out/test';
const files = [];
// test/integration runs inside VS Code (npm run test:vscode), not under Node's test runner.
for (const suite of suites.length ? suites : fs.readdirSync(root).filter((d) => d !== 'integration' && d !== 'package')) {
  const dir = path.join(root, suite);
  if (!fs.existsSync(dir)) continue;
  for (const f of fs.readdirSync(dir, { recursive: true })) if (f.endsWith('.test.js')) files.push(path.join(dir, f));
}
if (files.length === 0) {
  console.error('no test files found; run `node esbuild.mjs` first');
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
