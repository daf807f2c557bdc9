/** `circuitscope evaluate`: a circuit file evaluated on a checkpoint, by patching or zero ablation. */
import { discoverDefaults } from '../../shared/methods';
import { expectedShape, readCircuitFile } from '../circuits/circuitFile';
import { ablations, evaluateCircuit } from '../circuits/evaluate';
import { resampleSeed } from '../circuits/ablation';
import { interruptSignal } from '../util/progress';
import { common, intFlag, needCheckpoint, oneOf, openWorkloadOf, promptOptions, required, type Command } from './command';

export const evaluate: Command = {
  summary: 'Evaluate a circuit file on a checkpoint: faithfulness (patching, mean or resample ablation) or zero-ablation Hit@10',
  usage: `circuitscope evaluate <checkpoint> --circuit FILE --prompts FILE [--ablation ${ablations.join('|')}] [--seed S] [--json] [--batch-size B] [--template T] [--no-bos]`,
  options: { ...common, ...promptOptions, circuit: { type: 'string' }, ablation: { type: 'string' }, seed: { type: 'string' }, json: { type: 'boolean' }, 'batch-size': { type: 'string' } },
  async run(pos, values) {
    const dir = needCheckpoint(pos, this.usage);
    const circuitFile = required(values, 'circuit', this.usage);
    required(values, 'prompts', this.usage);
    const ablation = oneOf(values, 'ablation', ablations, 'patch');
    const seed = intFlag(values, 'seed', resampleSeed);
    const batchSize = intFlag(values, 'batch-size', discoverDefaults.batchSize);
    const w = await openWorkloadOf(values, dir);
    const { signal, dispose } = interruptSignal();
    try {
      const circuit = readCircuitFile(circuitFile, expectedShape(w.model.spec, w.model.checkpoint.dir));
      const sel = { edgeIn: circuit.data.edgeIn, nodeIn: circuit.data.nodeIn };
      const result = await evaluateCircuit(w.model, w.pairs, sel, { ablation, batchSize, seed, signal });
      if (values.json) process.stdout.write(JSON.stringify(result) + '\n');
      else for (const [k, v] of Object.entries(result)) if (!Array.isArray(v)) process.stdout.write(`${k}: ${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(4) : v}\n`);
    } finally {
      dispose();
      await w.model.dispose();
    }
  },
};
