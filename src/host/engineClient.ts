/**
 * The extension host's handle on the engine child process: forks dist/engine.js on first use, speaks
 * engineProtocol over its IPC channel, logs to an output channel, and restarts it on the next request
 * after a crash. A crash is reported once, by the client, naming what it interrupted; the requests it
 * interrupted reject with an EngineError marked `reported`, which callers do not show again. An
 * internal error of the engine
 * reaches the user as one line asking for a report; its details go to the output channel. The host
 * itself never computes.
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as vscode from 'vscode';
import { createMessageConnection, ErrorCodes, IPCMessageReader, IPCMessageWriter, ResponseError, type MessageConnection, type RequestType } from 'vscode-jsonrpc/node';
import { didLog, didProgress, internalErrorMessage, userErrorCode, type ProgressParams } from '../shared/engineProtocol';
import { discoverDefaults, discoverSettingKeys } from '../shared/methods';
import { showErrorMessage } from './notify';

export class EngineError extends Error {
  constructor(
    message: string,
    /** True for user errors (bad file, field, prompt): show the message as it is. */
    readonly isUserError: boolean,
    /** True when the user was told already (the engine process stopped: the client reports that once). */
    readonly reported = false,
  ) {
    super(message);
  }
}

export class EngineClient implements vscode.Disposable {
  private child: ChildProcess | undefined;
  private connection: MessageConnection | undefined;
  private disposed = false;
  /** What each engine process is doing: the methods of its requests not yet answered. */
  private readonly working = new Map<ChildProcess, string[]>();
  private readonly progress = new vscode.EventEmitter<ProgressParams>();
  /** Progress notifications of long requests, tagged with the token the request carried. */
  readonly onProgress = this.progress.event;

  constructor(
    private readonly enginePath: string,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  private start(): MessageConnection {
    if (this.connection) return this.connection;
    const threads = vscode.workspace.getConfiguration('circuitscope').get<number>(discoverSettingKeys.threads, discoverDefaults.threads);
    const child = fork(this.enginePath, [], {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'advanced',
      env: { ...process.env, ORT_DISABLE_TELEMETRY: '1', CIRCUITSCOPE_PARENT_PID: String(process.pid), CIRCUITSCOPE_THREADS: String(threads) },
    });
    const connection = createMessageConnection(new IPCMessageReader(child), new IPCMessageWriter(child));
    child.stdout?.on('data', (d: Buffer) => this.log.info(`[engine] ${d.toString().trimEnd()}`));
    child.stderr?.on('data', (d: Buffer) => this.log.warn(`[engine] ${d.toString().trimEnd()}`));
    connection.onNotification(didLog, ({ level, message }) => this.log[level](`[engine] ${message}`));
    connection.onNotification(didProgress, (p) => this.progress.fire(p));
    child.on('exit', (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      this.connection?.dispose();
      this.connection = undefined;
      const methods = this.working.get(child) ?? [];
      this.working.delete(child);
      if (!this.disposed) {
        const how = signal ? `was killed (${signal})` : `exited with code ${code}`;
        this.log.error(`Engine process ${how}${methods.length ? ` during ${methods.join(', ')}` : ''}; it restarts on the next request.`);
        // One message per crash, whatever it interrupted; the interrupted requests do not report it again.
        showErrorMessage(`the engine process ${how}${doing(methods)}. Results already saved are intact; the next run starts a new engine.`);
      }
    });
    connection.listen();
    this.log.info(`Engine process started (pid ${child.pid}).`);
    this.child = child;
    this.connection = connection;
    this.working.set(child, []);
    return connection;
  }

  /** Sends a request; user errors and crashes become EngineError. */
  async request<P, R>(type: RequestType<P, R, void>, params: P, token?: vscode.CancellationToken): Promise<R> {
    const connection = this.start();
    const methods = this.working.get(this.child!) ?? [];
    methods.push(type.method);
    try {
      // vscode-jsonrpc counts an explicit undefined as one more parameter, so pass the token only when given.
      return await (token ? connection.sendRequest(type, params, token) : connection.sendRequest(type, params));
    } catch (e) {
      if (token?.isCancellationRequested) throw new vscode.CancellationError();
      const lost = e instanceof ResponseError && (e.code === ErrorCodes.PendingResponseRejected || e.code === ErrorCodes.ConnectionInactive);
      if (e instanceof ResponseError && !lost) {
        if (e.code === userErrorCode) throw new EngineError(e.message, true);
        // A bug (the engine logged its stack already): one line for the user, the text for the log.
        this.log.error(`${type.method}: ${e.message}`);
        throw new EngineError(internalErrorMessage, false);
      }
      // The process is gone: its exit handler tells the user, once for all the requests it was serving.
      throw new EngineError('the engine process stopped while working on this request; results saved earlier are intact, and the next request starts a new engine', false, true);
    } finally {
      const i = methods.indexOf(type.method);
      if (i >= 0) methods.splice(i, 1);
    }
  }

  /** The engine's pid, for tests and the log. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  dispose(): void {
    this.disposed = true;
    this.progress.dispose();
    this.connection?.dispose();
    this.child?.kill();
  }
}

/** What the engine was doing, from the methods of its unanswered requests: the user's work first. */
function doing(methods: readonly string[]): string {
  const phrases: Record<string, string> = {
    'circuit/discover': 'discovering circuits',
    'analysis/compare': 'comparing checkpoints',
    'analysis/evolve': 'following circuits across checkpoints',
    'circuit/viewData': 'loading a circuit',
    'model/describe': 'describing a checkpoint',
    'workspace/scan': 'scanning the workspace',
  };
  const known = [...new Set(methods.map((m) => phrases[m] ?? 'working'))];
  const first = known.filter((p) => p !== 'scanning the workspace' && p !== 'working');
  const shown = first.length ? first : known;
  return shown.length ? ` while ${shown.join(' and ')}` : '';
}
