// Packages Circuitscope as platform VSIXs: one production build, then `vsce package --target` once per
// target, each with only that platform's onnxruntime-node binaries.
// Usage, from anywhere: node scripts/package.mjs [--all | TARGET ...]
//   no argument: this machine's target (`npm run package`); --all: every target (`npm run package:all`).
// Writes dist/vsix/circuitscope-<target>.vsix (see scripts/targets.mjs); --all empties dist/vsix first.
//
// .vscodeignore lists what every VSIX holds (bundles, media, onnxruntime's JavaScript) and no binary;
// each target gets a copy of it in a temporary folder with its own binaries added (vsce --ignoreFile).
// The binaries are the files of onnxruntime-node's `bin/napi-v6/<platform>/<arch>` as the npm package
// ships them (on Windows DirectML and the DirectX compiler DLLs as well); the CUDA and TensorRT
// provider libraries that `ONNXRUNTIME_NODE_INSTALL=cuda12` adds to linux/x64 are left out.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { hostTarget, repoRoot, targets, vsixDir, vsixPath } from './targets.mjs';

const args = process.argv.slice(2);
const all = args.includes('--all');
const named = args.filter((a) => !a.startsWith('--'));
const unknown = named.filter((t) => !(t in targets));
if (unknown.length || args.some((a) => a.startsWith('--') && a !== '--all')) {
  console.error(`usage: node scripts/package.mjs [--all | TARGET ...]; targets: ${Object.keys(targets).join(', ')}`);
  process.exit(2);
}
const chosen = all ? Object.keys(targets) : named.length ? named : [hostTarget()];

/** The binary files a target's VSIX carries, relative to the repository root (forward slashes). */
function runtimeFiles(target) {
  const rel = `node_modules/onnxruntime-node/bin/napi-v6/${targets[target]}`;
  const dir = path.join(repoRoot, rel);
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => !/_providers_/.test(f)).sort() : [];
  if (!files.includes('onnxruntime_binding.node')) {
    throw new Error(`${rel}/onnxruntime_binding.node is missing: run \`ONNXRUNTIME_NODE_INSTALL=skip npm ci\``);
  }
  return files.map((f) => `${rel}/${f}`);
}

function run(command, argv, what) {
  const r = spawnSync(command, argv, { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) {
    console.error(`package: ${what} failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`})`);
    process.exit(1);
  }
}

const started = Date.now();
// Checked before the build, so a broken node_modules fails fast.
const files = Object.fromEntries(chosen.map((t) => [t, runtimeFiles(t)]));
run(process.execPath, [path.join(repoRoot, 'esbuild.mjs'), '--production'], 'the production build');
console.error(`package: production build in ${((Date.now() - started) / 1000).toFixed(1)} s`);

const vsce = path.join(path.dirname(createRequire(import.meta.url).resolve('@vscode/vsce/package.json')), 'vsce');
const baseIgnore = fs.readFileSync(path.join(repoRoot, '.vscodeignore'), 'utf8');
if (all) fs.rmSync(vsixDir, { recursive: true, force: true });
fs.mkdirSync(vsixDir, { recursive: true });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'circuitscope-package-'));
try {
  for (const target of chosen) {
    const t0 = Date.now();
    const ignoreFile = path.join(tmp, `${target}.vscodeignore`);
    fs.writeFileSync(ignoreFile, `${baseIgnore.trimEnd()}\n# ${target}: its onnxruntime binaries\n${files[target].map((f) => `!${f}`).join('\n')}\n`);
    const out = vsixPath(target);
    run(process.execPath, [vsce, 'package', '--target', target, '--ignoreFile', ignoreFile, '--allow-missing-repository', '--out', out], `vsce package --target ${target}`);
    const mb = (fs.statSync(out).size / 2 ** 20).toFixed(1);
    console.error(`package: ${path.relative(repoRoot, out)} (${mb} MiB) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
console.error(`package: ${chosen.length} VSIX${chosen.length > 1 ? 's' : ''} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
