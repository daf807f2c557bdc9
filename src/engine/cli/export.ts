/** `circuitscope export`: a circuit file in another tool's format, for scripts. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../errors';
import { exportCircuit, exportFormats } from '../exportCircuit';
import { writeFileAtomic } from '../util/atomicWrite';
import { common, intFlag, oneOf, type Command } from './command';

export const exportCommand: Command = {
  summary: 'Export a circuit file: EAP-IG JSON, Neuronpedia graph JSON, Model Explorer node data, CSV, DOT, GraphML',
  usage: `circuitscope export <circuit> [--format ${exportFormats.join('|')}] [--top-n N] [--out FILE|DIR] [--no-view]`,
  details:
    'N is --top-n, else the N saved by the circuit view (<circuit>.view.json, whose pins and groups also go into the Neuronpedia qParams; --no-view ignores it), else the circuit as discovered. Without --out the export goes to stdout; --out DIR writes <circuit>-top<N>.<ext> there.',
  options: { help: common.help, format: { type: 'string' }, 'top-n': { type: 'string' }, out: { type: 'string' }, 'no-view': { type: 'boolean' } },
  async run(pos, values) {
    if (pos.length < 1) throw new UserError(`missing <circuit>\nusage: ${this.usage}`);
    const format = oneOf(values, 'format', exportFormats, 'eap-ig');
    const topN = values['top-n'] === undefined ? undefined : intFlag(values, 'top-n', 0);
    const r = exportCircuit(pos[0], format, { topN, noView: values['no-view'] === true });
    const out = values.out as string | undefined;
    if (out === undefined) {
      process.stdout.write(r.text);
      return;
    }
    const file = fs.existsSync(out) && fs.statSync(out).isDirectory() ? path.join(out, r.defaultName) : out;
    writeFileAtomic(file, r.text);
    process.stderr.write(`wrote ${path.resolve(file)} (${format}, top ${r.topN}: ${r.edges} edges after pruning)\n`);
  },
};
