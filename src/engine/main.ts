/**
 * The engine child process: serves engineProtocol requests over the IPC channel of `fork()`, and
 * exits when its parent goes away (disconnect, or the parent pid no longer exists).
 */
import * as path from 'node:path';
import { createMessageConnection, ErrorCodes, IPCMessageReader, IPCMessageWriter, ResponseError, type CancellationToken } from 'vscode-jsonrpc/node';
import * as protocol from '../shared/engineProtocol';
import { describeModel, didLog, didProgress, generate, internalErrorMessage, userErrorCode, type ModelSummary } from '../shared/engineProtocol';
import { readModelSpec, stepOf, tokenizerDirFor } from './model/checkpoint';
import { parameterCount } from './model/config';
import { CancelledError, UserError } from './errors';
import * as service from './service';
import { checkCheckpoint } from './validate';
import { runCircuitTestFile } from './analysis/circuitTests';
import { factPairsJsonl, pairsFromFacts } from './circuits/factPairs';
import { TextTokenizer } from './model/tokenizer';

process.env.ORT_DISABLE_TELEMETRY ??= '1';

const connection = createMessageConnection(new IPCMessageReader(process), new IPCMessageWriter(process));

/** JSON-RPC code of a request stopped by the client's cancellation. */
const requestCancelled = -32800;

/** Maps exceptions to JSON-RPC errors; user errors keep their message and a dedicated code. */
function handle<P, R>(fn: (p: P, signal: AbortSignal) => Promise<R> | R): (p: P, token: CancellationToken) => Promise<R> {
  return async (p: P, token: CancellationToken) => {
    const ac = new AbortController();
    const sub = token?.onCancellationRequested(() => ac.abort());
    try {
      return await fn(p, ac.signal);
    } catch (e) {
      if (e instanceof CancelledError || ac.signal.aborted) throw new ResponseError(requestCancelled, 'cancelled');
      if (e instanceof UserError) throw new ResponseError(userErrorCode, e.message);
      // A bug: the details go to the host's log, the user reads one line asking for a report.
      const err = e as Error;
      connection.sendNotification(didLog, { level: 'error', message: `internal error: ${err?.stack ?? String(err)}` });
      throw new ResponseError(ErrorCodes.InternalError, internalErrorMessage);
    } finally {
      sub?.dispose();
    }
  };
}

const progressFor = (token: string): service.Progress => (message, fraction, cost) => connection.sendNotification(didProgress, { token, message, fraction, cost });

connection.onRequest(
  describeModel,
  handle(({ dir }): ModelSummary => {
    const s = readModelSpec(dir);
    return {
      dir: path.resolve(dir),
      architecture: s.architecture,
      nLayers: s.nLayers,
      nHeads: s.nHeads,
      nKvHeads: s.nKvHeads,
      dModel: s.dModel,
      vocabSize: s.vocabSize,
      parameters: parameterCount(s),
      step: stepOf(dir),
    };
  }),
);

connection.onRequest(
  generate,
  handle(async (p) => {
    const m = await service.modelFor(p.dir, { prependBos: p.prependBos ?? true });
    const tokens = await m.generate(m.encodePrompt(p.prompt), p.maxNewTokens);
    return { tokens, text: m.tokenizer.decode(tokens) };
  }),
);

connection.onRequest(protocol.scanWorkspace, handle((p) => service.scanWorkspace(p)));
connection.onRequest(protocol.checkCheckpoint, handle((p) => ({ problems: checkCheckpoint(p.dir).problems })));
connection.onRequest(protocol.discover, handle((p, signal) => service.discover(p, signal, progressFor(p.token))));
connection.onRequest(protocol.estimateCost, handle((p) => service.estimateCost(p)));
connection.onRequest(protocol.circuitViewData, handle((p) => service.circuitViewData(p)));
connection.onRequest(protocol.compare, handle((p, signal) => service.compare(p, signal, progressFor(p.token))));
connection.onRequest(protocol.evolve, handle((p, signal) => service.evolve(p, signal, progressFor(p.token))));
connection.onRequest(
  protocol.pairsFromFacts,
  handle((p) => {
    const r = pairsFromFacts(TextTokenizer.load(tokenizerDirFor(path.resolve(p.dir))), p.facts);
    return { ...r, text: factPairsJsonl(r.pairs) };
  }),
);
connection.onRequest(
  protocol.runCircuitTests,
  handle((p, signal) => {
    const progress = progressFor(p.token);
    return runCircuitTestFile(p.file, { names: p.names, model: { prependBos: p.prependBos, threads: p.threads }, signal, loadModel: service.modelFor, onProgress: (d, t, m) => progress(m, t > 0 ? d / t : undefined) });
  }),
);

// Exit with the parent: IPC disconnect covers a clean exit, the pid poll covers a killed parent.
process.on('disconnect', () => process.exit(0));
const parentPid = Number(process.env.CIRCUITSCOPE_PARENT_PID ?? process.ppid);
setInterval(() => {
  try {
    process.kill(parentPid, 0);
  } catch {
    process.exit(0);
  }
}, 3000).unref();

connection.listen();
