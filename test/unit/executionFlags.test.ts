/**
 * The engine options that plan whole or block-streamed execution (`--execution`, `--memory-budget`,
 * `--stage-layers`): parsed into model options, and every bad value refused by name.
 */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { modelOptions } from '../../src/engine/cli/command';

test('execution flags become model options', () => {
  const o = modelOptions({ execution: 'streamed', 'memory-budget': '6GiB', 'stage-layers': '2' });
  assert.equal(o.execution, 'streamed');
  assert.equal(o.memoryBudgetMiB, 6144);
  assert.equal(o.stageLayers, 2);
  assert.equal(modelOptions({ 'memory-budget': '6000MiB' }).memoryBudgetMiB, 6000);
  assert.equal(modelOptions({ 'memory-budget': '1.5G' }).memoryBudgetMiB, 1536);
  const d = modelOptions({});
  assert.equal(d.execution, 'auto');
  assert.equal(d.memoryBudgetMiB, undefined);
  assert.equal(d.stageLayers, undefined);
});

test('bad execution flags are refused by name', () => {
  assert.throws(() => modelOptions({ execution: 'fast' }), /--execution "fast" is not one of auto, whole, streamed/);
  assert.throws(() => modelOptions({ 'memory-budget': '8X' }), /--memory-budget "8X" is not a size such as 8GiB or 6000MiB/);
  assert.throws(() => modelOptions({ 'memory-budget': '0' }), /--memory-budget "0"/);
  assert.throws(() => modelOptions({ 'stage-layers': '0' }), /--stage-layers/);
});
