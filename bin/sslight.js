#!/usr/bin/env node
// Thin launcher: the CLI is compiled TypeScript under dist/.
require('../dist/src/cli/main.js').main(process.argv.slice(2));
