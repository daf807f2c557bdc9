/**
 * Create Prompt Set from Facts: the user types or pastes a few facts (subject | relation | answer), or
 * picks a CSV or JSONL file of facts (src/shared/facts.ts reads it; a file with a bad line is refused
 * at that line), the engine corrupts them under the chosen checkpoint's tokenizer (same token lengths;
 * the rule is shown), the pairs are previewed in a pick list (all kept unless unticked), and the JSONL
 * file is written atomically. The host only asks, reads the facts and writes; the engine tokenizes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { pairsFromFacts, type PairsFromFactsResult } from '../shared/engineProtocol';
import { maxFactsFileBytes, parseFactLine, parseFactsFile, type Fact } from '../shared/facts';
import type { TreeNode } from './checkpointsTree';
import { showError, type Context } from './commands';
import { showErrorMessage } from './notify';

export interface FactsCommandOptions {
  /** For tests and scripts: the checkpoint, the facts (or a CSV/JSONL file of them) and the output file, with no dialog. */
  readonly dir?: string;
  readonly facts?: readonly Fact[];
  readonly factsFile?: string;
  readonly out?: string;
  /** Skip the preview (tests): every pair is written. */
  readonly noPreview?: boolean;
}

async function pickCheckpoint(ctx: Context, arg: unknown): Promise<string | undefined> {
  const n = arg as TreeNode | undefined;
  if (arg instanceof vscode.Uri) return arg.fsPath;
  if (n?.kind === 'checkpoint') return n.entry.dir;
  const all = ctx.tree.allCheckpoints().filter((c) => !c.problem);
  if (all.length === 0) {
    void vscode.window.showErrorMessage('Circuitscope: no usable checkpoint in the workspace; its tokenizer decides which subjects have the same length. Open a folder with a checkpoint first.');
    return undefined;
  }
  if (all.length === 1) return all[0].dir;
  const pick = await vscode.window.showQuickPick(
    all.map((c) => ({ label: path.basename(c.dir), description: vscode.workspace.asRelativePath(c.dir), dir: c.dir })),
    { title: 'Create Prompt Set from Facts: whose tokenizer?', placeHolder: 'Corruptions keep the token length under this checkpoint’s tokenizer', ignoreFocusOut: true },
  );
  return pick?.dir;
}

/** Asks for facts one per box, until an empty entry; pasted lines with separators are split too. */
async function typeFacts(): Promise<Fact[] | undefined> {
  const facts: Fact[] = [];
  for (;;) {
    const value = await vscode.window.showInputBox({
      title: `Create Prompt Set from Facts (${facts.length} so far)`,
      // Several boxes in a row: a click elsewhere, or the walkthrough page that ran the command taking the focus back, must not end the entry.
      ignoreFocusOut: true,
      prompt: 'subject | relation template | answer — the relation may hold {subject}; press Enter on an empty box to finish',
      placeHolder: 'Lily | {subject} went to the | park',
      validateInput: (v) => (v.trim() === '' || v.split(/\n/).every((l) => l.trim() === '' || parseFactLine(l)) ? undefined : 'Write subject | relation template | answer'),
    });
    if (value === undefined) return undefined;
    if (value.trim() === '') return facts;
    for (const l of value.split(/\n/)) {
      const f = parseFactLine(l);
      if (f) facts.push(f);
    }
  }
}

/** How the user gives the facts: typed (or pasted) into input boxes, or a CSV/JSONL file. */
async function chooseFacts(): Promise<Fact[] | undefined> {
  const typed = { label: '$(edit) Type or Paste Facts', description: 'subject | relation template | answer, one fact per box', file: false };
  const fromFile = { label: '$(file) From a File…', description: 'a CSV with the header subject,template,answer, or a JSONL of {"subject", "template", "answer"}', file: true };
  const pick = await vscode.window.showQuickPick([typed, fromFile], { title: 'Create Prompt Set from Facts: where are the facts?', ignoreFocusOut: true });
  if (!pick) return undefined;
  if (!pick.file) return typeFacts();
  const root = vscode.workspace.workspaceFolders?.[0]?.uri;
  const uri = await vscode.window.showOpenDialog({ canSelectMany: false, defaultUri: root, filters: { 'Facts (CSV or JSONL)': ['csv', 'jsonl', 'ndjson'], 'All files': ['*'] }, openLabel: 'Read Facts' });
  return uri?.[0] ? readFactsFile(uri[0].fsPath) : undefined;
}

/**
 * The facts of a CSV or JSONL file, or undefined after telling the user why not: a file with any bad
 * line is refused as a whole, the first bad line in the message (with a button that opens the file
 * there) and every one in the log, so no fact is left out silently.
 */
export async function readFactsFile(file: string, log?: vscode.LogOutputChannel): Promise<Fact[] | undefined> {
  const rel = vscode.workspace.asRelativePath(file);
  let text: string;
  try {
    const size = fs.statSync(file).size;
    if (size > maxFactsFileBytes) {
      void showErrorMessage(`${rel} is ${(size / 1024 / 1024).toFixed(1)} MB; a facts file for a prompt set holds a few facts (at most ${maxFactsFileBytes / 1024 / 1024} MB). Use a shorter file, or give a large facts JSONL to circuitscope discover --prompts.`);
      return undefined;
    }
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    void showErrorMessage(`cannot read the facts file ${rel}: ${(e as Error).message}`);
    return undefined;
  }
  const r = parseFactsFile(file, text);
  if (r.problems.length === 0) return r.facts;
  for (const p of r.problems) log?.error(`facts: ${file}${p.line ? `:${p.line}` : ''}: ${p.message}`);
  const first = r.problems[0];
  const more = r.problems.length > 1 ? ` (${r.problems.length - 1} more bad line${r.problems.length > 2 ? 's' : ''} in the log; nothing was written)` : ' (nothing was written)';
  const where = `${rel}${first.line ? `:${first.line}` : ''}`;
  void showErrorMessage(`${where}: ${first.message}${more}`, 'Open the File').then((choice) => {
    if (!choice) return;
    const line = Math.max(0, (first.line ?? 1) - 1);
    void vscode.window.showTextDocument(vscode.Uri.file(file), { selection: new vscode.Range(line, 0, line, 0) });
  });
  return undefined;
}

/** The pairs the user keeps in the preview (all are ticked), or undefined when the preview is dismissed. */
async function previewPairs(r: PairsFromFactsResult): Promise<PairsFromFactsResult['pairs'] | undefined> {
  const items = r.pairs.map((p) => ({
    label: `${p.prompt} → ${p.target.trim()}`,
    description: `corrupted: ${p.corruptedPrompt} → ${p.corruptedTarget.trim()}`,
    detail: p.corruption === 'typed' ? `${p.corruptedSubject}: another typed subject of the same token length` : `${p.corruptedSubject}: a name of the same token length from the tokenizer’s vocabulary`,
    picked: true,
    pair: p,
  }));
  const picked = await vscode.window.showQuickPick(items, {
    canPickMany: true,
    title: `Preview: ${r.pairs.length} pairs${r.skipped.length ? `, ${r.skipped.length} left out (see the log)` : ''}. ${r.rule}`,
    placeHolder: 'Untick pairs to leave out, then press Enter to write the prompt set',
    ignoreFocusOut: true,
  });
  return picked && picked.length > 0 ? picked.map((i) => i.pair) : undefined;
}

/**
 * Where the save dialog proposes the prompt set: the workspace's `prompts` folder when it has one, else
 * its root (not a folder that does not exist), under a name no file has yet (facts.jsonl, facts-2.jsonl, ...).
 */
function defaultOut(): vscode.Uri | undefined {
  const root = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  if (!root) return undefined;
  const dir = fs.existsSync(path.join(root, 'prompts')) ? path.join(root, 'prompts') : root;
  let file = path.join(dir, 'facts.jsonl');
  for (let i = 2; fs.existsSync(file); i++) file = path.join(dir, `facts-${i}.jsonl`);
  return vscode.Uri.file(file);
}

/** Writes the prompt set whole: a temporary file beside it, renamed over it. */
function writePromptSet(file: string, pairs: PairsFromFactsResult['pairs']): void {
  const text = pairs.map((p) => JSON.stringify({ prompt: p.prompt, target: p.target, corruptedPrompt: p.corruptedPrompt, corruptedTarget: p.corruptedTarget, subject: p.subject, corruptedSubject: p.corruptedSubject })).join('\n') + '\n';
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  try {
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

export async function createPromptSetFromFactsCommand(ctx: Context, arg?: unknown, opts: FactsCommandOptions = {}): Promise<string | undefined> {
  if (!vscode.workspace.isTrusted) {
    void vscode.window.showErrorMessage('Circuitscope reads checkpoint files only in trusted workspaces (Restricted Mode is on).');
    return undefined;
  }
  const dir = opts.dir ?? (await pickCheckpoint(ctx, arg));
  if (!dir) return undefined;
  const facts = opts.facts ?? (opts.factsFile !== undefined ? await readFactsFile(opts.factsFile, ctx.log) : await chooseFacts());
  if (!facts) return undefined;
  if (facts.length < 2) {
    void showErrorMessage('give at least two facts with different answers: a corrupted prompt needs another answer to contrast with.');
    return undefined;
  }
  let r: PairsFromFactsResult;
  try {
    r = await ctx.engine.request(pairsFromFacts, { dir, facts });
  } catch (e) {
    showError(ctx, 'building prompt pairs from the facts failed', e);
    return undefined;
  }
  for (const s of r.skipped) ctx.log.warn(`facts: ${s.subject} left out: ${s.reason}`);
  if (r.pairs.length === 0) {
    void showErrorMessage(`no fact could be corrupted (${r.skipped.map((s) => `${s.subject}: ${s.reason}`).join('; ')}).`);
    return undefined;
  }
  const pairs = opts.noPreview ? r.pairs : await previewPairs(r);
  if (!pairs) return undefined;
  const out = opts.out ? vscode.Uri.file(opts.out) : await vscode.window.showSaveDialog({ defaultUri: defaultOut(), filters: { 'Prompt sets': ['jsonl'] }, saveLabel: 'Write Prompt Set' });
  if (!out) return undefined;
  try {
    writePromptSet(out.fsPath, pairs);
  } catch (e) {
    void showErrorMessage(`cannot write the prompt set ${out.fsPath}: ${(e as Error).message}`);
    return undefined;
  }
  ctx.log.info(`facts: wrote ${pairs.length} pairs to ${out.fsPath} (${r.rule})`);
  await ctx.refresh();
  if (!opts.out) await vscode.window.showTextDocument(out, { preview: true });
  void vscode.window.showInformationMessage(`Circuitscope: wrote ${pairs.length} prompt pairs to ${vscode.workspace.asRelativePath(out)}.`);
  return out.fsPath;
}
