/**
 * The Problems panel's Circuitscope entries: every problem the engine's scan found in a prompt set or a
 * checkpoint folder, at its file and line, with a quick fix where one exists (a pickled checkpoint's
 * conversion). Discover asks `checkUsable` before it asks for prompts, so an unusable checkpoint is
 * refused with its reason instead of failing after the prompt set is picked.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { checkCheckpoint, type CheckpointEntry } from '../shared/engineProtocol';
import type { FileProblem } from '../shared/problems';
import type { EngineClient } from './engineClient';

const source = 'Circuitscope';

/** The diagnostics of the last scan, and the problems behind them (for quick fixes and the tree). */
export class ProblemsView implements vscode.Disposable, vscode.CodeActionProvider {
  static readonly fixKinds = [vscode.CodeActionKind.QuickFix];
  private readonly collection = vscode.languages.createDiagnosticCollection('circuitscope');
  private readonly problemOf = new WeakMap<vscode.Diagnostic, FileProblem>();
  private scanned: readonly FileProblem[] = [];
  /** Problems found by a check outside the scan (Discover on a folder the scan did not list). */
  private checked = new Map<string, readonly FileProblem[]>();

  /** Replaces the scan's problems; a scan supersedes the checks made before it. */
  update(problems: readonly FileProblem[]): void {
    this.scanned = problems;
    this.checked.clear();
    this.render();
  }

  /** Records the problems of one checked item (replacing earlier ones of that item). */
  report(item: string, problems: readonly FileProblem[]): void {
    this.checked.set(path.resolve(item), problems);
    this.render();
  }

  /** Every current problem of an item (a checkpoint folder or a prompt file). */
  of(item: string): FileProblem[] {
    const key = path.resolve(item);
    return [...this.scanned, ...(this.checked.get(key) ?? [])].filter((p) => path.resolve(p.item) === key);
  }

  /** Every current problem, scan and checks together. */
  all(): FileProblem[] {
    const scannedItems = new Set(this.scanned.map((p) => path.resolve(p.item)));
    return [...this.scanned, ...[...this.checked].filter(([k]) => !scannedItems.has(k)).flatMap(([, v]) => v)];
  }

  private render(): void {
    const byFile = new Map<string, vscode.Diagnostic[]>();
    for (const p of this.all()) {
      const line = Math.max(0, (p.line ?? 1) - 1);
      const col = Math.max(0, (p.column ?? 1) - 1);
      // The editor clamps the end to the line's length: the whole line from the column is marked.
      const d = new vscode.Diagnostic(new vscode.Range(line, col, line, 10_000), p.message, p.severity === 'error' ? vscode.DiagnosticSeverity.Error : vscode.DiagnosticSeverity.Warning);
      d.source = source;
      d.code = p.code;
      if (path.resolve(p.file) !== path.resolve(p.item)) d.relatedInformation = [new vscode.DiagnosticRelatedInformation(new vscode.Location(vscode.Uri.file(p.item), new vscode.Position(0, 0)), 'the checkpoint folder this makes unusable')];
      this.problemOf.set(d, p);
      const list = byFile.get(p.file) ?? [];
      list.push(d);
      byFile.set(p.file, list);
    }
    this.collection.clear();
    for (const [file, list] of byFile) this.collection.set(vscode.Uri.file(file), list);
  }

  provideCodeActions(_doc: vscode.TextDocument, _range: vscode.Range, context: vscode.CodeActionContext): vscode.CodeAction[] {
    const actions: vscode.CodeAction[] = [];
    for (const d of context.diagnostics) {
      const p = this.problemOf.get(d);
      if (!p?.fixCommand) continue;
      const a = new vscode.CodeAction('Convert the checkpoint to safetensors (in a terminal)', vscode.CodeActionKind.QuickFix);
      a.diagnostics = [d];
      a.isPreferred = true;
      a.command = { command: 'circuits.convertCheckpoint', title: 'Convert to Safetensors', arguments: [vscode.Uri.file(p.item)] };
      actions.push(a);
    }
    return actions;
  }

  dispose(): void {
    this.collection.dispose();
  }
}

/**
 * Whether Discover may go on with `dir`. A folder the scan listed was checked when it appeared or last
 * changed, so its problems are known without asking; any other folder is checked by the engine as a
 * run would open it (config, weights, tokenizer; no weights loaded). When it cannot be used, its
 * problems go to the Problems panel and one message names the first, with a button to the rest.
 */
export async function checkUsable(engine: EngineClient, problems: ProblemsView, dir: string, scanned: readonly CheckpointEntry[]): Promise<boolean> {
  const known = scanned.some((c) => path.resolve(c.dir) === path.resolve(dir));
  const found = known ? problems.of(dir) : (await engine.request(checkCheckpoint, { dir })).problems;
  if (!known) problems.report(dir, found);
  const first = found.find((p) => p.severity === 'error');
  if (!first) return true;
  const where = `${path.basename(first.file)}${first.line ? `:${first.line}` : ''}`;
  const actions = first.fixCommand ? ['Convert to Safetensors', 'Show Problems'] : ['Show Problems'];
  void vscode.window.showErrorMessage(`Circuitscope: ${path.basename(dir)} cannot be used: ${where}: ${first.message}`, ...actions).then((choice) => {
    if (choice === 'Show Problems') void vscode.commands.executeCommand('workbench.actions.view.problems');
    if (choice === 'Convert to Safetensors') void vscode.commands.executeCommand('circuits.convertCheckpoint', vscode.Uri.file(dir));
  });
  return false;
}

/**
 * Opens a terminal in the checkpoint folder with the conversion command typed but not run: the user
 * reads it and presses Enter (it needs their Python with transformers; Circuitscope never unpickles).
 */
export async function convertCheckpointCommand(problems: ProblemsView, arg: unknown): Promise<string | undefined> {
  const dir = arg instanceof vscode.Uri ? arg.fsPath : (arg as { entry?: { dir?: string } } | undefined)?.entry?.dir;
  if (!dir) return undefined;
  const command = problems.of(dir).find((p) => p.fixCommand)?.fixCommand;
  if (!command) {
    void vscode.window.showInformationMessage(`Circuitscope: ${path.basename(dir)} has no pickled weights to convert.`);
    return undefined;
  }
  const term = vscode.window.createTerminal({ name: `Convert ${path.basename(dir)}`, cwd: dir });
  term.show();
  term.sendText(command, false);
  void vscode.window.showInformationMessage('Circuitscope: the conversion command is typed in the terminal; it needs Python with transformers. Press Enter there to run it.');
  return command;
}
