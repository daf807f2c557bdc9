/**
 * Specialized heads (method spec §4): the DLA-by-source ratio of the reference code, the corrected
 * per-source variant, attention from the last token to subject and relation tokens, and the tokens a
 * head's output promotes and suppresses through the unembedding.
 *
 * Reference formula (the paper's, the default), per prompt, layer l and head h, with A the attention
 * pattern from the last position and H_head[s] = z[s, h] · W_O[h] the head's output at query position s:
 *   H_subj = Σ_{s ∈ subject} A[s] · H_head[s],  H_rel = Σ_{s ∈ relation} A[s] · H_head[s],
 *   H_tot = Σ_{all s} H_head[s],  DLA_x = Σ_vocab (H_x · W_U + b_U),
 *   ratio_subj = DLA_subj / DLA_tot,  ratio_rel = DLA_rel / DLA_tot.
 * The spec marks this as a likely bug (it weights head outputs at other query positions by the last
 * position's attention, and sums the whole vocabulary). The corrected variant uses the value vector at
 * each source position and the target token's logit: c[s] = A[s] · (v_s · W_O[h]) · W_U[:, target],
 * ratio_x = Σ_{s ∈ x} c[s] / Σ_s c[s].
 * Relation positions are every position but BOS and the subject (the last token included).
 */
import type { Model } from '../model/runner';
import type { HostTensor } from '../runtime/session';
import { UserError } from '../errors';
import type { TokenizedPair } from '../circuits/prompts';
import { chunks } from '../circuits/attribute';
import { checkCircuitFits, type LoadedCircuit } from '../circuits/circuitFile';
import { withSubjects, type SubjectReport } from '../circuits/subjects';
import { logitLens, type LensResult } from './lens';

import { classifyHead, headTypeProportions, type HeadRole } from '../../shared/analysis';
import { discoverDefaults } from '../../shared/methods';

export type RatioFormula = 'paper' | 'per-source';

export interface HeadStats {
  readonly node: string;
  readonly layer: number;
  readonly head: number;
  /** Mean over prompts of DLA_subj / DLA_tot and DLA_rel / DLA_tot. */
  readonly ratioSubj: number;
  readonly ratioRel: number;
  /** ratioSubj / ratioRel. */
  readonly ratio: number;
  readonly role: HeadRole;
  /** Mean attention from the last position to subject tokens, and to relation tokens. */
  readonly attnSubj: number;
  readonly attnRel: number;
  /** Tokens the head's mean last-position output promotes and suppresses most (direct unembedding). */
  readonly promotes: { token: string; id: number; logit: number }[];
  readonly suppresses: { token: string; id: number; logit: number }[];
}

export interface HeadAnalysis {
  readonly formula: RatioFormula;
  readonly tau: number;
  readonly prompts: number;
  /** Prompts skipped because their subject could not be found on tokens. */
  readonly skipped: number;
  /** How the subjects were found: 'subject' fields, or inferred where clean and corrupted prompts differ. */
  readonly subjects: SubjectReport;
  readonly heads: HeadStats[];
}

/**
 * Analyses the given heads (node names 'a{l}.h{h}'; all heads when omitted) over prompts that know
 * their subject span: from a 'subject' field, or else the tokens where clean and corrupted differ.
 */
export async function analyzeHeads(
  model: Model,
  pairs: readonly TokenizedPair[],
  opts: { heads?: readonly string[]; formula?: RatioFormula; tau?: number; topK?: number; batchSize?: number } = {},
): Promise<HeadAnalysis> {
  const { dModel: d, vocabSize: V } = model.spec;
  const formula = opts.formula ?? 'paper';
  const g = model.globals();
  const WU = g.WU ?? transposed(g.WE, V, d); // [d, V]
  const { pairs: located, subjects } = withSubjects(pairs);
  const usable = located.filter((p) => p.subjectSpan);
  if (usable.length === 0) {
    throw new UserError(`no prompt has a subject span (${subjects.note}); head roles need a "subject" field found on the prompt's tokens, or a corrupted prompt that differs from the clean one where the subject is`);
  }
  const wanted = wantedHeads(model, opts.heads);
  const layers = [...new Set(wanted.map((w) => w.layer))];
  // Σ_v W_U[:, v]: the whole-vocabulary sum of the reference formula is a dot product with it.
  const uSum = new Float64Array(d);
  for (let i = 0; i < d; i++) for (let v = 0; v < V; v++) uSum[i] += WU[i * V + v];

  const acc = new Map<string, HeadSums>();
  for (const w of wanted) acc.set(w.node, { rs: 0, rr: 0, as: 0, ar: 0, out: new Float64Array(d) });
  const names = layers.flatMap((l) => [`blocks.${l}.attn.hook_result`, `blocks.${l}.attn.hook_pattern`, `blocks.${l}.attn.hook_v`]);
  for (const batch of chunks(usable, opts.batchSize ?? discoverDefaults.batchSize)) {
    const out = await model.runHooks(
      batch.map((p) => p.clean),
      names,
      { split: true },
    );
    batch.forEach((p, b) => {
      for (const w of wanted) accumulate(acc.get(w.node)!, { model, out, b, p, layer: w.layer, head: w.head, formula, uSum, WU });
    });
  }
  const n = usable.length;
  const heads = wanted.map((w) => headStats(model, w, acc.get(w.node)!, n, WU, opts.tau ?? 10, opts.topK ?? 5));
  return { formula, tau: opts.tau ?? 10, prompts: n, skipped: pairs.length - n, subjects, heads };
}

/** Running sums of one head over the prompts: ratio numerators, attention shares and its last-position output. */
interface HeadSums {
  rs: number;
  rr: number;
  as: number;
  ar: number;
  readonly out: Float64Array;
}

/** The heads to analyse (all when `names` is omitted), checked against the model's shape. */
function wantedHeads(model: Model, names: readonly string[] | undefined): { node: string; layer: number; head: number }[] {
  const { nLayers: L, nHeads: H } = model.spec;
  return (names ?? Array.from({ length: L * H }, (_, i) => `a${Math.floor(i / H)}.h${i % H}`)).map((n) => {
    const m = /^a(\d+)\.h(\d+)$/.exec(n);
    if (!m || Number(m[1]) >= L || Number(m[2]) >= H) throw new UserError(`'${n}' is not a head of this ${L}-layer, ${H}-head model`);
    return { node: n, layer: Number(m[1]), head: Number(m[2]) };
  });
}

/** Adds one prompt's figures for one head (method spec §4) to its sums. */
function accumulate(
  a: HeadSums,
  c: {
    model: Model;
    out: Record<string, HostTensor>;
    b: number;
    p: TokenizedPair;
    layer: number;
    head: number;
    formula: RatioFormula;
    uSum: Float64Array;
    WU: Float32Array;
  },
): void {
  const { model, out, b, p, layer: l, head: h, uSum, WU } = c;
  const { nHeads: H, dModel: d, dHead: e, vocabSize: V } = model.spec;
  const nPos = out[`blocks.${l}.attn.hook_result`].shape[1];
  const T = p.clean.length;
  const [s0, s1] = p.subjectSpan!;
  const isSubj = (s: number) => s >= s0 && s < s1;
  const isRel = (s: number) => s >= 1 && !isSubj(s);
  const last = T - 1;
  const res = out[`blocks.${l}.attn.hook_result`].data as Float32Array; // [B, P, H, d]
  const pat = out[`blocks.${l}.attn.hook_pattern`].data as Float32Array; // [B, H, P, P]
  const A = (s: number) => pat[((b * H + h) * nPos + last) * nPos + s];
  const Hh = (s: number, i: number) => res[((b * nPos + s) * H + h) * d + i];
  let attnS = 0;
  let attnR = 0;
  for (let s = 0; s < T; s++) {
    if (isSubj(s)) attnS += A(s);
    else if (isRel(s)) attnR += A(s);
  }
  a.as += attnS;
  a.ar += attnR;
  for (let i = 0; i < d; i++) a.out[i] += Hh(last, i);
  let subj = 0;
  let rel = 0;
  let tot = 0;
  if (c.formula === 'paper') {
    for (let s = 0; s < T; s++) {
      let dla = 0;
      for (let i = 0; i < d; i++) dla += Hh(s, i) * uSum[i];
      tot += dla;
      if (isSubj(s)) subj += A(s) * dla;
      else if (isRel(s)) rel += A(s) * dla;
    }
  } else {
    const v = out[`blocks.${l}.attn.hook_v`].data as Float32Array; // [B, H, P, e]
    const WO = model.layerWeights(l).WO; // [H, e, d]
    // W_O[h] · W_U[:, target]: the target logit of a unit value vector, [e].
    const t = p.cleanLabel;
    const dir = new Float64Array(e);
    for (let j = 0; j < e; j++) for (let i = 0; i < d; i++) dir[j] += WO[(h * e + j) * d + i] * WU[i * V + t];
    for (let s = 0; s < T; s++) {
      let x = 0;
      for (let j = 0; j < e; j++) x += v[((b * H + h) * nPos + s) * e + j] * dir[j];
      x *= A(s);
      tot += x;
      if (isSubj(s)) subj += x;
      else if (isRel(s)) rel += x;
    }
  }
  a.rs += tot === 0 ? 0 : subj / tot;
  a.rr += tot === 0 ? 0 : rel / tot;
}

/** A head's statistics from its sums over n prompts, with the tokens its mean output promotes and suppresses. */
function headStats(model: Model, w: { node: string; layer: number; head: number }, a: HeadSums, n: number, WU: Float32Array, tau: number, topK: number): HeadStats {
  const { dModel: d, vocabSize: V } = model.spec;
  const ratioSubj = a.rs / n;
  const ratioRel = a.rr / n;
  // The head's mean last-position output, projected on the vocabulary.
  const logits = new Float64Array(V);
  for (let i = 0; i < d; i++) {
    const x = a.out[i] / n;
    if (x !== 0) for (let v = 0; v < V; v++) logits[v] += x * WU[i * V + v];
  }
  const order = Array.from(logits.keys()).sort((x, y) => logits[y] - logits[x]);
  const tok = (id: number) => ({ token: model.tokenizer.tokenText(id), id, logit: logits[id] });
  return {
    node: w.node,
    layer: w.layer,
    head: w.head,
    ratioSubj,
    ratioRel,
    ratio: ratioSubj / ratioRel,
    role: classifyHead(ratioSubj, ratioRel, tau),
    attnSubj: a.as / n,
    attnRel: a.ar / n,
    promotes: order.slice(0, topK).map(tok),
    suppresses: order.slice(-topK).reverse().map(tok),
  };
}

function transposed(WE: Float32Array, V: number, d: number): Float32Array {
  const out = new Float32Array(V * d);
  for (let v = 0; v < V; v++) for (let i = 0; i < d; i++) out[i * V + v] = WE[v * d + i];
  return out;
}

/** The specialized heads of a circuit and the logit lens, as `circuitscope heads` reports them. */
export interface CircuitHeadReport extends HeadAnalysis {
  readonly checkpoint: string;
  readonly circuit: string;
  /** Nodes in the circuit (input, heads, MLPs and logits). */
  readonly circuitNodes: number;
  readonly counts: Record<HeadRole, number>;
  readonly proportions: Record<HeadRole, number>;
  readonly lens: LensResult;
}

/**
 * Analyses the heads of a circuit (read from `circuitFile`; every head with `allHeads`) and the logit
 * lens on a prompt set; roles are counted over the circuit's heads. The circuit must fit the model.
 */
export async function circuitHeads(
  model: Model,
  pairs: readonly TokenizedPair[],
  circuit: LoadedCircuit,
  circuitFile: string,
  opts: { formula?: RatioFormula; tau?: number; allHeads?: boolean } = {},
): Promise<CircuitHeadReport> {
  checkCircuitFits(circuit, model.spec, circuitFile, model.checkpoint.dir);
  const inCircuit = circuit.graph.nodes.filter((n) => circuit.data.nodeIn.get(n));
  const heads = opts.allHeads ? undefined : inCircuit.filter((n) => n.startsWith('a'));
  if (heads !== undefined && heads.length === 0) {
    throw new UserError(`${circuitFile}: the circuit has no attention head, so there is no head to classify; use --all-heads to classify every head of the model, or a larger circuit (discover --top-n)`);
  }
  const analysis = await analyzeHeads(model, pairs, { heads, formula: opts.formula, tau: opts.tau });
  const lens = await logitLens(model, withSubjects(pairs).pairs);
  const roles = new Map(analysis.heads.filter((h) => inCircuit.includes(h.node)).map((h) => [h.node, h.role]));
  const counts = { mover: 0, relation: 0, mixture: 0 };
  for (const r of roles.values()) counts[r]++;
  // The method's proportions divide by every circuit node (input, MLPs and logits included).
  const proportions = headTypeProportions(roles, inCircuit.length);
  return { checkpoint: model.checkpoint.dir, circuit: circuitFile, circuitNodes: inCircuit.length, counts, proportions, ...analysis, lens };
}
