/**
 * The platform VSIXs that `npm run package:all` writes to dist/vsix: one per target, each holding
 * exactly its platform's onnxruntime-node binaries (every native file's header names that OS and
 * CPU) and no other platform's, all five from one production build.
 * Reads the VSIXs, so it runs after packaging: `npm run package:all && npm run test:package`.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../helpers/tinyModels';
import { type ZipEntry, zipEntries, zipRead } from '../helpers/zip';

/** The targets the issue names: vsce's name → onnxruntime-node's `bin/napi-v6` folder. */
const targets: Record<string, string> = {
  'linux-x64': 'linux/x64',
  'linux-arm64': 'linux/arm64',
  'darwin-x64': 'darwin/x64',
  'darwin-arm64': 'darwin/arm64',
  'win32-x64': 'win32/x64',
};
const vsixDir = path.join(repoRoot, 'dist', 'vsix');
const binPrefix = 'extension/node_modules/onnxruntime-node/bin/';
const native = /\.(node|so|dylib|dll)(\.\d+)*$/i;
/** The runtime library beside the binding, by OS. */
const runtimeLibrary: Record<string, RegExp> = {
  linux: /^libonnxruntime\.so\.\d+$/,
  darwin: /^libonnxruntime\.[\d.]+\.dylib$/,
  win32: /^onnxruntime\.dll$/,
};

const vsixPath = (target: string) => path.join(vsixDir, `circuitscope-${target}.vsix`);

function open(target: string): { zip: Buffer; entries: ZipEntry[] } {
  const file = vsixPath(target);
  assert.ok(fs.existsSync(file), `${path.relative(repoRoot, file)} is missing: run \`npm run package:all\` first`);
  const zip = fs.readFileSync(file);
  return { zip, entries: zipEntries(zip) };
}

/** The `<os>/<cpu>` a native file was built for, read from its ELF, Mach-O or PE header. */
function builtFor(head: Buffer): string {
  if (head.length >= 20 && head.readUInt32BE(0) === 0x7f454c46) {
    const machine = head.readUInt16LE(18); // little-endian ELF (EI_DATA = 1 on both CPUs)
    return `linux/${machine === 0x3e ? 'x64' : machine === 0xb7 ? 'arm64' : `machine-0x${machine.toString(16)}`}`;
  }
  if (head.length >= 8 && head.readUInt32LE(0) === 0xfeedfacf) {
    const cpu = head.readUInt32LE(4);
    return `darwin/${cpu === 0x01000007 ? 'x64' : cpu === 0x0100000c ? 'arm64' : `cputype-0x${cpu.toString(16)}`}`;
  }
  if (head.length >= 0x40 && head.toString('latin1', 0, 2) === 'MZ') {
    const pe = head.readUInt32LE(0x3c);
    if (pe + 6 <= head.length && head.toString('latin1', pe, pe + 4) === 'PE\0\0') {
      const machine = head.readUInt16LE(pe + 4);
      return `win32/${machine === 0x8664 ? 'x64' : machine === 0xaa64 ? 'arm64' : `machine-0x${machine.toString(16)}`}`;
    }
  }
  return 'unknown format';
}

test('package:all wrote one VSIX per target and nothing else', () => {
  assert.ok(fs.existsSync(vsixDir), 'dist/vsix is missing: run `npm run package:all` first');
  const found = fs.readdirSync(vsixDir).sort();
  assert.deepEqual(found, Object.keys(targets).map((t) => `circuitscope-${t}.vsix`).sort());
});

for (const [target, folder] of Object.entries(targets)) {
  test(`${target}: exactly its platform's onnxruntime binaries, each built for ${folder}`, () => {
    const { zip, entries } = open(target);
    const platformDir = `${binPrefix}napi-v6/${folder}/`;
    const natives = entries.filter((e) => native.test(e.name));
    // Nothing native outside its platform's folder, and nothing else under bin/.
    assert.deepEqual(natives.filter((e) => !e.name.startsWith(platformDir)).map((e) => e.name), []);
    assert.deepEqual(entries.filter((e) => e.name.startsWith(binPrefix) && !native.test(e.name)).map((e) => e.name), []);
    // The files onnxruntime-node ships for the platform, less the CUDA/TensorRT providers its install script may add.
    const shipped = fs.readdirSync(path.join(repoRoot, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6', folder)).filter((f) => !/_providers_/.test(f));
    const names = natives.map((e) => e.name.slice(platformDir.length));
    assert.deepEqual([...names].sort(), [...shipped].sort());
    assert.ok(names.includes('onnxruntime_binding.node'), `${target} has no onnxruntime_binding.node`);
    const os = folder.split('/')[0];
    assert.ok(names.some((n) => runtimeLibrary[os].test(n)), `${target} has no runtime library matching ${runtimeLibrary[os]}: ${names.join(', ')}`);
    for (const e of natives) {
      const head = zipRead(zip, e, 4096);
      assert.equal(builtFor(head), folder, `${e.name} is built for ${builtFor(head)}`);
      assert.equal(zipRead(zip, e).length, e.size, `${e.name} does not inflate to its size`);
    }
  });

  test(`${target}: the manifest names the target; bundles, webview, notebook renderer and onnxruntime's JavaScript are there, source maps are not`, () => {
    const { zip, entries } = open(target);
    const byName = new Map(entries.map((e) => [e.name, e]));
    const manifest = zipRead(zip, byName.get('extension.vsixmanifest')!).toString('utf8');
    assert.match(manifest, new RegExp(`<Identity [^>]*TargetPlatform="${target}"`));
    const pkg = JSON.parse(zipRead(zip, byName.get('extension/package.json')!).toString('utf8')) as { name: string; main: string; contributes: { notebookRenderer: { entrypoint: string }[] } };
    assert.equal(pkg.name, 'circuitscope');
    // The notebook renderer's module, and the stylesheet it links from beside itself.
    const renderer = pkg.contributes.notebookRenderer[0].entrypoint.replace(/^\.\//, '');
    for (const f of [pkg.main.replace(/^\.\//, ''), 'dist/engine.js', 'dist/cli.js', 'dist/webview/circuit.js', 'dist/webview/circuit.css', renderer, renderer.replace(/\.js$/, '.css'),
      'node_modules/onnxruntime-node/dist/binding.js', 'node_modules/onnxruntime-common/dist/cjs/index.js']) {
      assert.ok(byName.has(`extension/${f}`), `${target} lacks ${f}`);
    }
    assert.deepEqual(entries.filter((e) => e.name.startsWith('extension/dist/') && e.name.endsWith('.map')).map((e) => e.name), []);
  });
}

test('the five VSIXs hold the same extension files byte for byte, apart from their binaries (one build)', () => {
  const contents = Object.keys(targets).map((target) => {
    const { entries } = open(target);
    return entries
      .filter((e) => e.name.startsWith('extension/') && !e.name.startsWith(binPrefix))
      .map((e) => `${e.name} ${e.size} ${e.crc32.toString(16)}`)
      .sort();
  });
  assert.ok(contents[0].length > 20, `only ${contents[0].length} files`);
  for (const c of contents.slice(1)) assert.deepEqual(c, contents[0]);
});
