// A client that speaks AMQP frame by frame through warren's own codec (client role), for tests that need
// to send what real clients never send. Every wait is bounded.
import { connect, type Socket } from 'node:net';
import {
  type FieldTable,
  type FrameHandler,
  FrameParser,
  FrameWriter,
  type Method,
  MethodId,
  type ProtocolError,
  writeConnectionOpen,
  writeConnectionStartOk,
  writeConnectionTuneOk,
} from '../../src/protocol/index.js';

export type Received =
  | { kind: 'method'; channel: number; method: Method }
  | { kind: 'header'; channel: number; classId: number; bodySize: number; properties: Buffer }
  | { kind: 'body'; channel: number; payload: Buffer }
  | { kind: 'heartbeat'; channel: number; at: number }
  | { kind: 'error'; error: ProtocolError };

export const PROTOCOL_HEADER = Buffer.from('AMQP\x00\x00\x09\x01', 'latin1');

export class RawClient implements FrameHandler {
  readonly received: Received[] = [];
  readonly writer = new FrameWriter(131072);
  readonly parser = new FrameParser(this, 0);
  /** Raw bytes before the first frame is parsed (for protocol header replies). */
  rawBytes = Buffer.alloc(0);
  ended = false;
  private waiters: (() => void)[] = [];
  private parsing = false;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      if (this.parsing) this.parser.push(chunk);
      else this.rawBytes = Buffer.concat([this.rawBytes, chunk]);
      this.wake();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  private wake(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  onMethod(channel: number, method: Method): void {
    this.received.push({ kind: 'method', channel, method });
  }
  onHeader(channel: number, classId: number, bodySize: number, properties: Buffer): void {
    this.received.push({ kind: 'header', channel, classId, bodySize, properties: Buffer.from(properties) });
  }
  onBody(channel: number, payload: Buffer): void {
    this.received.push({ kind: 'body', channel, payload: Buffer.from(payload) });
  }
  onHeartbeat(channel: number): void {
    this.received.push({ kind: 'heartbeat', channel, at: Date.now() });
  }
  onFrameError(error: ProtocolError): void {
    this.received.push({ kind: 'error', error });
  }

  /** Resolves when the predicate holds (checked on every arrival), rejects after timeoutMs. */
  until<T>(predicate: () => T | undefined, timeoutMs = 3000, what = 'condition'): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
      const check = () => {
        const v = predicate();
        if (v !== undefined && v !== false) {
          clearTimeout(timer);
          resolve(v);
        } else this.waiters.push(check);
      };
      check();
    });
  }

  /** Waits for the next method with this id (searching what has arrived and not yet been taken). */
  async expectMethod<M extends Method>(
    id: M['id'],
    timeoutMs = 3000,
  ): Promise<{ channel: number; method: M }> {
    return this.until(
      () => {
        const i = this.received.findIndex((r) => r.kind === 'method' && r.method.id === id);
        if (i < 0) return undefined;
        const [r] = this.received.splice(i, 1);
        return r.kind === 'method' ? { channel: r.channel, method: r.method as M } : undefined;
      },
      timeoutMs,
      `method ${id}`,
    );
  }

  closed(timeoutMs = 3000): Promise<true> {
    return this.until(() => (this.ended ? true : undefined), timeoutMs, 'socket close');
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Sends what has been written to the writer. */
  flush(): void {
    for (const c of this.writer.take()) this.socket.write(c);
  }

  /** Sends the protocol header; frames are parsed from here on. */
  start(): void {
    this.parsing = true;
    this.send(PROTOCOL_HEADER);
  }

  /** The whole handshake with PLAIN; returns the server's tune values. */
  async handshake(
    opts: {
      user?: string;
      password?: string;
      vhost?: string;
      frameMax?: number;
      channelMax?: number;
      heartbeat?: number;
    } = {},
  ): Promise<{ channelMax: number; frameMax: number; heartbeat: number }> {
    this.start();
    await this.expectMethod(MethodId.ConnectionStart);
    const response = Buffer.from(`\0${opts.user ?? 'guest'}\0${opts.password ?? 'guest'}`);
    const props: FieldTable = { product: 'raw-test', capabilities: { authentication_failure_close: true } };
    writeConnectionStartOk(this.writer, 0, props, 'PLAIN', response, 'en_US');
    this.flush();
    const { method: tune } = await this.expectMethod<Extract<Method, { id: typeof MethodId.ConnectionTune }>>(
      MethodId.ConnectionTune,
    );
    const frameMax = opts.frameMax ?? tune.frameMax;
    writeConnectionTuneOk(this.writer, 0, opts.channelMax ?? tune.channelMax, frameMax, opts.heartbeat ?? 0);
    this.writer.frameMax = frameMax;
    writeConnectionOpen(this.writer, 0, opts.vhost ?? '/');
    this.flush();
    await this.expectMethod(MethodId.ConnectionOpenOk);
    return tune;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** The connection.close the server sent, if any, after waiting for it. */
export async function expectConnectionClose(c: RawClient, timeoutMs = 3000) {
  const { method } = await c.expectMethod<Extract<Method, { id: typeof MethodId.ConnectionClose }>>(
    MethodId.ConnectionClose,
    timeoutMs,
  );
  return method;
}
