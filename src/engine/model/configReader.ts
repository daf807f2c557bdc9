/**
 * Typed reads of config.json fields with Hugging Face's defaults, for the family tables. The reader
 * remembers which fields a family consumed, so that a field that changes the computation but that the
 * family does not implement (a soft-cap on Llama, a sliding window on GPT-2) is refused by name
 * instead of being ignored (`refuseUnread`).
 */
import { CheckpointError } from '../errors';

export type Json = Record<string, unknown>;

/**
 * Fields that change what a model computes. A family that reads none of them leaves them refused
 * when they are set (not null, not false).
 */
const computeFields = [
  'attn_logit_softcapping',
  'final_logit_softcapping',
  'query_pre_attn_scalar',
  'sliding_window',
  'use_sliding_window',
  'layer_types',
  'sliding_window_pattern',
  'clip_qkv',
  'qk_layernorm',
  'use_qk_norm',
  'partial_rotary_factor',
  'rotary_pct',
  'rope_scaling',
  'rope_parameters',
  'rope_local_base_freq',
  'head_dim',
  'attention_bias',
  'mlp_bias',
  'logit_scale',
  'logits_scaling',
  'embedding_multiplier',
  'residual_multiplier',
  'attention_multiplier',
  'scale_attn_by_inverse_layer_idx',
  'use_parallel_residual',
  'parallel_attn',
  'alibi',
  'position_embedding_type',
];

/** Fields that count layers: tables are sized by them before any weight is read. */
const layerCountKeys = ['num_hidden_layers', 'n_layer', 'num_layers'];
/** Largest size any integer field may have (vocabularies, widths, context lengths). */
const maxSize = 1 << 27;

/** Writes a value for a message, briefly, without ever failing (deep or cyclic values included). */
export function brief(v: unknown): string {
  if (v === null || typeof v !== 'object') return typeof v === 'string' ? JSON.stringify(v.length > 60 ? v.slice(0, 57) + '...' : v) : String(v);
  return Array.isArray(v) ? `an array of ${v.length}` : 'an object';
}

export class ConfigReader {
  private readonly read = new Set<string>();

  constructor(
    readonly cfg: Json,
    readonly file: string,
    /** The architecture name, for messages. */
    readonly label: string,
  ) {}

  error(key: string, detail: string): CheckpointError {
    return new CheckpointError(this.file, detail, key);
  }

  has(key: string): boolean {
    this.read.add(key);
    const v = this.cfg[key];
    return v !== undefined && v !== null;
  }

  raw(key: string): unknown {
    this.read.add(key);
    return this.cfg[key];
  }

  num(key: string, fallback?: number): number {
    const v = this.raw(key);
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      throw this.error(key, `required field is missing (a ${this.label} config needs it)`);
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) throw this.error(key, `must be a number, got ${brief(v)}`);
    return v;
  }

  positive(key: string, fallback?: number): number {
    const v = this.num(key, fallback);
    if (!(v > 0)) throw this.error(key, `must be greater than 0, got ${v}`);
    return v;
  }

  int(key: string, fallback?: number): number {
    const v = this.num(key, fallback);
    if (!Number.isInteger(v) || v <= 0) throw this.error(key, `must be a positive integer, got ${v}`);
    // Checked before anything is sized by it (per-layer tables, rope tables, weights).
    const max = layerCountKeys.includes(key) ? 4096 : maxSize;
    if (v > max) throw this.error(key, `is ${v}, more than any model has (at most ${max}); the config is corrupt`);
    return v;
  }

  optNum(key: string): number | undefined {
    return this.has(key) ? this.num(key) : undefined;
  }

  optInt(key: string): number | undefined {
    const v = this.raw(key);
    return typeof v === 'number' && Number.isInteger(v) ? v : undefined;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.raw(key);
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') throw this.error(key, `must be true or false, got ${brief(v)}`);
    return v;
  }

  /** A string field restricted to the keys of `allowed`, mapped to their values. */
  oneOf<T>(key: string, fallback: string, allowed: Record<string, T>): T {
    const v = this.raw(key) ?? fallback;
    if (typeof v !== 'string' || !(v in allowed)) {
      throw this.error(key, `unsupported value ${brief(v)}; supported: ${Object.keys(allowed).join(', ')}`);
    }
    return allowed[v];
  }

  /** Refuses computation-changing fields that are set but that this family did not read. */
  refuseUnread(): void {
    for (const key of computeFields) {
      if (this.read.has(key)) continue;
      const v = this.cfg[key];
      if (v === undefined || v === null || v === false) continue;
      throw this.error(key, `is set (${brief(v)}), but ${this.label} as Circuitscope implements it has no such setting; remove the field or report the architecture`);
    }
  }
}
