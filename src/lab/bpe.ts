/**
 * A small byte-level BPE tokenizer trainer in the style of GPT-2, for the demo lab's models that are
 * trained from scratch on the synthetic corpus.
 *
 * Text is split by GPT-2's pre-tokenizer regex, each piece is turned into bytes and the bytes into
 * GPT-2's printable byte alphabet (a space becomes 'Ġ'), and merges are learned from pair counts over
 * the distinct pieces until the vocabulary reaches the requested size. The result is written as a
 * Hugging Face `tokenizer.json` (ByteLevel pre-tokenizer and decoder, BPE model) that
 * `TextTokenizer.load` reads through @huggingface/tokenizers, plus a `tokenizer_config.json` naming
 * '<|endoftext|>' as BOS, EOS and UNK, as GPT-2's does.
 *
 * Vocabulary layout follows GPT-2: ids 0..255 are the 256 byte symbols in GPT-2's order, merged
 * tokens follow in the order they were learned, and the special tokens come last.
 */
import * as path from 'node:path';
import { byteLevelBpeJson } from '../engine/model/tokenizer';
import { writeFileAtomic } from '../engine/util/atomicWrite';

/**
 * GPT-2's pre-tokenizer pattern, the one @huggingface/tokenizers' ByteLevel pre-tokenizer uses. The
 * trainer must split text exactly as the loaded tokenizer will, or the learned merges would span
 * boundaries the tokenizer never joins.
 */
export const gpt2Pattern = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** The end-of-text token, BOS and EOS of GPT-2 style models. */
export const endOfText = '<|endoftext|>';

/**
 * GPT-2's byte-to-character table: printable Latin-1 bytes map to themselves and the rest to
 * code points from 256 up, so every token is a printable string without spaces.
 */
export const byteToChar: readonly string[] = (() => {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  const table = new Array<string>(256);
  bs.forEach((b, i) => (table[b] = String.fromCharCode(cs[i])));
  return table;
})();

/** GPT-2's byte order: the bytes in the order their characters were assigned (ids 0..255 of its vocab). */
const gpt2ByteOrder: readonly number[] = (() => {
  const order: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) order.push(b);
  for (let b = 0xa1; b <= 0xac; b++) order.push(b);
  for (let b = 0xae; b <= 0xff; b++) order.push(b);
  for (let b = 0; b < 256; b++) if (!order.includes(b)) order.push(b);
  return order;
})();

const charToByte = new Map<string, number>(byteToChar.map((c, b) => [c, b]));
const utf8 = new TextEncoder();

/** The byte-level form of a piece of text: one printable character per UTF-8 byte. */
export function toByteChars(text: string): string {
  let s = '';
  for (const b of utf8.encode(text)) s += byteToChar[b];
  return s;
}

/** Splits `text` the way the ByteLevel pre-tokenizer does (GPT-2 regex, no prefix space). */
export function preTokenize(text: string): string[] {
  return text.match(gpt2Pattern) ?? [];
}

/** Options of `trainBpe`. */
export interface BpeTrainOptions {
  /** Final vocabulary size, special tokens included; at least 256 + the number of special tokens. */
  readonly vocabSize: number;
  /**
   * Pairs seen fewer times than this are never merged, so a small corpus can end below `vocabSize`
   * rather than learn merges from single occurrences. Default 2.
   */
  readonly minFrequency?: number;
  /** Special tokens, appended after the merges. Default ['<|endoftext|>']. */
  readonly specialTokens?: readonly string[];
}

/** A trained byte-level BPE tokenizer: encoding, decoding and the Hugging Face files. */
export class BpeTokenizer {
  /** Token id of each merged token string, built once for encoding. */
  private readonly ids: Map<string, number>;
  /** Merge rank of each pair, keyed by "left right" (byte-level tokens never contain a space). */
  private readonly ranks: Map<string, number>;
  private readonly specialIds: Map<string, number>;
  private readonly cache = new Map<string, number[]>();

  constructor(
    /** Token strings by id, in the byte-level alphabet; special tokens are the last entries. */
    readonly vocab: readonly string[],
    /** Merges in the order they were learned (rank order). */
    readonly merges: readonly (readonly [string, string])[],
    /** Special token strings; each is in `vocab`. */
    readonly specialTokens: readonly string[],
  ) {
    this.ids = new Map(vocab.map((t, i) => [t, i]));
    this.ranks = new Map(merges.map(([a, b], i) => [`${a} ${b}`, i]));
    this.specialIds = new Map(specialTokens.map((t) => [t, this.ids.get(t)!]));
  }

  /** The id of '<|endoftext|>' (or of the first special token), for BOS/EOS in config.json. */
  get endOfTextId(): number {
    return this.ids.get(endOfText) ?? this.specialIds.get(this.specialTokens[0])!;
  }

  /**
   * Token ids of `text`, special tokens matched literally. This is an independent implementation of
   * what @huggingface/tokenizers does with the written tokenizer.json (merges applied lowest rank
   * first, leftmost first among equals); the tests hold the two against each other.
   */
  encode(text: string): number[] {
    const out: number[] = [];
    for (const [piece, special] of this.splitSpecial(text)) {
      if (special) {
        out.push(this.specialIds.get(piece)!);
        continue;
      }
      for (const word of preTokenize(piece)) out.push(...this.encodeWord(toByteChars(word)));
    }
    return out;
  }

  /** Text of `ids`; special tokens decode to their literal text. */
  decode(ids: readonly number[]): string {
    const bytes: number[] = [];
    let text = '';
    const flush = () => {
      text += Buffer.from(bytes).toString('utf8');
      bytes.length = 0;
    };
    for (const id of ids) {
      const tok = this.vocab[id];
      if (tok === undefined) throw new RangeError(`token id ${id} is outside the vocabulary of ${this.vocab.length}`);
      if (this.specialIds.has(tok)) {
        flush();
        text += tok;
        continue;
      }
      for (const ch of tok) bytes.push(charToByte.get(ch)!);
    }
    flush();
    return text;
  }

  /** The Hugging Face tokenizer.json object for this tokenizer. */
  tokenizerJson(): Record<string, unknown> {
    return byteLevelBpeJson(
      Object.fromEntries(this.vocab.map((t, i) => [t, i])),
      this.merges.map(([x, y]) => [x, y]),
      this.specialTokens.map((content) => ({ id: this.specialIds.get(content)!, content })),
    );
  }

  /**
   * The tokenizer_config.json object. Cleanup of tokenization spaces is off because it would turn
   * " ." into "." on decode and break the round trip.
   */
  tokenizerConfig(): Record<string, unknown> {
    const eot = this.vocab[this.endOfTextId];
    return {
      tokenizer_class: 'GPT2Tokenizer',
      add_prefix_space: false,
      bos_token: eot,
      eos_token: eot,
      unk_token: eot,
      model_max_length: 1024,
      clean_up_tokenization_spaces: false,
    };
  }

  /** Writes tokenizer.json and tokenizer_config.json into `dir` (created if needed), each atomically. */
  save(dir: string): void {
    writeFileAtomic(path.join(dir, 'tokenizer.json'), JSON.stringify(this.tokenizerJson()) + '\n');
    writeFileAtomic(path.join(dir, 'tokenizer_config.json'), JSON.stringify(this.tokenizerConfig(), null, 2) + '\n');
  }

  private *splitSpecial(text: string): Generator<[string, boolean]> {
    if (this.specialTokens.length === 0) {
      yield [text, false];
      return;
    }
    let start = 0;
    while (start < text.length) {
      // The earliest special token wins; at equal positions the longest, as a dictionary splitter does.
      let at = -1;
      let which = '';
      for (const s of this.specialTokens) {
        const i = text.indexOf(s, start);
        if (i >= 0 && (at < 0 || i < at || (i === at && s.length > which.length))) {
          at = i;
          which = s;
        }
      }
      if (at < 0) break;
      if (at > start) yield [text.slice(start, at), false];
      yield [which, true];
      start = at + which.length;
    }
    if (start < text.length) yield [text.slice(start), false];
  }

  private encodeWord(word: string): number[] {
    const hit = this.cache.get(word);
    if (hit) return hit;
    const parts = Array.from(word);
    for (;;) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < parts.length; i++) {
        const r = this.ranks.get(`${parts[i]} ${parts[i + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      const [a, b] = this.merges[bestRank];
      // All occurrences of the best pair merge in one pass, left to right, as in the reference BPE.
      const next: string[] = [];
      for (let i = 0; i < parts.length; i++) {
        if (i + 1 < parts.length && parts[i] === a && parts[i + 1] === b) {
          next.push(a + b);
          i++;
        } else next.push(parts[i]);
      }
      parts.splice(0, parts.length, ...next);
    }
    const ids = parts.map((p) => this.ids.get(p)!);
    this.cache.set(word, ids);
    return ids;
  }
}

/**
 * Learns a byte-level BPE tokenizer from `texts`. Deterministic: the most frequent pair is merged
 * first, and ties go to the pair with the smaller left id, then the smaller right id (ids are
 * assigned in learning order, so this depends on the corpus alone, not on map iteration order).
 */
export function trainBpe(texts: Iterable<string>, opts: BpeTrainOptions): BpeTokenizer {
  const specials = opts.specialTokens ?? [endOfText];
  if (!Number.isInteger(opts.vocabSize) || opts.vocabSize < 256 + specials.length) {
    throw new RangeError(`vocabSize must be an integer of at least ${256 + specials.length} (256 bytes + special tokens), got ${opts.vocabSize}`);
  }
  const { vocab, merges, idOf } = learnMerges(countWords(texts, specials), opts.vocabSize - specials.length, opts.minFrequency ?? 2);
  for (const s of specials) {
    if (idOf.has(s)) throw new Error(`special token ${JSON.stringify(s)} collides with a learned token`);
    idOf.set(s, vocab.length);
    vocab.push(s);
  }
  return new BpeTokenizer(vocab, merges, specials);
}

/** Distinct pre-tokenized words (as byte characters) with their counts; merges are learned over these. */
function countWords(texts: Iterable<string>, specials: readonly string[]): Map<string, number> {
  const wordCounts = new Map<string, number>();
  // Special tokens in the corpus (documents joined by '<|endoftext|>') are cut out first, so their
  // characters are not learned as ordinary merges.
  const specialSplit = specials.length ? new RegExp(specials.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g') : undefined;
  for (const text of texts) {
    for (const word of (specialSplit ? text.split(specialSplit) : [text]).flatMap(preTokenize)) {
      const w = toByteChars(word);
      wordCounts.set(w, (wordCounts.get(w) ?? 0) + 1);
    }
  }
  return wordCounts;
}

/** Learns merges until the vocabulary has `budget` tokens or no pair occurs `minFrequency` times. */
function learnMerges(wordCounts: Map<string, number>, budget: number, minFrequency: number): { vocab: string[]; merges: [string, string][]; idOf: Map<string, number> } {
  const vocab: string[] = gpt2ByteOrder.map((b) => byteToChar[b]);
  const idOf = new Map<string, number>(vocab.map((t, i) => [t, i]));
  const merges: [string, string][] = [];
  const words: number[][] = [];
  const counts: number[] = [];
  for (const [w, c] of wordCounts) {
    words.push(Array.from(w, (ch) => idOf.get(ch)!));
    counts.push(c);
  }

  // A pair of ids (both below 2^16) packed into one number, so maps key on numbers, not strings.
  const key = (a: number, b: number) => a * 65536 + b;
  const pairCounts = new Map<number, number>();
  // Words that contained a pair at some point; entries can go stale and are rechecked on use.
  const where = new Map<number, Set<number>>();
  const addWord = (wi: number, sign: 1 | -1) => {
    const w = words[wi];
    for (let i = 0; i + 1 < w.length; i++) {
      const k = key(w[i], w[i + 1]);
      const c = (pairCounts.get(k) ?? 0) + sign * counts[wi];
      if (c === 0) pairCounts.delete(k);
      else pairCounts.set(k, c);
      if (sign > 0) (where.get(k) ?? where.set(k, new Set()).get(k)!).add(wi);
    }
  };
  for (let wi = 0; wi < words.length; wi++) addWord(wi, 1);

  while (vocab.length < budget) {
    let bestKey = -1;
    let bestCount = 0;
    for (const [k, c] of pairCounts) {
      if (c > bestCount || (c === bestCount && k < bestKey)) {
        bestKey = k;
        bestCount = c;
      }
    }
    if (bestKey < 0 || bestCount < minFrequency) break;
    const a = Math.floor(bestKey / 65536);
    const b = bestKey % 65536;
    const merged = vocab[a] + vocab[b];
    // Two merge paths can spell the same string ("ab"+"c" and "a"+"bc"); they share one id.
    let id = idOf.get(merged);
    if (id === undefined) {
      id = vocab.length;
      vocab.push(merged);
      idOf.set(merged, id);
    }
    merges.push([vocab[a], vocab[b]]);
    const affected = [...where.get(bestKey)!].sort((x, y) => x - y);
    where.delete(bestKey);
    for (const wi of affected) {
      if (!words[wi].some((t, i) => t === a && words[wi][i + 1] === b)) continue;
      addWord(wi, -1);
      words[wi] = mergePair(words[wi], a, b, id);
      addWord(wi, 1);
    }
  }
  return { vocab, merges, idOf };
}

/** A word with every non-overlapping (a, b) replaced by `id`, left to right. */
function mergePair(w: readonly number[], a: number, b: number, id: number): number[] {
  const next: number[] = [];
  for (let i = 0; i < w.length; i++) {
    if (i + 1 < w.length && w[i] === a && w[i + 1] === b) {
      next.push(id);
      i++;
    } else next.push(w[i]);
  }
  return next;
}
