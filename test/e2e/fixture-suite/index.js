// Entry point of the fixture's extension-host suite: the extension host requires this module and
// calls run(), whose promise decides the exit code the harness reports.
'use strict';
const path = require('node:path');
const { runMocha } = require('../mochaRunner.cjs');

exports.run = () => runMocha({ files: [path.join(__dirname, 'fixture.test.js')] });
