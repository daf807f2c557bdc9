/**
 * The `circuitscope` binary (dist/cli.js): the engine's commands plus the demo lab's `demo`. This is
 * the composition root, the one module that imports both the engine and the lab; the engine never
 * imports the lab (eslint.config.mjs).
 */
import { engineCommands, runCli } from './engine/cli';
import { demo } from './lab/demoCommand';

runCli({ ...engineCommands, demo });
