/**
 * Circuit regression tests in the Testing view (#14), in a real VS Code: a `*.circuit-test.json`
 * written into the workspace is listed with its tests at their lines; Run All (the Testing view's
 * command) runs it on every checkpoint of the run, with one test passing, one failing, and each
 * test's result per checkpoint as child items; a broken file shows its problem on its item.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { CircuitscopeApi } from '../../src/host/extension';
import type { RunReport } from '../../src/host/circuitTests';

const extensionId = 'circuitscope.circuitscope';

async function api(): Promise<CircuitscopeApi> {
  const ext = vscode.extensions.getExtension<CircuitscopeApi>(extensionId);
  assert.ok(ext, `extension ${extensionId} is not installed in this VS Code`);
  return ext.activate();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, get: () => T | undefined, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe('Circuit tests in the Testing view', () => {
  const ws = () => vscode.workspace.workspaceFolders![0].uri.fsPath;
  const folder = () => path.join(ws(), 'circuit-tests-suite');
  const file = () => path.join(folder(), 'cities.circuit-test.json');
  const broken = () => path.join(folder(), 'broken.circuit-test.json');

  it('lists a test file of the workspace with its tests at their lines', async () => {
    fs.mkdirSync(folder(), { recursive: true });
    const spec = {
      checkpoints: '../runs/tiny-gpt2',
      prompts: '../prompts/cities.jsonl',
      discover: { method: 'eap', topN: 30 },
      cache: '.circuitscope-cache',
      tests: [
        { name: 'recall is measured', hit10: { min: 0 } },
        { name: 'faithfulness is impossible', faithfulness: { min: 1000, edges: 5 } },
      ],
    };
    fs.writeFileSync(file(), JSON.stringify(spec, null, 2) + '\n');
    fs.writeFileSync(broken(), JSON.stringify({ checkpoints: '../runs/tiny-gpt2', prompts: '../prompts/cities.jsonl', tests: [{ head: 'm0', role: 'mover' }] }) + '\n');
    const a = await api();
    await a.tests.discoverAll();
    const item = await until('the test file item', () => a.tests.controller.items.get(vscode.Uri.file(file()).toString()));
    const children: vscode.TestItem[] = [];
    item.children.forEach((c) => children.push(c));
    assert.deepEqual(
      children.map((c) => c.label),
      ['recall is measured', 'faithfulness is impossible'],
    );
    const lines = fs.readFileSync(file(), 'utf8').split('\n');
    for (const c of children) assert.ok(lines[c.range!.start.line].includes(c.label), `${c.label} is at its line`);
    const bad = a.tests.controller.items.get(vscode.Uri.file(broken()).toString());
    assert.ok(bad, 'the broken file is listed');
    assert.match(String(bad.error), /tests\[0\]\.head: "head" must be a head name/);
  });

  it('runs from the Testing view: one pass, one failure, results per checkpoint', async function () {
    this.timeout(180_000);
    const a = await api();
    const finished = new Promise<RunReport>((resolve) => {
      const sub = a.tests.onDidFinishRun((r) => {
        sub.dispose();
        resolve(r);
      });
    });
    // The walkthrough VS Code opens for a newly installed extension holds the Testing commands back.
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await vscode.commands.executeCommand('testing.runAll');
    const report = await finished;
    const id = (name: string) => `${vscode.Uri.file(file()).toString()}#${name}`;
    assert.equal(report[id('recall is measured')]?.status, 'passed', JSON.stringify(report, null, 1));
    assert.equal(report[id('faithfulness is impossible')]?.status, 'failed');
    assert.match(report[id('faithfulness is impossible')].message!, /checkpoint-20: faithfulness .* at top 5 edges; expected ≥ 1000/);
    // One child per checkpoint of the run, in step order, each with its own result.
    const perCheckpoint = Object.entries(report).filter(([k]) => k.startsWith(id('faithfulness is impossible') + '@'));
    assert.deepEqual(
      perCheckpoint.map(([k, v]) => [k.split('@')[1], v.status]),
      [
        ['checkpoint-20', 'failed'],
        ['checkpoint-100', 'failed'],
        ['checkpoint-300', 'failed'],
      ],
    );
    const item = a.tests.controller.items.get(vscode.Uri.file(file()).toString())!.children.get(id('recall is measured'))!;
    assert.equal(item.children.size, 3);
    // The broken file is reported as an error, not run.
    assert.equal(report[vscode.Uri.file(broken()).toString()]?.status, 'error');
  });

  it('creates a prompt set from three typed facts, every pair corrupted at the same token length', async () => {
    const a = await api();
    const out = path.join(folder(), 'facts.jsonl');
    const facts = [
      { subject: 'Alice', template: '{subject} lives in the city of', object: 'Paris' },
      { subject: 'Bob', template: '{subject} lives in the city of', object: 'Rome' },
      { subject: 'Carol', template: 'lives in the city of', object: 'Oslo' },
    ];
    const written = await vscode.commands.executeCommand<string>('circuits.createPromptSetFromFacts', undefined, { dir: path.join(ws(), 'models', 'base'), facts, out, noPreview: true });
    assert.equal(written, out);
    const rows = fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { prompt: string; corruptedPrompt: string; target: string; corruptedTarget: string });
    assert.equal(rows.length, 3);
    for (const r of rows) {
      assert.notEqual(r.prompt, r.corruptedPrompt);
      assert.notEqual(r.target, r.corruptedTarget);
    }
    // The scan reads it as a usable prompt set (clean and corrupted of the same length, or it would be marked).
    await a.refresh();
    const set = a.tree.current?.promptSets.find((p) => p.file === out);
    assert.ok(set, 'the new prompt set is listed');
    assert.equal(set.problem, undefined, set.problem);
    assert.equal(set.count, 3);
  });

  it('creates a prompt set from a CSV file of facts; a file with a bad line is refused at that line and writes nothing', async () => {
    const a = await api();
    const dir = path.join(ws(), 'models', 'base');
    const csv = path.join(folder(), 'facts.csv');
    fs.writeFileSync(csv, 'subject,relation,answer\nAlice,{subject} lives in the city of,Paris\n"Bob","{subject} lives in the city of","Rome"\n');
    const out = path.join(folder(), 'from-csv.jsonl');
    const written = await vscode.commands.executeCommand<string>('circuits.createPromptSetFromFacts', undefined, { dir, factsFile: csv, out, noPreview: true });
    assert.equal(written, out);
    const rows = fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { prompt: string; target: string });
    assert.deepEqual(
      rows.map((r) => [r.prompt, r.target]),
      [
        ['Alice lives in the city of', ' Paris'],
        ['Bob lives in the city of', ' Rome'],
      ],
    );
    const bad = path.join(folder(), 'bad-facts.jsonl');
    fs.writeFileSync(bad, [JSON.stringify({ subject: 'Alice', template: '{subject} lives in', answer: 'Paris' }), JSON.stringify({ subject: 'Bob', template: '{subject} lives in' }), JSON.stringify({ subject: 'Carol', template: '{subject} lives in', answer: 'Oslo' })].join('\n') + '\n');
    const shown: string[] = [];
    const sub = a.onDidShowError((m) => shown.push(m));
    const refused = path.join(folder(), 'refused.jsonl');
    try {
      const r = await vscode.commands.executeCommand<string | undefined>('circuits.createPromptSetFromFacts', undefined, { dir, factsFile: bad, out: refused, noPreview: true });
      assert.equal(r, undefined);
    } finally {
      sub.dispose();
    }
    assert.equal(fs.existsSync(refused), false, 'nothing is written');
    assert.equal(shown.length, 1, shown.join('\n'));
    assert.match(shown[0], /bad-facts\.jsonl:2: lacks "answer" or "object"; each line needs a subject, a template and an answer/);
  });

  it('removes its files from the shared workspace', () => {
    fs.rmSync(folder(), { recursive: true, force: true });
  });
});
