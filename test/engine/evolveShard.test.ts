/**
 * evolve across processes: N `evolve --shard i/N` processes run at once on one cache folder (one of
 * them twice, so that two processes write the same entries at the same time), then their transplant
 * stage, then `evolve --assemble`, which discovers nothing; its result equals a single-process run's.
 */
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { writeFileAtomic } from '../../src/engine/util/atomicWrite';
import { makeRun, promptFile } from '../helpers/evolveRun';
import { repoRoot, tmpDir } from '../helpers/tinyModels';

const cli = path.join(repoRoot, 'dist/cli.js');

/** Runs the CLI processes at once; resolves with each one's exit code and stderr. */
function all(argss: string[][]): Promise<{ code: number | null; stderr: string }[]> {
  return Promise.all(
    argss.map(
      (args) =>
        new Promise<{ code: number | null; stderr: string }>((resolve) => {
          const p = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
          let stderr = '';
          p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
          p.on('close', (code) => resolve({ code, stderr }));
        }),
    ),
  );
}

/** The result without what differs between a cold and an assembled run: times, cache hits, the cache folder. */
function comparable(r: { seconds?: number; cacheHits?: number; checkpoints: { fromCache?: boolean; circuitFile: string }[] }): unknown {
  return {
    ...r,
    seconds: undefined,
    cacheHits: undefined,
    checkpoints: r.checkpoints.map((c) => ({ ...c, fromCache: undefined, circuitFile: path.basename(c.circuitFile) })),
  };
}

test('evolve --shard i/N in N concurrent processes on one cache, then --assemble, equals a single-process evolve', async () => {
  const run = makeRun([10, 20, 30, 40, 50]);
  const prompts = promptFile();
  const common = ['--prompts', prompts, '--top-n', '12', '--threads', '1'];

  const single = path.join(tmpDir(), 'single.json');
  const s = spawnSync(process.execPath, [cli, 'evolve', run, ...common, '--out', single, '--cache', path.join(tmpDir(), 'cache-single')], { encoding: 'utf8' });
  assert.equal(s.status, 0, s.stderr);

  const cache = path.join(tmpDir(), 'shared-cache');
  const N = 3;
  const shard = (i: number, stage: string) => ['evolve', run, ...common, '--cache', cache, '--shard', `${i}/${N}`, '--stage', stage];
  // Shard 0 twice: two writers of the same entries at once must be harmless.
  const circuits = await all([...Array.from({ length: N }, (_, i) => shard(i, 'circuits')), shard(0, 'circuits')]);
  for (const [i, r] of circuits.entries()) assert.equal(r.code, 0, `circuit shard ${i}: ${r.stderr}`);
  const circuitFiles = fs.readdirSync(cache).filter((f) => f.endsWith('.circuit.json'));
  assert.equal(circuitFiles.length, 5, 'one circuit per checkpoint in the shared cache');
  assert.deepEqual(
    fs.readdirSync(cache).filter((f) => f.endsWith('.tmp')),
    [],
    'no temporary file is left behind',
  );

  // Assembling before the transplant stage computes the transplants itself; here the stage runs first.
  const transplants = await all(Array.from({ length: N }, (_, i) => shard(i, 'transplants')));
  for (const [i, r] of transplants.entries()) assert.equal(r.code, 0, `transplant shard ${i}: ${r.stderr}`);
  const report = path.join(tmpDir(), 'shard.json');
  const again = spawnSync(process.execPath, [cli, ...shard(1, 'transplants'), '--out', report], { encoding: 'utf8' });
  assert.equal(again.status, 0, again.stderr);
  const rep = JSON.parse(fs.readFileSync(report, 'utf8'));
  assert.equal(rep.shard, '1/3');
  assert.deepEqual(
    rep.checkpoints.map((c: { index: number; fromCache: boolean }) => [c.index, c.fromCache]),
    [
      [1, true],
      [4, true],
    ],
    'shard 1 of 3 holds checkpoints 1 and 4, already evaluated',
  );

  const assembled = path.join(tmpDir(), 'assembled.json');
  const a = spawnSync(process.execPath, [cli, 'evolve', run, ...common, '--cache', cache, '--assemble', '--out', assembled], { encoding: 'utf8' });
  assert.equal(a.status, 0, a.stderr);
  assert.doesNotMatch(a.stderr, /transplant evaluation/, 'assembling evaluates nothing: every transplant is cached');
  const ra = JSON.parse(fs.readFileSync(assembled, 'utf8'));
  const rs = JSON.parse(fs.readFileSync(single, 'utf8'));
  assert.equal(ra.cacheHits, 5);
  assert.deepEqual(comparable(ra), comparable(rs));
});

test('evolve --assemble names the checkpoint a shard has not computed; --shard is checked', () => {
  const run = makeRun([1, 2, 3]);
  const prompts = promptFile();
  const cache = path.join(tmpDir(), 'cache');
  const common = ['--prompts', prompts, '--top-n', '12', '--threads', '1', '--cache', cache];
  const s0 = spawnSync(process.execPath, [cli, 'evolve', run, ...common, '--shard', '0/2'], { encoding: 'utf8' });
  assert.equal(s0.status, 0, s0.stderr);
  assert.match(s0.stdout, /shard 0\/2 \(circuits\): 2 checkpoint\(s\), 2 computed/);
  const a = spawnSync(process.execPath, [cli, 'evolve', run, ...common, '--assemble', '--out', path.join(tmpDir(), 'x.json')], { encoding: 'utf8' });
  assert.equal(a.status, 1);
  assert.match(a.stderr, /checkpoint-2: its circuit is not in the cache .*evolve --shard i\/N/);
  for (const bad of ['2/2', '1', 'a/b', '0/0', '1/2/3']) {
    const r = spawnSync(process.execPath, [cli, 'evolve', run, ...common, '--shard', bad], { encoding: 'utf8' });
    assert.equal(r.status, 1, bad);
    assert.match(r.stderr, /--shard takes i\/N with 0 ≤ i < N/);
  }
});

test('a shared cache folder: a write removes dead temporary files of its own machine, never those of another', () => {
  const dir = tmpDir();
  const target = path.join(dir, 'k.circuit.json');
  const ours = crypto.createHash('sha256').update(os.hostname()).digest('hex').slice(0, 8);
  const theirs = ours === '00000000' ? '11111111' : '00000000';
  // Process id 2147483646 is not running here; on another machine it may well be, mid-write.
  const deadHere = path.join(dir, `.k.circuit.json.2147483646.abc.${ours}.tmp`);
  const otherMachine = path.join(dir, `.k.circuit.json.2147483646.abc.${theirs}.tmp`);
  fs.writeFileSync(deadHere, 'half');
  fs.writeFileSync(otherMachine, 'half');
  writeFileAtomic(target, 'new');
  assert.equal(fs.readFileSync(target, 'utf8'), 'new');
  assert.ok(!fs.existsSync(deadHere), "this machine's stale temporary file is still there");
  assert.ok(fs.existsSync(otherMachine), "another machine's temporary file was removed");
});
