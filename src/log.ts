// What the broker and its store log through. A pino logger has all of it. A broker with no logger, or
// with the level 'silent' (startBroker's default, for test suites), gets a logger that drops everything
// (the store's default too), and pino is never loaded: loading it took some 23 ms of the 55 ms it took to import warren here, about half of an
// embedded broker's whole start. Any other level loads pino on the spot.
import { createRequire } from 'node:module';
import type { Bindings, LogFn } from 'pino';

export interface Log {
  readonly level: string;
  fatal: LogFn;
  error: LogFn;
  warn: LogFn;
  info: LogFn;
  debug: LogFn;
  trace: LogFn;
  child(bindings: Bindings): Log;
}

const drop: LogFn = () => {};

/** Drops everything. */
export const silentLog: Log = {
  level: 'silent',
  fatal: drop,
  error: drop,
  warn: drop,
  info: drop,
  debug: drop,
  trace: drop,
  child: () => silentLog,
};

/** The broker's own logger at a level: the silent one without pino, a pino logger for any other level. */
export function brokerLog(level: string): Log {
  if (level === 'silent') return silentLog;
  const pino = createRequire(import.meta.url)('pino') as typeof import('pino').default;
  return pino({ name: 'warren', level });
}
