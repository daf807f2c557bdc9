/**
 * The choice of onnxruntime's execution provider (`--device`, `circuitscope.device`): pure, from a
 * probe of what onnxruntime-node has installed, so it is tested here without a GPU.
 */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { UserError } from '../../src/engine/errors';
import { chooseDevice, cudaInstallHint, cudaProblem, executionProviders, parseDeviceRequest, type DeviceProbe } from '../../src/engine/runtime/device';

const linux = { platform: 'linux', arch: 'x64' };
const listed = [
  { name: 'cpu', bundled: true },
  { name: 'webgpu', bundled: true },
  { name: 'cuda', bundled: false },
  { name: 'tensorrt', bundled: false },
];
/** onnxruntime-node 1.23 on Linux x64 installed with ONNXRUNTIME_NODE_INSTALL=skip (this project's .npmrc). */
const skipped: DeviceProbe = { ...linux, backends: listed, cudaProviderFile: false };
const installed: DeviceProbe = { ...linux, backends: listed, cudaProviderFile: true };
const mac: DeviceProbe = { platform: 'darwin', arch: 'arm64', backends: [{ name: 'cpu', bundled: true }, { name: 'coreml', bundled: true }], cudaProviderFile: false };

test('auto is CUDA where its provider is installed, else the CPU; cpu is always the CPU', () => {
  assert.equal(chooseDevice('auto', installed), 'cuda');
  assert.equal(chooseDevice('auto', skipped), 'cpu');
  assert.equal(chooseDevice('auto', mac), 'cpu');
  for (const p of [installed, skipped, mac]) assert.equal(chooseDevice('cpu', p), 'cpu');
  assert.equal(chooseDevice('cuda', installed), 'cuda');
});

test('cuda without its provider is a user error that says how to install it', () => {
  assert.throws(
    () => chooseDevice('cuda', skipped),
    (e: unknown) => e instanceof UserError && e.message.includes(cudaInstallHint) && /--device cuda: .*not installed.*CUDA 12 and cuDNN 9.*--device cpu/.test(e.message),
  );
  assert.equal(cudaInstallHint, 'ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node');
  assert.throws(() => chooseDevice('cuda', mac), /no CUDA execution provider on darwin\/arm64 .*Linux x64 only.*--device cpu/);
  assert.equal(cudaProblem(installed), undefined);
});

test('providers: CUDA with the CPU behind it for the ops it lacks; the CPU alone', () => {
  assert.deepEqual(executionProviders('cuda'), ['cuda', 'cpu']);
  assert.deepEqual(executionProviders('cpu'), ['cpu']);
});

test('device values: auto by default, the three names, anything else refused by name', () => {
  assert.equal(parseDeviceRequest(undefined), 'auto');
  for (const v of ['auto', 'cpu', 'cuda'] as const) assert.equal(parseDeviceRequest(v), v);
  assert.throws(() => parseDeviceRequest('gpu'), /--device must be one of auto, cpu, cuda; got "gpu"/);
  assert.throws(() => parseDeviceRequest('CUDA', 'circuitscope.device'), /circuitscope\.device must be one of/);
});
