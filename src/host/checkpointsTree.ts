/**
 * The "Circuitscope" tree: Checkpoints (runs of checkpoint-N in step order and single model folders,
 * each with the circuits already discovered for it) and Prompts (prompt-set files, each prompt a
 * child). The engine scans the workspace; this file only presents what it found.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { CheckpointEntry, PromptSetEntry, ResultEntry, ScanWorkspaceResult } from '../shared/engineProtocol';
import { shortReason, smallPromptSetNote, type FileProblem } from '../shared/problems';

export type TreeNode =
  | { readonly kind: 'section'; readonly section: 'checkpoints' | 'prompts' }
  | { readonly kind: 'run'; readonly dir: string; readonly checkpoints: CheckpointEntry[] }
  | { readonly kind: 'checkpoint'; readonly entry: CheckpointEntry }
  | { readonly kind: 'demoReport'; readonly file: string }
  | { readonly kind: 'result'; readonly result: ResultEntry }
  | { readonly kind: 'promptSet'; readonly entry: PromptSetEntry }
  | { readonly kind: 'prompt'; readonly file: string; readonly line: number; readonly prompt: string; readonly target: string; readonly group?: string }
  | { readonly kind: 'message'; readonly text: string; readonly command?: vscode.Command };

/** The status while the first scan runs; the tree is empty then, so the welcome view shows. */
const scanning = 'Scanning the workspace…';

/** A problem as a tooltip line: where, then what. */
const problemLine = (p: FileProblem) => `${path.basename(p.file)}${p.line ? `:${p.line}` : ''}: ${p.message}`;

/**
 * The report of a demo lab series (`circuitscope demo`), or undefined for any other run: a run folder
 * with `demo-manifest.json` whose work folder has `demo-report.json` (written by the demo, naming the
 * report relative to the work folder), or, in the default layout, `<out>/report.md` two folders up.
 */
export function demoReportOf(runDir: string): string | undefined {
  if (!fs.existsSync(path.join(runDir, 'demo-manifest.json'))) return undefined;
  const work = path.dirname(runDir);
  const candidates: string[] = [];
  try {
    const pointer = JSON.parse(fs.readFileSync(path.join(work, 'demo-report.json'), 'utf8')) as { report?: unknown };
    if (typeof pointer.report === 'string') candidates.push(path.resolve(work, pointer.report));
  } catch {
    // No pointer (an older demo) or an unreadable one: the default layout below.
  }
  candidates.push(path.join(work, '..', 'report.md'));
  return candidates.find((f) => f.endsWith('.md') && fs.existsSync(f));
}

const sizeOf = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(1)}B` : n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : `${(n / 1e3).toFixed(0)}K`);

export class CheckpointsTree implements vscode.TreeDataProvider<TreeNode> {
  private readonly changed = new vscode.EventEmitter<TreeNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private scan: ScanWorkspaceResult | undefined;
  private status: string | undefined = scanning;

  /** Replaces what the tree shows. `status` replaces the content with a message (untrusted, errors). */
  update(scan: ScanWorkspaceResult | undefined, status?: string): void {
    this.scan = scan;
    this.status = status;
    this.changed.fire(undefined);
  }

  get current(): ScanWorkspaceResult | undefined {
    return this.scan;
  }

  /** Every model folder the scan found, runs included, in tree order. */
  allCheckpoints(): CheckpointEntry[] {
    if (!this.scan) return [];
    return [...this.scan.runs.flatMap((r) => r.checkpoints), ...this.scan.checkpoints];
  }

  /** The scan's problems of one item (a checkpoint folder or a prompt file). */
  problemsOf(item: string): FileProblem[] {
    const key = path.resolve(item);
    return (this.scan?.problems ?? []).filter((p) => path.resolve(p.item) === key);
  }

  getChildren(node?: TreeNode): TreeNode[] {
    if (!node) {
      // An empty tree shows the welcome view (Discover, Add a Prompt Set, the demo): while the
      // workspace is scanned, and after, as long as there is nothing to list.
      if (this.status) return this.status === scanning ? [] : [{ kind: 'message', text: this.status }];
      const s = this.scan;
      if (!s || s.runs.length + s.checkpoints.length + s.promptSets.length + s.results.length === 0) return [];
      return [{ kind: 'section', section: 'checkpoints' }, { kind: 'section', section: 'prompts' }];
    }
    const scan = this.scan;
    switch (node.kind) {
      case 'section':
        if (this.status || !scan) return [{ kind: 'message', text: this.status ?? 'Scanning the workspace…' }];
        if (node.section === 'checkpoints') {
          const items: TreeNode[] = [...scan.runs.map((r) => ({ kind: 'run' as const, dir: r.dir, checkpoints: r.checkpoints })), ...scan.checkpoints.map((c) => ({ kind: 'checkpoint' as const, entry: c }))];
          return items.length ? items : [{ kind: 'message', text: 'No checkpoint folders (config.json + safetensors) in the workspace' }];
        }
        return scan.promptSets.length
          ? scan.promptSets.map((p) => ({ kind: 'promptSet' as const, entry: p }))
          : [{ kind: 'message', text: 'No prompt sets yet: add one…', command: { command: 'circuits.addPromptSet', title: 'Add a Prompt Set' } }];
      case 'run': {
        const report = demoReportOf(node.dir);
        return [...(report ? [{ kind: 'demoReport' as const, file: report }] : []), ...node.checkpoints.map((c) => ({ kind: 'checkpoint' as const, entry: c }))];
      }
      case 'checkpoint':
        return (scan?.results ?? []).filter((r) => path.resolve(r.checkpoint) === path.resolve(node.entry.dir)).map((r) => ({ kind: 'result' as const, result: r }));
      case 'promptSet':
        return node.entry.prompts.map((p) => ({ kind: 'prompt' as const, file: node.entry.file, ...p }));
      default:
        return [];
    }
  }

  // Longer than 80 lines: one case per kind of tree node, each a short, self-contained description.
  getTreeItem(node: TreeNode): vscode.TreeItem {
    switch (node.kind) {
      case 'section': {
        const item = new vscode.TreeItem(node.section === 'checkpoints' ? 'Checkpoints' : 'Prompts', vscode.TreeItemCollapsibleState.Expanded);
        item.contextValue = `section-${node.section}`;
        return item;
      }
      case 'run': {
        const item = new vscode.TreeItem(path.basename(node.dir), vscode.TreeItemCollapsibleState.Expanded);
        const first = node.checkpoints.find((c) => c.summary)?.summary;
        item.description = `${node.checkpoints.length} checkpoints${first ? ` · ${first.architecture} · ${sizeOf(first.parameters)}` : ''}`;
        item.tooltip = node.dir;
        item.iconPath = new vscode.ThemeIcon('history');
        item.resourceUri = vscode.Uri.file(node.dir);
        item.contextValue = 'run';
        return item;
      }
      case 'checkpoint': {
        const e = node.entry;
        const hasResults = (this.scan?.results ?? []).some((r) => path.resolve(r.checkpoint) === path.resolve(e.dir));
        const item = new vscode.TreeItem(path.basename(e.dir), hasResults ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None);
        const problems = this.problemsOf(e.dir).filter((p) => p.severity === 'error');
        item.description = e.problem
          ? `unusable: ${problems[0] ? shortReason(problems[0]) : 'see tooltip'}`
          : e.summary
            ? `${e.summary.architecture.replace(/ForCausalLM|LMHeadModel/, '')} · ${e.summary.nLayers}×${e.summary.nHeads} · ${sizeOf(e.summary.parameters)}`
            : '';
        item.tooltip = e.problem ? [e.dir, ...(problems.length ? problems.map(problemLine) : [e.problem])].join('\n') : e.dir;
        item.iconPath = new vscode.ThemeIcon(e.problem ? 'warning' : 'circuit-board');
        item.resourceUri = vscode.Uri.file(e.dir);
        item.contextValue = e.problem ? (problems.some((p) => p.fixCommand) ? 'checkpoint-unusable-pickled' : 'checkpoint-unusable') : 'checkpoint';
        return item;
      }
      case 'demoReport': {
        const item = new vscode.TreeItem('Demo report', vscode.TreeItemCollapsibleState.None);
        item.description = path.basename(node.file);
        item.tooltip = `${node.file}\nOpens in the Markdown preview`;
        item.iconPath = new vscode.ThemeIcon('book');
        item.resourceUri = vscode.Uri.file(node.file);
        item.contextValue = 'demoReport';
        item.command = { command: 'markdown.showPreview', title: 'Open the Demo Report', arguments: [vscode.Uri.file(node.file)] };
        return item;
      }
      case 'result': {
        const r = node.result;
        const item = new vscode.TreeItem(path.basename(r.file).replace(/\.circuit\.json$|\.json$/, ''), vscode.TreeItemCollapsibleState.None);
        const small = r.promptCount !== undefined ? smallPromptSetNote(r.promptCount) : undefined;
        item.description = `${r.edges ?? '?'} edges · F ${r.faithfulness?.toFixed(2) ?? '?'}${small ? ` · ⚠ ${r.promptCount} prompt${r.promptCount === 1 ? '' : 's'}` : ''}`;
        const figures = `faithfulness ${r.faithfulness?.toFixed(3) ?? '?'}${r.hit10 !== undefined ? `, Hit@10 ${(100 * r.hit10).toFixed(0)} %` : ''}`;
        item.tooltip = [r.file, `${r.method ?? '?'}: ${r.edges ?? '?'} edges, ${figures}`, `prompts: ${r.prompts ?? '?'}${r.promptCount !== undefined ? ` (${r.promptCount})` : ''}`, ...(small ? [`⚠ ${small}`] : []), r.createdAt ?? ''].join('\n');
        item.iconPath = new vscode.ThemeIcon(small ? 'warning' : 'graph');
        item.contextValue = 'result';
        item.command = { command: 'circuits.openCircuit', title: 'Open Circuit', arguments: [vscode.Uri.file(r.file)] };
        return item;
      }
      case 'promptSet': {
        const e = node.entry;
        const item = new vscode.TreeItem(path.basename(e.file), e.prompts.length ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None);
        const problems = this.problemsOf(e.file);
        const errors = problems.filter((p) => p.severity === 'error');
        // Files of the same name are told apart by their folder, as editor tabs do.
        const twin = (this.scan?.promptSets ?? []).some((o) => o.file !== e.file && path.basename(o.file) === path.basename(e.file));
        const where = twin ? `${path.basename(path.dirname(e.file))} · ` : '';
        const count = e.count ?? e.prompts.length;
        item.description =
          where +
          (e.problem
            ? `unusable: ${errors.length > 1 ? `${errors.length} problems` : errors[0]?.line ? `line ${errors[0].line}` : 'see tooltip'}`
            : e.format === 'facts' && count === 0
              ? 'facts'
              : `${count} prompt${count === 1 ? '' : 's'}${e.note && problems.some((p) => p.code === 'small-prompt-set') ? ' ⚠ few' : ''}`);
        item.tooltip = [e.file, ...(problems.length ? problems.map(problemLine) : e.note ? [e.note] : []), ...(e.format ? [`format: ${e.format}`] : [])].join('\n');
        item.iconPath = new vscode.ThemeIcon(e.problem || problems.length ? 'warning' : 'list-unordered');
        item.resourceUri = vscode.Uri.file(e.file);
        item.contextValue = e.problem ? 'promptSet-unusable' : 'promptSet';
        // An unusable file opens at its first problem.
        if (e.problem) item.command = { command: 'vscode.open', title: 'Open at the Problem', arguments: [vscode.Uri.file(e.file), { selection: new vscode.Range((errors[0]?.line ?? 1) - 1, 0, (errors[0]?.line ?? 1) - 1, 0) }] };
        return item;
      }
      case 'prompt': {
        const item = new vscode.TreeItem(`${node.prompt}${node.target}`, vscode.TreeItemCollapsibleState.None);
        item.description = node.group;
        item.tooltip = `line ${node.line}: ${JSON.stringify(node.prompt)} → ${JSON.stringify(node.target)}`;
        item.contextValue = 'prompt';
        item.command = { command: 'vscode.open', title: 'Open Prompt', arguments: [vscode.Uri.file(node.file), { selection: new vscode.Range(node.line - 1, 0, node.line - 1, 0) }] };
        return item;
      }
      case 'message': {
        const item = new vscode.TreeItem(node.text, vscode.TreeItemCollapsibleState.None);
        item.command = node.command;
        return item;
      }
    }
  }
}
