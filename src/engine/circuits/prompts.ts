/**
 * Prompt sets, read from the files users have, and tokenized the way the method needs them.
 *
 * Formats (detected from the content, not the file name):
 * - Circuitscope JSONL: {"prompt", "target", "corruptedPrompt", "corruptedTarget"} with optional
 *   "subject", "relation", "template", "type", "frequency", "group".
 * - Knowledge-circuits circuit files (JSONL): {"clean_subject", "clean_label", "corrupted_subject",
 *   "corrupted_label", ...} with a query template ("{subject} lives in the city of"), given or known
 *   from the file name (city, company, major, university, birthday).
 * - EAP-IG style CSV: columns `clean`, `corrupted`, and either `target`/`corrupted_target` (text) or
 *   `correct_idx`/`incorrect_idx` (token ids).
 * - Facts without corruptions: JSONL {"subject", "relation"?, "object" (or "answer"), "template"?} (a
 *   "relation" holding {subject} is the template) or an LRE-style
 *   relation JSON {"prompt_templates_zs": [...], "samples": [{"subject", "object"}]}. Corrupted
 *   prompts swap in another subject of the same token length (lengths with <= 5 candidates are
 *   dropped), as the reference data generator does.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../errors';
import { brief } from '../model/configReader';
import { parseCsv } from '../../shared/csv';
import { isObject, jsonProblem, jsonType, parseJson } from '../util/jsonText';
import type { TextTokenizer } from '../model/tokenizer';
import { shortHash } from '../util/hash';
import { mulberry32 } from '../util/random';

export interface PromptPair {
  readonly prompt: string;
  /** Literal continuation, with its leading space (" Paris"). */
  readonly target: string;
  readonly corruptedPrompt: string;
  readonly corruptedTarget: string;
  readonly subject?: string;
  readonly corruptedSubject?: string;
  readonly relation?: string;
  readonly template?: string;
  /** Prompt group for separate reporting, e.g. 'new/high'. */
  readonly group?: string;
  /** Token ids given by the file (EAP-IG CSV) instead of target texts. */
  readonly targetId?: number;
  readonly corruptedTargetId?: number;
  /** 1-based line (or row) in the source file, for messages. */
  readonly line: number;
}

export interface PromptSet {
  readonly file: string;
  readonly format: 'circuitscope' | 'knowledge-circuits' | 'eap-csv' | 'facts' | 'lre';
  readonly pairs: PromptPair[];
  /** Facts dropped because too few subjects share their token length. */
  readonly dropped?: number;
  /** Content hash of the file's bytes as they were read (shortHash), for provenance and cache keys. */
  readonly hash: string;
}

/** A prompt set as a format's reader makes it, before readPromptSet adds the file's hash. */
type ParsedSet = Omit<PromptSet, 'hash'>;

/** Query templates of the knowledge-circuits data (method spec §6). */
export const queryTemplates: Record<string, string> = {
  city: '{subject} lives in the city of',
  company: '{subject} works for the company of',
  major: '{subject} majors in the field of',
  university: '{subject} graduates from the',
  birthday: '{subject} was born on',
};

export interface ReadOptions {
  /** Query template with a {subject} placeholder, for knowledge-circuits and fact files. */
  readonly template?: string;
  /** Needed for facts (same-length corruption) only. */
  readonly tokenizer?: TextTokenizer;
  /** Seed for choosing corrupted subjects. */
  readonly seed?: number;
  /** Reads the file's bytes; the default is fs.readFileSync (tests count reads through it). */
  readonly readFile?: (file: string) => Buffer;
}

function fail(file: string, line: number | undefined, msg: string): never {
  throw new UserError(`${file}${line === undefined ? '' : `:${line}`}: ${msg}`);
}

/** Deepest nesting a prompt row may have (rows are flat objects of strings and numbers). */
const maxRowDepth = 8;

function firstLineParses(text: string): boolean {
  const first = text.split('\n').find((l) => l.trim() !== '');
  if (first === undefined) return true;
  // A line nested too deep is still a JSON line (and is refused as such).
  const problem = jsonProblem(first, { maxDepth: maxRowDepth });
  return problem === undefined || problem.includes('nested more than');
}

function parseJsonl(file: string, text: string): { line: number; row: Record<string, unknown> }[] {
  const rows: { line: number; row: Record<string, unknown> }[] = [];
  text.split('\n').forEach((raw, i) => {
    const s = raw.trim();
    if (s === '' || s.startsWith('//')) return;
    const v = parseJson(s, (d) => fail(file, i + 1, d.replace(/ at line 1, column (\d+)/, ' at column $1')), { maxDepth: maxRowDepth });
    if (!isObject(v)) fail(file, i + 1, `the line is ${jsonType(v)}; each line must be a JSON object`);
    rows.push({ line: i + 1, row: v as Record<string, unknown> });
  });
  return rows;
}

const str = (file: string, line: number, row: Record<string, unknown>, key: string, optional = false): string | undefined => {
  const v = row[key];
  if (v === undefined || v === null) {
    if (optional) return undefined;
    fail(file, line, `missing field '${key}'`);
  }
  if (typeof v !== 'string') fail(file, line, `field '${key}' must be a string, got ${brief(v)}`);
  return v;
};

function fillTemplate(template: string, subject: string, file: string): string {
  if (template.includes('{subject}')) return template.replaceAll('{subject}', subject);
  if (template.includes('{}')) return template.replaceAll('{}', subject);
  return fail(file, undefined, `template ${brief(template)} has no {subject} or {} placeholder`);
}

function groupOf(row: Record<string, unknown>): string | undefined {
  if (typeof row.group === 'string') return row.group;
  const t = row.type;
  const f = row.frequency;
  const bucket = typeof f === 'string' && /^\d+$/.test(f) ? frequencyBucket(Number(f)) : typeof f === 'number' ? frequencyBucket(f) : f;
  if (typeof t === 'string' && typeof bucket === 'string') return `${t}/${bucket}`;
  if (typeof t === 'string') return t;
  return undefined;
}

/** Frequency buckets of the method (§5.3): high > 5, medium 2–5, low = 1. */
export function frequencyBucket(n: number): 'high' | 'medium' | 'low' {
  return n > 5 ? 'high' : n >= 2 ? 'medium' : 'low';
}

/** Reads a prompt-set file in any supported format; the file is read once. */
export function readPromptSet(file: string, opts: ReadOptions = {}): PromptSet {
  let bytes: Buffer;
  try {
    bytes = opts.readFile ? opts.readFile(file) : fs.readFileSync(file);
  } catch (e) {
    throw new UserError(`${file}: cannot read the prompt set (${(e as Error).message})`);
  }
  return { ...parsePromptSet(file, bytes.toString('utf8'), opts), hash: shortHash(bytes) };
}

function parsePromptSet(file: string, text: string, opts: ReadOptions): ParsedSet {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.csv') return readCsv(file, text);
  // .json holds one JSON document; .jsonl one object per line; anything else is tried as JSONL first.
  const whole = ext === '.json' || (ext !== '.jsonl' && !firstLineParses(text));
  if (whole) {
    const json = parseJson(text, (d) => fail(file, undefined, d), { maxDepth: maxRowDepth + 1 });
    if (isObject(json) && Array.isArray(json.samples)) return readLre(file, json, opts);
    if (Array.isArray(json)) {
      return readRows(
        file,
        json.map((row, i) => {
          if (!isObject(row)) fail(file, undefined, `row ${i + 1} is ${jsonType(row)}; each row of the array must be a JSON object`);
          return { line: i + 1, row };
        }),
        opts,
      );
    }
    fail(file, undefined, 'a .json prompt set must be an array of rows or an LRE relation file with "samples"');
  }
  return readRows(file, parseJsonl(file, text), opts);
}

function readRows(file: string, rows: { line: number; row: Record<string, unknown> }[], opts: ReadOptions): ParsedSet {
  if (rows.length === 0) fail(file, undefined, 'the prompt set is empty');
  const first = rows[0].row;
  if ('prompt' in first) {
    return {
      file,
      format: 'circuitscope',
      pairs: rows.map(({ line, row }) => ({
        prompt: str(file, line, row, 'prompt')!,
        target: str(file, line, row, 'target')!,
        corruptedPrompt: str(file, line, row, 'corruptedPrompt')!,
        corruptedTarget: str(file, line, row, 'corruptedTarget')!,
        subject: str(file, line, row, 'subject', true),
        corruptedSubject: str(file, line, row, 'corruptedSubject', true),
        relation: str(file, line, row, 'relation', true),
        template: str(file, line, row, 'template', true),
        group: groupOf(row),
        line,
      })),
    };
  }
  if ('clean_subject' in first) {
    const base = path.basename(file).replace(/\.[^.]+$/, '');
    const template = opts.template ?? queryTemplates[base.replace(/_.*$/, '')] ?? queryTemplates[base];
    if (!template) {
      fail(file, undefined, `a knowledge-circuits file needs a query template: name the file after its relation (${Object.keys(queryTemplates).join(', ')}) or pass --template "{subject} ..."`);
    }
    return {
      file,
      format: 'knowledge-circuits',
      pairs: rows.map(({ line, row }) => {
        const subject = str(file, line, row, 'clean_subject')!;
        const corruptedSubject = str(file, line, row, 'corrupted_subject')!;
        return {
          prompt: fillTemplate(template, subject, file),
          target: str(file, line, row, 'clean_label')!,
          corruptedPrompt: fillTemplate(template, corruptedSubject, file),
          corruptedTarget: str(file, line, row, 'corrupted_label')!,
          subject,
          corruptedSubject,
          relation: base,
          template,
          group: groupOf(row),
          line,
        };
      }),
    };
  }
  // "answer" for "object", and a relation written as a template, are how Create Prompt Set from Facts reads facts files too.
  if ('subject' in first && ('object' in first || 'answer' in first)) {
    const facts = rows.map(({ line, row }) => {
      const rowTemplate = str(file, line, row, 'template', true);
      const relation = str(file, line, row, 'relation', true);
      const relationTemplate = relation !== undefined && /\{(subject)?\}/.test(relation) ? relation : undefined;
      const template = rowTemplate ?? relationTemplate ?? opts.template ?? (relation ? queryTemplates[relation] : undefined);
      if (!template) fail(file, line, `no template for this fact: add a "template" field, a known "relation" (${Object.keys(queryTemplates).join(', ')}), or pass --template`);
      const object = 'object' in row || !('answer' in row) ? str(file, line, row, 'object')! : str(file, line, row, 'answer')!;
      return { subject: str(file, line, row, 'subject')!, object, template, relation: relationTemplate ? undefined : relation, group: groupOf(row), line };
    });
    return corruptFacts(file, 'facts', facts, opts);
  }
  const keys = Object.keys(first);
  return fail(
    file,
    rows[0].line,
    `unrecognized prompt row: expected "prompt" (Circuitscope), "clean_subject" (knowledge circuits) or "subject"+"object" (facts); got keys ${keys.slice(0, 8).map((k) => brief(k)).join(', ')}${keys.length > 8 ? ', ...' : ''}`,
  );
}

function readCsv(file: string, text: string): ParsedSet {
  const csv = parseCsv(text);
  if (csv.unclosedQuoteLine !== undefined) fail(file, csv.unclosedQuoteLine, 'a quoted field is not closed (a " is missing); the rows after it run together');
  const rows = csv.rows;
  if (rows.length < 2) fail(file, undefined, 'the CSV needs a header row and at least one prompt row');
  const header = rows[0].fields.map((h) => h.trim());
  const col = (names: string[]) => names.map((n) => header.indexOf(n)).find((i) => i >= 0) ?? -1;
  const clean = col(['clean', 'clean_prompt']);
  const corrupted = col(['corrupted', 'corrupted_prompt']);
  const has = () => header.slice(0, 12).map((h) => brief(h)).join(', ') + (header.length > 12 ? ', ...' : '');
  if (clean < 0 || corrupted < 0) fail(file, rows[0].line, `the header needs 'clean' and 'corrupted' columns; it has ${has()}`);
  const target = col(['target', 'answer', 'label', 'clean_target']);
  const corrTarget = col(['corrupted_target', 'corrupted_answer', 'corrupted_label', 'wrong_answer']);
  const correctIdx = col(['correct_idx']);
  const incorrectIdx = col(['incorrect_idx']);
  if (!((target >= 0 && corrTarget >= 0) || (correctIdx >= 0 && incorrectIdx >= 0))) {
    fail(file, rows[0].line, `the header needs target columns: 'target' and 'corrupted_target' (text), or 'correct_idx' and 'incorrect_idx' (token ids); it has ${has()}`);
  }
  const pairs = rows.slice(1).map(({ line, fields: r }): PromptPair => {
    if (r.length !== header.length) fail(file, line, `the row has ${r.length} columns but the header has ${header.length} columns; check for a missing comma or an unbalanced quote`);
    const id = (c: number) => {
      const n = /^\s*\d{1,9}\s*$/.test(r[c]) ? Number(r[c]) : NaN;
      if (!Number.isInteger(n)) fail(file, line, `'${header[c]}' must be a token id (a non-negative integer), got ${brief(r[c])}`);
      return n;
    };
    const byText = target >= 0 && corrTarget >= 0;
    return {
      prompt: r[clean],
      corruptedPrompt: r[corrupted],
      target: byText ? r[target] : '',
      corruptedTarget: byText ? r[corrTarget] : '',
      targetId: byText ? undefined : id(correctIdx),
      corruptedTargetId: byText ? undefined : id(incorrectIdx),
      line,
    };
  });
  return { file, format: 'eap-csv', pairs };
}

function readLre(file: string, j: { samples?: unknown; prompt_templates_zs?: unknown; prompt_templates?: unknown; name?: unknown }, opts: ReadOptions): ParsedSet {
  const templates = (Array.isArray(j.prompt_templates_zs) && j.prompt_templates_zs.length ? j.prompt_templates_zs : j.prompt_templates) as unknown[];
  const template = opts.template ?? (Array.isArray(templates) && typeof templates[0] === 'string' ? (templates[0] as string) : undefined);
  if (!template) fail(file, undefined, 'an LRE relation file needs "prompt_templates_zs" or "prompt_templates" (or pass --template)');
  const facts = (j.samples as { subject?: unknown; object?: unknown }[]).map((s, i) => {
    if (typeof s?.subject !== 'string' || typeof s?.object !== 'string') fail(file, undefined, `samples[${i}] needs string "subject" and "object"`);
    return { subject: s.subject, object: s.object, template, relation: typeof j.name === 'string' ? j.name : undefined, group: undefined, line: i + 1 };
  });
  return corruptFacts(file, 'lre', facts, opts);
}

interface Fact {
  subject: string;
  object: string;
  template: string;
  relation?: string;
  group?: string;
  line: number;
}

/**
 * Pairs each fact with another subject of the same token length (counted as the subject appears in the
 * prompt, after a space unless it starts the prompt) under the same template; lengths with <= 5
 * candidates are dropped. The corrupted target is the other subject's object.
 */
function corruptFacts(file: string, format: 'facts' | 'lre', facts: Fact[], opts: ReadOptions): ParsedSet {
  const tok = opts.tokenizer;
  if (!tok) fail(file, undefined, 'facts without corrupted prompts need the model tokenizer to pick same-length subjects');
  const random = mulberry32(opts.seed ?? 42);
  const lengthOf = (f: Fact) => {
    const leading = f.template.trimStart().startsWith('{');
    return tok.encode(leading ? f.subject : ' ' + f.subject).length;
  };
  const byKey = new Map<string, Fact[]>();
  for (const f of facts) {
    const key = `${f.template}\u0000${lengthOf(f)}`;
    (byKey.get(key) ?? byKey.set(key, []).get(key)!).push(f);
  }
  const pairs: PromptPair[] = [];
  let dropped = 0;
  for (const group of byKey.values()) {
    if (group.length <= 5) {
      dropped += group.length;
      continue;
    }
    for (const f of group) {
      // Another subject: facts that share this one's subject are no corruption of it.
      const others = group.filter((o) => o.subject !== f.subject);
      if (others.length === 0) {
        dropped++;
        continue;
      }
      const other = others[Math.floor(random() * others.length)];
      pairs.push({
        prompt: fillTemplate(f.template, f.subject, file),
        target: ' ' + f.object.trimStart(),
        corruptedPrompt: fillTemplate(f.template, other.subject, file),
        corruptedTarget: ' ' + other.object.trimStart(),
        subject: f.subject,
        corruptedSubject: other.subject,
        relation: f.relation,
        template: f.template,
        group: f.group,
        line: f.line,
      });
    }
  }
  pairs.sort((a, b) => a.line - b.line);
  if (pairs.length === 0) {
    fail(file, undefined, `no fact has more than 5 other facts with a different subject of the same token length under its template (${dropped} dropped); add facts with more subjects per relation`);
  }
  return { file, format, pairs, dropped };
}

/** A prompt pair in token ids, ready for the engine. */
export interface TokenizedPair {
  readonly clean: number[];
  readonly corrupted: number[];
  readonly cleanLabel: number;
  readonly corruptedLabel: number;
  /** Token positions [start, end) of the subject in the clean prompt, when known. */
  readonly subjectSpan?: [number, number];
  readonly pair: PromptPair;
  /** "file:line" of the pair, for messages. */
  readonly where?: string;
}

/**
 * The first token of `target` after `promptIds`: tokenize prompt + target together and take the token
 * after the prompt's own (right for byte-level BPE and SentencePiece alike).
 */
export function firstTargetToken(tok: TextTokenizer, prompt: string, target: string): number {
  const alone = tok.encode(prompt);
  const joint = tok.encode(prompt + target);
  if (joint.length <= alone.length) throw new UserError(`target ${brief(target)} adds no token after prompt ${brief(prompt)}`);
  return joint[alone.length];
}

/** Finds the subject's token span in the prompt tokens by sublist matching (every tokenizer). */
export function findSubjectSpan(tok: TextTokenizer, ids: readonly number[], subject: string, offset: number): [number, number] | undefined {
  for (const variant of [' ' + subject, subject]) {
    const sub = tok.encode(variant);
    if (sub.length === 0) continue;
    for (let i = offset; i + sub.length <= ids.length; i++) {
      let ok = true;
      for (let j = 0; j < sub.length && ok; j++) ok = ids[i + j] === sub[j];
      if (ok) return [i, i + sub.length];
    }
  }
  return undefined;
}

/**
 * Tokenizes pairs; `bos` is prepended when given. Clean and corrupted prompts must have the same
 * length: the clean attention mask is reused for the corrupted run, as in the reference code.
 */
export interface ModelLimits {
  readonly vocabSize: number;
  readonly maxPositions: number;
}

/**
 * Tokenizes pairs; `bos` is prepended when given. Clean and corrupted prompts must have the same
 * length: the clean attention mask is reused for the corrupted run, as in the reference code. With
 * the model's `limits`, every pair is checked here, with its file and line, against what would
 * otherwise fail (or silently mean nothing) during a run: an empty prompt, a prompt longer than the
 * context, a target outside the vocabulary, a corruption identical to the clean prompt.
 */
export function tokenizePairs(tok: TextTokenizer, set: PromptSet, bos: number | undefined, limits?: ModelLimits): TokenizedPair[] {
  const pre = bos === undefined ? [] : [bos];
  const file = set.file;
  return set.pairs.map((p, i) => {
    const clean = [...pre, ...tok.encode(p.prompt)];
    const corrupted = [...pre, ...tok.encode(p.corruptedPrompt)];
    const where = `${file}:${p.line} (prompt ${i + 1})`;
    if (clean.length === 0) {
      throw new UserError(`${where}: the prompt is empty and BOS is off, so there is no position to predict from; give a non-empty prompt or leave BOS on`);
    }
    if (clean.length !== corrupted.length) {
      throw new UserError(
        `${where}: the clean prompt has ${clean.length} tokens but the corrupted prompt has ${corrupted.length} ` +
          `(${brief(p.prompt)} vs ${brief(p.corruptedPrompt)}); corrupted prompts must tokenize to the same length. ` +
          'Pick a corrupted subject with the same number of tokens.',
      );
    }
    if (limits && clean.length > limits.maxPositions) {
      throw new UserError(`${where}: the prompt is ${clean.length} tokens, longer than the model's context of ${limits.maxPositions} (config.json max positions); shorten it`);
    }
    if (clean.every((t, j) => t === corrupted[j])) {
      throw new UserError(`${where}: the corrupted prompt is the same as the clean prompt (${brief(p.prompt)}), so patching it changes nothing; give a corruption that differs, such as another subject`);
    }
    let cleanLabel: number;
    let corruptedLabel: number;
    if (p.targetId !== undefined && p.corruptedTargetId !== undefined) {
      cleanLabel = p.targetId;
      corruptedLabel = p.corruptedTargetId;
    } else {
      try {
        cleanLabel = firstTargetToken(tok, p.prompt, p.target);
        corruptedLabel = firstTargetToken(tok, p.corruptedPrompt, p.corruptedTarget);
      } catch (e) {
        throw new UserError(`${where}: ${(e as Error).message}`);
      }
    }
    if (limits) {
      for (const [label, what] of [
        [cleanLabel, p.targetId !== undefined ? "'correct_idx'" : 'the target'],
        [corruptedLabel, p.corruptedTargetId !== undefined ? "'incorrect_idx'" : 'the corrupted target'],
      ] as const) {
        if (label >= limits.vocabSize) throw new UserError(`${where}: ${what} is token ${label}, outside the model's vocabulary of ${limits.vocabSize} tokens; use token ids of this model's tokenizer`);
      }
      const tooBig = [...clean, ...corrupted].find((t) => t >= limits.vocabSize);
      if (tooBig !== undefined) throw new UserError(`${where}: the tokenizer gives token ${tooBig}, outside the model's vocabulary of ${limits.vocabSize} tokens (config.json vocab_size); the tokenizer does not belong to this checkpoint`);
    }
    const subjectSpan = p.subject ? findSubjectSpan(tok, clean, p.subject, pre.length) : undefined;
    return { clean, corrupted, cleanLabel, corruptedLabel, subjectSpan, pair: p, where: `${file}:${p.line}` };
  });
}
