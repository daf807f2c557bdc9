/**
 * A checkpoint's tensors, across one safetensors file or a sharded set, and the canonical weights
 * read from them through the family's table (families/table.ts), one tensor at a time.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ModelSpec } from './config';
import { familyDef } from './families';
import { detectPrefix, loadCanonical, loadGlobals, loadLayer, type FamilyDef, type GlobalField, type LayerWeights, type LoadedWeights, type TensorSource } from './families/table';
import { CheckpointError } from '../errors';
import { readSafetensorsHeader, readTensorF32, type TensorEntry } from './safetensors';
import { brief } from './configReader';
import { isObject, jsonType, readJsonFile } from '../util/jsonText';

export type { LayerWeights, LoadedWeights };
export { transpose2d } from './families/table';

/** Where each tensor name lives, across one file or a sharded set. */
export class TensorIndex implements TensorSource {
  private constructor(
    readonly dir: string,
    readonly entries: Map<string, TensorEntry>,
    /** The file that lists the tensors: model.safetensors, or the shard index. */
    readonly listFile: string,
  ) {}

  /** The file a missing tensor should have been in, for messages. */
  fileFor(_name: string): string {
    return this.listFile;
  }

  static open(dir: string): TensorIndex {
    const single = path.join(dir, 'model.safetensors');
    const index = path.join(dir, 'model.safetensors.index.json');
    if (fs.existsSync(index)) {
      const fail = (d: string): never => {
        throw new CheckpointError(index, d);
      };
      const json = readJsonFile(index, fail, { maxBytes: 64 * 1024 * 1024, maxDepth: 8 });
      if (!isObject(json)) fail(`is ${jsonType(json)}, not a JSON object with a 'weight_map'`);
      const map = (json as { weight_map?: unknown }).weight_map;
      if (!isObject(map)) throw new CheckpointError(index, `must be an object mapping tensor names to shard files, got ${jsonType(map)}`, 'weight_map');
      const files = new Set<string>();
      for (const [name, f] of Object.entries(map)) {
        if (typeof f !== 'string' || f === '') throw new CheckpointError(index, `names its shard by ${brief(f)}; it must be a file name such as "model-00001-of-00002.safetensors"`, `weight_map.${name}`);
        if (path.basename(f) !== f || f === '.' || f === '..') throw new CheckpointError(index, `names shard ${brief(f)}, which is not a file name in the checkpoint folder`, `weight_map.${name}`);
        files.add(f);
      }
      if (files.size === 0) throw new CheckpointError(index, 'is empty; the checkpoint has no tensors', 'weight_map');
      const entries = new Map<string, TensorEntry>();
      for (const f of files) {
        const shard = path.join(dir, f);
        if (!fs.existsSync(shard)) throw new CheckpointError(index, `names shard ${brief(f)}, which does not exist in ${dir}`, 'weight_map');
        const h = readSafetensorsHeader(shard);
        for (const [name, e] of h.entries) {
          const before = entries.get(name);
          if (before) throw new CheckpointError(shard, `is also in ${path.basename(before.file)}; a tensor must be in one shard`, name);
          entries.set(name, e);
        }
      }
      for (const [name, f] of Object.entries(map)) {
        const e = entries.get(name);
        if (!e || path.basename(e.file) !== f) throw new CheckpointError(path.join(dir, f as string), `weight_map says this shard holds the tensor, but it does not`, name);
      }
      return new TensorIndex(dir, entries, index);
    }
    if (fs.existsSync(single)) return new TensorIndex(dir, readSafetensorsHeader(single).entries, single);
    const pickled = ['pytorch_model.bin', 'pytorch_model.bin.index.json', 'model.pt', 'model.pth'].find((f) => fs.existsSync(path.join(dir, f)));
    if (pickled) {
      throw new CheckpointError(
        path.join(dir, pickled),
        'is a pickled PyTorch checkpoint, which can run arbitrary code when loaded, so Circuitscope does not read it. ' +
          `Convert it to safetensors once with Python: \`${safetensorsConversion(dir)}\``,
      );
    }
    throw new CheckpointError(dir, 'has no model.safetensors or model.safetensors.index.json');
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** Reads a tensor as float32 after checking its shape. */
  read(name: string, shape: readonly number[]): Float32Array {
    const e = this.entries.get(name);
    if (!e) throw new CheckpointError(this.listFile, `tensor is missing from the checkpoint (expected shape [${shape}])`, name);
    if (e.shape.length !== shape.length || e.shape.some((d, i) => d !== shape[i])) {
      throw new CheckpointError(e.file, `has shape [${e.shape}], but config.json implies [${shape}]`, name);
    }
    return readTensorF32(e);
  }
}

/** The canonical weights of one checkpoint, read through its family's table. */
export class CanonicalWeights {
  readonly def: FamilyDef;
  private readonly prefix: string;

  constructor(
    readonly spec: ModelSpec,
    readonly index: TensorIndex,
  ) {
    this.def = familyDef(spec.family);
    this.prefix = detectPrefix(this.def, index);
  }

  layer(l: number): LayerWeights {
    return loadLayer(this.def, this.spec, this.index, this.prefix, l);
  }

  /** The weights outside the layers, in canonical layout. */
  globals(): Omit<LoadedWeights, 'layers'> {
    return loadGlobals(this.def, this.spec, this.index, this.prefix) as Omit<LoadedWeights, 'layers'>;
  }

  /** Some of the weights outside the layers. */
  someGlobals(fields: ReadonlySet<GlobalField>): Partial<Omit<LoadedWeights, 'layers'>> {
    return loadGlobals(this.def, this.spec, this.index, this.prefix, fields);
  }

  /** Every weight, in canonical layout. */
  loadAll(): LoadedWeights {
    return loadCanonical(this.def, this.spec, this.index);
  }
}

/**
 * The one-time conversion of a pickled checkpoint folder to safetensors, as a shell command (Python
 * with transformers). Circuitscope never unpickles; the user runs this once, in their own Python.
 */
export function safetensorsConversion(dir: string): string {
  const py = JSON.stringify(dir);
  const code = `from transformers import AutoModelForCausalLM; AutoModelForCausalLM.from_pretrained(${py}).save_pretrained(${py}, safe_serialization=True)`;
  return `python -c '${code.replaceAll("'", "'\\''")}'`;
}
