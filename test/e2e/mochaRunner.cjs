// Runs mocha test files inside the extension host and prints the closing line `N passed, N failed`
// that CI reads. Suites anywhere in the repository can use it from their run():
//
//   const { runMocha } = require(path.join(process.env.CIRCUITSCOPE_E2E_NODE_MODULES, '..', 'mochaRunner.cjs'));
//   exports.run = () => runMocha({ files: [path.join(__dirname, 'activation.test.js')] });
//
// The harness sets CIRCUITSCOPE_E2E_NODE_MODULES for the extension host; outside the harness this
// module resolves mocha from its own folder.
'use strict';
const path = require('node:path');

function loadMocha() {
  const modules = process.env.CIRCUITSCOPE_E2E_NODE_MODULES || path.join(__dirname, 'node_modules');
  return require(path.join(modules, 'mocha'));
}

/**
 * Runs `files` with mocha's BDD interface and resolves when every test passed; rejects otherwise, so
 * the extension host reports exit code 1 to the workbench.
 */
function runMocha({ files, timeout = 30_000, grep, reporter = 'spec' }) {
  const Mocha = loadMocha();
  const mocha = new Mocha({ ui: 'bdd', color: false, timeout, reporter });
  if (grep || process.env.CIRCUITSCOPE_E2E_GREP) mocha.grep(grep || process.env.CIRCUITSCOPE_E2E_GREP);
  for (const file of files) mocha.addFile(path.resolve(file));
  return new Promise((resolve, reject) => {
    let runner;
    try {
      runner = mocha.run((failures) => {
        const { passes = 0, failures: failed = failures } = runner.stats ?? {};
        // CI reads this exact line; it must stay the last thing the suite prints.
        console.log(`${passes} passed, ${failed} failed`);
        if (failures > 0) reject(new Error(`${failures} test(s) failed`));
        else resolve();
      });
    } catch (error) {
      // A test file that does not load counts as one failure.
      console.error(error);
      console.log('0 passed, 1 failed');
      reject(error);
    }
  });
}

module.exports = { runMocha };
