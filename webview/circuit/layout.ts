/**
 * The layered layout of a circuit graph, computed here rather than by a layout extension: input at the
 * bottom, logits at the top, one row per layer with its heads spread by head index and its MLP to the
 * right. Positions depend only on the config, never on the selection, so nodes stay put while the
 * top-N slider moves and the two sides of the compare view line up node for node.
 */
import { parseNodeId, type CircuitConfig } from '../../src/shared/circuit';

export interface Point {
  readonly x: number;
  readonly y: number;
}

/** Node box sizes and spacing in model units (Cytoscape's zoom 1 is one CSS pixel). */
export const metrics = {
  headWidth: 46,
  mlpWidth: 40,
  endWidth: 84,
  height: 22,
  dx: 56,
  dy: 64,
  mlpGap: 20,
} as const;

/**
 * Positions of every node of the graph of `cfg`. Cytoscape's y axis points down, so later layers get
 * smaller y. In a sequential block the MLP reads the heads of its own layer, so it sits half a row
 * above them; with parallel attention and MLP it shares their row.
 *
 * Deep, narrow models (GPT-2 small: 14 rows of 12 heads) would come out taller than wide and be
 * fitted to a wide panel at a zoom too small to read, so rows are brought closer (down to 65% of
 * `dy`) and then columns spread (up to twice `dx`) toward the `aspect` (width / height). The aspect
 * is a constant, not the panel's, so the layout depends on the config alone: it survives reloads
 * and resizes, and the two sides of a comparison always match.
 */
export function layeredPositions(cfg: CircuitConfig, nodes: readonly string[], aspect = 1.6): Map<string, Point> {
  const { nLayers: L, nHeads: H } = cfg;
  const { mlpGap, headWidth, mlpWidth, endWidth, height } = metrics;
  const naturalW = Math.max((H - 1) * metrics.dx + headWidth + mlpGap + mlpWidth, endWidth);
  const naturalH = (L + 1) * metrics.dy + height;
  const sy = Math.min(1, Math.max(0.65, naturalW / naturalH / aspect));
  const sx = Math.min(2, Math.max(1, (aspect * (L + 1) * metrics.dy * sy + height) / naturalW));
  const dx = metrics.dx * sx;
  const dy = metrics.dy * sy;
  const mlpX = (H - 1) * dx + headWidth / 2 + mlpGap + mlpWidth / 2;
  const centre = mlpX / 2;
  const out = new Map<string, Point>();
  for (const name of nodes) {
    const id = parseNodeId(name);
    if (!id) continue;
    switch (id.kind) {
      case 'input':
        out.set(name, { x: centre, y: 0 });
        break;
      case 'attn':
        out.set(name, { x: id.head * dx, y: -(id.layer + 1) * dy });
        break;
      case 'mlp':
        out.set(name, { x: mlpX, y: -(id.layer + 1) * dy - (cfg.parallelAttnMlp ? 0 : dy / 2) });
        break;
      case 'logits':
        out.set(name, { x: centre, y: -(L + 1) * dy });
        break;
    }
  }
  return out;
}

/**
 * The node that arrow keys move to from `from`: up and down go to the nearest row above or below
 * (the closest node by x in it), left and right to the next node in the same row. Only `candidates`
 * (the visible nodes) are considered.
 */
export function neighbourInDirection(
  from: Point,
  dir: 'up' | 'down' | 'left' | 'right',
  candidates: Iterable<readonly [string, Point]>,
): string | undefined {
  const eps = 1e-6;
  let best: { name: string; key: [number, number] } | undefined;
  for (const [name, p] of candidates) {
    const dyv = p.y - from.y;
    const dxv = p.x - from.x;
    let key: [number, number] | undefined;
    switch (dir) {
      case 'up':
        if (dyv < -eps) key = [-dyv, Math.abs(dxv)];
        break;
      case 'down':
        if (dyv > eps) key = [dyv, Math.abs(dxv)];
        break;
      case 'left':
        if (Math.abs(dyv) < eps && dxv < -eps) key = [-dxv, 0];
        break;
      case 'right':
        if (Math.abs(dyv) < eps && dxv > eps) key = [dxv, 0];
        break;
    }
    if (key && (!best || key[0] < best.key[0] - eps || (Math.abs(key[0] - best.key[0]) <= eps && key[1] < best.key[1]))) best = { name, key };
  }
  return best?.name;
}
