// Credit flow through a real client: a publisher faster than its queue's consumers is slowed to their
// pace (its socket is not read while the queue's backlog is over its bound), and nobody else is.
import { Writable } from 'node:stream';
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { FLOW_READY_MESSAGES } from '../../src/broker/queue/queue.js';
import { type RunningBroker, startBroker } from '../../src/index.js';
import type { Connection } from '../../src/session/connection.js';
import { eventually } from '../helpers/clients.js';

const brokers: RunningBroker[] = [];
const clients: ChannelModel[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close().catch(() => {});
  for (const b of brokers.splice(0)) await b.close();
});

async function start(options: Parameters<typeof startBroker>[0] = {}): Promise<RunningBroker> {
  const b = await startBroker({ port: 0, ...options });
  brokers.push(b);
  return b;
}

/** A client connection named so that the broker's side of it can be found. */
async function connect(b: RunningBroker, name: string): Promise<{ model: ChannelModel; channel: Channel }> {
  const model = await amqp.connect(b.url, { clientProperties: { connection_name: name } });
  clients.push(model);
  const channel = await model.createChannel();
  return { model, channel };
}

function serverSide(b: RunningBroker, name: string): Connection {
  const c = [...b.listener.connections].find((x) => x.clientProperties.connection_name === name);
  if (!c) throw new Error(`no connection ${name}`);
  return c;
}

/**
 * Publishes `count` messages as fast as the client takes them (open loop: it never waits for the
 * consumer), yielding to the event loop between batches so that the consumer in this process runs too.
 */
async function publishOpenLoop(channel: Channel, queue: string, count: number, first = 0): Promise<void> {
  for (let i = 0; i < count; ) {
    const end = Math.min(count, i + 1000);
    for (; i < end; i++) channel.sendToQueue(queue, Buffer.from(String(first + i)));
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Samples a queue's depth, as a client sees it, until stopped; returns the largest seen. */
function watchDepth(channel: Channel, queue: string): { stop(): Promise<number>; samples(): number } {
  let max = 0;
  let samples = 0;
  let running = true;
  const loop = (async () => {
    // Bounded: the test's own timeout ends it at the latest.
    while (running) {
      const { messageCount } = await channel.checkQueue(queue);
      samples++;
      if (messageCount > max) max = messageCount;
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return max;
    },
    samples: () => samples,
  };
}

describe('credit flow', () => {
  it('200,000 messages published open loop to a manual-ack consumer: the depth stays within the bound, each arrives once', async () => {
    const b = await start();
    const total = 200_000;
    const { channel: setup } = await connect(b, 'setup');
    await setup.assertQueue('paced');
    const { channel: consumer } = await connect(b, 'consumer');
    await consumer.prefetch(100);
    const seen = new Uint8Array(total);
    let received = 0;
    let duplicates = 0;
    const all = new Promise<void>((resolve) => {
      void consumer.consume('paced', (m) => {
        if (!m) return;
        const i = Number(m.content.toString());
        if (seen[i] === 1) duplicates++;
        seen[i] = 1;
        received++;
        consumer.ack(m);
        if (received === total) resolve();
      });
    });
    const { channel: observer } = await connect(b, 'observer');
    const depth = watchDepth(observer, 'paced');
    const { channel: publisher } = await connect(b, 'publisher');
    await publishOpenLoop(publisher, 'paced', total);
    await all;
    const maxDepth = await depth.stop();
    expect(received).toBe(total);
    expect(duplicates).toBe(0);
    expect(seen.every((x) => x === 1)).toBe(true);
    // The consumer fell behind (the publisher was held back at some point), yet the queue never grew
    // past its bound: the publish that crosses it is the last one read until the queue drains.
    expect(depth.samples()).toBeGreaterThan(10);
    expect(maxDepth).toBeGreaterThan(0);
    expect(maxDepth).toBeLessThanOrEqual(FLOW_READY_MESSAGES + 1);
    expect(serverSide(b, 'publisher').flow).toBe(false);
  });

  it('a publisher to a queue without consumers is not slowed while the broker is under its budget', async () => {
    const b = await start();
    const { channel: publisher } = await connect(b, 'publisher');
    await publisher.assertQueue('backlog');
    const total = 50_000;
    const publishing = publishOpenLoop(publisher, 'backlog', total);
    let everHeld = false;
    const conn = serverSide(b, 'publisher');
    const watch = setInterval(() => {
      if (conn.flow || conn.blocked) everHeld = true;
    }, 1);
    await publishing;
    // A round trip on the same channel: every publish before it has been routed.
    const { messageCount } = await publisher.checkQueue('backlog');
    clearInterval(watch);
    expect(messageCount).toBe(total);
    expect(messageCount).toBeGreaterThan(FLOW_READY_MESSAGES * 10);
    expect(everHeld).toBe(false);
  });

  it('while one publisher is held back, a second one to another queue gets its messages through', async () => {
    // The broker's debug log says which connection is held back, and by which queue.
    const lines: { msg: string; conn?: number; queue?: string }[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line));
        done();
      },
    });
    const b = await start({ logger: pino({ level: 'debug' }, sink) });
    const { channel: setup } = await connect(b, 'setup');
    await setup.assertQueue('stuck');
    await setup.assertQueue('moving');
    // The consumer of 'stuck' takes one message and never acks it.
    const { channel: stuckConsumer } = await connect(b, 'stuck-consumer');
    await stuckConsumer.prefetch(1);
    await stuckConsumer.consume('stuck', () => {});
    const { channel: held } = await connect(b, 'held');
    void publishOpenLoop(held, 'stuck', 3 * FLOW_READY_MESSAGES);
    const heldConnection = serverSide(b, 'held');
    await eventually(() => heldConnection.flow, 'the first publisher to be held back');

    const { channel: movingConsumer } = await connect(b, 'moving-consumer');
    let received = 0;
    const total = 20_000;
    const all = new Promise<void>((resolve) => {
      void movingConsumer.consume(
        'moving',
        () => {
          if (++received === total) resolve();
        },
        { noAck: true },
      );
    });
    const { channel: free } = await connect(b, 'free');
    await publishOpenLoop(free, 'moving', total);
    await all;
    expect(received).toBe(total);
    // The first publisher is still held: its queue's consumer has not moved.
    expect(heldConnection.flow).toBe(true);
    const holds = lines.filter((l) => l.msg.startsWith('flow: publisher held back'));
    expect(holds.map((l) => [l.conn, l.queue])).toContainEqual([heldConnection.id, 'stuck']);
    expect(holds.some((l) => l.queue === 'moving')).toBe(false);
    const { messageCount } = await setup.checkQueue('stuck');
    expect(messageCount).toBeLessThanOrEqual(FLOW_READY_MESSAGES + 1);
  });

  it('a connection that consumes from the queue it publishes to is never held back by it', async () => {
    const b = await start();
    const { model, channel: publisher } = await connect(b, 'both');
    await publisher.assertQueue('loop');
    const consumer = await model.createChannel();
    await consumer.prefetch(50);
    const total = 20_000;
    let received = 0;
    const all = new Promise<void>((resolve) => {
      void consumer.consume('loop', (m) => {
        if (!m) return;
        consumer.ack(m);
        if (++received === total) resolve();
      });
    });
    await publishOpenLoop(publisher, 'loop', total);
    await all;
    expect(received).toBe(total);
  });
});
