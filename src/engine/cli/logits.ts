/** `circuitscope logits`: the logits at the last position of a prompt, as JSON or the top K. */
import { UserError } from '../errors';
import { Model } from '../model/runner';
import { common, intFlag, modelOptions, needCheckpoint, type Command } from './command';

export const logits: Command = {
  summary: 'Logits at the last position of a prompt',
  usage: 'circuitscope logits <checkpoint> --prompt TEXT [--json] [--top K] [--no-bos] [--threads N]',
  options: { ...common, prompt: { type: 'string' }, json: { type: 'boolean' }, top: { type: 'string' } },
  async run(pos, values) {
    if (values.prompt === undefined) throw new UserError(`missing --prompt (usage: ${this.usage})`);
    const k = intFlag(values, 'top', 10);
    const model = await Model.load(needCheckpoint(pos, this.usage), modelOptions(values));
    const ids = model.encodePrompt(values.prompt as string);
    const logits = await model.lastLogits([ids]);
    if (values.json) {
      process.stdout.write(JSON.stringify({ tokens: ids, logits: Array.from(logits) }) + '\n');
    } else {
      const order = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a]).slice(0, k);
      process.stdout.write(`tokens: ${JSON.stringify(ids)}\n`);
      for (const id of order) process.stdout.write(`${logits[id].toFixed(4).padStart(10)}  ${id}\t${JSON.stringify(model.tokenizer.tokenText(id))}\n`);
    }
    await model.dispose();
  },
};
