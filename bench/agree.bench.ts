/**
 * The RelP paper's report table (#12 §7): on the same prompts, the Pearson and Spearman correlation of
 * EAP, EAP-IG and RelP edge scores with exact one-edge patching, per component type of the edge's
 * source (the input, i.e. the residual stream's start; attention heads; MLPs; all edges), for the real
 * stories260K (Llama, gated MLP) with the demo prompts and for a small random GPT-2 with synthetic
 * token pairs. Prints Markdown; asserts nothing.
 *
 *   node esbuild.mjs && node out/bench/agree.bench.js [--models stories,gpt2] [--methods eap,eap-ig-inputs,relp,relp-ah] [--batch-size B]
 */
import * as path from 'node:path';
import { agreementMarkdown, agreementTable } from '../src/engine/circuits/agree';
import type { TokenizedPair } from '../src/engine/circuits/prompts';
import { Model } from '../src/engine/model/runner';
import type { Method } from '../src/shared/methods';
import { openWorkload } from '../src/engine/workload';
import { gpt2TokenizerDir, gpt2Tiny, repoRoot, stories260K, tmpDir, writeCheckpoint } from '../test/helpers/tinyModels';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

async function main(): Promise<void> {
  const methods = flag('methods', 'eap,eap-ig-inputs,relp,relp-ah,relp-corrupted').split(',') as Method[];
  const batchSize = Number(flag('batch-size', '32'));
  const models = flag('models', 'stories,gpt2').split(',');
  if (models.includes('stories')) await stories(methods, batchSize);
  if (models.includes('gpt2')) await gpt2(methods, batchSize);
}

async function stories(methods: Method[], batchSize: number): Promise<void> {
  const w = await openWorkload({ dir: stories260K, promptsFile: path.join(repoRoot, 'demo/prompts/stories260k.jsonl') });
  try {
    console.log('## stories260K (Llama, 5 layers × 8 heads, gated MLP), demo/prompts/stories260k.jsonl\n');
    console.log(agreementMarkdown(await agreementTable(w.model, w.pairs, methods, { batchSize })));
  } finally {
    await w.model.dispose();
  }
}

async function gpt2(methods: Method[], batchSize: number): Promise<void> {
  // A small random GPT-2: 2 layers × 4 heads, d = 32; 16 prompts of 8 tokens, one token changed.
  const V = 50257;
  const dir = writeCheckpoint(path.join(tmpDir('cs-bench-'), 'gpt2-tiny'), gpt2Tiny({ nLayer: 2, nHead: 4, nEmbd: 32, vocab: V, seed: 21 }), { tokenizerFrom: gpt2TokenizerDir });
  const model = await Model.load(dir);
  const pairs: TokenizedPair[] = Array.from({ length: 16 }, (_, i) => {
    const clean = Array.from({ length: 8 }, (_, p) => (p === 0 ? 50256 : (i * 131 + p * 17) % 2000));
    const corrupted = clean.map((t, p) => (p === 3 ? (t + 1000) % 2000 : t));
    return { clean, corrupted, cleanLabel: (i * 7) % 2000, corruptedLabel: (i * 11 + 5) % 2000, pair: { prompt: '', target: '', corruptedPrompt: '', corruptedTarget: '', line: i } };
  });
  try {
    console.log('## GPT-2, random weights (2 layers × 4 heads, d = 32), 16 synthetic prompt pairs\n');
    console.log(agreementMarkdown(await agreementTable(model, pairs, methods, { batchSize })));
  } finally {
    await model.dispose();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
