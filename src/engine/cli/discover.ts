/** `circuitscope discover`: the circuit of a prompt set, evaluated, written as a circuit file. */
import * as path from 'node:path';
import { circuitLevels, discoverDefaults, igConventions, methodNames, metricKinds, selectionKinds } from '../../shared/methods';
import { discoverWorkload, type DiscoveredCircuit } from '../circuits/discover';
import { ablations, resampleSeed } from '../circuits/ablation';
import { defaultFaithfulnessThreshold, defaultSpotCheckEdges } from '../../shared/trust';
import { UserError } from '../errors';
import { writeFileAtomic } from '../util/atomicWrite';
import { cancellable, common, intFlag, discoverFlags, discoverHelp, discoverOptions, floatFlag, needCheckpoint, oneOf, openWorkloadOf, outFlag, promptOptions, required, type Command } from './command';

export const discover: Command = {
  summary: 'Find the circuit of a prompt set by edge attribution, and evaluate it',
  usage:
    `circuitscope discover <checkpoint> --prompts FILE --out FILE [--method ${methodNames.join('|')}] ` +
    `[--steps K] [--ig-convention ${igConventions.join('|')}] [--top-n N | --selection greedy --top-n N | --selection threshold --threshold T | --level node [--node-top-n N]] ` +
    `[--metric ${metricKinds.join('|')}] [--batch-size B] [--curve] [--mib] [--ablation ${ablations.join('|')}] [--seed S] ` +
    `[--spot-check K] [--faithfulness-threshold F] [--template T] [--no-bos] [--threads N]`,
  details: discoverHelp(),
  options: { ...common, ...promptOptions, ...discoverFlags, out: { type: 'string' }, selection: { type: 'string' }, level: { type: 'string' }, 'node-top-n': { type: 'string' }, threshold: { type: 'string' }, curve: { type: 'boolean' }, mib: { type: 'boolean' }, ablation: { type: 'string' }, seed: { type: 'string' }, 'spot-check': { type: 'string' }, 'faithfulness-threshold': { type: 'string' } },
  async run(pos, values) {
    const dir = needCheckpoint(pos, this.usage);
    required(values, 'prompts', this.usage);
    const out = outFlag(values, 'out', this.usage);
    const opts = {
      ...discoverOptions(values),
      selection: oneOf(values, 'selection', selectionKinds, discoverDefaults.selection),
      level: oneOf(values, 'level', circuitLevels, discoverDefaults.level),
      nodeTopN: intFlag(values, 'node-top-n', discoverDefaults.nodeTopN),
      threshold: floatFlag(values, 'threshold'),
      curve: values.curve === true,
      mib: values.mib === true,
      ablation: oneOf(values, 'ablation', ablations, 'patch'),
      seed: intFlag(values, 'seed', resampleSeed),
      spotCheck: intFlag(values, 'spot-check', defaultSpotCheckEdges),
      faithfulnessThreshold: floatFlag(values, 'faithfulness-threshold') ?? defaultFaithfulnessThreshold,
    };
    if (opts.selection === 'threshold' && opts.threshold === undefined) throw new UserError('--selection threshold needs --threshold T');
    if (opts.level === 'node' && (values.selection !== undefined || values['top-n'] !== undefined || values.threshold !== undefined)) {
      throw new UserError('--level node selects the top nodes by node score: give their number with --node-top-n N, not --selection, --top-n or --threshold');
    }
    if (opts.level !== 'node' && values['node-top-n'] !== undefined) throw new UserError('--node-top-n N counts nodes: it needs --level node');
    const w = await openWorkloadOf(values, dir);
    try {
      await cancellable(`cancelled; ${out} was not written`, async (signal, onProgress) => {
        const ex = w.model.execution;
        onProgress(0, 1, `${opts.method} on ${w.pairs.length} prompts (${w.model.spec.architecture}${ex.mode === 'streamed' ? `, streamed in ${ex.stages.length} stages` : ''})`);
        const d = await discoverWorkload(w, { ...opts, signal, onProgress });
        writeFileAtomic(out, d.text);
        return `${summary(d)}\nwrote ${path.resolve(out)}`;
      });
    } finally {
      await w.model.dispose();
    }
  },
};

function summary({ result: r, provenance: p }: DiscoveredCircuit): string {
  return [
    p.level === 'node'
      ? `circuit: ${p.edges} edges, ${p.nodes} nodes (top ${p.selection.value} of ${r.attribution.graph.nodes.length - 1} nodes by node score, with the edges between them)`
      : `circuit: ${p.edges} edges, ${p.nodes} nodes (${p.selection.kind} ${p.selection.value} of ${r.attribution.graph.edges.length} edges, pruned)`,
    `metric ${p.metric}: clean ${p.baselines.clean.toFixed(4)}, corrupted ${p.baselines.corrupted.toFixed(4)}, circuit ${p.circuitPerformance.toFixed(4)}`,
    `faithfulness: ${p.faithfulness.toFixed(4)}${p.ablation ? ` (${p.ablation} ablation; baseline: the empty circuit)` : ''}`,
    `Hit@10 (zero ablation): ${p.hit10.toFixed(4)}, mean target probability ${p.meanTargetProb.toFixed(4)}`,
    `edge entropy: ${p.edgeEntropy.toFixed(4)}`,
    ...(r.curve ? ['faithfulness curve (N: edges, faithfulness):', ...r.curve.map((c) => `  ${c.topN}: ${c.edges}, ${c.faithfulness.toFixed(4)}`)] : []),
    ...(p.mib
      ? [
          `MIB (${p.mib.ablation}): CPR ${p.mib.cpr.toFixed(4)} (signed scores), CMD ${p.mib.cmd.toFixed(4)} (absolute scores)`,
          ...p.mib.shares.map((x, i) => `  ${(100 * x).toString().padStart(5)}%: n ${p.mib!.signed.topN[i]}, signed ${p.mib!.signed.faithfulness[i].toFixed(4)}, absolute ${p.mib!.absolute.faithfulness[i].toFixed(4)}`),
        ]
      : []),
    ...trustLines(p.trust),
    `time: attribution ${p.timings.attributionSeconds.toFixed(1)} s, evaluation ${p.timings.evaluationSeconds.toFixed(1)} s`,
  ].join('\n');
}

function trustLines(t: DiscoveredCircuit['provenance']['trust']): string[] {
  if (!t) return [];
  const s = t.spotCheck;
  return [
    ...(s ? [`spot check (top ${s.k} edges vs exact one-edge patching): Pearson ${s.pearson.toFixed(4)}, Spearman ${s.spearman.toFixed(4)}`] : []),
    `connectivity: ${t.connectivity.connected ? 'input reaches logits' : 'input does not reach logits'}; ${t.connectivity.strayEdges.length} edges off every input → logits path`,
    ...t.warnings.map((w) => `warning: ${w}`),
  ];
}
