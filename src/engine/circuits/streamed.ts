/**
 * The circuit graphs of attribute.ts, run block-streamed (model/stages.ts): each takes the feeds and
 * gives the outputs of its whole-model graph, so attribution, evaluation and exact patching do not
 * know which way their model runs.
 *
 * - activations: stage by stage, each writing its node outputs into slots of [batch, pos, nF, d].
 * - gradients (taps, or absolute coefficients): a forward pass through every stage but the last,
 *   keeping only the residual stream at each stage's start; then the stages in reverse, each
 *   recomputing its forward pass from its start and taking the vector-Jacobian product with the
 *   gradient at its end (`grad_out`), which gives its rows of ∂L/∂coef and the gradient at its start.
 * - relative patching and routes: stage by stage, each reading the current outputs of the nodes
 *   before it (`prev_out`) from the buffer the earlier stages wrote.
 * Each stage reads only its rows of the coefficients (its backward columns are contiguous).
 */
import type { MetricKind } from '../../shared/methods';
import { gradients } from '../onnx/autodiff';
import type { GradTag, GraphBuilder, Value } from '../onnx/graphBuilder';
import type { Model } from '../model/runner';
import { scatterSlots, type Stage, type StageRunner } from '../model/stages';
import { f32, type HostTensor } from '../runtime/session';
import { B, P, type LoadedWeights } from '../model/transformer';
import { buildInstrumented, stageColumns, tapGradient } from './instrument';

/** What a graph of CircuitSessions offers its callers: run with feeds, get outputs by name. */
export interface Runnable {
  run(feeds: Record<string, HostTensor>, fetch?: readonly string[]): Promise<Record<string, HostTensor>>;
}

/** A gradient graph: taps (EAP, EAP-IG over inputs, RelP) or absolute coefficients (EAP-IG over activations). */
export interface GradientGraph {
  readonly patch: 'taps' | 'absolute';
  readonly metric: MetricKind;
  readonly rules: readonly GradTag[];
}

function residIn(b: GraphBuilder): Value | undefined {
  return b.inputs.find((v) => v.name === 'resid_in');
}

/** The stage's rows [c0, c1) of [nB, nF] coefficients, without a copy. */
function coefRows(coef: HostTensor | undefined, c0: number, c1: number): Record<string, HostTensor> {
  if (!coef) return {};
  const nF = coef.shape[coef.shape.length - 1] as number;
  if (coef.shape.length === 2) return { coef: f32((coef.data as Float32Array).subarray(c0 * nF, c1 * nF), [c1 - c0, nF]) };
  // Relative coefficients [rows, 1, nB, nF]: one row is a view, several are copied row by row.
  const [rows, , nB] = coef.shape as number[];
  const data = coef.data as Float32Array;
  if (rows === 1) return { coef: f32(data.subarray(c0 * nF, c1 * nF), [1, 1, c1 - c0, nF]) };
  const out = new Float32Array(rows * (c1 - c0) * nF);
  for (let r = 0; r < rows; r++) out.set(data.subarray((r * nB + c0) * nF, (r * nB + c1) * nF), r * (c1 - c0) * nF);
  return { coef: f32(out, [rows, 1, c1 - c0, nF]) };
}

/**
 * The largest batch whose `copies` node-output tensors ([batch, pos, nF, d]) take at most a third of a
 * streamed model's memory budget; no cap for a whole model. Callers count what a batch holds at once,
 * as measured at the Llama-3.2-1B shape: attribution about five (clean, Δ, a stage's residual streams
 * and backward pass, the previous batch's until the collector runs), seven where every weight is
 * resident and tap gradients run as one graph (its arena), patching evaluation about ten
 * (clean, corrupted, the current outputs, a stage's copies of earlier outputs and their Δ, the previous
 * batch's). Scores and patching metrics do not depend on the batch size; a smaller batch only costs
 * more passes.
 */
export function batchCap(model: Model, nPos: number, copies: number): number {
  if (!model.stages) return Infinity;
  const { nLayers: L, nHeads: H, dModel: d } = model.spec;
  const perPrompt = copies * 4 * nPos * (1 + L * (H + 1)) * d;
  return Math.max(1, Math.floor(model.stages.plan.budgetBytes / 3 / perPrompt));
}

/** Runs the circuit graphs of one model block-streamed. */
export class StreamedCircuit {
  private readonly runner: StageRunner;
  private readonly nF: number;
  private readonly nB: number;

  constructor(private readonly model: Model) {
    if (!model.stages) throw new Error('internal: the model runs whole');
    this.runner = model.stages;
    const { nLayers: L, nHeads: H } = model.spec;
    this.nF = 1 + L * (H + 1);
    this.nB = L * (3 * H + 1) + 1;
  }

  private get stages(): readonly Stage[] {
    return this.runner.plan.stages;
  }

  private isLast(st: Stage): boolean {
    return st.to === this.model.spec.nLayers;
  }

  /** Node outputs [batch, pos, nF, d] ('acts') and last-position logits, as CircuitSessions.activations. */
  activations(): Runnable {
    return { run: (feeds) => this.forward(feeds, 'acts') };
  }

  /** Information-flow routes, as CircuitSessions.routes. */
  routes(): Runnable {
    return { run: (feeds) => this.forward(feeds, 'routes') };
  }

  /** Relative patching, as CircuitSessions.patching. */
  patching(perRow: boolean): Runnable {
    return { run: (feeds) => this.forward(feeds, perRow ? 'patch-row' : 'patch') };
  }

  /** ∂L/∂coef ('grad_coef' [nB, nF]) and the loss, as CircuitSessions.gradient and gradientPatched. */
  gradient(g: GradientGraph): Runnable {
    return { run: (feeds) => this.gradientPass(feeds, g) };
  }

  /**
   * One forward pass through the stages. Stages read the current node outputs written so far
   * (`prev_out`) where they patch or trace routes, and write their own into it.
   */
  private async forward(feeds: Record<string, HostTensor>, kind: 'acts' | 'routes' | 'patch' | 'patch-row'): Promise<Record<string, HostTensor>> {
    const spec = this.model.spec;
    const [rows, nPos] = feeds.tokens.shape as number[];
    const cur = new Float32Array(rows * nPos * this.nF * spec.dModel);
    const prev = f32(cur, [rows, nPos, this.nF, spec.dModel]);
    const out: Record<string, HostTensor> = {};
    let resid: HostTensor | undefined;
    for (const st of this.stages) {
      const last = this.isLast(st);
      const cols = stageColumns(spec, st.from, st.to);
      const got = await this.runner.run(
        st,
        `circuit:${kind}`,
        (b, w) => {
          const patch = kind === 'patch' || kind === 'patch-row' ? 'relative' : 'none';
          // The last stage's outputs are read by no later stage, except as 'acts'.
          const r = buildInstrumented(b, spec, w, { patch, perRowCoef: kind === 'patch-row', outputActivations: kind === 'acts' || !last, routes: kind === 'routes', stage: st });
          if (r.acts) b.output('acts', r.acts);
          b.output(last ? 'logits_sel' : 'resid_out', r.logits);
        },
        { ...feeds, ...coefRows(feeds.coef, cols.c0, cols.c1), prev_out: prev, ...(resid ? { resid_in: resid } : {}) },
      );
      if (got.acts) scatterSlots(got.acts, cur, this.nF, cols.f0);
      for (const [k, v] of Object.entries(got)) if (k.startsWith('routes_') || k === 'logits_sel') out[k] = v;
      resid = got.resid_out;
    }
    if (kind === 'acts') out.acts = prev;
    return out;
  }

  /**
   * One gradient pass: forward through the stages keeping their starting residual streams, then
   * backward through them in reverse (each recomputing its forward pass).
   */
  private async gradientPass(feeds: Record<string, HostTensor>, g: GradientGraph): Promise<Record<string, HostTensor>> {
    const spec = this.model.spec;
    const starts: (HostTensor | undefined)[] = [undefined];
    const stages = this.stages;
    for (let k = 0; k + 1 < stages.length; k++) {
      const st = stages[k];
      const cols = stageColumns(spec, st.from, st.to);
      const got = await this.runner.run(
        st,
        `circuit:forward:${g.patch}`,
        (b, w) => {
          // Taps are identities: the forward sweep is the plain model (no per-head copies of its inputs).
          const r = buildInstrumented(b, spec, w, g.patch === 'taps' ? { ...this.gradientOptions(g, st), patch: 'none', metric: undefined } : this.gradientOptions(g, st));
          b.output('resid_out', r.logits);
        },
        { ...feeds, ...coefRows(feeds.coef, cols.c0, cols.c1), ...(starts[k] ? { resid_in: starts[k]! } : {}) },
      );
      starts.push(got.resid_out);
    }
    const gradCoef = new Float32Array(this.nB * this.nF);
    let gradOut: HostTensor | undefined;
    let loss: HostTensor | undefined;
    for (let k = stages.length - 1; k >= 0; k--) {
      const st = stages[k];
      const cols = stageColumns(spec, st.from, st.to);
      const got = await this.runner.run(st, `circuit:backward:${g.patch}:${g.metric}:${[...g.rules].sort().join('+')}`, (b, w) => this.buildBackward(b, w, g, st), {
        ...feeds,
        ...coefRows(feeds.coef, cols.c0, cols.c1),
        ...(starts[k] ? { resid_in: starts[k]! } : {}),
        ...(gradOut ? { grad_out: gradOut } : {}),
      });
      gradCoef.set(got.grad_coef.data as Float32Array, cols.c0 * this.nF);
      if (got.loss) loss = got.loss;
      gradOut = got.grad_in;
    }
    return { grad_coef: f32(gradCoef, [this.nB, this.nF]), loss: loss! };
  }

  private gradientOptions(g: GradientGraph, st: Stage) {
    return { patch: g.patch, interpolateEmbeddings: true, metric: this.isLast(st) ? g.metric : undefined, stage: st } as const;
  }

  /**
   * A stage's backward graph: its forward pass from `resid_in` (or the tokens), then the gradient of
   * the loss (the last stage) or of Σ grad_out · resid_out with respect to its taps or coefficients
   * and to `resid_in`.
   */
  private buildBackward(b: GraphBuilder, w: LoadedWeights, g: GradientGraph, st: Stage): void {
    const spec = this.model.spec;
    const r = buildInstrumented(b, spec, w, this.gradientOptions(g, st));
    const start = residIn(b);
    let y: Value;
    let seed: Value | undefined;
    if (r.metric) {
      y = r.metric.neg();
      b.output('loss', y);
    } else {
      y = r.residOut!;
      seed = b.input('grad_out', 'float32', [B, P, spec.dModel]);
    }
    const wrt = [...(g.patch === 'taps' ? r.taps!.map((t) => t.value) : [r.coef!]), ...(start ? [start] : [])];
    const grads = gradients(b, y, wrt, seed, new Set(g.rules));
    const own = start ? grads.slice(0, -1) : grads;
    if (g.patch === 'taps') b.output('grad_coef', tapGradient(b, spec, r.taps!, own, new Set(g.rules)));
    else {
      if (!own[0]) throw new Error('internal: the loss does not depend on the edge coefficients');
      b.output('grad_coef', own[0]);
    }
    if (start) {
      const gi = grads[grads.length - 1];
      if (!gi) throw new Error(`internal: stage [${st.from}, ${st.to}) passes no gradient to its start`);
      b.output('grad_in', gi);
    }
  }
}
