/**
 * What the host keeps beside a circuit file: the view state sidecar (`<circuit>.view.json`: N,
 * selection, pins, groups) that makes a view shareable as files, and the provenance the header and
 * the tab title name. Reading and writing files is the host's part; nothing is computed here.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isSavedView, type CircuitProvenanceView, type SavedView } from '../shared/webviewProtocol';

/** The sidecar of a circuit file: `x.circuit.json` → `x.circuit.view.json`. */
export function sidecarPath(circuitFile: string): string {
  return circuitFile.replace(/\.json$/i, '') + '.view.json';
}

/** The saved view of a circuit, or undefined when there is none or it is not a view state. */
export function readSidecar(circuitFile: string, log?: (m: string) => void): SavedView | undefined {
  const file = sidecarPath(circuitFile);
  if (!fs.existsSync(file)) return undefined;
  try {
    const json = JSON.parse(fs.readFileSync(file, 'utf8')) as { view?: unknown };
    if (isSavedView(json.view)) return json.view;
    log?.(`${file}: not a Circuitscope view state (no valid "view" key); ignored`);
  } catch (e) {
    log?.(`${file}: ${(e as Error).message}; ignored`);
  }
  return undefined;
}

/** Writes the sidecar atomically (a temporary file renamed over the old one). */
export function writeSidecar(circuitFile: string, view: SavedView): string {
  const file = sidecarPath(circuitFile);
  const body = JSON.stringify({ circuitscopeView: 1, circuit: path.basename(circuitFile), view }, null, 1) + '\n';
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  fs.writeFileSync(tmp, body);
  fs.renameSync(tmp, file);
  return file;
}

/** The provenance fields the view shows, read from the circuit file's `circuitscope` key. */
export function readProvenance(circuitFile: string): CircuitProvenanceView {
  try {
    const json = JSON.parse(fs.readFileSync(circuitFile, 'utf8')) as { circuitscope?: { prompts?: { path?: string }; method?: string; steps?: number; createdAt?: string } };
    const p = json.circuitscope;
    return {
      circuitFile,
      promptSet: p?.prompts?.path ? path.basename(p.prompts.path) : undefined,
      promptsPath: p?.prompts?.path,
      method: p?.method,
      steps: p?.steps,
      createdAt: p?.createdAt,
    };
  } catch {
    return { circuitFile };
  }
}
