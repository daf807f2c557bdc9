/**
 * A checkpoint's tensors, across one safetensors file or a sharded set, and the canonical weights
 * read from them through the family's table (families/table.ts), one tensor at a time.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ModelSpec } from './config';
import { familyDef } from './families';
import { detectPrefix, loadCanonical, loadLayer, type FamilyDef, type LayerWeights, type LoadedWeights, type TensorSource } from './families/table';
import { CheckpointError } from '../errors';
import { readSafetensorsHeader, readTensorF32, type TensorEntry } from './safetensors';

export type { LayerWeights, LoadedWeights };
export { transpose2d } from './families/table';

/** Where each tensor name lives, across one file or a sharded set. */
export class TensorIndex implements TensorSource {
  private constructor(
    readonly dir: string,
    readonly entries: Map<string, TensorEntry>,
  ) {}

  static open(dir: string): TensorIndex {
    const single = path.join(dir, 'model.safetensors');
    const index = path.join(dir, 'model.safetensors.index.json');
    if (fs.existsSync(index)) {
      let json: { weight_map?: Record<string, string> };
      try {
        json = JSON.parse(fs.readFileSync(index, 'utf8'));
      } catch (e) {
        throw new CheckpointError(index, `not valid JSON (${(e as Error).message})`);
      }
      if (!json.weight_map || typeof json.weight_map !== 'object') throw new CheckpointError(index, 'has no weight_map object', 'weight_map');
      const files = new Set(Object.values(json.weight_map));
      const entries = new Map<string, TensorEntry>();
      for (const f of files) {
        const shard = path.join(dir, f);
        if (!fs.existsSync(shard)) throw new CheckpointError(index, `names shard '${f}', which does not exist in ${dir}`, 'weight_map');
        const h = readSafetensorsHeader(shard);
        for (const [name, e] of h.entries) entries.set(name, e);
      }
      for (const [name, f] of Object.entries(json.weight_map)) {
        const e = entries.get(name);
        if (!e) throw new CheckpointError(path.join(dir, f), `weight_map says this shard holds the tensor, but it does not`, name);
      }
      return new TensorIndex(dir, entries);
    }
    if (fs.existsSync(single)) return new TensorIndex(dir, readSafetensorsHeader(single).entries);
    const pickled = ['pytorch_model.bin', 'pytorch_model.bin.index.json', 'model.pt', 'model.pth'].find((f) => fs.existsSync(path.join(dir, f)));
    if (pickled) {
      throw new CheckpointError(
        path.join(dir, pickled),
        'is a pickled PyTorch checkpoint, which can run arbitrary code when loaded, so Circuitscope does not read it. ' +
          'Convert it to safetensors once with Python: `from transformers import AutoModelForCausalLM; ' +
          `AutoModelForCausalLM.from_pretrained('${dir}').save_pretrained('${dir}', safe_serialization=True)\``,
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
    if (!e) throw new CheckpointError(this.dir, `tensor is missing from the checkpoint (expected shape [${shape}])`, name);
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

  /** Every weight, in canonical layout. */
  loadAll(): LoadedWeights {
    return loadCanonical(this.def, this.spec, this.index);
  }
}
