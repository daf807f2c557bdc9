/**
 * The engine process spoken to as the host does: fork dist/engine.js, send typed requests.
 */
import * as assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';
import { createMessageConnection, IPCMessageReader, IPCMessageWriter, ResponseError } from 'vscode-jsonrpc/node';
import { describeModel, generate, userErrorCode } from '../../src/shared/engineProtocol';
import { repoRoot, stories260K, tmpDir } from '../helpers/tinyModels';

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
