/**
 * Problems in a real VS Code (#14): a prompt file with a bad line and a checkpoint folder with pickled
 * weights appear in the Problems panel at their file and line, stay in the tree marked unusable, the
 * pickled one offers its conversion as a quick fix, and Discover on it refuses before asking for a
 * prompt set. The suite adds its files to the shared workspace and removes them at the end.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { TreeNode } from '../../src/host/checkpointsTree';
import type { CircuitscopeApi } from '../../src/host/extension';

const extensionId = 'circuitscope.circuitscope';

async function api(): Promise<CircuitscopeApi> {
  const ext = vscode.extensions.getExtension<CircuitscopeApi>(extensionId);
  assert.ok(ext, `extension ${extensionId} is not installed in this VS Code`);
  return ext.activate();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `get` returns something truthy (the diagnostics are set after the scan's reply). */
async function until<T>(what: string, get: () => T | undefined, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe('Problems of prompt files and checkpoints', () => {
  const ws = () => vscode.workspace.workspaceFolders![0].uri.fsPath;
  const folder = () => path.join(ws(), 'problems-suite');
  const promptFile = () => path.join(folder(), 'broken-prompts.jsonl');
  const pickled = () => path.join(folder(), 'pickled-model');

  it('writes a broken prompt file and a pickled checkpoint into the workspace', async () => {
    fs.mkdirSync(folder(), { recursive: true });
    const good = (i: number) => JSON.stringify({ prompt: `The person P${i} lives in`, target: ' Paris', corruptedPrompt: `The person Q${i} lives in`, corruptedTarget: ' Rome' });
    fs.writeFileSync(promptFile(), [good(0), good(1), '{"prompt": "The person X lives in", "target": " Paris"}', good(2)].join('\n') + '\n');
    // A model folder whose weights are pickled: its config.json and tokenizer are those of a real checkpoint.
    const base = path.join(ws(), 'models', 'base');
    fs.mkdirSync(pickled(), { recursive: true });
    for (const f of fs.readdirSync(base)) if (f !== 'model.safetensors') fs.copyFileSync(path.join(base, f), path.join(pickled(), f));
    fs.writeFileSync(path.join(pickled(), 'pytorch_model.bin'), Buffer.alloc(64));
    await (await api()).refresh();
  });

  it('puts a bad prompt line in the Problems panel at its line', async () => {
    const uri = vscode.Uri.file(promptFile());
    const diags = await until('the prompt file diagnostics', () => {
      const d = vscode.languages.getDiagnostics(uri);
      return d.length ? d : undefined;
    });
    assert.equal(diags.length, 1, diags.map((d) => d.message).join('; '));
    assert.equal(diags[0].range.start.line, 2, 'line 3 (0-based 2)');
    assert.equal(diags[0].severity, vscode.DiagnosticSeverity.Error);
    assert.equal(diags[0].source, 'Circuitscope');
    assert.match(diags[0].message, /missing field 'corruptedPrompt'/);
  });

  it('keeps the broken prompt file in the tree, marked, opening at its problem', async () => {
    const a = await api();
    const [, prompts] = a.tree.getChildren();
    const node = a.tree.getChildren(prompts).find((n) => n.kind === 'promptSet' && n.entry.file === promptFile());
    assert.ok(node, 'the broken file is listed');
    const item = a.tree.getTreeItem(node);
    assert.equal(item.contextValue, 'promptSet-unusable');
    assert.match(String(item.description), /unusable: line 3/);
    assert.match(String(item.tooltip), /broken-prompts\.jsonl:3: missing field/);
    assert.equal(item.command?.command, 'vscode.open');
  });

  it('puts the pickled checkpoint in the Problems panel at its config.json, with the conversion as a quick fix', async () => {
    const config = vscode.Uri.file(path.join(pickled(), 'config.json'));
    const diags = await until('the pickled checkpoint diagnostics', () => {
      const d = vscode.languages.getDiagnostics(config);
      return d.length ? d : undefined;
    });
    assert.equal(diags.length, 1);
    assert.equal(diags[0].code, 'pickled-weights');
    assert.equal(diags[0].range.start.line, 0);
    assert.match(diags[0].message, /pytorch_model\.bin is a pickled PyTorch checkpoint/);
    // Code actions are asked of an open document, as the editor and the Problems panel do.
    await vscode.workspace.openTextDocument(config);
    const actions = await vscode.commands.executeCommand<vscode.CodeAction[]>('vscode.executeCodeActionProvider', config, new vscode.Range(0, 0, 0, 1));
    const fix = actions.find((x) => /safetensors/.test(x.title));
    assert.ok(fix, `a quick fix is offered (got ${actions.map((x) => x.title).join(', ')})`);
    assert.equal(fix.command?.command, 'circuits.convertCheckpoint');
  });

  it('lists the pickled checkpoint as unusable, with the conversion in its menu and not in the Explorer menu', async () => {
    const a = await api();
    const [checkpoints] = a.tree.getChildren();
    const node = a.tree.getChildren(checkpoints).find((n): n is Extract<TreeNode, { kind: 'checkpoint' }> => n.kind === 'checkpoint' && n.entry.dir === pickled());
    assert.ok(node, 'listed');
    const item = a.tree.getTreeItem(node);
    assert.equal(item.contextValue, 'checkpoint-unusable-pickled');
    assert.match(String(item.description), /unusable: pickled weights/);
  });

  it('refuses Discover on the pickled checkpoint before asking for a prompt set', async () => {
    const started = Date.now();
    const result = await Promise.race([vscode.commands.executeCommand('circuits.discover', vscode.Uri.file(pickled())), sleep(20_000).then(() => 'asked')]);
    if (result === 'asked') await vscode.commands.executeCommand('workbench.action.closeQuickOpen');
    assert.notEqual(result, 'asked', 'Discover waited for an answer (a prompt-set picker) instead of refusing');
    assert.equal(result, undefined);
    assert.ok(Date.now() - started < 20_000);
  });

  it('copies a checkpoint path and reveals it in the Explorer from the tree', async () => {
    const a = await api();
    const [checkpoints] = a.tree.getChildren();
    const node = a.tree.getChildren(checkpoints).find((n) => n.kind === 'checkpoint' && n.entry.dir === pickled());
    assert.equal(await vscode.commands.executeCommand('circuits.copyPath', node), pickled());
    await vscode.commands.executeCommand('circuits.revealInExplorer', node);
  });

  it('removes its files, and their problems go with them', async () => {
    const config = vscode.Uri.file(path.join(pickled(), 'config.json'));
    fs.rmSync(folder(), { recursive: true, force: true });
    await (await api()).refresh();
    assert.deepEqual(vscode.languages.getDiagnostics(config), []);
    assert.deepEqual(vscode.languages.getDiagnostics(vscode.Uri.file(promptFile())), []);
  });
});
