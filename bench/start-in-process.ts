// Scenario j's in-process start, run in a fresh Node process of its own (`node build/bench/start-in-process.js`):
// imports warren's public API as users do, `import('warren')` (package.json's exports: the bundle
// dist/lib/warren.js; build/bench/ is inside the package, which resolves its own name), times
// `await startBroker({ port: 0 })` until it is listening, reads the process's RSS, closes the broker and
// prints one JSON line: { importMs, startMs, rss } (milliseconds; bytes, or null where /proc cannot tell).
import { performance } from 'node:perf_hooks';
import { processMemory } from './proc-memory.js';

interface RunningBroker {
  readonly port: number;
  close(): Promise<void>;
}
type StartBroker = (options: { port: number }) => Promise<RunningBroker>;

async function main(): Promise<void> {
  const t0 = performance.now();
  // A name in a variable: the import is resolved at run time, not followed by the compiler.
  const entry = 'warren';
  const api = (await import(entry)) as {
    startBroker: StartBroker;
  };
  const t1 = performance.now();
  const broker = await api.startBroker({ port: 0 });
  const t2 = performance.now();
  const rss = processMemory(process.pid)?.rss ?? null;
  await broker.close();
  process.stdout.write(`${JSON.stringify({ importMs: t1 - t0, startMs: t2 - t1, rss })}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`start-in-process: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
