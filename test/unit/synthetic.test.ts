/**
 * The synthetic-biography generator against the method spec's data rules (§6, scaled down):
 * determinism, frequency buckets, known and invented names, documents, and circuit prompt sets whose
 * corrupted prompts tokenize to the clean length with a different first answer token, checked under
 * the BPE tokenizer trained on the corpus, GPT-2's tokenizer and stories260K's.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { firstTargetToken, frequencyBucket, queryTemplates, readPromptSet, tokenizePairs } from '../../src/engine/circuits/prompts';
import { trainBpe } from '../../src/lab/bpe';
import {
  attributeCandidates,
  biographyTemplates,
  bucketCounts,
  buildPromptSets,
  choosePools,
  generateDataset,
  groupOrder,
  reduceArray,
  relations,
  tinyStoriesNames,
  writeDataset,
  type Entity,
  type SyntheticDataset,
} from '../../src/lab/synthetic';
import { TextTokenizer } from '../../src/engine/model/tokenizer';
import { gpt2TokenizerDir, stories260K, tmpDir } from '../helpers/tinyModels';

const data = generateDataset();

/** A BPE tokenizer trained on `d`'s corpus, written and read back the way a checkpoint's is. */
function corpusTokenizer(d: SyntheticDataset): TextTokenizer {
  const dir = tmpDir('cs-synth-tok-');
  trainBpe(d.train.map((doc) => doc.text), { vocabSize: 1024 }).save(dir);
  return TextTokenizer.load(dir);
}

function readDir(dir: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const f of fs.readdirSync(dir, { recursive: true }) as string[]) {
    const full = path.join(dir, f);
    if (fs.statSync(full).isFile()) files.set(f, fs.readFileSync(full));
  }
  return files;
}

test('the same seed writes byte-identical dataset folders; another seed does not', () => {
  const write = (seed: number) => {
    const d = generateDataset({ seed });
    const dir = tmpDir('cs-synth-');
    writeDataset(dir, d, buildPromptSets(d.entities, corpusTokenizer(d)));
    return readDir(dir);
  };
  const a = write(5);
  const b = write(5);
  assert.deepEqual([...a.keys()].sort(), ['dataset.json', 'entities.jsonl', 'prompts/city.jsonl', 'prompts/company.jsonl', 'prompts/major.jsonl', 'test.jsonl', 'train.jsonl', 'validation.jsonl'].map((f) => f.split('/').join(path.sep)).sort());
  for (const [f, bytes] of a) assert.ok(bytes.equals(b.get(f)!), `${f} differs between two runs with seed 5`);
  const c = write(6);
  for (const f of ['entities.jsonl', 'train.jsonl', 'prompts/city.jsonl'].map((x) => x.split('/').join(path.sep))) {
    assert.ok(!a.get(f)!.equals(c.get(f)!), `${f} is the same for seeds 5 and 6`);
  }
});

test('every type × frequency bucket is populated, and each entity has one document per unit of frequency', () => {
  const counts = bucketCounts(data.entities);
  assert.deepEqual(Object.keys(counts), [...groupOrder]);
  for (const g of groupOrder) assert.ok(counts[g] >= 8, `${g} has only ${counts[g]} entities: ${JSON.stringify(counts)}`);
  assert.equal(data.entities.filter((e) => e.type === 'new').length, 200);
  assert.equal(data.entities.filter((e) => e.type === 'revised').length, 50);
  const docs = new Map<string, number>();
  for (const d of data.train) docs.set(d.name, (docs.get(d.name) ?? 0) + 1);
  for (const e of data.entities) {
    assert.ok(Number.isInteger(e.frequency) && e.frequency >= 1, `${e.name}: frequency ${e.frequency}`);
    assert.equal(docs.get(e.name), e.frequency, e.name);
  }
});

test('revised frequencies are evenly spaced picks of the sorted new frequencies (reduce_array)', () => {
  // Hand-worked: linspace(0, 9, 4) = 0, 3, 6, 9.
  assert.deepEqual(reduceArray([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 4), [1, 4, 7, 10]);
  const sortedNew = data.entities.filter((e) => e.type === 'new').map((e) => e.frequency).sort((a, b) => a - b);
  const sortedRevised = data.entities.filter((e) => e.type === 'revised').map((e) => e.frequency).sort((a, b) => a - b);
  // The revised values are a sub-multiset of the new ones, spanning the same range.
  const pool = [...sortedNew];
  for (const f of sortedRevised) {
    const i = pool.indexOf(f);
    assert.ok(i >= 0, `revised frequency ${f} is not among the new frequencies`);
    pool.splice(i, 1);
  }
  assert.equal(sortedRevised[0], sortedNew[0]);
  assert.equal(sortedRevised.at(-1), sortedNew.at(-1));
});

test('revised entities have known TinyStories names; new entities have unique invented two-word names', () => {
  const known = new Set(tinyStoriesNames);
  const names = data.entities.map((e) => e.name);
  assert.equal(new Set(names).size, names.length, 'entity names repeat');
  for (const e of data.entities) {
    const first = e.name.split(' ')[0];
    if (e.type === 'revised') assert.ok(known.has(first), `${e.name} is not a known name`);
    else {
      assert.ok(!known.has(first), `${e.name} uses a known first name`);
      assert.match(e.name, /^[A-Z][a-z]+ [A-Z][a-z]+$/);
    }
  }
  // More revised entities than known first names: the names get surnames and stay unique.
  const many = generateDataset({ nNew: 20, nRevised: 70 });
  const revised = many.entities.filter((e) => e.type === 'revised').map((e) => e.name);
  assert.equal(new Set(revised).size, 70);
  for (const n of revised) assert.ok(known.has(n.split(' ')[0]), n);
});

test('documents state each entity’s attributes once per relation, at the recorded spans', () => {
  const byName = new Map(data.entities.map((e) => [e.name, e]));
  for (const d of [...data.train, ...data.validation]) {
    const e = byName.get(d.name)!;
    assert.equal(d.type, e.type);
    assert.equal(d.frequency, e.frequency);
    assert.deepEqual(d.spans.map((s) => s.relation).sort(), [...relations].sort());
    for (const s of d.spans) assert.equal(d.text.slice(s.start, s.end), e.attributes[s.relation], d.text);
    // One sentence per relation, each naming the entity.
    const sentences = d.text.split(/(?<=\.) /);
    assert.equal(sentences.length, relations.length, d.text);
    for (const s of sentences) assert.ok(s.includes(e.name), s);
  }
  // Every template of every relation is used somewhere in the corpus.
  for (const rel of relations) {
    for (const t of biographyTemplates[rel]) {
      const escaped = t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      const re = new RegExp(escaped.replace('\\{name\\}', '[A-Z][a-z]+(?: [A-Z][a-z]+)?').replace(`\\{${rel}\\}`, '[a-zA-Z]+'));
      assert.ok(data.train.some((d) => re.test(d.text)), `template ${JSON.stringify(t)} never used`);
    }
  }
});

test('validation: a subset of training documents by default, re-rendered documents with validation: fresh', () => {
  const train = new Set(data.train.map((d) => d.text));
  assert.equal(data.validation.length, Math.round(0.1 * data.train.length));
  for (const d of data.validation) assert.ok(train.has(d.text));
  const fresh = generateDataset({ validation: 'fresh' });
  // The corpus itself does not depend on the validation mode.
  assert.deepEqual(fresh.train, data.train);
  const renderedAgain = fresh.validation.filter((d) => !train.has(d.text)).length;
  assert.ok(renderedAgain > fresh.validation.length / 2, `${renderedAgain} of ${fresh.validation.length} fresh documents are new text`);
});

test('default pools have distinct initial letters and distinct first tokens under the corpus tokenizer', () => {
  const tok = corpusTokenizer(data);
  for (const rel of relations) {
    const pool = data.pools[rel];
    assert.equal(pool.length, 12);
    assert.equal(new Set(pool.map((v) => v[0].toLowerCase())).size, 12, `${rel}: ${pool}`);
    const prompt = queryTemplates[rel].replace('{subject}', 'Tom');
    const firsts = pool.map((v) => firstTargetToken(tok, prompt, ' ' + v));
    assert.equal(new Set(firsts).size, 12, `${rel}: ${firsts.map((id) => tok.tokenText(id))}`);
  }
});

test('pools chosen for stories260K’s tokenizer have distinct, non-blank first tokens', () => {
  const tok = TextTokenizer.load(stories260K);
  const pools = choosePools(12, tok);
  for (const rel of relations) {
    assert.equal(pools[rel].length, 12, `${rel}: ${pools[rel]}`);
    for (const v of pools[rel]) assert.ok(attributeCandidates[rel].includes(v));
    const prompt = queryTemplates[rel].replace('{subject}', 'Lily');
    const firsts = pools[rel].map((v) => firstTargetToken(tok, prompt, ' ' + v));
    assert.equal(new Set(firsts).size, 12, `${rel}: ${firsts.map((id) => JSON.stringify(tok.tokenText(id)))}`);
    for (const id of firsts) assert.notEqual(tok.tokenText(id).trim(), '', `${rel}: a first token is blank`);
  }
  // Why the filter matters: the default pool's ' Paris' starts with a lone '▁' under this tokenizer.
  assert.equal(tok.tokenText(firstTargetToken(tok, 'Lily lives in the city of', ' Paris')).trim(), '');
  assert.ok(!pools.city.includes('Paris'));
});

/** Checks one tokenizer's prompt sets row by row against the entities they were built from. */
function checkPromptSets(name: string, tok: TextTokenizer, entities: readonly Entity[]) {
  const sets = buildPromptSets(entities, tok);
  const byName = new Map(entities.map((e) => [e.name, e]));
  for (const rel of relations) {
    const rows = sets.circuit[rel];
    const st = sets.stats[rel];
    assert.equal(st.rows, rows.length);
    assert.equal(st.rows + st.droppedLength + st.droppedNoPartner, entities.length, `${name}/${rel}: every entity is a row or counted as dropped`);
    assert.ok(rows.length >= 0.8 * entities.length, `${name}/${rel}: only ${rows.length} rows (${JSON.stringify(st)})`);
    // Rows come in group order, and every group keeps rows.
    const order = rows.map((r) => groupOrder.indexOf(r.group));
    assert.deepEqual(order, [...order].sort((a, b) => a - b));
    for (const g of groupOrder) assert.ok(st.groups[g] > 0, `${name}/${rel}: no rows in ${g}`);

    const lengthCount = new Map<number, number>();
    for (const e of entities) {
      const n = tok.encode(queryTemplates[rel].replace('{subject}', e.name)).length;
      lengthCount.set(n, (lengthCount.get(n) ?? 0) + 1);
    }
    for (const row of rows) {
      const e = byName.get(row.subject)!;
      const other = byName.get(row.corruptedSubject)!;
      const where = `${name}/${rel}: ${row.prompt} / ${row.corruptedPrompt}`;
      assert.notEqual(e, other, where);
      assert.equal(row.prompt, queryTemplates[rel].replace('{subject}', e.name));
      assert.equal(row.corruptedPrompt, queryTemplates[rel].replace('{subject}', other.name));
      assert.equal(row.target, ' ' + e.attributes[rel]);
      assert.equal(row.corruptedTarget, ' ' + other.attributes[rel]);
      assert.equal(row.group, `${e.type}/${frequencyBucket(e.frequency)}`);
      assert.equal(row.frequency, e.frequency);
      const n = tok.encode(row.prompt).length;
      assert.equal(tok.encode(row.corruptedPrompt).length, n, `${where}: token lengths differ`);
      assert.ok(lengthCount.get(n)! > 5, `${where}: length ${n} has only ${lengthCount.get(n)} subjects`);
      assert.notEqual(firstTargetToken(tok, row.prompt, row.target), firstTargetToken(tok, row.corruptedPrompt, row.corruptedTarget), `${where}: answers share their first token`);
    }
  }
  assert.equal(sets.test.length, entities.length * relations.length);
  for (const t of sets.test) assert.equal(t.target, ' ' + byName.get(t.subject)!.attributes[t.relation]);
  return sets;
}

test('circuit prompts under the corpus BPE tokenizer: same-length corruptions with different first answer tokens', () => {
  checkPromptSets('corpus BPE', corpusTokenizer(data), data.entities);
});

test('circuit prompts under GPT-2’s tokenizer: same-length corruptions with different first answer tokens', () => {
  checkPromptSets('gpt2', TextTokenizer.load(gpt2TokenizerDir), data.entities);
});

test('circuit prompts under stories260K’s tokenizer, with pools chosen for it', () => {
  const tok = TextTokenizer.load(stories260K);
  const d = generateDataset({ poolTokenizer: tok });
  checkPromptSets('stories260K', tok, d.entities);
});

test('written prompt files read back as Circuitscope prompt sets and tokenize with BOS', () => {
  const tok = corpusTokenizer(data);
  const sets = buildPromptSets(data.entities, tok);
  const dir = tmpDir('cs-synth-read-');
  writeDataset(dir, data, sets);
  const bos = tok.bosId(undefined);
  assert.notEqual(bos, undefined);
  for (const rel of relations) {
    const set = readPromptSet(path.join(dir, 'prompts', `${rel}.jsonl`));
    assert.equal(set.format, 'circuitscope');
    assert.deepEqual(
      set.pairs.map((p) => [p.prompt, p.target, p.corruptedPrompt, p.corruptedTarget, p.group]),
      sets.circuit[rel].map((r) => [r.prompt, r.target, r.corruptedPrompt, r.corruptedTarget, r.group]),
    );
    const pairs = tokenizePairs(tok, set, bos);
    for (const p of pairs) {
      assert.equal(p.clean[0], bos);
      assert.notEqual(p.cleanLabel, p.corruptedLabel);
      // The subject sits right after BOS, as the logit-lens subject positions need.
      assert.equal(p.subjectSpan?.[0], 1, p.pair.prompt);
    }
  }
  const entities = fs.readFileSync(path.join(dir, 'entities.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(entities, data.entities);
  const summary = JSON.parse(fs.readFileSync(path.join(dir, 'dataset.json'), 'utf8'));
  assert.deepEqual(summary.entities, bucketCounts(data.entities));
  assert.deepEqual(summary.promptSets, sets.stats);
});
