/**
 * The `circuitscope` command line: the dispatcher. Each command lives in its own module under cli/,
 * parses its own flags, prints results on stdout and errors on stderr, and exits non-zero on failure.
 * User errors (bad files, fields, prompts) print their message alone; anything else is a bug and
 * prints its stack.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { UserError } from './errors';
import { engineOptionsHelp, type Command, type Values } from './cli/command';
import { agree } from './cli/agree';
import { compare } from './cli/compare';
import { discover } from './cli/discover';
import { evaluate } from './cli/evaluate';
import { evolve } from './cli/evolve';
import { exportCommand } from './cli/export';
import { generate } from './cli/generate';
import { heads } from './cli/heads';
import { logits } from './cli/logits';
import { testCommand } from './cli/test';

process.env.ORT_DISABLE_TELEMETRY ??= '1';

/** The engine's commands, in the order --help lists them (src/cli.ts adds the demo lab's). */
export const engineCommands: Record<string, Command> = { generate, logits, discover, compare, evolve, heads, evaluate, agree, export: exportCommand, test: testCommand };

/** A message on one line: Node's and V8's messages can span several. */
function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, ' ').trim();
}

function mainHelp(commands: Record<string, Command>): string {
  const lines = ['usage: circuitscope <command> [options]', '', 'commands:'];
  for (const [name, c] of Object.entries(commands)) lines.push(`  ${name.padEnd(10)} ${c.summary}`);
  lines.push('', "Run 'circuitscope <command> --help' for a command's options.");
  return lines.join('\n');
}

export async function main(argv: string[], commands: Record<string, Command> = engineCommands): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(mainHelp(commands) + '\n');
    return name === undefined ? 2 : 0;
  }
  const cmd = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!cmd) {
    process.stderr.write(`circuitscope: unknown command '${name}'\n\n${mainHelp(commands)}\n`);
    return 2;
  }
  try {
    const { values, positionals } = parseArgs({ args: rest, options: cmd.options, allowPositionals: true, strict: true });
    if (values.help) {
      const engine = 'execution' in cmd.options ? `\n${engineOptionsHelp}\n` : '';
      process.stdout.write(`${cmd.summary}\n\nusage: ${cmd.usage}\n${cmd.details ? `\n${cmd.details}\n` : ''}${engine}`);
      return 0;
    }
    await cmd.run(positionals, values as Values);
    // A command that was cancelled sets its own exit code (130).
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    const err = e as Error & { code?: string };
    if (e instanceof UserError || err.code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`circuitscope ${name}: ${oneLine(err.message)}\n`);
      return 1;
    }
    // A bug: one line on the terminal, the stack in a log file.
    const log = path.join(os.tmpdir(), `circuitscope-internal-error-${process.pid}-${Date.now()}.log`);
    let where = `details in ${log}`;
    try {
      fs.writeFileSync(log, `circuitscope ${argv.join(' ')}\n${err.stack ?? err.message}\n`);
    } catch {
      where = 'no log could be written';
    }
    process.stderr.write(`circuitscope ${name}: internal error (${oneLine(String(err.message)).slice(0, 200)}); please report it with the command you ran (${where})\n`);
    return 1;
  }
}

/** Runs the command line on this process's arguments and sets its exit code. */
export function runCli(commands: Record<string, Command>): void {
  // A reader that stops early (`| head`) is not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  main(process.argv.slice(2), commands).then((code) => {
    process.exitCode = code;
  });
}
