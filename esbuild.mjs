// Builds every bundle: the extension host, the engine child process, the CLI, the webview, the notebook
// renderer, and the test and bench files (so Node's test runner runs plain JavaScript).
// onnxruntime-node and vscode stay external: the first is a native addon shipped in node_modules, the
// second is provided by VS Code.
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import * as path from 'node:path';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

/** Prints errors in the format of VS Code's esbuild problem matcher. */
const problemMatcher = {
  name: 'problem-matcher',
  setup(build) {
    build.onEnd((result) => {
      for (const { text, location } of result.errors) {
        console.error(`✘ [ERROR] ${text}`);
        if (location) console.error(`    ${location.file}:${location.line}:${location.column}:`);
      }
    });
  },
};

function listTs(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true })
    // test/e2e runs inside VS Code and has its own package; node_modules holds other projects' tests.
    .filter((f) => !f.split(path.sep).includes('node_modules') && !f.startsWith('e2e' + path.sep))
    .filter((f) => /\.(test|bench)\.ts$/.test(f))
    .map((f) => path.join(dir, f));
}

const node = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: !production,
  minify: production,
  external: ['vscode', 'onnxruntime-node'],
  logLevel: 'warning',
  plugins: [problemMatcher],
};

const builds = [
  { ...node, entryPoints: { extension: 'src/host/extension.ts', engine: 'src/engine/main.ts', cli: 'src/cli.ts' }, outdir: 'dist' },
  {
    ...node,
    entryPoints: [...listTs('test'), ...listTs('bench')],
    outbase: '.',
    outdir: 'out',
  },
  // The extension-host suite runs inside VS Code: vscode is provided there.
  {
    ...node,
    entryPoints: ['test/integration/index.ts', 'test/integration/extension.suite.ts', 'test/integration/problems.suite.ts', 'test/integration/soak.suite.ts', 'test/integration/circuitTests.suite.ts', 'test/integration/makeWorkspace.ts'].filter((f) => fs.existsSync(f)),
    outbase: '.',
    outdir: 'out',
  },
];
for (const entry of ['webview/circuit/main.ts']) {
  if (fs.existsSync(entry)) {
    builds.push({
      bundle: true,
      platform: 'browser',
      target: 'es2022',
      format: 'iife',
      sourcemap: !production,
      minify: production,
      entryPoints: { circuit: entry },
      outdir: 'dist/webview',
      logLevel: 'warning',
      plugins: [problemMatcher],
    });
  }
}

// The notebook renderer: VS Code imports it as an ES module in the notebook's output webview, and it
// links its stylesheet (dist/webview/notebook.css) from beside itself.
if (fs.existsSync('webview/notebook/renderer.ts')) {
  builds.push({
    bundle: true,
    platform: 'browser',
    target: 'es2022',
    format: 'esm',
    sourcemap: !production,
    minify: production,
    entryPoints: { notebook: 'webview/notebook/renderer.ts' },
    outdir: 'dist/webview',
    logLevel: 'warning',
    plugins: [problemMatcher],
  });
}

const present = builds
  .map((b) => ({ ...b, entryPoints: Array.isArray(b.entryPoints) ? b.entryPoints : Object.fromEntries(Object.entries(b.entryPoints).filter(([, f]) => fs.existsSync(f))) }))
  .filter((b) => (Array.isArray(b.entryPoints) ? b.entryPoints.length : Object.keys(b.entryPoints).length) > 0);

if (watch) {
  for (const b of present) await (await esbuild.context(b)).watch();
} else {
  await Promise.all(present.map((b) => esbuild.build(b)));
  // The CLI is an executable script.
  if (fs.existsSync('dist/cli.js')) {
    const cli = fs.readFileSync('dist/cli.js', 'utf8');
    if (!cli.startsWith('#!')) fs.writeFileSync('dist/cli.js', '#!/usr/bin/env node\n' + cli);
    fs.chmodSync('dist/cli.js', 0o755);
  }
}
