/**
 * The `circuitscope` command line. Each command parses its own flags, prints results on stdout and
 * errors on stderr, and exits non-zero on failure. User errors (bad files, fields, prompts) print
 * their message alone; anything else is a bug and prints its stack.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UserError } from './model/errors';
import { Model } from './model/runner';

process.env.ORT_DISABLE_TELEMETRY ??= '1';

interface Command {
  readonly summary: string;
  readonly usage: string;
  readonly options: NonNullable<ParseArgsConfig['options']>;
  run(positionals: string[], values: Record<string, string | boolean | undefined>): Promise<void>;
}

const common = {
  help: { type: 'boolean', short: 'h' },
  threads: { type: 'string' },
  'no-bos': { type: 'boolean' },
} as const;

function intFlag(values: Record<string, unknown>, name: string, fallback: number): number {
  const v = values[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UserError(`--${name} must be a non-negative integer, got '${v}'`);
  return n;
}

function modelOptions(values: Record<string, unknown>) {
  return { threads: intFlag(values, 'threads', 0), prependBos: !values['no-bos'] };
}

function needCheckpoint(positionals: string[], usage: string): string {
  if (positionals.length < 1) throw new UserError(`missing <checkpoint>\nusage: ${usage}`);
  return positionals[0];
}

const commands: Record<string, Command> = {
  generate: {
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
  },
  logits: {
    summary: 'Logits at the last position of a prompt',
    usage: 'circuitscope logits <checkpoint> --prompt TEXT [--json] [--top K] [--no-bos] [--threads N]',
    options: { ...common, prompt: { type: 'string' }, json: { type: 'boolean' }, top: { type: 'string' } },
    async run(pos, values) {
      if (values.prompt === undefined) throw new UserError(`missing --prompt\nusage: ${this.usage}`);
      const model = await Model.load(needCheckpoint(pos, this.usage), modelOptions(values));
      const ids = model.encodePrompt(values.prompt as string);
      const logits = await model.lastLogits([ids]);
      if (values.json) {
        process.stdout.write(JSON.stringify({ tokens: ids, logits: Array.from(logits) }) + '\n');
      } else {
        const k = intFlag(values, 'top', 10);
        const order = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a]).slice(0, k);
        process.stdout.write(`tokens: ${JSON.stringify(ids)}\n`);
        for (const id of order) process.stdout.write(`${logits[id].toFixed(4).padStart(10)}  ${id}\t${JSON.stringify(model.tokenizer.tokenText(id))}\n`);
      }
      await model.dispose();
    },
  },
};

function mainHelp(): string {
  const lines = ['usage: circuitscope <command> [options]', '', 'commands:'];
  for (const [name, c] of Object.entries(commands)) lines.push(`  ${name.padEnd(10)} ${c.summary}`);
  lines.push('', "Run 'circuitscope <command> --help' for a command's options.");
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(mainHelp() + '\n');
    return name === undefined ? 2 : 0;
  }
  const cmd = commands[name];
  if (!cmd) {
    process.stderr.write(`circuitscope: unknown command '${name}'\n\n${mainHelp()}\n`);
    return 2;
  }
  try {
    const { values, positionals } = parseArgs({ args: rest, options: cmd.options, allowPositionals: true, strict: true });
    if (values.help) {
      process.stdout.write(`${cmd.summary}\n\nusage: ${cmd.usage}\n`);
      return 0;
    }
    await cmd.run(positionals, values as Record<string, string | boolean | undefined>);
    return 0;
  } catch (e) {
    const err = e as Error & { code?: string };
    if (e instanceof UserError || err.code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`circuitscope ${name}: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`circuitscope ${name}: internal error: ${err.stack ?? err.message}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
