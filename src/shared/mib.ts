/**
 * MIB's circuit-localization measures (hannamw/MIB-circuit-track, method spec §7.2): faithfulness of
 * the pruned top-n circuit at fixed shares of all edges, and two areas over those shares.
 *
 * - Sizes: 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100 % of the edges; n = ⌊share · edges⌋, as Python's
 *   int() of the product.
 * - Selection: top n by score (signed: the largest scores) or by |score| (absolute), then pruning.
 * - The x-axis is the requested share as a fraction (0.001 … 1, linear), not the share kept after pruning.
 * - CPR (circuit performance ratio) = Σ Δx · (f₁ + f₂)/2, read from the signed run; higher is better.
 * - CMD (circuit–model distance) = Σ Δx · (|1 − f₁| + |1 − f₂|)/2, read from the absolute run; lower is better.
 * Both areas are kept for both runs, since MIB's scripts print either from either.
 */
import type { CircuitGraph } from './circuit';

export const mibShares = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1] as const;

/** n at each share: Python's int(share * edges). */
export function mibEdgeCounts(nEdges: number): number[] {
  return mibShares.map((s) => Math.trunc(s * nEdges));
}

/** Top-n edges by signed score (the largest first), ties by edge order; NaN scores never enter. */
export function topNSigned(g: CircuitGraph, scores: ArrayLike<number>, n: number): Uint8Array {
  const order = Array.from(g.edges.keys()).filter((i) => !Number.isNaN(scores[i]));
  order.sort((a, b) => scores[b] - scores[a] || a - b);
  const edgeIn = new Uint8Array(g.edges.length);
  for (const i of order.slice(0, Math.max(0, n))) edgeIn[i] = 1;
  return edgeIn;
}

/** The two trapezoid areas of a faithfulness curve over x: under it, and between it and 1. */
export function curveAreas(x: readonly number[], f: readonly number[]): { area: number; areaFromOne: number } {
  let area = 0;
  let areaFromOne = 0;
  for (let i = 0; i + 1 < f.length; i++) {
    const dx = x[i + 1] - x[i];
    area += (dx * (f[i] + f[i + 1])) / 2;
    areaFromOne += (dx * (Math.abs(1 - f[i]) + Math.abs(1 - f[i + 1]))) / 2;
  }
  return { area, areaFromOne };
}

/** One MIB curve: its selection rule, the requested and kept sizes, faithfulness, and both areas. */
export interface MibCurve {
  readonly absolute: boolean;
  /** n requested at each share. */
  readonly topN: readonly number[];
  /** Edges kept after pruning at each share. */
  readonly edges: readonly number[];
  readonly faithfulness: readonly number[];
  /** Area under the curve (CPR when not absolute). */
  readonly area: number;
  /** Area between the curve and 1 (CMD when absolute). */
  readonly areaFromOne: number;
  /** Mean faithfulness over the shares. */
  readonly mean: number;
}

/** MIB's measures of a scored graph, as a circuit file stores them. */
export interface MibResult {
  readonly shares: readonly number[];
  /** What edges outside the circuit carried (patch, zero, mean, resample). */
  readonly ablation: string;
  readonly signed: MibCurve;
  readonly absolute: MibCurve;
  /** CPR: the signed curve's area. */
  readonly cpr: number;
  /** CMD: the absolute curve's area from 1. */
  readonly cmd: number;
}

export function mibCurve(absolute: boolean, topN: readonly number[], edges: readonly number[], faithfulness: readonly number[]): MibCurve {
  const { area, areaFromOne } = curveAreas(mibShares, faithfulness);
  return { absolute, topN, edges, faithfulness, area, areaFromOne, mean: faithfulness.reduce((a, b) => a + b, 0) / faithfulness.length };
}
