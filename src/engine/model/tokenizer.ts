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

export const tokenizerFiles = ['tokenizer.json', 'vocab.json', 'merges.txt', 'tokenizer_config.json', 'special_tokens_map.json'];

/** True when `dir` holds a tokenizer the engine can read. */
export function hasTokenizer(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'tokenizer.json')) || (fs.existsSync(path.join(dir, 'vocab.json')) && fs.existsSync(path.join(dir, 'merges.txt')));
}

function readJson(file: string): Record<string, unknown> {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CheckpointError(file, `not valid JSON (${(e as Error).message})`);
  }
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

/** The GPT-2 byte-level BPE tokenizer.json built from vocab.json + merges.txt. */
function gpt2TokenizerJson(dir: string): Record<string, unknown> {
  const vocab = readJson(path.join(dir, 'vocab.json')) as Record<string, number>;
  const merges = fs
    .readFileSync(path.join(dir, 'merges.txt'), 'utf8')
    .split('\n')
    .filter((line) => line.length > 0 && !line.startsWith('#version'))
    .map((line) => line.split(' '));
  const eot = vocab['<|endoftext|>'];
  return byteLevelBpeJson(vocab, merges, eot === undefined ? [] : [{ id: eot, content: '<|endoftext|>' }]);
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
    const config = fs.existsSync(cfgFile) ? readJson(cfgFile) : {};
    const tjFile = path.join(dir, 'tokenizer.json');
    let json: Record<string, unknown>;
    if (fs.existsSync(tjFile)) json = readJson(tjFile);
    else if (fs.existsSync(path.join(dir, 'vocab.json')) && fs.existsSync(path.join(dir, 'merges.txt'))) json = gpt2TokenizerJson(dir);
    else {
      throw new CheckpointError(
        dir,
        'has no tokenizer: expected tokenizer.json, or vocab.json + merges.txt. Copy the tokenizer files of the base model into the folder (or into the run folder above it).',
      );
    }
    let tok: HfTokenizer;
    try {
      tok = new HfTokenizer(json, config);
    } catch (e) {
      throw new CheckpointError(tjFile, `cannot build the tokenizer: ${(e as Error).message}`);
    }
    return new TextTokenizer(tok, dir, config);
  }

  /** Token ids of `text`, without special tokens. */
  encode(text: string): number[] {
    return this.tok.encode(text, { add_special_tokens: false }).ids;
  }

  decode(ids: readonly number[]): string {
    return this.tok.decode([...ids], { skip_special_tokens: false });
  }

  /** The text of one token, for labels. */
  tokenText(id: number): string {
    return this.tok.decode([id], { skip_special_tokens: false });
  }

  tokenToId(token: string): number | undefined {
    return this.tok.token_to_id(token);
  }

  /** The BOS token id: config.json's bos_token_id, else tokenizer_config's bos_token. */
  bosId(configBos: number | undefined): number | undefined {
    if (configBos !== undefined) return configBos;
    const bos = this.config.bos_token;
    const text = typeof bos === 'string' ? bos : bos && typeof bos === 'object' ? (bos as { content?: string }).content : undefined;
    return text === undefined ? undefined : this.tokenToId(text);
  }
}
