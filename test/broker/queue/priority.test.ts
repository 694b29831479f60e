// Priority queues (x-max-priority), through amqplib: the order messages go out in (higher priorities
// first, publish order within one, a priority above the maximum counting as the maximum, none as 0), the
// arguments RabbitMQ refuses, x-max-length's drop-head, TTL, requeues returning to their place, paging
// of persistent backlogs and a restart.
import type { Channel, ChannelModel, ConfirmChannel } from 'amqplib';
import { afterEach, describe, expect, it } from 'vitest';
import { PAGE_OUT_AFTER } from '../../../src/broker/queue/queue.js';
import type { RunningBroker } from '../../../src/index.js';
import { restart, start, stopAll, tempDir } from '../../helpers/brokers.js';
import { eventually, Inbox, newChannel, openChannel } from '../../helpers/clients.js';

afterEach(stopAll);

/** A connection and a confirm channel on it. */
async function open(b: RunningBroker): Promise<{ connection: ChannelModel; ch: ConfirmChannel }> {
  const { connection } = await openChannel(b.url);
  const ch = await connection.createConfirmChannel();
  ch.on('error', () => {});
  return { connection, ch };
}

/** Publishes [body, priority] pairs (undefined: no priority property) and waits for their confirms. */
async function publish(
  ch: ConfirmChannel,
  queue: string,
  messages: [string, number | undefined][],
  persistent = false,
): Promise<void> {
  for (const [body, priority] of messages) {
    ch.sendToQueue(
      queue,
      Buffer.from(body),
      priority === undefined ? { persistent } : { priority, persistent },
    );
  }
  await ch.waitForConfirms();
}

/** Takes every ready message with basic.get (no-ack): bodies, a * after those redelivered. */
async function drain(ch: Channel, queue: string): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const m = await ch.get(queue, { noAck: true });
    if (m === false) return out;
    out.push(m.content.toString() + (m.fields.redelivered ? '*' : ''));
  }
}

describe('x-max-priority', () => {
  it('delivers higher priorities first, in publish order within one; above the maximum counts as it, none as 0', async () => {
    const b = await start();
    const { ch } = await open(b);
    const { queue } = await ch.assertQueue('', { exclusive: true, maxPriority: 3 });
    await publish(ch, queue, [
      ['a0', 0],
      ['b9', 9],
      ['c3', 3],
      ['d', undefined],
      ['e2', 2],
      ['f200', 200],
      ['g1', 1],
      ['h2', 2],
    ]);
    expect((await ch.checkQueue(queue)).messageCount).toBe(8);
    expect(await drain(ch, queue)).toEqual(['b9', 'c3', 'f200', 'e2', 'h2', 'g1', 'a0', 'd']);
  });

  it('a consumer gets them in priority order too, the ones published while it waits as they come', async () => {
    const b = await start();
    const { connection, ch } = await open(b);
    const { queue } = await ch.assertQueue('', { exclusive: true, arguments: { 'x-max-priority': 10 } });
    await publish(ch, queue, [
      ['low', 1],
      ['high', 10],
      ['mid', 5],
    ]);
    const consumer = await newChannel(connection);
    const inbox = new Inbox();
    await consumer.consume(queue, inbox.onMessage, { noAck: true });
    await inbox.count(3);
    await publish(ch, queue, [['later', 1]]);
    await inbox.count(4);
    expect(inbox.bodies).toEqual(['high', 'mid', 'low', 'later']);
  });

  it('x-max-priority 0 is taken and orders nothing', async () => {
    const b = await start();
    const { ch } = await open(b);
    const { queue } = await ch.assertQueue('', { exclusive: true, maxPriority: 0 });
    await publish(ch, queue, [
      ['a', 0],
      ['b', 9],
      ['c', 3],
    ]);
    expect(await drain(ch, queue)).toEqual(['a', 'b', 'c']);
  });

  it('refuses what RabbitMQ refuses, with its texts; a redeclare with another maximum is inequivalent', async () => {
    const b = await start();
    const cases: [unknown, string][] = [
      [256, '{max_value_exceeded,256}'],
      [-1, '{value_negative,-1}'],
      ['ten', '"expected integer, got longstr"'],
      [1.5, '"expected integer, got double"'],
      [true, '"expected integer, got bool"'],
    ];
    const { connection } = await openChannel(b.url);
    for (const [value, reason] of cases) {
      const ch = await newChannel(connection);
      await expect(
        ch.assertQueue('prio-refused', { arguments: { 'x-max-priority': value } }),
      ).rejects.toThrow(
        `406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue 'prio-refused' in vhost '/': ${reason}"`,
      );
    }
    const ch = await newChannel(connection);
    await ch.assertQueue('prio-eq', { maxPriority: 5 });
    await ch.assertQueue('prio-eq', { maxPriority: 5 });
    await expect(ch.assertQueue('prio-eq', { maxPriority: 6 })).rejects.toThrow(
      "PRECONDITION_FAILED - inequivalent arg 'x-max-priority' for queue 'prio-eq' in vhost '/': received '6' but current is '5'",
    );
  });

  it('x-max-length drop-head drops from the head, the highest priority, as RabbitMQ', async () => {
    const b = await start();
    const { ch } = await open(b);
    const { queue } = await ch.assertQueue('', { exclusive: true, maxPriority: 5, maxLength: 2 });
    await publish(ch, queue, [
      ['a1', 1],
      ['b5', 5],
      ['c3', 3],
      ['d0', 0],
    ]);
    expect(await drain(ch, queue)).toEqual(['a1', 'd0']);
  });

  it('messages given back return to their place in their priority, redelivered (nack, channel close)', async () => {
    const b = await start();
    const { connection, ch } = await open(b);
    const { queue } = await ch.assertQueue('', { exclusive: true, maxPriority: 3 });
    await publish(ch, queue, [
      ['a1', 1],
      ['b2', 2],
      ['c1', 1],
      ['d2', 2],
      ['e0', 0],
    ]);
    const taker = await newChannel(connection);
    const got = [];
    for (let i = 0; i < 4; i++) {
      const m = await taker.get(queue);
      if (m === false) throw new Error('queue empty');
      got.push(m);
    }
    expect(got.map((m) => m.content.toString())).toEqual(['b2', 'd2', 'a1', 'c1']);
    taker.nack(got[3], false, true);
    taker.nack(got[0], false, true);
    await publish(ch, queue, [['f2', 2]]);
    // A round trip on the taker: its nacks have been taken.
    await taker.checkQueue(queue);
    expect(await drain(ch, queue)).toEqual(['b2*', 'f2', 'c1*', 'e0']);
    // d2 and a1 are still out: closing the channel gives them back to their places.
    await publish(ch, queue, [
      ['g2', 2],
      ['h1', 1],
    ]);
    await taker.close();
    expect(await drain(ch, queue)).toEqual(['d2*', 'g2', 'a1*', 'h1']);
  });

  it('a message with a TTL expires at the head: behind a higher priority it waits until it gets there, as in RabbitMQ', async () => {
    const b = await start();
    const { ch } = await open(b);
    const { queue } = await ch.assertQueue('', { exclusive: true, maxPriority: 5 });
    ch.sendToQueue(queue, Buffer.from('short'), { priority: 1, expiration: '1' });
    await publish(ch, queue, [['high', 5]]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    // Expired, but not at the head: still counted.
    expect((await ch.checkQueue(queue)).messageCount).toBe(2);
    expect(await drain(ch, queue)).toEqual(['high']);
    const q = b.broker.vhost('/')?.queues.get(queue);
    expect(q?.removals.expired).toBe(1);
    // At the head, its timer drops it without a client asking.
    ch.sendToQueue(queue, Buffer.from('alone'), { priority: 3, expiration: '1' });
    await ch.waitForConfirms();
    await eventually(() => q?.messageCount === 0, 'the head to expire');
    expect(q?.removals.expired).toBe(2);
  });

  it('pages persistent backlogs out with their priority, and delivers them in priority order', async () => {
    const dataDir = tempDir('warren-priority-');
    const b = await start({ dataDir, fsync: false });
    const { connection, ch } = await open(b);
    await ch.assertQueue('prio-paged', { durable: true, maxPriority: 3 });
    const total = PAGE_OUT_AFTER + 2000;
    for (let i = 0; i < total; i++) {
      ch.sendToQueue('prio-paged', Buffer.from(String(i)), { persistent: true, priority: i % 4 });
    }
    await ch.waitForConfirms();
    const q = b.broker.vhost('/')?.queues.get('prio-paged');
    let paged = 0;
    for (const e of q?.ready ?? []) if (typeof e === 'number') paged++;
    expect(paged).toBe(2000);
    const consumer = await newChannel(connection);
    await consumer.prefetch(1000);
    const inbox = new Inbox();
    await consumer.consume('prio-paged', (m) => {
      inbox.onMessage(m);
      if (m) consumer.ack(m);
    });
    await inbox.count(total, 20_000);
    const expected: string[] = [];
    for (let p = 3; p >= 0; p--) for (let i = p; i < total; i += 4) expected.push(String(i));
    expect(inbox.bodies).toEqual(expected);
  });

  it('a durable priority queue keeps its persistent messages in priority order across a restart', async () => {
    const dataDir = tempDir('warren-priority-');
    let b = await start({ dataDir, fsync: false });
    let { ch } = await open(b);
    await ch.assertQueue('prio-durable', { durable: true, maxPriority: 4 });
    await publish(
      ch,
      'prio-durable',
      [
        ['a0', undefined],
        ['b4', 4],
        ['c2', 2],
        ['d7', 7],
        ['e2', 2],
        ['f0', 0],
      ],
      true,
    );
    // Delivered before the restart and not acked: it comes back redelivered, still first.
    const first = await ch.get('prio-durable');
    expect(first !== false && first.content.toString()).toBe('b4');
    b = await restart(b, { dataDir, fsync: false });
    ({ ch } = await open(b));
    await publish(ch, 'prio-durable', [['g3', 3]], true);
    expect(await drain(ch, 'prio-durable')).toEqual(['b4*', 'd7', 'g3', 'c2', 'e2', 'a0', 'f0']);
  });
});
