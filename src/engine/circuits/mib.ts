/** MIB's faithfulness at fixed circuit sizes, CPR and CMD (src/shared/mib.ts) for a scored graph. */
import { pruneDeadNodes, topN, type CircuitGraph } from '../../shared/circuit';
import { mibCurve, mibEdgeCounts, mibShares, topNSigned, type MibResult } from '../../shared/mib';
import type { MetricKind } from '../../shared/methods';
import type { Model } from '../model/runner';
import type { Ablation } from './ablation';
import { evaluatePatching } from './evaluate';
import type { TokenizedPair } from './prompts';

/**
 * Evaluates the pruned top-n circuits at MIB's shares of the edges, by signed and by absolute score,
 * in one pass over the prompts (20 circuits share each batch's clean and corrupted runs).
 */
export async function mibEvaluation(
  model: Model,
  pairs: readonly TokenizedPair[],
  g: CircuitGraph,
  scores: Float64Array,
  opts: { batchSize?: number; metric?: MetricKind; ablation?: Ablation; seed?: number; signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {},
): Promise<MibResult> {
  const ns = mibEdgeCounts(g.edges.length);
  const signed = ns.map((n) => pruneDeadNodes(g, topNSigned(g, scores, n)));
  const absolute = ns.map((n) => pruneDeadNodes(g, topN(g, scores, n)));
  const evals = await evaluatePatching(model, pairs, [...signed, ...absolute], opts);
  const k = ns.length;
  const curve = (abs: boolean, off: number) =>
    mibCurve(
      abs,
      ns,
      evals.slice(off, off + k).map((e) => e.edges),
      evals.slice(off, off + k).map((e) => e.faithfulness),
    );
  const s = curve(false, 0);
  const a = curve(true, k);
  return { shares: [...mibShares], ablation: opts.ablation ?? 'patch', signed: s, absolute: a, cpr: s.area, cmd: a.areaFromOne };
}
