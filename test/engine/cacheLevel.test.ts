/** The circuit cache key (src/engine/analysis/cache.ts) and node-level discovery: the level and the node N count. */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { cacheKey, discoveryKey } from '../../src/engine/analysis/cache';

test('cache key: the level and the node N count, an edge-level key is what it was', () => {
  const base = { checkpointHash: 'c', promptsHash: 'p', prependBos: true, options: { method: 'eap' as const, topN: 100 } };
  const edge = cacheKey(base);
  assert.equal(cacheKey({ ...base, options: { ...base.options, level: 'edge' } }), edge);
  const node = cacheKey({ ...base, options: { ...base.options, level: 'node', nodeTopN: 12 } });
  assert.notEqual(node, edge);
  assert.notEqual(cacheKey({ ...base, options: { ...base.options, level: 'node', nodeTopN: 13 } }), node);
  // Node N 0 is the default N: the same key as leaving it out.
  assert.equal(cacheKey({ ...base, options: { ...base.options, level: 'node', nodeTopN: 0 } }), cacheKey({ ...base, options: { ...base.options, level: 'node' } }));
});

test('discoveryKey: a node-level discovery is another key than the edge-level one with the same N', () => {
  const d = { checkpointHash: 'c', promptsHash: 'p', prependBos: true, method: 'eap', steps: 1, metric: 'logit-diff', selection: 'topn' as const, value: 12 };
  const edge = discoveryKey(d);
  assert.equal(discoveryKey({ ...d, level: 'edge' }), edge);
  const node = discoveryKey({ ...d, level: 'node' });
  assert.notEqual(node, edge);
  // As cacheKey gives it for the options discover --level node --node-top-n 12 resolves to.
  assert.equal(node, cacheKey({ checkpointHash: 'c', promptsHash: 'p', prependBos: true, options: { method: 'eap', steps: 1, metric: 'logit-diff', selection: 'topn', level: 'node', nodeTopN: 12 } }));
});
