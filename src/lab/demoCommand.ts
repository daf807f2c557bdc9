/** `circuitscope demo`: the demo lab (two checkpoint series, their evolutions, and the findings report). */
import * as path from 'node:path';
import { runDemo } from './report/demo';
import { demoProfiles } from './demoLab';
import { cancellable, common, intFlag, oneOf, type Command } from '../engine/cli/command';

export const demo: Command = {
  summary: "The demo lab: train or reuse two checkpoint series, follow their circuits, and report the paper's findings",
  usage: 'circuitscope demo [--profile default|full] [--out DIR] [--work DIR] [--threads N] [--seed S]',
  options: { ...common, out: { type: 'string' }, work: { type: 'string' }, seed: { type: 'string' }, profile: { type: 'string' } },
  async run(_pos, values) {
    const profile = oneOf(values, 'profile', demoProfiles, 'default');
    // The full profile has its own folder, so that neither profile's series replaces the other's.
    const outDir = (values.out as string | undefined) ?? (profile === 'full' ? 'demo-output-full' : 'demo-output');
    const workDir = (values.work as string | undefined) ?? path.join(outDir, 'work');
    await cancellable('cancelled; the report was not written (finished checkpoints stay in the work folder, but a series is only reused once complete)', async (signal, onProgress) => {
      const r = await runDemo({ outDir, workDir, profile, threads: intFlag(values, 'threads', 0), seed: intFlag(values, 'seed', 20), signal, onProgress });
      const verdicts = (k: keyof typeof r.findings) => r.findings[k].map((f) => `${f.series} ${f.verdict}`).join('; ');
      return [
        ...r.series.map((s) => `${s.name}: ${s.reused ? 'reused' : 'trained'} (${s.manifest.checkpoints.length} checkpoints) in ${s.seconds.toFixed(1)} s`),
        `finding 1 (related knowledge faster, frequency): ${verdicts('knowledge')}`,
        `finding 2 (phase shift): ${verdicts('phaseShift')}`,
        `finding 3 (deep-to-shallow): ${verdicts('deepToShallow')}`,
        `time: ${Object.entries(r.timings).map(([k, v]) => `${k} ${v} s`).join(', ')}`,
        `wrote ${r.report}`,
      ].join('\n');
    });
  },
};
