/**
 * `circuitscope demo`: the demo lab. It makes (or reuses) two checkpoint series, runs the evolution
 * analysis over each, and writes a Markdown report with SVG charts that says, for each of the paper's
 * three findings, whether this miniature reproduces it:
 * (a) a small GPT-2 trained from scratch on the synthetic biographies (always);
 * (b) stories260K from ../shared continually pre-trained on biographies of known and invented names
 *     (when ../shared is there);
 * and, at the end, the single-checkpoint circuit of a TinyStories fact set in stories260K.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defaultCacheDirName } from '../../engine/analysis/cache';
import { evolve, type EvolveResult } from '../../engine/analysis/evolve';
import { discoverWorkload, type DiscoveredCircuit } from '../../engine/circuits/discover';
import { evaluatePatching } from '../../engine/circuits/evaluate';
import { groupOf, groupsOf, openWorkload, type Workload } from '../../engine/workload';
import { discoverDefaults } from '../../shared/methods';
import { fullProfile, makeGpt2Series, makeStoriesSeries, readLossHistory, resolveThreads, type DemoProfile, type Gpt2SeriesOptions, type SeriesResult, type StoriesSeriesOptions } from '../demoLab';
import { UserError } from '../../engine/errors';
import { writeFileAtomic } from '../../engine/util/atomicWrite';
import { writeLabReport, type Findings, type SeriesReportInput } from './labReport';
import { lineChart } from './svg';

/** The file in the work folder that names the report (relative to the work folder); the extension reads it. */
export const demoReportPointer = 'demo-report.json';

/** The repository (or installed package) root: the folder above dist/. */
export function packageRoot(): string {
  return path.resolve(__dirname, '..');
}

export function sharedDir(): string {
  return process.env.CIRCUITSCOPE_SHARED ?? path.resolve(packageRoot(), '../shared');
}

export interface CircuitDemoOptions {
  readonly outDir: string;
  readonly threads?: number;
  readonly onProgress?: (done: number, total: number, message: string) => void;
  readonly signal?: AbortSignal;
}

/** What the single-checkpoint circuit demo produced. */
export interface CircuitDemoResult {
  /** The report section in Markdown, free of timings and absolute paths. */
  readonly markdown: string[];
  /** Files written into outDir. */
  readonly files: string[];
  readonly attributionSeconds: number;
  readonly evaluationSeconds: number;
}

/**
 * The single-checkpoint demo: discovers, evaluates and traces the circuit of the TinyStories fact set
 * in stories260K, writes faithfulness.svg and stories260k-circuit.json into outDir, and returns its
 * report section.
 */
export async function runCircuitDemo(opts: CircuitDemoOptions): Promise<CircuitDemoResult> {
  const ckpt = path.join(sharedDir(), 'models/stories260K');
  if (!fs.existsSync(path.join(ckpt, 'config.json'))) {
    throw new UserError(`${ckpt}: the demo checkpoint is missing; the demo expects the shared folder beside the repository (or set CIRCUITSCOPE_SHARED)`);
  }
  const promptsFile = path.join(packageRoot(), 'demo/prompts/stories260k.jsonl');
  const w = await openWorkload({ dir: ckpt, promptsFile, model: { threads: opts.threads } });
  try {
    const dopts = { method: discoverDefaults.method, steps: discoverDefaults.steps, curve: true, onProgress: opts.onProgress, signal: opts.signal };
    const d = await discoverWorkload(w, dopts);
    const out = path.resolve(opts.outDir);
    fs.mkdirSync(out, { recursive: true });
    const circuitFile = path.join(out, 'stories260k-circuit.json');
    writeFileAtomic(circuitFile, d.text);
    // The same circuit on each prompt group on its own.
    const perGroup: GroupFigures[] = [];
    for (const group of groupsOf(w.pairs)) {
      const sub = w.pairs.filter((p) => groupOf(p) === group);
      const [e] = await evaluatePatching(w.model, sub, [d.result.selection], { signal: opts.signal });
      perGroup.push({ group, prompts: sub.length, faithfulness: e.faithfulness, clean: e.baselines.clean, corrupted: e.baselines.corrupted });
    }
    const chartFile = path.join(out, 'faithfulness.svg');
    writeFileAtomic(chartFile, faithfulnessChart(d));
    return {
      markdown: circuitSection(w, d, perGroup, ckpt, promptsFile),
      files: [circuitFile, chartFile],
      attributionSeconds: d.provenance.timings.attributionSeconds,
      evaluationSeconds: d.provenance.timings.evaluationSeconds,
    };
  } finally {
    await w.model.dispose();
  }
}

interface GroupFigures {
  readonly group: string;
  readonly prompts: number;
  readonly faithfulness: number;
  readonly clean: number;
  readonly corrupted: number;
}

function faithfulnessChart(d: DiscoveredCircuit): string {
  const curve = d.result.curve ?? [];
  return lineChart({
    title: 'stories260K: faithfulness of the top-N circuit',
    xLabel: 'edges in the pruned circuit (log scale)',
    yLabel: 'faithfulness',
    logX: true,
    yRange: [Math.min(0, ...curve.map((c) => c.faithfulness)), 1],
    series: [{ name: 'EAP-IG, 5 steps', points: curve.filter((c) => c.edges > 0).map((c) => [c.edges, c.faithfulness] as [number, number]) }],
    markers: [{ x: Math.max(1, d.provenance.edges), label: `N = ${d.provenance.selection.value}` }],
  });
}

/** The report section of the single circuit, free of timings and absolute paths. */
function circuitSection(w: Workload, d: DiscoveredCircuit, perGroup: readonly GroupFigures[], ckpt: string, promptsFile: string): string[] {
  const { result: r, provenance } = d;
  const g = r.attribution.graph;
  const curve = r.curve ?? [];
  const spec = w.model.spec;
  const nodesIn = g.nodes.filter((n) => r.selection.nodeIn.get(n));
  const topEdges = Array.from(g.edges.keys())
    .filter((i) => r.selection.edgeIn[i])
    .sort((a, b) => Math.abs(r.attribution.scores[b]) - Math.abs(r.attribution.scores[a]))
    .slice(0, 10);
  const f4 = (x: number) => (Object.is(Math.round(x * 1e4), -0) ? 0 : x).toFixed(4);
  return [
    '## A single circuit in stories260K',
    '',
    `Checkpoint: \`${path.relative(packageRoot(), ckpt)}\` (${spec.architecture}, ${spec.nLayers} layers × ${spec.nHeads} heads, ${spec.nKvHeads} key/value heads), as pretrained.`,
    `Prompts: \`${path.relative(packageRoot(), promptsFile)}\`, ${w.pairs.length} TinyStories-style facts (object and name recall) with same-length corruptions.`,
    `Method: EAP-IG over input embeddings, 5 steps (α = k/5, k = 1..5, as in the paper), loss = −mean logit difference.`,
    '',
    `| figure | value |`,
    `|---|---|`,
    `| edges in the graph | ${g.edges.length} |`,
    `| selection | top ${provenance.selection.value} by \\|score\\| (the paper's share of GPT-2 small's edges), pruned |`,
    `| circuit edges / nodes | ${provenance.edges} / ${provenance.nodes} |`,
    `| clean / corrupted logit difference | ${f4(provenance.baselines.clean)} / ${f4(provenance.baselines.corrupted)} |`,
    `| circuit logit difference (patching) | ${f4(provenance.circuitPerformance)} |`,
    `| faithfulness | ${f4(provenance.faithfulness)} |`,
    `| Hit@10 with the rest zero-ablated | ${f4(provenance.hit10)} |`,
    `| edge entropy | ${f4(provenance.edgeEntropy)} |`,
    '',
    'Faithfulness per prompt group:',
    '',
    '| group | prompts | clean LD | corrupted LD | faithfulness |',
    '|---|---|---|---|---|',
    ...perGroup.map((p) => `| ${p.group} | ${p.prompts} | ${f4(p.clean)} | ${f4(p.corrupted)} | ${f4(p.faithfulness)} |`),
    '',
    '![faithfulness curve](faithfulness.svg)',
    '',
    '| N | edges after pruning | faithfulness |',
    '|---|---|---|',
    ...curve.map((c) => `| ${c.topN} | ${c.edges} | ${f4(c.faithfulness)} |`),
    '',
    'Strongest edges in the circuit:',
    '',
    '| edge | score |',
    '|---|---|',
    ...topEdges.map((i) => `| \`${g.edges[i].name}\` | ${r.attribution.scores[i].toExponential(3)} |`),
    '',
    `Nodes in the circuit: ${nodesIn.map((n) => `\`${n}\``).join(', ')}.`,
    '',
    'The circuit file `stories260k-circuit.json` is EAP-IG v2 JSON (load it in Python with',
    '`eap.graph.Graph.from_json`), with provenance under the key `circuitscope` (which records timings and',
    'absolute paths, so unlike the report it differs between runs).',
    '',
  ];
}

export interface DemoOptions {
  readonly outDir: string;
  /** Where the series are made or reused. Default `<outDir>/work`. */
  readonly workDir?: string;
  /** onnxruntime intra-op threads; 0 or absent: one per core. Bit-identical series need the same count. */
  readonly threads?: number;
  /** The seed of both series. Default 20. */
  readonly seed?: number;
  /**
   * 'default' (minutes: a fixed number of epochs) or 'full' (`fullProfile`: more entities, each series
   * trained until its high-frequency accuracy plateaus and well past it, statistics in the report).
   * Overrides in `gpt2` and `stories` apply on top of the profile.
   */
  readonly profile?: DemoProfile;
  /** Overrides of the GPT-2 series' sizes (tests use tiny ones). */
  readonly gpt2?: Omit<Gpt2SeriesOptions, 'seed' | 'threads' | 'onProgress' | 'signal'>;
  /** Overrides of the stories260K series' sizes, or false to skip it. */
  readonly stories?: Omit<StoriesSeriesOptions, 'seed' | 'threads' | 'onProgress' | 'signal' | 'baseModel'> | false;
  /** Run the single-checkpoint circuit section. Default: when ../shared has stories260K. */
  readonly circuit?: boolean;
  /** Evolution settings: batch size (default 32) and top-N (default: the paper's share of edges). */
  readonly evolve?: { readonly batchSize?: number; readonly topN?: number };
  readonly onProgress?: (done: number, total: number, message: string) => void;
  readonly signal?: AbortSignal;
}

export interface DemoResult {
  readonly report: string;
  readonly findings: Findings;
  /** Every file written into outDir. */
  readonly files: string[];
  readonly series: SeriesResult[];
  readonly evolutions: EvolveResult[];
  /** Seconds per phase, also written to `<outDir>/timings.json`. */
  readonly timings: Record<string, number>;
}

const seriesText: Record<string, { title: string; about: (r: SeriesResult) => string[]; typesNominal: boolean }> = {
  'gpt2-synthetic': {
    title: 'Series (a): a small GPT-2 trained from scratch on synthetic biographies',
    typesNominal: true,
    about: (r) => {
      const st = r.manifest.settings as { model: { nLayer: number; nHead: number; nEmbd: number }; data: { vocabSize: number }; training: { batchSize: number; blockSize: number; learningRate: number } };
      return [
        `GPT-2 architecture, ${st.model.nLayer} layers × ${st.model.nHead} heads, d_model ${st.model.nEmbd}, randomly initialized, with a byte-level BPE tokenizer of ${st.data.vocabSize} tokens trained on the corpus. ` +
          `Trained with AdamW (β 0.9/0.95, weight decay 0.1, constant learning rate ${st.training.learningRate}), ${st.training.batchSize} blocks of ${st.training.blockSize} tokens per step, documents packed without splitting. ` +
          `Entities are "new" (invented two-word names) and "revised" (TinyStories first names); each has round(Exp(λ)) biographies of one sentence per relation (city, company, major).`,
        `Run folder: \`${path.basename(r.runDir)}/\` in the work folder (checkpoints, tokenizer, dataset, \`demo-manifest.json\`).`,
      ];
    },
  },
  'stories260k-cpt': {
    title: 'Series (b): stories260K continually pre-trained on new facts',
    typesNominal: false,
    about: (r) => {
      const st = r.manifest.settings as { training: { batchSize: number; blockSize: number; learningRate: number } };
      return [
        'The pretrained stories260K (Llama architecture, 5 layers × 8 heads, 4 key/value heads, d_model 64, 512-token vocabulary) continually pre-trained on biographies of ' +
          '"revised" entities, whose first names are TinyStories characters the model knows (knowledge related to existing knowledge, K_rel), and "new" entities with invented names (completely new knowledge, K_compl). ' +
          `AdamW, constant learning rate ${st.training.learningRate}, ${st.training.batchSize} blocks of ${st.training.blockSize} tokens per step. Attribute values are chosen to have distinct first tokens under its tokenizer, which leaves ${r.manifest.dataset.poolSizes.city} cities, ${r.manifest.dataset.poolSizes.company} companies and ${r.manifest.dataset.poolSizes.major} majors.`,
        `Run folder: \`${path.basename(r.runDir)}/\` in the work folder, made at run time from ../shared and never committed.`,
      ];
    },
  },
};

/** The demo lab: series, evolutions, the report. */
export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const out = path.resolve(opts.outDir);
  const threads = resolveThreads(opts.threads ?? 0);
  const seed = opts.seed ?? 20;
  const progress = opts.onProgress ?? (() => undefined);
  const timings: Record<string, number> = {};
  const timed = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await f();
    } finally {
      timings[name] = Math.round((performance.now() - t0) / 100) / 10;
    }
  };
  const t0 = performance.now();
  fs.mkdirSync(out, { recursive: true });
  const base = path.join(sharedDir(), 'models/stories260K');
  const haveBase = fs.existsSync(path.join(base, 'config.json'));
  const skipped: string[] = [];
  const series = await makeSeries(opts, { seed, threads, haveBase, base, timed, skipped });
  const evolutions: EvolveResult[] = [];
  for (const s of series) {
    const e = await timed(`evolve ${s.name}`, () =>
      evolve(s.runDir, {
        method: discoverDefaults.method,
        steps: discoverDefaults.steps,
        batchSize: opts.evolve?.batchSize ?? 32,
        topN: opts.evolve?.topN,
        promptsFile: s.promptsFile,
        cacheDir: path.join(s.runDir, defaultCacheDirName),
        model: { threads },
        signal: opts.signal,
        onProgress: (d, t, m) => progress(d, t, `evolve ${s.name}: ${m}`),
      }),
    );
    evolutions.push(e);
  }

  let appendix: string[] | undefined;
  const extraFiles: string[] = [];
  if (opts.circuit ?? haveBase) {
    const c = await timed('single circuit stories260K', () => runCircuitDemo({ outDir: out, threads, onProgress: (d, t, m) => progress(d, t, `stories260K circuit: ${m}`), signal: opts.signal }));
    appendix = c.markdown;
    extraFiles.push(...c.files);
  } else if (!haveBase) skipped.push('the single-checkpoint stories260K circuit: ../shared/models/stories260K is not there.');

  const inputs: SeriesReportInput[] = series.map((s, i) => ({
    id: s.name,
    title: seriesText[s.name].title,
    about: seriesText[s.name].about(s),
    manifest: s.manifest,
    evolve: evolutions[i],
    loss: readLossHistory(s.runDir),
    typesNominal: seriesText[s.name].typesNominal,
  }));
  const full = opts.profile === 'full';
  const { report, findings, files } = writeLabReport(out, { series: inputs, preamble: preamble(seed, threads, full), appendix, skipped, ...(full ? { full: { seed } } : {}) });
  // Where the report is, for the extension's tree (a demo run's "Demo report" item), relative to the work folder.
  const work = path.resolve(opts.workDir ?? path.join(out, 'work'));
  writeFileAtomic(path.join(work, demoReportPointer), JSON.stringify({ report: path.relative(work, report) }) + '\n');
  timings.total = Math.round((performance.now() - t0) / 100) / 10;
  const timingsFile = path.join(out, 'timings.json');
  writeFileAtomic(
    timingsFile,
    JSON.stringify({ ...(full ? { profile: 'full' } : {}), seconds: timings, reused: Object.fromEntries(series.map((s) => [s.name, s.reused])), evolveCacheHits: Object.fromEntries(series.map((s, i) => [s.name, evolutions[i].cacheHits])), threads, seed }, null, 1) + '\n',
  );
  return { report, findings, files: [...files, ...extraFiles, timingsFile], series, evolutions, timings };
}

/** Series (a), and (b) when the base model is there: trained, or reused when their settings match. */
async function makeSeries(
  opts: DemoOptions,
  c: {
    seed: number;
    threads: number;
    haveBase: boolean;
    base: string;
    timed: <T>(name: string, f: () => Promise<T>) => Promise<T>;
    skipped: string[];
  },
): Promise<SeriesResult[]> {
  const work = path.resolve(opts.workDir ?? path.join(path.resolve(opts.outDir), 'work'));
  const common = { seed: c.seed, threads: c.threads, onProgress: opts.onProgress, signal: opts.signal };
  const series: SeriesResult[] = [];
  const profile = opts.profile === 'full' ? fullProfile : undefined;
  series.push(await c.timed('series gpt2-synthetic', () => makeGpt2Series(work, { ...profile?.gpt2, ...opts.gpt2, ...common })));
  if (opts.stories === false) return series;
  if (c.haveBase) {
    const s = await c.timed('series stories260k-cpt', () => makeStoriesSeries(work, { ...profile?.stories, ...(opts.stories || {}), ...common, baseModel: c.base }));
    if (s) series.push(s);
  } else c.skipped.push(`series (b), stories260K continually pre-trained: the base model ${path.relative(packageRoot(), c.base)} is not there.`);
  return series;
}

function preamble(seed: number, threads: number, full: boolean): string[] {
  if (full) {
    return [
      'This report follows Ou et al. 2025 (*How Do LLMs Acquire New Knowledge? A Knowledge Circuits Perspective on Continual Pre-Training*) in miniature, at the **full profile**: ' +
        'each series is trained until the first-token accuracy of its high-frequency groups plateaus and well past that point, with checkpoints dense before the plateau and sparse after it, ' +
        'on about twice the default profile\'s entities, and each checkpoint is analysed with EAP-IG circuits (method spec §5). ' +
        "It states for each of the paper's three findings whether the miniature reproduces it, by the same rules as the default profile, written out under [Findings](#findings); a finding that does not reproduce is reported as such.",
      '',
      `Made by \`circuitscope demo --profile full --seed ${seed} --threads ${threads}\`. The same seed and thread count give byte-identical checkpoints and this report again; ` +
        'the series are kept in the work folder (default `demo-output-full/work`) and reused while their settings match.',
    ];
  }
  return [
    'This report follows Ou et al. 2025 (*How Do LLMs Acquire New Knowledge? A Knowledge Circuits Perspective on Continual Pre-Training*) in miniature: ' +
      'checkpoint series small enough to train and analyse on a laptop CPU in minutes, each analysed with EAP-IG circuits per checkpoint (method spec §5). ' +
      'It states for each of the paper\'s three findings whether the miniature reproduces it, by a rule written out under [Findings](#findings); a finding that does not reproduce is reported as such.',
    '',
    `Made by \`npm run demo\` (\`circuitscope demo --seed ${seed} --threads ${threads}\`). The same seed and thread count give byte-identical checkpoints and this report again; ` +
      'the series are kept in the work folder (default `demo-output/work`) and reused while their settings match.',
  ];
}
