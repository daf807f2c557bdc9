/**
 * Builds the workspace the extension-host suite opens, in a temporary folder: a run folder of three
 * small GPT-2 checkpoints (tokenizer in the run folder, copied from ../shared), one model folder, and
 * two prompt sets. Prints the folder's path.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gpt2TokenizerDir, gpt2Tiny, tmpDir, writeCheckpoint } from '../helpers/tinyModels';

const ws = process.argv[2] ?? tmpDir('cs-vscode-ws-');
fs.mkdirSync(ws, { recursive: true });
const run = path.join(ws, 'runs', 'tiny-gpt2');
for (const step of [100, 20, 300]) writeCheckpoint(path.join(run, `checkpoint-${step}`), gpt2Tiny({ nLayer: 2, nHead: 2, nEmbd: 16, seed: step }), { tokenizerFrom: null });
for (const f of ['vocab.json', 'merges.txt', 'tokenizer_config.json']) fs.copyFileSync(path.join(gpt2TokenizerDir, f), path.join(run, f));
// A stand-in for the demo lab's run, where `circuitscope demo` leaves it.
const demo = path.join(ws, 'demo-output', 'work', 'gpt2-synthetic');
for (const step of [3, 6]) writeCheckpoint(path.join(demo, `checkpoint-${step}`), gpt2Tiny({ nLayer: 1, nHead: 2, nEmbd: 16, seed: step }), { tokenizerFrom: gpt2TokenizerDir });
// What the demo writes beside its series: the manifest, the report, and the work folder's pointer to it.
fs.writeFileSync(path.join(demo, 'demo-manifest.json'), '{}\n');
fs.writeFileSync(path.join(ws, 'demo-output', 'report.md'), '# Circuitscope demo\n');
fs.writeFileSync(path.join(ws, 'demo-output', 'work', 'demo-report.json'), JSON.stringify({ report: '../report.md' }) + '\n');
writeCheckpoint(path.join(ws, 'models', 'base'), gpt2Tiny({ nLayer: 2, nHead: 2, nEmbd: 16, seed: 7 }), { tokenizerFrom: gpt2TokenizerDir });
const names = ['Alice', 'Bob', 'Carol', 'David', 'Emma', 'Frank'];
const cities = ['Paris', 'Rome', 'Oslo', 'Berlin', 'Madrid', 'Vienna'];
fs.mkdirSync(path.join(ws, 'prompts'), { recursive: true });
fs.writeFileSync(
  path.join(ws, 'prompts', 'cities.jsonl'),
  names
    .map((n, i) => {
      const j = (i + 2) % names.length;
      return JSON.stringify({ prompt: `The person ${n} lives in`, target: ' ' + cities[i], corruptedPrompt: `The person ${names[j]} lives in`, corruptedTarget: ' ' + cities[j], subject: n });
    })
    .join('\n') + '\n',
);
fs.writeFileSync(path.join(ws, 'prompts', 'pairs.csv'), 'clean,corrupted,correct_idx,incorrect_idx\n"The cat sat on the","The dog sat on the",2603,1110\n');
fs.writeFileSync(path.join(ws, 'README.md'), 'A workspace generated for the extension-host suite.\n');
process.stdout.write(ws + '\n');
