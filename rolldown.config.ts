// Two bundles, each one file that Node reads and compiles at once instead of resolving and loading every
// module of dist/ (tsc's output) that it is made of:
//
// - The `warren` command, dist/bin/warren-main.cjs: dist/cli.js with every module of ours and pino's
//   CommonJS dependencies inlined. That takes about 30 ms off the command's start (bench/README.md,
//   scenario j). Its entry, dist/bin/warren.cjs (src/bin/warren.cts), runs the bundle with a V8 code cache
//   (scripts/code-cache.mjs). CommonJS rather than an ES module: Node runs a CommonJS main module without
//   setting up its ES module loader, about 5 ms less again. `strict` keeps the strict mode our ES modules
//   were written for.
// - The library, dist/lib/warren.js, what `import 'warren'` loads (package.json's exports): dist/index.js
//   and our modules under it, an ES module. Importing it took 12 ms here against 36 ms for dist/index.js
//   and its thirty modules, in a fresh Node process: most of an embedded broker's start. Its types stay
//   tsc's (dist/index.d.ts). pino is not inlined: the library loads it only for a logger it creates at a
//   level other than 'silent' (src/log.ts).
//
// Not minified: measured, it saves only about 3 ms more, and mangled names would show in stack traces and
// in the type of logged errors.
//
// Each bundle sits two directories below the package root, as dist/broker/broker.js does, because that
// module reads ../../package.json relative to its own URL. What stays outside: Node's built-in modules,
// and buffer-layout, which src/store loads with createRequire (a dependency, installed beside us).
import { chmod } from 'node:fs/promises';
import { defineConfig } from 'rolldown';

const output = 'dist/bin/warren-main.cjs';
const entry = 'dist/bin/warren.cjs';

export default defineConfig([
  {
    input: 'dist/index.js',
    platform: 'node',
    output: { file: 'dist/lib/warren.js', format: 'esm', codeSplitting: false },
  },
  {
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
  },
]);
