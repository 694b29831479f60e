// The part of a logger (a pino one, or the broker's Log) the store uses; silent when the store is given none.
import { type Log, silentLog } from '../log.js';

export type StoreLogger = Pick<Log, 'debug' | 'info' | 'warn' | 'error'>;

export const silentLogger: StoreLogger = silentLog;
