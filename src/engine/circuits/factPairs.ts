/**
 * Prompt pairs from a few facts typed by the user (subject, relation template, answer), corrupted
 * under a checkpoint's tokenizer. The facts-file reader (prompts.ts) drops subjects with 5 or fewer
 * same-length candidates, which is right for a data set and drops every fact of a small typed set;
 * here the rule is:
 *   1. another typed subject with the same token count (as it appears in the prompt), whose prompt
 *      tokenizes to the same length; its answer is the corrupted target;
 *   2. else a given name of the same token count: the tokenizer's own one-token names first, then
 *      names of a built-in list; the corrupted target is another typed fact's answer.
 * A fact with neither, or without another answer to contrast with, is left out with its reason.
 */
import type { TextTokenizer } from '../model/tokenizer';
import { mulberry32 } from '../util/random';

export interface TypedFact {
  readonly subject: string;
  /** The relation with a {subject} placeholder; without one, the subject is put first. */
  readonly template: string;
  /** The answer, e.g. "Paris" (written with a leading space as the target). */
  readonly object: string;
}

export interface FactPair {
  readonly prompt: string;
  readonly target: string;
  readonly corruptedPrompt: string;
  readonly corruptedTarget: string;
  readonly subject: string;
  readonly corruptedSubject: string;
  readonly template: string;
  /** Where the corrupted subject came from. */
  readonly corruption: 'typed' | 'vocabulary';
}

export interface FactPairsResult {
  readonly pairs: FactPair[];
  readonly skipped: { readonly subject: string; readonly reason: string }[];
  /** The corruption rule, in one sentence, for the preview. */
  readonly rule: string;
}

export const corruptionRule =
  'Each subject is swapped for another typed subject with the same number of tokens (its answer becomes the corrupted answer); when there is none, for a name of that token count from the tokenizer’s vocabulary, with another typed answer as the corrupted answer.';

/** Given names tried when no typed subject fits; the tokenizer decides which have the wanted length. */
const names = [
  'Tim', 'Lily', 'Timmy', 'Ben', 'Sue', 'Tom', 'Sam', 'Max', 'Mia', 'Anna', 'Jack', 'Lucy', 'Sara', 'Mark', 'Emma', 'Alice', 'Bob', 'Carol', 'David',
  'Frank', 'Grace', 'Henry', 'Kate', 'Leo', 'Mary', 'Nina', 'Omar', 'Paul', 'Rosa', 'Zoe', 'Amy', 'Joe', 'Jane', 'John', 'Peter', 'Sophie', 'Oliver', 'Daniel',
];

/** The template with a {subject} placeholder. */
export function normalTemplate(t: string): string {
  const s = t.trim();
  if (s.includes('{subject}')) return s;
  if (s.includes('{}')) return s.replaceAll('{}', '{subject}');
  return `{subject} ${s}`;
}

export function pairsFromFacts(tok: TextTokenizer, facts: readonly TypedFact[], seed = 42): FactPairsResult {
  const random = mulberry32(seed);
  const norm = facts.map((f) => ({ subject: f.subject.trim(), object: f.object.trim(), template: normalTemplate(f.template) }));
  const fill = (t: string, s: string) => t.replaceAll('{subject}', s);
  const subjectLength = (t: string, s: string) => tok.encode(t.trimStart().startsWith('{') ? s : ' ' + s).length;
  const firstToken = (prompt: string, target: string) => {
    const alone = tok.encode(prompt).length;
    return tok.encode(prompt + target)[alone];
  };
  // The tokenizer's one-token names come first (they are surely its own), then the list's.
  const vocabNames = names.filter((n) => tok.encode(' ' + n).length === 1);
  const pool = [...vocabNames, ...names.filter((n) => !vocabNames.includes(n))];
  const pairs: FactPair[] = [];
  const skipped: FactPairsResult['skipped'] = [];
  for (const f of norm) {
    if (!f.subject || !f.object) {
      skipped.push({ subject: f.subject, reason: 'a fact needs a subject and an answer' });
      continue;
    }
    const prompt = fill(f.template, f.subject);
    const target = ' ' + f.object;
    const len = subjectLength(f.template, f.subject);
    const promptLen = tok.encode(prompt).length;
    const fits = (s: string) => s !== f.subject && subjectLength(f.template, s) === len && tok.encode(fill(f.template, s)).length === promptLen;
    const label = firstToken(prompt, target);
    // Answers to contrast with: another typed answer whose first token differs.
    const otherAnswers = norm.filter((o) => o.object && o.subject !== f.subject && firstToken(prompt, ' ' + o.object) !== label);
    const typed = norm.filter((o) => fits(o.subject) && o.object && firstToken(prompt, ' ' + o.object) !== label);
    if (typed.length > 0) {
      const o = typed[Math.floor(random() * typed.length)];
      pairs.push({ prompt, target, corruptedPrompt: fill(f.template, o.subject), corruptedTarget: ' ' + o.object, subject: f.subject, corruptedSubject: o.subject, template: f.template, corruption: 'typed' });
      continue;
    }
    if (otherAnswers.length === 0) {
      skipped.push({ subject: f.subject, reason: 'no other typed fact has a different answer to contrast with' });
      continue;
    }
    const candidates = pool.filter((n) => fits(n) && !norm.some((o) => o.subject === n));
    if (candidates.length === 0) {
      skipped.push({ subject: f.subject, reason: `no typed subject and no name has its ${len} token${len === 1 ? '' : 's'} under this tokenizer` });
      continue;
    }
    const name = candidates[Math.floor(random() * Math.min(candidates.length, 8))];
    const answer = otherAnswers[Math.floor(random() * otherAnswers.length)].object;
    pairs.push({ prompt, target, corruptedPrompt: fill(f.template, name), corruptedTarget: ' ' + answer, subject: f.subject, corruptedSubject: name, template: f.template, corruption: 'vocabulary' });
  }
  return { pairs, skipped, rule: corruptionRule };
}

/** The pairs as a Circuitscope JSONL prompt set. */
export function factPairsJsonl(pairs: readonly FactPair[]): string {
  return pairs.map((p) => JSON.stringify({ prompt: p.prompt, target: p.target, corruptedPrompt: p.corruptedPrompt, corruptedTarget: p.corruptedTarget, subject: p.subject, corruptedSubject: p.corruptedSubject, template: p.template })).join('\n') + '\n';
}
