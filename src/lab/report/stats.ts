/**
 * The statistics beside finding 1 in the full profile's report: for a difference in mean first-token
 * accuracy between two sets of entities (revised vs new, high vs medium, medium vs low), a
 * percentile-bootstrap 95% confidence interval and a one-sided stratified permutation test.
 *
 * The unit is the entity, not the query prompt: an entity's three prompts (one per relation) share its
 * name and its training documents, so they are not independent. An entity's score is the share of
 * its prompts answered right (first token ranked first), averaged over the chosen checkpoints; the
 * mean of the scores over a type or bucket is then exactly the rule's pooled accuracy, since every
 * entity has one prompt per relation.
 *
 * Permutations exchange labels only inside a stratum (the frequency bucket for the type comparison,
 * the knowledge type for the frequency ones), so a difference in the other factor cannot make a
 * comparison look significant. Everything is drawn from one seeded stream: the same inputs give the
 * same figures.
 */
import { mulberry32 } from '../../engine/util/random';

/** One entity's figures: its group (`type/bucket`) and one 0/1 string per prompt over checkpoints. */
export interface EntityRows {
  readonly subject: string;
  readonly group: string;
  readonly top1: readonly string[];
}

/** Groups the acquisition rows of a manifest by entity, in first-appearance order. */
export function entitiesOf(rows: readonly { readonly subject: string; readonly group: string; readonly top1: string }[]): EntityRows[] {
  const by = new Map<string, { subject: string; group: string; top1: string[] }>();
  for (const r of rows) {
    const e = by.get(r.subject) ?? by.set(r.subject, { subject: r.subject, group: r.group, top1: [] }).get(r.subject)!;
    e.top1.push(r.top1);
  }
  return [...by.values()];
}

/** An entity's share of right answers over its prompts and the checkpoints in `at` (indices). */
export function entityScore(e: EntityRows, at: readonly number[]): number {
  let s = 0;
  for (const row of e.top1) for (const t of at) s += row[t] === '1' ? 1 : 0;
  return s / (e.top1.length * at.length);
}

export interface DiffTest {
  /** Mean score of `a` minus mean score of `b`. */
  readonly diff: number;
  readonly nA: number;
  readonly nB: number;
  /** Percentile-bootstrap 95% interval of the difference (entities resampled within a and b). */
  readonly ci: readonly [number, number];
  /** One-sided permutation p-value for diff > 0: (1 + #{permuted ≥ observed}) / (1 + permutations). */
  readonly p: number;
  readonly permutations: number;
  readonly resamples: number;
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * Compares the scores of `a` and `b`. `stratumA[i]`/`stratumB[i]` name each unit's stratum; labels are
 * permuted only inside a stratum.
 */
export function diffTest(
  a: readonly number[],
  b: readonly number[],
  stratumA: readonly string[],
  stratumB: readonly string[],
  opts: { readonly seed?: number; readonly permutations?: number; readonly resamples?: number } = {},
): DiffTest {
  const permutations = opts.permutations ?? 10000;
  const resamples = opts.resamples ?? 2000;
  const rand = mulberry32(opts.seed ?? 20);
  const nA = a.length;
  const nB = b.length;
  if (nA === 0 || nB === 0) return { diff: NaN, nA, nB, ci: [NaN, NaN], p: NaN, permutations, resamples };
  const diff = mean(a) - mean(b);

  // Stratified permutation: per stratum, the pooled scores and how many of them belong to a.
  const strata = new Map<string, { scores: number[]; inA: number }>();
  a.forEach((x, i) => {
    const s = strata.get(stratumA[i]) ?? strata.set(stratumA[i], { scores: [], inA: 0 }).get(stratumA[i])!;
    s.scores.push(x);
    s.inA++;
  });
  b.forEach((x, i) => (strata.get(stratumB[i]) ?? strata.set(stratumB[i], { scores: [], inA: 0 }).get(stratumB[i])!).scores.push(x));
  const total = [...a, ...b].reduce((x, y) => x + y, 0);
  let atLeast = 0;
  for (let k = 0; k < permutations; k++) {
    let sumA = 0;
    for (const { scores, inA } of strata.values()) {
      // A partial Fisher–Yates shuffle: the first inA positions are a's draw.
      for (let i = 0; i < inA; i++) {
        const j = i + Math.floor(rand() * (scores.length - i));
        [scores[i], scores[j]] = [scores[j], scores[i]];
        sumA += scores[i];
      }
    }
    const d = sumA / nA - (total - sumA) / nB;
    if (d >= diff - 1e-12) atLeast++;
  }

  const boots: number[] = [];
  for (let k = 0; k < resamples; k++) {
    let sa = 0;
    for (let i = 0; i < nA; i++) sa += a[Math.floor(rand() * nA)];
    let sb = 0;
    for (let i = 0; i < nB; i++) sb += b[Math.floor(rand() * nB)];
    boots.push(sa / nA - sb / nB);
  }
  boots.sort((x, y) => x - y);
  const q = (p: number) => boots[Math.min(resamples - 1, Math.max(0, Math.round(p * (resamples - 1))))];
  return { diff, nA, nB, ci: [q(0.025), q(0.975)], p: (1 + atLeast) / (1 + permutations), permutations, resamples };
}

/** The comparison of two entity sets (chosen by group predicates) at the checkpoints `at`. */
export function compareGroups(
  entities: readonly EntityRows[],
  inA: (group: string) => boolean,
  inB: (group: string) => boolean,
  stratum: (group: string) => string,
  at: readonly number[],
  seed: number,
): DiffTest {
  const A = entities.filter((e) => inA(e.group));
  const B = entities.filter((e) => inB(e.group));
  return diffTest(
    A.map((e) => entityScore(e, at)),
    B.map((e) => entityScore(e, at)),
    A.map((e) => stratum(e.group)),
    B.map((e) => stratum(e.group)),
    { seed },
  );
}
