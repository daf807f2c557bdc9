/** `circuitscope evolve`: circuits across the checkpoints of a run folder, one evolution or one per prompt group. */
import * as path from 'node:path';
import { defaultCacheDirName } from '../analysis/cache';
import { evolve as evolveRun, evolvePerGroup, evolveShard, shardStages, type EvolveResult, type PerGroupEvolveResult, type Shard, type ShardResult } from '../analysis/evolve';
import { UserError } from '../errors';
import { writeFileAtomic } from '../util/atomicWrite';
import { cancellable, common, discoverFlags, discoverHelp, discoverOptions, modelOptions, needCheckpoint, oneOf, outFlag, promptOptions, required, runAnalysis, shown, type Command, type Values } from './command';

export const evolve: Command = {
  summary: 'Circuits across the checkpoints of a run folder: Jaccard to final, phase shift, heads, logit lens, transplants',
  usage:
    'circuitscope evolve <runFolder> --prompts FILE --out FILE [--cache DIR] [--transplant i,j,...] [--group NAME | --per-group] [--shard i/N [--stage circuits|transplants] | --assemble] [discover options]',
  details: [
    'across machines (a Slurm job array, a Kubernetes Indexed Job; templates in docs/cluster/):',
    '  --shard i/N        compute only checkpoints k with k mod N = i (i from 0) into the shared --cache; --out optional (a shard report)',
    '  --stage transplants  after every shard\'s circuits: the shard\'s share of the transplant evaluations',
    '  --assemble         read every circuit from --cache and discover nothing (a missing one is an error), then write --out',
    '',
    discoverHelp(),
  ].join('\n'),
  options: {
    ...common,
    ...promptOptions,
    ...discoverFlags,
    out: { type: 'string' },
    cache: { type: 'string' },
    transplant: { type: 'string' },
    group: { type: 'string' },
    'per-group': { type: 'boolean' },
    shard: { type: 'string' },
    stage: { type: 'string' },
    assemble: { type: 'boolean' },
  },
  async run(pos, values) {
    const runDir = needCheckpoint(pos, this.usage);
    const promptsFile = required(values, 'prompts', this.usage);
    const shard = shardFlag(values);
    if (shard && values.assemble) throw new UserError('--shard and --assemble go to different runs: every shard first, then one --assemble');
    if (values.stage !== undefined && !shard) throw new UserError('--stage needs --shard i/N');
    // A shard's --out (its report) is optional; an evolution's is required.
    const out = shard ? outFlag(values, 'out') : outFlag(values, 'out', this.usage);
    const outFile = out ?? '';
    const cacheDir = (values.cache as string | undefined) ?? path.join(path.resolve(runDir), defaultCacheDirName);
    const transplant = transplantFlag(values);
    const opts = {
      ...discoverOptions(values),
      promptsFile,
      template: values.template as string | undefined,
      cacheDir,
      model: modelOptions(values),
      transplant,
      group: values.group as string | undefined,
      cachedOnly: values.assemble === true,
    };
    if (shard) {
      const stage = oneOf(values, 'stage', shardStages, 'circuits');
      await cancellable(`cancelled; shard ${shard.index}/${shard.count} stopped (what it finished is cached)`, async (signal, onProgress) => {
        const r = await evolveShard(runDir, { ...opts, shard, stage, perGroup: values['per-group'] === true, signal, onProgress });
        if (out) writeFileAtomic(out, JSON.stringify(r, null, 1) + '\n');
        return shardSummary(r) + (out ? `\nwrote ${path.resolve(out)}` : '');
      });
    } else if (values['per-group']) {
      // One circuit per prompt group at every checkpoint, as the paper's pipeline does.
      await runAnalysis(outFile, (signal, onProgress) => evolvePerGroup(runDir, { ...opts, signal, onProgress }), perGroupSummary);
    } else {
      await runAnalysis(outFile, (signal, onProgress) => evolveRun(runDir, { ...opts, signal, onProgress }), summary);
    }
  },
};

/** --shard i/N: this process's share, i from 0 to N − 1 (a Slurm array task id, a Kubernetes completion index). */
export function shardFlag(values: Values): Shard | undefined {
  const v = values.shard;
  if (v === undefined) return undefined;
  const m = typeof v === 'string' ? /^\s*(\d{1,6})\s*\/\s*(\d{1,6})\s*$/.exec(v) : null;
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!(count >= 1 && index >= 0 && index < count)) throw new UserError(`--shard takes i/N with 0 ≤ i < N (for example 0/4 … 3/4); got ${shown(v)}`);
  return { index, count };
}

function shardSummary(r: ShardResult): string {
  const computed = r.checkpoints.filter((c) => !c.fromCache).length;
  const what = r.stage === 'circuits' ? 'circuits' : 'transplant evaluations';
  return `shard ${r.shard} (${what}): ${r.checkpoints.length} checkpoint(s), ${computed} computed, ${r.checkpoints.length - computed} already cached, in ${r.seconds.toFixed(1)} s; cache ${r.cacheDir}`;
}

/** --transplant i,j,...: checkpoint indices. */
function transplantFlag(values: Values): number[] | undefined {
  if (values.transplant === undefined) return undefined;
  return String(values.transplant)
    .split(',')
    .map((x) => {
      const n = Number(x);
      if (!Number.isInteger(n) || n < 0) throw new UserError(`--transplant takes checkpoint indices such as 0,3,7; got ${shown(values.transplant)}`);
      return n;
    });
}

function summary(r: EvolveResult): string {
  return [
    `${r.checkpoints.length} checkpoints (${r.cacheHits} from the cache) in ${r.seconds.toFixed(1)} s`,
    ...r.checkpoints.map((c, i) => `  step ${String(c.step).padStart(6)}: faithfulness ${c.faithfulness.toFixed(3)}, Hit@10 ${c.hit10.toFixed(3)}, edge Jaccard to final ${r.jaccardToFinal.edge[i].toFixed(3)}`),
    r.phaseShift ? `phase shift (formation → optimization) at step ${r.phaseShift.step}: ${r.phaseShift.rule}` : 'phase shift: none detected (the Jaccard-to-final curve has no knee)',
  ].join('\n');
}

function perGroupSummary(r: PerGroupEvolveResult): string {
  return Object.entries(r.groups)
    .map(([g, e]) => `${g}: Hit@10 ${e.checkpoints.map((c) => c.hit10.toFixed(2)).join(' → ')}; phase shift ${e.phaseShift ? `at step ${e.phaseShift.step}` : 'none'}`)
    .join('\n');
}
