// Throwaway extension for the harness demonstration: one command that shows a notification and
// returns its text, so both the extension-host suite and the UI spec can observe it.
'use strict';
const vscode = require('vscode');

const greeting = 'Hello from the Circuits fixture';

function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand('circuitsFixture.hello', () => {
      // The promise of the notification is not awaited: it settles only when the toast is dismissed.
      void vscode.window.showInformationMessage(greeting);
      return greeting;
    }),
  );
  return { greeting };
}

function deactivate() {}

module.exports = { activate, deactivate };
