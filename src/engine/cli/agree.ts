/** `circuitscope agree`: how well each attribution method's edge scores match exact patching, per component type. */
import { methodNames, type Method } from '../../shared/methods';
import { agreementMarkdown, agreementTable } from '../circuits/agree';
import { UserError } from '../errors';
import { writeFileAtomic } from '../util/atomicWrite';
import { cancellable, common, intFlag, needCheckpoint, openWorkloadOf, outFlag, promptOptions, required, type Command } from './command';

export const agree: Command = {
  summary: 'Correlation of attribution methods with exact patching, per component type (input, heads, MLPs)',
  usage: `circuitscope agree <checkpoint> --prompts FILE [--methods eap,eap-ig-inputs,...] [--steps K] [--top-n N] [--batch-size B] [--json] [--out FILE] [--template T] [--no-bos]`,
  options: { ...common, ...promptOptions, methods: { type: 'string' }, steps: { type: 'string' }, 'top-n': { type: 'string' }, 'batch-size': { type: 'string' }, json: { type: 'boolean' }, out: { type: 'string' } },
  async run(pos, values) {
    const dir = needCheckpoint(pos, this.usage);
    required(values, 'prompts', this.usage);
    const out = outFlag(values, 'out');
    const methods = String(values.methods ?? 'eap,eap-ig-inputs').split(',').map((m) => m.trim());
    for (const m of methods) if (!(methodNames as readonly string[]).includes(m) || m === 'exact') throw new UserError(`--methods: '${m}' is not a method to compare with exact patching; use ${methodNames.filter((x) => x !== 'exact').join(', ')}`);
    const steps = intFlag(values, 'steps', 5);
    const batchSize = intFlag(values, 'batch-size', 32);
    const topN = values['top-n'] === undefined ? undefined : intFlag(values, 'top-n', 1);
    const w = await openWorkloadOf(values, dir);
    try {
      await cancellable('cancelled', async (signal, onProgress) => {
        const t = await agreementTable(w.model, w.pairs, methods as Method[], { steps, batchSize, topN, signal, onProgress });
        const text = values.json ? JSON.stringify(t, null, 1) + '\n' : agreementMarkdown(t);
        if (out) writeFileAtomic(out, text);
        return text.trimEnd();
      });
    } finally {
      await w.model.dispose();
    }
  },
};
