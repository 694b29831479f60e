// The part of a pino logger the store uses; silent when the store is given none.
import type { Logger } from 'pino';

export type StoreLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

const ignore = (): void => {};

export const silentLogger: StoreLogger = { debug: ignore, info: ignore, warn: ignore, error: ignore };
