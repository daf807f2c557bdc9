/**
 * Circuit files: upstream EAP-IG v2 JSON (so Python users can load them with `Graph.from_json`), plus
 * one top-level key `circuitscope` with provenance. Written atomically. Both EAP-IG formats (the
 * paper pipeline's older one and v2) are read back.
 */
import * as fs from 'node:fs';
import { CircuitFormatError, fromEapJson, toEapJsonV2, type CircuitData, type CircuitGraph, type ExpectedShape } from '../../shared/circuit';
import { provenanceProblem } from '../../shared/circuitView';
import type { CircuitLevel, IgConvention, SelectionKind } from '../../shared/methods';
import type { ModelSpec } from '../model/config';
import { UserError } from '../errors';
import { shortHash } from '../util/hash';
import { writeFileAtomic } from '../util/atomicWrite';
import { parseJson, readFileBounded } from '../util/jsonText';
import type { CurvePoint } from './evaluate';
import type { MibResult } from '../../shared/mib';
import type { TrustReport } from '../../shared/trust';

/** Everything needed to reproduce and judge a circuit. */
export interface Provenance {
  readonly formatVersion: 1;
  readonly toolVersion: string;
  readonly createdAt: string;
  readonly checkpoint: { readonly path: string; readonly hash: string; readonly architecture: string; readonly step?: number };
  readonly prompts: { readonly path: string; readonly hash: string; readonly format: string; readonly count: number; readonly dropped?: number };
  readonly method: string;
  readonly steps: number;
  readonly igConvention: IgConvention;
  readonly metric: string;
  readonly batchSize: number;
  readonly prependBos: boolean;
  /** For a node-level circuit (discover --level node) the selection's value counts nodes. */
  readonly selection: { readonly kind: SelectionKind; readonly value: number };
  /** 'node' for a circuit selected by node scores; absent for edge-level circuits. */
  readonly level?: CircuitLevel;
  readonly baselines: { readonly clean: number; readonly corrupted: number };
  readonly circuitPerformance: number;
  readonly faithfulness: number;
  readonly hit10: number;
  readonly meanTargetProb: number;
  readonly edges: number;
  readonly nodes: number;
  readonly edgeEntropy: number;
  readonly curve?: readonly CurvePoint[];
  /** What edges outside the circuit carried in the faithfulness evaluations, when not the corrupted run. */
  readonly ablation?: string;
  /** MIB's faithfulness at fixed sizes, CPR and CMD (discover --mib). */
  readonly mib?: MibResult;
  /** Trust checks: spot check by exact patching, connectivity, low faithfulness, agreement. */
  readonly trust?: TrustReport;
  readonly timings: { readonly attributionSeconds: number; readonly evaluationSeconds: number };
  readonly versions: { readonly node: string; readonly onnxruntime: string };
}

export function fileHash(file: string): string {
  return shortHash(fs.readFileSync(file));
}

export function circuitJson(g: CircuitGraph, data: CircuitData, provenance?: Provenance): string {
  const json = { ...toEapJsonV2(g, data), ...(provenance ? { circuitscope: provenance } : {}) };
  return JSON.stringify(json, (_k, v) => (typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(8)) : v), 1) + '\n';
}

export function writeCircuitFile(file: string, g: CircuitGraph, data: CircuitData, provenance?: Provenance): void {
  writeFileAtomic(file, circuitJson(g, data, provenance));
}

export interface LoadedCircuit {
  readonly graph: CircuitGraph;
  readonly data: CircuitData;
  readonly format: 'old' | 'v2';
  readonly provenance?: Provenance;
}

/** The model shape a circuit must fit, for `readCircuitFile`: checked before any graph is built. */
export function expectedShape(spec: ModelSpec, checkpointDir: string): ExpectedShape {
  return { nLayers: spec.nLayers, nHeads: spec.nHeads, parallelAttnMlp: spec.parallelAttnMlp, checkpoint: checkpointDir, architecture: spec.architecture };
}

/** Largest circuit file accepted (a 70B model's full graph with scores is about this size). */
const maxCircuitBytes = 1024 * 1024 * 1024;

/**
 * Reads a circuit file. With `expect` (from `expectedShape`), a circuit of another shape is refused
 * before its graph is built.
 */
export function readCircuitFile(file: string, expect?: ExpectedShape): LoadedCircuit {
  const text = readFileBounded(file, (d) => {
    throw new UserError(`${file}: the circuit file ${d}`);
  }, maxCircuitBytes).toString('utf8');
  return parseCircuitJson(text, file, expect);
}

/** A circuit file's text (as circuitJson writes it) read back, with `file` named in errors. */
export function parseCircuitJson(text: string, file: string, expect?: ExpectedShape): LoadedCircuit {
  const json = parseJson(text, (d) => {
    throw new UserError(`${file}: the circuit file is ${d}`);
  }, { maxDepth: 16 });
  let loaded: { graph: CircuitGraph; data: CircuitData; format: 'old' | 'v2' };
  try {
    loaded = fromEapJson(json, file, expect);
  } catch (e) {
    if (e instanceof CircuitFormatError) throw new UserError(e.message);
    throw e;
  }
  const raw = (json as { circuitscope?: unknown }).circuitscope;
  if (raw !== undefined) {
    const problem = provenanceProblem(raw);
    if (problem) {
      throw new UserError(`${file}: 'circuitscope' (the provenance Circuitscope writes): ${problem}. The key was edited or comes from another tool; remove it to use the circuit without provenance`);
    }
  }
  return { ...loaded, provenance: raw as Provenance | undefined };
}

/** Refuses a circuit whose graph does not fit the model (a file from another model). */
export function checkCircuitFits(c: LoadedCircuit, spec: ModelSpec, file: string, checkpointDir: string): void {
  const cfg = c.data.cfg;
  const fits = cfg.nLayers === spec.nLayers && cfg.nHeads === spec.nHeads && cfg.parallelAttnMlp === spec.parallelAttnMlp;
  if (!fits) {
    const from = c.provenance ? ` (discovered on ${c.provenance.checkpoint.architecture} at ${c.provenance.checkpoint.path})` : '';
    throw new UserError(
      `${file}: the circuit is for a ${cfg.nLayers}-layer, ${cfg.nHeads}-head${cfg.parallelAttnMlp ? ', parallel' : ''} model${from}, ` +
        `but ${checkpointDir} is a ${spec.nLayers}-layer, ${spec.nHeads}-head${spec.parallelAttnMlp ? ', parallel' : ''} ${spec.architecture}. ` +
        'Use a circuit discovered on this architecture, or run discover on this checkpoint.',
    );
  }
}
