/**
 * Create Prompt Set from Facts: the user types or pastes a few facts (subject | relation | answer),
 * the engine corrupts them under the chosen checkpoint's tokenizer (same token lengths; the rule is
 * shown), the pairs are previewed in a pick list (all kept unless unticked), and the JSONL file is
 * written. The host only asks and writes; the engine tokenizes.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { pairsFromFacts, type PairsFromFactsResult } from '../shared/engineProtocol';
import type { TreeNode } from './checkpointsTree';
import { showError, type Context } from './commands';

export interface FactsCommandOptions {
  /** For tests and scripts: the checkpoint, the facts and the output file, with no dialog. */
  readonly dir?: string;
  readonly facts?: readonly { subject: string; template: string; object: string }[];
  readonly out?: string;
  /** Skip the preview (tests): every pair is written. */
  readonly noPreview?: boolean;
}

/** A typed line `subject | relation template | answer` (tabs or semicolons also separate). */
export function parseFactLine(line: string): { subject: string; template: string; object: string } | undefined {
  const parts = line.split(/\s*[|\t;]\s*/).map((s) => s.trim());
  if (parts.length !== 3 || parts.some((p) => p === '')) return undefined;
  return { subject: parts[0], template: parts[1], object: parts[2] };
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
    { title: 'Create Prompt Set from Facts: whose tokenizer?', placeHolder: 'Corruptions keep the token length under this checkpoint’s tokenizer' },
  );
  return pick?.dir;
}

/** Asks for facts one per box, until an empty entry; pasted lines with separators are split too. */
async function typeFacts(): Promise<{ subject: string; template: string; object: string }[] | undefined> {
  const facts: { subject: string; template: string; object: string }[] = [];
  for (;;) {
    const value = await vscode.window.showInputBox({
      title: `Create Prompt Set from Facts (${facts.length} so far)`,
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

export async function createPromptSetFromFactsCommand(ctx: Context, arg?: unknown, opts: FactsCommandOptions = {}): Promise<string | undefined> {
  if (!vscode.workspace.isTrusted) {
    void vscode.window.showErrorMessage('Circuitscope reads checkpoint files only in trusted workspaces (Restricted Mode is on).');
    return undefined;
  }
  const dir = opts.dir ?? (await pickCheckpoint(ctx, arg));
  if (!dir) return undefined;
  const facts = opts.facts ?? (await typeFacts());
  if (!facts) return undefined;
  if (facts.length < 2) {
    void vscode.window.showErrorMessage('Circuitscope: type at least two facts with different answers: a corrupted prompt needs another answer to contrast with.');
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
    void vscode.window.showErrorMessage(`Circuitscope: no fact could be corrupted (${r.skipped.map((s) => `${s.subject}: ${s.reason}`).join('; ')}).`);
    return undefined;
  }
  let pairs = r.pairs;
  if (!opts.noPreview) {
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
    if (!picked || picked.length === 0) return undefined;
    pairs = picked.map((i) => i.pair);
  }
  const root = vscode.workspace.workspaceFolders?.[0]?.uri;
  const out = opts.out ? vscode.Uri.file(opts.out) : await vscode.window.showSaveDialog({ defaultUri: root ? vscode.Uri.joinPath(root, 'prompts', 'facts.jsonl') : undefined, filters: { 'Prompt sets': ['jsonl'] }, saveLabel: 'Write Prompt Set' });
  if (!out) return undefined;
  const text = pairs.map((p) => JSON.stringify({ prompt: p.prompt, target: p.target, corruptedPrompt: p.corruptedPrompt, corruptedTarget: p.corruptedTarget, subject: p.subject, corruptedSubject: p.corruptedSubject })).join('\n') + '\n';
  await vscode.workspace.fs.createDirectory(vscode.Uri.file(path.dirname(out.fsPath)));
  await vscode.workspace.fs.writeFile(out, new TextEncoder().encode(text));
  ctx.log.info(`facts: wrote ${pairs.length} pairs to ${out.fsPath} (${r.rule})`);
  await ctx.refresh();
  if (!opts.out) await vscode.window.showTextDocument(out, { preview: true });
  void vscode.window.showInformationMessage(`Circuitscope: wrote ${pairs.length} prompt pairs to ${vscode.workspace.asRelativePath(out)}.`);
  return out.fsPath;
}
