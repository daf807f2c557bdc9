/**
 * What an edge outside a circuit carries during evaluation: its parent's output from the patch source
 * instead of the current run's (instrument.ts, relative mode). Four sources:
 *
 * - 'patch': the corrupted prompt's run (the method's patching; interchange intervention).
 * - 'zero': zero (the parent's output is removed).
 * - 'mean': the parent's output averaged over the prompt set's clean runs, over prompts and every real
 *   (non-pad) position, the same vector at every position (EAP-IG's 'mean' intervention).
 * - 'resample': the parent's output in the clean run of another prompt of the same token length
 *   (resample ablation), position by position. Partners are drawn by a seeded shuffle within each
 *   length: each prompt takes the next one's run in the shuffled order, so no prompt is its own partner.
 *
 * With a source other than 'patch', the faithfulness baseline is the empty circuit under the same
 * ablation (every edge ablated), as MIB's evaluation does; with 'patch' the empty circuit is the
 * corrupted run itself.
 */
import { UserError } from '../errors';
import { batchFeeds } from '../model/runner';
import { f32, type HostTensor } from '../runtime/session';
import { mulberry32 } from '../util/random';
import { chunks, pairWhere, type CircuitSessions } from './attribute';
import type { TokenizedPair } from './prompts';

export const ablations = ['patch', 'zero', 'mean', 'resample'] as const;
export type Ablation = (typeof ablations)[number];

/** The default seed of resample partners. */
export const resampleSeed = 42;

/**
 * For each prompt, the index of the prompt whose clean run it reads under resample ablation: another
 * prompt of the same token length, from a seeded shuffle. Refuses a prompt whose length no other has.
 */
export function resamplePartners(pairs: readonly TokenizedPair[], seed = resampleSeed): number[] {
  const byLength = new Map<number, number[]>();
  pairs.forEach((p, i) => (byLength.get(p.clean.length) ?? byLength.set(p.clean.length, []).get(p.clean.length)!).push(i));
  const random = mulberry32(seed);
  const partner = new Array<number>(pairs.length);
  for (const [len, idx] of byLength) {
    if (idx.length < 2) {
      throw new UserError(
        `${pairWhere(pairs[idx[0]])}: resample ablation needs another prompt of the same token length (${len}) to take activations from, and none has it; add prompts of this length or use --ablation mean`,
      );
    }
    const order = [...idx];
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    order.forEach((i, k) => (partner[i] = order[(k + 1) % order.length]));
  }
  return partner;
}

/** Mean node outputs [nF, d] over the clean runs of the prompt set, over prompts and real positions. */
export async function meanActivations(s: CircuitSessions, pairs: readonly TokenizedPair[], batchSize: number): Promise<Float64Array> {
  const sess = await s.activations();
  const { nForward: nF } = s.graph;
  const d = s.model.spec.dModel;
  const sum = new Float64Array(nF * d);
  let count = 0;
  for (const batch of chunks(pairs, batchSize)) {
    const { feeds, nPos } = batchFeeds(s.model.spec, batch.map((p) => p.clean));
    const acts = (await sess.run(feeds, ['acts'])).acts.data as Float32Array; // [batch, pos, nF, d]
    batch.forEach((p, b) => {
      for (let t = 0; t < p.clean.length; t++) {
        const o = (b * nPos + t) * nF * d;
        for (let k = 0; k < nF * d; k++) sum[k] += acts[o + k];
      }
      count += p.clean.length;
    });
  }
  for (let k = 0; k < sum.length; k++) sum[k] /= count;
  return sum;
}

/** Patch sources of one evaluation: set up once per prompt set, then asked per batch. */
export interface PatchSources {
  readonly ablation: Ablation;
  /** The patch source [batch, pos, nF, d] of a batch (pairs[start..start+batch.length)), given its corrupted node outputs. */
  forBatch(start: number, batch: readonly TokenizedPair[], corrupted: HostTensor): Promise<HostTensor>;
}

export async function patchSources(s: CircuitSessions, pairs: readonly TokenizedPair[], ablation: Ablation, opts: { batchSize: number; seed?: number }): Promise<PatchSources> {
  const { nForward: nF } = s.graph;
  const d = s.model.spec.dModel;
  switch (ablation) {
    case 'patch':
      return { ablation, forBatch: async (_start, _batch, corrupted) => corrupted };
    case 'zero':
      return { ablation, forBatch: async (_start, _batch, corrupted) => f32(new Float32Array(corrupted.data.length), corrupted.shape) };
    case 'mean': {
      const mean = await meanActivations(s, pairs, opts.batchSize);
      return {
        ablation,
        forBatch: async (_start, _batch, corrupted) => {
          const out = new Float32Array(corrupted.data.length);
          for (let o = 0; o < out.length; o += nF * d) for (let k = 0; k < nF * d; k++) out[o + k] = mean[k];
          return f32(out, corrupted.shape);
        },
      };
    }
    case 'resample': {
      const partner = resamplePartners(pairs, opts.seed);
      const sess = await s.activations();
      return {
        ablation,
        forBatch: async (start, batch, corrupted) => {
          // Partners have the lengths of their prompts, so their batch pads to the same length.
          const { feeds } = batchFeeds(s.model.spec, batch.map((_p, i) => pairs[partner[start + i]].clean));
          const acts = (await sess.run(feeds, ['acts'])).acts;
          if (acts.data.length !== corrupted.data.length) throw new Error('internal: resample partners padded to another length');
          return acts;
        },
      };
    }
  }
}
