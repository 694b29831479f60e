import { AMQPClient } from '@cloudamqp/amqp-client';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startBroker } from '../../src/index.js';
import {
  MethodId,
  writeChannelClose,
  writeChannelFlow,
  writeChannelOpen,
  writeConnectionClose,
  writeConnectionStartOk,
  writeQueueDeclare,
} from '../../src/protocol/index.js';
import { expectConnectionClose, PROTOCOL_HEADER, RawClient } from '../helpers/raw-client.js';

let broker: RunningBroker;

beforeAll(async () => {
  broker = await startBroker({ port: 0 });
});
afterAll(async () => {
  await broker.close();
});

describe('real clients', () => {
  it('amqplib connects, opens channels and closes cleanly', async () => {
    const connection = await amqp.connect(broker.url);
    const ch1 = await connection.createChannel();
    const ch2 = await connection.createChannel();
    await ch1.close();
    await ch2.close();
    await connection.close();
  });

  it('@cloudamqp/amqp-client connects, opens and closes a channel', async () => {
    const client = new AMQPClient(broker.url);
    const connection = await client.connect();
    const channel = await connection.channel();
    expect(channel.id).toBe(1);
    await channel.close();
    const again = await connection.channel();
    expect(again.closed).toBe(false);
    await connection.close();
  });

  it('a feature not built yet is 540 NOT_IMPLEMENTED naming it, never silently ignored', async () => {
    const connection = await amqp.connect(broker.url);
    const closed = new Promise<Error>((resolve) => connection.on('error', resolve));
    const channel = await connection.createChannel();
    channel.on('error', () => {});
    await expect(
      channel.assertQueue('stream-q', { durable: true, arguments: { 'x-queue-type': 'stream' } }),
    ).rejects.toThrow();
    const err = await closed;
    expect(err.message).toContain('540');
    expect(err.message).toContain(
      "NOT_IMPLEMENTED - queue type 'stream' is not supported; only classic and quorum",
    );

    const client = await new AMQPClient(broker.url).connect();
    const ch = await client.channel();
    await expect(
      ch.queueDeclare('stream-q2', { durable: true }, { 'x-queue-type': 'stream' }),
    ).rejects.toThrow(/NOT_IMPLEMENTED - queue type 'stream'/);
  });

  it('wrong password: connection.close 403 ACCESS_REFUSED', async () => {
    const url = broker.url.replace('guest:guest', 'guest:wrong');
    const err = (await amqp.connect(url).catch((e: Error) => e)) as Error;
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toMatch(/403/);
    expect(err.message).toContain('ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN');
    const client = new AMQPClient(url);
    await expect(client.connect()).rejects.toThrow(/ACCESS_REFUSED/);
  });

  it('unknown vhost: connection.close 530 NOT_ALLOWED', async () => {
    // amqplib reports only that connection.close came instead of open-ok; amqp-client gives the text.
    await expect(amqp.connect(`${broker.url}/nope`)).rejects.toThrow(/got <ConnectionClose/);
    const client = new AMQPClient(`${broker.url}/nope`);
    await expect(client.connect()).rejects.toThrow(/NOT_ALLOWED - vhost nope not found/);
  });

  it('broker.close() closes client connections with 320 CONNECTION_FORCED', async () => {
    const own = await startBroker({ port: 0 });
    const connection = await amqp.connect(own.url);
    // amqplib takes 320 as a graceful close: 'close' carries the error, 'error' is not emitted.
    const closed = new Promise<Error>((resolve) => connection.on('close', resolve));
    await own.close();
    const err = await closed;
    expect(err.message).toContain('320');
    expect(err.message).toContain('CONNECTION_FORCED');
    // And it no longer accepts connections.
    await expect(amqp.connect(own.url)).rejects.toThrow();
  });

  it('two brokers in one process do not interfere', async () => {
    const a = await startBroker({ port: 0, users: [{ username: 'alice', password: 'a' }], vhosts: ['a'] });
    const b = await startBroker({ port: 0, users: [{ username: 'bob', password: 'b' }], vhosts: ['b'] });
    try {
      expect(a.port).not.toBe(b.port);
      const ca = await amqp.connect(`${a.url}/a`);
      const cb = await amqp.connect(`${b.url}/b`);
      await expect(amqp.connect(`${a.url.replace('alice:a', 'bob:b')}/a`)).rejects.toThrow(/403/);
      await expect(new AMQPClient(`${b.url}/a`).connect()).rejects.toThrow(/NOT_ALLOWED - vhost a not found/);
      await b.close();
      // a is still serving after b is gone
      const ch = await ca.createChannel();
      await ch.close();
      await ca.close();
      void cb;
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('handshake on the wire', () => {
  it('a wrong protocol header gets AMQP 0-9-1 back and the socket closed', async () => {
    for (const header of ['AMQP\x00\x00\x09\x00', 'HTTP/1.1', 'AMQP\x01\x01\x09\x01']) {
      const c = await RawClient.connect(broker.port);
      c.send(Buffer.from(header, 'latin1'));
      await c.closed();
      expect(c.rawBytes).toEqual(PROTOCOL_HEADER);
    }
  });

  it('a protocol header split across writes is accepted', async () => {
    const c = await RawClient.connect(broker.port);
    c.start = () => {};
    for (const byte of PROTOCOL_HEADER) c.send(Buffer.from([byte]));
    await c.until(() => (c.rawBytes.length > 0 ? true : undefined));
    expect(c.rawBytes[0]).toBe(1); // a method frame (connection.start) follows
    c.destroy();
  });

  it('connection.start offers PLAIN and AMQPLAIN, en_US, and the capabilities that work', async () => {
    const c = await RawClient.connect(broker.port);
    c.start();
    const { method } = await c.expectMethod<
      Extract<import('../../src/protocol/index.js').Method, { id: 655370 }>
    >(MethodId.ConnectionStart);
    expect(method.versionMajor).toBe(0);
    expect(method.versionMinor).toBe(9);
    expect(method.mechanisms.toString().split(' ').sort()).toEqual(['AMQPLAIN', 'PLAIN']);
    expect(method.locales.toString()).toBe('en_US');
    // RabbitMQ's name and a 4.x version, so that clients choose RabbitMQ's behaviour (Celery's prefetch).
    expect(method.serverProperties.product).toBe('RabbitMQ');
    expect(method.serverProperties.version).toBe('4.0.0');
    expect(String(method.serverProperties.information)).toContain('warren');
    expect(method.serverProperties.capabilities).toMatchObject({
      authentication_failure_close: true,
      publisher_confirms: true,
      consumer_cancel_notify: true,
      consumer_priorities: true,
      direct_reply_to: true,
    });
    c.destroy();
  });

  it('AMQPLAIN authentication works', async () => {
    const c = await RawClient.connect(broker.port);
    c.start();
    await c.expectMethod(MethodId.ConnectionStart);
    // AMQPLAIN's response is a field table's entries without the size prefix.
    const entries = Buffer.concat([
      Buffer.from([5]),
      Buffer.from('LOGIN'),
      Buffer.from('S'),
      Buffer.from([0, 0, 0, 5]),
      Buffer.from('guest'),
      Buffer.from([8]),
      Buffer.from('PASSWORD'),
      Buffer.from('S'),
      Buffer.from([0, 0, 0, 5]),
      Buffer.from('guest'),
    ]);
    writeConnectionStartOk(c.writer, 0, {}, 'AMQPLAIN', entries, 'en_US');
    c.flush();
    await c.expectMethod(MethodId.ConnectionTune);
    c.destroy();
  });

  it('a failed login without authentication_failure_close just closes the socket', async () => {
    const c = await RawClient.connect(broker.port);
    c.start();
    await c.expectMethod(MethodId.ConnectionStart);
    writeConnectionStartOk(c.writer, 0, {}, 'PLAIN', Buffer.from('\0guest\0nope'), 'en_US');
    c.flush();
    await c.closed();
    expect(c.received.filter((r) => r.kind === 'method')).toEqual([]);
  });

  it('an unknown mechanism is refused: the socket closes without a frame, as in RabbitMQ', async () => {
    const c = await RawClient.connect(broker.port);
    c.start();
    await c.expectMethod(MethodId.ConnectionStart);
    writeConnectionStartOk(
      c.writer,
      0,
      { capabilities: { authentication_failure_close: true } },
      'EXTERNAL',
      Buffer.alloc(0),
      'en_US',
    );
    c.flush();
    await c.closed();
    expect(c.received.filter((r) => r.kind === 'method')).toEqual([]);
  });

  it('the 0-9 protocol header is taken as 0-9-1, as RabbitMQ does', async () => {
    const c = await RawClient.connect(broker.port);
    c.start = () => {};
    c.send(Buffer.from('AMQP\x01\x01\x00\x09', 'latin1'));
    await c.until(() => (c.rawBytes.length > 11 ? true : undefined));
    // A method frame on channel 0 carrying connection.start (10, 10).
    expect([c.rawBytes[0], c.rawBytes.readUInt16BE(7), c.rawBytes.readUInt16BE(9)]).toEqual([1, 10, 10]);
    c.destroy();
  });

  it('proposes channel_max 2047, frame_max 131072 and heartbeat 60', async () => {
    const c = await RawClient.connect(broker.port);
    const tune = await c.handshake();
    expect(tune).toMatchObject({ channelMax: 2047, frameMax: 131072, heartbeat: 60 });
    c.destroy();
  });

  it('tune-ok values outside the offer (frame_max < 4096 or 0, channel_max 0) end the connection, as in RabbitMQ', async () => {
    for (const values of [{ frameMax: 1024 }, { frameMax: 0 }, { frameMax: 131073 }, { channelMax: 0 }]) {
      const c = await RawClient.connect(broker.port);
      const done = c.handshake(values).catch(() => undefined);
      await c.closed();
      await done;
      expect(
        c.received.filter((r) => r.kind === 'method' && r.method.id === MethodId.ConnectionOpenOk),
      ).toEqual([]);
    }
  });

  it('a smaller negotiated frame_max is enforced on incoming frames (501)', async () => {
    const c = await RawClient.connect(broker.port);
    await c.handshake({ frameMax: 4096 });
    writeChannelOpen(c.writer, 1);
    c.flush();
    await c.expectMethod(MethodId.ChannelOpenOk);
    c.writer.frameMax = 0;
    writeQueueDeclare(c.writer, 1, 'q', false, false, false, false, false, { pad: 'x'.repeat(5000) });
    c.flush();
    const close = await expectConnectionClose(c);
    expect(close.replyCode).toBe(501);
    await c.closed();
  });

  it('heartbeats are sent at the negotiated interval, and a silent client is disconnected', async () => {
    const c = await RawClient.connect(broker.port);
    const started = Date.now();
    await c.handshake({ heartbeat: 1 });
    await c.until(() => c.received.find((r) => r.kind === 'heartbeat'), 3000, 'a heartbeat');
    const hb = c.received.find((r) => r.kind === 'heartbeat');
    expect(hb?.kind === 'heartbeat' && hb.channel).toBe(0);
    // Silent since the handshake: gone after two intervals (plus the check granularity).
    await c.closed(6000);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(1500);
    expect(elapsed).toBeLessThan(4500);
  });
});

describe('channels on the wire', () => {
  async function opened(): Promise<RawClient> {
    const c = await RawClient.connect(broker.port);
    await c.handshake();
    return c;
  }

  it('a second channel.open of an open channel is 504 CHANNEL_ERROR', async () => {
    const c = await opened();
    writeChannelOpen(c.writer, 1);
    writeChannelOpen(c.writer, 1);
    c.flush();
    const close = await expectConnectionClose(c);
    expect(close.replyCode).toBe(504);
    expect(close.replyText).toContain("second 'channel.open' seen");
    c.destroy();
  });

  it('a method on a channel that was never opened is 504 CHANNEL_ERROR', async () => {
    const c = await opened();
    writeQueueDeclare(c.writer, 7, 'q', false, false, false, false, false, {});
    c.flush();
    const close = await expectConnectionClose(c);
    expect(close.replyCode).toBe(504);
    expect(close.replyText).toContain("expected 'channel.open'");
    expect([close.classId, close.methodId]).toEqual([50, 10]);
    c.destroy();
  });

  it('channel.close gets close-ok, and the number can be opened again', async () => {
    const c = await opened();
    writeChannelOpen(c.writer, 3);
    c.flush();
    await c.expectMethod(MethodId.ChannelOpenOk);
    writeChannelClose(c.writer, 3, 200, 'bye', 0, 0);
    c.flush();
    await c.expectMethod(MethodId.ChannelCloseOk);
    writeChannelOpen(c.writer, 3);
    c.flush();
    const { channel } = await c.expectMethod(MethodId.ChannelOpenOk);
    expect(channel).toBe(3);
    c.destroy();
  });

  it('channel.flow active=true gets flow-ok', async () => {
    const c = await opened();
    writeChannelOpen(c.writer, 1);
    writeChannelFlow(c.writer, 1, true);
    c.flush();
    const { method } = await c.expectMethod<
      Extract<import('../../src/protocol/index.js').Method, { id: 1310741 }>
    >(MethodId.ChannelFlowOk);
    expect(method.active).toBe(true);
    c.destroy();
  });

  it('connection.close from the client gets close-ok and the socket ends', async () => {
    const c = await opened();
    writeConnectionClose(c.writer, 0, 200, 'bye', 0, 0);
    c.flush();
    await c.expectMethod(MethodId.ConnectionCloseOk);
    await c.closed();
  });

  it('an abrupt disconnect leaves nothing behind and others keep working', async () => {
    const own = await startBroker({ port: 0 });
    try {
      const c = await RawClient.connect(own.port);
      await c.handshake();
      writeChannelOpen(c.writer, 1);
      c.flush();
      await c.expectMethod(MethodId.ChannelOpenOk);
      expect(own.listener.connections.size).toBe(1);
      c.destroy();
      const other = await amqp.connect(own.url);
      await other.createChannel();
      await other.close();
      const deadline = Date.now() + 2000;
      while (own.listener.connections.size > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 5));
      }
      expect(own.listener.connections.size).toBe(0);
    } finally {
      await own.close();
    }
  });
});
