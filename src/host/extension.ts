/**
 * Extension entry point: wiring only. Commands, views and the engine client are created here and
 * registered for disposal.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import * as engineProtocol from '../shared/engineProtocol';
import { describeModel } from '../shared/engineProtocol';
import { EngineClient, EngineError } from './engineClient';

/** What activate() returns: for tests and for other extensions. */
export interface CircuitscopeApi {
  readonly engine: EngineClient;
  /**
   * The request types of this extension's own bundle. Another bundle's copies of vscode-jsonrpc's
   * RequestType are not interchangeable with these, so callers use these.
   */
  readonly protocol: typeof engineProtocol;
}

export function activate(context: vscode.ExtensionContext): CircuitscopeApi {
  const log = vscode.window.createOutputChannel('Circuitscope', { log: true });
  const engine = new EngineClient(context.asAbsolutePath(path.join('dist', 'engine.js')), log);
  context.subscriptions.push(log, engine);

  context.subscriptions.push(
    vscode.commands.registerCommand('circuits.describeCheckpoint', async (uri?: vscode.Uri) => {
      const target =
        uri ?? (await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, openLabel: 'Describe Checkpoint' }))?.[0];
      if (!target) return undefined;
      try {
        const s = await engine.request(describeModel, { dir: target.fsPath });
        const msg = `${s.architecture}: ${s.nLayers} layers × ${s.nHeads} heads, d_model ${s.dModel}, ${(s.parameters / 1e6).toFixed(2)}M parameters`;
        void vscode.window.showInformationMessage(msg);
        return s;
      } catch (e) {
        const err = e as EngineError;
        log.error(err.message);
        void vscode.window.showErrorMessage(`Circuitscope: ${err.message}`);
        return undefined;
      }
    }),
    vscode.commands.registerCommand('circuits.showLog', () => log.show()),
  );
  return { engine, protocol: engineProtocol };
}

export function deactivate(): void {
  // Disposables registered on the context stop the engine.
}
