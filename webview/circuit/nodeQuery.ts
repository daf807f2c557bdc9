/**
 * What the search box accepts. Kept free of the DOM so that Node's test runner can check it.
 */
import { formatNodeId, parseNodeId } from '../../src/shared/circuit';

/**
 * Normalises what people type for a node: 'A3.H7', 'a3h7', '3.7' and 'L3H7' all mean 'a3.h7';
 * 'mlp3' means 'm3'. Returns undefined when nothing node-like was typed.
 */
export function normaliseNodeQuery(q: string): string | undefined {
  const s = q.trim().toLowerCase().replace(/\s+/g, '');
  if (!s) return undefined;
  const id = parseNodeId(s);
  if (id) return formatNodeId(id);
  let m = /^(?:a|l|layer)?(\d+)[.,:/]?h(?:ead)?(\d+)$/.exec(s) ?? /^(\d+)[.,:/](\d+)$/.exec(s);
  if (m) return `a${Number(m[1])}.h${Number(m[2])}`;
  m = /^(?:mlp|m)(\d+)$/.exec(s);
  if (m) return `m${Number(m[1])}`;
  if (s === 'embed' || s === 'embeddings') return 'input';
  if (s === 'output' || s === 'unembed') return 'logits';
  return undefined;
}
