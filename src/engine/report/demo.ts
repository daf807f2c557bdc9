/**
 * `circuitscope demo`: the main job on the demo checkpoint that every checkout has beside it, the
 * real pretrained stories260K in ../shared: discover the circuit of a TinyStories fact set, evaluate
 * it, trace faithfulness against circuit size, and write a Markdown report with SVG charts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeCircuitFile } from '../circuits/circuitFile';
import { buildProvenance, discoverCircuit } from '../circuits/discover';
import { evaluatePatching } from '../circuits/evaluate';
import { readPromptSet, tokenizePairs } from '../circuits/prompts';
import { UserError } from '../model/errors';
import { Model } from '../model/runner';
import { writeFileAtomic } from '../util/atomicWrite';
import { lineChart } from './svg';

/** The repository (or installed package) root: the folder above dist/. */
export function packageRoot(): string {
  return path.resolve(__dirname, '..');
}

export function sharedDir(): string {
  return process.env.CIRCUITSCOPE_SHARED ?? path.resolve(packageRoot(), '../shared');
}

export interface DemoOptions {
  readonly outDir: string;
  readonly threads?: number;
  readonly onProgress?: (done: number, total: number, message: string) => void;
  readonly signal?: AbortSignal;
}

export async function runDemo(opts: DemoOptions): Promise<string> {
  const ckpt = path.join(sharedDir(), 'models/stories260K');
  if (!fs.existsSync(path.join(ckpt, 'config.json'))) {
    throw new UserError(`${ckpt}: the demo checkpoint is missing; the demo expects the shared folder beside the repository (or set CIRCUITSCOPE_SHARED)`);
  }
  const promptsFile = path.join(packageRoot(), 'demo/prompts/stories260k.jsonl');
  const model = await Model.load(ckpt, { threads: opts.threads });
  try {
    const set = readPromptSet(promptsFile);
    const pairs = tokenizePairs(model.tokenizer, set, model.checkpoint.bosId);
    const dopts = { method: 'eap-ig-inputs' as const, steps: 5, curve: true, onProgress: opts.onProgress, signal: opts.signal };
    const r = await discoverCircuit(model, pairs, dopts);
    const g = r.attribution.graph;
    const out = path.resolve(opts.outDir);
    fs.mkdirSync(out, { recursive: true });
    const provenance = buildProvenance(model, set, pairs, dopts, r);
    writeCircuitFile(path.join(out, 'stories260k-circuit.json'), g, { cfg: g.cfg, scores: r.attribution.scores, edgeIn: r.selection.edgeIn, nodeIn: r.selection.nodeIn }, provenance);

    // The same circuit on each prompt group on its own.
    const groups = [...new Set(pairs.map((p) => p.pair.group ?? 'all'))];
    const perGroup = [];
    for (const grp of groups) {
      const sub = pairs.filter((p) => (p.pair.group ?? 'all') === grp);
      const [e] = await evaluatePatching(model, sub, [r.selection], { signal: opts.signal });
      perGroup.push({ group: grp, prompts: sub.length, faithfulness: e.faithfulness, clean: e.baselines.clean, corrupted: e.baselines.corrupted });
    }
    const curve = r.curve ?? [];
    writeFileAtomic(
      path.join(out, 'faithfulness.svg'),
      lineChart({
        title: 'stories260K: faithfulness of the top-N circuit',
        xLabel: 'edges in the pruned circuit (log scale)',
        yLabel: 'faithfulness',
        logX: true,
        yRange: [Math.min(0, ...curve.map((c) => c.faithfulness)), 1],
        series: [{ name: 'EAP-IG, 5 steps', points: curve.filter((c) => c.edges > 0).map((c) => [c.edges, c.faithfulness] as [number, number]) }],
        markers: [{ x: Math.max(1, provenance.edges), label: `N = ${provenance.selection.value}` }],
      }),
    );
    const nodesIn = g.nodes.filter((n) => r.selection.nodeIn.get(n));
    const topEdges = Array.from(g.edges.keys())
      .filter((i) => r.selection.edgeIn[i])
      .sort((a, b) => Math.abs(r.attribution.scores[b]) - Math.abs(r.attribution.scores[a]))
      .slice(0, 10);
    const f4 = (x: number) => (Object.is(Math.round(x * 1e4), -0) ? 0 : x).toFixed(4);
    const report = [
      '# Circuitscope demo: a knowledge circuit in stories260K',
      '',
      `Checkpoint: \`${ckpt}\` (${model.spec.architecture}, ${model.spec.nLayers} layers × ${model.spec.nHeads} heads, ${model.spec.nKvHeads} key/value heads).`,
      `Prompts: \`${path.relative(packageRoot(), promptsFile)}\`, ${pairs.length} TinyStories-style facts (object and name recall) with same-length corruptions.`,
      `Method: EAP-IG over input embeddings, 5 steps (α = k/5, k = 1..5, as in the paper), loss = −mean logit difference.`,
      '',
      '## The circuit',
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
      `| time (attribution + evaluation) | ${provenance.timings.attributionSeconds.toFixed(1)} s + ${provenance.timings.evaluationSeconds.toFixed(1)} s |`,
      '',
      '## Faithfulness per prompt group',
      '',
      '| group | prompts | clean LD | corrupted LD | faithfulness |',
      '|---|---|---|---|---|',
      ...perGroup.map((p) => `| ${p.group} | ${p.prompts} | ${f4(p.clean)} | ${f4(p.corrupted)} | ${f4(p.faithfulness)} |`),
      '',
      '## Faithfulness against circuit size',
      '',
      '![faithfulness curve](faithfulness.svg)',
      '',
      '| N | edges after pruning | faithfulness |',
      '|---|---|---|',
      ...curve.map((c) => `| ${c.topN} | ${c.edges} | ${f4(c.faithfulness)} |`),
      '',
      '## Strongest edges in the circuit',
      '',
      '| edge | score |',
      '|---|---|',
      ...topEdges.map((i) => `| \`${g.edges[i].name}\` | ${r.attribution.scores[i].toExponential(3)} |`),
      '',
      `Nodes in the circuit: ${nodesIn.map((n) => `\`${n}\``).join(', ')}.`,
      '',
      'The circuit file `stories260k-circuit.json` is EAP-IG v2 JSON (load it in Python with',
      '`eap.graph.Graph.from_json`), with provenance under the key `circuitscope`.',
      '',
    ].join('\n');
    writeFileAtomic(path.join(out, 'report.md'), report);
    return path.join(out, 'report.md');
  } finally {
    await model.dispose();
  }
}
