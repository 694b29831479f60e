// The `warren` command as one file, dist/bin/warren-main.cjs: dist/cli.js (tsc's output) with every module of
// ours and pino's CommonJS dependencies inlined. Node then reads and compiles one file instead of resolving
// and loading some 75, which takes about 30 ms off the command's start (bench/README.md, scenario j).
// The library (dist/index.js and its types) is not bundled. The command's entry, dist/bin/warren.cjs
// (src/bin/warren.cts), runs this bundle with a V8 code cache (scripts/code-cache.mjs).
//
// CommonJS rather than an ES module: Node runs a CommonJS main module without setting up its ES module
// loader, about 5 ms less again. `strict` keeps the strict mode our ES modules were written for.
// Not minified: measured, it saves only about 3 ms more, and mangled names would show in stack traces and
// in the type of logged errors.
//
// The bundle sits two directories below the package root, as dist/broker/broker.js does, because that
// module reads ../../package.json relative to its own URL. What stays outside: Node's built-in modules,
// and buffer-layout, which src/store loads with createRequire (a dependency, installed beside us).
import { chmod } from 'node:fs/promises';
import { defineConfig } from 'rolldown';

const output = 'dist/bin/warren-main.cjs';
const entry = 'dist/bin/warren.cjs';

export default defineConfig({
  input: 'dist/cli.js',
  platform: 'node',
  output: { file: output, format: 'cjs', strict: true, codeSplitting: false },
  plugins: [
    {
      // The entry (tsc's output) and the bundle start with #!/usr/bin/env node; make them runnable.
      name: 'executable',
      async writeBundle() {
        await chmod(output, 0o755);
        await chmod(entry, 0o755);
      },
    },
  ],
});
