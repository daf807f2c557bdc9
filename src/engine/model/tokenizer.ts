/**
 * Tokenizers from a checkpoint folder: `tokenizer.json` through @huggingface/tokenizers, or a GPT-2
 * style `vocab.json` + `merges.txt` pair, which is turned into the equivalent byte-level BPE
 * tokenizer.json in memory. BOS is never added by the tokenizer itself; the engine prepends it
 * explicitly (see `bosId`), so that every tokenizer behaves the same way.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { CheckpointError } from '../errors';
import { brief } from './configReader';
import { isObject, jsonType, readFileBounded, readJsonFile } from '../util/jsonText';

export const tokenizerFiles = ['tokenizer.json', 'vocab.json', 'merges.txt', 'tokenizer_config.json', 'special_tokens_map.json'];

/** True when `dir` holds a tokenizer the engine can read. */
export function hasTokenizer(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'tokenizer.json')) || (fs.existsSync(path.join(dir, 'vocab.json')) && fs.existsSync(path.join(dir, 'merges.txt')));
}

/** Largest tokenizer file accepted (the largest real tokenizer.json files are tens of MiB). */
const maxTokenizerBytes = 256 * 1024 * 1024;
/** Largest token id accepted (real vocabularies have at most a few hundred thousand tokens). */
const maxTokenId = 1 << 24;

function readJsonObject(file: string): Record<string, unknown> {
  const fail = (d: string): never => {
    throw new CheckpointError(file, d);
  };
  const json = readJsonFile(file, fail, { maxBytes: maxTokenizerBytes });
  if (!isObject(json)) fail(`is ${jsonType(json)}, not a JSON object`);
  return json as Record<string, unknown>;
}

const isId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) < maxTokenId;

/** Checks a token → id map as Hugging Face's tokenizers require it: an object of non-negative integer ids. */
function checkVocabMap(vocab: unknown, fail: (detail: string, field: string) => never, field: string): Map<string, number> {
  if (!isObject(vocab)) return fail(`must be an object mapping tokens to ids, got ${jsonType(vocab)}`, field);
  const map = new Map<string, number>();
  for (const [tok, id] of Object.entries(vocab)) {
    if (!isId(id)) return fail(`token ${brief(tok)} has id ${brief(id)}; ids are integers from 0 to ${maxTokenId - 1}`, field);
    map.set(tok, id);
  }
  if (map.size === 0) return fail('is empty; a tokenizer needs a vocabulary', field);
  return map;
}

/**
 * Checks BPE merges as Hugging Face's tokenizers do: each a pair of tokens ("a b" or ["a", "b"]),
 * both in the vocabulary, and so is their concatenation.
 */
function checkMerges(merges: unknown, vocab: Map<string, number>, fail: (detail: string, field: string) => never, field: string, prefixLen = 0): void {
  if (!Array.isArray(merges)) return fail(`must be a list of merges, got ${jsonType(merges)}`, field);
  merges.forEach((m, i) => {
    let pair: unknown[];
    if (typeof m === 'string') pair = m.split(' ');
    else if (Array.isArray(m)) pair = m;
    else return fail(`entry ${i + 1} is ${jsonType(m)}; a merge is "a b" or ["a", "b"]`, field);
    if (pair.length !== 2 || !pair.every((x) => typeof x === 'string' && x !== '')) {
      return fail(`entry ${i + 1} (${brief(typeof m === 'string' ? m : `[${pair.map(brief).join(', ')}]`)}) is not a pair of two tokens`, field);
    }
    const [x, y] = pair as string[];
    for (const t of [x, y, x + y.slice(prefixLen)]) {
      if (!vocab.has(t)) return fail(`entry ${i + 1} (${brief(`${x} ${y}`)}) uses token ${brief(t)}, which is not in the vocabulary`, field);
    }
  });
}

const modelTypes = ['BPE', 'WordPiece', 'WordLevel', 'Unigram'];

/** Checks tokenizer.json where Hugging Face's tokenizers would refuse it; fills the optional parts with null. */
export function checkTokenizerJson(json: Record<string, unknown>, file: string): Record<string, unknown> {
  const fail = (detail: string, field?: string): never => {
    throw new CheckpointError(file, detail, field);
  };
  const model = json.model;
  if (!isObject(model)) return fail(`must be an object describing the tokenizer model, got ${jsonType(model)}`, 'model');
  const type = model.type;
  if (type !== undefined && (typeof type !== 'string' || !modelTypes.includes(type))) fail(`unknown model type ${brief(type)}; Hugging Face tokenizers know ${modelTypes.join(', ')}`, 'model.type');
  const kind = (type as string | undefined) ?? (Array.isArray(model.vocab) ? 'Unigram' : 'merges' in model ? 'BPE' : 'WordPiece');
  if (kind === 'Unigram') {
    const v = model.vocab;
    if (!Array.isArray(v)) fail(`must be a list of [token, score] pairs, got ${jsonType(v)}`, 'model.vocab');
    if ((v as unknown[]).length === 0) fail('is empty; a tokenizer needs a vocabulary', 'model.vocab');
    (v as unknown[]).forEach((e, i) => {
      if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string' || typeof e[1] !== 'number') fail(`entry ${i + 1} is not a [token, score] pair`, 'model.vocab');
    });
  } else {
    const vocab = checkVocabMap(model.vocab, fail, 'model.vocab');
    if (kind === 'BPE') {
      const prefix = model.continuing_subword_prefix;
      checkMerges(model.merges, vocab, fail, 'model.merges', typeof prefix === 'string' ? prefix.length : 0);
    }
  }
  const added = json.added_tokens ?? [];
  if (!Array.isArray(added)) fail(`must be a list of tokens, got ${jsonType(added)}`, 'added_tokens');
  (added as unknown[]).forEach((t, i) => {
    if (!isObject(t) || !isId(t.id) || typeof t.content !== 'string') fail(`entry ${i + 1} needs an integer 'id' and a string 'content'`, 'added_tokens');
  });
  for (const part of ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder']) {
    const v = json[part];
    if (v === undefined || v === null) continue;
    if (!isObject(v) || typeof v.type !== 'string') fail(`must be null or an object with a 'type', got ${jsonType(v)}`, part);
  }
  return { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, ...json, added_tokens: added };
}

/** A special-token field of tokenizer_config.json: a string, or an AddedToken object with 'content'. */
function specialText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (isObject(v) && typeof v.content === 'string') return v.content;
  return undefined;
}

/** Checks tokenizer_config.json's fields that the tokenizer reads; returns a copy the library can take. */
export function checkTokenizerConfig(cfg: Record<string, unknown>, file: string): Record<string, unknown> {
  const out: Record<string, unknown> = { ...cfg };
  for (const key of ['bos_token', 'eos_token', 'unk_token', 'pad_token']) {
    const v = cfg[key];
    if (v === undefined || v === null) continue;
    const t = specialText(v);
    if (t === undefined) throw new CheckpointError(file, `must be a token string or an object with a 'content' string, got ${brief(v)}`, key);
    out[key] = t;
  }
  const extra = cfg.additional_special_tokens;
  if (extra !== undefined && extra !== null) {
    if (!Array.isArray(extra)) throw new CheckpointError(file, `must be a list of tokens, got ${jsonType(extra)}`, 'additional_special_tokens');
    out.additional_special_tokens = extra.map((t, i) => specialText(t) ?? (() => { throw new CheckpointError(file, `entry ${i + 1} is ${jsonType(t)}, not a token`, 'additional_special_tokens'); })());
  }
  for (const key of ['remove_space', 'clean_up_tokenization_spaces', 'do_lowercase_and_remove_accent']) {
    const v = cfg[key];
    if (v !== undefined && v !== null && typeof v !== 'boolean') throw new CheckpointError(file, `must be true or false, got ${brief(v)}`, key);
  }
  return out;
}

/**
 * A GPT-2-style byte-level BPE tokenizer.json: ByteLevel pre-tokenizer and decoder, no normalizer,
 * no post-processor (BOS is added by the engine), the given special tokens as added tokens.
 */
export function byteLevelBpeJson(vocab: Record<string, number>, merges: readonly (readonly string[])[], specials: readonly { id: number; content: string }[]): Record<string, unknown> {
  const byteLevel = { add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map(({ id, content }) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true })),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', ...byteLevel },
    post_processor: null,
    decoder: { type: 'ByteLevel', ...byteLevel },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}

/** The GPT-2 byte-level BPE tokenizer.json built from vocab.json + merges.txt, checked as HF checks them. */
function gpt2TokenizerJson(dir: string): Record<string, unknown> {
  const vocabFile = path.join(dir, 'vocab.json');
  const mergesFile = path.join(dir, 'merges.txt');
  const vocabJson = readJsonFile(vocabFile, (d) => {
    throw new CheckpointError(vocabFile, d);
  }, { maxBytes: maxTokenizerBytes, maxDepth: 2 });
  const vocab = checkVocabMap(vocabJson, (d) => {
    throw new CheckpointError(vocabFile, d);
  }, '');
  const lines = readFileBounded(mergesFile, (d) => {
    throw new CheckpointError(mergesFile, d);
  }, maxTokenizerBytes)
    .toString('utf8')
    .split('\n');
  const merges: string[][] = [];
  lines.forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (line.length === 0 || (i === 0 && line.startsWith('#version'))) return;
    checkMerges([line], vocab, (d) => {
      throw new CheckpointError(`${mergesFile}:${i + 1}`, d.replace(/^entry 1 /, 'the merge '));
    }, '');
    merges.push(line.split(' '));
  });
  const eot = vocab.get('<|endoftext|>');
  return byteLevelBpeJson(Object.fromEntries(vocab), merges, eot === undefined ? [] : [{ id: eot, content: '<|endoftext|>' }]);
}

export class TextTokenizer {
  private constructor(
    private readonly tok: HfTokenizer,
    /** The folder the tokenizer was read from. */
    readonly dir: string,
    readonly config: Record<string, unknown>,
  ) {}

  static load(dir: string): TextTokenizer {
    const cfgFile = path.join(dir, 'tokenizer_config.json');
    const config = fs.existsSync(cfgFile) ? readJsonObject(cfgFile) : {};
    const libConfig = checkTokenizerConfig(config, cfgFile);
    const tjFile = path.join(dir, 'tokenizer.json');
    let json: Record<string, unknown>;
    let source: string;
    if (fs.existsSync(tjFile)) {
      json = checkTokenizerJson(readJsonObject(tjFile), tjFile);
      source = tjFile;
    } else if (fs.existsSync(path.join(dir, 'vocab.json')) && fs.existsSync(path.join(dir, 'merges.txt'))) {
      json = gpt2TokenizerJson(dir);
      source = path.join(dir, 'vocab.json');
    } else {
      throw new CheckpointError(
        dir,
        'has no tokenizer: expected tokenizer.json, or vocab.json + merges.txt. Copy the tokenizer files of the base model into the folder (or into the run folder above it).',
      );
    }
    let tok: HfTokenizer;
    try {
      tok = new HfTokenizer(json, libConfig);
      // Some problems only show when text goes through every stage.
      tok.decode(tok.encode('Hello world 123', { add_special_tokens: false }).ids, { skip_special_tokens: false });
    } catch (e) {
      const unknown = /^Unknown (\w+) type: (.*)$/.exec((e as Error).message ?? '');
      if (unknown) throw new CheckpointError(source, `${unknown[1]} type ${brief(unknown[2])} is not supported by Circuitscope's tokenizer; report the tokenizer`);
      throw new CheckpointError(source, 'cannot be turned into a working tokenizer although its fields look valid; re-save it with Hugging Face tokenizers (tokenizer.save), or report the file');
    }
    return new TextTokenizer(tok, dir, config);
  }

  /** Token ids of `text`, without special tokens. */
  encode(text: string): number[] {
    return this.tok.encode(text, { add_special_tokens: false }).ids;
  }

  decode(ids: readonly number[]): string {
    if (ids.length === 0) return '';
    return this.tok.decode([...ids], { skip_special_tokens: false });
  }

  /**
   * The text of one token, for labels. A token that is part of a UTF-8 sequence decodes to '\ufffd';
   * its label shows its real bytes instead, read from its vocabulary piece: `<0xNN>` for each byte
   * that is not printable ASCII (SentencePiece's byte-fallback pieces already are `<0xNN>`).
   */
  tokenText(id: number): string {
    const text = this.tok.decode([id], { skip_special_tokens: false });
    if (!text.includes('\ufffd')) return text;
    const piece = this.tok.id_to_token(id);
    if (piece === undefined) return text;
    if (/^<0x[0-9a-f]{2}>$/i.test(piece)) return piece.toUpperCase().replace('0X', '0x');
    const bytes = byteLevelBytes(piece);
    if (!bytes) return text;
    return bytes.map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`)).join('');
  }

  tokenToId(token: string): number | undefined {
    return this.tok.token_to_id(token);
  }

  /** The BOS token id: config.json's bos_token_id, else tokenizer_config's bos_token. */
  bosId(configBos: number | undefined): number | undefined {
    if (configBos !== undefined) return configBos;
    const text = specialText(this.config.bos_token);
    return text === undefined ? undefined : this.tokenToId(text);
  }
}

/** GPT-2's byte-level alphabet (bytes_to_unicode): the character that stands for each byte in a vocabulary piece. */
const byteOfChar: ReadonlyMap<string, number> = (() => {
  const m = new Map<string, number>();
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    m.set(String.fromCodePoint(printable ? b : 256 + extra++), b);
  }
  return m;
})();

/** The bytes of a byte-level BPE piece, or undefined when the piece is not written in that alphabet. */
function byteLevelBytes(piece: string): number[] | undefined {
  const out: number[] = [];
  for (const ch of piece) {
    const b = byteOfChar.get(ch);
    if (b === undefined) return undefined;
    out.push(b);
  }
  return out;
}
