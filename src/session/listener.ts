// The AMQP listener: accepts TCP connections for a broker core, and closes them all (320
// CONNECTION_FORCED) when the broker stops.
import { createServer, type Server, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { type Broker, type BrokerOptions, VERSION } from '../broker/broker.js';
import type { Log } from '../log.js';
import type { FieldTable } from '../protocol/index.js';
import { Connection, type ConnectionHost } from './connection.js';

/**
 * What connection.start's server-properties say of the server. Each is a string; unset ones keep the
 * defaults of DEFAULT_SERVER_IDENTITY.
 */
export interface ServerIdentity {
  product?: string;
  version?: string;
  platform?: string;
  copyright?: string;
  information?: string;
  /** `cluster_name`; default `warren@<host name>`. */
  clusterName?: string;
}

/**
 * The server announces itself as RabbitMQ of the version whose documented behaviour warren follows:
 * clients choose behaviour by product and version. Celery (kombu) asks for channel-wide prefetch
 * (basic.qos global) only from RabbitMQ 3.3 and later; from any other product its worker sets the
 * prefetch per consumer, and one consuming three queues holds three times the unacked tasks. That warren
 * is warren is said in `information` (and `platform`).
 */
export const DEFAULT_SERVER_IDENTITY: Readonly<Required<Omit<ServerIdentity, 'clusterName'>>> = {
  product: 'RabbitMQ',
  version: '4.0.0',
  platform: `Node.js ${process.version}`,
  copyright: 'The warren authors',
  information: `warren ${VERSION}, an AMQP 0-9-1 broker compatible with RabbitMQ clients. Licensed under the MIT licence`,
};

/** RabbitMQ's default consumer timeout: 30 minutes. */
export const DEFAULT_CONSUMER_TIMEOUT = 30 * 60 * 1000;

/** What the AMQP side adds to the core's options. */
export interface ListenerOptions extends BrokerOptions {
  /**
   * How long a delivery may stay unacked before its channel is closed with 406 PRECONDITION_FAILED and
   * its messages requeued, in milliseconds; default 30 minutes (RabbitMQ's); 0 turns the check off. A
   * queue's x-consumer-timeout argument, and a consumer's, take precedence.
   */
  consumerTimeout?: number;
  /** What connection.start says of the server (product, version, ...); see DEFAULT_SERVER_IDENTITY. */
  serverIdentity?: ServerIdentity;
}

const SHUTDOWN_TEXT = "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'";

export class Listener implements ConnectionHost {
  readonly log: Log;
  readonly channelMax: number;
  readonly frameMax: number;
  readonly heartbeat: number;
  readonly handshakeTimeoutMs = 10_000;
  readonly consumerTimeout: number;
  readonly connections = new Set<Connection>();
  private readonly server: Server;
  private readonly identity: FieldTable;
  private nextConnectionId = 1;
  private closing: Promise<void> | undefined;
  private emptied: (() => void) | undefined;

  constructor(
    readonly broker: Broker,
    private readonly options: ListenerOptions = {},
  ) {
    this.log = broker.log;
    this.channelMax = options.channelMax ?? 2047;
    this.frameMax = options.frameMax ?? 131072;
    if (this.frameMax !== 0 && this.frameMax < 4096) throw new RangeError('frameMax must be at least 4096');
    this.heartbeat = options.heartbeat ?? 60;
    this.consumerTimeout = options.consumerTimeout ?? DEFAULT_CONSUMER_TIMEOUT;
    if (!Number.isInteger(this.consumerTimeout) || this.consumerTimeout < 0) {
      throw new RangeError('consumerTimeout must be a whole number of milliseconds, 0 or more');
    }
    const identity = options.serverIdentity ?? {};
    this.identity = {
      product: identity.product ?? DEFAULT_SERVER_IDENTITY.product,
      version: identity.version ?? DEFAULT_SERVER_IDENTITY.version,
      platform: identity.platform ?? DEFAULT_SERVER_IDENTITY.platform,
      copyright: identity.copyright ?? DEFAULT_SERVER_IDENTITY.copyright,
      information: identity.information ?? DEFAULT_SERVER_IDENTITY.information,
      cluster_name: identity.clusterName ?? `warren@${hostname()}`,
    };
    this.server = createServer((socket) => this.accept(socket));
  }

  /** Starts listening; resolves with the bound port. */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port ?? 5672, this.options.host ?? '127.0.0.1', () => {
        this.server.off('error', reject);
        const address = this.server.address();
        const port = typeof address === 'object' && address ? address.port : 0;
        this.log.info({ host: this.options.host ?? '127.0.0.1', port }, 'listening');
        resolve(port);
      });
    });
  }

  private accept(socket: Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    const connection = new Connection(this, this.broker, socket, this.nextConnectionId++);
    this.connections.add(connection);
  }

  serverProperties(): FieldTable {
    return {
      ...this.identity,
      // Only what the broker honours today.
      capabilities: {
        publisher_confirms: true,
        exchange_exchange_bindings: true,
        'basic.nack': true,
        consumer_cancel_notify: true,
        'connection.blocked': true,
        authentication_failure_close: true,
        per_consumer_qos: true,
        consumer_priorities: true,
        direct_reply_to: true,
      },
    };
  }

  connectionClosed(connection: Connection): void {
    this.broker.stopWaitingForMemory(connection);
    this.connections.delete(connection);
    if (this.closing && this.connections.size === 0) this.emptied?.();
  }

  /** Stops accepting, closes every connection with 320 CONNECTION_FORCED, and resolves when all are gone. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      const serverClosed = new Promise<void>((r) => this.server.close(() => r()));
      const allGone = new Promise<void>((r) => {
        if (this.connections.size === 0) r();
        else this.emptied = r;
      });
      for (const c of this.connections) c.forceClose(320, SHUTDOWN_TEXT);
      // Clients that never answer close-ok are dropped after a second.
      const force = setTimeout(() => {
        for (const c of this.connections) c.destroy();
      }, 1000);
      void Promise.all([serverClosed, allGone]).then(() => {
        clearTimeout(force);
        resolve();
      });
    });
    return this.closing;
  }
}
