/**
 * The logit lens of method spec §5.3: the residual stream before each layer and after the last one
 * (L + 1 rows, TransformerLens's accumulated_resid), decoded as unembed(final_norm(·)). For each
 * prompt and row: the 1-based rank and the probability of the target at the last position, and the
 * best (lowest) rank of the target over the subject's positions.
 *
 * Ranks and probabilities are computed inside the graph, so only [batch, L + 1, pos] numbers come
 * back, never the [batch, L + 1, pos, vocab] logits.
 */
import type { Value } from '../onnx/graphBuilder';
import { batchFeeds, type Model } from '../model/runner';
import { B, buildTransformer, P, softcap } from '../model/transformer';
import { f32 } from '../runtime/session';
import { chunks } from '../circuits/attribute';
import type { TokenizedPair } from '../circuits/prompts';

export interface LensRow {
  /** 1-based rank of the target at the last position, per row (resid_pre of each layer, then final). */
  readonly rank: number[];
  readonly prob: number[];
  /** Lowest 1-based target rank over subject positions, per row; undefined without a subject span. */
  readonly subjectRank?: number[];
}

export interface LensResult {
  /** Row labels: 'L0' … 'L{n-1}' (before each layer) and 'final'. */
  readonly rows: string[];
  readonly prompts: LensRow[];
  /** Means over prompts, per row. */
  readonly meanRank: number[];
  readonly meanProb: number[];
  readonly meanSubjectRank: number[];
}

/** The residual stream before each layer and after the last: the rows of the lens. */
function residNames(L: number): string[] {
  return [...Array.from({ length: L }, (_, l) => `blocks.${l}.hook_resid_pre`), `blocks.${L - 1}.hook_resid_post`];
}

/**
 * The lens graph. A whole model computes its rows in the same graph; a streamed one (model/stages.ts)
 * runs its stages for them first and feeds them stacked as `lens_rows` [batch, L + 1, pos, d].
 */
function lensSession(model: Model) {
  return model.customSession('analysis:lens', (b, spec, w) => {
    const L = spec.nLayers;
    let stack: Value;
    if (model.stages) {
      stack = b.input('lens_rows', 'float32', [B, L + 1, P, spec.dModel]);
    } else {
      const want = new Set(residNames(L));
      const resids: Value[] = [];
      buildTransformer(b, spec, w, {
        hook: (name, v) => {
          if (want.has(name)) resids.push(v);
          return v;
        },
      });
      stack = b.concat(
        resids.map((r) => b.unsqueeze(r, [1])),
        1,
      ); // [batch, L + 1, pos, d]
    }
    const d = spec.dModel;
    const V = spec.vocabSize;
    // The final norm and unembedding again, under names of their own (the same arrays are fed).
    const g = b.weight('lens.ln_final.w', w.lnfW, [d]);
    const normed = spec.norm === 'layernorm' ? b.layerNorm(stack, g, w.lnfB ? b.weight('lens.ln_final.b', w.lnfB, [d]) : null, spec.normEps) : b.rmsNorm(stack, g, spec.normEps);
    let logits = w.WU ? b.matMul(normed, b.weight('lens.W_U', w.WU, [d, V])) : b.matMulTransposed(normed, b.weight('lens.W_E', w.WE, [V, d])); // [batch, L + 1, pos, V]
    if (w.bU) logits = b.add(logits, b.weight('lens.b_U', w.bU, [V]));
    if (spec.finalSoftcap !== undefined) logits = softcap(b, logits, spec.finalSoftcap);
    const onehot = b.input('target_onehot', 'float32', [B, 1, 1, V]);
    const tl = b.reduceSum(b.mul(logits, onehot), [-1]); // [batch, L + 1, pos, 1]
    const above = b.reduceSum(b.cast(b.compare('Greater', logits, tl), 'float32'), [-1], false); // [batch, L + 1, pos]
    const max = b.reduce('ReduceMax', logits, [-1], true);
    const lse = b.add(max, b.unary('Log', b.reduceSum(b.unary('Exp', b.sub(logits, max)), [-1]))); // [batch, L + 1, pos, 1]
    b.output('rank0', above);
    b.output('prob', b.squeeze(b.unary('Exp', b.sub(tl, lse)), [3]));
  });
}

/** A streamed model's lens rows, [batch, L + 1, pos, d], from its hook points. */
async function streamedRows(model: Model, seqs: readonly (readonly number[])[], nPos: number) {
  const { nLayers: L, dModel: d } = model.spec;
  const names = residNames(L);
  const out = await model.runHooks(seqs, names);
  const rows = new Float32Array(seqs.length * (L + 1) * nPos * d);
  names.forEach((n, r) => {
    const x = out[n].data as Float32Array; // [batch, pos, d]
    for (let i = 0; i < seqs.length; i++) rows.set(x.subarray(i * nPos * d, (i + 1) * nPos * d), (i * (L + 1) + r) * nPos * d);
  });
  return f32(rows, [seqs.length, L + 1, nPos, d]);
}

export async function logitLens(model: Model, pairs: readonly TokenizedPair[], opts: { batchSize?: number } = {}): Promise<LensResult> {
  const L = model.spec.nLayers;
  const V = model.spec.vocabSize;
  const rowsN = L + 1;
  const sess = await lensSession(model);
  const prompts: LensRow[] = [];
  for (const batch of chunks(pairs, opts.batchSize ?? 4)) {
    const { feeds, nPos } = batchFeeds(model.spec, batch.map((p) => p.clean));
    const onehot = new Float32Array(batch.length * V);
    batch.forEach((p, i) => (onehot[i * V + p.cleanLabel] = 1));
    const rows = model.stages ? { lens_rows: await streamedRows(model, batch.map((p) => p.clean), nPos) } : feeds;
    const out = await sess.run({ ...rows, target_onehot: f32(onehot, [batch.length, 1, 1, V]) }, ['rank0', 'prob']);
    const rank0 = out.rank0.data as Float32Array; // [batch, L + 1, pos]
    const prob = out.prob.data as Float32Array;
    batch.forEach((p, i) => {
      const last = p.clean.length - 1;
      const at = (r: number, s: number) => (i * rowsN + r) * nPos + s;
      const row: LensRow = {
        rank: Array.from({ length: rowsN }, (_, r) => rank0[at(r, last)] + 1),
        prob: Array.from({ length: rowsN }, (_, r) => prob[at(r, last)]),
        subjectRank: p.subjectSpan
          ? Array.from({ length: rowsN }, (_, r) => {
              let best = Infinity;
              for (let s = p.subjectSpan![0]; s < p.subjectSpan![1]; s++) best = Math.min(best, rank0[at(r, s)] + 1);
              return best;
            })
          : undefined,
      };
      prompts.push(row);
    });
  }
  const mean = (f: (r: LensRow) => number[] | undefined) =>
    Array.from({ length: rowsN }, (_, r) => {
      const xs = prompts.map(f).filter((x): x is number[] => x !== undefined).map((x) => x[r]);
      return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
    });
  return {
    rows: [...Array.from({ length: L }, (_, l) => `L${l}`), 'final'],
    prompts,
    meanRank: mean((r) => r.rank),
    meanProb: mean((r) => r.prob),
    meanSubjectRank: mean((r) => r.subjectRank),
  };
}
