/**
 * Rotary position embeddings as Hugging Face's `modeling_rope_utils.py` defines them: reading the
 * settings from config.json (transformers 5's `rope_parameters` first, then the legacy top-level keys,
 * then the configuration class's defaults) and computing the inverse frequencies per rope type.
 */
import { brief, type ConfigReader, type Json } from './configReader';

export type RopeType = 'default' | 'linear' | 'llama3';

export interface RopeSpec {
  readonly type: RopeType;
  readonly theta: number;
  /** linear and llama3: the scaling factor. */
  readonly factor?: number;
  /** llama3 only. */
  readonly lowFreqFactor?: number;
  readonly highFreqFactor?: number;
  readonly originalMaxPositions?: number;
}

/** What each rope type reads besides rope_type / rope_theta / partial_rotary_factor. */
const typeKeys: Record<RopeType, readonly string[]> = {
  default: [],
  linear: ['factor'],
  llama3: ['factor', 'low_freq_factor', 'high_freq_factor', 'original_max_position_embeddings'],
};
const refusedTypes = ['dynamic', 'yarn', 'longrope', 'su', 'mrope', 'proportional'];

export interface RopeDefaults {
  /** The configuration class's default theta when neither rope_parameters nor the legacy key sets it. */
  readonly theta: number;
  /** The legacy top-level key of theta (rope_theta; GPT-NeoX's rotary_emb_base). */
  readonly thetaKeys?: readonly string[];
  /** The configuration class's default partial rotary factor. */
  readonly partial?: number;
  /** Legacy top-level keys of the partial factor (partial_rotary_factor; GPT-NeoX's rotary_pct). */
  readonly partialKeys?: readonly string[];
}

export interface ParsedRope {
  readonly rope: RopeSpec;
  /** The rope of sliding-window layers, when it differs (Gemma-3). */
  readonly local?: RopeSpec;
  readonly partial: number;
}

/** Reads one rope parameter object (rope_parameters, one of its per-layer-type entries, or rope_scaling). */
function readParams(r: ConfigReader, field: string, o: Json, theta: number | undefined, maxPositions?: number): { rope: RopeSpec; partial?: number } {
  const type = (o.rope_type ?? o.type ?? 'default') as unknown;
  if (typeof type !== 'string') throw r.error(field, `rope_type must be a string, got ${brief(type)}`);
  if (!(type in typeKeys)) {
    const why = refusedTypes.includes(type) ? 'is not implemented' : 'is unknown';
    throw r.error(`${field}.rope_type`, `rope type ${JSON.stringify(type)} ${why}; supported: ${Object.keys(typeKeys).join(', ')}`);
  }
  const t = type as RopeType;
  const allowed = new Set(['rope_type', 'type', 'rope_theta', 'partial_rotary_factor', ...typeKeys[t]]);
  for (const k of Object.keys(o)) {
    if (!allowed.has(k)) throw r.error(`${field}.${k}`, `is not a setting of rope type ${JSON.stringify(t)}; remove it or use a supported rope type`);
  }
  const num = (k: string): number => {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw r.error(`${field}.${k}`, `must be a positive number for rope type ${JSON.stringify(t)}, got ${brief(v)}`);
    return v;
  };
  const th = o.rope_theta !== undefined ? num('rope_theta') : theta;
  if (th === undefined) throw r.error(`${field}.rope_theta`, 'is missing');
  const rope: RopeSpec = {
    type: t,
    theta: th,
    ...(t !== 'default' ? { factor: num('factor') } : {}),
    ...(t === 'llama3'
      ? {
          lowFreqFactor: num('low_freq_factor'),
          highFreqFactor: num('high_freq_factor'),
          // transformers 5 defaults it to max_position_embeddings in rope_parameters; 4.x requires it.
          originalMaxPositions: o.original_max_position_embeddings === undefined && maxPositions !== undefined ? maxPositions : num('original_max_position_embeddings'),
        }
      : {}),
  };
  if (t === 'llama3' && !(rope.highFreqFactor! > rope.lowFreqFactor!)) {
    throw r.error(`${field}.high_freq_factor`, `must be greater than low_freq_factor (${rope.lowFreqFactor}), got ${rope.highFreqFactor}`);
  }
  return { rope, partial: o.partial_rotary_factor !== undefined ? num('partial_rotary_factor') : undefined };
}

function legacyTheta(r: ConfigReader, d: RopeDefaults): number {
  for (const k of d.thetaKeys ?? ['rope_theta']) if (r.has(k)) return r.positive(k);
  return d.theta;
}

function legacyPartial(r: ConfigReader, d: RopeDefaults): number {
  for (const k of d.partialKeys ?? ['partial_rotary_factor']) if (r.has(k)) return r.positive(k);
  return d.partial ?? 1;
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The rope of a model with one rope for every layer: `rope_parameters` (transformers 5) first, then
 * `rope_scaling` with the legacy theta key, then the defaults.
 */
export function parseRope(r: ConfigReader, d: RopeDefaults): ParsedRope {
  const params = r.raw('rope_parameters');
  if (params !== undefined && params !== null) {
    if (!isObject(params)) throw r.error('rope_parameters', `must be an object, got ${brief(params)}`);
    const { rope, partial } = readParams(r, 'rope_parameters', params, legacyTheta(r, d), r.optInt('max_position_embeddings'));
    return { rope, partial: partial ?? legacyPartial(r, d) };
  }
  const theta = legacyTheta(r, d);
  const scaling = r.raw('rope_scaling');
  const partial = legacyPartial(r, d);
  if (scaling === undefined || scaling === null) return { rope: { type: 'default', theta }, partial };
  if (!isObject(scaling)) throw r.error('rope_scaling', `must be an object or null, got ${brief(scaling)}`);
  return { rope: readParams(r, 'rope_scaling', scaling, theta).rope, partial };
}

/**
 * Gemma-3's two ropes: global layers use rope_theta (with rope_scaling), sliding layers
 * rope_local_base_freq with the default type. transformers 5 writes both in `rope_parameters` keyed
 * by layer type.
 */
export function parseLayerTypeRopes(r: ConfigReader, d: RopeDefaults & { readonly localTheta: number }): Required<ParsedRope> {
  const params = r.raw('rope_parameters');
  if (isObject(params) && (isObject(params.full_attention) || isObject(params.sliding_attention))) {
    for (const k of Object.keys(params)) {
      if (k !== 'full_attention' && k !== 'sliding_attention') throw r.error(`rope_parameters.${k}`, 'is not a layer type; expected full_attention and sliding_attention');
    }
    const full = isObject(params.full_attention) ? readParams(r, 'rope_parameters.full_attention', params.full_attention, legacyTheta(r, d)) : { rope: { type: 'default' as const, theta: legacyTheta(r, d) } };
    const localTheta = r.has('rope_local_base_freq') ? r.positive('rope_local_base_freq') : d.localTheta;
    const local = isObject(params.sliding_attention) ? readParams(r, 'rope_parameters.sliding_attention', params.sliding_attention, localTheta) : { rope: { type: 'default' as const, theta: localTheta } };
    return { rope: full.rope, local: local.rope, partial: full.partial ?? legacyPartial(r, d) };
  }
  const { rope, partial } = parseRope(r, d);
  const local: RopeSpec = { type: 'default', theta: r.has('rope_local_base_freq') ? r.positive('rope_local_base_freq') : d.localTheta };
  return { rope, local, partial };
}

/** Rotary dims per head: HF's int(head_dim · partial_rotary_factor), which must be even. */
export function rotaryDims(r: ConfigReader, dHead: number, partial: number, field = 'partial_rotary_factor'): number {
  if (!(partial > 0 && partial <= 1)) throw r.error(field, `must be in (0, 1], got ${partial}`);
  const dim = Math.floor(dHead * partial);
  if (dim % 2 !== 0 || dim === 0) throw r.error(field, `${partial} of head_dim ${dHead} gives rotary dimension ${dim}, which must be even and positive`);
  return dim;
}

/**
 * Inverse frequencies [dim / 2] in HF's float32 arithmetic: base^(-2i/dim), then the type's
 * scaling. The attention factor of these types is 1.
 */
export function invFrequencies(rope: RopeSpec, dim: number): Float32Array {
  const f = Math.fround;
  const out = new Float32Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) out[i] = f(1 / f(Math.pow(rope.theta, f(f(2 * i) / dim))));
  if (rope.type === 'linear') for (let i = 0; i < out.length; i++) out[i] = f(out[i] / rope.factor!);
  if (rope.type === 'llama3') {
    const { factor, lowFreqFactor: lo, highFreqFactor: hi, originalMaxPositions: old } = rope as Required<RopeSpec>;
    const lowWavelen = old / lo;
    const highWavelen = old / hi;
    for (let i = 0; i < out.length; i++) {
      const wavelen = (2 * Math.PI) / out[i];
      if (wavelen > lowWavelen) out[i] = f(out[i] / factor);
      else if (wavelen >= highWavelen) {
        // Medium frequencies: interpolate between the scaled and the unscaled frequency.
        const smooth = (old / wavelen - lo) / (hi - lo);
        out[i] = f((1 - smooth) * (out[i] / factor) + smooth * out[i]);
      }
    }
  }
  return out;
}

/** HF's rotary tables: positions · inv_freq, duplicated halves (rotate_half layout), [nPos, dim]. */
export function ropeTables(rope: RopeSpec, dim: number, nPos: number): { cos: Float32Array; sin: Float32Array } {
  const inv = invFrequencies(rope, dim);
  const cos = new Float32Array(nPos * dim);
  const sin = new Float32Array(nPos * dim);
  for (let i = 0; i < dim / 2; i++) {
    for (let p = 0; p < nPos; p++) {
      const angle = Math.fround(p * inv[i]);
      cos[p * dim + i] = cos[p * dim + i + dim / 2] = Math.cos(angle);
      sin[p * dim + i] = sin[p * dim + i + dim / 2] = Math.sin(angle);
    }
  }
  return { cos, sin };
}
