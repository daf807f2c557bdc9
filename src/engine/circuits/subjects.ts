/**
 * Where the subject of a prompt is, when the prompt set does not say.
 *
 * The method's corruption replaces the subject ("The capital of France is" → "The capital of Japan
 * is"), so the tokens where the clean and the corrupted prompts differ are the subject: the span from
 * the first differing position to the last one, inclusive (a subject of several tokens whose middle
 * token happens to agree is still one span). An explicit `subject` field always wins: a pair whose
 * field was given but not found on its tokens keeps no span rather than a guessed one.
 */
import type { TokenizedPair } from './prompts';

/** How the subjects of a prompt set were found, for the output of the analyses that use them. */
export interface SubjectReport {
  /** Pairs whose `subject` field was found on their tokens. */
  readonly field: number;
  /** Pairs without a `subject` field whose subject is the span where clean and corrupted differ. */
  readonly inferred: number;
  /** Pairs with a `subject` field that was not found on their tokens (no span). */
  readonly notFound: number;
  /** One sentence saying the above, for summaries. */
  readonly note: string;
}

/** Token positions [start, end) where two equal-length token lists differ, or undefined when they do not. */
export function differingSpan(clean: readonly number[], corrupted: readonly number[]): [number, number] | undefined {
  const n = Math.min(clean.length, corrupted.length);
  let first = -1;
  let last = -1;
  for (let i = 0; i < n; i++) {
    if (clean[i] !== corrupted[i]) {
      if (first < 0) first = i;
      last = i;
    }
  }
  return first < 0 ? undefined : [first, last + 1];
}

/** The pairs with every missing subject span inferred from the clean/corrupted difference, and how each was found. */
export function withSubjects(pairs: readonly TokenizedPair[]): { pairs: TokenizedPair[]; subjects: SubjectReport } {
  let field = 0;
  let inferred = 0;
  let notFound = 0;
  const out = pairs.map((p): TokenizedPair => {
    if (p.subjectSpan) {
      field++;
      return p;
    }
    if (p.pair.subject !== undefined) {
      notFound++;
      return p;
    }
    const span = differingSpan(p.clean, p.corrupted);
    if (!span) return p;
    inferred++;
    return { ...p, subjectSpan: span };
  });
  return { pairs: out, subjects: { field, inferred, notFound, note: subjectNote(field, inferred, notFound, pairs.length) } };
}

function subjectNote(field: number, inferred: number, notFound: number, total: number): string {
  const parts: string[] = [];
  if (field) parts.push(`${field} from 'subject' fields`);
  if (inferred) parts.push(`${inferred} inferred as the tokens where the clean and corrupted prompts differ (no 'subject' field)`);
  if (notFound) parts.push(`${notFound} skipped ('subject' field not found on the prompt's tokens)`);
  const none = total - field - inferred - notFound;
  if (none) parts.push(`${none} without a subject`);
  return `subjects of ${total} prompts: ${parts.join('; ') || 'none'}`;
}
