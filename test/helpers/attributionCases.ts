/**
 * The tiny GPT-2, Llama and GPT-NeoX models on which the attribution tests check scores against finite
 * differences of the float64 reference forwards, with their prompt pairs.
 */
import type { TokenizedPair } from '../../src/engine/circuits/prompts';
import { gpt2Forward, llamaForward, neoxForward, type LlamaCfg, type Mat, type NeoxCfg, type RefHooks } from './reference';
import { gpt2TokenizerDir, gpt2Tiny, llamaTiny, neoxTiny, tokenPair as pair, type TinyModel } from './tinyModels';

export type Forward = (ids: number[], hooks?: RefHooks) => Mat;

export interface AttributionCase {
  name: string;
  model: TinyModel;
  forward: Forward;
  pairs: TokenizedPair[];
  tokenizerFrom?: string;
}

export function attributionCases(): { gpt2: AttributionCase; llama: AttributionCase; neox: AttributionCase } {
  const g = gpt2Tiny({ nLayer: 2, nHead: 2, nEmbd: 16, vocab: 50257, seed: 11 });
  const l = llamaTiny({ nLayer: 2, nHead: 4, nKv: 2, d: 16, tied: false, qkvBias: true, seed: 12 });
  const n = neoxTiny({ nLayer: 2, nHead: 2, d: 16, parallel: true, seed: 13 });
  return {
    gpt2: {
      name: 'GPT-2',
      model: g,
      forward: (ids, h) => gpt2Forward(g.tensors, g.config as never, ids, h),
      pairs: [pair([50256, 40, 588, 257, 3797], [50256, 40, 910, 257, 3797], 11, 13), pair([50256, 7, 8, 9], [50256, 17, 8, 9], 100, 200)],
      tokenizerFrom: gpt2TokenizerDir,
    },
    llama: {
      name: 'Llama (GQA, biases, untied)',
      model: l,
      forward: (ids, h) => llamaForward(l.tensors, l.config as unknown as LlamaCfg, ids, h),
      pairs: [pair([1, 40, 58, 25, 37], [1, 40, 91, 25, 37], 11, 13), pair([1, 7, 8, 9], [1, 17, 8, 9], 100, 200)],
    },
    neox: {
      name: 'GPT-NeoX (parallel)',
      model: n,
      forward: (ids, h) => neoxForward(n.tensors, n.config as unknown as NeoxCfg, ids, h),
      pairs: [pair([0, 40, 58, 25, 37], [0, 41, 91, 25, 37], 11, 13), pair([0, 7, 8, 9], [0, 17, 8, 9], 100, 200)],
    },
  };
}
