// The public API: start a broker in-process, e.g. from a test suite.
import { Broker, type BrokerOptions } from './broker/broker.js';
import { Listener, type ListenerOptions } from './session/listener.js';

export { Broker, type BrokerOptions, type User, VERSION } from './broker/broker.js';
export type { Log } from './log.js';
export {
  DEFAULT_CONSUMER_TIMEOUT,
  DEFAULT_SERVER_IDENTITY,
  Listener,
  type ServerIdentity,
} from './session/listener.js';

/** The core's options and the AMQP listener's (consumer timeout, server identity). */
export interface StartBrokerOptions extends BrokerOptions, ListenerOptions {}

export interface RunningBroker {
  /** An AMQP URL clients can connect to, with the first user's credentials and the default vhost. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** The broker core: vhosts, queues, the store. */
  readonly broker: Broker;
  /** The AMQP listener and its connections. */
  readonly listener: Listener;
  /** Closes every connection (320 CONNECTION_FORCED), stops listening, and closes the store. */
  close(): Promise<void>;
}

/**
 * Starts a broker and resolves once it is listening. In-memory, on 127.0.0.1; pass `port: 0` for a free
 * port (the default is 5672).
 */
export async function startBroker(options: StartBrokerOptions = {}): Promise<RunningBroker> {
  const broker = new Broker(options);
  const listener = new Listener(broker, options);
  await broker.open();
  let port: number;
  try {
    port = await listener.listen();
  } catch (err) {
    await broker.close();
    throw err;
  }
  const host = options.host ?? '127.0.0.1';
  const user = options.users?.[0] ?? { username: 'guest', password: 'guest' };
  const hostInUrl = host.includes(':') ? `[${host}]` : host;
  const url = `amqp://${encodeURIComponent(user.username)}:${encodeURIComponent(user.password)}@${hostInUrl}:${port}`;
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= listener.close().then(() => broker.close());
    return closing;
  };
  return { url, host, port, broker, listener, close };
}
