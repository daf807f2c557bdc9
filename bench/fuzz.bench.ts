/**
 * The long fuzz campaign of issue #15: N whole CLI runs (default 5000, FUZZ_CASES) on stories260K,
 * each with one mutated input (config.json, safetensors, tokenizer files, shard index, prompt set,
 * circuit file, flags), two at a time. Prints the count of each outcome per input, and every case
 * that crashed, hung, succeeded silently on bad input or printed a bad message, with its arguments.
 * Usage: node esbuild.mjs && node out/bench/fuzz.bench.js  (FUZZ_SEED, FUZZ_CASES, FUZZ_JOBS)
 */
import * as fc from 'fast-check';
import { caseArb, makeBase, runCase, targets, type CaseResult, type Verdict } from '../test/helpers/fuzzCases';

async function main(): Promise<void> {
  const n = Number(process.env.FUZZ_CASES ?? 5000);
  const seed = Number(process.env.FUZZ_SEED ?? 15);
  const jobs = Number(process.env.FUZZ_JOBS ?? 2);
  const cases = fc.sample(caseArb, { numRuns: n, seed });
  const base = await makeBase();
  const counts = new Map<string, Map<Verdict, number>>();
  const bad: CaseResult[] = [];
  let next = 0;
  const t0 = Date.now();
  const worker = async () => {
    while (next < cases.length) {
      const c = cases[next++];
      const r = await runCase(base, c, 30_000);
      const row = counts.get(c.target) ?? counts.set(c.target, new Map()).get(c.target)!;
      row.set(r.verdict, (row.get(r.verdict) ?? 0) + 1);
      if (r.verdict !== 'ok' && r.verdict !== 'user-error') bad.push(r);
      if (next % 250 === 0) process.stderr.write(`${next}/${cases.length} cases, ${bad.length} failures (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
    }
  };
  await Promise.all(Array.from({ length: jobs }, worker));
  const verdicts: Verdict[] = ['ok', 'user-error', 'crash', 'hang', 'silent', 'bad-message'];
  console.log(`fuzz: ${n} cases, seed ${seed}, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  console.log(['input'.padEnd(16), ...verdicts.map((v) => v.padStart(11))].join(''));
  for (const t of targets) console.log([t.padEnd(16), ...verdicts.map((v) => String(counts.get(t)?.get(v) ?? 0).padStart(11))].join(''));
  const total = (v: Verdict) => [...counts.values()].reduce((s, m) => s + (m.get(v) ?? 0), 0);
  console.log(['total'.padEnd(16), ...verdicts.map((v) => String(total(v)).padStart(11))].join(''));
  for (const r of bad.slice(0, 50)) console.log(`\n${r.verdict}: circuitscope ${r.args.join(' ')}\n  ${r.detail ?? ''}\n  ${r.result.stderr.trim().split('\n').slice(-3).join('\n  ')}`);
  process.exitCode = bad.length === 0 ? 0 : 1;
}

void main();
