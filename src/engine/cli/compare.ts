/** `circuitscope compare`: the circuits of two checkpoints compared, from the cache or discovered. */
import * as path from 'node:path';
import { defaultCacheDirName } from '../analysis/cache';
import { compareCheckpoints, type CompareResult } from '../analysis/evolve';
import { UserError } from '../errors';
import { common, discoverFlags, discoverHelp, discoverOptions, modelOptions, outFlag, promptOptions, required, runAnalysis, type Command } from './command';

export const compare: Command = {
  summary: 'Compare the circuits of two checkpoints (discovering what is not cached yet)',
  usage: 'circuitscope compare <checkpointA> <checkpointB> --prompts FILE --out FILE [--cache DIR] [discover options]',
  details: discoverHelp(),
  options: { ...common, ...promptOptions, ...discoverFlags, out: { type: 'string' }, cache: { type: 'string' } },
  async run(pos, values) {
    if (pos.length < 2) throw new UserError(`give two checkpoints (usage: ${this.usage})`);
    const promptsFile = required(values, 'prompts', this.usage);
    const out = outFlag(values, 'out', this.usage);
    const cacheDir = (values.cache as string | undefined) ?? path.join(path.dirname(path.resolve(out)), defaultCacheDirName);
    const opts = { ...discoverOptions(values), promptsFile, template: values.template as string | undefined, cacheDir, model: modelOptions(values) };
    await runAnalysis(out, (signal, onProgress) => compareCheckpoints(pos[0], pos[1], { ...opts, signal, onProgress }), summary);
  },
};

function summary(r: CompareResult): string {
  return [
    `A ${r.a.dir}: ${r.a.edges} edges, faithfulness ${r.a.faithfulness.toFixed(4)}`,
    `B ${r.b.dir}: ${r.b.edges} edges, faithfulness ${r.b.faithfulness.toFixed(4)}`,
    `node Jaccard ${r.comparison.nodeJaccard.toFixed(4)}, edge Jaccard ${r.comparison.edgeJaccard.toFixed(4)}`,
    `edges added ${r.comparison.addedCount}, removed ${r.comparison.removedCount}, sign-flipped ${r.comparison.signFlippedCount}`,
    `score correlation: Pearson ${r.comparison.pearson.toFixed(4)}, Kendall tau-b ${r.comparison.kendallTauB.toFixed(4)}`,
    `Δ faithfulness (B − A) at equal size: ${r.comparison.faithfulnessDelta?.toFixed(4)}`,
  ].join('\n');
}
