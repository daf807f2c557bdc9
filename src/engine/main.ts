/**
 * The engine child process: serves engineProtocol requests over the IPC channel of `fork()`, and
 * exits when its parent goes away (disconnect, or the parent pid no longer exists).
 */
import * as path from 'node:path';
import { createMessageConnection, IPCMessageReader, IPCMessageWriter, ResponseError } from 'vscode-jsonrpc/node';
import { describeModel, didLog, generate, userErrorCode, type ModelSummary } from '../shared/engineProtocol';
import { readModelSpec, stepOf } from './model/checkpoint';
import { parameterCount } from './model/config';
import { UserError } from './model/errors';
import { Model } from './model/runner';

process.env.ORT_DISABLE_TELEMETRY ??= '1';

const connection = createMessageConnection(new IPCMessageReader(process), new IPCMessageWriter(process));

/** Maps exceptions to JSON-RPC errors; user errors keep their message and a dedicated code. */
function handle<P, R>(fn: (p: P) => Promise<R> | R): (p: P) => Promise<R> {
  return async (p: P) => {
    try {
      return await fn(p);
    } catch (e) {
      if (e instanceof UserError) throw new ResponseError(userErrorCode, e.message);
      const err = e as Error;
      connection.sendNotification(didLog, { level: 'error', message: err.stack ?? String(err) });
      throw new ResponseError(-32603, `engine internal error: ${err.message}`);
    }
  };
}

/** Loaded models, by folder; one at a time is kept to bound memory. */
let cached: { dir: string; model: Promise<Model> } | undefined;
function model(dir: string, prependBos = true): Promise<Model> {
  const key = `${path.resolve(dir)}|${prependBos}`;
  if (cached?.dir !== key) {
    void cached?.model.then((m) => m.dispose()).catch(() => undefined);
    cached = { dir: key, model: Model.load(dir, { prependBos }) };
    cached.model.catch(() => (cached = undefined));
  }
  return cached.model;
}

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
    const m = await model(p.dir, p.prependBos ?? true);
    const tokens = await m.generate(m.encodePrompt(p.prompt), p.maxNewTokens);
    return { tokens, text: m.tokenizer.decode(tokens) };
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
