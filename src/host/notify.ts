/**
 * Every error message the extension shows goes through `showError`: one line, prefixed with the
 * extension's name. Tests subscribe to `onDidShowError` to count what the user saw (one message per
 * failure, none for a cancellation).
 */
import * as vscode from 'vscode';

const shown = new vscode.EventEmitter<string>();

/** Fires with the text of every error message shown. */
export const onDidShowError = shown.event;

/** Shows one line; resolves with the button chosen among `items`, if any. */
export function showErrorMessage(text: string, ...items: string[]): Thenable<string | undefined> {
  const line = `Circuitscope: ${text.replace(/\s*\n\s*/g, ' ')}`;
  shown.fire(line);
  return vscode.window.showErrorMessage(line, ...items);
}
