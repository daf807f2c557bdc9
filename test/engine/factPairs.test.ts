/**
 * Prompt pairs from three typed facts on stories260K: every fact gets a corruption of the same
 * length (typed subjects first, then the tokenizer's names), and the pairs tokenize as a run needs.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { factPairsJsonl, normalTemplate, pairsFromFacts } from '../../src/engine/circuits/factPairs';
import { readPromptSet, tokenizePairs } from '../../src/engine/circuits/prompts';
import { TextTokenizer } from '../../src/engine/model/tokenizer';
import { stories260K, tmpDir } from '../helpers/tinyModels';

test('three typed facts on stories260K: all kept, same token lengths, readable as a prompt set', () => {
  const tok = TextTokenizer.load(stories260K);
  const facts = [
    { subject: 'Lily', template: '{subject} went to the', object: 'park' },
    { subject: 'Tim', template: '{subject} went to the', object: 'store' },
    { subject: 'Ben', template: 'played with the', object: 'ball' },
  ];
  const r = pairsFromFacts(tok, facts);
  assert.equal(r.pairs.length, 3, JSON.stringify(r.skipped));
  assert.match(r.rule, /same number of tokens/);
  for (const p of r.pairs) {
    assert.equal(tok.encode(p.prompt).length, tok.encode(p.corruptedPrompt).length, `${p.prompt} / ${p.corruptedPrompt}`);
    assert.notEqual(p.subject, p.corruptedSubject);
    assert.notEqual(p.target, p.corruptedTarget);
  }
  assert.equal(r.pairs[2].template, '{subject} played with the');
  const file = path.join(tmpDir(), 'facts.jsonl');
  fs.writeFileSync(file, factPairsJsonl(r.pairs));
  const set = readPromptSet(file);
  assert.equal(tokenizePairs(tok, set, 1).length, 3);
});

test('a lone fact has no answer to contrast with and is left out with its reason', () => {
  const tok = TextTokenizer.load(stories260K);
  const r = pairsFromFacts(tok, [{ subject: 'Lily', template: '{subject} went to the', object: 'park' }]);
  assert.equal(r.pairs.length, 0);
  assert.match(r.skipped[0].reason, /no other typed fact/);
  assert.equal(normalTemplate('lives in {}'), 'lives in {subject}');
});
