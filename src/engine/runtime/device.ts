/**
 * Which onnxruntime execution provider runs the graphs: `--device cuda|cpu|auto` and the
 * `circuitscope.device` setting. The choice is pure (it reads a probe of what onnxruntime-node has
 * installed, made by session.ts, the only module that imports it), so that it is tested without a GPU.
 * `auto` is CUDA when its provider is installed, else the CPU; an explicit `cuda` that cannot be
 * honoured is refused with a message that says how to install the provider.
 */
import { UserError } from '../errors';

export type Device = 'cpu' | 'cuda';
export type DeviceRequest = Device | 'auto';
export const deviceRequests: readonly DeviceRequest[] = Object.freeze(['auto', 'cpu', 'cuda'] as const);

/** What onnxruntime-node offers on this machine. */
export interface DeviceProbe {
  /** The binding's backends (`listSupportedBackends()`): name and whether it ships inside the npm package. */
  readonly backends: readonly { readonly name: string; readonly bundled: boolean }[];
  /** Whether the CUDA provider library is present beside the binding (it is downloaded at install time, not bundled). */
  readonly cudaProviderFile: boolean;
  readonly platform: string;
  readonly arch: string;
}

/** The install command of onnxruntime-node's CUDA provider (the project's .npmrc skips it by default). */
export const cudaInstallHint = 'ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node';

/** Why CUDA cannot be used, or undefined when its provider is installed. */
export function cudaProblem(p: DeviceProbe): string | undefined {
  if (!p.backends.some((b) => b.name === 'cuda')) {
    return `this onnxruntime-node build has no CUDA execution provider on ${p.platform}/${p.arch} (it ships one for Linux x64 only); use --device cpu`;
  }
  if (!p.cudaProviderFile) {
    return (
      "onnxruntime-node's CUDA execution provider is not installed (libonnxruntime_providers_cuda is missing beside its binding). " +
      `Install it with \`${cudaInstallHint}\` (needs an NVIDIA driver, CUDA 12 and cuDNN 9), or use --device cpu`
    );
  }
  return undefined;
}

/** The device of a request: `auto` is CUDA when available, else the CPU; `cuda` without its provider is a UserError. */
export function chooseDevice(request: DeviceRequest, probe: DeviceProbe): Device {
  if (request === 'cpu') return 'cpu';
  const problem = cudaProblem(probe);
  if (request === 'cuda') {
    if (problem) throw new UserError(`--device cuda: ${problem}`);
    return 'cuda';
  }
  return problem ? 'cpu' : 'cuda';
}

/** The execution providers of a session on `device`: CUDA first with the CPU behind it for the ops it lacks. */
export function executionProviders(device: Device): string[] {
  return device === 'cuda' ? ['cuda', 'cpu'] : ['cpu'];
}

/** A device request from a flag or setting value; anything else is a UserError naming the allowed values. */
export function parseDeviceRequest(v: unknown, where = '--device'): DeviceRequest {
  if (v === undefined) return 'auto';
  if (typeof v === 'string' && (deviceRequests as readonly string[]).includes(v)) return v as DeviceRequest;
  throw new UserError(`${where} must be one of ${deviceRequests.join(', ')}; got ${JSON.stringify(String(v))}`);
}
