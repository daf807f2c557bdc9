/**
 * The engine process's failure paths (#15), spoken to as the host does (fork dist/engine.js):
 * an internal error reaches the client as one line asking for a report, with the exception's text
 * only in the log notification; evolve runs as one request, and a cancelled evolve writes nothing;
 * a scan removes the temporary files killed writers left in the results folder and lists none.
 */
import * as assert from 'node:assert/strict';
import { fork, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as os from 'node:os';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { CancellationTokenSource, createMessageConnection, ErrorCodes, IPCMessageReader, IPCMessageWriter, ResponseError } from 'vscode-jsonrpc/node';
import * as protocol from '../../src/shared/engineProtocol';
import { removeStaleTempFilesIn } from '../../src/engine/util/atomicWrite';
import { gpt2TokenizerDir, gpt2Tiny, repoRoot, tmpDir, writeCheckpoint } from '../helpers/tinyModels';

function startEngine() {
  const child = fork(path.join(repoRoot, 'dist/engine.js'), [], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], serialization: 'advanced', env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' } });
  const conn = createMessageConnection(new IPCMessageReader(child), new IPCMessageWriter(child));
  const logs: { level: string; message: string }[] = [];
  conn.onNotification(protocol.didLog, (l) => logs.push(l));
  conn.listen();
  return { child, conn, logs };
}

/** This machine's tag in temporary file names (util/atomicWrite.ts). */
const hostTag = crypto.createHash('sha256').update(os.hostname()).digest('hex').slice(0, 8);

/** A pid that belonged to a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

test('an internal error of the engine: one line asking for a report; the details only in the log', async () => {
  const { child, conn, logs } = startEngine();
  try {
    // A folder that is not a string: a bug in the caller, not a user error.
    const err = await conn.sendRequest(protocol.describeModel, { dir: 42 as unknown as string }).then(
      () => assert.fail('the request succeeded'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ResponseError);
    assert.equal(err.code, ErrorCodes.InternalError);
    assert.equal(err.message, protocol.internalErrorMessage);
    assert.doesNotMatch(err.message, /\n|TypeError|argument|ERR_/);
    const log = logs.find((l) => l.level === 'error');
    assert.ok(log, 'the engine logged the error');
    assert.match(log.message, /^internal error: TypeError/);
    assert.match(log.message, /\n\s+at /, 'the log carries the stack');
    // The engine still answers.
    await assert.rejects(conn.sendRequest(protocol.describeModel, { dir: tmpDir() }), (e: unknown) => e instanceof ResponseError && e.code === protocol.userErrorCode);
  } finally {
    conn.dispose();
    child.kill();
  }
});

function evolveWorkspace(): { run: string; prompts: string; ws: string } {
  const ws = tmpDir('cs-evolve-ws-');
  const run = path.join(ws, 'runs', 'demo');
  for (const step of [5, 40]) writeCheckpoint(path.join(run, `checkpoint-${step}`), gpt2Tiny({ nLayer: 1, nHead: 2, nEmbd: 16, seed: step }), { tokenizerFrom: gpt2TokenizerDir });
  const names = ['Alice', 'Bob', 'Carol', 'David'];
  const cities = [' Paris', ' Rome', ' Oslo', ' Berlin'];
  const prompts = path.join(ws, 'city.jsonl');
  fs.writeFileSync(
    prompts,
    names.map((n, i) => JSON.stringify({ prompt: `The person ${n} lives in`, target: cities[i], corruptedPrompt: `The person ${names[(i + 1) % 4]} lives in`, corruptedTarget: cities[(i + 1) % 4], subject: n })).join('\n'),
  );
  return { run, prompts, ws };
}

test('evolve is one engine request; a cancelled evolve writes nothing and leaves the engine usable', async () => {
  const { child, conn } = startEngine();
  try {
    const { run, prompts, ws } = evolveWorkspace();
    const settings = { method: 'eap' as const, steps: 1, topN: 20, batchSize: 4 };
    const cacheDir = path.join(ws, '.circuitscope', 'cache');
    const cancelledOut = path.join(ws, '.circuitscope', 'cancelled.evolve.json');
    const cts = new CancellationTokenSource();
    const sub = conn.onNotification(protocol.didProgress, (p) => {
      if (p.token === 'c') cts.cancel();
    });
    await assert.rejects(conn.sendRequest(protocol.evolve, { token: 'c', runDir: run, promptsFile: prompts, out: cancelledOut, cacheDir, settings }, cts.token), (e: unknown) => e instanceof ResponseError && e.code === -32800);
    sub.dispose();
    assert.equal(fs.existsSync(cancelledOut), false, 'a cancelled evolve writes no result');

    const out = path.join(ws, '.circuitscope', 'demo.evolve.json');
    const progress: string[] = [];
    const sub2 = conn.onNotification(protocol.didProgress, (p) => p.token === 'e' && progress.push(p.message));
    const r = await conn.sendRequest(protocol.evolve, { token: 'e', runDir: run, promptsFile: prompts, out, cacheDir, settings });
    sub2.dispose();
    assert.equal(r.outFile, out);
    assert.equal(r.checkpoints, 2);
    assert.ok(progress.length > 0, 'evolve reports progress');
    const json = JSON.parse(fs.readFileSync(out, 'utf8'));
    assert.deepEqual(
      json.checkpoints.map((c: { step: number }) => c.step),
      [5, 40],
    );
    // A second run reads both circuits from the cache.
    const again = await conn.sendRequest(protocol.evolve, { token: 'e2', runDir: run, promptsFile: prompts, out, cacheDir, settings });
    assert.equal(again.cacheHits, 2);
  } finally {
    conn.dispose();
    child.kill();
  }
});

test('a scan removes killed writers’ temporary files from the results folder and lists none of them', async () => {
  const { child, conn } = startEngine();
  try {
    const ws = tmpDir('cs-stale-ws-');
    const results = path.join(ws, '.circuitscope');
    const cache = path.join(results, 'cache');
    fs.mkdirSync(cache, { recursive: true });
    const dead = deadPid();
    const stale = [
      path.join(results, `.a--b.circuit.json.${dead}.lx2k1.${hostTag}.tmp`),
      path.join(results, `.old.circuit.json.${dead}.lx2k1.tmp`),
      path.join(cache, `.0123abcd.circuit.json.${dead}.lx2k2.tmp`),
    ];
    // A writer that is still running (this test process) keeps its file; so does anything else.
    const live = path.join(results, `.c--d.circuit.json.${process.pid}.lx2k3.tmp`);
    const other = path.join(results, 'notes.tmp');
    for (const f of [...stale, live, other]) fs.writeFileSync(f, '{"circuitscope":');
    const scan = await conn.sendRequest(protocol.scanWorkspace, { roots: [ws], resultsDir: results });
    for (const f of stale) assert.equal(fs.existsSync(f), false, `${path.basename(f)} was removed`);
    assert.ok(fs.existsSync(live), 'a running writer’s file stays');
    assert.ok(fs.existsSync(other), 'a file of another name stays');
    assert.deepEqual(scan.results, []);
  } finally {
    conn.dispose();
    child.kill();
  }
});

test('removeStaleTempFilesIn: only temporary-file names of dead writers on this machine', () => {
  const dir = tmpDir('cs-stale-');
  const dead = deadPid();
  const names = {
    stale: `.x.json.${dead}.abc.tmp`,
    otherHost: `.x.json.${dead}.abc.${hostTag === 'ffffffff' ? 'eeeeeeee' : 'ffffffff'}.tmp`,
    sameHost: `.y.json.${dead}.abc.${hostTag}.tmp`,
    live: `.x.json.${process.pid}.abc.tmp`,
    notOurs: `x.json.${dead}.abc.tmp`,
    result: 'x.json',
  };
  for (const n of Object.values(names)) fs.writeFileSync(path.join(dir, n), '');
  assert.equal(removeStaleTempFilesIn(dir), 2);
  assert.deepEqual(fs.readdirSync(dir).sort(), [names.otherHost, names.live, names.notOurs, names.result].sort());
  assert.equal(removeStaleTempFilesIn(path.join(dir, 'missing')), 0);
});
