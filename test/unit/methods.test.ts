/**
 * The method table and the discover defaults against what the extension contributes: every
 * `circuitscope.*` discover setting in package.json has the record's default, and the method setting
 * lists the table's methods with their descriptions. Also the pass schedule of each method.
 */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../helpers/tinyModels';
import { attributionPasses, discoverDefaults, discoverSettingKeys, methodNames, methodTable } from '../../src/shared/methods';

interface SettingSchema {
  readonly default?: unknown;
  readonly enum?: unknown[];
  readonly enumDescriptions?: string[];
}

function contributedSettings(): Record<string, SettingSchema> {
  const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { contributes: { configuration: { properties: Record<string, SettingSchema> } } };
  return pkg.contributes.configuration.properties;
}

test("package.json: each discover setting's default is the defaults record's", () => {
  const props = contributedSettings();
  for (const [field, key] of Object.entries(discoverSettingKeys)) {
    const schema = props[`circuitscope.${key}`];
    assert.ok(schema, `package.json contributes circuitscope.${key}`);
    assert.deepEqual(schema.default, discoverDefaults[field as keyof typeof discoverSettingKeys], `default of circuitscope.${key}`);
  }
  // Every discovery setting package.json contributes is one the record knows.
  const known = new Set(Object.values(discoverSettingKeys).map((k) => `circuitscope.${k}`));
  for (const name of Object.keys(props).filter((n) => n.startsWith('circuitscope.discovery.'))) assert.ok(known.has(name), `${name} has a default in discoverDefaults`);
});

test('package.json: the method setting lists the method table, in order, with its descriptions', () => {
  const method = contributedSettings()[`circuitscope.${discoverSettingKeys.method}`];
  assert.deepEqual(method.enum, [...methodNames]);
  assert.deepEqual(
    method.enumDescriptions,
    methodTable.map((m) => m.description),
  );
  assert.ok(methodNames.includes(discoverDefaults.method));
});

test('the defaults record is frozen', () => {
  assert.ok(Object.isFrozen(discoverDefaults));
  assert.ok(Object.isFrozen(methodTable));
});

test('pass schedule: two activation passes per batch plus the method’s own', () => {
  const s = { batchSize: 8, steps: 5, nLayers: 12, edges: 100 };
  // 20 prompts: batches of 8, 8 and 4.
  assert.equal(attributionPasses('eap', 20, s), 3 * (2 + 1));
  assert.equal(attributionPasses('clean-corrupted', 20, s), 3 * (2 + 2));
  assert.equal(attributionPasses('eap-ig-inputs', 20, s), 3 * (2 + 5));
  assert.equal(attributionPasses('eap-ig-activations', 20, s), 3 * (2 + 5 * 25));
  // Exact: every prompt's edges, batchSize rows at a time.
  assert.equal(attributionPasses('exact', 20, s), 3 * 2 + 20 * Math.ceil(100 / 8));
});
