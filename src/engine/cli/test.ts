/**
 * `circuitscope test`: circuit regression tests (`*.circuit-test.json`) for CI. Exit code 0 when every
 * test passes on every checkpoint it names, 1 when one fails (or the files cannot be read), 130 when
 * interrupted.
 */
import * as path from 'node:path';
import { circuitTestSuffix, type TestFileResult } from '../../shared/circuitTests';
import { findCircuitTestFiles, runCircuitTestFile } from '../analysis/circuitTests';
import { UserError } from '../errors';
import { writeFileAtomic } from '../util/atomicWrite';
import { cancellable, common, modelOptions, outFlag, type Command } from './command';

export const testCommand: Command = {
  summary: `Run circuit regression tests (*${circuitTestSuffix}) on every checkpoint they name; exit code 1 when one fails`,
  usage: `circuitscope test [FILE|FOLDER ...] [--test NAME] [--json] [--out FILE] [--no-bos] [--threads N]`,
  details: [
    `Without FILE or FOLDER, every *${circuitTestSuffix} under the current folder is run (dot folders and node_modules are skipped).`,
    'A test file names "checkpoints" (a run folder or a model folder), "prompts", optional "discover" settings',
    '(method, steps, topN, metric, batchSize) and "tests", each with one check:',
    '  {"edge": "a3.h4->logits"}  {"node": "m0", "inCircuit": false}  {"faithfulness": {"min": 0.9, "edges": 500}}',
    '  {"head": "a2.h1", "role": "mover"}  {"hit10": {"min": 0.5}}',
    'Circuits are discovered once per checkpoint and cached (evolve and compare share the cache; default .circuitscope-cache beside the test file).',
    'exit codes: 0 every test passed, 1 a test failed or a file could not be used, 130 interrupted.',
  ].join('\n'),
  options: { ...common, test: { type: 'string', multiple: true }, json: { type: 'boolean' }, out: { type: 'string' } },
  async run(pos, values) {
    const out = outFlag(values, 'out');
    const files = findCircuitTestFiles(pos.length > 0 ? pos : ['.']);
    if (files.length === 0) throw new UserError(`no *${circuitTestSuffix} file under ${pos.length > 0 ? pos.join(', ') : path.resolve('.')}`);
    const names = values.test as unknown as string[] | undefined;
    const model = modelOptions(values);
    const results: TestFileResult[] = [];
    await cancellable('cancelled; no result was written', async (signal, onProgress) => {
      for (const file of files) results.push(await runCircuitTestFile(file, { names, model, signal, onProgress }));
      const text = JSON.stringify(results, null, 1) + '\n';
      if (out) writeFileAtomic(out, text);
      return (values.json ? text.trimEnd() : report(results)) + (out && !values.json ? `\nwrote ${path.resolve(out)}` : '');
    });
    if (process.exitCode !== 130 && results.some((r) => r.failed > 0)) process.exitCode = 1;
  },
};

/** The results as a terminal reads them: per file, each test with its checkpoints, then the totals. */
function report(results: readonly TestFileResult[]): string {
  const lines: string[] = [];
  let passed = 0;
  let failed = 0;
  for (const r of results) {
    lines.push(`${path.relative('.', r.file) || r.file} (${r.checkpoints.length} checkpoint${r.checkpoints.length === 1 ? '' : 's'}, ${r.checkpoints.filter((c) => c.fromCache).length} from the cache, ${r.seconds.toFixed(1)} s)`);
    for (const t of r.tests) {
      const ok = t.checkpoints.filter((c) => c.status === 'passed').length;
      lines.push(`  ${t.status === 'passed' ? 'PASS' : t.status === 'failed' ? 'FAIL' : 'ERROR'} ${t.name} (${ok}/${t.checkpoints.length} checkpoints)`);
      for (const c of t.checkpoints) if (c.status !== 'passed' || t.checkpoints.length > 1) lines.push(`       ${c.status === 'passed' ? 'ok   ' : c.status === 'failed' ? 'FAIL ' : 'ERROR'} ${c.checkpoint ? path.basename(c.checkpoint) : '-'}: ${c.message}`);
    }
    passed += r.passed;
    failed += r.failed;
  }
  lines.push(`${passed + failed} tests, ${passed} passed, ${failed} failed`);
  return lines.join('\n');
}
