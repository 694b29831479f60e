#!/usr/bin/env node
// warren-conformance: runs the conformance cases against a broker and reports them by area.
//   warren-conformance amqp://guest:guest@127.0.0.1:5672/    a table; exit code 1 when a case failed
//   warren-conformance URL --json | --tap                    one JSON document, or one TAP stream
//   warren-conformance URL --only basic,tx                   only the areas named
//   warren-conformance                                       against a warren started in-process
//   warren-conformance compare RABBITMQ.json WARREN.json     the README's Results table, in markdown

import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import amqplib from 'amqplib';
import {
  type BrokerInfo,
  combinedTap,
  type RunReport,
  resultsMarkdown,
  runReport,
  textTable,
} from './lib/report.js';
import { type FileResult, listAreas, runFile } from './lib/runner.js';
import { startWarren } from './lib/warren.js';

const USAGE = `Usage: warren-conformance [URL] [--json | --tap] [--only AREA,...] [--timeout SECONDS]
       warren-conformance compare RUN.json [RUN.json...]
       warren-conformance --list

Runs the AMQP 0-9-1 conformance cases against the broker at URL (amqp://HOST:PORT/, the cases log
in as guest/guest on vhost /) and prints each case, pass, fail or skip, under its area, then a line
per area. Without URL, each area runs against a warren started in-process (warren must be installed).

  --json             one JSON document of the run instead of the table
  --tap              one TAP 14 stream (each area a subtest) instead of the table
  --only AREA,...    run only these areas (repeatable); --list names them
  --timeout SECONDS  tap's timeout for each area (default 60)
  compare            the Results table in markdown, a column per run, from runs saved with --json

Exit code: 0 when no case failed (skips are not failures), 1 when a case failed, 2 when the run could
not start (a bad argument, a broker that does not accept the connection).
`;

const casesDir = dirname(fileURLToPath(import.meta.url));

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean' },
      tap: { type: 'boolean' },
      only: { type: 'string', multiple: true },
      timeout: { type: 'string' },
      list: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const areas = listAreas(casesDir);
  if (values.list) {
    process.stdout.write(`${areas.join('\n')}\n`);
    return 0;
  }
  if (positionals[0] === 'compare') {
    if (positionals.length < 2) throw new UsageError('compare needs at least one run saved with --json');
    const reports = positionals.slice(1).map(readReport);
    process.stdout.write(resultsMarkdown(reports));
    return 0;
  }
  if (positionals.length > 1) throw new UsageError(`one broker URL, not ${positionals.length} arguments`);
  if (values.json && values.tap) throw new UsageError('--json or --tap, not both');
  const url = positionals[0];
  if (url !== undefined) checkUrl(url);
  const timeoutSeconds = values.timeout === undefined ? 60 : Number(values.timeout);
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) {
    throw new UsageError(`--timeout takes a number of seconds, not '${values.timeout}'`);
  }
  let selected = areas;
  if (values.only) {
    const wanted = values.only
      .flatMap((o) => o.split(','))
      .map((a) => a.trim().replace(/\.test(\.js)?$/, ''));
    const unknown = wanted.filter((a) => !areas.includes(a));
    if (unknown.length > 0) {
      throw new UsageError(`no area ${unknown.join(', ')}; the areas are ${areas.join(', ')}`);
    }
    selected = areas.filter((a) => wanted.includes(a));
  }

  let broker: BrokerInfo;
  try {
    broker = await identify(url);
  } catch (err) {
    const what =
      url === undefined
        ? 'no broker URL given, and no warren to start in-process'
        : `cannot connect to ${hidePassword(url)}`;
    process.stderr.write(`warren-conformance: ${what}: ${(err as Error).message}\n`);
    return 2;
  }

  const startedAt = new Date();
  const progress = !values.json && !values.tap && process.stderr.isTTY;
  const files: FileResult[] = [];
  for (const area of selected) {
    if (progress) process.stderr.write(`${area} ...`);
    const result = await runFile(casesDir, area, { url, timeoutSeconds });
    if (progress) process.stderr.write(` ${result.status}\n`);
    files.push(result);
  }
  const report = runReport(broker, startedAt, files);
  if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else if (values.tap) process.stdout.write(combinedTap(files));
  else process.stdout.write(textTable(report));
  return report.ok ? 0 : 1;
}

function checkUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`'${url}' is not a URL; give the broker as amqp://HOST:PORT/`);
  }
  if (parsed.protocol !== 'amqp:') {
    throw new UsageError(`'${parsed.protocol}' URL: the cases speak plain AMQP, give amqp://HOST:PORT/`);
  }
}

/** The URL with its password replaced by `***`, for printing. */
function hidePassword(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

/** Connects once (to the URL, or to a warren started for the purpose) and reads connection.start. */
async function identify(url: string | undefined): Promise<BrokerInfo> {
  const warren = url === undefined ? await startWarren({ port: 0 }) : undefined;
  try {
    const connection = await amqplib.connect(warren?.url ?? (url as string), { timeout: 10_000 });
    const props = connection.connection.serverProperties as Record<string, unknown>;
    await connection.close();
    const text = (key: string) => (typeof props[key] === 'string' ? (props[key] as string) : '');
    // warren says it is RabbitMQ (clients choose behaviour by the product); its information field
    // starts with its own name and version.
    const own = /^warren (\S+)/.exec(text('information'));
    const info: BrokerInfo = {
      inProcess: url === undefined,
      product: own ? 'warren' : text('product') || 'unknown product',
      version: own ? own[1] : text('version'),
      platform: text('platform'),
    };
    if (url !== undefined) info.url = hidePassword(url);
    return info;
  } finally {
    await warren?.close();
  }
}

function readReport(path: string): RunReport {
  let report: RunReport;
  try {
    report = JSON.parse(readFileSync(path, 'utf8')) as RunReport;
  } catch (err) {
    throw new UsageError(`cannot read ${path}: ${(err as Error).message}`);
  }
  if (report.tool !== 'warren-conformance') throw new UsageError(`${path} is not a run saved with --json`);
  return report;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`warren-conformance: ${(err as Error).message}\n\n${USAGE}`);
    } else {
      process.stderr.write(`warren-conformance: ${(err as Error).stack ?? String(err)}\n`);
    }
    process.exitCode = 2;
  },
);
