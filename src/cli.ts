#!/usr/bin/env node
// The `warren` command: a broker server on 127.0.0.1:5672 unless told otherwise.
import { parseArgs } from 'node:util';
import pino from 'pino';
import { VERSION } from './broker/broker.js';
import { type RunningBroker, startBroker } from './index.js';

const HELP = `Usage: warren [options]

An AMQP 0-9-1 message broker.

Options:
  --host <address>     address to listen on (default 127.0.0.1; 0.0.0.0 for all interfaces)
  --port <port>        port to listen on (default 5672; 0 picks a free port)
  --data-dir <dir>     where durable definitions and persistent messages live (default ./data)
  --in-memory          keep nothing on disk (durable things are gone after a restart)
  --no-fsync           write to disk without fsync: survives a crash of warren, not of the machine
  --log-level <level>  fatal, error, warn, info, debug, trace or silent (default info)
  --consumer-timeout <ms>
                       close a channel whose delivery stays unacked longer than this (default
                       1800000, 30 minutes, as RabbitMQ; 0 never); queues and consumers may set
                       their own with the x-consumer-timeout argument
  --server-product <name>, --server-version <version>, --server-platform <text>,
  --server-copyright <text>, --server-information <text>, --cluster-name <name>
                       what connection.start tells clients of the server (default: product RabbitMQ,
                       version 4.0.0, information naming warren; clients such as Celery choose
                       their behaviour by product and version)
  -h, --help           show this help
  -v, --version        print the version
`;

function fail(message: string): never {
  process.stderr.write(`warren: ${message}\nTry 'warren --help'.\n`);
  process.exit(2);
}

let values: {
  host?: string;
  port?: string;
  'log-level'?: string;
  'data-dir'?: string;
  'in-memory'?: boolean;
  'no-fsync'?: boolean;
  'consumer-timeout'?: string;
  'server-product'?: string;
  'server-version'?: string;
  'server-platform'?: string;
  'server-copyright'?: string;
  'server-information'?: string;
  'cluster-name'?: string;
  help?: boolean;
  version?: boolean;
};
try {
  ({ values } = parseArgs({
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      'log-level': { type: 'string' },
      'data-dir': { type: 'string' },
      'in-memory': { type: 'boolean' },
      'no-fsync': { type: 'boolean' },
      'consumer-timeout': { type: 'string' },
      'server-product': { type: 'string' },
      'server-version': { type: 'string' },
      'server-platform': { type: 'string' },
      'server-copyright': { type: 'string' },
      'server-information': { type: 'string' },
      'cluster-name': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (err) {
  fail((err as Error).message);
}

if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
if (values.version) {
  process.stdout.write(`${VERSION}\n`);
  process.exit(0);
}

const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const level = values['log-level'] ?? 'info';
if (!levels.includes(level)) fail(`unknown log level '${level}'`);
const port = values.port === undefined ? 5672 : Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`invalid port '${values.port}'`);

const consumerTimeout =
  values['consumer-timeout'] === undefined ? undefined : Number(values['consumer-timeout']);
if (consumerTimeout !== undefined && (!Number.isInteger(consumerTimeout) || consumerTimeout < 0))
  fail(`invalid consumer timeout '${values['consumer-timeout']}'`);

if (values['in-memory'] && values['data-dir'] !== undefined)
  fail('--in-memory and --data-dir exclude each other');

const logger = pino({ name: 'warren', level });
const dataDir = values['in-memory'] ? undefined : (values['data-dir'] ?? 'data');
let running: RunningBroker | undefined;
let stopping = false;
const stop = (signal: string) => {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutting down');
  // A signal during the start stops the broker once it has started.
  if (running === undefined) return;
  running.close().then(
    () => process.exit(0),
    (err: unknown) => {
      logger.error({ err }, 'error while shutting down');
      process.exit(1);
    },
  );
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));

startBroker({
  host: values.host ?? '127.0.0.1',
  port,
  logger,
  dataDir,
  fsync: !values['no-fsync'],
  consumerTimeout,
  serverIdentity: {
    product: values['server-product'],
    version: values['server-version'],
    platform: values['server-platform'],
    copyright: values['server-copyright'],
    information: values['server-information'],
    clusterName: values['cluster-name'],
  },
}).then(
  (started) => {
    running = started;
    logger.info({ version: VERSION, port: started.port, dataDir: dataDir ?? null }, 'warren started');
    if (stopping) {
      stopping = false;
      stop('signal during start');
    }
  },
  (err: NodeJS.ErrnoException) => {
    logger.fatal({ err: err.message, code: err.code }, 'cannot start');
    process.stderr.write(`warren: ${err.message}\n`);
    process.exit(1);
  },
);
