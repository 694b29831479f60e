// Credit flow through a real client: a publisher faster than its queue's consumers is slowed to their
// pace (its socket is not read while the queue's backlog is over its bound), and nobody else is.
import { Writable } from 'node:stream';
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { FLOW_RATE_WINDOW_MS, FLOW_READY_MESSAGES } from '../../src/broker/queue/queue.js';
import { type RunningBroker, startBroker } from '../../src/index.js';
import { MethodId, writeBasicConsume, writeChannelOpen } from '../../src/protocol/index.js';
import type { Connection } from '../../src/session/connection.js';
import { eventually } from '../helpers/clients.js';
import { RawClient } from '../helpers/raw-client.js';

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

/**
 * A no-ack consumer that stops reading its socket once consume-ok is in: the broker delivers to it fast
 * until its socket is full, then not at all.
 */
async function stalledConsumer(b: RunningBroker, queue: string): Promise<RawClient> {
  const c = await RawClient.connect(b.port);
  await c.handshake();
  writeChannelOpen(c.writer, 1);
  writeBasicConsume(c.writer, 1, queue, 'stalled', false, true, false, false, {});
  c.flush();
  await c.expectMethod(MethodId.BasicConsumeOk);
  c.socket.pause();
  return c;
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
    // The consumer of 'stuck' takes messages fast until its socket is full, then stops reading.
    const stuck = await stalledConsumer(b, 'stuck');
    const { channel: held } = await connect(b, 'held');
    // Still publishing when the test ends: it stops at the first publish on its closed channel.
    publishOpenLoop(held, 'stuck', 100_000).catch(() => {});
    const heldConnection = serverSide(b, 'held');
    await eventually(() => heldConnection.flow, 'the first publisher to be held back');

    const { channel: movingConsumer } = await connect(b, 'moving-consumer');
    let received = 0;
    const total = 5_000;
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
    // The first publisher is still held (its queue's consumer stopped less than a second ago).
    expect(heldConnection.flow).toBe(true);
    const { messageCount } = await setup.checkQueue('stuck');
    expect(messageCount).toBeLessThanOrEqual(FLOW_READY_MESSAGES + 1);
    const holds = lines.filter((l) => l.msg.startsWith('flow: publisher held back'));
    expect(holds.map((l) => [l.conn, l.queue])).toContainEqual([heldConnection.id, 'stuck']);
    expect(holds.some((l) => l.queue === 'moving')).toBe(false);
    stuck.destroy();
  });

  it('consumers that stop taking messages let the publisher they held go, and the queue fills', async () => {
    const b = await start();
    const { channel: setup } = await connect(b, 'setup');
    await setup.assertQueue('stalled');
    const stuck = await stalledConsumer(b, 'stalled');
    const { channel: publisher } = await connect(b, 'publisher');
    // More than the consumer's socket buffers take before it is full.
    const total = 200_000;
    const publishing = publishOpenLoop(publisher, 'stalled', total);
    const conn = serverSide(b, 'publisher');
    await eventually(() => conn.flow, 'the publisher to be held back');
    // Within two rate windows of the stall, the hold lapses: nobody waits on consumers that do not move.
    await eventually(() => !conn.flow, 'the publisher to be let go', 4 * FLOW_RATE_WINDOW_MS + 2000);
    await publishing;
    const { messageCount } = await publisher.checkQueue('stalled');
    expect(messageCount).toBeGreaterThan(FLOW_READY_MESSAGES * 5);
    stuck.destroy();
  });

  it('a slow worker (prefetch 1, a few milliseconds a task) holds no publisher back once its pace is known', async () => {
    const b = await start();
    const { channel: worker } = await connect(b, 'worker');
    await worker.assertQueue('tasks');
    await worker.prefetch(1);
    let done = 0;
    await worker.consume('tasks', (m) => {
      if (!m) return;
      setTimeout(() => {
        done++;
        // The channel may be closed by then, at the end of the test.
        try {
          worker.ack(m);
        } catch {}
      }, 5);
    });
    const { channel: publisher } = await connect(b, 'publisher');
    const conn = serverSide(b, 'publisher');
    // A worker that has just started is taken to be fast for its first window: a flood may be held
    // that long, no longer.
    const batch = 5 * FLOW_READY_MESSAGES;
    await publishOpenLoop(publisher, 'tasks', batch);
    await publisher.checkQueue('tasks');
    await eventually(() => !conn.flow, 'the publisher to be let go', 3 * FLOW_RATE_WINDOW_MS + 2000);
    // From then on, the worker's pace is known: another flood is not held at all.
    let everHeld = false;
    const watch = setInterval(() => {
      if (conn.flow) everHeld = true;
    }, 1);
    await publishOpenLoop(publisher, 'tasks', batch, batch);
    const { messageCount } = await publisher.checkQueue('tasks');
    clearInterval(watch);
    expect(everHeld).toBe(false);
    // Nearly all of them wait in the queue, as in RabbitMQ, rather than in the publisher's socket.
    expect(messageCount + done).toBeGreaterThanOrEqual(2 * batch - 1);
    expect(messageCount).toBeGreaterThan(FLOW_READY_MESSAGES * 5);
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
