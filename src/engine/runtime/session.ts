/**
 * The one place that imports onnxruntime-node. Everything else hands it serialized graphs and plain
 * typed arrays and gets typed arrays back.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { DType, SerializedModel } from '../onnx/graphBuilder';
import { chooseDevice, executionProviders, type Device, type DeviceProbe, type DeviceRequest } from './device';

process.env.ORT_DISABLE_TELEMETRY ??= '1';

/** The onnxruntime-node version, for provenance records. */
export const onnxruntimeVersion: string = ort.env.versions?.node ?? 'unknown';

/** A tensor as the engine passes it around: typed data plus its shape. */
export interface HostTensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: Float32Array | BigInt64Array | Int32Array | Uint8Array;
}

export function f32(data: Float32Array, shape: readonly number[]): HostTensor {
  return { dtype: 'float32', data, shape };
}

export function i64(data: BigInt64Array | readonly number[], shape: readonly number[]): HostTensor {
  const d = data instanceof BigInt64Array ? data : BigInt64Array.from(data.map((x) => BigInt(x)));
  return { dtype: 'int64', data: d, shape };
}

export interface SessionOptions {
  /** Intra-op threads; 0 lets onnxruntime choose (one per physical core). */
  readonly threads?: number;
  /** Turn graph optimizations off (for debugging a compiled graph). */
  readonly noOptimizations?: boolean;
  /**
   * Tensors fed to every run, by input name: the weights of a graph serialized with
   * `weightsAsInputs`. They are passed by reference, so sessions of one model share one copy.
   */
  readonly constantFeeds?: Record<string, HostTensor>;
  /** Where the graph runs (`runtime/device.ts`); default 'auto': CUDA when its provider is installed, else the CPU. */
  readonly device?: DeviceRequest;
  /** ONNX Runtime's CPU memory arena: on unless false (streamed stages) or CIRCUITSCOPE_ORT_ARENA=0. */
  readonly arena?: boolean;
}

/** What onnxruntime-node offers here: its backends, and whether the CUDA provider library is installed beside the binding. */
export function probeDevices(): DeviceProbe {
  let backends: DeviceProbe['backends'] = [{ name: 'cpu', bundled: true }];
  try {
    backends = ort.listSupportedBackends();
  } catch {
    // An older binding without the listing: the CPU only.
  }
  let cudaProviderFile = false;
  try {
    const bin = path.join(path.dirname(require.resolve('onnxruntime-node/package.json')), 'bin', 'napi-v6', process.platform, process.arch);
    cudaProviderFile = fs.readdirSync(bin).some((f) => /onnxruntime_providers_cuda\.(so|dll)$/.test(f));
  } catch {
    // Not found: not installed.
  }
  return { backends, cudaProviderFile, platform: process.platform, arch: process.arch };
}

let probed: DeviceProbe | undefined;
/** An `auto` CUDA session that failed to start (a missing driver or CUDA library): later ones use the CPU. */
let cudaFailed: string | undefined;

/** The device of a request on this machine (UserError for 'cuda' without its provider). */
export function resolveDevice(request: DeviceRequest = 'auto'): Device {
  if (request === 'auto' && cudaFailed) return 'cpu';
  return chooseDevice(request, (probed ??= probeDevices()));
}

function toOrt(t: HostTensor): ort.Tensor {
  switch (t.dtype) {
    case 'float32':
      return new ort.Tensor('float32', t.data as Float32Array, t.shape);
    case 'int64':
      return new ort.Tensor('int64', t.data as BigInt64Array, t.shape);
    case 'int32':
      return new ort.Tensor('int32', t.data as Int32Array, t.shape);
    case 'bool':
      return new ort.Tensor('bool', t.data as Uint8Array, t.shape);
    default:
      throw new Error(`tensor type ${t.dtype} cannot be fed to a session`);
  }
}

/**
 * onnxruntime's memory pattern is off unless CIRCUITSCOPE_ORT_MEM_PATTERN=1: it added a second,
 * planned block beside each session's arena. The CPU arena stays on (CIRCUITSCOPE_ORT_ARENA=0 turns
 * it off) except where a caller turns it off (streamed stages): without it the GPT-2 attribution bench
 * ran 24.4 s instead of 17.9 s (ratio 0.30 instead of 0.46 of MatMul) for 1,174 instead of 1,267 MiB.
 */
function memoryOptions(arena?: boolean): { enableCpuMemArena: boolean; enableMemPattern: boolean } {
  return { enableCpuMemArena: arena !== false && process.env.CIRCUITSCOPE_ORT_ARENA !== '0', enableMemPattern: process.env.CIRCUITSCOPE_ORT_MEM_PATTERN === '1' };
}

/** A compiled graph ready to run. Feeds and fetches are by graph input/output name. */
export class Session {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly inputNames: readonly string[],
    readonly outputNames: readonly string[],
    private readonly constantFeeds: Record<string, ort.Tensor>,
  ) {}

  static async create(model: SerializedModel, opts: SessionOptions = {}): Promise<Session> {
    const device = resolveDevice(opts.device);
    const options: ort.InferenceSession.SessionOptions & { externalData?: unknown } = {
      executionProviders: executionProviders(device),
      graphOptimizationLevel: opts.noOptimizations ? 'disabled' : 'all',
      intraOpNumThreads: opts.threads ?? 0,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      ...memoryOptions(opts.arena),
      logSeverityLevel: 3,
      ...(process.env.CIRCUITSCOPE_ORT_PROFILE ? { enableProfiling: true, profileFilePrefix: process.env.CIRCUITSCOPE_ORT_PROFILE } : {}),
      externalData: model.externalData.map((e) => ({ path: e.path, data: e.data })),
    };
    let s: ort.InferenceSession;
    try {
      s = await ort.InferenceSession.create(model.bytes, options);
    } catch (e) {
      // 'auto' chose CUDA, whose provider is installed but cannot start here: the CPU, from now on.
      if (device !== 'cuda' || (opts.device ?? 'auto') !== 'auto') throw e;
      cudaFailed = (e as Error).message;
      process.emitWarning(`CUDA could not be used (${cudaFailed}); running on the CPU`);
      s = await ort.InferenceSession.create(model.bytes, { ...options, executionProviders: executionProviders('cpu') });
    }
    const constant: Record<string, ort.Tensor> = {};
    for (const [k, v] of Object.entries(opts.constantFeeds ?? {})) constant[k] = toOrt(v);
    return new Session(s, s.inputNames, s.outputNames, constant);
  }

  /**
   * Runs the graph and returns the requested outputs (all by default). Every output is fetched:
   * onnxruntime-node 1.23 returns a subset of fetches under the wrong names (microsoft/onnxruntime
   * issue 26865), and the graphs built here expose only outputs their callers need anyway.
   */
  async run(feeds: Record<string, HostTensor>, fetch?: readonly string[]): Promise<Record<string, HostTensor>> {
    const ortFeeds: Record<string, ort.Tensor> = { ...this.constantFeeds };
    for (const [k, v] of Object.entries(feeds)) ortFeeds[k] = toOrt(v);
    const names = fetch ?? this.outputNames;
    const res = await this.session.run(ortFeeds);
    const out: Record<string, HostTensor> = {};
    for (const n of names) {
      const t = res[n];
      if (!t) throw new Error(`session output '${n}' is missing; outputs are ${this.outputNames.join(', ')}`);
      out[n] = { dtype: t.type as DType, shape: t.dims.slice(), data: t.data as Float32Array };
    }
    return out;
  }

  async dispose(): Promise<void> {
    if (process.env.CIRCUITSCOPE_ORT_PROFILE) this.session.endProfiling();
    await this.session.release();
  }
}
