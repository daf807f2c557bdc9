/**
 * Shared bench utilities: a large-MatMul throughput reference measured in the same process, and
 * peak memory from the operating system's accounting (VmHWM in /proc/self/status).
 */
import * as fs from 'node:fs';
import { GraphBuilder } from '../src/engine/onnx/graphBuilder';
import { f32, Session } from '../src/engine/runtime/session';

/** Peak resident set size of this process in MiB, as the kernel counts it. */
export function peakRssMiB(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/**
 * Starts a new peak: the kernel's VmHWM is set back to the current resident set (Linux's
 * /proc/self/clear_refs, value 5), so that the next `peakRssMiB` is the peak of what runs in between.
 * Returns false where the kernel does not offer it; the peak then counts from the start of the process.
 */
export function resetPeak(): boolean {
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

/** "estimate X MiB, measured Y MiB, error Z %": a phase's predicted peak (src/shared/cost.ts) beside its measurement. */
export function estimateLine(phase: string, estimate: number, measured: number): string {
  const err = (100 * (estimate - measured)) / measured;
  return `${phase}: estimate ${fmt(estimate, 0)} MiB, measured ${fmt(measured, 0)} MiB, error ${err >= 0 ? '+' : ''}${fmt(err, 0)} %`;
}

/** Times `fn` `reps` times after one warm-up run; returns the median seconds. */
export async function timeIt(fn: () => Promise<unknown>, reps: number): Promise<number> {
  await fn();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/** FLOP/s of one large float32 MatMul [m, k] @ [k, n] in onnxruntime: what this CPU can do. */
export async function matMulFlops(m = 2048, k = 768, n = 3072, threads = 0): Promise<number> {
  const b = new GraphBuilder();
  const x = b.input('x', 'float32', [m, k]);
  const w = b.weight('w', Float32Array.from({ length: k * n }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5), [k, n]);
  b.output('y', b.matMul(x, w));
  const s = await Session.create(b.serialize(), { threads });
  const xs = f32(Float32Array.from({ length: m * k }, (_, i) => ((i * 104729) % 1000) / 1000 - 0.5), [m, k]);
  const sec = await timeIt(() => s.run({ x: xs }), 10);
  await s.dispose();
  return (2 * m * k * n) / sec;
}

export const fmt = (x: number, digits = 2) => x.toFixed(digits);
