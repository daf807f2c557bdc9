/**
 * The project's own fuzz suite (issue #15), sized for CI (about a minute): property-based tests of
 * every reader in-process (config.json, safetensors headers, tokenizer files, shard indexes, prompt
 * sets, circuit files, the flags), then a sample of whole CLI runs on stories260K with one mutated
 * input each. Every outcome must be a one-line user error without internal exception text, or a
 * success whose output holds only finite numbers. bench/fuzz.bench.ts runs the long campaign.
 */
import * as assert from 'node:assert/strict';
import * as fc from 'fast-check';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, test } from 'node:test';
import { caseArb, makeBase, mutateJson, opArb, runCase, type FuzzBase } from '../helpers/fuzzCases';
import { messageProblem } from '../helpers/cliRun';
import { joinSafetensors, splitSafetensors } from '../helpers/mutate';
import { stories260K, tmpDir } from '../helpers/tinyModels';
import { UserError } from '../../src/engine/errors';
import { readModelSpec } from '../../src/engine/model/checkpoint';
import { readSafetensorsHeader } from '../../src/engine/model/safetensors';
import { TextTokenizer } from '../../src/engine/model/tokenizer';
import { TensorIndex } from '../../src/engine/model/weights';
import { readPromptSet } from '../../src/engine/circuits/prompts';
import { parseCircuitJson } from '../../src/engine/circuits/circuitFile';
import { floatFlag, intFlag } from '../../src/engine/cli/command';
import { jsonProblem } from '../../src/engine/util/jsonText';

const seed = Number(process.env.FUZZ_SEED ?? 15);

/** Runs `read`; it may succeed or throw a UserError with a one-line message free of internal text. */
function userErrorOrValue(read: () => unknown): void {
  try {
    read();
  } catch (e) {
    if (!(e instanceof UserError)) throw new Error(`not a user error: ${(e as Error).stack}`);
    const problem = messageProblem(`circuitscope x: ${e.message}\n`);
    if (problem) throw new Error(`${problem}: ${e.message}`);
  }
}

function dirWith(files: Record<string, string | Buffer | null>): string {
  const dir = tmpDir('cs-fuzzread-');
  for (const f of fs.readdirSync(stories260K)) if (!(f in files)) fs.symlinkSync(path.join(stories260K, f), path.join(dir, f));
  for (const [f, v] of Object.entries(files)) if (v !== null) fs.writeFileSync(path.join(dir, f), v);
  return dir;
}

const ops = fc.array(opArb, { minLength: 1, maxLength: 3 });
const base = (f: string) => JSON.parse(fs.readFileSync(path.join(stories260K, f), 'utf8'));

test('fuzz: the JSON recognizer agrees with JSON.parse and never overflows', () => {
  fc.assert(
    fc.property(fc.oneof(fc.json(), fc.string({ maxLength: 40 }), fc.json().map((j) => j.slice(0, -1))), (text) => {
      let parses = true;
      try {
        JSON.parse(text);
      } catch {
        parses = false;
      }
      const problem = jsonProblem(text, { maxDepth: 1000 });
      assert.equal(problem === undefined, parses, `${JSON.stringify(text)}: ${problem}`);
      if (problem) assert.ok(!problem.includes('\n'));
    }),
    { seed, numRuns: 2000 },
  );
});

test('fuzz: config.json readers', () => {
  const cfg = base('config.json');
  fc.assert(fc.property(ops, (o) => userErrorOrValue(() => readModelSpec(dirWith({ 'config.json': mutateJson(cfg, o) })))), { seed, numRuns: 300 });
});

test('fuzz: safetensors headers and shard indexes', () => {
  const { header, data } = splitSafetensors(path.join(stories260K, 'model.safetensors'));
  const json = JSON.parse(header);
  fc.assert(
    fc.property(ops, fc.integer({ min: -12, max: 12 }), (o, delta) => {
      const dir = tmpDir('cs-fuzzst-');
      const f = path.join(dir, 'model.safetensors');
      joinSafetensors(f, mutateJson(json, o), data, delta);
      userErrorOrValue(() => readSafetensorsHeader(f));
    }),
    { seed, numRuns: 300 },
  );
  const names = Object.keys(json).filter((k) => k !== '__metadata__');
  const index = { weight_map: Object.fromEntries(names.map((n) => [n, 'model.safetensors'])) };
  fc.assert(fc.property(ops, (o) => userErrorOrValue(() => TensorIndex.open(dirWith({ 'model.safetensors.index.json': mutateJson(index, o) })))), { seed, numRuns: 200 });
});

test('fuzz: tokenizer files', () => {
  const tj = base('tokenizer.json');
  const tc = base('tokenizer_config.json');
  fc.assert(fc.property(ops, (o) => userErrorOrValue(() => TextTokenizer.load(dirWith({ 'tokenizer.json': mutateJson(tj, o) })))), { seed, numRuns: 200 });
  fc.assert(fc.property(ops, (o) => userErrorOrValue(() => TextTokenizer.load(dirWith({ 'tokenizer_config.json': mutateJson(tc, o) })))), { seed, numRuns: 200 });
  fc.assert(
    fc.property(ops, (o) => userErrorOrValue(() => TextTokenizer.load(dirWith({ 'tokenizer.json': null, 'vocab.json': mutateJson(tj.model.vocab, o), 'merges.txt': '#version: 0.2\n' + tj.model.merges.slice(0, 50).join('\n') })))),
    { seed, numRuns: 100 },
  );
});

let fuzzBase: FuzzBase;
before(async () => {
  fuzzBase = await makeBase();
});

test('fuzz: prompt sets and circuit files', () => {
  const tok = TextTokenizer.load(stories260K);
  const rows = fs.readFileSync(fuzzBase.prompts, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  fc.assert(
    fc.property(ops, fc.constantFrom('p.jsonl', 'p.json', 'p.csv', 'facts.txt'), (o, name) => {
      const f = path.join(tmpDir('cs-fuzzp-'), name);
      fs.writeFileSync(f, name === 'p.jsonl' ? rows.map((r, i) => (i === 0 ? mutateJson(r, o) : JSON.stringify(r))).join('\n') : mutateJson(rows, o));
      userErrorOrValue(() => readPromptSet(f, { tokenizer: tok }));
    }),
    { seed, numRuns: 300 },
  );
  fc.assert(fc.property(ops, (o) => userErrorOrValue(() => parseCircuitJson(mutateJson(fuzzBase.circuitJson, o), 'x.circuit.json'))), { seed, numRuns: 200 });
});

test('fuzz: flag values', () => {
  fc.assert(
    fc.property(fc.constantFrom('threads', 'steps', 'batch-size', 'top-n', 'top', 'max-new-tokens', 'seed', 'other'), fc.oneof(fc.string({ maxLength: 12 }), fc.double().map(String), fc.integer().map(String)), (name, v) => {
      userErrorOrValue(() => intFlag({ [name]: v }, name, 0));
      userErrorOrValue(() => floatFlag({ [name]: v }, name, { positive: true }));
    }),
    { seed, numRuns: 1000 },
  );
});

test('fuzz: whole CLI runs with one mutated input each', async () => {
  const n = Number(process.env.FUZZ_CLI_RUNS ?? 60);
  const failures: string[] = [];
  await fc.assert(
    fc.asyncProperty(caseArb, async (c) => {
      const r = await runCase(fuzzBase, c, 20_000);
      if (r.verdict !== 'ok' && r.verdict !== 'user-error') failures.push(`${r.verdict}: ${r.args.join(' ')}\n  ${r.detail ?? ''}\n  ${r.result.stderr.slice(0, 400)}`);
    }),
    { seed, numRuns: n },
  );
  assert.deepEqual(failures, []);
});
