/**
 * The `circuitscope` command line. Each command parses its own flags, prints results on stdout and
 * errors on stderr, and exits non-zero on failure. User errors (bad files, fields, prompts) print
 * their message alone; anything else is a bug and prints its stack.
 */
import * as path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { countIn } from '../shared/circuit';
import { checkCircuitFits, readCircuitFile, writeCircuitFile } from './circuits/circuitFile';
import { buildProvenance, discoverCircuit } from './circuits/discover';
import { evaluatePatching, evaluateZero } from './circuits/evaluate';
import { discoverDefaults, igConventions, methodNames, methodTable, metricKinds, selectionKinds } from '../shared/methods';
import { CancelledError, UserError } from './errors';
import { Model } from './model/runner';
import { headTypeProportions } from '../shared/analysis';
import { defaultCacheDirName } from './analysis/cache';
import { compareCheckpoints, evolve, promptGroups } from './analysis/evolve';
import { openWorkload } from './workload';
import { listRunCheckpoints } from './model/checkpoint';
import { analyzeHeads } from './analysis/heads';
import { logitLens } from './analysis/lens';
import { runDemo } from './report/demo';
import { writeFileAtomic } from './util/atomicWrite';
import { interruptSignal, StderrProgress } from './util/progress';

process.env.ORT_DISABLE_TELEMETRY ??= '1';

interface Command {
  readonly summary: string;
  readonly usage: string;
  /** More lines for --help. */
  readonly details?: string;
  readonly options: NonNullable<ParseArgsConfig['options']>;
  run(positionals: string[], values: Record<string, string | boolean | undefined>): Promise<void>;
}

const common = {
  help: { type: 'boolean', short: 'h' },
  threads: { type: 'string' },
  'no-bos': { type: 'boolean' },
} as const;

function intFlag(values: Record<string, unknown>, name: string, fallback: number): number {
  const v = values[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UserError(`--${name} must be a non-negative integer, got '${v}'`);
  return n;
}

function modelOptions(values: Record<string, unknown>) {
  return { threads: intFlag(values, 'threads', 0), prependBos: !values['no-bos'] };
}

function floatFlag(values: Record<string, unknown>, name: string): number | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UserError(`--${name} must be a number, got '${v}'`);
  return n;
}

function oneOf<T extends string>(values: Record<string, unknown>, name: string, allowed: readonly T[], fallback: T): T {
  const v = values[name];
  if (v === undefined) return fallback;
  if (!allowed.includes(v as T)) throw new UserError(`--${name} must be one of ${allowed.join(', ')}; got '${v}'`);
  return v as T;
}

function required(values: Record<string, unknown>, name: string, usage: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v === '') throw new UserError(`missing --${name}\nusage: ${usage}`);
  return v;
}

/** Loads a model and a tokenized prompt set. */
function modelAndPrompts(values: Record<string, unknown>, dir: string) {
  return openWorkload({ dir, promptsFile: values.prompts as string, template: values.template as string | undefined, model: modelOptions(values) });
}

const promptOptions = { prompts: { type: 'string' }, template: { type: 'string' } } as const;

const discoverFlags = {
  method: { type: 'string' },
  steps: { type: 'string' },
  'ig-convention': { type: 'string' },
  'top-n': { type: 'string' },
  metric: { type: 'string' },
  'batch-size': { type: 'string' },
} as const;

/** The methods and defaults of the discover options, for --help. */
function discoverHelp(): string {
  const d = discoverDefaults;
  return [
    'methods (--method):',
    ...methodTable.map((m) => `  ${m.name.padEnd(19)} ${m.description}${m.name === d.method ? ' (default)' : ''}${m.options.includes('steps') ? '; uses --steps' : ''}`),
    '',
    `defaults: --steps ${d.steps}, --batch-size ${d.batchSize}, --ig-convention ${d.igConvention}, --metric ${d.metric}, --selection ${d.selection}, ` +
      "--top-n: the paper's share of edges (8000 of GPT-2 small's 32,491)",
  ].join('\n');
}

function discoverOptions(values: Record<string, unknown>) {
  return {
    method: oneOf(values, 'method', methodNames, discoverDefaults.method),
    steps: intFlag(values, 'steps', discoverDefaults.steps),
    igConvention: oneOf(values, 'ig-convention', igConventions, discoverDefaults.igConvention),
    metric: oneOf(values, 'metric', metricKinds, discoverDefaults.metric),
    batchSize: intFlag(values, 'batch-size', discoverDefaults.batchSize),
    topN: values['top-n'] === undefined ? undefined : intFlag(values, 'top-n', 0),
  };
}

type OnProgress = (done: number, total: number, message: string) => void;

/**
 * Runs long work with progress on stderr and a clean Ctrl-C: `work` returns the summary for stdout;
 * a cancelled run prints `cancelledMessage`, writes nothing more and exits with 130.
 */
async function cancellable(cancelledMessage: string, work: (signal: AbortSignal, onProgress: OnProgress) => Promise<string>): Promise<void> {
  const progress = new StderrProgress();
  const { signal, dispose } = interruptSignal();
  try {
    const summary = await work(signal, (d, t, m) => progress.update(d, t, m));
    progress.done();
    process.stdout.write(summary + '\n');
  } catch (e) {
    if (e instanceof CancelledError || signal.aborted) {
      progress.done(cancelledMessage);
      process.exitCode = 130;
      return;
    }
    throw e;
  } finally {
    dispose();
  }
}

/** Runs a long analysis whose result is written atomically as JSON to `out`. */
function runAnalysis<R>(out: string, work: (signal: AbortSignal, onProgress: OnProgress) => Promise<R>, summary: (r: R) => string): Promise<void> {
  return cancellable(`cancelled; ${out} was not written`, async (signal, onProgress) => {
    const result = await work(signal, onProgress);
    writeFileAtomic(out, JSON.stringify(result, null, 1) + '\n');
    return `${summary(result)}\nwrote ${path.resolve(out)}`;
  });
}

function needCheckpoint(positionals: string[], usage: string): string {
  if (positionals.length < 1) throw new UserError(`missing <checkpoint>\nusage: ${usage}`);
  return positionals[0];
}

const commands: Record<string, Command> = {
  generate: {
    summary: 'Greedy generation from a prompt',
    usage: 'circuitscope generate <checkpoint> [--prompt TEXT] [--max-new-tokens N] [--no-bos] [--threads N]',
    options: { ...common, prompt: { type: 'string' }, 'max-new-tokens': { type: 'string' } },
    async run(pos, values) {
      const maxNew = intFlag(values, 'max-new-tokens', 64);
      const model = await Model.load(needCheckpoint(pos, this.usage), modelOptions(values));
      const ids = model.encodePrompt((values.prompt as string | undefined) ?? '');
      const out = await model.generate(ids, maxNew);
      process.stdout.write(model.tokenizer.decode(out) + '\n');
      await model.dispose();
    },
  },
  logits: {
    summary: 'Logits at the last position of a prompt',
    usage: 'circuitscope logits <checkpoint> --prompt TEXT [--json] [--top K] [--no-bos] [--threads N]',
    options: { ...common, prompt: { type: 'string' }, json: { type: 'boolean' }, top: { type: 'string' } },
    async run(pos, values) {
      if (values.prompt === undefined) throw new UserError(`missing --prompt\nusage: ${this.usage}`);
      const model = await Model.load(needCheckpoint(pos, this.usage), modelOptions(values));
      const ids = model.encodePrompt(values.prompt as string);
      const logits = await model.lastLogits([ids]);
      if (values.json) {
        process.stdout.write(JSON.stringify({ tokens: ids, logits: Array.from(logits) }) + '\n');
      } else {
        const k = intFlag(values, 'top', 10);
        const order = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a]).slice(0, k);
        process.stdout.write(`tokens: ${JSON.stringify(ids)}\n`);
        for (const id of order) process.stdout.write(`${logits[id].toFixed(4).padStart(10)}  ${id}\t${JSON.stringify(model.tokenizer.tokenText(id))}\n`);
      }
      await model.dispose();
    },
  },
  discover: {
    summary: 'Find the circuit of a prompt set by edge attribution, and evaluate it',
    usage:
      `circuitscope discover <checkpoint> --prompts FILE --out FILE [--method ${methodNames.join('|')}] ` +
      `[--steps K] [--ig-convention ${igConventions.join('|')}] [--top-n N | --selection greedy --top-n N | --selection threshold --threshold T] ` +
      `[--metric ${metricKinds.join('|')}] [--batch-size B] [--curve] [--template T] [--no-bos] [--threads N]`,
    details: discoverHelp(),
    options: {
      ...common,
      ...promptOptions,
      out: { type: 'string' },
      method: { type: 'string' },
      steps: { type: 'string' },
      'ig-convention': { type: 'string' },
      'top-n': { type: 'string' },
      selection: { type: 'string' },
      threshold: { type: 'string' },
      metric: { type: 'string' },
      'batch-size': { type: 'string' },
      curve: { type: 'boolean' },
    },
    async run(pos, values) {
      const dir = needCheckpoint(pos, this.usage);
      required(values, 'prompts', this.usage);
      const out = required(values, 'out', this.usage);
      const opts = {
        ...discoverOptions(values),
        selection: oneOf(values, 'selection', selectionKinds, discoverDefaults.selection),
        threshold: floatFlag(values, 'threshold'),
        curve: values.curve === true,
      };
      const method = opts.method;
      if (opts.selection === 'threshold' && opts.threshold === undefined) throw new UserError('--selection threshold needs --threshold T');
      const { model, set, pairs } = await modelAndPrompts(values, dir);
      try {
        await cancellable(`cancelled; ${out} was not written`, async (signal, onProgress) => {
          onProgress(0, 1, `${method} on ${pairs.length} prompts (${model.spec.architecture})`);
          const r = await discoverCircuit(model, pairs, { ...opts, signal, onProgress });
          const p = buildProvenance(model, set, pairs, opts, r);
          writeCircuitFile(out, r.attribution.graph, { cfg: r.attribution.graph.cfg, scores: r.attribution.scores, edgeIn: r.selection.edgeIn, nodeIn: r.selection.nodeIn }, p);
          return [
            `circuit: ${p.edges} edges, ${p.nodes} nodes (${p.selection.kind} ${p.selection.value} of ${r.attribution.graph.edges.length} edges, pruned)`,
            `metric ${p.metric}: clean ${p.baselines.clean.toFixed(4)}, corrupted ${p.baselines.corrupted.toFixed(4)}, circuit ${p.circuitPerformance.toFixed(4)}`,
            `faithfulness: ${p.faithfulness.toFixed(4)}`,
            `Hit@10 (zero ablation): ${p.hit10.toFixed(4)}, mean target probability ${p.meanTargetProb.toFixed(4)}`,
            `edge entropy: ${p.edgeEntropy.toFixed(4)}`,
            ...(r.curve ? ['faithfulness curve (N: edges, faithfulness):', ...r.curve.map((c) => `  ${c.topN}: ${c.edges}, ${c.faithfulness.toFixed(4)}`)] : []),
            `time: attribution ${p.timings.attributionSeconds.toFixed(1)} s, evaluation ${p.timings.evaluationSeconds.toFixed(1)} s`,
            `wrote ${path.resolve(out)}`,
          ].join('\n');
        });
      } finally {
        await model.dispose();
      }
    },
  },
  compare: {
    summary: 'Compare the circuits of two checkpoints (discovering what is not cached yet)',
    usage: 'circuitscope compare <checkpointA> <checkpointB> --prompts FILE --out FILE [--cache DIR] [discover options]',
    details: discoverHelp(),
    options: { ...common, ...promptOptions, ...discoverFlags, out: { type: 'string' }, cache: { type: 'string' } },
    async run(pos, values) {
      if (pos.length < 2) throw new UserError(`give two checkpoints\nusage: ${this.usage}`);
      const promptsFile = required(values, 'prompts', this.usage);
      const out = required(values, 'out', this.usage);
      const cacheDir = (values.cache as string | undefined) ?? path.join(path.dirname(path.resolve(out)), defaultCacheDirName);
      await runAnalysis(
        out,
        (signal, onProgress) =>
          compareCheckpoints(pos[0], pos[1], { ...discoverOptions(values), promptsFile, template: values.template as string | undefined, cacheDir, model: modelOptions(values), signal, onProgress }),
        (r: Awaited<ReturnType<typeof compareCheckpoints>>) =>
          [
            `A ${r.a.dir}: ${r.a.edges} edges, faithfulness ${r.a.faithfulness.toFixed(4)}`,
            `B ${r.b.dir}: ${r.b.edges} edges, faithfulness ${r.b.faithfulness.toFixed(4)}`,
            `node Jaccard ${r.comparison.nodeJaccard.toFixed(4)}, edge Jaccard ${r.comparison.edgeJaccard.toFixed(4)}`,
            `edges added ${r.comparison.addedCount}, removed ${r.comparison.removedCount}, sign-flipped ${r.comparison.signFlippedCount}`,
            `score correlation: Pearson ${r.comparison.pearson.toFixed(4)}, Kendall tau-b ${r.comparison.kendallTauB.toFixed(4)}`,
            `Δ faithfulness (B − A) at equal size: ${r.comparison.faithfulnessDelta?.toFixed(4)}`,
          ].join('\n'),
      );
    },
  },
  evolve: {
    summary: 'Circuits across the checkpoints of a run folder: Jaccard to final, phase shift, heads, logit lens, transplants',
    usage: 'circuitscope evolve <runFolder> --prompts FILE --out FILE [--cache DIR] [--transplant i,j,...] [--group NAME | --per-group] [discover options]',
    details: discoverHelp(),
    options: {
      ...common,
      ...promptOptions,
      ...discoverFlags,
      out: { type: 'string' },
      cache: { type: 'string' },
      transplant: { type: 'string' },
      group: { type: 'string' },
      'per-group': { type: 'boolean' },
    },
    async run(pos, values) {
      const runDir = needCheckpoint(pos, this.usage);
      const promptsFile = required(values, 'prompts', this.usage);
      const out = required(values, 'out', this.usage);
      const cacheDir = (values.cache as string | undefined) ?? path.join(path.resolve(runDir), defaultCacheDirName);
      const transplant =
        values.transplant === undefined
          ? undefined
          : String(values.transplant)
              .split(',')
              .map((x) => {
                const n = Number(x);
                if (!Number.isInteger(n) || n < 0) throw new UserError(`--transplant takes checkpoint indices such as 0,3,7; got '${values.transplant}'`);
                return n;
              });
      const base = { ...discoverOptions(values), promptsFile, template: values.template as string | undefined, cacheDir, model: modelOptions(values), transplant, group: values.group as string | undefined };
      if (values['per-group']) {
        // One circuit per prompt group at every checkpoint, as the paper's pipeline does.
        await runAnalysis(
          out,
          async (signal, onProgress) => {
            const run = listRunCheckpoints(runDir);
            if (run.length === 0) throw new UserError(`${runDir}: not a run folder (no checkpoint-N folders)`);
            const groups = await promptGroups(run[0].dir, base);
            const byGroup: Record<string, Awaited<ReturnType<typeof evolve>>> = {};
            for (const [i, g] of groups.entries()) {
              byGroup[g] = await evolve(runDir, { ...base, group: g, signal, onProgress: (d, t, m) => onProgress(i * t + d, groups.length * t, `${g}: ${m}`) });
            }
            return { run: path.resolve(runDir), groups: byGroup };
          },
          (r: { groups: Record<string, Awaited<ReturnType<typeof evolve>>> }) =>
            Object.entries(r.groups)
              .map(([g, e]) => `${g}: Hit@10 ${e.checkpoints.map((c) => c.hit10.toFixed(2)).join(' → ')}; phase shift ${e.phaseShift ? `at step ${e.phaseShift.step}` : 'none'}`)
              .join('\n'),
        );
        return;
      }
      await runAnalysis(
        out,
        (signal, onProgress) => evolve(runDir, { ...base, signal, onProgress }),
        (r: Awaited<ReturnType<typeof evolve>>) =>
          [
            `${r.checkpoints.length} checkpoints (${r.cacheHits} from the cache) in ${r.seconds.toFixed(1)} s`,
            ...r.checkpoints.map((c, i) => `  step ${String(c.step).padStart(6)}: faithfulness ${c.faithfulness.toFixed(3)}, Hit@10 ${c.hit10.toFixed(3)}, edge Jaccard to final ${r.jaccardToFinal.edge[i].toFixed(3)}`),
            r.phaseShift ? `phase shift (formation → optimization) at step ${r.phaseShift.step}: ${r.phaseShift.rule}` : 'phase shift: none detected (the Jaccard-to-final curve has no knee)',
          ].join('\n'),
      );
    },
  },
  heads: {
    summary: 'Specialized heads of a circuit (mover, relation, mixture) and the logit lens',
    usage: 'circuitscope heads <checkpoint> --circuit FILE --prompts FILE [--json] [--out FILE] [--formula paper|per-source] [--tau T] [--all-heads] [--template T] [--no-bos]',
    options: {
      ...common,
      ...promptOptions,
      circuit: { type: 'string' },
      json: { type: 'boolean' },
      out: { type: 'string' },
      formula: { type: 'string' },
      tau: { type: 'string' },
      'all-heads': { type: 'boolean' },
    },
    async run(pos, values) {
      const dir = needCheckpoint(pos, this.usage);
      const circuitFile = required(values, 'circuit', this.usage);
      required(values, 'prompts', this.usage);
      const formula = oneOf(values, 'formula', ['paper', 'per-source'] as const, 'paper');
      const tau = floatFlag(values, 'tau') ?? 10;
      const circuit = readCircuitFile(circuitFile);
      const { model, pairs } = await modelAndPrompts(values, dir);
      try {
        checkCircuitFits(circuit, model.spec, circuitFile, model.checkpoint.dir);
        const inCircuit = circuit.graph.nodes.filter((n) => circuit.data.nodeIn.get(n));
        const heads = values['all-heads'] ? undefined : inCircuit.filter((n) => n.startsWith('a'));
        const analysis = await analyzeHeads(model, pairs, { heads, formula, tau });
        const lens = await logitLens(model, pairs);
        const roles = new Map(analysis.heads.filter((h) => inCircuit.includes(h.node)).map((h) => [h.node, h.role]));
        const counts = { mover: 0, relation: 0, mixture: 0 };
        for (const r of roles.values()) counts[r]++;
        // The method's proportions divide by every circuit node (input, MLPs and logits included).
        const proportions = headTypeProportions(roles, inCircuit.length);
        const result = { checkpoint: model.checkpoint.dir, circuit: circuitFile, circuitNodes: inCircuit.length, counts, proportions, ...analysis, lens };
        const text = JSON.stringify(result, null, 1) + '\n';
        if (values.out) writeFileAtomic(values.out as string, text);
        if (values.json) process.stdout.write(text);
        else {
          process.stdout.write(`heads in the circuit: ${analysis.heads.length} (mover ${counts.mover}, relation ${counts.relation}, mixture ${counts.mixture}; proportions of ${inCircuit.length} circuit nodes)\n`);
          for (const h of analysis.heads) {
            process.stdout.write(
              `${h.node.padEnd(8)} ${h.role.padEnd(8)} R=${h.ratio.toFixed(3).padStart(9)}  attn subj ${h.attnSubj.toFixed(2)} rel ${h.attnRel.toFixed(2)}  promotes ${h.promotes.map((t) => JSON.stringify(t.token)).join(' ')}\n`,
            );
          }
          process.stdout.write(`logit lens (mean 1-based target rank at the last position): ${lens.rows.map((r, i) => `${r} ${lens.meanRank[i].toFixed(1)}`).join(', ')}\n`);
        }
      } finally {
        await model.dispose();
      }
    },
  },
  demo: {
    summary: 'The demo lab: train or reuse two checkpoint series, follow their circuits, and report the paper\'s findings',
    usage: 'circuitscope demo [--out DIR] [--work DIR] [--threads N] [--seed S]',
    options: { ...common, out: { type: 'string' }, work: { type: 'string' }, seed: { type: 'string' } },
    async run(_pos, values) {
      const outDir = (values.out as string | undefined) ?? 'demo-output';
      const workDir = (values.work as string | undefined) ?? path.join(outDir, 'work');
      await cancellable('cancelled; the report was not written (finished checkpoints stay in the work folder, but a series is only reused once complete)', async (signal, onProgress) => {
        const r = await runDemo({ outDir, workDir, threads: intFlag(values, 'threads', 0), seed: intFlag(values, 'seed', 20), signal, onProgress });
        const verdicts = (k: keyof typeof r.findings) => r.findings[k].map((f) => `${f.series} ${f.verdict}`).join('; ');
        return [
          ...r.series.map((s) => `${s.name}: ${s.reused ? 'reused' : 'trained'} (${s.manifest.checkpoints.length} checkpoints) in ${s.seconds.toFixed(1)} s`),
          `finding 1 (related knowledge faster, frequency): ${verdicts('knowledge')}`,
          `finding 2 (phase shift): ${verdicts('phaseShift')}`,
          `finding 3 (deep-to-shallow): ${verdicts('deepToShallow')}`,
          `time: ${Object.entries(r.timings).map(([k, v]) => `${k} ${v} s`).join(', ')}`,
          `wrote ${r.report}`,
        ].join('\n');
      });
    },
  },
  evaluate: {
    summary: 'Evaluate a circuit file on a checkpoint: patching faithfulness or zero-ablation Hit@10',
    usage: 'circuitscope evaluate <checkpoint> --circuit FILE --prompts FILE [--ablation patch|zero] [--json] [--batch-size B] [--template T] [--no-bos]',
    options: { ...common, ...promptOptions, circuit: { type: 'string' }, ablation: { type: 'string' }, json: { type: 'boolean' }, 'batch-size': { type: 'string' } },
    async run(pos, values) {
      const dir = needCheckpoint(pos, this.usage);
      const circuitFile = required(values, 'circuit', this.usage);
      required(values, 'prompts', this.usage);
      const ablation = oneOf(values, 'ablation', ['patch', 'zero'] as const, 'patch');
      const circuit = readCircuitFile(circuitFile);
      const { model, pairs } = await modelAndPrompts(values, dir);
      const { signal, dispose } = interruptSignal();
      try {
        checkCircuitFits(circuit, model.spec, circuitFile, model.checkpoint.dir);
        const sel = { edgeIn: circuit.data.edgeIn, nodeIn: circuit.data.nodeIn };
        const batchSize = intFlag(values, 'batch-size', discoverDefaults.batchSize);
        let result: Record<string, unknown>;
        if (ablation === 'patch') {
          const [e] = await evaluatePatching(model, pairs, [sel], { batchSize, signal });
          result = { ablation, edges: e.edges, nodes: e.nodes, clean: e.baselines.clean, corrupted: e.baselines.corrupted, circuit: e.circuit, faithfulness: e.faithfulness };
        } else {
          const z = await evaluateZero(model, pairs, sel, { batchSize, signal });
          result = { ablation, edges: countIn(sel.edgeIn), hit10: z.hit10, meanTargetProb: z.meanProb, ranks: z.ranks, probs: z.probs };
        }
        if (values.json) process.stdout.write(JSON.stringify(result) + '\n');
        else for (const [k, v] of Object.entries(result)) if (!Array.isArray(v)) process.stdout.write(`${k}: ${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(4) : v}\n`);
      } finally {
        dispose();
        await model.dispose();
      }
    },
  },
};

function mainHelp(): string {
  const lines = ['usage: circuitscope <command> [options]', '', 'commands:'];
  for (const [name, c] of Object.entries(commands)) lines.push(`  ${name.padEnd(10)} ${c.summary}`);
  lines.push('', "Run 'circuitscope <command> --help' for a command's options.");
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(mainHelp() + '\n');
    return name === undefined ? 2 : 0;
  }
  const cmd = commands[name];
  if (!cmd) {
    process.stderr.write(`circuitscope: unknown command '${name}'\n\n${mainHelp()}\n`);
    return 2;
  }
  try {
    const { values, positionals } = parseArgs({ args: rest, options: cmd.options, allowPositionals: true, strict: true });
    if (values.help) {
      process.stdout.write(`${cmd.summary}\n\nusage: ${cmd.usage}\n${cmd.details ? `\n${cmd.details}\n` : ''}`);
      return 0;
    }
    await cmd.run(positionals, values as Record<string, string | boolean | undefined>);
    // A command that was cancelled sets its own exit code (130).
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    const err = e as Error & { code?: string };
    if (e instanceof UserError || err.code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`circuitscope ${name}: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`circuitscope ${name}: internal error: ${err.stack ?? err.message}\n`);
    return 1;
  }
}

if (require.main === module) {
  // A reader that stops early (`| head`) is not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
