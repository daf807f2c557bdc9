/** Packing documents into fixed-length training blocks, as the method spec's custom `group_texts`. */
import { UserError } from '../../engine/errors';
import type { TrainableModel } from './models';

/** One training block: `tokens` has the block length, of which the first `length` are real. */
export interface Block {
  readonly tokens: readonly number[];
  readonly length: number;
}

export interface PackOptions {
  readonly blockSize: number;
  /** Prepended to every document (the engine prepends BOS to every prompt it analyses). */
  readonly bos?: number;
  /** Appended to every document. */
  readonly eos?: number;
  /** Fills the rest of a block; these positions are masked out of the loss. */
  readonly pad: number;
}

export interface PackResult {
  readonly blocks: Block[];
  /** Documents longer than a block, which had to be cut into consecutive blocks of their own. */
  readonly splitDocuments: number;
  /** Real tokens over all blocks (documents with their separators). */
  readonly tokens: number;
}

/**
 * Packs documents, in order, into fixed-length blocks without splitting a document across blocks
 * (the spec's custom `group_texts`): a document that does not fit in the rest of the current block
 * starts a new one, and the rest of the block is padding. A document longer than a whole block
 * cannot be kept whole anywhere; it is cut into consecutive blocks of its own, and counted.
 */
export function packDocuments(docs: readonly (readonly number[])[], o: PackOptions): PackResult {
  const T = o.blockSize;
  const blocks: Block[] = [];
  let cur: number[] = [];
  let splitDocuments = 0;
  let tokens = 0;
  const close = (): void => {
    // A block of one token has no next-token target, so it would only add padding to a batch.
    if (cur.length >= 2) blocks.push({ length: cur.length, tokens: cur.concat(new Array<number>(T - cur.length).fill(o.pad)) });
    cur = [];
  };
  for (const doc of docs) {
    const seq = [...(o.bos !== undefined ? [o.bos] : []), ...doc, ...(o.eos !== undefined ? [o.eos] : [])];
    tokens += seq.length;
    if (seq.length > T) {
      splitDocuments++;
      close();
      for (let s = 0; s < seq.length; s += T) {
        cur = seq.slice(s, s + T);
        close();
      }
      continue;
    }
    if (cur.length + seq.length > T) close();
    cur.push(...seq);
  }
  close();
  return { blocks, splitDocuments, tokens };
}

/** The token ids of documents given as text (tokenized with the model's tokenizer) or as ids. */
export function tokenizeDocuments(model: TrainableModel, docs: readonly (string | readonly number[])[]): (readonly number[])[] {
  return docs.map((doc) => {
    if (typeof doc !== 'string') return doc;
    if (!model.tokenizer) throw new UserError('documents are given as text, but the model has no tokenizer; give tokenizerDir to initModel');
    return model.tokenizer.encode(doc);
  });
}
