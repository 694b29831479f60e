#!/usr/bin/env node
// The `warren` command's entry: runs the bundled command (warren-main.cjs, built by rolldown) with a V8
// code cache made at build time (scripts/code-cache.mjs). Compiling the bundle's 350 KB took about a
// tenth of the command's start; with the cache V8 reads the compiled code instead (bench/README.md,
// scenario j). The bundle runs as Node runs a CommonJS module: in a function of exports, require,
// module, __filename and __dirname. A cache that does not fit (another Node, another V8, a changed
// bundle) is rejected by V8 and the bundle is compiled as usual.
//
// Built at build time only: with WARREN_WRITE_CODE_CACHE=1 the cache is written when the process exits,
// so that it holds every function compiled until then.
import fs = require('node:fs');
import path = require('node:path');
import vm = require('node:vm');
import nodeModule = require('node:module');

const file = path.join(__dirname, 'warren-main.cjs');
const cacheFile = `${file}.cache`;
// The bundle starts with a #! line: a comment of the same length keeps every line and column in place.
const source = fs.readFileSync(file, 'utf8').replace(/^#!/, '//');
let cachedData: Buffer | undefined;
try {
  cachedData = fs.readFileSync(cacheFile);
} catch {
  cachedData = undefined;
}
const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
  filename: file,
  cachedData,
});
if (process.env.WARREN_WRITE_CODE_CACHE === '1') {
  process.on('exit', () => fs.writeFileSync(cacheFile, script.createCachedData()));
}
const main = { exports: {} };
(script.runInThisContext() as (...args: unknown[]) => void).call(
  main.exports,
  main.exports,
  nodeModule.createRequire(file),
  main,
  file,
  path.dirname(file),
);
