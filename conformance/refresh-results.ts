// Regenerates the Results table of conformance/README.md from two runs of the command: one against the
// reference broker at the URL given, one against an in-process warren (where the cases that restart the
// broker run too). Only in a checkout of warren: `npm run conformance:results -- amqp://HOST:PORT/`.
//   node build/conformance/refresh-results.js URL [--readme PATH] [--save DIR]

import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type RunReport, resultsMarkdown, spliceResults } from './lib/report.js';

function run(args: string[]): Promise<RunReport> {
  const cli = fileURLToPath(new URL('cli.js', import.meta.url));
  const child = spawn(process.execPath, [cli, ...args, '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    out += s;
  });
  return new Promise((resolve, reject) => {
    child.once('close', (code) => {
      // 1 is a run with failed cases: they belong in the table too.
      if (code === 0 || code === 1) resolve(JSON.parse(out) as RunReport);
      else reject(new Error(`warren-conformance ${args.join(' ')} exited with code ${code}`));
    });
  });
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { readme: { type: 'string' }, save: { type: 'string' } },
  });
  const url = positionals[0];
  if (!url || positionals.length > 1) {
    throw new Error('usage: refresh-results URL [--readme PATH] [--save DIR] (URL: the reference RabbitMQ)');
  }
  const readmePath = values.readme ?? fileURLToPath(new URL('../../conformance/README.md', import.meta.url));
  const reference = await run([url]);
  const warren = await run([]);
  if (values.save) {
    writeFileSync(join(values.save, 'reference.json'), `${JSON.stringify(reference, null, 2)}\n`);
    writeFileSync(join(values.save, 'warren.json'), `${JSON.stringify(warren, null, 2)}\n`);
  }
  const readme = readFileSync(readmePath, 'utf8');
  writeFileSync(readmePath, spliceResults(readme, resultsMarkdown([reference, warren])));
  for (const r of [reference, warren]) {
    const c = r.counts;
    process.stdout.write(
      `${r.broker.product} ${r.broker.version}: ${c.pass} passed, ${c.fail} failed, ${c.skip} skipped\n`,
    );
  }
  process.stdout.write(`wrote the Results table of ${readmePath}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`refresh-results: ${(err as Error).message}\n`);
  process.exitCode = 2;
});
