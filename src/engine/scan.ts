/**
 * The workspace scan: model folders, run folders of `checkpoint-N`, prompt-set files and the circuits
 * already discovered, each checked as it is found (validate.ts). An item with problems stays in the
 * result, marked with its first problem; every problem is also listed with its file and line, for the
 * Problems panel.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CheckpointEntry, PromptSetEntry, ScanWorkspaceParams, ScanWorkspaceResult } from '../shared/engineProtocol';
import type { FileProblem } from '../shared/problems';
import { defaultCacheDirName } from './analysis/cache';
import { parseJson } from './util/jsonText';
import type { Provenance } from './circuits/circuitFile';
import { isModelDir, listRunCheckpoints, stepOf } from './model/checkpoint';
import { parameterCount } from './model/config';
import { checkCheckpoint, checkPromptFile, isOrphanWeightsDir } from './validate';
import { removeStaleTempFilesIn } from './util/atomicWrite';

const skipDirs = new Set(['node_modules', '.git', 'dist', 'out', defaultCacheDirName, '.vscode-test', 'test-output']);

/** Prompts listed per prompt set in the tree. */
const maxListedPrompts = 500;

/** A checkpoint folder with its summary (when config.json reads) and its first problem (when it cannot be used). */
export function describeCheckpoint(dir: string, problems: FileProblem[]): CheckpointEntry {
  const checked = checkCheckpoint(dir);
  problems.push(...checked.problems);
  const s = checked.spec;
  const problem = checked.problems.find((p) => p.severity === 'error')?.message;
  if (!s) return { dir, step: stepOf(dir), problem: problem ?? 'cannot be read' };
  return {
    dir,
    step: stepOf(dir),
    problem,
    summary: { dir, architecture: s.architecture, nLayers: s.nLayers, nHeads: s.nHeads, nKvHeads: s.nKvHeads, dModel: s.dModel, vocabSize: s.vocabSize, parameters: parameterCount(s), step: stepOf(dir) },
  };
}

/** A prompt-set file with its prompts, or with its first problem when it cannot be read; undefined for files that are no prompt set. */
export function describePromptSet(file: string, problems: FileProblem[]): PromptSetEntry | undefined {
  const checked = checkPromptFile(file);
  problems.push(...checked.problems);
  if (checked.notPromptSet) return undefined;
  // Facts get their corruptions from a model's tokenizer; they are prompt sets all the same.
  if (checked.needsTokenizer) return { file, format: 'facts', prompts: [], note: 'corrupted prompts are made when a model is chosen' };
  const set = checked.set;
  if (!set) return { file, prompts: [], problem: checked.problems[0]?.message ?? 'cannot be read' };
  const warning = checked.problems.find((p) => p.severity === 'warning');
  return { file, format: set.format, prompts: set.pairs.slice(0, maxListedPrompts).map((p) => ({ line: p.line, prompt: p.prompt, target: p.target, group: p.group })), count: set.pairs.length, note: warning?.message };
}

/** Whether a path is a folder, following links (false for a broken link). */
function isFolder(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Walks the workspace for model folders, run folders and prompt-set files, checking each. */
export function scanWorkspace(p: ScanWorkspaceParams): ScanWorkspaceResult {
  const exclude = new Set([...skipDirs, ...(p.exclude ?? [])]);
  const maxDepth = p.maxDepth ?? 5;
  const result: ScanWorkspaceResult = { runs: [], checkpoints: [], promptSets: [], results: [], problems: [] };
  // Folders already walked, by real path: a linked folder (a model folder linked into the workspace
  // is common) is followed once, and a link back up the tree ends there.
  const seen = new Set<string>();
  const walk = (dir: string, depth: number) => {
    let real: string;
    try {
      real = fs.realpathSync(dir);
    } catch {
      return;
    }
    if (seen.has(real)) return;
    seen.add(real);
    if (isModelDir(dir) || isOrphanWeightsDir(dir)) {
      result.checkpoints.push(describeCheckpoint(dir, result.problems));
      return;
    }
    const run = listRunCheckpoints(dir);
    if (run.length > 0) result.runs.push({ dir, checkpoints: run.map((r) => describeCheckpoint(r.dir, result.problems)) });
    if (depth >= maxDepth) return;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(dir, e.name);
      if (e.isDirectory() || (e.isSymbolicLink() && isFolder(full))) {
        if (exclude.has(e.name) || e.name.startsWith('.')) continue;
        if (run.some((r) => r.dir === full)) continue;
        walk(full, depth + 1);
      } else if (/\.(jsonl|csv)$/i.test(e.name)) {
        const entry = describePromptSet(full, result.problems);
        if (entry) result.promptSets.push(entry);
      }
    }
  };
  for (const root of p.roots) walk(path.resolve(root), 0);
  if (p.resultsDir && fs.existsSync(p.resultsDir)) {
    // Killed writers' temporary files go (here and in the extension's default cache folder); they are never results.
    for (const d of [p.resultsDir, path.join(p.resultsDir, 'cache')]) removeStaleTempFilesIn(d);
    for (const f of fs.readdirSync(p.resultsDir).filter((n) => n.endsWith('.json')).sort()) {
      const file = path.join(p.resultsDir, f);
      try {
        const text = fs.readFileSync(file, 'utf8');
        const json = parseJson(text, (problem) => {
          throw new Error(problem);
        }) as { circuitscope?: Provenance } | null;
        const prov = json?.circuitscope;
        if (prov) {
          result.problems.push(...trustProblems(file, prov, text));
          result.results.push({ file, checkpoint: prov.checkpoint.path, prompts: prov.prompts.path, promptCount: prov.prompts.count, method: prov.method, faithfulness: prov.faithfulness, hit10: prov.hit10, edges: prov.edges, createdAt: prov.createdAt });
        }
      } catch {
        // Not a circuit file; the results folder may hold other things.
      }
    }
  }
  return result;
}

/**
 * A circuit file's trust warnings (written by discovery under `circuitscope.trust`) as Problems
 * entries at the line of its "trust" key: how far to trust the circuit, beside the file.
 */
export function trustProblems(file: string, prov: Provenance, text: string): FileProblem[] {
  const warnings = prov.trust?.warnings ?? [];
  if (warnings.length === 0) return [];
  const at = text.indexOf('"trust"');
  const line = at < 0 ? 1 : text.slice(0, at).split('\n').length;
  return warnings.map((message) => ({ file, line, message, severity: 'warning' as const, code: 'circuit-trust' as const, item: file }));
}
