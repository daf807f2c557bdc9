/**
 * Facts for Create Prompt Set from Facts, as the user gives them: typed lines
 * (`subject | relation template | answer`) or a file, CSV with a header row or JSONL with one object
 * per line. Every bad line is a problem at its 1-based line that says what to write instead; the
 * command refuses a file with any problem rather than leave facts out silently. Pure: the caller
 * reads the file and passes its text.
 */
import { parseCsv } from './csv';

/** One fact: the relation template holds `{subject}` (or the subject is put first). */
export interface Fact {
  readonly subject: string;
  readonly template: string;
  /** The answer, e.g. "park"; the engine writes it with a leading space as the target. */
  readonly object: string;
}

export interface FactsProblem {
  /** 1-based; absent when the problem is the whole file's. */
  readonly line?: number;
  readonly message: string;
}

export interface FactsFile {
  readonly format: 'csv' | 'jsonl';
  readonly facts: Fact[];
  /** Empty when every line is a fact. */
  readonly problems: FactsProblem[];
}

/** The largest facts file read (a few facts are what the command is for; larger sets are data sets). */
export const maxFactsFileBytes = 1024 * 1024;

const jsonlExample = '{"subject": "Lily", "template": "{subject} went to the", "answer": "park"}';
const csvHeader = 'subject,template,answer';

/** A typed line `subject | relation template | answer` (tabs or semicolons also separate). */
export function parseFactLine(line: string): Fact | undefined {
  const parts = line.split(/\s*[|\t;]\s*/).map((s) => s.trim());
  if (parts.length !== 3 || parts.some((p) => p === '')) return undefined;
  return { subject: parts[0], template: parts[1], object: parts[2] };
}

/**
 * The facts of a file: CSV when the name ends in .csv, JSONL when it ends in .jsonl or .ndjson, else
 * JSONL when the first non-blank character is `{` and CSV otherwise.
 */
export function parseFactsFile(fileName: string, text: string): FactsFile {
  const body = text.replace(/^\uFEFF/, '');
  const csv = /\.csv$/i.test(fileName) || (!/\.(jsonl|ndjson)$/i.test(fileName) && !body.trimStart().startsWith('{'));
  const r = csv ? factsFromCsv(body) : factsFromJsonl(body);
  if (r.facts.length === 0 && r.problems.length === 0) {
    r.problems.push({ message: csv ? `the file has no facts: write a header row ${csvHeader} and one fact per row` : `the file has no facts: write one fact per line, e.g. ${jsonlExample}` });
  }
  return r;
}

/** Header names accepted for each field, first match wins (`relation` is the template, as typed facts call it). */
const columns = { subject: ['subject'], template: ['template', 'relation', 'relation template', 'relation_template'], object: ['answer', 'object', 'target'] } as const;

function factsFromCsv(text: string): FactsFile & { format: 'csv' } {
  const facts: Fact[] = [];
  const problems: FactsProblem[] = [];
  const csv = parseCsv(text);
  const [header, ...rows] = csv.rows;
  if (!header) return { format: 'csv', facts, problems };
  const names = header.fields.map((h) => h.trim().toLowerCase());
  const col = (k: keyof typeof columns) => columns[k].map((n) => names.indexOf(n)).find((i) => i >= 0) ?? -1;
  const at = { subject: col('subject'), template: col('template'), object: col('object') };
  const missing = (Object.keys(at) as (keyof typeof at)[]).filter((k) => at[k] < 0);
  if (missing.length > 0) {
    const shown = header.fields.slice(0, 6).map((h) => JSON.stringify(h.length > 30 ? h.slice(0, 27) + '...' : h)).join(', ');
    problems.push({ line: header.line, message: `the first row must be a header with the columns subject, template (or relation) and answer (or object); it has ${shown} and lacks ${missing.map((k) => columns[k][0]).join(', ')}: add the header row ${csvHeader}` });
    return { format: 'csv', facts, problems };
  }
  for (const { line, fields } of rows) {
    if (csv.unclosedQuoteLine !== undefined && line >= csv.unclosedQuoteLine) break;
    if (fields.length !== names.length) {
      problems.push({ line, message: `the row has ${fields.length} field${fields.length === 1 ? '' : 's'} but the header has ${names.length}; put a field that holds a comma in double quotes ("...")` });
      continue;
    }
    const fact = checkedFact({ subject: fields[at.subject], template: fields[at.template], object: fields[at.object] }, line, problems);
    if (fact) facts.push(fact);
  }
  if (csv.unclosedQuoteLine !== undefined) {
    problems.push({ line: csv.unclosedQuoteLine, message: 'a quoted field is not closed (a " is missing), so the rows after it run together; close the quote, and write a " inside a quoted field as ""' });
  }
  return { format: 'csv', facts, problems };
}

function factsFromJsonl(text: string): FactsFile & { format: 'jsonl' } {
  const facts: Fact[] = [];
  const problems: FactsProblem[] = [];
  text.split(/\r?\n|\r/).forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '') return;
    let v: unknown;
    try {
      v = JSON.parse(raw);
    } catch (e) {
      problems.push({ line, message: `not valid JSON (${(e as Error).message}); write one fact per line, e.g. ${jsonlExample}` });
      return;
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      problems.push({ line, message: `is ${Array.isArray(v) ? 'an array' : v === null ? 'null' : `a ${typeof v}`}, not an object; write one fact per line, e.g. ${jsonlExample}` });
      return;
    }
    const o = v as Record<string, unknown>;
    if ('prompt' in o) {
      problems.push({ line, message: 'is a prompt pair, not a fact: a file of prompt pairs is a prompt set already; pick it in Discover Circuits instead' });
      return;
    }
    const pick = (k: keyof typeof columns): { key: string; value: unknown } | undefined => {
      const key = columns[k].find((n) => n in o);
      return key === undefined ? undefined : { key, value: o[key] };
    };
    const fields = { subject: pick('subject'), template: pick('template'), object: pick('object') };
    const absent = (Object.keys(fields) as (keyof typeof fields)[]).filter((k) => fields[k] === undefined);
    if (absent.length > 0) {
      problems.push({ line, message: `lacks ${absent.map((k) => columns[k].slice(0, 2).map((n) => `"${n}"`).join(' or ')).join(', ')}; each line needs a subject, a template and an answer, e.g. ${jsonlExample}` });
      return;
    }
    const notString = (Object.values(fields) as { key: string; value: unknown }[]).find((f) => typeof f.value !== 'string');
    if (notString) {
      problems.push({ line, message: `"${notString.key}" must be a string, got ${notString.value === null ? 'null' : Array.isArray(notString.value) ? 'an array' : `a ${typeof notString.value}`}` });
      return;
    }
    const fact = checkedFact({ subject: fields.subject!.value as string, template: fields.template!.value as string, object: fields.object!.value as string }, line, problems);
    if (fact) facts.push(fact);
  });
  return { format: 'jsonl', facts, problems };
}

/** The fact with its fields trimmed, or a problem at `line` when one is empty. */
function checkedFact(f: Fact, line: number, problems: FactsProblem[]): Fact | undefined {
  const fact = { subject: f.subject.trim(), template: f.template.trim(), object: f.object.trim() };
  const empty = (Object.keys(fact) as (keyof Fact)[]).filter((k) => fact[k] === '');
  if (empty.length > 0) {
    const names = { subject: 'subject', template: 'template', object: 'answer' };
    problems.push({ line, message: `the ${empty.map((k) => names[k]).join(' and the ')} ${empty.length === 1 ? 'is' : 'are'} empty; each fact needs a subject, a template and an answer` });
    return undefined;
  }
  return fact;
}
