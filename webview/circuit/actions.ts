/**
 * Every message the webview sends to the host goes through this module (the "actions layer" of
 * gitlens' webviews), so the FromWebview union has exactly one writer and the host's `isFromWebview`
 * guard sees only messages built here.
 */
import type { ExportFormat, FromWebview, SavedView, ViewSide } from '../../src/shared/webviewProtocol';

interface Poster {
  postMessage(message: unknown): void;
}

let poster: Poster | undefined;

/** Binds the actions to the webview API; main.ts calls it once with acquireVsCodeApi()'s result. */
export function bindActions(api: Poster): void {
  poster = api;
}

function post(msg: FromWebview): void {
  poster?.postMessage(msg);
}

export const actions = {
  ready(): void {
    post({ type: 'ready' });
  },
  topNChanged(side: ViewSide, topN: number): void {
    post({ type: 'topNChanged', side, topN: Math.max(0, Math.round(topN)) });
  },
  nodeSelected(side: ViewSide, node: string | null): void {
    post({ type: 'nodeSelected', side, node });
  },
  exported(format: ExportFormat, side: ViewSide, data: string): void {
    post({ type: 'exported', format, side, data });
  },
  viewStateChanged(side: ViewSide, state: SavedView): void {
    post({ type: 'viewStateChanged', side, state });
  },
  log(level: 'info' | 'warn' | 'error', message: string): void {
    post({ type: 'log', level, message: message.slice(0, 9_000) });
  },
};
