/**
 * Circuit files: upstream EAP-IG v2 JSON (so Python users can load them with `Graph.from_json`), plus
 * one top-level key `circuitscope` with provenance. Written atomically. Both EAP-IG formats (the
 * paper pipeline's older one and v2) are read back.
 */
import * as fs from 'node:fs';
import { fromEapJson, toEapJsonV2, type CircuitData, type CircuitGraph } from '../../shared/circuit';
import type { IgConvention, SelectionKind } from '../../shared/methods';
import type { ModelSpec } from '../model/config';
import { UserError } from '../errors';
import { shortHash } from '../util/hash';
import { writeFileAtomic } from '../util/atomicWrite';
import type { CurvePoint } from './evaluate';

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
  readonly selection: { readonly kind: SelectionKind; readonly value: number };
  readonly baselines: { readonly clean: number; readonly corrupted: number };
  readonly circuitPerformance: number;
  readonly faithfulness: number;
  readonly hit10: number;
  readonly meanTargetProb: number;
  readonly edges: number;
  readonly nodes: number;
  readonly edgeEntropy: number;
  readonly curve?: readonly CurvePoint[];
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

export function readCircuitFile(file: string): LoadedCircuit {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError(`${file}: cannot read the circuit file (${(e as Error).message})`);
  }
  return parseCircuitJson(text, file);
}

/** A circuit file's text (as circuitJson writes it) read back, with `file` named in errors. */
export function parseCircuitJson(text: string, file: string): LoadedCircuit {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${file}: cannot read the circuit file (${(e as Error).message})`);
  }
  try {
    const { graph, data, format } = fromEapJson(json, file);
    const provenance = (json as { circuitscope?: Provenance }).circuitscope;
    return { graph, data, format, provenance };
  } catch (e) {
    throw new UserError((e as Error).message);
  }
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
