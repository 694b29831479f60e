// Helpers shared by the case files: raw connections that are cleaned up with their test, the check
// that the broker still serves a fresh connection after an error, and unique names.

import { randomBytes } from 'node:crypto';
import { AMQPClient } from '@cloudamqp/amqp-client';
import * as amqplib from 'amqplib';
import { broker } from './broker.js';
import { DEFAULT_TIMEOUT, describeMethod, type HandshakeOptions, RawConnection } from './raw.js';
import {
  type CloseArgs,
  closeArgs,
  decodeCloseArgs,
  decodeMethod,
  FRAME_METHOD,
  isMethod,
  Method,
} from './wire.js';

/** The part of a tap test these helpers need. */
export interface Teardown {
  teardown(fn: () => unknown): void;
}

/** A connected socket with nothing sent yet; destroyed when the test ends. */
export async function rawSocket(t: Teardown): Promise<RawConnection> {
  const b = await broker();
  const conn = await RawConnection.connect(b);
  t.teardown(() => conn.destroy());
  return conn;
}

/** A connection through connection.open-ok (and channel 1 open, if asked); destroyed when the test ends. */
export async function rawOpen(
  t: Teardown,
  options: HandshakeOptions & { openChannel?: boolean } = {},
): Promise<RawConnection> {
  const conn = await rawSocket(t);
  await conn.handshake(options);
  if (options.openChannel) await conn.openChannel(1);
  return conn;
}

export function uniqueName(prefix: string): string {
  return `warren-conformance.${prefix}.${randomBytes(4).toString('hex')}`;
}

/**
 * A fresh connection completes the handshake, opens and closes a channel and closes cleanly: the
 * broker is still serving after whatever the test did to another connection. It uses nothing beyond
 * the connection and channel classes.
 */
export async function brokerStillServes(): Promise<void> {
  const b = await broker();
  const conn = await RawConnection.open(b, { tune: { heartbeat: 0 } });
  try {
    await conn.openChannel(1);
    await conn.sendMethod(
      1,
      Method.channelClose,
      closeArgs({ replyCode: 200, replyText: '', classId: 0, methodId: 0 }),
    );
    await conn.expectMethod(Method.channelCloseOk, 1);
    await conn.close();
  } finally {
    conn.destroy();
  }
}

/** Rejects when `promise` has not settled within `timeoutMs`: client-library calls have no timeouts. */
export function within<T>(promise: Promise<T>, what: string, timeoutMs = DEFAULT_TIMEOUT): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export type ConnectionEnd =
  | { close: CloseArgs & { channel: number } }
  | { close: undefined; silent: boolean };

/**
 * Waits until the broker ends the connection: either a connection.close arrives (answered with
 * close-ok) or the socket is closed. Any other method frame first is an error. `silent` tells
 * whether no byte at all was left unread when the socket closed.
 */
export async function expectConnectionEnd(
  conn: RawConnection,
  timeoutMs = DEFAULT_TIMEOUT,
): Promise<ConnectionEnd> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    let frame: Awaited<ReturnType<RawConnection['nextFrame']>>;
    try {
      frame = await conn.nextFrame({ timeoutMs: Math.max(1, deadline - performance.now()) });
    } catch (err) {
      if (conn.isEnded) return { close: undefined, silent: conn.parser.buffered === 0 };
      throw err;
    }
    if (frame.type !== FRAME_METHOD) {
      throw new Error(
        `expected connection.close, got a frame of type ${frame.type} on channel ${frame.channel}`,
      );
    }
    const m = decodeMethod(frame);
    if (!isMethod(m, Method.connectionClose))
      throw new Error(`expected connection.close, got ${describeMethod(m)}`);
    await conn.sendMethod(0, Method.connectionCloseOk).catch(() => {});
    return { close: { ...decodeCloseArgs(m.args), channel: m.channel } };
  }
}

/**
 * An amqplib connection, closed when the test ends. The socket timeout bounds the handshake, so a
 * broker that stalls cannot leave a half-open socket behind.
 */
export async function amqplibConnect(
  t: Teardown,
  url: string,
  options: { credentials?: ReturnType<typeof amqplib.credentials.plain> } = {},
): Promise<amqplib.ChannelModel> {
  const conn = await within(
    amqplib.connect(url, { ...options, timeout: DEFAULT_TIMEOUT }),
    'amqplib connect',
  );
  t.teardown(() => within(conn.close(), 'amqplib close').catch(() => {}));
  return conn;
}

/** An amqp-client connection, closed when the test ends; its socket is destroyed if connect stalls. */
export async function amqpClientConnect(t: Teardown, url: string): Promise<AMQPClient> {
  const client = new AMQPClient(url);
  t.teardown(async () => {
    if (!client.closed) await within(client.close(), 'amqp-client close').catch(() => {});
    client.socket?.destroy();
  });
  await within(client.connect(), 'amqp-client connect');
  return client;
}
