/**
 * The engine process spoken to as the host does: fork dist/engine.js, send typed requests.
 */
import * as assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';
import * as fs from 'node:fs';
import { CancellationTokenSource, createMessageConnection, IPCMessageReader, IPCMessageWriter, ResponseError } from 'vscode-jsonrpc/node';
import { CircuitGraph } from '../../src/shared/circuit';
import * as protocol from '../../src/shared/engineProtocol';
import { describeModel, generate, userErrorCode } from '../../src/shared/engineProtocol';
import { gpt2TokenizerDir, gpt2Tiny, repoRoot, stories260K, tmpDir, writeCheckpoint } from '../helpers/tinyModels';

function startEngine() {
  const child = fork(path.join(repoRoot, 'dist/engine.js'), [], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], serialization: 'advanced' });
  const conn = createMessageConnection(new IPCMessageReader(child), new IPCMessageWriter(child));
  conn.listen();
  return { child, conn };
}

test('engine process: describe, generate, and a user error with its own code', async () => {
  const { child, conn } = startEngine();
  try {
    const summary = await conn.sendRequest(describeModel, { dir: stories260K });
    assert.equal(summary.architecture, 'LlamaForCausalLM');
    assert.equal(summary.nKvHeads, 4);
    assert.equal(summary.parameters, 260032 - 64 * 5 * 2 - 64); // Norm weights are not counted.
    const g = await conn.sendRequest(generate, { dir: stories260K, prompt: 'Once upon a time', maxNewTokens: 8 });
    assert.equal(g.tokens.length, 8);
    assert.match(g.text, /^, there was a little girl/);
    await assert.rejects(
      () => conn.sendRequest(describeModel, { dir: tmpDir() }),
      (e: unknown) => e instanceof ResponseError && e.code === userErrorCode && /has no config\.json/.test(e.message),
    );
  } finally {
    conn.dispose();
    child.kill();
  }
});

test('engine process exits when its parent closes the IPC channel', async () => {
  const { child, conn } = startEngine();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  conn.dispose();
  child.disconnect();
  assert.equal(await exited, 0);
});

test('engine process: scan a workspace, discover with progress, cancel, view data, compare', async () => {
  const { child, conn } = startEngine();
  try {
    const ws = tmpDir('cs-ws-');
    const run = path.join(ws, 'runs', 'demo');
    for (const step of [5, 40]) {
      writeCheckpoint(path.join(run, `checkpoint-${step}`), gpt2Tiny({ nLayer: 2, nHead: 2, nEmbd: 16, seed: step }), { tokenizerFrom: gpt2TokenizerDir });
    }
    const prompts = path.join(ws, 'prompts', 'city.jsonl');
    fs.mkdirSync(path.dirname(prompts), { recursive: true });
    const names = ['Alice', 'Bob', 'Carol', 'David'];
    // Each name has its own city, so the corrupted runs (another name) change the answer.
    const cities = [' Paris', ' Rome', ' Oslo', ' Berlin'];
    fs.writeFileSync(
      prompts,
      names
        .map((n, i) =>
          JSON.stringify({ prompt: `The person ${n} lives in`, target: cities[i], corruptedPrompt: `The person ${names[(i + 1) % 4]} lives in`, corruptedTarget: cities[(i + 1) % 4], subject: n }),
        )
        .join('\n'),
    );
    fs.mkdirSync(path.join(ws, 'node_modules', 'x'), { recursive: true });
    fs.writeFileSync(path.join(ws, 'node_modules', 'x', 'p.jsonl'), fs.readFileSync(prompts));

    const scan = await conn.sendRequest(protocol.scanWorkspace, { roots: [ws] });
    assert.equal(scan.runs.length, 1);
    assert.deepEqual(
      scan.runs[0].checkpoints.map((c) => c.step),
      [5, 40],
    );
    assert.equal(scan.runs[0].checkpoints[0].summary?.architecture, 'GPT2LMHeadModel');
    assert.deepEqual(
      scan.promptSets.map((p) => path.relative(ws, p.file)),
      [path.join('prompts', 'city.jsonl')],
      'prompt sets are found, but not inside node_modules',
    );
    assert.equal(scan.promptSets[0].prompts.length, 4);

    const seen: string[] = [];
    const costs: (protocol.CostEstimate | undefined)[] = [];
    conn.onNotification(protocol.didProgress, (p) => {
      seen.push(`${p.token}:${p.message}`);
      if (p.token === 't1') costs.push(p.cost);
    });
    const out = path.join(ws, 'circuit.json');
    const ckpt = path.join(run, 'checkpoint-40');
    const est = await conn.sendRequest(protocol.estimateCost, { dir: ckpt, promptsFile: prompts, settings: {} });
    assert.equal(est.edges, new CircuitGraph({ nLayers: 2, nHeads: 2, parallelAttnMlp: false }).edges.length);
    assert.equal(est.prompts, 4);
    const r = await conn.sendRequest(protocol.discover, { token: 't1', dir: ckpt, promptsFile: prompts, out, settings: { topN: 10 } });
    assert.equal(r.circuitFile, out);
    assert.ok(fs.existsSync(out));
    assert.ok(seen.some((s) => s.startsWith('t1:')), 'progress notifications carry the request token');
    assert.deepEqual(costs[0], est, 'the first progress notification carries the cost estimate');
    assert.equal(r.view.scores.length, est.edges, 'the response carries the view data');
    assert.equal(r.view.topN, 10);

    // Cancelling an exact run (many passes) stops it and writes nothing. The cancel is sent on the run's
    // first progress notification, so it always lands mid-run, however fast the machine is.
    const big = writeCheckpoint(path.join(ws, 'big'), gpt2Tiny({ nLayer: 4, nHead: 4, nEmbd: 32, seed: 9 }), { tokenizerFrom: gpt2TokenizerDir });
    const cts = new CancellationTokenSource();
    const out2 = path.join(ws, 'never.json');
    const sub = conn.onNotification(protocol.didProgress, (p) => {
      if (p.token === 't2' && /exact/.test(p.message)) cts.cancel();
    });
    const pending = conn.sendRequest(protocol.discover, { token: 't2', dir: big, promptsFile: prompts, out: out2, settings: { method: 'exact', batchSize: 1 } }, cts.token);
    await assert.rejects(pending, (e: unknown) => e instanceof ResponseError && e.code === -32800);
    sub.dispose();
    assert.equal(fs.existsSync(out2), false);

    const view = await conn.sendRequest(protocol.circuitViewData, { circuitFile: out, dir: ckpt, promptsFile: prompts, settings: {} });
    assert.equal(view.scores.length, new CircuitGraph(view.cfg).edges.length);
    assert.equal(view.topN, 10);
    assert.ok(view.curve.length > 3);
    assert.ok(Object.values(view.heads).every((h) => ['mover', 'relation', 'mixture'].includes(h.role!)));

    const cmp = await conn.sendRequest(protocol.compare, {
      token: 't3',
      dirA: path.join(run, 'checkpoint-5'),
      dirB: ckpt,
      promptsFile: prompts,
      cacheDir: path.join(ws, '.cache'),
      settings: { topN: 10 },
    });
    assert.equal(cmp.drift.edgeActivationA.length, 2);
    assert.ok(cmp.drift.edgeJaccard >= 0 && cmp.drift.edgeJaccard <= 1);
    assert.equal(cmp.a.scores.length, cmp.b.scores.length);
  } finally {
    conn.dispose();
    child.kill();
  }
});
