/**
 * Facts files for Create Prompt Set from Facts (src/shared/facts.ts) and the CSV reader under them
 * (src/shared/csv.ts): what is read from good files, and every bad line named by its line with what to
 * write instead. The expected facts and lines are written out by hand.
 */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCsv } from '../../src/shared/csv';
import { parseFactLine, parseFactsFile } from '../../src/shared/facts';

const lily = { subject: 'Lily', template: '{subject} went to the', object: 'park' };
const tim = { subject: 'Tim', template: '{subject} went to the', object: 'store' };

test('CSV rows start on their own lines: quoted commas, doubled quotes, newlines in quotes, CRLF, blank lines', () => {
  const text = 'a,b\r\n"x, y","say ""hi"""\r\n\r\n"two\nlines",z\nlast,"q"';
  assert.deepEqual(parseCsv(text), {
    rows: [
      { line: 1, fields: ['a', 'b'] },
      { line: 2, fields: ['x, y', 'say "hi"'] },
      { line: 4, fields: ['two\nlines', 'z'] },
      { line: 6, fields: ['last', 'q'] },
    ],
  });
  assert.equal(parseCsv('a,b\nok,1\n"open,2\nmore,3\n').unclosedQuoteLine, 3);
});

test('a CSV of facts with a header: subject, relation (the template) and answer; quoted fields; extra columns ignored', () => {
  const text = 'subject,relation,answer,note\nLily,{subject} went to the,park,\n"Tim","{subject} went to the","store","a, b"\n';
  assert.deepEqual(parseFactsFile('facts.csv', text), { format: 'csv', facts: [lily, tim], problems: [] });
  // "template" and "object" are accepted too, in any order and case, and fields are trimmed.
  assert.deepEqual(parseFactsFile('f.csv', '\uFEFFObject , Template,Subject\n park ,{subject} went to the,Lily\n').facts, [lily]);
});

test('every bad CSV line is a problem at its line that says what to do', () => {
  const text = ['subject,template,answer', 'Lily,{subject} went to the,park', 'Tim,{subject} went, to the,store', ',{subject} went to the,home', 'Ben,{subject} played with the,', 'Tim,{subject} went to the,store'].join('\n');
  const r = parseFactsFile('facts.csv', text);
  assert.deepEqual(r.facts, [lily, tim]);
  assert.deepEqual(
    r.problems.map((p) => p.line),
    [3, 4, 5],
  );
  assert.match(r.problems[0].message, /the row has 4 fields but the header has 3; put a field that holds a comma in double quotes/);
  assert.match(r.problems[1].message, /the subject is empty; each fact needs a subject, a template and an answer/);
  assert.match(r.problems[2].message, /the answer is empty/);
});

test('a CSV without the header, or with a quote left open, is refused at the line at fault', () => {
  const noHeader = parseFactsFile('facts.csv', 'Lily,{subject} went to the,park\n');
  assert.equal(noHeader.facts.length, 0);
  assert.equal(noHeader.problems[0].line, 1);
  assert.match(noHeader.problems[0].message, /^the first row must be a header with the columns subject, template \(or relation\) and answer \(or object\); it has "Lily", .* and lacks subject, template, answer: add the header row subject,template,answer$/);
  const open = parseFactsFile('facts.csv', 'subject,template,answer\nLily,{subject} went to the,park\n"Tim,{subject} went to the,store\nBen,{subject} played with the,ball\n');
  assert.deepEqual(open.facts, [lily]);
  assert.deepEqual(
    open.problems.map((p) => [p.line, /quoted field is not closed/.test(p.message)]),
    [[3, true]],
  );
});

test('a JSONL of facts: template or relation, answer or object; blank lines skipped', () => {
  const text = [JSON.stringify({ subject: 'Lily', template: '{subject} went to the', answer: 'park' }), '', JSON.stringify({ subject: 'Tim', relation: '{subject} went to the', object: 'store', group: 'x' })].join('\r\n');
  assert.deepEqual(parseFactsFile('facts.jsonl', text), { format: 'jsonl', facts: [lily, tim], problems: [] });
});

test('every bad JSONL line is a problem at its line that says what to do', () => {
  const lines = [
    JSON.stringify({ subject: 'Lily', template: '{subject} went to the', answer: 'park' }),
    '{"subject": "Tim", "template": "{subject} went to the" "answer": "store"}',
    '["Ben", "played with the", "ball"]',
    JSON.stringify({ subject: 'Ben', answer: 'ball' }),
    JSON.stringify({ subject: 'Ben', template: 'played with the', answer: 3 }),
    JSON.stringify({ prompt: 'Lily went to the', target: ' park' }),
    JSON.stringify({ subject: ' ', template: 'played with the', answer: 'ball' }),
  ];
  const r = parseFactsFile('facts.jsonl', lines.join('\n') + '\n');
  assert.equal(r.facts.length, 1);
  assert.deepEqual(
    r.problems.map((p) => p.line),
    [2, 3, 4, 5, 6, 7],
  );
  const [syntax, array, missing, type, pair, empty] = r.problems.map((p) => p.message);
  assert.match(syntax, /^not valid JSON \(.*\); write one fact per line, e\.g\. \{"subject": "Lily"/);
  assert.match(array, /^is an array, not an object/);
  assert.match(missing, /^lacks "template" or "relation"; each line needs a subject, a template and an answer/);
  assert.match(type, /^"answer" must be a string, got a number/);
  assert.match(pair, /is a prompt pair, not a fact: .*pick it in Discover Circuits/);
  assert.match(empty, /the subject is empty/);
});

test('the format follows the file name, else the first character; an empty file is one problem', () => {
  assert.equal(parseFactsFile('facts.txt', JSON.stringify({ subject: 'Lily', template: 'went to the', answer: 'park' })).format, 'jsonl');
  assert.equal(parseFactsFile('facts.txt', 'subject,template,answer\nLily,went to the,park').format, 'csv');
  const empty = parseFactsFile('facts.jsonl', '\n\n');
  assert.deepEqual(
    empty.problems.map((p) => [p.line, /has no facts/.test(p.message)]),
    [[undefined, true]],
  );
  assert.match(parseFactsFile('facts.csv', '').problems[0].message, /header row subject,template,answer/);
});

test('a typed line splits at |, tab or ; into exactly three non-empty parts', () => {
  assert.deepEqual(parseFactLine(' Lily | {subject} went to the |park '), lily);
  assert.deepEqual(parseFactLine('Lily\t{subject} went to the\tpark'), lily);
  assert.equal(parseFactLine('Lily | went to the'), undefined);
  assert.equal(parseFactLine('Lily | | park'), undefined);
});
