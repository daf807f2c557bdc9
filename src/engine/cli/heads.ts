/** `circuitscope heads`: the specialized heads of a circuit (mover, relation, mixture) and the logit lens. */
import { circuitHeads, type CircuitHeadReport } from '../analysis/heads';
import { expectedShape, readCircuitFile } from '../circuits/circuitFile';
import { writeFileAtomic } from '../util/atomicWrite';
import { common, floatFlag, needCheckpoint, oneOf, openWorkloadOf, outFlag, promptOptions, required, type Command } from './command';

export const heads: Command = {
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
    const tau = floatFlag(values, 'tau', { positive: true }) ?? 10;
    const out = outFlag(values, 'out');
    const w = await openWorkloadOf(values, dir);
    try {
      const circuit = readCircuitFile(circuitFile, expectedShape(w.model.spec, w.model.checkpoint.dir));
      const report = await circuitHeads(w.model, w.pairs, circuit, circuitFile, { formula, tau, allHeads: values['all-heads'] === true });
      const text = JSON.stringify(report, null, 1) + '\n';
      if (out) writeFileAtomic(out, text);
      process.stdout.write(values.json ? text : summary(report));
    } finally {
      await w.model.dispose();
    }
  },
};

function summary(r: CircuitHeadReport): string {
  const { counts } = r;
  return [
    r.subjects.note,
    `heads in the circuit: ${r.heads.length} (mover ${counts.mover}, relation ${counts.relation}, mixture ${counts.mixture}; proportions of ${r.circuitNodes} circuit nodes)`,
    ...r.heads.map(
      (h) =>
        `${h.node.padEnd(8)} ${h.role.padEnd(8)} R=${h.ratio.toFixed(3).padStart(9)}  attn subj ${h.attnSubj.toFixed(2)} rel ${h.attnRel.toFixed(2)}  promotes ${h.promotes.map((t) => JSON.stringify(t.token)).join(' ')}`,
    ),
    `logit lens (mean 1-based target rank at the last position): ${r.lens.rows.map((row, i) => `${row} ${r.lens.meanRank[i].toFixed(1)}`).join(', ')}`,
  ]
    .map((line) => line + '\n')
    .join('');
}
