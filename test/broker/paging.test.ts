// Long backlogs of persistent messages in durable queues wait on disk: past PAGE_OUT_AFTER ready
// messages or PAGE_OUT_BYTES of their bodies, past half the memory watermark, and after a restart for all
// of them, a queue keeps only their ids and reads each back from the store when its turn comes. Without
// a data directory there is no disk: everything stays in memory.
import { afterEach, describe, expect, it } from 'vitest';
import { PAGE_OUT_AFTER, PAGE_OUT_BYTES } from '../../src/broker/queue/queue.js';
import type { RunningBroker } from '../../src/index.js';
import { restart, start, stopAll, tempDir } from '../helpers/brokers.js';
import { Inbox, openChannel } from '../helpers/clients.js';

afterEach(stopAll);

function pagedCount(b: RunningBroker, queue: string): number {
  const q = b.broker.vhost('/')?.queues.get(queue);
  if (!q) throw new Error(`no queue ${queue}`);
  let n = 0;
  for (const e of q.ready) if (typeof e === 'number') n++;
  return n;
}

const total = PAGE_OUT_AFTER + 2000;

async function fill(b: RunningBroker, queue: string): Promise<void> {
  const { connection } = await openChannel(b.url);
  const ch = await connection.createConfirmChannel();
  await ch.assertQueue(queue, { durable: true });
  for (let i = 0; i < total; i++) {
    ch.sendToQueue(queue, Buffer.from(`m${i}`), { persistent: true, headers: { i } });
  }
  await ch.waitForConfirms();
}

async function consumeAll(b: RunningBroker, queue: string, count = total): Promise<Inbox> {
  const { channel } = await openChannel(b.url);
  const inbox = new Inbox();
  await channel.prefetch(500);
  await channel.consume(queue, (m) => {
    inbox.onMessage(m);
    if (m) channel.ack(m);
  });
  await inbox.count(count, 20_000);
  // A round trip on the channel: the broker has taken every ack sent before it.
  await channel.checkQueue(queue);
  return inbox;
}

describe('paging persistent backlogs', () => {
  it('keeps only ids past the window, and delivers everything in order with its properties', async () => {
    const dataDir = tempDir('warren-paging-');
    const b = await start({ dataDir, fsync: false });
    await fill(b, 'paged');
    expect(pagedCount(b, 'paged')).toBe(total - PAGE_OUT_AFTER);
    // Paged messages do not count against the memory budget.
    expect(b.broker.queuedBytes).toBeLessThan(PAGE_OUT_AFTER * 16);
    const inbox = await consumeAll(b, 'paged');
    expect(inbox.bodies).toEqual(Array.from({ length: total }, (_, i) => `m${i}`));
    expect(inbox.messages[total - 1].properties.headers).toEqual({ i: total - 1 });
    expect(inbox.messages[total - 1].properties.deliveryMode).toBe(2);
  });

  it('an in-memory broker keeps the whole backlog in memory: nothing is paged to a store that keeps nothing', async () => {
    // Paging to the in-memory broker's store lost every confirmed message past the window.
    const b = await start({});
    await fill(b, 'unpaged');
    expect(pagedCount(b, 'unpaged')).toBe(0);
    expect(b.broker.queuedBytes).toBeGreaterThan(total * 4);
    const inbox = await consumeAll(b, 'unpaged');
    expect(inbox.bodies).toEqual(Array.from({ length: total }, (_, i) => `m${i}`));
    expect(inbox.messages[total - 1].properties.headers).toEqual({ i: total - 1 });
  });

  it('after a restart, leaves every message on disk until its turn, and delivers all in order', async () => {
    const dataDir = tempDir('warren-paging-');
    let b = await start({ dataDir, fsync: false });
    await fill(b, 'paged-restart');
    b = await restart(b, { dataDir, fsync: false });
    // Nothing was read back at start: every message is an id, and none counts against the memory budget.
    expect(pagedCount(b, 'paged-restart')).toBe(total);
    expect(b.broker.queuedBytes).toBe(0);
    const inbox = await consumeAll(b, 'paged-restart');
    expect(inbox.bodies).toEqual(Array.from({ length: total }, (_, i) => `m${i}`));
    expect(inbox.messages.every((m) => !m.fields.redelivered)).toBe(true);
  });

  it('a purge releases paged messages in the store too', async () => {
    const dataDir = tempDir('warren-paging-');
    let b = await start({ dataDir, fsync: false });
    await fill(b, 'paged-purge');
    const { channel } = await openChannel(b.url);
    expect((await channel.purgeQueue('paged-purge')).messageCount).toBe(total);
    b = await restart(b, { dataDir, fsync: false });
    const { channel: after } = await openChannel(b.url);
    expect((await after.checkQueue('paged-purge')).messageCount).toBe(0);
  });

  it('requeued messages keep their place ahead of paged ones', async () => {
    const dataDir = tempDir('warren-paging-');
    const b = await start({ dataDir, fsync: false });
    await fill(b, 'paged-requeue');
    const { channel } = await openChannel(b.url);
    const first = await channel.get('paged-requeue');
    const second = await channel.get('paged-requeue');
    if (!first || !second) throw new Error('no messages');
    channel.nack(second, false, true);
    channel.nack(first, false, true);
    const again = await channel.get('paged-requeue', { noAck: true });
    expect(again && [again.content.toString(), again.fields.redelivered]).toEqual(['m0', true]);
    expect((await channel.checkQueue('paged-requeue')).messageCount).toBe(total - 1);
  });

  it('purges and deletes give the memory budget back exactly, with messages ready, unacked, requeued and paged', async () => {
    const dataDir = tempDir('warren-paging-');
    const b = await start({ dataDir, fsync: false });
    const bytes = (from: number, to: number) => {
      let n = 0;
      for (let i = from; i < to; i++) n += `m${i}`.length;
      return n;
    };
    const holdUnacked = async (queue: string, count: number) => {
      const { connection, channel } = await openChannel(b.url);
      const inbox = new Inbox();
      await channel.prefetch(count);
      await channel.consume(queue, inbox.onMessage);
      await inbox.count(count, 10_000);
      return { connection, channel };
    };

    // Ready (in memory and paged) and requeued, nothing unacked: the purge drops everything at once.
    await fill(b, 'budget-a');
    expect(b.broker.queuedBytes).toBe(bytes(0, PAGE_OUT_AFTER));
    expect(b.broker.queuedMessages).toBe(PAGE_OUT_AFTER);
    const a = await holdUnacked('budget-a', 100);
    await a.channel.close(); // the 100 come back, requeued
    const { channel } = await openChannel(b.url);
    expect((await channel.purgeQueue('budget-a')).messageCount).toBe(total);
    expect(b.broker.queuedBytes).toBe(0);
    expect(b.broker.queuedMessages).toBe(0);

    // With unacked messages the purge leaves them counted until they come back; the deletion drops them.
    await fill(b, 'budget-b');
    const held = await holdUnacked('budget-b', 100);
    expect((await channel.purgeQueue('budget-b')).messageCount).toBe(total - 100);
    expect(b.broker.queuedBytes).toBe(bytes(0, 100));
    expect(b.broker.queuedMessages).toBe(100);
    await held.channel.close();
    expect((await channel.checkQueue('budget-b')).messageCount).toBe(100);
    expect(b.broker.queuedBytes).toBe(bytes(0, 100));
    expect((await channel.deleteQueue('budget-b')).messageCount).toBe(100);
    expect(b.broker.queuedBytes).toBe(0);
    expect(b.broker.queuedMessages).toBe(0);

    // A transient queue: deleted with messages ready, requeued and unacked.
    await channel.assertQueue('budget-c', { durable: false });
    for (let i = 0; i < 1000; i++) channel.sendToQueue('budget-c', Buffer.from(`m${i}`));
    const c = await holdUnacked('budget-c', 50);
    await c.channel.recover(); // the 50 come back, requeued, and go out again
    expect(b.broker.queuedBytes).toBe(bytes(0, 1000));
    expect((await channel.deleteQueue('budget-c')).messageCount).toBe(950);
    // The unacked ones are still held by the consumer's channel, until it goes.
    expect(b.broker.queuedBytes).toBe(bytes(0, 50));
    expect(b.broker.queuedMessages).toBe(50);
    await c.connection.close();
    expect(b.broker.queuedBytes).toBe(0);
    expect(b.broker.queuedMessages).toBe(0);
  });

  it('pages large bodies out past PAGE_OUT_BYTES in memory, however few, and delivers them intact in order', async () => {
    const dataDir = tempDir('warren-paging-');
    const b = await start({ dataDir, fsync: false });
    const { connection } = await openChannel(b.url);
    const ch = await connection.createConfirmChannel();
    await ch.assertQueue('large', { durable: true });
    const size = 1024 * 1024;
    const count = PAGE_OUT_BYTES / size + 8;
    const body = (i: number) => Buffer.alloc(size, i);
    for (let i = 0; i < count; i++) ch.sendToQueue('large', body(i), { persistent: true });
    await ch.waitForConfirms();
    expect(pagedCount(b, 'large')).toBe(8);
    expect(b.broker.queuedBytes).toBe(PAGE_OUT_BYTES);
    const inbox = await consumeAll(b, 'large', count);
    expect(inbox.messages.every((m, i) => m.content.equals(body(i)))).toBe(true);
    expect(b.broker.queuedBytes).toBe(0);
  });

  it('past half the memory watermark, a durable queue with no consumer keeps taking persistent messages: they wait on disk, publishers are not blocked', async () => {
    // Before, such a queue kept them in memory until the watermark blocked its publishers for good.
    const dataDir = tempDir('warren-paging-');
    const watermark = 8 * 1024 * 1024;
    const b = await start({ dataDir, fsync: false, memoryHighWatermark: watermark });
    const { connection } = await openChannel(b.url);
    let blocked = false;
    connection.on('blocked', () => {
      blocked = true;
    });
    const ch = await connection.createConfirmChannel();
    await ch.assertQueue('pressure', { durable: true });
    const size = 64 * 1024;
    const count = 500; // 32 MiB, four times the watermark
    const body = (i: number) => Buffer.alloc(size, i);
    for (let i = 0; i < count; i++) ch.sendToQueue('pressure', body(i), { persistent: true });
    await ch.waitForConfirms();
    expect(blocked).toBe(false);
    expect(b.broker.queuedBytes).toBeLessThanOrEqual(watermark / 2 + size);
    expect(pagedCount(b, 'pressure')).toBe(count - b.broker.queuedBytes / size);
    const inbox = await consumeAll(b, 'pressure', count);
    expect(inbox.messages.every((m, i) => m.content.equals(body(i)))).toBe(true);
    expect(b.broker.queuedBytes).toBe(0);
  });

  it('past half the limit of queued messages, small persistent messages wait on disk, publishers are not blocked', async () => {
    const dataDir = tempDir('warren-paging-');
    const b = await start({ dataDir, fsync: false, maxQueuedMessages: 2000 });
    const { connection } = await openChannel(b.url);
    let blocked = false;
    connection.on('blocked', () => {
      blocked = true;
    });
    const ch = await connection.createConfirmChannel();
    await ch.assertQueue('many', { durable: true });
    const count = 5000;
    for (let i = 0; i < count; i++) ch.sendToQueue('many', Buffer.from(`m${i}`), { persistent: true });
    await ch.waitForConfirms();
    expect(blocked).toBe(false);
    expect(b.broker.queuedMessages).toBe(1001);
    expect(pagedCount(b, 'many')).toBe(count - 1001);
    const inbox = await consumeAll(b, 'many', count);
    expect(inbox.bodies).toEqual(Array.from({ length: count }, (_, i) => `m${i}`));
    expect(b.broker.queuedMessages).toBe(0);
  });

  it('x-max-length drops the oldest, paged or not, and the queue keeps its length across a restart', async () => {
    const dataDir = tempDir('warren-paging-');
    let b = await start({ dataDir, fsync: false });
    const { connection } = await openChannel(b.url);
    const ch = await connection.createConfirmChannel();
    const max = PAGE_OUT_AFTER + 500;
    await ch.assertQueue('bounded', { durable: true, arguments: { 'x-max-length': max } });
    for (let i = 0; i < total; i++) ch.sendToQueue('bounded', Buffer.from(`m${i}`), { persistent: true });
    await ch.waitForConfirms();
    expect(pagedCount(b, 'bounded')).toBeGreaterThan(0);
    b = await restart(b, { dataDir, fsync: false });
    const inbox = await consumeAll(b, 'bounded', max);
    expect(inbox.bodies).toEqual(Array.from({ length: max }, (_, i) => `m${i + total - max}`));
  });
});
