// The platforms Circuitscope ships a VSIX for, and where `npm run package` / `package:all` write them.
// Each VSIX holds one platform's onnxruntime-node binaries; VS Code and Open VSX hand every user the
// VSIX of their platform (`vsce publish --target`, `ovsx publish --target`).
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** vsce's target name → onnxruntime-node's binary folder, `bin/napi-v6/<platform>/<arch>`. */
export const targets = {
  'linux-x64': 'linux/x64',
  'linux-arm64': 'linux/arm64',
  'darwin-x64': 'darwin/x64',
  'darwin-arm64': 'darwin/arm64',
  'win32-x64': 'win32/x64',
};

export const vsixDir = path.join(repoRoot, 'dist', 'vsix');

/** dist/vsix/circuitscope-<target>.vsix, absolute. */
export function vsixPath(target) {
  return path.join(vsixDir, `circuitscope-${target}.vsix`);
}

/** The target of this machine (what the UI tests install), or an error naming the supported ones. */
export function hostTarget() {
  const t = `${process.platform}-${process.arch}`;
  if (!(t in targets)) throw new Error(`no Circuitscope VSIX for ${t}; targets: ${Object.keys(targets).join(', ')}`);
  return t;
}
