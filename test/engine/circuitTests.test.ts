/**
 * Circuit regression tests through the CLI (`circuitscope test`): exit code 0 when every test passes,
 * 1 when one fails, results per checkpoint of a run, the cache reused by a second run, and a bad test
 * file refused with every problem at its place.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { parseCircuitTestFile, pickCheckpoints } from '../../src/shared/circuitTests';
import { runCliSync } from '../helpers/cliRun';
import { makeRun, promptFile } from '../helpers/evolveRun';
import { tmpDir } from '../helpers/tinyModels';

function workspace(tests: unknown[]): { dir: string; file: string } {
  const dir = tmpDir('cs-ctest-');
  const run = makeRun([10, 20, 30]);
  const prompts = promptFile();
  const file = path.join(dir, 'city.circuit-test.json');
  fs.writeFileSync(file, JSON.stringify({ checkpoints: path.relative(dir, run), prompts: path.relative(dir, prompts), discover: { method: 'eap', topN: 30 }, tests }, null, 1));
  return { dir, file };
}

test('circuitscope test: exit 0 when every test passes, 1 when one fails, results per checkpoint, cache reused', () => {
  const passing = [
    { name: 'logits in circuit', node: 'logits' },
    { name: 'recall is a number', hit10: { min: 0 } },
    { name: 'last checkpoint faithfulness is finite', faithfulness: { min: -1e9 }, checkpoints: 'last' },
  ];
  const { dir, file } = workspace(passing);
  const ok = runCliSync(['test', '--json'], { cwd: dir, timeoutMs: 120_000 });
  assert.equal(ok.status, 0, ok.stderr + ok.stdout);
  const [r] = JSON.parse(ok.stdout);
  assert.equal(r.checkpoints.length, 3);
  assert.equal(r.passed, 3);
  assert.deepEqual(
    r.tests[0].checkpoints.map((c: { step: number; status: string }) => [c.step, c.status]),
    [
      [10, 'passed'],
      [20, 'passed'],
      [30, 'passed'],
    ],
  );
  assert.equal(r.tests[2].checkpoints.length, 1, '"last" runs on the last checkpoint alone');

  // A failing test: the exit code is 1 and the text names the checkpoints and the figure.
  const spec = JSON.parse(fs.readFileSync(file, 'utf8'));
  spec.tests.push({ name: 'impossible faithfulness', faithfulness: { min: 1000, edges: 5 } });
  fs.writeFileSync(file, JSON.stringify(spec));
  const bad = runCliSync(['test', file], { timeoutMs: 120_000 });
  assert.equal(bad.status, 1, bad.stderr + bad.stdout);
  assert.match(bad.stdout, /FAIL impossible faithfulness \(0\/3 checkpoints\)/);
  assert.match(bad.stdout, /checkpoint-20: faithfulness .* at top 5 edges; expected ≥ 1000/);
  assert.match(bad.stdout, /PASS logits in circuit \(3\/3 checkpoints\)/);
  assert.match(bad.stdout, /3 from the cache/, 'the second run reads the circuits from the cache');
  assert.match(bad.stdout, /4 tests, 3 passed, 1 failed/);

  // --test picks tests by name: the passing one alone exits 0.
  const one = runCliSync(['test', file, '--test', 'logits in circuit'], { timeoutMs: 120_000 });
  assert.equal(one.status, 0, one.stderr + one.stdout);
});

test('circuitscope test: a bad test file is refused with every problem at its place, exit 1', () => {
  const { file } = workspace([{ edge: 'a0.h0->nowhere' }, { head: 'm1', role: 'mover' }, { node: 'm0', hit10: { min: 1 } }]);
  const r = runCliSync(['test', file]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /tests\[0\]\.edge: "edge" must be an edge name/);
  assert.match(r.stderr, /tests\[1\]\.head: "head" must be a head name/);
  assert.match(r.stderr, /tests\[2\]: a test has exactly one check/);
  assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  const none = runCliSync(['test', tmpDir()]);
  assert.equal(none.status, 1);
  assert.match(none.stderr, /no \*\.circuit-test\.json file/);
});

test('test file format: defaults, names, checkpoint filters', () => {
  const r = parseCircuitTestFile({ checkpoints: 'run', prompts: 'p.jsonl', tests: [{ edge: 'a3.h4->logits' }, { head: 'a2.h1', role: 'mover', checkpoints: [100, 300] }] });
  assert.ok('file' in r);
  assert.equal(r.file.tests[0].name, 'edge a3.h4->logits is in the circuit');
  assert.equal(r.file.tests[1].name, 'head a2.h1 is a mover head');
  assert.deepEqual(pickCheckpoints(r.file.tests[1].checkpoints, [100, 200, 300]), [0, 2]);
  assert.deepEqual(pickCheckpoints('last', [1, 2, 3]), [2]);
  const dup = parseCircuitTestFile({ checkpoints: 'run', prompts: 'p', tests: [{ name: 'x', node: 'm0' }, { name: 'x', node: 'm1' }], extra: 1 });
  assert.ok('problems' in dup);
  assert.deepEqual(
    dup.problems.map((p) => p.at),
    ['tests[1].name', 'extra'],
  );
});
