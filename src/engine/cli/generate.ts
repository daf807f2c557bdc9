/** `circuitscope generate`: greedy generation from a prompt. */
import { UserError } from '../errors';
import { Model } from '../model/runner';
import { common, intFlag, modelOptions, needCheckpoint, type Command } from './command';

export const generate: Command = {
  summary: 'Greedy generation from a prompt',
  usage: 'circuitscope generate <checkpoint> [--prompt TEXT] [--max-new-tokens N] [--no-bos] [--threads N]',
  options: { ...common, prompt: { type: 'string' }, 'max-new-tokens': { type: 'string' } },
  async run(pos, values) {
    const maxNew = intFlag(values, 'max-new-tokens', 64);
    const model = await Model.load(needCheckpoint(pos, this.usage), modelOptions(values));
    try {
      const ids = model.encodePrompt((values.prompt as string | undefined) ?? '');
      if (ids.length >= model.spec.maxPositions) {
        throw new UserError(
          `--prompt is ${ids.length} tokens${model.options.prependBos === false ? '' : ' with BOS'}, and the model's context is ${model.spec.maxPositions} (config.json max positions): there is no room for a new token; shorten the prompt`,
        );
      }
      const out = await model.generate(ids, maxNew);
      process.stdout.write(model.tokenizer.decode(out) + '\n');
    } finally {
      await model.dispose();
    }
  },
};
