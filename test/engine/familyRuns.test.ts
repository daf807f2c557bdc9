/**
 * A Trainer-style run folder (checkpoint-N subfolders) of each newer family appears in the workspace
 * scan with its architecture, and `evolve` runs on it end to end through the CLI.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { scanWorkspace } from '../../src/engine/service';
import { gemma2Tiny, gemma3Tiny, llama3Tiny, mistralTiny, olmo2Tiny, olmoTiny, phiTiny, qwen3Tiny } from '../helpers/familyModels';
import { repoRoot, tmpDir, writeCheckpoint, type TinyModel } from '../helpers/tinyModels';

const cli = path.join(repoRoot, 'dist/cli.js');
const prompts = path.join(repoRoot, 'demo/prompts/stories260k.jsonl');

const families: [string, string, (seed: number) => TinyModel][] = [
  ['llama3', 'LlamaForCausalLM', (seed) => llama3Tiny({ seed })],
  ['mistral', 'MistralForCausalLM', (seed) => mistralTiny({ seed })],
  ['qwen3', 'Qwen3ForCausalLM', (seed) => qwen3Tiny({ seed })],
  ['phi', 'PhiForCausalLM', (seed) => phiTiny({ seed })],
  ['gemma2', 'Gemma2ForCausalLM', (seed) => gemma2Tiny({ seed })],
  ['gemma3', 'Gemma3ForCausalLM', (seed) => gemma3Tiny({ seed })],
  ['olmo', 'OlmoForCausalLM', (seed) => olmoTiny({ seed })],
  ['olmo2', 'Olmo2ForCausalLM', (seed) => olmo2Tiny({ seed })],
];

test('run folders of every newer family are listed in the scan, and evolve runs on each', () => {
  const root = tmpDir('cs-family-runs-');
  for (const [name, , make] of families) {
    [10, 20, 30].forEach((step, i) => writeCheckpoint(path.join(root, name, `checkpoint-${step}`), make(40 + i)));
  }
  const scan = scanWorkspace({ roots: [root] });
  for (const [name, arch] of families) {
    const run = scan.runs.find((r) => path.basename(r.dir) === name);
    assert.ok(run, `${name}: run folder not listed`);
    assert.deepEqual(run.checkpoints.map((c) => path.basename(c.dir)), ['checkpoint-10', 'checkpoint-20', 'checkpoint-30'], name);
    for (const c of run.checkpoints) assert.ok(JSON.stringify(c).includes(arch) && !('error' in c && c.error), `${name}: ${JSON.stringify(c)}`);
  }
  for (const [name] of families) {
    const out = path.join(tmpDir(), `${name}-evolve.json`);
    const r = spawnSync(process.execPath, [cli, 'evolve', path.join(root, name), '--prompts', prompts, '--out', out, '--top-n', '20', '--steps', '2'], {
      encoding: 'utf8',
      env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' },
    });
    assert.equal(r.status, 0, `${name}: evolve failed: ${r.stderr}`);
    const result = JSON.parse(fs.readFileSync(out, 'utf8')) as { checkpoints: { step: number }[] };
    assert.deepEqual(result.checkpoints.map((c) => c.step), [10, 20, 30], name);
  }
});
