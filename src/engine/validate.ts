/**
 * Checks of what a user keeps in the workspace, run when the workspace is scanned (so when a file
 * appears or changes): every problem of a prompt-set file, each bad line of a JSONL file and not only
 * the first, and of a checkpoint folder (config.json at the field's line, the weights, the tokenizer),
 * as `FileProblem`s the extension shows in the Problems panel. Nothing here loads weights or a
 * tokenizer; the readers it calls are the ones a run uses, so a folder that passes opens.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { smallPromptSetNote, type FileProblem } from '../shared/problems';
import { readPromptSet, type PromptSet } from './circuits/prompts';
import { CheckpointError, UserError } from './errors';
import { readModelSpec, tokenizerDirFor } from './model/checkpoint';
import type { ModelSpec } from './model/config';
import { safetensorsConversion, TensorIndex } from './model/weights';

/** Weight files a model folder may have; the pickled ones Circuitscope refuses to read. */
const safetensorsFiles = ['model.safetensors', 'model.safetensors.index.json'];
const pickledFiles = ['pytorch_model.bin', 'pytorch_model.bin.index.json', 'model.pt', 'model.pth'];

/** Largest prompt-set file the scan reads. */
const maxPromptFileBytes = 20 * 1024 * 1024;
/** Most problems reported for one prompt file; a file that is wrong everywhere needs one look, not a thousand. */
const maxPromptProblems = 50;

/** The weight files of `dir` (safetensors first, then pickled), by name. */
export function weightFiles(dir: string): string[] {
  return [...safetensorsFiles, ...pickledFiles].filter((f) => fs.existsSync(path.join(dir, f)));
}

/** True when `dir` holds weights but no config.json: a model folder with a file missing, worth a problem. */
export function isOrphanWeightsDir(dir: string): boolean {
  return !fs.existsSync(path.join(dir, 'config.json')) && weightFiles(dir).length > 0;
}

/** Where `field` is written in a JSON text (its key), as a 1-based line and column. */
export function keyPosition(text: string, field: string): { line: number; column: number } | undefined {
  const at = text.indexOf(JSON.stringify(field));
  if (at < 0) return undefined;
  const before = text.slice(0, at);
  const line = before.split('\n').length;
  return { line, column: at - before.lastIndexOf('\n') };
}

/** "invalid JSON at line L, column C: ..." (the one JSON reader's wording) as a position. */
function textPosition(detail: string): { line: number; column: number } | undefined {
  const m = /\bline (\d+), column (\d+)/.exec(detail);
  return m ? { line: Number(m[1]), column: Number(m[2]) } : undefined;
}

/** A checkpoint error as a problem at its file, and at the line of its field or of its syntax error. */
function checkpointProblem(dir: string, e: unknown): FileProblem {
  if (!(e instanceof CheckpointError)) return { file: dir, message: (e as Error).message, severity: 'error', code: 'config', item: dir };
  const file = e.file;
  const name = path.basename(file);
  let pos = textPosition(e.detail);
  if (!pos && e.field && name.endsWith('.json')) {
    try {
      pos = keyPosition(fs.readFileSync(file, 'utf8'), e.field);
    } catch {
      // The file went away since; the problem still stands without a line.
    }
  }
  const pickled = pickledFiles.includes(name);
  const message = e.field ? `'${e.field}': ${e.detail}` : e.detail;
  return {
    file,
    line: pos?.line,
    column: pos?.column,
    message,
    severity: 'error',
    code: pickled ? 'pickled-weights' : name === 'config.json' || file === dir ? 'config' : 'weights',
    item: dir,
    fixCommand: pickled ? safetensorsConversion(dir) : undefined,
  };
}

/**
 * Every problem of a checkpoint folder that a run would meet before its first forward pass: config.json
 * (read and parsed by the family's table), the weights' index (safetensors headers; pickled files are
 * refused) and where the tokenizer is. The spec comes back whenever config.json reads, problems or not.
 */
export function checkCheckpoint(dir: string): { spec?: ModelSpec; problems: FileProblem[] } {
  const problems: FileProblem[] = [];
  if (isOrphanWeightsDir(dir)) {
    const weights = weightFiles(dir);
    const pickled = weights.find((f) => pickledFiles.includes(f));
    problems.push({
      file: path.join(dir, weights[0]),
      message: 'the folder has weights but no config.json, so it is not a Hugging Face model folder; put the config.json of the model these weights belong to beside them',
      severity: 'error',
      code: 'no-config',
      item: dir,
    });
    if (pickled) {
      const message = 'a pickled PyTorch checkpoint can run arbitrary code when loaded, so Circuitscope does not read it; with its config.json beside it, convert it to safetensors once';
      problems.push({ file: path.join(dir, pickled), message, severity: 'error', code: 'pickled-weights', item: dir, fixCommand: safetensorsConversion(dir) });
    }
    return { problems };
  }
  let spec: ModelSpec | undefined;
  try {
    spec = readModelSpec(dir);
  } catch (e) {
    problems.push(checkpointProblem(dir, e));
  }
  try {
    TensorIndex.open(dir);
  } catch (e) {
    const p = checkpointProblem(dir, e);
    // A pickled folder's config.json is where the editor can offer the conversion as a quick fix.
    problems.push(p.code === 'pickled-weights' && spec ? { ...p, message: `${path.basename(p.file)} ${p.message}`, file: path.join(dir, 'config.json'), line: 1, column: 1 } : p);
  }
  try {
    tokenizerDirFor(dir);
  } catch (e) {
    problems.push({ ...checkpointProblem(dir, e), code: 'tokenizer' });
  }
  return { spec, problems };
}

/** "file:12: detail" or "file: detail", as readPromptSet words its errors. */
function splitPromptError(file: string, message: string): { line?: number; column?: number; detail: string } {
  const rest = message.startsWith(file) ? message.slice(file.length) : message;
  const m = /^:(\d+)(?: \(prompt \d+\))?: ([\s\S]*)$/.exec(rest);
  if (!m) return { detail: rest.replace(/^: /, '') };
  const col = /\bat column (\d+)/.exec(m[2]);
  return { line: Number(m[1]), column: col ? Number(col[1]) : undefined, detail: m[2] };
}

/**
 * Whether a file that does not read as a prompt set was meant to be one: its name or folder says
 * "prompt", a CSV header names clean/corrupted columns, or a JSON line has a prompt set's keys.
 */
function looksLikePromptSet(file: string, text: string): boolean {
  if (/prompt/i.test(path.basename(file)) || /prompt/i.test(path.basename(path.dirname(file)))) return true;
  const head = text.slice(0, 64 * 1024);
  if (/\.csv$/i.test(file)) return /^[^\n]*\b(clean|corrupted)\b/i.test(head);
  return /"(prompt|corruptedPrompt|target|clean_subject|corrupted_subject|subject|object|template)"\s*:/.test(head);
}

/** A JSONL file is read line by line, so a bad line can be set aside and the rest read on. */
function isLineFile(file: string): boolean {
  return !/\.(csv|json)$/i.test(file);
}

/**
 * Reads a prompt set and lists its problems: each unreadable line of a JSONL file (the reader stops at
 * the first; the line is blanked and the file read again, keeping line numbers), or the first problem
 * of a CSV or JSON file, and a warning when the set is small. A facts file, whose corrupted prompts
 * need a model's tokenizer, is no problem: `needsTokenizer` says so.
 */
export function checkPromptFile(file: string): { set?: PromptSet; needsTokenizer?: boolean; notPromptSet?: boolean; problems: FileProblem[] } {
  const problems: FileProblem[] = [];
  let text: string;
  try {
    const size = fs.statSync(file).size;
    if (size > maxPromptFileBytes) return { problems: [{ file, message: `the file is ${(size / 2 ** 20).toFixed(0)} MiB, more than the ${maxPromptFileBytes / 2 ** 20} MiB a prompt set may have`, severity: 'error', code: 'prompt-line', item: file }] };
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    return { problems: [{ file, message: `cannot read the file (${(e as Error).message})`, severity: 'error', code: 'prompt-line', item: file }] };
  }
  const lines = text.split('\n');
  // The reader finds syntax errors before field errors; the list reads top to bottom.
  const byLine = () => problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  for (;;) {
    try {
      const set = readPromptSet(file, { readFile: () => Buffer.from(lines.join('\n')) });
      if (problems.length === 0) {
        const note = smallPromptSetNote(set.pairs.length);
        if (note) problems.push({ file, line: set.pairs[0]?.line ?? 1, message: note, severity: 'warning', code: 'small-prompt-set', item: file });
      }
      return { set: problems.some((p) => p.severity === 'error') ? undefined : set, problems: byLine() };
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      // Other JSONL and CSV files (training data, exported tables) are not prompt sets gone wrong.
      if (problems.length === 0 && !looksLikePromptSet(file, text)) return { notPromptSet: true, problems };
      const { line, column, detail } = splitPromptError(file, e.message);
      if (/need the model tokenizer/.test(detail)) return { needsTokenizer: problems.length === 0, problems };
      // Blanking every line leaves an empty file; its "empty" complaint adds nothing to the lines'.
      if (problems.length > 0 && /the prompt set is empty/.test(detail)) return { problems: byLine() };
      problems.push({ file, line, column, message: detail, severity: 'error', code: 'prompt-line', item: file });
      if (line === undefined || !isLineFile(file) || problems.length >= maxPromptProblems || lines[line - 1] === '') return { problems: byLine() };
      lines[line - 1] = '';
    }
  }
}
