/**
 * A circuit file whose trust checks warn (a disconnected piece, low faithfulness) gets Problems entries
 * at the line of its "trust" key when the workspace is scanned; a circuit without warnings gets none.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { scanWorkspace } from '../../src/engine/scan';
import { tmpDir } from '../helpers/tinyModels';

function circuitFile(dir: string, name: string, warnings: string[]): string {
  const file = path.join(dir, name);
  const provenance = {
    checkpoint: { path: '/ckpt', hash: 'h' },
    prompts: { path: '/p.jsonl', hash: 'p', count: 30 },
    method: 'eap-ig-inputs',
    faithfulness: 0.2,
    hit10: 0.5,
    edges: 10,
    createdAt: '2026-01-01T00:00:00Z',
    trust: { warnings },
  };
  fs.writeFileSync(file, JSON.stringify({ cfg: { n_layers: 1, n_heads: 1 }, nodes: {}, edges: {}, circuitscope: provenance }, null, 2));
  return file;
}

test("circuit trust warnings are Problems entries at the file's trust key", () => {
  const root = tmpDir();
  const results = path.join(root, '.circuitscope');
  fs.mkdirSync(results);
  const warned = circuitFile(results, 'a.json', ['faithfulness 0.200 is below 0.5: the circuit explains little of the behaviour', '2 circuit edges lie on no input → logits path']);
  circuitFile(results, 'b.json', []);
  const scan = scanWorkspace({ roots: [root], resultsDir: results });
  assert.equal(scan.results.length, 2);
  const found = scan.problems.filter((p) => p.code === 'circuit-trust');
  assert.equal(found.length, 2);
  const line = fs.readFileSync(warned, 'utf8').split('\n').findIndex((l) => l.includes('"trust"')) + 1;
  for (const p of found) assert.deepEqual([p.file, p.line, p.severity, p.item], [warned, line, 'warning', warned]);
  assert.match(found[0].message, /faithfulness 0\.200 is below/);
});
