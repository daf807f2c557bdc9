/**
 * Checkpoint folders as users have them: a Hugging Face model folder (config.json + safetensors +
 * tokenizer), or a run folder of `checkpoint-N` folders as the HF Trainer writes them.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseConfig, type ModelSpec } from './config';
import { CheckpointError } from '../errors';
import { isObject, jsonType, readJsonFile } from '../util/jsonText';
import { hasTokenizer, TextTokenizer } from './tokenizer';
import { CanonicalWeights, TensorIndex } from './weights';

const checkpointDirRe = /^checkpoint-(\d+)$/;

/** True when `dir` looks like a model folder (config.json plus weights). */
export function isModelDir(dir: string): boolean {
  return (
    fs.existsSync(path.join(dir, 'config.json')) &&
    ['model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin', 'pytorch_model.bin.index.json'].some((f) => fs.existsSync(path.join(dir, f)))
  );
}

export interface RunEntry {
  readonly dir: string;
  readonly step: number;
}

/** The `checkpoint-N` folders of a run folder, in step order (empty when it is not a run). */
export function listRunCheckpoints(dir: string): RunEntry[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const out: RunEntry[] = [];
  for (const n of names) {
    const m = checkpointDirRe.exec(n);
    const full = path.join(dir, n);
    if (m && isModelDir(full)) out.push({ dir: full, step: Number(m[1]) });
  }
  return out.sort((a, b) => a.step - b.step);
}

/** The step of a `checkpoint-N` folder, if it is one. */
export function stepOf(dir: string): number | undefined {
  const m = checkpointDirRe.exec(path.basename(dir));
  return m ? Number(m[1]) : undefined;
}

/** Where the tokenizer of a model folder is: its own, else the run folder's above it. */
export function tokenizerDirFor(dir: string): string {
  if (hasTokenizer(dir)) return dir;
  const parent = path.dirname(dir);
  if (stepOf(dir) !== undefined && hasTokenizer(parent)) return parent;
  throw new CheckpointError(
    dir,
    `has no tokenizer (tokenizer.json, or vocab.json + merges.txt)${stepOf(dir) !== undefined ? ', and neither has its run folder' : ''}. ` +
      'Copy the tokenizer files of the base model into the folder.',
  );
}

export function readModelSpec(dir: string): ModelSpec {
  const file = path.join(dir, 'config.json');
  if (!fs.existsSync(file)) throw new CheckpointError(dir, 'has no config.json; is this a Hugging Face model folder?');
  const cfg = readJsonFile(file, (d) => {
    throw new CheckpointError(file, d);
  }, { maxBytes: 16 * 1024 * 1024 });
  if (!isObject(cfg)) throw new CheckpointError(file, `is ${jsonType(cfg)}, not a JSON object; is it a Hugging Face config.json?`);
  return parseConfig(cfg as Record<string, unknown>, file);
}

/** An opened checkpoint: spec, lazily read weights and tokenizer. */
export class Checkpoint {
  private constructor(
    readonly dir: string,
    readonly spec: ModelSpec,
    readonly weights: CanonicalWeights,
    readonly tokenizer: TextTokenizer,
  ) {}

  static open(dir: string): Checkpoint {
    const abs = path.resolve(dir);
    if (!fs.existsSync(abs)) throw new CheckpointError(abs, 'does not exist');
    if (!fs.statSync(abs).isDirectory()) throw new CheckpointError(abs, 'is not a folder; give the checkpoint folder that holds config.json');
    if (!fs.existsSync(path.join(abs, 'config.json'))) {
      const run = listRunCheckpoints(abs);
      if (run.length > 0) {
        throw new CheckpointError(abs, `is a run folder with ${run.length} checkpoints (${run.map((r) => path.basename(r.dir)).join(', ')}); give one of them`);
      }
    }
    const spec = readModelSpec(abs);
    const index = TensorIndex.open(abs);
    const tokenizer = TextTokenizer.load(tokenizerDirFor(abs));
    return new Checkpoint(abs, spec, new CanonicalWeights(spec, index), tokenizer);
  }

  /** BOS id per the method spec: the model's bos_token_id, else the tokenizer's BOS token. */
  get bosId(): number | undefined {
    return this.tokenizer.bosId(this.spec.bosTokenId);
  }

  /**
   * A content hash of the checkpoint: config.json and each weight file's size and first and last MiB.
   * Cheap on multi-GB files, and it changes whenever training writes new weights.
   */
  contentHash(): string {
    const h = crypto.createHash('sha256');
    h.update(fs.readFileSync(path.join(this.dir, 'config.json')));
    const files = [...new Set([...this.weights.index.entries.values()].map((e) => e.file))].sort();
    for (const f of files) {
      const size = fs.statSync(f).size;
      h.update(`${path.basename(f)}:${size}`);
      const fd = fs.openSync(f, 'r');
      try {
        const n = Math.min(size, 1 << 20);
        const buf = Buffer.alloc(n);
        fs.readSync(fd, buf, 0, n, 0);
        h.update(buf);
        fs.readSync(fd, buf, 0, n, size - n);
        h.update(buf);
      } finally {
        fs.closeSync(fd);
      }
    }
    return h.digest('hex').slice(0, 16);
  }
}
