/** `circuitscope evolve`: circuits across the checkpoints of a run folder, one evolution or one per prompt group. */
import * as path from 'node:path';
import { defaultCacheDirName } from '../analysis/cache';
import { evolve as evolveRun, evolvePerGroup, type EvolveResult, type PerGroupEvolveResult } from '../analysis/evolve';
import { UserError } from '../errors';
import { common, discoverFlags, discoverHelp, discoverOptions, modelOptions, needCheckpoint, outFlag, promptOptions, required, runAnalysis, shown, type Command, type Values } from './command';

export const evolve: Command = {
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
    const out = outFlag(values, 'out', this.usage);
    const cacheDir = (values.cache as string | undefined) ?? path.join(path.resolve(runDir), defaultCacheDirName);
    const transplant = transplantFlag(values);
    const opts = { ...discoverOptions(values), promptsFile, template: values.template as string | undefined, cacheDir, model: modelOptions(values), transplant, group: values.group as string | undefined };
    if (values['per-group']) {
      // One circuit per prompt group at every checkpoint, as the paper's pipeline does.
      await runAnalysis(out, (signal, onProgress) => evolvePerGroup(runDir, { ...opts, signal, onProgress }), perGroupSummary);
    } else {
      await runAnalysis(out, (signal, onProgress) => evolveRun(runDir, { ...opts, signal, onProgress }), summary);
    }
  },
};

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
