/**
 * Scale: discovery on a Llama-3.2-1B-shaped checkpoint (random BF16 weights in Hugging Face layout,
 * the real config with its llama3 rope scaling) with default options: each phase's peak RSS from the
 * kernel (VmHWM, set back before the phase) beside the memory estimate of src/shared/cost.ts, wall time
 * per phase, and the achieved FLOP/s of attribution as a ratio of one large MatMul measured in the
 * same run.
 *
 *   npm run build && node out/bench/scale.bench.js [--shape 1b | 1b-4l | 8b | tiny] [--prompts 16] [--batch-size B] [--threads N]
 *       [--execution auto|whole|streamed] [--memory-budget MiB] [--stage-layers N] [--no-eval]
 *
 * `1b-4l` keeps every 1B dimension but only 4 layers (a quick proxy: per-layer costs scale with the
 * layer count); `tiny` has stories260K's dimensions, where the process's own memory dominates. The
 * checkpoint is written once by a child process into $CIRCUITSCOPE_BENCH_DIR (default the OS temp
 * folder) and reused; measuring also runs in a child, so that writing never counts.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { attribute } from '../src/engine/circuits/attribute';
import { select } from '../src/engine/circuits/discover';
import { defaultTopN, discoverDefaults } from '../src/shared/methods';
import { evaluatePatching } from '../src/engine/circuits/evaluate';
import type { TokenizedPair } from '../src/engine/circuits/prompts';
import { Model } from '../src/engine/model/runner';
import { discoveryMemory } from '../src/engine/memory';
import { mulberry32 } from '../src/engine/util/random';
import { stories260K } from '../test/helpers/tinyModels';
import { estimateLine, fmt, matMulFlops, peakRssMiB, resetPeak } from './common';

interface Shape {
  readonly L: number;
  readonly d: number;
  readonly H: number;
  readonly Hkv: number;
  readonly m: number;
  readonly V: number;
  readonly tied: boolean;
}

const shapes: Record<string, Shape> = {
  '1b': { L: 16, d: 2048, H: 32, Hkv: 8, m: 8192, V: 128256, tied: true },
  '1b-4l': { L: 4, d: 2048, H: 32, Hkv: 8, m: 8192, V: 128256, tied: true },
  '8b': { L: 32, d: 4096, H: 32, Hkv: 8, m: 14336, V: 128256, tied: false },
  tiny: { L: 5, d: 64, H: 8, Hkv: 4, m: 172, V: 512, tied: true },
};

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

/** Llama-3.x's published config fields with this shape. */
function config(s: Shape): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    attention_bias: false,
    bos_token_id: 1,
    eos_token_id: 2,
    head_dim: s.d / s.H,
    hidden_act: 'silu',
    hidden_size: s.d,
    intermediate_size: s.m,
    max_position_embeddings: 131072,
    mlp_bias: false,
    num_attention_heads: s.H,
    num_hidden_layers: s.L,
    num_key_value_heads: s.Hkv,
    rms_norm_eps: 1e-5,
    rope_scaling: { factor: 32.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8192, rope_type: 'llama3' },
    rope_theta: 500000.0,
    tie_word_embeddings: s.tied,
    torch_dtype: 'bfloat16',
    vocab_size: s.V,
  };
}

/** A tensor to write: its shape, and random values (uniform, standard deviation `std`) or ones. */
interface BenchTensor {
  readonly shape: number[];
  readonly std: number;
}

/**
 * Writes a safetensors file of BF16 tensors straight to disk, a megabyte at a time, from one block of
 * seeded random BF16 values read at a different offset for every tensor: writing the 16 GB of an
 * 8B-shaped checkpoint takes minutes, not an hour, and never holds a tensor in memory.
 */
function writeShard(file: string, tensors: Record<string, BenchTensor>, pool: Uint16Array): void {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const n of names) {
    const bytes = 2 * tensors[n].shape.reduce((a, b) => a * b, 1);
    header[n] = { dtype: 'BF16', shape: tensors[n].shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += ' ';
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, len);
    fs.writeSync(fd, json);
    const chunk = new Uint16Array(1 << 19);
    for (const [k, n] of names.entries()) {
      const t = tensors[n];
      let left = t.shape.reduce((a, b) => a * b, 1);
      // BF16 1.0 is 0x3f80; random values scale the pool's (standard deviation 1) by std, a power of two apart at most.
      let at = (k * 7919 + left) % pool.length;
      const scale = t.std === 0 ? 0 : Math.round(Math.log2(t.std));
      while (left > 0) {
        const m = Math.min(left, chunk.length);
        for (let i = 0; i < m; i++) {
          if (t.std === 0) chunk[i] = 0x3f80;
          else {
            const v = pool[at];
            // Add `scale` to the exponent bits (values stay normal: the pool holds |x| in [2^-8, 2]).
            chunk[i] = (v & 0x807f) | ((((v >> 7) & 0xff) + scale) << 7);
          }
          if (++at === pool.length) at = 0;
        }
        fs.writeSync(fd, new Uint8Array(chunk.buffer, 0, 2 * m));
        left -= m;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes one shard per layer (and one for the embeddings), BF16, never more than a megabyte in memory. */
function writeCheckpoint(dir: string, s: Shape): void {
  fs.mkdirSync(dir, { recursive: true });
  const rand = mulberry32(7);
  // A pool of uniform values with standard deviation 1, |x| at least 2^-8, as BF16 bits.
  const pool = new Uint16Array(1_000_003);
  const bits = new Uint32Array(1);
  const f = new Float32Array(bits.buffer);
  for (let i = 0; i < pool.length; i++) {
    let x = (rand() * 2 - 1) * Math.sqrt(3);
    if (Math.abs(x) < 2 ** -8) x = x < 0 ? -(2 ** -8) : 2 ** -8;
    f[0] = x;
    pool[i] = bits[0] >>> 16;
  }
  const e = s.d / s.H;
  const rnd = (shape: number[]): BenchTensor => ({ shape, std: 0.02 });
  const ones = (shape: number[]): BenchTensor => ({ shape, std: 0 });
  const weightMap: Record<string, string> = {};
  const name = (i: number) => `model-${String(i + 1).padStart(5, '0')}-of-${String(s.L + 1).padStart(5, '0')}.safetensors`;
  const write = (i: number, t: Record<string, BenchTensor>) => {
    for (const k of Object.keys(t)) weightMap[k] = name(i);
    writeShard(path.join(dir, name(i)), t, pool);
  };
  write(0, { 'model.embed_tokens.weight': rnd([s.V, s.d]), 'model.norm.weight': ones([s.d]), ...(s.tied ? {} : { 'lm_head.weight': rnd([s.V, s.d]) }) });
  for (let l = 0; l < s.L; l++) {
    const p = `model.layers.${l}.`;
    write(l + 1, {
      [p + 'input_layernorm.weight']: ones([s.d]),
      [p + 'post_attention_layernorm.weight']: ones([s.d]),
      [p + 'self_attn.q_proj.weight']: rnd([s.H * e, s.d]),
      [p + 'self_attn.k_proj.weight']: rnd([s.Hkv * e, s.d]),
      [p + 'self_attn.v_proj.weight']: rnd([s.Hkv * e, s.d]),
      [p + 'self_attn.o_proj.weight']: rnd([s.d, s.H * e]),
      [p + 'mlp.gate_proj.weight']: rnd([s.m, s.d]),
      [p + 'mlp.up_proj.weight']: rnd([s.m, s.d]),
      [p + 'mlp.down_proj.weight']: rnd([s.d, s.m]),
    });
  }
  fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  // Any tokenizer will do: the prompts are token ids.
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) if (fs.existsSync(path.join(stories260K, f))) fs.copyFileSync(path.join(stories260K, f), path.join(dir, f));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config(s), null, 2));
}

/** IOI-style pairs of 14 tokens: the corrupted prompt differs in one (subject) token. */
function prompts(n: number, V: number): TokenizedPair[] {
  // Token ids from 1000 up in a large vocabulary, from 3 up in a small one.
  const [lo, span] = V > 31000 ? [1000, 30000] : [3, V - 3];
  return Array.from({ length: n }, (_, i) => {
    const clean = Array.from({ length: 14 }, (_, p) => (p === 0 ? 1 : lo + ((i * 131 + p * 17) % span)));
    const corrupted = clean.map((t, p) => (p === 4 ? lo + ((t - lo + 7) % span) : t));
    return { clean, corrupted, cleanLabel: (2000 + i) % V, corruptedLabel: (3000 + i + 1) % V, pair: { prompt: '', target: '', corruptedPrompt: '', corruptedTarget: '', line: i + 1 } };
  });
}

async function measure(dir: string, s: Shape): Promise<void> {
  const threads = Number(flag('threads', '0'));
  const nPrompts = Number(flag('prompts', s.L > 16 ? '8' : '16'));
  const batchSize = process.argv.includes('--batch-size') ? Number(flag('batch-size', '8')) : undefined;
  const rows: string[] = [];
  const peaks: Partial<Record<'load' | 'attribution' | 'evaluation', number>> = {};
  // Each phase's peak is its own: VmHWM is set back before it.
  const phase = (label: string, seconds: number, key?: keyof typeof peaks) => {
    if (key) peaks[key] = peakRssMiB();
    rows.push(`${label.padEnd(28)} ${fmt(seconds, 1).padStart(7)} s   peak RSS ${fmt(peakRssMiB() / 1024, 2)} GiB`);
  };
  resetPeak();
  let t = Date.now();
  const execution = flag('execution', 'auto') as 'auto' | 'whole' | 'streamed';
  const budget = process.argv.includes('--memory-budget') ? Number(flag('memory-budget', '0')) : undefined;
  const stageLayers = process.argv.includes('--stage-layers') ? Number(flag('stage-layers', '1')) : undefined;
  const model = await Model.load(dir, { threads, execution, memoryBudgetMiB: budget, stageLayers });
  phase('load', (Date.now() - t) / 1000, 'load');
  const plan = model.execution;
  const plannedBy = budget === undefined ? 'the default budget' : `a budget of ${budget} MiB`;
  rows.push(`execution: ${plan.mode}${plan.mode === 'streamed' ? `, ${plan.stages.length} stages of ${plan.stages[0].to - plan.stages[0].from} layer(s)` : ''} (${execution}, ${plannedBy})`);
  const pairs = prompts(nPrompts, s.V);
  resetPeak();
  t = Date.now();
  await model.lastLogits(pairs.slice(0, 1).map((p) => p.clean));
  phase('one forward (compile incl.)', (Date.now() - t) / 1000);
  // The 1B reference for every shape but the tiny one, whose phases would start above its buffers.
  // Measured before and after attribution (this machine's throughput drifts over minutes); the mean is the reference.
  const reference = () => (s.d >= 2048 ? matMulFlops(2048, 2048, 8192, threads) : matMulFlops(256, 64, 256, threads));
  const refBefore = await reference();
  resetPeak();
  t = Date.now();
  const r = await attribute(model, pairs, { method: 'eap-ig-inputs', steps: 5, ...(batchSize ? { batchSize } : {}) });
  const attrSeconds = (Date.now() - t) / 1000;
  phase(`attribution (EAP-IG, 5 steps)`, attrSeconds, 'attribution');
  const refAfter = await reference();
  const ref = (refBefore + refAfter) / 2;
  if (!process.argv.includes('--no-eval')) {
    resetPeak();
    t = Date.now();
    const sel = select(r.graph, r.scores, 'topn', defaultTopN(r.graph));
    await evaluatePatching(model, pairs, [sel], batchSize ? { batchSize } : {});
    phase(`evaluation (${sel.edgeIn.reduce((a, b) => a + b, 0)} edges)`, (Date.now() - t) / 1000, 'evaluation');
  }
  const est = discoveryMemory(model, { method: 'eap-ig-inputs', batchSize: batchSize ?? discoverDefaults.batchSize, nPos: 14, prompts: nPrompts });
  // Counted work of attribution: per token, the model's matmuls (2 × non-embedding parameters, plus
  // attention) forward, and about as much again backward, for 2 activation passes and 5 steps, plus
  // the unembedding at one position per prompt and the edge contraction (2 × edges × d).
  const e = s.d / s.H;
  const params = s.L * (s.d * e * (2 * s.H + 2 * s.Hkv) + 3 * s.d * s.m);
  const perToken = 2 * params + s.L * 4 * 14 * s.d;
  const flops = nPrompts * (14 * (2 * perToken + 5 * 2 * perToken) + 7 * 2 * s.d * s.V) + 5 * nPrompts * 14 * 2 * r.graph.edges.length * s.d;
  console.log(`Llama-style model (${flag('shape', '1b')}), ${s.L} layers, d ${s.d}, ${nPrompts} prompts x 14 tokens, default options (${r.passes} passes)`);
  for (const row of rows) console.log(row);
  console.log(`attribution: ${fmt(flops / 1e12, 2)} TFLOP counted, ${fmt(flops / attrSeconds / 1e9, 1)} GFLOP/s; large MatMul ${fmt(ref / 1e9, 1)} GFLOP/s (${fmt(refBefore / 1e9, 1)} before, ${fmt(refAfter / 1e9, 1)} after); ratio ${fmt(flops / attrSeconds / ref, 3)}`);
  for (const k of ['load', 'attribution', 'evaluation'] as const) {
    const measured = peaks[k];
    if (measured !== undefined) console.log(`${estimateLine(k, est[k], measured)} (${est.plan})`);
  }
  await model.dispose();
}

async function main(): Promise<void> {
  const shapeName = flag('shape', '1b');
  const s = shapes[shapeName];
  if (!s) throw new Error(`--shape must be one of ${Object.keys(shapes).join(', ')}`);
  const dir = path.join(process.env.CIRCUITSCOPE_BENCH_DIR ?? os.tmpdir(), `circuitscope-bench-llama-${shapeName}`);
  if (process.argv[2] === '--make') return writeCheckpoint(dir, s);
  if (process.argv[2] === '--measure') return measure(dir, s);
  if (!fs.existsSync(path.join(dir, 'config.json'))) {
    console.log(`writing a random ${shapeName} checkpoint (BF16) to ${dir} ...`);
    const made = spawnSync(process.execPath, [__filename, '--make', ...process.argv.slice(2)], { stdio: 'inherit' });
    if (made.status !== 0) throw new Error('could not write the bench checkpoint');
  }
  const r = spawnSync(process.execPath, [__filename, '--measure', ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exitCode = r.status ?? 1;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
