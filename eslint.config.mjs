// Lint rules, chiefly the zone boundaries of ARCHITECTURE.md: imports flow host → shared ← engine ← lab,
// webview → shared; src/cli.ts (the binary) composes engine and lab; only src/host imports 'vscode';
// only src/engine/runtime/session.ts imports onnxruntime-node; shared and webview import no Node built-ins.
import tseslint from 'typescript-eslint';

const nodeBuiltins = ['node:*', 'fs', 'path', 'child_process', 'os', 'crypto', 'util', 'worker_threads'];
const restrict = (patterns, message) => ({ group: patterns, message });

export default tseslint.config(
  { ignores: ['dist/**', 'out/**', 'node_modules/**', 'test/e2e/**', '**/*.js', '**/*.mjs'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      eqeqeq: ['error', 'always'],
    },
  },
  {
    files: ['src/shared/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          restrict(['vscode'], 'src/shared is pure: no vscode.'),
          restrict(['onnxruntime-node'], 'src/shared is pure: no onnxruntime.'),
          restrict(nodeBuiltins, 'src/shared is pure: no Node built-ins.'),
          restrict(['**/host/**', '**/engine/**', '**/webview/**'], 'src/shared imports only src/shared.'),
        ],
      }],
    },
  },
  {
    files: ['src/engine/**/*.ts'],
    ignores: ['src/engine/runtime/session.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          restrict(['vscode'], 'The engine runs outside VS Code: no vscode.'),
          restrict(['onnxruntime-node'], 'Only src/engine/runtime/session.ts imports onnxruntime-node.'),
          restrict(['**/host/**', '**/webview/**'], 'The engine imports only src/engine and src/shared.'),
          restrict(['**/lab/**', '**/lab'], 'The engine never imports the demo lab (src/lab); the lab imports the engine.'),
        ],
      }],
    },
  },
  {
    files: ['src/lab/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          restrict(['vscode'], 'The lab runs outside VS Code: no vscode.'),
          restrict(['onnxruntime-node'], 'Only src/engine/runtime/session.ts imports onnxruntime-node.'),
          restrict(['**/host/**', '**/webview/**'], 'The lab imports only src/lab, src/engine and src/shared.'),
        ],
      }],
    },
  },
  {
    files: ['src/host/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          restrict(['onnxruntime-node'], 'The extension host never computes: talk to the engine process.'),
          restrict(['**/engine/**', '**/webview/**'], 'The host imports only src/host and src/shared.'),
        ],
      }],
    },
  },
  {
    files: ['webview/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          restrict(['vscode'], "Can't use `vscode` in webviews."),
          restrict(['onnxruntime-node'], 'Webviews never compute.'),
          restrict(nodeBuiltins, 'Webviews run in a browser: no Node built-ins.'),
          restrict(['**/host/**', '**/engine/**'], 'The webview imports only webview/ and src/shared.'),
        ],
      }],
    },
  },
);
