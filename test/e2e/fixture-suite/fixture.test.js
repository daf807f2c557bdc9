// Runs inside the real extension host of code-server, against the real `vscode` API.
'use strict';
const assert = require('node:assert/strict');
const vscode = require('vscode');

const extensionId = 'circuitscope-fixture.circuits-fixture';

describe('fixture extension in the real extension host', () => {
  it('is found and activates', async () => {
    const extension = vscode.extensions.getExtension(extensionId);
    assert.ok(extension, `${extensionId} is not loaded`);
    const api = await extension.activate();
    assert.equal(extension.isActive, true);
    assert.equal(api.greeting, 'Hello from the Circuits fixture');
  });

  it('registers circuitsFixture.hello', async () => {
    const commands = await vscode.commands.getCommands(true);
    assert.ok(commands.includes('circuitsFixture.hello'), 'circuitsFixture.hello is not registered');
  });

  it('runs circuitsFixture.hello', async () => {
    const result = await vscode.commands.executeCommand('circuitsFixture.hello');
    assert.equal(result, 'Hello from the Circuits fixture');
  });

  it('opens the workspace folder given on the command line', () => {
    const folders = vscode.workspace.workspaceFolders ?? [];
    assert.equal(folders.length, 1);
    assert.equal(folders[0].name, 'fixture-workspace');
    // The extension host runs on the server, so it sees the folder as a plain file URI.
    assert.equal(folders[0].uri.scheme, 'file');
  });

  it('runs in a web workbench with a remote extension host', () => {
    // These values are where code-server differs from desktop VS Code; see README.md.
    assert.equal(vscode.env.uiKind, vscode.UIKind.Web);
    assert.match(vscode.env.remoteName ?? '', /^127\.0\.0\.1:\d+$/);
    assert.equal(vscode.extensions.getExtension(extensionId).extensionKind, vscode.ExtensionKind.Workspace);
  });

  it('inherits the environment the harness sets', () => {
    assert.ok(process.env.CIRCUITSCOPE_E2E_NODE_MODULES, 'CIRCUITSCOPE_E2E_NODE_MODULES did not reach the extension host');
    assert.equal(process.env.ORT_DISABLE_TELEMETRY, '1');
  });
});
