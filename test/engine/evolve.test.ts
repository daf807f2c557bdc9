/**
 * Evolution over a run folder and the comparison of two checkpoints, through the CLI: every statistic
 * is present, a second run reuses the cached per-checkpoint results, and compare reuses them too.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { makeRun, promptFile } from '../helpers/evolveRun';
import { repoRoot, tmpDir } from '../helpers/tinyModels';

const cli = path.join(repoRoot, 'dist/cli.js');

test('evolve over 5 checkpoints holds every statistic and reuses its cache; compare reuses it too', () => {
  const steps = [10, 20, 30, 40, 50];
  const run = makeRun(steps);
  const prompts = promptFile();
  const out = path.join(tmpDir(), 'evolve.json');
  const args = [cli, 'evolve', run, '--prompts', prompts, '--out', out, '--top-n', '12'];
  const t1 = Date.now();
  const first = spawnSync(process.execPath, args, { encoding: 'utf8' });
  const cold = Date.now() - t1;
  assert.equal(first.status, 0, first.stderr);
  const r1 = JSON.parse(fs.readFileSync(out, 'utf8'));
  assert.equal(r1.cacheHits, 0);
  assert.deepEqual(
    r1.checkpoints.map((c: { step: number }) => c.step),
    steps,
  );
  for (const c of r1.checkpoints) {
    for (const k of ['faithfulness', 'hit10', 'edgeEntropy', 'edges', 'nodes']) assert.equal(typeof c[k], 'number', `${k} of checkpoint-${c.step}`);
    assert.equal(c.edgeActivationByLayer.length, 2);
    assert.deepEqual(Object.keys(c.headProportions).sort(), ['mixture', 'mover', 'relation']);
    assert.equal(c.headRolesByLayer.mover.length, 2);
    assert.equal(c.analysis.lens.meanRank.length, 3, 'logit lens: before each layer and final');
    assert.deepEqual(Object.keys(c.analysis.hit10ByGroup).sort(), ['new/high', 'new/low', 'revised/high', 'revised/low']);
  }
  assert.equal(r1.jaccardToFinal.edge.length, 5);
  assert.equal(r1.jaccardToFinal.edge[4], 1);
  assert.ok(r1.jaccardToFinal.edge[3] >= r1.jaccardToFinal.edge[0], 'circuits of a run converging on its last model grow closer to the last circuit');
  assert.ok(r1.transplant.sources.includes(0) && r1.transplant.sources.includes(4));
  assert.equal(r1.transplant.hit10.length, r1.transplant.sources.length);
  assert.equal(r1.transplant.hit10[0].length, 5);
  // A circuit evaluated on its own checkpoint gives that checkpoint's own figures.
  const lastRow = r1.transplant.sources.indexOf(4);
  assert.ok(Math.abs(r1.transplant.faithfulness[lastRow][4] - r1.checkpoints[4].faithfulness) < 1e-4);
  assert.equal(r1.hit10ByGroup['new/high'].length, 5);
  assert.ok('phaseShift' in r1 || /phase shift: none detected/.test(first.stdout), 'the phase shift is reported either way');

  const t2 = Date.now();
  const second = spawnSync(process.execPath, args, { encoding: 'utf8' });
  const warm = Date.now() - t2;
  assert.equal(second.status, 0, second.stderr);
  const r2 = JSON.parse(fs.readFileSync(out, 'utf8'));
  assert.equal(r2.cacheHits, 5);
  assert.deepEqual(r2.jaccardToFinal, r1.jaccardToFinal);
  // Reuse is checked by the cache hits above; the times are printed, not asserted (a shared machine is noisy).
  console.log(`evolve: cold ${cold} ms, cached ${warm} ms, speed-up ${(cold / warm).toFixed(2)}x`);

  const cmpOut = path.join(tmpDir(), 'compare.json');
  const c = spawnSync(
    process.execPath,
    [cli, 'compare', path.join(run, 'checkpoint-10'), path.join(run, 'checkpoint-50'), '--prompts', prompts, '--out', cmpOut, '--top-n', '12', '--cache', path.join(run, '.circuitscope-cache')],
    { encoding: 'utf8' },
  );
  assert.equal(c.status, 0, c.stderr);
  const cmp = JSON.parse(fs.readFileSync(cmpOut, 'utf8'));
  assert.equal(cmp.a.fromCache, true);
  assert.equal(cmp.b.fromCache, true);
  assert.ok(Math.abs(cmp.comparison.edgeJaccard - r1.jaccardToFinal.edge[0]) < 1e-12, 'compare and evolve agree on the Jaccard of the first and last circuits');
  assert.equal(cmp.comparison.addedCount, cmp.comparison.added.length);
  assert.ok(Math.abs(cmp.comparison.faithfulnessDelta - (cmp.b.faithfulness - cmp.a.faithfulness)) < 1e-12);
  assert.equal(cmp.comparison.layers.edgeActivationA.length, 2);
});

test('evolve --per-group discovers one circuit per prompt group at every checkpoint', () => {
  const run = makeRun([1, 2, 3]);
  const prompts = promptFile();
  const out = path.join(tmpDir(), 'groups.json');
  const r = spawnSync(process.execPath, [cli, 'evolve', run, '--prompts', prompts, '--out', out, '--top-n', '12', '--per-group', '--transplant', '0,2'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const json = JSON.parse(fs.readFileSync(out, 'utf8'));
  assert.deepEqual(Object.keys(json.groups).sort(), ['new/high', 'new/low', 'revised/high', 'revised/low']);
  for (const [g, e] of Object.entries(json.groups) as [string, { prompts: { count: number }; checkpoints: unknown[]; hit10ByGroup: Record<string, number[]> }][]) {
    assert.equal(e.prompts.count, 2, `${g}: two prompts per group in the file`);
    assert.equal(e.checkpoints.length, 3);
    assert.deepEqual(Object.keys(e.hit10ByGroup), [g], 'each evolution only sees its own group');
  }
  const bad = spawnSync(process.execPath, [cli, 'evolve', run, '--prompts', prompts, '--out', out, '--group', 'old/none'], { encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /no prompt is in group 'old\/none'; the groups are revised\/high, new\/high, revised\/low, new\/low/);
});
