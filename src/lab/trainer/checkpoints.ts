/** Model folders written whole or not at all. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { encodeSafetensors } from '../../engine/model/safetensors';
import { tokenizerFiles } from '../../engine/model/tokenizer';
import { familyDef } from '../../engine/model/families';
import { saveTensors } from '../../engine/model/families/table';
import type { TrainableModel } from './models';

/** Writes a file and flushes it to disk, so that the rename that publishes its folder publishes data. */
function writeSynced(file: string, data: string | Uint8Array): void {
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Writes a model folder in HF layout: config.json, model.safetensors (F32), the tokenizer files and
 * generation_config.json of the source, and any extra JSON files. Everything is written into a
 * hidden temporary folder beside `dir`, which is then renamed to `dir`: a crash or cancellation
 * leaves either no folder or a complete one, never half a checkpoint. An existing `dir` is replaced.
 */
export function saveModel(dir: string, model: TrainableModel, extraJson: Record<string, unknown> = {}): void {
  const parent = path.dirname(path.resolve(dir));
  fs.mkdirSync(parent, { recursive: true });
  const tmp = path.join(parent, `.${path.basename(dir)}.tmp-${process.pid}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp);
  try {
    const config = { ...model.config, torch_dtype: 'float32' };
    writeSynced(path.join(tmp, 'config.json'), JSON.stringify(config, null, 2) + '\n');
    writeSynced(path.join(tmp, 'model.safetensors'), encodeSafetensors(saveTensors(familyDef(model.spec.family), model.spec, model.weights)));
    if (model.tokenizerDir) {
      for (const f of tokenizerFiles) {
        const src = path.join(model.tokenizerDir, f);
        if (fs.existsSync(src)) writeSynced(path.join(tmp, f), fs.readFileSync(src));
      }
    }
    if (model.generationConfig) writeSynced(path.join(tmp, 'generation_config.json'), fs.readFileSync(model.generationConfig));
    for (const [name, value] of Object.entries(extraJson)) writeSynced(path.join(tmp, name), JSON.stringify(value, null, 2) + '\n');
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(tmp, dir);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}
