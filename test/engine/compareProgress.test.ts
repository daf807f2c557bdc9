/**
 * Compare's progress, as the extension's notification shows it: every message names the side, its
 * checkpoint and the phase (the faithfulness curve included), and the fraction spans both sides
 * without running back. A second comparison says each side came from the cache.
 */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { compareCheckpoints } from '../../src/engine/analysis/evolve';
import { discoverDefaults } from '../../src/shared/methods';
import { makeRun, promptFile } from '../helpers/evolveRun';
import { tmpDir } from '../helpers/tinyModels';

test('compare progress names the side, the checkpoint and the phase, and spans both sides', async () => {
  const run = makeRun([10, 50]);
  const prompts = promptFile();
  const cacheDir = tmpDir('cs-compare-cache-');
  const [a, b] = ['checkpoint-10', 'checkpoint-50'].map((c) => path.join(run, c));
  const seen: { message: string; fraction: number }[] = [];
  const opts = {
    method: discoverDefaults.method,
    steps: 2,
    topN: 12,
    curve: true,
    promptsFile: prompts,
    cacheDir,
    onProgress: (done: number, total: number, message: string) => seen.push({ message, fraction: done / total }),
  };
  await compareCheckpoints(a, b, opts);
  assert.ok(seen.length > 4, `${seen.length} progress messages`);
  for (const s of seen) assert.match(s.message, /^(A \(checkpoint-10\)|B \(checkpoint-50\)): \S/, s.message);
  const phases = (side: string) => seen.filter((s) => s.message.startsWith(side)).map((s) => s.message.replace(/^[AB] \([^)]*\): /, ''));
  for (const side of ['A', 'B']) {
    const p = phases(side);
    assert.ok(p.some((m) => m.startsWith(`${discoverDefaults.method}: batch`)), `${side} names the attribution: ${p.join(' | ')}`);
    assert.ok(p.some((m) => /faithfulness curve/.test(m)), `${side} names the faithfulness curve: ${p.join(' | ')}`);
  }
  const firstB = seen.findIndex((s) => s.message.startsWith('B'));
  assert.ok(seen.slice(0, firstB).every((s) => s.fraction <= 0.5 + 1e-9), 'A fills the first half');
  assert.ok(seen.slice(firstB).every((s) => s.fraction >= 0.5 - 1e-9 && s.fraction <= 1 + 1e-9), 'B fills the second half');
  assert.ok(seen.slice(firstB).every((s) => !s.message.startsWith('A')), 'A does not report after B started');

  // Again: both sides come from the cache and say so.
  seen.length = 0;
  const r = await compareCheckpoints(a, b, opts);
  assert.ok(r.a.fromCache && r.b.fromCache);
  assert.deepEqual(
    seen.filter((s) => /from the cache/.test(s.message)).map((s) => s.message),
    ['A (checkpoint-10): circuit and head roles from the cache', 'B (checkpoint-50): circuit and head roles from the cache'],
  );
});
