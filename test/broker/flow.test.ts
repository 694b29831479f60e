import amqp from 'amqplib';
import { afterEach, describe, expect, it } from 'vitest';
import type { Message } from '../../src/broker/message.js';
import { type RunningBroker, startBroker } from '../../src/index.js';
import { MethodId, writeBasicConsume, writeChannelOpen } from '../../src/protocol/index.js';
import type { Connection } from '../../src/session/connection.js';
import { closeAll, eventually, openChannel } from '../helpers/clients.js';
import { RawClient } from '../helpers/raw-client.js';

const brokers: RunningBroker[] = [];
async function start(options: Parameters<typeof startBroker>[0] = {}) {
  const b = await startBroker({ port: 0, ...options });
  brokers.push(b);
  return b;
}
afterEach(async () => {
  await closeAll();
  for (const b of brokers.splice(0)) await b.close();
});

/** The broker's side of a client's connection, found by the product the client announced. */
async function connectionOf(b: RunningBroker, product: string) {
  let found: Connection | undefined;
  await eventually(() => {
    found = [...b.listener.connections].find((x) => x.clientProperties.product === product);
    return found !== undefined;
  }, `a connection from ${product}`);
  return found as Connection;
}

function vhost(b: RunningBroker) {
  const v = b.broker.vhost('/');
  if (!v) throw new Error('no vhost');
  return v;
}

describe('flow and resources', () => {
  it('a consumer whose socket does not drain stops receiving: output stays bounded', async () => {
    const b = await start();
    const { channel } = await openChannel(b.url);
    await channel.assertQueue('slow');
    // A raw consumer that never reads from its socket.
    const c = await RawClient.connect(b.port);
    await c.handshake();
    writeChannelOpen(c.writer, 1);
    writeBasicConsume(c.writer, 1, 'slow', 'stuck', false, true, false, false, {});
    c.flush();
    await c.expectMethod(MethodId.BasicConsumeOk);
    c.socket.pause();
    const body = Buffer.alloc(64 * 1024, 7);
    const total = 400; // 25 MiB
    for (let i = 0; i < total; i++) channel.sendToQueue('slow', body);
    // Every publish is either routed (delivered or waiting in the queue) or held back with its
    // publisher by credit flow, which the stuck consumer may or may not have set off.
    const publisher = await connectionOf(b, 'amqplib');
    const queue = vhost(b).queues.get('slow');
    await eventually(
      () => publisher.flow || (queue?.messageCount ?? 0) > total / 2,
      'the publishes to be routed or held back',
    );
    const conn = await connectionOf(b, 'raw-test');
    const buffered = conn.writer.pendingBytes + conn.socket.writableLength;
    expect(buffered).toBeLessThan(4 * 1024 * 1024);
    // Once the consumer reads again, everything arrives, and no publisher is held.
    c.socket.resume();
    await c.until(
      () => (c.received.filter((r) => r.kind === 'body').length >= total ? true : undefined),
      20000,
      'all deliveries',
    );
    expect(publisher.flow).toBe(false);
    c.destroy();
  });

  it('over the memory budget, publishers are blocked (connection.blocked) until consumers catch up', async () => {
    const b = await start({ memoryHighWatermark: 1024 * 1024 });
    const publisher = await amqp.connect(b.url, {
      clientProperties: { capabilities: { 'connection.blocked': true } },
    });
    const blocked = new Promise<string>((resolve) => publisher.on('blocked', resolve));
    const unblocked = new Promise<void>((resolve) => publisher.on('unblocked', () => resolve()));
    const pch = await publisher.createChannel();
    await pch.assertQueue('budget');
    const body = Buffer.alloc(16 * 1024, 1);
    for (let i = 0; i < 200; i++) pch.sendToQueue('budget', body); // 3.2 MiB offered
    expect(await blocked).toBe('low on memory');
    // Reading from the publisher stopped: the queue holds about the watermark, not everything offered.
    const { channel: observer } = await openChannel(b.url);
    const { messageCount } = await observer.checkQueue('budget');
    expect(messageCount * body.length).toBeLessThan(2 * 1024 * 1024);
    expect(b.broker.queuedBytes).toBeLessThan(2 * 1024 * 1024);
    // A consumer drains the queue; the publisher resumes and everything arrives.
    let received = 0;
    let allReceived: () => void = () => {};
    const all = new Promise<void>((resolve) => {
      allReceived = resolve;
    });
    await observer.consume(
      'budget',
      () => {
        if (++received === 200) allReceived();
      },
      { noAck: true },
    );
    await unblocked;
    await all;
    await publisher.close();
  });

  it('over the limit of queued messages, publishers of small messages are blocked too, until consumers catch up', async () => {
    // Each message in memory costs some 400 bytes of heap whatever its body: millions of small ones used
    // to exhaust the heap while their bodies stayed far below the watermark.
    const b = await start({ maxQueuedMessages: 1000 });
    const publisher = await amqp.connect(b.url, {
      clientProperties: { capabilities: { 'connection.blocked': true } },
    });
    const blocked = new Promise<string>((resolve) => publisher.on('blocked', resolve));
    const unblocked = new Promise<void>((resolve) => publisher.on('unblocked', () => resolve()));
    const pch = await publisher.createChannel();
    await pch.assertQueue('count');
    const total = 3000;
    for (let i = 0; i < total; i++) pch.sendToQueue('count', Buffer.from(`m${i}`));
    expect(await blocked).toBe('low on memory');
    const { channel: observer } = await openChannel(b.url);
    const { messageCount } = await observer.checkQueue('count');
    // Reading from the publisher stopped about the limit (what one socket read held went in whole).
    expect(messageCount).toBeGreaterThan(1000);
    expect(messageCount).toBeLessThan(total);
    expect(b.broker.queuedBytes).toBeLessThan(64 * 1024);
    const bodies: string[] = [];
    let allReceived: () => void = () => {};
    const all = new Promise<void>((resolve) => {
      allReceived = resolve;
    });
    await observer.consume(
      'count',
      (m) => {
        if (m && bodies.push(m.content.toString()) === total) allReceived();
      },
      { noAck: true },
    );
    await unblocked;
    await all;
    expect(bodies).toEqual(Array.from({ length: total }, (_, i) => `m${i}`));
    expect(b.broker.queuedMessages).toBe(0);
    await publisher.close();
  });

  it('one message object, body included, is shared by every queue it reaches', async () => {
    const b = await start();
    const { channel } = await openChannel(b.url);
    await channel.assertExchange('share', 'fanout');
    for (const q of ['s1', 's2', 's3']) {
      await channel.assertQueue(q);
      await channel.bindQueue(q, 'share', '');
    }
    channel.publish('share', '', Buffer.from('shared'));
    await channel.checkQueue('s1');
    const heads = ['s1', 's2', 's3'].map((q) => vhost(b).queues.get(q)?.ready.peek()) as Message[];
    expect(heads[0]).toBeDefined();
    expect(heads[1]).toBe(heads[0]);
    expect(heads[2]).toBe(heads[0]);
  });
});
