/**
 * The extension in a real VS Code (code-server): activation, contributed commands, the engine child
 * process answering real requests, and recovery after the engine is killed mid-request.
 */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { CircuitscopeApi } from '../../src/host/extension';
import type { ModelSummary } from '../../src/shared/engineProtocol';

const extensionId = 'circuitscope.circuitscope';

async function api(): Promise<CircuitscopeApi> {
  const ext = vscode.extensions.getExtension<CircuitscopeApi>(extensionId);
  assert.ok(ext, `extension ${extensionId} is not installed in this VS Code`);
  return ext.activate();
}

function stories260K(): string {
  const ext = vscode.extensions.getExtension(extensionId)!;
  return path.resolve(ext.extensionPath, '../shared/models/stories260K');
}

describe('Circuitscope extension', () => {
  it('activates and contributes its commands', async () => {
    const a = await api();
    assert.ok(a.engine, 'the API exposes the engine client');
    const commands = await vscode.commands.getCommands(true);
    for (const c of ['circuits.describeCheckpoint', 'circuits.showLog']) assert.ok(commands.includes(c), `${c} is registered`);
  });

  it('describes a checkpoint through the engine process', async () => {
    const summary = (await vscode.commands.executeCommand('circuits.describeCheckpoint', vscode.Uri.file(stories260K()))) as ModelSummary;
    assert.equal(summary.architecture, 'LlamaForCausalLM');
    assert.equal(summary.nLayers, 5);
    assert.equal(summary.nHeads, 8);
    const a = await api();
    assert.ok(a.engine.pid && a.engine.pid !== process.pid, 'the engine runs in its own process');
  });

  it('reports a killed engine as an error and starts a new one on the next request', async () => {
    const a = await api();
    const { generate } = a.protocol;
    // Make sure the engine is up, then kill it while it generates.
    await a.engine.request(generate, { dir: stories260K(), prompt: 'Once', maxNewTokens: 1 });
    const pid = a.engine.pid!;
    const pending = a.engine.request(generate, { dir: stories260K(), prompt: 'Once upon a time', maxNewTokens: 400 });
    setTimeout(() => process.kill(pid, 'SIGKILL'), 50);
    await assert.rejects(pending, (e: Error) => {
      assert.match(e.message, /the engine process stopped while working/);
      return true;
    });
    const again = await a.engine.request(generate, { dir: stories260K(), prompt: 'Once upon a time', maxNewTokens: 4 });
    assert.equal(again.tokens.length, 4);
    assert.notEqual(a.engine.pid, pid, 'a new engine process answered');
  });
});
