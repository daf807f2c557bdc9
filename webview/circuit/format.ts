/**
 * Number formatting for the views. Scores span many orders of magnitude (EAP-IG scores of a small
 * model are often 1e-4), so they get three significant digits and switch to exponent form when small.
 */

export function formatScore(s: number): string {
  if (Number.isNaN(s)) return 'unscored';
  const a = Math.abs(s);
  if (a === 0) return '0';
  if (a >= 0.01 && a < 10_000) return s.toPrecision(3);
  return s.toExponential(2);
}

// One formatter for all counts: toLocaleString builds a new one per call, which shows in profiles.
const counts = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export function formatCount(n: number): string {
  return counts.format(Math.round(n));
}

/** A ratio or correlation; the sign is kept for the deltas. */
export function formatFixed(x: number | undefined, digits = 3, signed = false): string {
  if (x === undefined || Number.isNaN(x)) return '—';
  // A tiny negative number rounds to "-0.0"; it is zero at this precision.
  const s = x.toFixed(digits).replace(/^-(0\.?0*)$/, '$1');
  return signed && x > 0 ? `+${s}` : s;
}

export function formatPercent(x: number | undefined): string {
  if (x === undefined || Number.isNaN(x)) return '—';
  return `${(x * 100).toFixed(1)}%`;
}
