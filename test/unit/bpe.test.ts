/**
 * The byte-level BPE trainer: hand-computed merges, determinism, and the written tokenizer.json read
 * back through @huggingface/tokenizers (the project's TextTokenizer), which must round-trip text and
 * agree token for token with the trainer's own encoder.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { firstTargetToken } from '../../src/engine/circuits/prompts';
import { endOfText, trainBpe } from '../../src/lab/bpe';
import { generateDataset } from '../../src/lab/synthetic';
import { TextTokenizer } from '../../src/engine/model/tokenizer';
import { gpt2TokenizerDir, tmpDir } from '../helpers/tinyModels';

const corpus = generateDataset({ seed: 7 }).train.map((d) => d.text);

/** Text the tokenizer never saw: accents, CJK, emoji, tabs, runs of spaces, contractions, a special token. */
const unseen = [
  "Zoë's naïve café — 東京 🚀 isn't far.",
  'Tabs\tand  two  spaces,\nnew lines\n\n and trailing space ',
  `Before${endOfText}after ${endOfText} spaced`,
  'Numbers 12345 and 3.14159, symbols #@$%^&*()!',
  ' leading space and Qxzvyk Wrrrth, an invented name',
  // Spaces before punctuation and contractions, which a decoder's cleanup step would remove.
  "Wait . Is it , or is n't it ? I 'm sure !",
];

function trainAndLoad(vocabSize: number): { dir: string; bpe: ReturnType<typeof trainBpe>; tok: TextTokenizer } {
  const bpe = trainBpe(corpus, { vocabSize });
  const dir = tmpDir('cs-bpe-');
  bpe.save(dir);
  return { dir, bpe, tok: TextTokenizer.load(dir) };
}

test('merges on a hand-worked corpus: most frequent pair first, and training stops below minFrequency', () => {
  // Pieces "abab" and "Ġabab": (a,b) occurs 4 times, (b,a) twice, (Ġ,a) once. After a+b, the pieces
  // are [ab,ab] and [Ġ,ab,ab]: (ab,ab) occurs twice, (Ġ,ab) once. After ab+ab only (Ġ,abab) is left,
  // seen once, below the default minFrequency of 2.
  const bpe = trainBpe(['abab abab'], { vocabSize: 1000 });
  assert.deepEqual(bpe.merges, [
    ['a', 'b'],
    ['ab', 'ab'],
  ]);
  assert.equal(bpe.vocab.length, 256 + 2 + 1);
  assert.equal(bpe.vocab[256], 'ab');
  assert.equal(bpe.vocab[257], 'abab');
  assert.equal(bpe.vocab[258], endOfText);
});

test('ties go to the pair with the smaller left id, then the smaller right id', () => {
  // Every pair occurs once. In GPT-2's byte order 'a' is id 64 and 'c' is 66, while the space
  // symbol 'Ġ' comes after all printable bytes, so (a,b) wins, then (c,d), then (Ġ,cd).
  const bpe = trainBpe(['ab cd'], { vocabSize: 300, minFrequency: 1 });
  assert.deepEqual(bpe.merges, [
    ['a', 'b'],
    ['c', 'd'],
    ['Ġ', 'cd'],
  ]);
});

test('the first 256 ids are the byte symbols in GPT-2 order, as in GPT-2 vocab.json', () => {
  const gpt2 = JSON.parse(fs.readFileSync(path.join(gpt2TokenizerDir, 'vocab.json'), 'utf8')) as Record<string, number>;
  const bpe = trainBpe(['x'], { vocabSize: 257 });
  for (let id = 0; id < 256; id++) assert.equal(gpt2[bpe.vocab[id]], id, `byte symbol ${JSON.stringify(bpe.vocab[id])}`);
});

test('training is deterministic, and a different corpus gives different merges', () => {
  const a = JSON.stringify(trainBpe(corpus, { vocabSize: 700 }).tokenizerJson());
  const b = JSON.stringify(trainBpe([...corpus], { vocabSize: 700 }).tokenizerJson());
  assert.equal(a, b);
  const other = generateDataset({ seed: 8 }).train.map((d) => d.text);
  const c = JSON.stringify(trainBpe(other, { vocabSize: 700 }).tokenizerJson());
  assert.notEqual(a, c);
});

test('vocabulary size, the end-of-text token and tokenizer_config.json', () => {
  const { dir, bpe, tok } = trainAndLoad(1024);
  assert.equal(bpe.vocab.length, 1024);
  assert.equal(bpe.merges.length, 1024 - 256 - 1);
  assert.equal(bpe.endOfTextId, 1023);
  assert.equal(tok.tokenToId(endOfText), 1023);
  assert.deepEqual(tok.encode(endOfText), [1023]);
  assert.equal(tok.bosId(undefined), 1023);
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8'));
  assert.equal(cfg.bos_token, endOfText);
  assert.equal(cfg.eos_token, endOfText);
});

test('@huggingface/tokenizers round-trips the corpus and unseen text through the written tokenizer.json', () => {
  const { tok } = trainAndLoad(1024);
  for (const text of [...corpus, ...unseen]) {
    const ids = tok.encode(text);
    assert.equal(tok.decode(ids), text, JSON.stringify(text));
  }
});

test('the trainer’s encoder and @huggingface/tokenizers give the same ids', () => {
  const { bpe, tok } = trainAndLoad(1024);
  for (const text of [...corpus, ...unseen]) assert.deepEqual(bpe.encode(text), tok.encode(text), JSON.stringify(text));
  for (const text of unseen) assert.equal(bpe.decode(bpe.encode(text)), text);
});

test('merges shrink the corpus well below one token per byte', () => {
  const { tok } = trainAndLoad(1024);
  const bytes = corpus.reduce((s, t) => s + Buffer.byteLength(t, 'utf8'), 0);
  const tokens = corpus.reduce((s, t) => s + tok.encode(t).length, 0);
  // Frequent words of the biographies become single tokens; a third of the bytes is a loose bound.
  assert.ok(tokens < bytes / 3, `${tokens} tokens for ${bytes} bytes`);
  // A larger vocabulary compresses further.
  const big = trainAndLoad(1536).tok;
  assert.ok(corpus.reduce((s, t) => s + big.encode(t).length, 0) < tokens);
});

test('firstTargetToken finds the leading-space token of a target after a prompt', () => {
  const { tok } = trainAndLoad(1024);
  const d = generateDataset({ seed: 7 });
  const city = d.pools.city[0];
  const id = firstTargetToken(tok, 'Lily lives in the city of', ' ' + city);
  // The byte-level pre-tokenizer keeps the space with the word, so the target starts a token of its own.
  assert.equal(id, tok.encode(' ' + city)[0]);
  assert.ok(tok.tokenText(id).startsWith(' '), JSON.stringify(tok.tokenText(id)));
  assert.ok((' ' + city).startsWith(tok.tokenText(id)));
  // The pool's cities occur hundreds of times in the corpus, so each is one token.
  assert.equal(tok.tokenText(id), ' ' + city);
  // The same holds for GPT-2's own tokenizer.
  const gpt2 = TextTokenizer.load(gpt2TokenizerDir);
  assert.equal(gpt2.tokenText(firstTargetToken(gpt2, 'Lily lives in the city of', ' Boston')), ' Boston');
});

test('rejects a vocabulary too small for the byte alphabet', () => {
  assert.throws(() => trainBpe(['x'], { vocabSize: 200 }), /at least 257/);
});
