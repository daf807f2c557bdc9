/**
 * The demo run as the extension launches it (src/host/demoProcess.ts): the real `circuitscope demo`
 * started into a temporary folder reports its progress and stops when asked, writing no report; a
 * child that ignores the request is killed after the grace period; the CLI's progress lines parse.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { parseProgressLine, startDemo, type DemoProgress } from '../../src/host/demoProcess';
import { repoRoot, tmpDir } from '../helpers/tinyModels';

const cli = path.join(repoRoot, 'dist/cli.js');

/** Whether a process with this id still exists (a zombie of ours is reaped by the time 'close' fires). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test("the CLI's progress lines parse into a message and the phase's share", () => {
  assert.deepEqual(parseProgressLine('gpt2-synthetic: training epoch 2/24, step 207/3768, loss 2.730 5% (7.3 s)'), { message: 'gpt2-synthetic: training epoch 2/24, step 207/3768, loss 2.730', fraction: 0.05 });
  assert.deepEqual(parseProgressLine('gpt2-synthetic: writing the dataset (0.0 s)'), { message: 'gpt2-synthetic: writing the dataset' });
  assert.equal(parseProgressLine('stopping after the current step (Ctrl-C again to quit at once)…'), undefined);
  assert.equal(parseProgressLine('error: --threads must be an integer'), undefined);
});

test('the real demo, started as the extension starts it, reports progress and stops when asked, writing no report', async () => {
  const out = path.join(tmpDir('cs-demo-run-'), 'demo-output');
  const progress: DemoProgress[] = [];
  let first!: () => void;
  const firstProgress = new Promise<void>((resolve) => (first = resolve));
  const child = startDemo({ cli, outDir: out, threads: 1, onProgress: (p) => (progress.push(p), first()) });
  assert.ok(child.pid && alive(child.pid), 'the demo runs in its own process');
  await Promise.race([firstProgress, child.exited.then((e) => assert.fail(`the demo ended before any progress: ${JSON.stringify(e)}`))]);
  assert.match(progress[0].message, /^gpt2-synthetic: /);
  const exit = await child.stop();
  assert.equal(exit.stopped, true);
  // SIGINT: the demo stops after its current step and exits 130; a step that outlasts the grace is killed.
  assert.ok(exit.code === 130 || exit.signal === 'SIGKILL', JSON.stringify(exit));
  if (exit.code === 130) assert.ok(exit.errors.some((l) => /^cancelled; the report was not written/.test(l)), exit.errors.join('\n'));
  assert.equal(alive(child.pid!), false, 'the process is gone');
  assert.equal(fs.existsSync(path.join(out, 'work', 'demo-report.json')), false, 'no finished-run marker');
  assert.equal(fs.existsSync(path.join(out, 'report.md')), false, 'no report');
});

test('a child that ignores the stop request is killed after the grace period; a failing one gives its error line', async () => {
  const dir = tmpDir('cs-demo-fake-');
  // Stand-ins for the CLI: one that ignores SIGINT, one that fails as the CLI does on a user error.
  const stubborn = path.join(dir, 'stubborn.js');
  fs.writeFileSync(stubborn, "process.on('SIGINT', () => {});\nprocess.stderr.write('phase one 50% (0.1 s)\\n');\nsetInterval(() => {}, 1000);\n");
  const failing = path.join(dir, 'failing.js');
  fs.writeFileSync(failing, "process.stderr.write('phase one (0.0 s)\\nerror: the work folder is not writable\\n');\nprocess.exit(1);\n");

  let ready!: () => void;
  const running = new Promise<void>((resolve) => (ready = resolve));
  const child = startDemo({ cli: stubborn, outDir: path.join(dir, 'out'), onProgress: () => ready() });
  await running;
  const t = Date.now();
  const exit = await child.stop(300);
  assert.equal(exit.signal, 'SIGKILL');
  assert.ok(Date.now() - t >= 250, 'it was asked first');
  assert.equal(alive(child.pid!), false);

  const failed = await startDemo({ cli: failing, outDir: path.join(dir, 'out') }).exited;
  assert.deepEqual([failed.code, failed.stopped, failed.errors], [1, false, ['error: the work folder is not writable']]);
});
