/** Every supported family's table, and the look-up by `architectures[0]` or `model_type`. */
import { gpt2 } from './gpt2';
import { gptNeox, phi } from './gptNeox';
import { gemma2, gemma3, llama, olmo, olmo2, qwen3 } from './llamaLike';
import type { FamilyDef } from './table';
import type { Family } from '../config';

export const families: readonly FamilyDef[] = [gpt2, llama, qwen3, gptNeox, phi, gemma2, gemma3, olmo, olmo2];

export const supportedArchitectures = families.flatMap((f) => f.architectures);

/** The family of a config: by architecture when it names one, else by model_type. */
export function familyFor(arch: string | undefined, modelType: string | undefined): FamilyDef | undefined {
  if (arch !== undefined) return families.find((f) => f.architectures.includes(arch));
  return modelType === undefined ? undefined : families.find((f) => f.modelTypes.includes(modelType));
}

export function familyDef(family: Family): FamilyDef {
  const def = families.find((f) => f.family === family);
  if (!def) throw new Error(`internal: no table for family ${family}`);
  return def;
}
