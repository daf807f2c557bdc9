/**
 * Progress on stderr for the CLI: one line rewritten in place on a terminal, otherwise a line at
 * most every two seconds (and on every change of phase), so logs stay readable in CI.
 */
export class StderrProgress {
  private lastPrint = 0;
  private lastPhase = '';
  private readonly tty = process.stderr.isTTY === true;
  private readonly start = Date.now();

  update(done: number, total: number, message: string): void {
    const now = Date.now();
    const phase = message.replace(/\d+/g, '#');
    if (!this.tty && now - this.lastPrint < 2000 && phase === this.lastPhase && done < total) return;
    this.lastPrint = now;
    this.lastPhase = phase;
    const pct = total > 0 ? ` ${Math.floor((100 * done) / total)}%` : '';
    const line = `${message}${pct} (${((now - this.start) / 1000).toFixed(1)} s)`;
    if (this.tty) process.stderr.write(`\r\x1b[K${line}`);
    else process.stderr.write(line + '\n');
  }

  done(message?: string): void {
    if (this.tty) process.stderr.write('\r\x1b[K');
    if (message) process.stderr.write(message + '\n');
  }
}

/** An AbortSignal that fires on the first Ctrl-C; a second Ctrl-C exits at once. */
export function interruptSignal(): { signal: AbortSignal; dispose: () => void } {
  const ac = new AbortController();
  const onInt = () => {
    if (ac.signal.aborted) process.exit(130);
    process.stderr.write('\nstopping after the current step (Ctrl-C again to quit at once)…\n');
    ac.abort();
  };
  process.on('SIGINT', onInt);
  return { signal: ac.signal, dispose: () => process.off('SIGINT', onInt) };
}
