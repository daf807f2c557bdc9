/**
 * Token labels: a token that is part of a UTF-8 sequence shows its real bytes as <0xNN> (read from
 * its vocabulary piece), not the replacement character; whole characters stay as they are.
 */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { TextTokenizer } from '../../src/engine/model/tokenizer';
import { gpt2TokenizerDir } from '../helpers/tinyModels';

test('tokenText shows the bytes of a partial UTF-8 token as <0xNN>', () => {
  const tok = TextTokenizer.load(gpt2TokenizerDir);
  const id = (piece: string) => {
    const i = tok.tokenToId(piece);
    assert.notEqual(i, undefined, `GPT-2 has the piece ${piece}`);
    return i!;
  };
  // 'â' is byte 0xE2 in GPT-2's byte alphabet, 'Ģ' is 0x80 and 'Ġ' the space: the first bytes of '—'.
  assert.equal(tok.tokenText(id('â')), '<0xE2>');
  assert.equal(tok.tokenText(id('ĠâĢ')), ' <0xE2><0x80>');
  // Whole characters and plain words are unchanged.
  assert.equal(tok.tokenText(id('Ġthe')), ' the');
  assert.equal(tok.tokenText(id('Ã©')), 'é'); // bytes C3 A9: a whole character
  assert.equal(tok.tokenText(id('é')), '<0xE9>'); // byte E9 alone is not UTF-8
  for (const text of ['Hello', ' world', '\n']) for (const i of tok.encode(text)) assert.ok(!tok.tokenText(i).includes('<0x'), `${JSON.stringify(text)} → ${tok.tokenText(i)}`);
});
