/**
 * The extension in a real VS Code (code-server), on the workspace test/integration/makeWorkspace.ts
 * builds: activation, contributed commands, the tree, discovery through the engine in one request,
 * cancellation, and recovery after the engine is killed mid-request.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { TreeNode } from '../../src/host/checkpointsTree';
import type { CircuitscopeApi } from '../../src/host/extension';
import type { DemoChild } from '../../src/host/demoProcess';
import type { ModelSummary } from '../../src/shared/engineProtocol';

const extensionId = 'circuitscope.circuitscope';

async function api(): Promise<CircuitscopeApi> {
  const ext = vscode.extensions.getExtension<CircuitscopeApi>(extensionId);
  assert.ok(ext, `extension ${extensionId} is not installed in this VS Code`);
  return ext.activate();
}

function workspace(): string {
  const ws = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  assert.ok(ws, 'the suite runs with a workspace folder open');
  return ws;
}

function stories260K(): string {
  return path.resolve(vscode.extensions.getExtension(extensionId)!.extensionPath, '../shared/models/stories260K');
}

const label = (a: CircuitscopeApi, n: TreeNode) => {
  const item = a.tree.getTreeItem(n);
  return typeof item.label === 'string' ? item.label : (item.label?.label ?? '');
};

describe('Circuitscope extension', () => {
  it('activates and contributes its commands', async () => {
    const a = await api();
    assert.ok(a.engine, 'the API exposes the engine client');
    const commands = await vscode.commands.getCommands(true);
    for (const c of [
      'circuits.discover',
      'circuits.openCircuit',
      'circuits.compare',
      'circuits.refresh',
      'circuits.addPromptSet',
      'circuits.exportJson',
      'circuits.exportGraphML',
      'circuits.exportDot',
      'circuits.exportCsv',
      'circuits.exportSvg',
      'circuits.exportPng',
      'circuits.exportDriftCsv',
      'circuits.exportDriftMarkdown',
      'circuits.describeCheckpoint',
      'circuits.showLog',
      'circuits.openDemoRun',
    ]) {
      assert.ok(commands.includes(c), `${c} is registered`);
    }
  });

  it('lists the run in step order, the model folder, and the prompt sets with their prompts', async () => {
    const a = await api();
    await a.refresh();
    const [checkpoints, prompts] = a.tree.getChildren();
    const top = a.tree.getChildren(checkpoints);
    assert.deepEqual(
      top.map((n) => label(a, n)),
      ['gpt2-synthetic', 'tiny-gpt2', 'base'],
    );
    const run = top[1];
    assert.equal(run.kind, 'run');
    assert.deepEqual(
      a.tree.getChildren(run).map((n) => label(a, n)),
      ['checkpoint-20', 'checkpoint-100', 'checkpoint-300'],
    );
    const item = a.tree.getTreeItem(a.tree.getChildren(run)[0]);
    assert.match(String(item.description), /GPT2 · 2×2/);
    const sets = a.tree.getChildren(prompts);
    assert.deepEqual(
      sets.map((n) => label(a, n)),
      ['cities.jsonl', 'pairs.csv'],
    );
    assert.equal(a.tree.getChildren(sets[0]).length, 6);
    assert.match(label(a, a.tree.getChildren(sets[0])[0]), /^The person Alice lives in Paris$/);
  });

  it('opens the demo run in the tree', async () => {
    const a = await api();
    const work = (await vscode.commands.executeCommand('circuits.openDemoRun')) as string;
    assert.equal(work, path.join(workspace(), 'demo-output', 'work'));
    const demo = a.tree.getChildren(a.tree.getChildren()[0]).find((n) => label(a, n) === 'gpt2-synthetic');
    assert.ok(demo && demo.kind === 'run', 'the demo run is in the tree');
    assert.deepEqual(
      a.tree.getChildren(demo).map((n) => label(a, n)),
      ['Demo report', 'checkpoint-3', 'checkpoint-6'],
    );
    // The demo run's report item opens the report in the Markdown preview.
    const item = a.tree.getTreeItem(a.tree.getChildren(demo)[0]);
    assert.equal(item.command?.command, 'markdown.showPreview');
    assert.equal((item.command?.arguments?.[0] as vscode.Uri).fsPath, path.join(workspace(), 'demo-output', 'report.md'));
    await vscode.commands.executeCommand(item.command!.command, ...(item.command!.arguments ?? []));
    // The preview is a webview tab that the Markdown extension opens a moment later.
    const preview = () => vscode.window.tabGroups.all.flatMap((g) => g.tabs).find((t) => t.input instanceof vscode.TabInputWebview && /markdown\.preview/.test(t.input.viewType));
    for (let i = 0; i < 50 && !preview(); i++) await new Promise((r) => setTimeout(r, 100));
    const tabs = vscode.window.tabGroups.all.flatMap((g) => g.tabs).map((t) => `${t.label} (${t.input instanceof vscode.TabInputWebview ? t.input.viewType : typeof t.input})`);
    assert.ok(preview(), `a Markdown preview tab is open; tabs: ${tabs.join(', ')}`);
  });

  it('makes the demo run in the workspace or the extension storage as a child process, and Cancel stops it, writing no finished run', async function () {
    this.timeout(90_000);
    const a = await api();
    // Without a finished demo run anywhere, the command asks where to make one.
    const standIn = path.join(workspace(), 'demo-output');
    const aside = path.join(workspace(), 'demo-output-aside');
    fs.renameSync(standIn, aside);
    try {
      const made: string[] = [];
      // Each place makes the run in its own folder (the pick that offers both is read in test/ui/start.spec.mjs).
      for (const location of ['workspace', 'globalStorage'] as const) {
        const cancel = new vscode.CancellationTokenSource();
        const started = new Promise<DemoChild>((resolve) => {
          const sub = a.onDidStartDemo((c) => (sub.dispose(), resolve(c)));
        });
        const result = vscode.commands.executeCommand<string | undefined>('circuits.openDemoRun', { location, cancel: cancel.token });
        const child = await Promise.race([started, result.then(() => undefined)]);
        assert.ok(child?.pid, `${location}: the demo started in a child process`);
        assert.notEqual(child.pid, process.pid);
        made.push(child.outDir);
        await new Promise((r) => setTimeout(r, 1_000));
        cancel.cancel();
        assert.equal(await result, undefined, 'a cancelled run opens nothing');
        const exit = await child.exited;
        assert.equal(exit.stopped, true, JSON.stringify(exit));
        assert.throws(() => process.kill(child.pid!, 0), /ESRCH/, 'the demo process is gone');
        assert.equal(fs.existsSync(path.join(child.outDir, 'work', 'demo-report.json')), false, 'a cancelled run is not a finished one');
        fs.rmSync(child.outDir, { recursive: true, force: true });
        cancel.dispose();
      }
      assert.equal(made[0], path.join(workspace(), 'demo-output'));
      // The extension's global storage: <user data>/User/globalStorage/<publisher.name>.
      assert.match(made[1], /[\\/]globalStorage[\\/]circuitscope\.circuitscope[\\/]demo-output$/);
    } finally {
      fs.rmSync(standIn, { recursive: true, force: true });
      fs.renameSync(aside, standIn);
    }
  });

  it('describes a checkpoint through the engine process', async () => {
    const summary = (await vscode.commands.executeCommand('circuits.describeCheckpoint', vscode.Uri.file(stories260K()))) as ModelSummary;
    assert.equal(summary.architecture, 'LlamaForCausalLM');
    assert.equal(summary.nLayers, 5);
    const a = await api();
    assert.ok(a.engine.pid && a.engine.pid !== process.pid, 'the engine runs in its own process');
  });

  it('discovers a circuit in one engine request, shows it, and lists it under its checkpoint', async () => {
    const a = await api();
    const ckpt = path.join(workspace(), 'runs', 'tiny-gpt2', 'checkpoint-100');
    const promptsFile = path.join(workspace(), 'prompts', 'cities.jsonl');
    // Count what one Discover sends to the engine, and what the engine reports first.
    const sent: string[] = [];
    const request = a.engine.request.bind(a.engine);
    a.engine.request = ((type: { method: string }, params: unknown, token?: vscode.CancellationToken) => {
      sent.push(type.method);
      return request(type as never, params, token);
    }) as typeof a.engine.request;
    const progress: { message: string; cost?: unknown }[] = [];
    const sub = a.engine.onProgress((p) => progress.push(p));
    let file: string;
    try {
      file = (await vscode.commands.executeCommand('circuits.discover', vscode.Uri.file(ckpt), { promptsFile })) as string;
    } finally {
      delete (a.engine as { request?: unknown }).request;
      sub.dispose();
    }
    // Besides the discovery, only the tree's rescan (which lists the new result) talks to the engine.
    assert.deepEqual(
      sent.filter((m) => m !== 'workspace/scan'),
      ['circuit/discover'],
      `one Discover is one engine request, with no cost estimate or view data request (sent: ${sent.join(', ')})`,
    );
    assert.ok(progress[0]?.cost, `the first progress notification carries the cost estimate (${progress[0]?.message})`);
    assert.ok(file && fs.existsSync(file), `a circuit file was written (${file})`);
    const json = JSON.parse(fs.readFileSync(file, 'utf8'));
    assert.equal(json.circuitscope.checkpoint.path, ckpt);
    assert.equal(json.circuitscope.method, 'eap-ig-inputs');
    let view: vscode.Tab | undefined;
    for (let i = 0; i < 50 && !view; i++) {
      await new Promise((r) => setTimeout(r, 200));
      view = vscode.window.tabGroups.all.flatMap((g) => g.tabs).find((t) => /^Circuit: checkpoint-100/.test(t.label));
    }
    assert.ok(view, 'the circuit view opened from the response');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await a.refresh();
    const run = a.tree.getChildren(a.tree.getChildren()[0]).find((n) => label(a, n) === 'tiny-gpt2')!;
    const results = a.tree.getChildren(a.tree.getChildren(run)[1]);
    assert.equal(results.length, 1);
    assert.equal(results[0].kind, 'result');
  });

  it('re-running the same Discover opens the existing circuit without computing; Recompute discovers it again', async () => {
    const a = await api();
    const ckpt = path.join(workspace(), 'runs', 'tiny-gpt2', 'checkpoint-100');
    const promptsFile = path.join(workspace(), 'prompts', 'cities.jsonl');
    const file = path.join(workspace(), '.circuitscope', 'checkpoint-100--cities.circuit.json');
    assert.ok(fs.existsSync(file), 'the discovery test left its circuit file');
    const before = fs.readFileSync(file);
    const mtime = fs.statSync(file).mtimeMs;
    const progress: { message: string; cost?: unknown }[] = [];
    const sub = a.engine.onProgress((p) => progress.push(p));
    try {
      const again = (await vscode.commands.executeCommand('circuits.discover', vscode.Uri.file(ckpt), { promptsFile, noView: true })) as string;
      assert.equal(again, file);
      assert.ok(fs.readFileSync(file).equals(before) && fs.statSync(file).mtimeMs === mtime, 'the existing circuit file is reopened, not rewritten');
      assert.ok(!progress.some((p) => p.cost), `no cost estimate, so no discovery ran (${progress.map((p) => p.message).join('; ')})`);
      assert.ok(progress.some((p) => /existing circuit/.test(p.message)), 'the progress says the existing circuit is opened');
      progress.length = 0;
      const recomputed = (await vscode.commands.executeCommand('circuits.discover', vscode.Uri.file(ckpt), { promptsFile, noView: true, recompute: true })) as string;
      assert.equal(recomputed, file);
      assert.ok(progress[0]?.cost, 'Recompute discovers again (its first notification is the cost estimate)');
      assert.notEqual(JSON.parse(fs.readFileSync(file, 'utf8')).circuitscope.createdAt, JSON.parse(before.toString('utf8')).circuitscope.createdAt, 'the file is rewritten');
    } finally {
      sub.dispose();
    }
  });

  it('opens a discovered circuit in the circuit view', async () => {
    const dir = path.join(workspace(), '.circuitscope');
    const file = fs.readdirSync(dir).find((f) => f.endsWith('.circuit.json'));
    assert.ok(file, 'the discovery test left a circuit file');
    const panel = await vscode.commands.executeCommand('circuits.openCircuit', vscode.Uri.file(path.join(dir, file)));
    assert.ok(panel, 'the command opened a panel');
    // The workbench reports new tabs to the extension host a moment later.
    let tabs: readonly vscode.Tab[] = [];
    let view: vscode.Tab | undefined;
    for (let i = 0; i < 50 && !view; i++) {
      await new Promise((r) => setTimeout(r, 200));
      tabs = vscode.window.tabGroups.all.flatMap((g) => g.tabs);
      view = tabs.find((t) => /^Circuit: checkpoint-100/.test(t.label));
    }
    assert.ok(view, `a circuit view tab is open (tabs: ${tabs.map((t) => t.label).join(', ')})`);
  });

  it('cancellation stops the engine’s work, writes nothing, and leaves the engine usable', async () => {
    const a = await api();
    const { discover, describeModel } = a.protocol;
    const out = path.join(workspace(), 'never.circuit.json');
    const cts = new vscode.CancellationTokenSource();
    // Cancel on the run's first progress notification, so the cancel always lands mid-run.
    const sub = a.engine.onProgress((p) => {
      if (p.token === 'cancel-test') cts.cancel();
    });
    const pending = a.engine.request(
      discover,
      {
        token: 'cancel-test',
        dir: path.join(workspace(), 'models', 'base'),
        promptsFile: path.join(workspace(), 'prompts', 'cities.jsonl'),
        out,
        settings: { method: 'exact', batchSize: 1 },
      },
      cts.token,
    );
    await assert.rejects(pending, (e: Error) => e instanceof vscode.CancellationError);
    sub.dispose();
    assert.equal(fs.existsSync(out), false);
    const t0 = Date.now();
    await a.engine.request(describeModel, { dir: path.join(workspace(), 'models', 'base') });
    assert.ok(Date.now() - t0 < 5000, 'the engine answers at once after a cancelled run');
  });

  it('reports a killed engine as an error and starts a new one on the next request', async () => {
    const a = await api();
    const { generate } = a.protocol;
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
