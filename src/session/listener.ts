// The AMQP listener: accepts TCP connections for a broker core, and closes them all (320
// CONNECTION_FORCED) when the broker stops.
import { createServer, type Server, type Socket } from 'node:net';
import { type Broker, type BrokerOptions, VERSION } from '../broker/broker.js';
import type { Log } from '../log.js';
import type { FieldTable } from '../protocol/index.js';
import { Connection, type ConnectionHost } from './connection.js';

const SHUTDOWN_TEXT = "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'";

export class Listener implements ConnectionHost {
  readonly log: Log;
  readonly channelMax: number;
  readonly frameMax: number;
  readonly heartbeat: number;
  readonly handshakeTimeoutMs = 10_000;
  readonly connections = new Set<Connection>();
  private readonly server: Server;
  private nextConnectionId = 1;
  private closing: Promise<void> | undefined;
  private emptied: (() => void) | undefined;

  constructor(
    readonly broker: Broker,
    private readonly options: BrokerOptions = {},
  ) {
    this.log = broker.log;
    this.channelMax = options.channelMax ?? 2047;
    this.frameMax = options.frameMax ?? 131072;
    if (this.frameMax !== 0 && this.frameMax < 4096) throw new RangeError('frameMax must be at least 4096');
    this.heartbeat = options.heartbeat ?? 60;
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
      product: 'warren',
      version: VERSION,
      platform: `Node.js ${process.version}`,
      copyright: 'The warren authors',
      information: 'Licensed under the MIT licence',
      // Only what the broker honours today.
      capabilities: {
        publisher_confirms: true,
        exchange_exchange_bindings: true,
        'basic.nack': true,
        consumer_cancel_notify: true,
        'connection.blocked': true,
        authentication_failure_close: true,
        per_consumer_qos: true,
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
