/**
 * A run folder for evolve's tests: tiny GPT-2 checkpoints moving in a straight line from one random
 * model to another, and a city prompt file with four groups.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gpt2TokenizerDir, gpt2Tiny, tmpDir, writeCheckpoint, type TinyModel } from './tinyModels';

/** A run whose checkpoints move in a straight line from one random model to another. */
export function makeRun(steps: number[]): string {
  const run = tmpDir('cs-run-');
  const a = gpt2Tiny({ nLayer: 2, nHead: 2, nEmbd: 16, seed: 31 });
  const b = gpt2Tiny({ nLayer: 2, nHead: 2, nEmbd: 16, seed: 32 });
  steps.forEach((step, i) => {
    const t = i / (steps.length - 1);
    const m: TinyModel = {
      config: a.config,
      tensors: Object.fromEntries(
        Object.entries(a.tensors).map(([name, x]) => [name, { shape: x.shape, data: x.data.map((v, k) => v + t * (b.tensors[name].data[k] - v)) }]),
      ),
    };
    writeCheckpoint(path.join(run, `checkpoint-${step}`), m, { tokenizerFrom: null });
  });
  for (const f of ['vocab.json', 'merges.txt', 'tokenizer_config.json']) fs.copyFileSync(path.join(gpt2TokenizerDir, f), path.join(run, f));
  return run;
}

export function promptFile(): string {
  const names = ['Alice', 'Bob', 'Carol', 'David', 'Emma', 'Frank', 'Grace', 'Henry'];
  const cities = ['Paris', 'Rome', 'Oslo', 'Berlin', 'Madrid', 'Vienna', 'Prague', 'Dublin'];
  const file = path.join(tmpDir(), 'city.jsonl');
  const rows = names.map((n, i) => {
    const j = (i + 3) % names.length;
    const template = 'The person {subject} lives in the city of';
    return JSON.stringify({
      prompt: template.replace('{subject}', n),
      target: ' ' + cities[i],
      corruptedPrompt: template.replace('{subject}', names[j]),
      corruptedTarget: ' ' + cities[j],
      subject: n,
      template,
      type: i % 2 ? 'new' : 'revised',
      frequency: i < 4 ? 7 : 1,
    });
  });
  fs.writeFileSync(file, rows.join('\n') + '\n');
  return file;
}
