// A tiny raw AMQP 0-9-1 client for protocol-level cases: it does the handshake by hand, sends any
// bytes, and reads frames back. Every wait has a timeout, so no case can hang on a silent broker.

import net from 'node:net';
import {
  type CloseArgs,
  closeArgs,
  decodeCloseArgs,
  decodeMethod,
  encodeTableBody,
  type FieldTable,
  FRAME_HEARTBEAT,
  FRAME_METHOD,
  type Frame,
  FrameParser,
  heartbeatFrame,
  isMethod,
  Method,
  type MethodFrame,
  type MethodId,
  methodFrame,
  PROTOCOL_HEADER,
  Reader,
  Writer,
} from './wire.js';

export const DEFAULT_TIMEOUT = 3000;

export interface Endpoint {
  host: string;
  port: number;
}

export interface ConnectionStart {
  versionMajor: number;
  versionMinor: number;
  serverProperties: FieldTable;
  mechanisms: string[];
  locales: string[];
}

export interface Tune {
  channelMax: number;
  frameMax: number;
  heartbeat: number;
}

export interface HandshakeOptions {
  username?: string;
  password?: string;
  vhost?: string;
  /** SASL mechanism named in start-ok; PLAIN by default. */
  mechanism?: string;
  /** The start-ok response bytes; by default built from username and password for the mechanism. */
  response?: Buffer;
  clientProperties?: FieldTable;
  /** Values sent in tune-ok; each defaults to what the server proposed. */
  tune?: Partial<Tune>;
}

export const DEFAULT_CLIENT_PROPERTIES: FieldTable = {
  product: 'warren-conformance',
  capabilities: { authentication_failure_close: true },
};

export function plainResponse(username: string, password: string): Buffer {
  return Buffer.from(`\0${username}\0${password}`, 'utf8');
}

/** AMQPLAIN: the entries of a field table, without the table's own length prefix. */
export function amqplainResponse(username: string, password: string): Buffer {
  return encodeTableBody({ LOGIN: username, PASSWORD: password });
}

export function methodName(method: MethodId): string {
  return (
    Object.entries(Method).find(([, id]) => id[0] === method[0] && id[1] === method[1])?.[0] ??
    `${method[0]}/${method[1]}`
  );
}

/** For failure messages: the method's name and channel, and the arguments of a close. */
export function describeMethod(m: MethodFrame): string {
  const name = methodName([m.classId, m.methodId]);
  if (isMethod(m, Method.connectionClose) || isMethod(m, Method.channelClose)) {
    try {
      const c = decodeCloseArgs(m.args);
      return `${name} on channel ${m.channel}: ${c.replyCode} ${c.replyText} (${c.classId}/${c.methodId})`;
    } catch {
      return `${name} on channel ${m.channel} with undecodable arguments`;
    }
  }
  return `${name} on channel ${m.channel}`;
}

export class RawConnection {
  readonly parser = new FrameParser();
  private ended = false;
  private readonly listeners = new Set<() => void>();

  private constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (bytes: Buffer) => {
      this.parser.push(bytes);
      this.notify();
    });
    // A reset after the broker closed on us is expected in error cases; the 'close' event follows.
    socket.on('error', () => {});
    socket.on('end', () => this.markEnded());
    socket.on('close', () => this.markEnded());
  }

  static connect(endpoint: Endpoint, timeoutMs = DEFAULT_TIMEOUT): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: endpoint.host, port: endpoint.port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`timed out after ${timeoutMs} ms connecting to ${endpoint.host}:${endpoint.port}`));
      }, timeoutMs);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(new RawConnection(socket));
      });
    });
  }

  /** Connects and completes the handshake up to connection.open-ok. */
  static async open(endpoint: Endpoint, options: HandshakeOptions = {}): Promise<RawConnection> {
    const conn = await RawConnection.connect(endpoint);
    try {
      await conn.handshake(options);
    } catch (err) {
      conn.destroy();
      throw err;
    }
    return conn;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  private markEnded(): void {
    this.ended = true;
    this.notify();
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /**
   * Resolves with the first defined result of `check`, re-run whenever bytes arrive or the socket
   * ends. Rejects when `check` throws or the timeout passes.
   */
  waitFor<T>(check: () => T | undefined, what: string, timeoutMs = DEFAULT_TIMEOUT): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (): void => {
        this.listeners.delete(listener);
        if (timer) clearTimeout(timer);
      };
      const listener = (): void => {
        let value: T | undefined;
        try {
          value = check();
        } catch (err) {
          finish();
          reject(err);
          return;
        }
        if (value !== undefined) {
          finish();
          resolve(value);
        }
      };
      this.listeners.add(listener);
      timer = setTimeout(() => {
        finish();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      listener();
    });
  }

  send(bytes: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.socket.destroyed) {
        reject(new Error('socket already closed'));
        return;
      }
      this.socket.write(bytes, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Writes the bytes one at a time, each in its own write. */
  async sendByteByByte(bytes: Buffer): Promise<void> {
    for (let i = 0; i < bytes.length; i++) await this.send(bytes.subarray(i, i + 1));
  }

  sendMethod(channel: number, method: MethodId, args: Buffer = Buffer.alloc(0)): Promise<void> {
    return this.send(methodFrame(channel, method, args));
  }

  sendHeartbeat(channel = 0): Promise<void> {
    return this.send(heartbeatFrame(channel));
  }

  /** Exactly n raw bytes, e.g. the broker's reply to a protocol header it refuses. */
  readBytes(n: number, timeoutMs = DEFAULT_TIMEOUT): Promise<Buffer> {
    return this.waitFor(
      () => {
        const bytes = this.parser.takeBytes(n);
        if (bytes) return Buffer.from(bytes);
        if (this.ended) throw new Error(`connection closed after ${this.parser.buffered} of ${n} bytes`);
        return undefined;
      },
      `${n} bytes`,
      timeoutMs,
    );
  }

  /** The next frame; heartbeats are skipped unless asked for. */
  nextFrame(options: { timeoutMs?: number; heartbeats?: boolean } = {}): Promise<Frame> {
    return this.waitFor(
      () => {
        for (;;) {
          const frame = this.parser.next();
          if (!frame) break;
          if (frame.type === FRAME_HEARTBEAT && !options.heartbeats) continue;
          return frame;
        }
        if (this.ended) throw new Error('connection closed by the broker while waiting for a frame');
        return undefined;
      },
      'a frame',
      options.timeoutMs,
    );
  }

  async nextMethod(timeoutMs = DEFAULT_TIMEOUT): Promise<MethodFrame> {
    const frame = await this.nextFrame({ timeoutMs });
    if (frame.type !== FRAME_METHOD) {
      throw new Error(
        `expected a method frame, got a frame of type ${frame.type} on channel ${frame.channel}`,
      );
    }
    return decodeMethod(frame);
  }

  /** The next method, which must be `method` (on `channel`, if given). */
  async expectMethod(method: MethodId, channel?: number, timeoutMs = DEFAULT_TIMEOUT): Promise<MethodFrame> {
    const m = await this.nextMethod(timeoutMs);
    if (!isMethod(m, method) || (channel !== undefined && m.channel !== channel)) {
      const wanted = `${methodName(method)}${channel === undefined ? '' : ` on channel ${channel}`}`;
      throw new Error(`expected ${wanted}, got ${describeMethod(m)}`);
    }
    return m;
  }

  /**
   * The next frame must be connection.close (heartbeats aside): answers it with close-ok unless told
   * not to, and returns its arguments and the channel it came on.
   */
  async expectConnectionClose(
    options: { timeoutMs?: number; sendCloseOk?: boolean } = {},
  ): Promise<CloseArgs & { channel: number }> {
    const m = await this.expectMethod(Method.connectionClose, undefined, options.timeoutMs);
    if (options.sendCloseOk ?? true) await this.sendMethod(0, Method.connectionCloseOk).catch(() => {});
    return { ...decodeCloseArgs(m.args), channel: m.channel };
  }

  /** The next frame must be channel.close on `channel`; returns its arguments. */
  async expectChannelClose(channel: number, timeoutMs = DEFAULT_TIMEOUT): Promise<CloseArgs> {
    const m = await this.expectMethod(Method.channelClose, channel, timeoutMs);
    return decodeCloseArgs(m.args);
  }

  /** Resolves once the broker has closed the socket. */
  waitForEnd(timeoutMs = DEFAULT_TIMEOUT): Promise<true> {
    return this.waitFor(() => (this.ended ? true : undefined), 'the broker to close the socket', timeoutMs);
  }

  async sendProtocolHeader(header: Buffer = PROTOCOL_HEADER): Promise<void> {
    await this.send(header);
  }

  async readStart(timeoutMs = DEFAULT_TIMEOUT): Promise<ConnectionStart> {
    const m = await this.expectMethod(Method.connectionStart, 0, timeoutMs);
    const r = new Reader(m.args);
    return {
      versionMajor: r.octet(),
      versionMinor: r.octet(),
      serverProperties: r.table(),
      mechanisms: r.longstr().toString('utf8').split(' ').filter(Boolean),
      locales: r.longstr().toString('utf8').split(' ').filter(Boolean),
    };
  }

  sendStartOk(options: HandshakeOptions = {}): Promise<void> {
    const mechanism = options.mechanism ?? 'PLAIN';
    const username = options.username ?? 'guest';
    const password = options.password ?? 'guest';
    const response =
      options.response ??
      (mechanism === 'AMQPLAIN' ? amqplainResponse(username, password) : plainResponse(username, password));
    const args = new Writer()
      .table(options.clientProperties ?? DEFAULT_CLIENT_PROPERTIES)
      .shortstr(mechanism)
      .longstr(response)
      .shortstr('en_US')
      .build();
    return this.sendMethod(0, Method.connectionStartOk, args);
  }

  async readTune(timeoutMs = DEFAULT_TIMEOUT): Promise<Tune> {
    const m = await this.expectMethod(Method.connectionTune, 0, timeoutMs);
    const r = new Reader(m.args);
    return { channelMax: r.short(), frameMax: r.long(), heartbeat: r.short() };
  }

  sendTuneOk(tune: Tune): Promise<void> {
    const args = new Writer().short(tune.channelMax).long(tune.frameMax).short(tune.heartbeat).build();
    return this.sendMethod(0, Method.connectionTuneOk, args);
  }

  sendOpen(vhost = '/'): Promise<void> {
    return this.sendMethod(
      0,
      Method.connectionOpen,
      new Writer().shortstr(vhost).shortstr('').bits(false).build(),
    );
  }

  /** Header, start/start-ok, tune/tune-ok, open/open-ok. Returns what the server sent. */
  async handshake(
    options: HandshakeOptions = {},
  ): Promise<{ start: ConnectionStart; tune: Tune; tuneOk: Tune }> {
    await this.sendProtocolHeader();
    const start = await this.readStart();
    await this.sendStartOk(options);
    const tune = await this.readTune();
    const tuneOk = { ...tune, ...options.tune };
    await this.sendTuneOk(tuneOk);
    await this.sendOpen(options.vhost);
    await this.expectMethod(Method.connectionOpenOk, 0);
    return { start, tune, tuneOk };
  }

  async openChannel(channel: number): Promise<void> {
    await this.sendMethod(channel, Method.channelOpen, new Writer().shortstr('').build());
    await this.expectMethod(Method.channelOpenOk, channel);
  }

  /**
   * Client-initiated connection.close: waits for close-ok, then closes the socket, since the peer that
   * sent close is the one that closes the socket (spec 4.2.2).
   */
  async close(): Promise<void> {
    await this.sendMethod(
      0,
      Method.connectionClose,
      closeArgs({ replyCode: 200, replyText: 'bye', classId: 0, methodId: 0 }),
    );
    await this.expectMethod(Method.connectionCloseOk, 0);
    this.socket.end();
    await this.waitForEnd();
  }

  destroy(): void {
    this.socket.destroy();
  }
}
