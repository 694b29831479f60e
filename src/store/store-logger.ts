// The part of a logger (a pino one, or the broker's Log) the store uses; silent when the store is given none.
import type { LogFn } from 'pino';

export interface StoreLogger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

const ignore = (): void => {};

export const silentLogger: StoreLogger = { debug: ignore, info: ignore, warn: ignore, error: ignore };
