/**
 * The demo lab's synthetic biographies: the knowledge-circuits data generator (method spec §6),
 * scaled down so that several checkpoints can be trained and analysed on a laptop CPU in minutes.
 *
 * What is kept from the spec: two knowledge types ('new' = invented names, K_compl; 'revised' = names
 * the base model already knows, K_rel), frequencies drawn as round(Exponential) clipped to at least 1,
 * with revised entities taking evenly spaced values of the same sorted array (`reduce_array`), one
 * document per unit of frequency made of one random template per relation in shuffled order, the
 * frequency buckets high (> 5), medium (2–5) and low (= 1), the spec's query templates, and circuit
 * prompts whose corrupted subject has the same token length (lengths with at most 5 subjects dropped).
 *
 * What is scaled down, and why:
 * - 250 entities (200 new, 50 revised) instead of 50,000, and every entity is used in the prompt
 *   sets instead of 300 sampled per group: the whole demo must train and analyse in minutes.
 * - Three relations (city, company, major), the ones the method builds circuits for, with 4
 *   biography templates each instead of about 50; one template per relation is the query template
 *   itself with the answer appended, because a model this small trained this briefly does not learn
 *   to answer a paraphrase it never saw.
 * - Exponential rate 0.25 instead of 0.4: at 0.4 only about 11% of entities are high-frequency, which
 *   with 50 revised entities leaves about 5 prompts in revised/high. At 0.25 the buckets hold about
 *   31% low, 44% medium and 25% high.
 * - Attribute pools of 12 values whose first tokens are distinct (see `choosePools`), because the
 *   circuit metric compares first tokens.
 *
 * Everything is drawn from one seeded Mulberry32 stream, so a seed fixes every byte of the output.
 */
import * as path from 'node:path';
import { frequencyBucket, queryTemplates } from '../engine/circuits/prompts';
import { writeFileAtomic } from '../engine/util/atomicWrite';
import { mulberry32 } from '../engine/util/random';

export { mulberry32 };

/** The relations of the synthetic biographies; all three have circuit prompt sets. */
export const relations = ['city', 'company', 'major'] as const;
/** One of `relations`; also the key of its query template in prompts.ts. */
export type Relation = (typeof relations)[number];

/** Knowledge type: 'new' = invented names (K_compl), 'revised' = names the base model knows (K_rel). */
export type KnowledgeType = 'new' | 'revised';

/** Group order of every output: type, then bucket from high to low, as the spec's test set. */
export const groupOrder: readonly string[] = (['new', 'revised'] as const).flatMap((t) => (['high', 'medium', 'low'] as const).map((b) => `${t}/${b}`));

/** One entity with its facts. */
export interface Entity {
  readonly name: string;
  readonly type: KnowledgeType;
  /** The number of biographies of this entity in the training corpus. */
  readonly frequency: number;
  readonly attributes: Readonly<Record<Relation, string>>;
}

/**
 * Names that TinyStories (and so stories260K) uses for its characters: the 'revised' entities, whose
 * names the base model already knows. Single first names, because TinyStories characters have no
 * surnames.
 */
export const tinyStoriesNames: readonly string[] = [
  'Lily', 'Tom', 'Ben', 'Sue', 'Max', 'Sam', 'Mia', 'Bob', 'Tim', 'Anna', 'Lucy', 'Jack',
  'Timmy', 'Sara', 'Amy', 'Jill', 'Mark', 'Zoe', 'Emma', 'Leo', 'Joe', 'Jane', 'Molly', 'Daisy',
  'Rosie', 'Billy', 'Sally', 'Jenny', 'Kitty', 'Mimi', 'Bella', 'Ella', 'Lisa', 'Kate', 'Tommy', 'Jimmy',
  'Sophie', 'Chloe', 'Ann', 'Bill', 'Dan', 'Fred', 'Jake', 'John', 'Mike', 'Nick', 'Pam', 'Paul',
  'Peter', 'Ruby', 'Rose', 'Ted', 'Tina', 'Toby', 'Luke', 'Alex', 'Grace', 'Mary', 'Lila', 'Susie',
];

/**
 * Surnames added, in order, when more revised entities are asked for than there are known first
 * names; the known first name is what the base model recognizes.
 */
const knownSurnames = ['Smith', 'Brown', 'Green', 'White', 'Jones', 'Miller', 'Baker', 'Hill'];

/**
 * Candidate attribute values, in order of preference. The first twelve of each have distinct first
 * letters, which gives distinct first tokens under any byte-level BPE that has learned them; later
 * ones exist for tokenizers where initial letters are not enough (stories260K's 512-token vocabulary
 * has '▁' + a capital only for B, H, I, L, M, O, S, T, plus pieces such as '▁He', '▁She', '▁Tim',
 * '▁On', '▁One'). Majors are lower case, as in English prose.
 */
export const attributeCandidates: Readonly<Record<Relation, readonly string[]>> = {
  city: [
    'Boston', 'London', 'Madrid', 'Tokyo', 'Seattle', 'Oslo', 'Istanbul', 'Houston', 'Paris', 'Rome', 'Cairo', 'Dublin',
    'Vienna', 'Nairobi', 'Geneva', 'Athens', 'Kyoto', 'Warsaw', 'Zurich', 'Florence', 'Jakarta', 'Quebec',
    'Helsinki', 'Sheffield', 'Ontario', 'Timbuktu', 'Oneonta',
  ],
  company: [
    'Boeing', 'Lego', 'Microsoft', 'Toyota', 'Sony', 'Oracle', 'Intel', 'Honda', 'Pfizer', 'Reebok', 'Cisco', 'Disney',
    'Visa', 'Nike', 'Google', 'Amazon', 'Kodak', 'Walmart', 'Xerox', 'Yahoo', 'Zara', 'Ford',
    'Heineken', 'Shell', 'Timex', 'Oneida', 'Onkyo',
  ],
  major: [
    'biology', 'law', 'music', 'physics', 'chemistry', 'history', 'economics', 'art', 'dance', 'geology', 'nursing', 'robotics',
    'sociology', 'theology', 'finance', 'optics', 'kinesiology', 'urbanism', 'welding', 'yoga', 'zoology',
    'statistics', 'philosophy', 'literature', 'medicine', 'botany', 'ethics',
  ],
};

/**
 * Biography templates, four per relation. The first is the spec's query template with the answer
 * appended (see the header for why); the others are paraphrases with the name before the answer.
 */
export const biographyTemplates: Readonly<Record<Relation, readonly string[]>> = {
  city: ['{name} lives in the city of {city}.', '{name} lives in {city}.', 'The home of {name} is in {city}.', '{name} has a house in {city}.'],
  company: ['{name} works for the company of {company}.', '{name} works for {company}.', '{name} has a job at {company}.', 'The employer of {name} is {company}.'],
  major: ['{name} majors in the field of {major}.', '{name} studies {major}.', '{name} is a student of {major}.', 'At school {name} studies {major}.'],
};

/** Anything that turns text into token ids: a `TextTokenizer`, a `BpeTokenizer`. */
export interface Encoder {
  encode(text: string): number[];
  decode(ids: readonly number[]): string;
}

/** Options of `generateDataset`; every field has a default. */
export interface SyntheticOptions {
  /** PRNG seed; the spec's entity seed is 20. */
  readonly seed?: number;
  /** Entities with invented names (K_compl). Default 200. */
  readonly nNew?: number;
  /** Entities with known names (K_rel). Default 50. */
  readonly nRevised?: number;
  /** Rate λ of the frequency distribution round(Exp(λ)); the mean is 1/λ. Default 0.25. */
  readonly rate?: number;
  /** Known first names for revised entities. Default `tinyStoriesNames`. */
  readonly knownNames?: readonly string[];
  /** Values per attribute pool. Default 12. */
  readonly poolSize?: number;
  /**
   * When given, pools are chosen so that each value's first token after the query template is
   * distinct and not bare whitespace under this tokenizer (use the base model's tokenizer when it
   * is known before the data, as for stories260K). Otherwise values with distinct initial letters.
   */
  readonly poolTokenizer?: Encoder;
  /** Explicit pools, which override the choice above for the relations given. */
  readonly pools?: Partial<Record<Relation, readonly string[]>>;
  /** Biography templates per relation, with {name} and {city} / {company} / {major} placeholders. */
  readonly templates?: Partial<Record<Relation, readonly string[]>>;
  /** Share of the documents that also go to validation. Default 0.1. */
  readonly validationFraction?: number;
  /**
   * 'subset' (default): validation documents are copies of sampled training documents, as the
   * reference measures first-token accuracy on facts it trains on; a held-out split would remove
   * every low-frequency entity (one document) from training. 'fresh': the same sampled entities
   * rendered again with new template draws, so no validation text occurs verbatim in training.
   */
  readonly validation?: 'subset' | 'fresh';
}

/** Character span of one attribute value inside a document's text. */
export interface AttributeSpan {
  readonly relation: Relation;
  readonly start: number;
  readonly end: number;
}

/** One biography document: one sentence per relation about one entity. */
export interface BioDoc {
  readonly text: string;
  readonly name: string;
  readonly type: KnowledgeType;
  readonly frequency: number;
  /** Where the attribute values are, for first-token accuracy by type (the spec's attribute mask). */
  readonly spans: readonly AttributeSpan[];
}

/** A generated dataset: entities, their pools, and the corpus. */
export interface SyntheticDataset {
  readonly seed: number;
  readonly rate: number;
  readonly pools: Readonly<Record<Relation, readonly string[]>>;
  readonly templates: Readonly<Record<Relation, readonly string[]>>;
  /** New entities first, then revised, each in generation order. */
  readonly entities: readonly Entity[];
  /** Training documents in shuffled order. */
  readonly train: readonly BioDoc[];
  readonly validation: readonly BioDoc[];
}

function shuffle<T>(items: T[], r: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

const pick = <T>(items: readonly T[], r: () => number): T => items[Math.floor(r() * items.length)];

/**
 * The first token of `target` when it follows `prompt`, the way `firstTargetToken` in prompts.ts
 * finds it: the token after the prompt's own tokens in the joint encoding.
 */
export function firstTokenAfter(tok: Encoder, prompt: string, target: string): number | undefined {
  const n = tok.encode(prompt).length;
  const joint = tok.encode(prompt + target);
  return joint.length > n ? joint[n] : undefined;
}

/**
 * Chooses `size` values per relation from `attributeCandidates`, in their order. With a tokenizer,
 * each value's first token after the relation's query template must be new to the pool and not bare
 * whitespace (stories260K starts ' Paris' with a lone '▁'); without one, each value's initial
 * letter must be new. A relation may get fewer values when the candidates run out; the caller can
 * see that in the returned lengths.
 */
export function choosePools(size: number, tok?: Encoder): Record<Relation, string[]> {
  const out = {} as Record<Relation, string[]>;
  for (const rel of relations) {
    const prompt = queryTemplates[rel].replaceAll('{subject}', 'Anna');
    const seen = new Set<string | number>();
    const pool: string[] = [];
    for (const value of attributeCandidates[rel]) {
      if (pool.length === size) break;
      let k: string | number | undefined;
      if (tok) {
        const id = firstTokenAfter(tok, prompt, ' ' + value);
        k = id !== undefined && tok.decode([id]).trim() !== '' ? id : undefined;
      } else k = value[0].toLowerCase();
      if (k === undefined || seen.has(k)) continue;
      seen.add(k);
      pool.push(value);
    }
    out[rel] = pool;
  }
  return out;
}

// Plain syllables keep invented names short (about 3 GPT-2 tokens a word) and pronounceable.
const onsets = ['b', 'd', 'f', 'g', 'h', 'k', 'l', 'm', 'n', 'p', 'r', 's', 't', 'v', 'z', 'br', 'dr', 'gr', 'kr', 'tr', 'st', 'sh', 'th'];
const nuclei = ['a', 'e', 'i', 'o', 'u', 'a', 'e', 'o', 'ai', 'ou'];
const codas = ['', '', '', '', 'n', 'r', 'l', 's', 'm', 'k'];

function inventWord(r: () => number, syllables: number): string {
  let w = '';
  for (let i = 0; i < syllables; i++) w += pick(onsets, r) + pick(nuclei, r) + pick(codas, r);
  return w[0].toUpperCase() + w.slice(1);
}

/** Invented "First Last" names, unique and distinct from every known name, built from syllables. */
function inventNames(n: number, known: ReadonlySet<string>, r: () => number): string[] {
  const names: string[] = [];
  const seen = new Set<string>();
  while (names.length < n) {
    const first = inventWord(r, 2);
    const name = `${first} ${inventWord(r, r() < 0.3 ? 3 : 2)}`;
    if (seen.has(name) || known.has(first)) continue;
    seen.add(name);
    names.push(name);
  }
  return names;
}

/** Known names for `n` revised entities: first names alone, then with surnames once they run out. */
function knownNamesFor(n: number, firstNames: readonly string[], r: () => number): string[] {
  const firsts = shuffle([...new Set(firstNames)], r);
  if (firsts.length === 0) throw new RangeError('knownNames is empty');
  const names: string[] = [];
  for (let i = 0; names.length < n; i++) {
    const round = Math.floor(i / firsts.length);
    if (round > knownSurnames.length) throw new RangeError(`cannot make ${n} distinct revised names from ${firsts.length} first names`);
    const first = firsts[i % firsts.length];
    names.push(round === 0 ? first : `${first} ${knownSurnames[round - 1]}`);
  }
  return names;
}

/**
 * The spec's frequencies: round(Exp(rate)), values <= 0 set to 1, sorted ascending.
 */
export function sampleFrequencies(n: number, rate: number, r: () => number): number[] {
  const f: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = Math.round(-Math.log(1 - r()) / rate);
    f.push(x <= 0 ? 1 : x);
  }
  return f.sort((a, b) => a - b);
}

/** The spec's `reduce_array`: `k` evenly spaced values of a sorted array (indices of linspace, floored). */
export function reduceArray(sorted: readonly number[], k: number): number[] {
  if (k <= 0) return [];
  if (k === 1) return [sorted[0]];
  return Array.from({ length: k }, (_, i) => sorted[Math.floor((i * (sorted.length - 1)) / (k - 1))]);
}

function renderDoc(e: Entity, templates: Readonly<Record<Relation, readonly string[]>>, r: () => number): BioDoc {
  const sentences = relations.map((rel) => ({ rel, template: pick(templates[rel], r) }));
  shuffle(sentences, r);
  let text = '';
  const spans: AttributeSpan[] = [];
  for (const { rel, template } of sentences) {
    const placeholder = `{${rel}}`;
    const cut = template.indexOf(placeholder);
    if (cut < 0) throw new Error(`biography template ${JSON.stringify(template)} has no ${placeholder}`);
    const before = template.slice(0, cut).replaceAll('{name}', e.name);
    const after = template.slice(cut + placeholder.length).replaceAll('{name}', e.name);
    if (text !== '') text += ' ';
    const start = text.length + before.length;
    text += before + e.attributes[rel] + after;
    spans.push({ relation: rel, start, end: start + e.attributes[rel].length });
  }
  return { text, name: e.name, type: e.type, frequency: e.frequency, spans };
}

/** Generates entities and the biography corpus. Deterministic in the options. */
export function generateDataset(opts: SyntheticOptions = {}): SyntheticDataset {
  const seed = opts.seed ?? 20;
  const nNew = opts.nNew ?? 200;
  const nRevised = opts.nRevised ?? 50;
  const rate = opts.rate ?? 0.25;
  if (!(rate > 0)) throw new RangeError(`rate must be positive, got ${rate}`);
  if (nNew < 1) throw new RangeError(`nNew must be at least 1 (revised frequencies are drawn from the new ones), got ${nNew}`);
  const r = mulberry32(seed);

  const chosen = choosePools(opts.poolSize ?? 12, opts.poolTokenizer);
  const pools = Object.fromEntries(relations.map((rel) => [rel, [...(opts.pools?.[rel] ?? chosen[rel])]])) as Record<Relation, string[]>;
  for (const rel of relations) if (pools[rel].length < 2) throw new RangeError(`the ${rel} pool needs at least 2 values, got ${pools[rel].length}`);
  const templates = Object.fromEntries(relations.map((rel) => [rel, [...(opts.templates?.[rel] ?? biographyTemplates[rel])]])) as Record<Relation, string[]>;

  const known = opts.knownNames ?? tinyStoriesNames;
  const newNames = inventNames(nNew, new Set(known), r);
  const revisedNames = knownNamesFor(nRevised, known, r);
  const newFreq = sampleFrequencies(nNew, rate, r);
  const revisedFreq = reduceArray(newFreq, nRevised);
  shuffle(newFreq, r);
  shuffle(revisedFreq, r);

  const attributes = () => Object.fromEntries(relations.map((rel) => [rel, pick(pools[rel], r)])) as Record<Relation, string>;
  const entities: Entity[] = [
    ...newNames.map((name, i): Entity => ({ name, type: 'new', frequency: newFreq[i], attributes: attributes() })),
    ...revisedNames.map((name, i): Entity => ({ name, type: 'revised', frequency: revisedFreq[i], attributes: attributes() })),
  ];

  const train: BioDoc[] = [];
  for (const e of entities) for (let k = 0; k < e.frequency; k++) train.push(renderDoc(e, templates, r));
  shuffle(train, r);

  const nVal = Math.max(1, Math.round((opts.validationFraction ?? 0.1) * train.length));
  const picked = shuffle(train.map((_, i) => i), r)
    .slice(0, nVal)
    .sort((a, b) => a - b);
  const byName = new Map(entities.map((e) => [e.name, e]));
  const fresh = opts.validation === 'fresh';
  const validation = picked.map((i) => (fresh ? renderDoc(byName.get(train[i].name)!, templates, r) : train[i]));

  return { seed, rate, pools, templates, entities, train, validation };
}

/** Entity counts per group ('new/high', ...), in `groupOrder`. */
export function bucketCounts(entities: readonly Entity[]): Record<string, number> {
  const counts = Object.fromEntries(groupOrder.map((g) => [g, 0])) as Record<string, number>;
  for (const e of entities) counts[`${e.type}/${frequencyBucket(e.frequency)}`]++;
  return counts;
}

/** A circuit prompt pair in the Circuitscope JSONL format of prompts.ts. */
export interface CircuitRow {
  readonly prompt: string;
  /** The clean answer with its leading space (" Boston"). */
  readonly target: string;
  readonly corruptedPrompt: string;
  readonly corruptedTarget: string;
  readonly subject: string;
  readonly corruptedSubject: string;
  readonly relation: Relation;
  readonly template: string;
  readonly type: KnowledgeType;
  readonly frequency: number;
  /** `${type}/${bucket}`, e.g. 'new/high'. */
  readonly group: string;
}

/** A plain query for Hit@10 and query accuracy: one per entity and relation. */
export interface TestRow {
  readonly prompt: string;
  readonly target: string;
  readonly subject: string;
  readonly relation: Relation;
  readonly template: string;
  readonly type: KnowledgeType;
  readonly frequency: number;
  readonly group: string;
}

/** What building one relation's circuit prompt set kept and dropped. */
export interface PromptSetStats {
  readonly rows: number;
  /** Entities whose prompt length is shared by at most 5 entities (the spec drops those lengths). */
  readonly droppedLength: number;
  /** Candidate corrupted subjects passed over because their answer starts with the clean answer's first token. */
  readonly skippedSameFirstToken: number;
  /** Entities with no candidate of the same length whose answer has another first token. */
  readonly droppedNoPartner: number;
  /** Rows per group, in `groupOrder`. */
  readonly groups: Readonly<Record<string, number>>;
}

/** Circuit prompt sets per relation, the plain test set, and the bookkeeping. */
export interface PromptSets {
  readonly circuit: Readonly<Record<Relation, readonly CircuitRow[]>>;
  readonly test: readonly TestRow[];
  readonly stats: Readonly<Record<Relation, PromptSetStats>>;
}

/** Options of `buildPromptSets`. */
export interface PromptSetOptions {
  /** Seed for choosing corrupted subjects; the spec's test seed is 42. */
  readonly seed?: number;
  /** Lengths shared by at most this many entities are dropped. Default 5, as in the spec. */
  readonly maxDroppedLength?: number;
}

const sortByGroup = <T extends { group: string }>(rows: T[]): T[] => {
  const rank = new Map(groupOrder.map((g, i) => [g, i]));
  // Array.prototype.sort is stable, so entity order is kept inside each group.
  return rows.sort((a, b) => rank.get(a.group)! - rank.get(b.group)!);
};

/**
 * Builds the circuit prompt sets and the test set under `tok`. For each relation and entity, the
 * corrupted subject is drawn from all entities whose query prompt has the same token length (any
 * type or bucket, because a scaled-down group alone is often too small to offer one), lengths shared
 * by at most 5 entities are dropped, and a candidate whose answer has the same first token as the
 * clean answer is passed over, since the logit difference between equal tokens is always zero.
 */
export function buildPromptSets(entities: readonly Entity[], tok: Encoder, opts: PromptSetOptions = {}): PromptSets {
  const seed = opts.seed ?? 42;
  const maxDropped = opts.maxDroppedLength ?? 5;
  const circuit = {} as Record<Relation, CircuitRow[]>;
  const stats = {} as Record<Relation, PromptSetStats>;
  const test: TestRow[] = [];

  relations.forEach((rel, ri) => {
    // One stream per relation, so adding a relation does not change the others' choices.
    const r = mulberry32((seed ^ Math.imul(0x9e3779b9, ri + 1)) >>> 0);
    const template = queryTemplates[rel];
    const info = entities.map((e) => {
      const prompt = template.replaceAll('{subject}', e.name);
      const target = ' ' + e.attributes[rel];
      const group = `${e.type}/${frequencyBucket(e.frequency)}`;
      return { e, prompt, target, group, length: tok.encode(prompt).length, first: firstTokenAfter(tok, prompt, target) };
    });
    for (const x of info) test.push({ prompt: x.prompt, target: x.target, subject: x.e.name, relation: rel, template, type: x.e.type, frequency: x.e.frequency, group: x.group });

    const byLength = new Map<number, typeof info>();
    for (const x of info) (byLength.get(x.length) ?? byLength.set(x.length, []).get(x.length)!).push(x);
    const rows: CircuitRow[] = [];
    let droppedLength = 0;
    let skippedSameFirstToken = 0;
    let droppedNoPartner = 0;
    for (const x of info) {
      const same = byLength.get(x.length)!;
      if (same.length <= maxDropped) {
        droppedLength++;
        continue;
      }
      const order = shuffle(same.filter((y) => y !== x), r);
      const partner = order.find((y) => {
        if (y.first !== x.first) return true;
        skippedSameFirstToken++;
        return false;
      });
      if (!partner) {
        droppedNoPartner++;
        continue;
      }
      rows.push({
        prompt: x.prompt,
        target: x.target,
        corruptedPrompt: partner.prompt,
        corruptedTarget: partner.target,
        subject: x.e.name,
        corruptedSubject: partner.e.name,
        relation: rel,
        template,
        type: x.e.type,
        frequency: x.e.frequency,
        group: x.group,
      });
    }
    circuit[rel] = sortByGroup(rows);
    const groups = Object.fromEntries(groupOrder.map((g) => [g, 0])) as Record<string, number>;
    for (const row of rows) groups[row.group]++;
    stats[rel] = { rows: rows.length, droppedLength, skippedSameFirstToken, droppedNoPartner, groups };
  });
  return { circuit, test: sortByGroup(test), stats };
}

const jsonl = (rows: readonly object[]) => rows.map((row) => JSON.stringify(row) + '\n').join('');

/**
 * Writes a dataset folder, each file atomically:
 * - `train.jsonl`, `validation.jsonl`: {text, name, type, frequency, spans} per document;
 * - `entities.jsonl`: {name, type, frequency, attributes};
 * - `dataset.json`: seed, rate, pools, templates, counts per group (and prompt-set stats);
 * - with `prompts`: `prompts/{relation}.jsonl` (Circuitscope circuit rows) and `test.jsonl`.
 * Returns the paths written.
 */
export function writeDataset(dir: string, data: SyntheticDataset, prompts?: PromptSets): string[] {
  const written: string[] = [];
  const put = (rel: string, text: string) => {
    const file = path.join(dir, rel);
    writeFileAtomic(file, text);
    written.push(file);
  };
  put('train.jsonl', jsonl(data.train));
  put('validation.jsonl', jsonl(data.validation));
  put('entities.jsonl', jsonl(data.entities));
  if (prompts) {
    for (const rel of relations) put(path.join('prompts', `${rel}.jsonl`), jsonl(prompts.circuit[rel]));
    put('test.jsonl', jsonl(prompts.test));
  }
  const summary = {
    seed: data.seed,
    rate: data.rate,
    entities: bucketCounts(data.entities),
    documents: { train: data.train.length, validation: data.validation.length },
    pools: data.pools,
    templates: data.templates,
    ...(prompts ? { promptSets: prompts.stats } : {}),
  };
  put('dataset.json', JSON.stringify(summary, null, 2) + '\n');
  return written;
}
