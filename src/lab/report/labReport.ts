/**
 * The demo lab's report: for each checkpoint series, the training loss, knowledge acquisition per
 * knowledge type × frequency, the circuit's topology over training with the detected phase shift,
 * transplants, and the components (edge activation per layer, logit lens, head types); then the
 * paper's three findings, each judged by a rule stated in the report, from the figures above.
 *
 * The report is a pure function of its inputs: no timings, no absolute paths, so the same series
 * give the same bytes. Charts are SVG files beside report.md.
 */
import * as path from 'node:path';
import type { EvolveResult } from '../../engine/analysis/evolve';
import { groupOrder } from '../synthetic';
import { plateauRule, type SeriesManifest } from '../demoLab';
import { compareGroups, entitiesOf, type DiffTest } from './stats';
import { writeFileAtomic } from '../../engine/util/atomicWrite';
import { heatmap, lineChart, type Series } from './svg';

/** One series as the report reads it. */
export interface SeriesReportInput {
  /** File prefix and anchor, e.g. 'gpt2-synthetic'. */
  readonly id: string;
  readonly title: string;
  /** Markdown lines describing how the series was made. */
  readonly about: readonly string[];
  readonly manifest: SeriesManifest;
  readonly evolve: EvolveResult;
  /** trainer_state.json's log history. */
  readonly loss: readonly { readonly epoch: number; readonly step: number; readonly loss: number }[];
  /**
   * True for a model trained from scratch: no name is known before training, so 'revised' vs 'new'
   * is not the paper's K_rel vs K_compl; finding 1's type comparison is reported but marked so.
   */
  readonly typesNominal?: boolean;
}

export interface LabReportInput {
  readonly series: readonly SeriesReportInput[];
  /** Markdown lines at the top, after the title (how to regenerate, settings). */
  readonly preamble: readonly string[];
  /** A final section in Markdown (the single-checkpoint circuit), or undefined. */
  readonly appendix?: readonly string[];
  /** Lines saying what was skipped and why (e.g. no ../shared). */
  readonly skipped?: readonly string[];
  /**
   * The full profile: each series' training to the plateau, the statistics beside finding 1 (seeded
   * by `seed`) and the checkpoints after the knee beside finding 2. Absent: the default report.
   */
  readonly full?: { readonly seed: number };
}

/** What the findings add in the full profile. */
export interface FindingOptions {
  readonly full?: { readonly seed: number };
}

export type Verdict = 'reproduces' | 'does not reproduce' | 'partly reproduces';

export interface FindingResult {
  readonly series: string;
  readonly verdict: Verdict;
  /** Markdown lines with the figures and the rule's outcome. */
  readonly lines: string[];
}

export interface Findings {
  readonly knowledge: FindingResult[];
  readonly phaseShift: FindingResult[];
  readonly deepToShallow: FindingResult[];
}

const f3 = (x: number) => (Number.isFinite(x) ? (Object.is(Math.round(x * 1000), -0) ? 0 : x).toFixed(3) : 'n/a');
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');
const mean = (xs: readonly number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
const types = ['revised', 'new'] as const;
const buckets = ['high', 'medium', 'low'] as const;

/** Epoch of each analysed checkpoint (from the manifest, matched by step). */
function epochsOf(s: SeriesReportInput): number[] {
  const byStep = new Map(s.manifest.checkpoints.map((c) => [c.step, c.epoch]));
  return s.evolve.checkpoints.map((c, i) => byStep.get(c.step) ?? i + 1);
}

/** Pools per-group curves into one curve, weighting groups by their prompt counts. */
function pooled(perCheckpoint: readonly Record<string, number>[], counts: Readonly<Record<string, number>>, keep: (g: string) => boolean): number[] {
  return perCheckpoint.map((row) => {
    let s = 0;
    let n = 0;
    for (const [g, c] of Object.entries(counts)) {
      if (!keep(g) || !c || !Number.isFinite(row[g])) continue;
      s += row[g] * c;
      n += c;
    }
    return n ? s / n : NaN;
  });
}

/** Circuit Hit@10 per checkpoint as records, from evolve's per-group arrays. */
function circuitRows(e: EvolveResult): Record<string, number>[] {
  return e.checkpoints.map((_, t) => Object.fromEntries(Object.entries(e.hit10ByGroup).map(([g, v]) => [g, v[t]])));
}

/** Index of the first value ≥ level, or -1. */
const firstReach = (xs: readonly number[], level: number) => xs.findIndex((x) => x >= level);

/** The running maximum of a curve. */
const runningMax = (xs: readonly number[]) => xs.reduce<number[]>((acc, x, i) => (acc.push(i ? Math.max(acc[i - 1], x) : x), acc), []);

export const rules = {
  knowledge:
    'Finding 1 is judged on first-token accuracy of the whole model (the figure the method spec quotes for the paper: the epoch at which accuracy crosses 0.5), ' +
    'on the query prompts of all three relations. (a) Knowledge type: it reproduces when revised (K_rel) reaches 0.5 at the same checkpoint as new (K_compl) or earlier ' +
    '(a type that never reaches it counts as later than the last checkpoint) AND its accuracy averaged over the checkpoints is higher. ' +
    '(b) Frequency: it reproduces when the accuracy averaged over the checkpoints is ordered high > medium > low (both types pooled). ' +
    'The finding reproduces when (a) and (b) both hold, partly when one holds. The circuits\' Hit@10 (city prompts) is reported beside it with the same comparisons, as a second opinion that does not change the verdict.',
  phaseShift:
    'Finding 2 reproduces when the phase-shift detector (Kneedle on the running maximum of edge Jaccard-to-final, checkpoints 0..T−2) finds a knee ' +
    'after the first of those checkpoints and at least two checkpoints before the last of them (so that a plateau can be seen at all), ' +
    'the running maximum rises by at least 0.1 from the first checkpoint to the knee (a formation phase), and after the knee it rises per checkpoint at most half as fast as before it (an optimization phase that plateaus). ' +
    'Transplants are reported beside it: after the shift, circuits from after the shift should do about as well as each checkpoint\'s own circuit, and the first checkpoint\'s circuit worse.',
  deepToShallow:
    'Finding 3 is judged on the logit lens (the method spec\'s main evidence): for each checkpoint, the shallowest residual-stream row whose mean 1-based target rank is at most 10 ' +
    '("the target is top-10 from this layer on"). It reproduces when that row is shallower at the last checkpoint than at the first checkpoint where any row reaches top-10. ' +
    'The edge-activation heatmap is summarized beside it by its centre of mass over layers (the last layer left out, as the notebooks plot it): deep-to-shallow predicts that it moves to shallower layers; this second opinion does not change the verdict.',
};

function verdictOf(parts: readonly boolean[]): Verdict {
  const n = parts.filter(Boolean).length;
  return n === parts.length ? 'reproduces' : n === 0 ? 'does not reproduce' : 'partly reproduces';
}

/** Finding 1 for one series. */
export function knowledgeFinding(s: SeriesReportInput, opts: FindingOptions = {}): FindingResult {
  const epochs = epochsOf(s);
  const acq = s.manifest.acquisition;
  const atEpoch = (i: number) => (i < 0 ? 'never' : `epoch ${epochs[i]}`);
  const accType = Object.fromEntries(types.map((t) => [t, pooled(acq.top1, acq.counts, (g) => g.startsWith(t + '/'))]));
  const accBucket = Object.fromEntries(buckets.map((b) => [b, pooled(acq.top1, acq.counts, (g) => g.endsWith('/' + b))]));
  const reach = (xs: number[]) => {
    const i = firstReach(xs, 0.5);
    return i < 0 ? Infinity : i;
  };
  const typeHolds = reach(accType.revised) <= reach(accType.new) && mean(accType.revised) > mean(accType.new);
  const freqHolds = mean(accBucket.high) > mean(accBucket.medium) && mean(accBucket.medium) > mean(accBucket.low);

  const ccounts = s.manifest.dataset.circuitGroups;
  const crow = circuitRows(s.evolve);
  const hitType = Object.fromEntries(types.map((t) => [t, pooled(crow, ccounts, (g) => g.startsWith(t + '/'))]));
  const hitBucket = Object.fromEntries(buckets.map((b) => [b, pooled(crow, ccounts, (g) => g.endsWith('/' + b))]));
  const hitTypeHolds = reach(hitType.revised) <= reach(hitType.new) && mean(hitType.revised) > mean(hitType.new);
  const hitFreqHolds = mean(hitBucket.high) > mean(hitBucket.medium) && mean(hitBucket.medium) > mean(hitBucket.low);
  const poolCity = s.manifest.dataset.poolSizes.city;

  const lines = [
    `- First-token accuracy reaches 0.5: revised ${atEpoch(firstReach(accType.revised, 0.5))}, new ${atEpoch(firstReach(accType.new, 0.5))}; ` +
      `mean over checkpoints revised ${f3(mean(accType.revised))}, new ${f3(mean(accType.new))}; at the last checkpoint revised ${f3(accType.revised.at(-1)!)}, new ${f3(accType.new.at(-1)!)}. ` +
      `(a) type: **${typeHolds ? 'holds' : 'does not hold'}**${s.typesNominal ? ' (but see the note: in a model trained from scratch no name is known beforehand, so this is not the paper\'s K_rel vs K_compl)' : ''}.`,
    `- Mean accuracy over checkpoints by frequency: high ${f3(mean(accBucket.high))}, medium ${f3(mean(accBucket.medium))}, low ${f3(mean(accBucket.low))}; ` +
      `at the last checkpoint high ${f3(accBucket.high.at(-1)!)}, medium ${f3(accBucket.medium.at(-1)!)}, low ${f3(accBucket.low.at(-1)!)}. (b) frequency: **${freqHolds ? 'holds' : 'does not hold'}**.`,
    `- Second opinion, circuit Hit@10 on the city prompts (chance about ${f2(Math.min(1, 10 / poolCity))} with ${poolCity} cities): reaches 0.5 at revised ${atEpoch(firstReach(hitType.revised, 0.5))}, new ${atEpoch(firstReach(hitType.new, 0.5))}; ` +
      `mean revised ${f3(mean(hitType.revised))}, new ${f3(mean(hitType.new))}; by frequency high ${f3(mean(hitBucket.high))}, medium ${f3(mean(hitBucket.medium))}, low ${f3(mean(hitBucket.low))}. ` +
      `Type comparison ${hitTypeHolds === typeHolds ? 'agrees' : 'disagrees'}, frequency comparison ${hitFreqHolds === freqHolds ? 'agrees' : 'disagrees'} with the verdict's.`,
  ];
  if (opts.full) lines.push(...knowledgeStatistics(s, opts.full.seed));
  return { series: s.id, verdict: verdictOf([typeHolds, freqHolds]), lines };
}

/** The statistics of finding 1's comparisons (full profile): entity-level bootstrap intervals and permutation tests. */
function knowledgeStatistics(s: SeriesReportInput, seed: number): string[] {
  const rows = s.manifest.acquisition.rows;
  if (!rows?.length) return ['- Statistics: not available (this series\' manifest has no per-prompt results; rebuild it).'];
  const entities = entitiesOf(rows);
  const T = s.manifest.acquisition.top1.length;
  const all = Array.from({ length: T }, (_, t) => t);
  const typeOf = (g: string) => g.split('/')[0];
  const bucketOf = (g: string) => g.split('/')[1];
  const show = (label: string, d: DiffTest) =>
    `${label} ${d.diff >= 0 ? '+' : ''}${f3(d.diff)} (95% CI ${f3(d.ci[0])} to ${f3(d.ci[1])}; one-sided permutation p ${d.p < 0.001 ? '< 0.001' : `= ${f3(d.p)}`}; ${d.nA} vs ${d.nB} entities)`;
  const comparisons: [string, (g: string) => boolean, (g: string) => boolean, (g: string) => string][] = [
    ['revised − new', (g) => typeOf(g) === 'revised', (g) => typeOf(g) === 'new', bucketOf],
    ['high − medium', (g) => bucketOf(g) === 'high', (g) => bucketOf(g) === 'medium', typeOf],
    ['medium − low', (g) => bucketOf(g) === 'medium', (g) => bucketOf(g) === 'low', typeOf],
  ];
  const over = comparisons.map(([label, a, b, st], k) => show(label, compareGroups(entities, a, b, st, all, seed + k)));
  const last = comparisons.map(([label, a, b, st], k) => show(label, compareGroups(entities, a, b, st, [T - 1], seed + 10 + k)));
  const n = compareGroups(entities, () => true, () => false, typeOf, all, seed);
  return [
    `- Statistics (they do not change the verdict): the unit is the entity (its three query prompts), ${n.nA} entities; an entity's score is its share of right first tokens; ` +
      `intervals are percentile bootstraps (${n.resamples} resamples of entities within each side), p-values one-sided in the paper's direction from ${n.permutations} permutations of the labels within strata (frequency bucket for the type comparison, knowledge type for the frequency ones).`,
    `  - Mean over checkpoints (the rule's statistic): ${over.join('; ')}.`,
    `  - At the last checkpoint: ${last.join('; ')}.`,
  ];
}

/** Finding 2 for one series. */
export function phaseShiftFinding(s: SeriesReportInput, opts: FindingOptions = {}): FindingResult {
  const e = s.evolve;
  const epochs = epochsOf(s);
  const T = e.checkpoints.length;
  const J = e.jaccardToFinal.edge.slice(0, -1);
  const R = runningMax(J);
  const ps = e.phaseShift;
  const lines: string[] = [`- Edge Jaccard to the final circuit: ${J.map((x, i) => `epoch ${epochs[i]} ${f3(x)}`).join(', ')}.`];
  let holds = false;
  if (!ps) {
    lines.push('- The detector found no knee (the curve does not rise, or has no point above its chord).');
  } else {
    const k = ps.index;
    const interior = k >= 1 && k <= T - 4;
    const riseBefore = R[k] - R[0];
    const rateBefore = k > 0 ? riseBefore / k : NaN;
    const rateAfter = k < T - 2 ? (R[T - 2] - R[k]) / (T - 2 - k) : NaN;
    holds = interior && riseBefore >= 0.1 && rateAfter <= rateBefore / 2;
    lines.push(
      `- Knee at checkpoint ${k + 1} of ${T - 1} (epoch ${epochs[k]}, step ${ps.step}); ${interior ? 'with at least two checkpoints after it' : k < 1 ? 'at the first checkpoint' : 'too close to the end for a plateau to be seen'}. ` +
        `Running maximum rises ${f3(riseBefore)} before the knee (${f3(rateBefore)} per checkpoint) and ${f3(R[T - 2] - R[k])} after it (${f3(rateAfter)} per checkpoint).`,
    );
    if (opts.full) {
      const after = epochs.slice(k + 1);
      const pe = s.manifest.plateau?.plateauEpoch;
      lines.push(
        `- Checkpoints after the knee: ${after.length} (epochs ${after.join(', ')}), the final one included; ` +
          (pe !== null && pe !== undefined ? `the high-frequency accuracy plateaued at epoch ${pe}, so the knee is ${epochs[k] <= pe ? `${pe - epochs[k]} epochs before` : `${epochs[k] - pe} epochs after`} the plateau.` : 'the high-frequency accuracy did not plateau within the epoch cap.'),
      );
    }
  }
  const tp = e.transplant;
  if (tp.sources.length > 0 && ps) {
    const after = Array.from({ length: T }, (_, t) => t).filter((t) => t > ps.index);
    const own = mean(after.map((t) => e.checkpoints[t].hit10));
    const parts = tp.sources.map((src, r) => `from epoch ${epochs[src]} ${f3(mean(after.map((t) => tp.hit10[r][t])))}`);
    lines.push(`- Transplants, mean Hit@10 on the checkpoints after the knee: each checkpoint's own circuit ${f3(own)}; circuits ${parts.join(', ')}.`);
  }
  const acc = pooled(s.manifest.acquisition.top1, s.manifest.acquisition.counts, () => true);
  if (acc.length >= 2) lines.push(`- For reference, first-token accuracy (all groups) at the last three checkpoints: ${acc.slice(-3).map(f3).join(', ')}.`);
  lines.push(`- Rule outcome: **${holds ? 'holds' : 'does not hold'}**.`);
  return { series: s.id, verdict: holds ? 'reproduces' : 'does not reproduce', lines };
}

/** The shallowest lens row (index) with mean rank ≤ 10, or -1. */
function shallowestTop10(meanRank: readonly number[]): number {
  return meanRank.findIndex((r) => r <= 10);
}

/** Centre of mass over layers of the edge activation ratio, the last layer left out. */
function activationCentre(a: readonly number[]): number {
  const rows = a.length > 1 ? a.slice(0, -1) : a;
  const w = rows.reduce((x, y) => x + y, 0);
  return w > 0 ? rows.reduce((acc, v, l) => acc + v * l, 0) / w : NaN;
}

/** Finding 3 for one series. */
export function deepToShallowFinding(s: SeriesReportInput): FindingResult {
  const e = s.evolve;
  const epochs = epochsOf(s);
  const rows = e.checkpoints[0]?.analysis.lens.rows ?? [];
  const first = e.checkpoints.map((c) => shallowestTop10(c.analysis.lens.meanRank));
  const label = (i: number) => (i < 0 ? 'none' : rows[i]);
  const defined = first.map((r, t) => [r, t] as const).filter(([r]) => r >= 0);
  const lines = [`- Shallowest lens row with mean target rank ≤ 10, per checkpoint: ${first.map((r, t) => `epoch ${epochs[t]} ${label(r)}`).join(', ')} (rows: ${rows.join(', ')}; L*k* is the residual stream before layer *k*).`];
  let holds = false;
  if (defined.length === 0) lines.push('- No row reaches mean rank 10 at any checkpoint.');
  else {
    const [r0, t0] = defined[0];
    const rLast = first.at(-1)!;
    holds = rLast >= 0 && rLast < r0;
    lines.push(`- First checkpoint with a top-10 row: epoch ${epochs[t0]}, row ${label(r0)}; last checkpoint: row ${label(rLast)}.`);
  }
  const centres = e.checkpoints.map((c) => activationCentre(c.edgeActivationByLayer));
  const edgeAgrees = centres.at(-1)! < centres[0];
  lines.push(
    `- Second opinion, centre of mass of edge activation over layers 0..${Math.max(0, (e.checkpoints[0]?.edgeActivationByLayer.length ?? 1) - 2)}: ` +
      `${centres.map((c, t) => `epoch ${epochs[t]} ${f2(c)}`).join(', ')}; it ${edgeAgrees ? 'moves shallower, which agrees' : 'does not move shallower, which disagrees'} with deep-to-shallow.`,
  );
  lines.push(`- Rule outcome: **${holds ? 'holds' : 'does not hold'}**.`);
  return { series: s.id, verdict: holds ? 'reproduces' : 'does not reproduce', lines };
}

export function computeFindings(series: readonly SeriesReportInput[], opts: FindingOptions = {}): Findings {
  return {
    knowledge: series.map((s) => knowledgeFinding(s, opts)),
    phaseShift: series.map((s) => phaseShiftFinding(s, opts)),
    deepToShallow: series.map((s) => deepToShallowFinding(s)),
  };
}

/** The chart of the full profile's training to the plateau, relative to the report. */
export const plateauChartFile = (id: string) => `${id}-plateau.svg`;

/** The chart files of one series, relative to the report. */
export function chartFiles(id: string): Record<string, string> {
  return {
    loss: `${id}-loss.svg`,
    hit10: `${id}-hit10.svg`,
    accuracy: `${id}-accuracy.svg`,
    jaccard: `${id}-jaccard.svg`,
    edgeActivation: `${id}-edge-activation.svg`,
    lens: `${id}-logit-lens.svg`,
    heads: `${id}-heads.svg`,
  };
}

function groupSeries(perCheckpoint: readonly Record<string, number>[], epochs: readonly number[]): Series[] {
  const groups = groupOrder.filter((g) => perCheckpoint.some((row) => Number.isFinite(row[g])));
  return groups.map((g) => ({ name: g, points: perCheckpoint.map((row, t) => [epochs[t], row[g] ?? NaN] as [number, number]) }));
}

/** At most `n` points: means of consecutive runs of points. */
function downsample(points: readonly [number, number][], n: number): [number, number][] {
  if (points.length <= n) return [...points];
  const k = Math.ceil(points.length / n);
  const out: [number, number][] = [];
  for (let i = 0; i < points.length; i += k) {
    const run = points.slice(i, i + k);
    out.push([mean(run.map((p) => p[0])), mean(run.map((p) => p[1]))]);
  }
  return out;
}

/** What the parts of a series section share. */
interface SeriesContext {
  readonly s: SeriesReportInput;
  readonly e: EvolveResult;
  readonly m: SeriesManifest;
  readonly epochs: number[];
  readonly files: ReturnType<typeof chartFiles>;
  readonly put: (name: string, svg: string) => void;
  readonly poolCity: number;
  readonly meanPool: number;
}

/** Writes one series' charts into outDir and returns its Markdown section. */
function seriesSection(s: SeriesReportInput, outDir: string, full: boolean): string[] {
  const m = s.manifest;
  const c: SeriesContext = {
    s,
    e: s.evolve,
    m,
    epochs: epochsOf(s),
    files: chartFiles(s.id),
    put: (name, svg) => writeFileAtomic(path.join(outDir, name), svg),
    poolCity: m.dataset.poolSizes.city,
    meanPool: mean(Object.values(m.dataset.poolSizes)),
  };
  trainingCharts(c);
  componentCharts(c);
  const overview = overviewMarkdown(c);
  if (!full || !m.plateau) return [...overview, ...topologyMarkdown(c)];
  // The plateau subsection goes before the section's "### Training".
  const at = overview.indexOf('### Training');
  return [...overview.slice(0, at), ...plateauMarkdown(c), ...overview.slice(at), ...topologyMarkdown(c)];
}

/** The full profile's training to the plateau: the rule, the per-epoch curve, the checkpoints kept. */
function plateauMarkdown(c: SeriesContext): string[] {
  const { s, m, epochs, put } = c;
  const p = m.plateau!;
  const file = plateauChartFile(s.id);
  const P = p.plateauEpoch;
  put(
    file,
    lineChart({
      title: `${s.id}: first-token accuracy of the high-frequency groups after every epoch`,
      xLabel: 'epoch',
      yLabel: 'top-1 accuracy (revised/high + new/high)',
      yRange: [0, 1],
      series: [
        { name: 'every epoch', points: p.highAccuracy.map((a, i) => [i + 1, a] as [number, number]) },
        { name: 'kept checkpoints', points: epochs.map((ep) => [ep, p.highAccuracy[ep - 1]] as [number, number]) },
      ],
      markers: P !== null ? [{ x: P, label: `plateau (epoch ${P})` }] : [],
    }),
  );
  const rows: string[] = [];
  for (let i = 0; i < p.highAccuracy.length; i += 10) {
    const chunk = p.highAccuracy.slice(i, i + 10);
    rows.push(`| ${i + 1}–${i + chunk.length} | ${chunk.map(f3).join(' ')} |`);
  }
  return [
    '### Training to the plateau (full profile)',
    '',
    `Rule: ${plateauRule(p.schedule)}`,
    '',
    P !== null
      ? `Outcome: the high-frequency accuracy (${p.highPrompts} prompts) plateaued at epoch ${P} (${f3(p.highAccuracy[P - 1])}; running maximum ${f3(Math.max(...p.highAccuracy.slice(0, P)))}), and training went on to epoch ${p.lastEpoch}. ` +
        `Checkpoints kept: epochs ${epochs.join(', ')} (${epochs.filter((e) => e <= P).length} up to the plateau, ${epochs.filter((e) => e > P).length} after it).`
      : `Outcome: the high-frequency accuracy (${p.highPrompts} prompts) did **not** plateau by the cap of ${p.schedule.maxEpochs} epochs (last ${f3(p.highAccuracy.at(-1)!)}); the findings below are read at a series still learning. Checkpoints kept: epochs ${epochs.join(', ')}.`,
    '',
    `![high-frequency accuracy per epoch](${file})`,
    '',
    '| epochs | high-frequency first-token accuracy after each epoch |',
    '|---|---|',
    ...rows,
    '',
  ];
}

/** Loss, circuit Hit@10 and first-token accuracy over the epochs. */
function trainingCharts(c: SeriesContext): void {
  const { s, e, m, epochs, files, put, poolCity, meanPool } = c;
  put(
    files.loss,
    lineChart({
      title: `${s.id}: training loss`,
      xLabel: 'epoch',
      yLabel: 'training loss',
      yRange: [0, Math.ceil(Math.max(1, ...s.loss.map((l) => l.loss)))],
      series: [{ name: 'loss', points: downsample(s.loss.map((l) => [l.epoch, l.loss] as [number, number]), 100) }],
      markers: epochs.map((ep) => ({ x: ep, label: '' })),
    }),
  );
  const chance = (c: number) => ({ name: `chance ${f2(c)}`, points: epochs.map((ep) => [ep, c] as [number, number]) });
  put(
    files.hit10,
    lineChart({
      title: `${s.id}: circuit Hit@10 per type/frequency (city)`,
      xLabel: 'epoch',
      yLabel: 'Hit@10 of the circuit',
      yRange: [0, 1],
      series: [...groupSeries(circuitRows(e), epochs), chance(Math.min(1, 10 / poolCity))],
    }),
  );
  put(
    files.accuracy,
    lineChart({
      title: `${s.id}: first-token accuracy per type/frequency`,
      xLabel: 'epoch',
      yLabel: 'top-1 accuracy of the model',
      yRange: [0, 1],
      series: [...groupSeries(m.acquisition.top1, epochs), chance(1 / meanPool)],
    }),
  );
}

/** Jaccard to final, edge activation, logit lens and head types. */
function componentCharts(c: SeriesContext): void {
  const { s, e, epochs, files, put } = c;
  const ps = e.phaseShift;
  put(
    files.jaccard,
    lineChart({
      title: `${s.id}: Jaccard similarity to the final circuit`,
      xLabel: 'epoch',
      yLabel: 'Jaccard to final',
      yRange: [0, 1],
      series: [
        { name: 'edges', points: e.jaccardToFinal.edge.map((v, t) => [epochs[t], v] as [number, number]) },
        { name: 'nodes', points: e.jaccardToFinal.node.map((v, t) => [epochs[t], v] as [number, number]) },
      ],
      markers: ps ? [{ x: epochs[ps.index], label: `phase shift (epoch ${epochs[ps.index]})` }] : [],
    }),
  );
  const L = e.checkpoints[0]?.edgeActivationByLayer.length ?? 0;
  // The notebooks leave the last layer out of the plot: its few edges (mostly into the logits) are nearly all in every circuit.
  const shown = L > 1 ? L - 1 : L;
  const layerRows = Array.from({ length: shown }, (_, l) => shown - 1 - l);
  put(
    files.edgeActivation,
    heatmap({
      title: 'edge activation ratio',
      rowLabels: layerRows.map((l) => (l === 0 ? 'in+0' : String(l))),
      colLabels: epochs.map(String),
      values: layerRows.map((l) => e.checkpoints.map((c) => c.edgeActivationByLayer[l])),
      xLabel: 'epoch',
      yLabel: 'parent layer',
    }),
  );
  const lensRows = e.checkpoints[0]?.analysis.lens.rows ?? [];
  const lensOrder = lensRows.map((_, i) => lensRows.length - 1 - i);
  put(
    files.lens,
    heatmap({
      title: 'logit lens: log10 mean rank',
      rowLabels: lensOrder.map((i) => lensRows[i]),
      colLabels: epochs.map(String),
      values: lensOrder.map((i) => e.checkpoints.map((c) => Math.log10(c.analysis.lens.meanRank[i]))),
      xLabel: 'epoch',
      yLabel: 'residual stream',
    }),
  );
  put(
    files.heads,
    lineChart({
      title: `${s.id}: head types in the circuit`,
      xLabel: 'epoch',
      yLabel: 'share of circuit nodes',
      yRange: [0, Math.max(0.1, Math.ceil(10 * Math.max(...e.checkpoints.flatMap((c) => Object.values(c.headProportions)))) / 10)],
      series: (['mover', 'relation', 'mixture'] as const).map((r) => ({ name: r, points: e.checkpoints.map((c, t) => [epochs[t], c.headProportions[r]] as [number, number]) })),
    }),
  );

}

/** The section's data table, training and knowledge acquisition. */
function overviewMarkdown(c: SeriesContext): string[] {
  const { s, e, m, epochs, files, poolCity, meanPool } = c;
  const stepPerEpoch = e.checkpoints.length && epochs[0] ? e.checkpoints[0].step / epochs[0] : 1;
  const acqAll = pooled(m.acquisition.top1, m.acquisition.counts, () => true);
  const acqH10 = pooled(m.acquisition.hit10, m.acquisition.counts, () => true);
  const lossFirst = s.loss[0]?.loss ?? NaN;
  const lossLast = s.loss.at(-1)?.loss ?? NaN;
  return [
    `## ${s.title}`,
    '',
    ...s.about,
    '',
    '| data | value |',
    '|---|---|',
    `| entities per group | ${Object.entries(m.dataset.entities).map(([g, n]) => `${g} ${n}`).join(', ')} |`,
    `| training documents / tokens | ${m.dataset.documents.train} / ${m.dataset.tokens} |`,
    `| values per relation (city, company, major) | ${m.dataset.poolSizes.city}, ${m.dataset.poolSizes.company}, ${m.dataset.poolSizes.major} |`,
    `| city circuit prompts per group | ${Object.entries(m.dataset.circuitGroups).map(([g, n]) => `${g} ${n}`).join(', ')} |`,
    `| checkpoints | ${e.checkpoints.length}, after epochs ${epochs.join(', ')} (${Math.round(stepPerEpoch)} optimizer steps per epoch) |`,
    `| circuit discovery | ${e.settings.method}, ${e.settings.steps} steps, metric ${e.settings.metric}, top-N ${e.settings.topN ?? 'default share'} then pruning, on ${e.prompts.count} city prompts |`,
    '',
    '### Training',
    '',
    `![training loss](${files.loss})`,
    '',
    `Loss (mean of 10 steps) falls from ${f3(lossFirst)} to ${f3(lossLast)}.`,
    '',
    '| epoch | step | circuit edges | nodes | faithfulness | circuit Hit@10 (city) | model accuracy (all relations) | model Hit@10 (all relations) |',
    '|---|---|---|---|---|---|---|---|',
    ...e.checkpoints.map((c, t) => `| ${epochs[t]} | ${c.step} | ${c.edges} | ${c.nodes} | ${f3(c.faithfulness)} | ${f3(c.hit10)} | ${f3(acqAll[t])} | ${f3(acqH10[t])} |`),
    '',
    '### Knowledge acquisition per type and frequency',
    '',
    `Circuit Hit@10: the target's first token among the top 10 with every edge outside the checkpoint's circuit zero-ablated (city prompts; chance about ${f2(Math.min(1, 10 / poolCity))}).`,
    '',
    `![circuit Hit@10](${files.hit10})`,
    '',
    `First-token accuracy: the whole model's top-1 next token is the target's first token, on the query prompts of all three relations (chance about ${f2(1 / meanPool)}).`,
    '',
    `![first-token accuracy](${files.accuracy})`,
    '',
    `| group | prompts | ${epochs.map((ep) => `acc. e${ep}`).join(' | ')} |`,
    `|---|---|${epochs.map(() => '---').join('|')}|`,
    ...m.acquisition.groups.map((g) => `| ${g} | ${m.acquisition.counts[g]} | ${m.acquisition.top1.map((row) => f2(row[g])).join(' | ')} |`),
    '',
  ];
}

/** The section's circuit topology and components. */
function topologyMarkdown(c: SeriesContext): string[] {
  const { e, epochs, files } = c;
  const ps = e.phaseShift;
  const L = e.checkpoints[0]?.edgeActivationByLayer.length ?? 0;
  const lensRows = e.checkpoints[0]?.analysis.lens.rows ?? [];
  const sourcesLabel = (src: number) => (src === 0 ? 'first' : src === e.checkpoints.length - 1 ? 'last' : ps && src === ps.index ? 'after shift' : ps && src === ps.index - 1 ? 'before shift' : '');
  return [
    '### Circuit topology',
    '',
    `![Jaccard to final](${files.jaccard})`,
    '',
    ps ? `Detected phase shift: epoch ${epochs[ps.index]} (step ${ps.step}, knee score ${f3(ps.score)}). Rule: ${ps.rule}` : 'Detected phase shift: none (the Jaccard-to-final curve has no knee).',
    '',
    'Transplants: the circuit of one checkpoint evaluated on every checkpoint (Hit@10, zero ablation; city prompts).',
    '',
    `| circuit from | ${epochs.map((ep) => `e${ep}`).join(' | ')} |`,
    `|---|${epochs.map(() => '---').join('|')}|`,
    `| each checkpoint's own | ${e.checkpoints.map((c) => f2(c.hit10)).join(' | ')} |`,
    ...e.transplant.sources.map((src, r) => `| epoch ${epochs[src]}${sourcesLabel(src) ? ` (${sourcesLabel(src)})` : ''} | ${e.transplant.hit10[r].map(f2).join(' | ')} |`),
    '',
    '### Components',
    '',
    `Edge activation ratio per parent layer (circuit edges over all edges leaving the layer; the input counts as layer 0). The heatmap leaves out the last layer, as the notebooks plot it, and puts the deepest shown layer at the top; the table has every layer:`,
    '',
    `![edge activation](${files.edgeActivation})`,
    '',
    `| parent layer | ${epochs.map((ep) => `e${ep}`).join(' | ')} |`,
    `|---|${epochs.map(() => '---').join('|')}|`,
    ...Array.from({ length: L }, (_, l) => `| ${l === 0 ? 'input + 0' : l} | ${e.checkpoints.map((c) => f2(c.edgeActivationByLayer[l])).join(' | ')} |`),
    '',
    'Logit lens: unembedding of the final norm of the residual stream before each layer (and after the last), mean 1-based rank of the target at the last position, log10 (blue = low rank = decodable; deepest at the top):',
    '',
    `![logit lens](${files.lens})`,
    '',
    `| row | ${epochs.map((ep) => `e${ep}`).join(' | ')} |`,
    `|---|${epochs.map(() => '---').join('|')}|`,
    ...lensRows.map((r, i) => `| ${r} | ${e.checkpoints.map((c) => f2(c.analysis.lens.meanRank[i])).join(' | ')} |`),
    '',
    'Head types (method spec §4, τ = 10) as shares of all circuit nodes:',
    '',
    `![head types](${files.heads})`,
    '',
  ];
}

function findingSection(title: string, rule: string, results: readonly FindingResult[], titles: Map<string, string>): string[] {
  const out = [`### ${title}`, '', `Rule: ${rule}`, ''];
  for (const r of results) out.push(`**${titles.get(r.series) ?? r.series}: ${r.verdict}.**`, '', ...r.lines, '');
  return out;
}

/** Writes report.md and the charts into outDir; returns the report path and the findings. */
export function writeLabReport(outDir: string, input: LabReportInput): { report: string; findings: Findings; files: string[] } {
  const findings = computeFindings(input.series, { full: input.full });
  const titles = new Map(input.series.map((s) => [s.id, s.title]));
  const summary = (label: string, rs: readonly FindingResult[], nominalNote = false) =>
    `| ${label} | ${input.series.map((s) => rs.find((r) => r.series === s.id)!.verdict + (nominalNote && s.typesNominal ? ' (its type comparison is nominal: a model trained from scratch knows no names beforehand)' : '')).join(' | ')} |`;
  const lines = [
    '# Circuitscope demo: how knowledge circuits form during training',
    '',
    ...input.preamble,
    '',
    ...(input.skipped?.length ? ['Skipped:', '', ...input.skipped.map((x) => `- ${x}`), ''] : []),
    '## Summary of the findings',
    '',
    `| finding | ${input.series.map((s) => s.id).join(' | ')} |`,
    `|---|${input.series.map(() => '---').join('|')}|`,
    summary('1. related knowledge is acquired faster; higher frequency gives better circuits', findings.knowledge, true),
    summary('2. phase shift from formation to optimization', findings.phaseShift),
    summary('3. deep-to-shallow', findings.deepToShallow),
    '',
    'Each verdict follows the rule stated under [Findings](#findings), applied to the figures of the sections below.' +
      (input.full ? ' These are the verdicts at the full profile: each series trained until its high-frequency accuracy plateaued and well past it (see each series\' "Training to the plateau"), with the statistics of finding 1 beside its rule.' : ''),
    '',
    ...input.series.flatMap((s) => seriesSection(s, outDir, input.full !== undefined)),
    '## Findings',
    '',
    ...findingSection('1. Knowledge related to existing knowledge is acquired faster; higher frequency gives better circuits', rules.knowledge, findings.knowledge, titles),
    ...(input.series.some((s) => s.typesNominal)
      ? [
          'Note: a model trained from scratch has no existing knowledge, so its "revised" entities (TinyStories first names) are not related to anything it knows; their type comparison tests only the names\' spelling and length. The paper\'s K_rel vs K_compl comparison is the continually pre-trained stories260K series.',
          '',
        ]
      : []),
    ...findingSection('2. Phase shift from formation to optimization', rules.phaseShift, findings.phaseShift, titles),
    ...findingSection('3. Deep-to-shallow', rules.deepToShallow, findings.deepToShallow, titles),
    ...(input.appendix ?? []),
  ];
  const report = path.join(outDir, 'report.md');
  writeFileAtomic(report, lines.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd() + '\n');
  const files = [
    report,
    ...input.series.flatMap((s) => [...Object.values(chartFiles(s.id)), ...(input.full && s.manifest.plateau ? [plateauChartFile(s.id)] : [])].map((f) => path.join(outDir, f))),
  ];
  return { report, findings, files };
}
