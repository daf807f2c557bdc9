/**
 * The zone rules of ARCHITECTURE.md are enforced by ESLint: deliberate violations, linted as if they
 * were files of the zone, fail; the allowed direction passes.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../helpers/tinyModels';

/** Lints `code` as the file `file` of the repository; returns ESLint's exit code and output. */
function lint(file: string, code: string): { status: number | null; out: string } {
  const eslint = path.join(repoRoot, 'node_modules', 'eslint', 'bin', 'eslint.js');
  const r = spawnSync(process.execPath, [eslint, '--stdin', '--stdin-filename', file], { cwd: repoRoot, input: code, encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

test('engine code that imports the demo lab fails the lint; the lab importing the engine passes', () => {
  const bad = lint('src/engine/circuits/probe.ts', "import { train } from '../../lab/trainer/train';\nexport const x = train;\n");
  assert.equal(bad.status, 1, bad.out);
  assert.match(bad.out, /The engine never imports the demo lab/);
  const good = lint('src/lab/probe.ts', "import { Model } from '../engine/model/runner';\nexport const x = Model;\n");
  assert.equal(good.status, 0, good.out);
});

test('the other zone rules: vscode outside the host, onnxruntime outside session.ts, Node built-ins in shared', () => {
  for (const [file, code, message] of [
    ['src/engine/probe.ts', "import * as vscode from 'vscode';\nexport const x = vscode;\n", /no vscode/],
    ['src/lab/probe.ts', "import * as ort from 'onnxruntime-node';\nexport const x = ort;\n", /Only src\/engine\/runtime\/session.ts imports onnxruntime-node/],
    ['src/shared/probe.ts', "import * as fs from 'node:fs';\nexport const x = fs;\n", /no Node built-ins/],
    ['src/host/probe.ts', "import { Model } from '../engine/model/runner';\nexport const x = Model;\n", /The host imports only src\/host and src\/shared/],
  ] as const) {
    const r = lint(file, code);
    assert.equal(r.status, 1, `${file}: ${r.out}`);
    assert.match(r.out, message);
  }
});
