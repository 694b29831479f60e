// TTLs across a restart, as RabbitMQ counts them: from the publish, not from the restart. A message whose
// TTL ran out while the broker was down is gone when it comes back; one with time left expires when that
// time is up. Messages of a data directory written before the store kept publish times count from the
// restart, as they did. The waits are the TTLs themselves, measured from when the publishes were
// confirmed.
import type { Channel } from 'amqplib';
import { afterEach, describe, expect, it } from 'vitest';
import { restart, start, stopAll, tempDir } from '../helpers/brokers.js';
import { openChannel } from '../helpers/clients.js';
import { downgradeSegmentsToVersion1 } from '../store/store-helpers.js';

afterEach(stopAll);

/** Resolves at `time` (Date.now() milliseconds): the end of a TTL. */
function at(time: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, time - Date.now())));
}

async function count(channel: Channel, queue: string): Promise<number> {
  return (await channel.checkQueue(queue)).messageCount;
}

async function bodyOf(channel: Channel, queue: string): Promise<string> {
  const got = await channel.get(queue, { noAck: true });
  return got === false ? 'nothing' : got.content.toString();
}

/** Runs `publish` on a confirm channel; resolves with the time by which every publish was confirmed. */
async function published(url: string, publish: (channel: Channel) => Promise<void>): Promise<number> {
  const { connection } = await openChannel(url);
  const channel = await connection.createConfirmChannel();
  await publish(channel);
  await channel.waitForConfirms();
  return Date.now();
}

const SHORT = 300;
const LONG = 2000;

describe('TTLs across a restart', () => {
  it('x-message-ttl counts from the publish: run out while down, gone; else expires when its time is up', async () => {
    const dataDir = tempDir('warren-ttl-restart-');
    let b = await start({ dataDir, fsync: false });
    const confirmed = await published(b.url, async (ch) => {
      await ch.assertQueue('ttl-short', { durable: true, messageTtl: SHORT });
      await ch.assertQueue('ttl-long', { durable: true, messageTtl: LONG });
      ch.sendToQueue('ttl-short', Buffer.from('gone'), { persistent: true });
      // The shorter of the two TTLs wins: the message's own.
      ch.sendToQueue('ttl-long', Buffer.from('own-short'), { persistent: true, expiration: String(SHORT) });
      ch.sendToQueue('ttl-long', Buffer.from('kept'), { persistent: true });
      ch.sendToQueue('ttl-long', Buffer.from('also-kept'), { persistent: true });
    });
    await b.close();
    // Down for twice the short TTL.
    await at(confirmed + 2 * SHORT);
    b = await restart(b, { dataDir, fsync: false });
    const { channel } = await openChannel(b.url);
    expect(await count(channel, 'ttl-short')).toBe(0);
    expect(await bodyOf(channel, 'ttl-short')).toBe('nothing');
    expect(await count(channel, 'ttl-long')).toBe(2);
    // Delivered with time left, and given back: it keeps its expiry.
    const kept = await channel.get('ttl-long', { noAck: false });
    expect(kept === false ? 'nothing' : kept.content.toString()).toBe('kept');
    if (kept !== false) channel.nack(kept, false, true);
    expect(await count(channel, 'ttl-long')).toBe(2);

    // Counted from the restart, they would have at least another 2 x SHORT to go.
    await at(confirmed + LONG + 100);
    expect(await count(channel, 'ttl-long')).toBe(0);
    expect(await bodyOf(channel, 'ttl-long')).toBe('nothing');
  });

  it("a message's expiration counts from the publish: run out while down, gone; else expires when its time is up", async () => {
    const dataDir = tempDir('warren-ttl-restart-');
    let b = await start({ dataDir, fsync: false });
    const confirmed = await published(b.url, async (ch) => {
      await ch.assertQueue('own', { durable: true });
      ch.sendToQueue('own', Buffer.from('gone'), { persistent: true, expiration: String(SHORT) });
      ch.sendToQueue('own', Buffer.from('long'), { persistent: true, expiration: String(LONG) });
      ch.sendToQueue('own', Buffer.from('forever'), { persistent: true });
    });
    await b.close();
    await at(confirmed + 2 * SHORT);
    b = await restart(b, { dataDir, fsync: false });
    const { channel } = await openChannel(b.url);
    expect(await count(channel, 'own')).toBe(2);

    await at(confirmed + LONG + 100);
    expect(await count(channel, 'own')).toBe(1);
    expect(await bodyOf(channel, 'own')).toBe('forever');
  });

  it('a consumer after the restart gets only the messages with time left, and their expiration as published', async () => {
    const dataDir = tempDir('warren-ttl-restart-');
    let b = await start({ dataDir, fsync: false });
    const confirmed = await published(b.url, async (ch) => {
      await ch.assertQueue('consumed', { durable: true, messageTtl: LONG });
      for (let i = 0; i < 3; i++) {
        ch.sendToQueue('consumed', Buffer.from(`gone ${i}`), { persistent: true, expiration: String(SHORT) });
      }
      ch.sendToQueue('consumed', Buffer.from('left'), { persistent: true, expiration: String(LONG * 2) });
    });
    await b.close();
    await at(confirmed + 2 * SHORT);
    b = await restart(b, { dataDir, fsync: false });
    const { channel } = await openChannel(b.url);
    const delivered = await new Promise<{ body: string; expiration: unknown }>((resolve) => {
      void channel.consume(
        'consumed',
        (m) => {
          if (m !== null) resolve({ body: m.content.toString(), expiration: m.properties.expiration });
        },
        { noAck: true },
      );
    });
    expect(delivered).toEqual({ body: 'left', expiration: String(LONG * 2) });
    expect(await count(channel, 'consumed')).toBe(0);
  });

  it('a backlog that expired while the broker was down is never delivered, however long', async () => {
    const dataDir = tempDir('warren-ttl-restart-');
    let b = await start({ dataDir, fsync: false });
    // Long enough a TTL that the backlog is still there when the broker stops (a slow machine takes a
    // while to publish it); more messages than the queue drops in one turn of the event loop.
    const backlog = 5000;
    const confirmed = await published(b.url, async (ch) => {
      await ch.assertQueue('backlog', { durable: true });
      for (let i = 0; i < backlog; i++) {
        ch.sendToQueue('backlog', Buffer.from(`gone ${i}`), { persistent: true, expiration: String(LONG) });
      }
      ch.sendToQueue('backlog', Buffer.from('last'), { persistent: true });
    });
    await b.close();
    await at(confirmed + LONG + 100);
    b = await restart(b, { dataDir, fsync: false });
    const { channel } = await openChannel(b.url);
    await channel.prefetch(10);
    const first = await new Promise<string>((resolve) => {
      void channel.consume(
        'backlog',
        (m) => {
          if (m !== null) resolve(m.content.toString());
        },
        { noAck: true },
      );
    });
    expect(first).toBe('last');
    expect(await count(channel, 'backlog')).toBe(0);
  });

  it('messages a data directory of the previous segment format holds count their TTLs from the restart', async () => {
    const ttl = 1000;
    const dataDir = tempDir('warren-ttl-restart-');
    let b = await start({ dataDir, fsync: false });
    const confirmed = await published(b.url, async (ch) => {
      await ch.assertQueue('old-queue-ttl', { durable: true, messageTtl: ttl });
      await ch.assertQueue('old-own', { durable: true });
      ch.sendToQueue('old-queue-ttl', Buffer.from('queue ttl'), { persistent: true });
      ch.sendToQueue('old-own', Buffer.from('own'), { persistent: true, expiration: String(ttl) });
    });
    await b.close();
    downgradeSegmentsToVersion1(dataDir);
    // Their TTLs run out while the broker is down, but the records do not say when they were published.
    await at(confirmed + ttl + 100);
    b = await restart(b, { dataDir, fsync: false });
    // Restored by now: their TTLs end by then.
    const restored = Date.now();
    const { channel } = await openChannel(b.url);
    expect(await count(channel, 'old-queue-ttl')).toBe(1);
    expect(await count(channel, 'old-own')).toBe(1);

    await at(restored + ttl + 100);
    expect(await count(channel, 'old-queue-ttl')).toBe(0);
    expect(await count(channel, 'old-own')).toBe(0);
    expect(await bodyOf(channel, 'old-own')).toBe('nothing');
  });
});
