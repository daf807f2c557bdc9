/** `circuitscope generate`: greedy generation from a prompt. */
import { Model } from '../model/runner';
import { common, intFlag, modelOptions, needCheckpoint, type Command } from './command';

export const generate: Command = {
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
};
