// Per-message TTL where the conformance suite cannot look: long backlogs of durable queues, and restarts.
import { afterEach, describe, expect, it } from 'vitest';
import { PAGE_OUT_AFTER } from '../../src/broker/queue/queue.js';
import { restart, start, stopAll, tempDir } from '../helpers/brokers.js';
import { openChannel } from '../helpers/clients.js';

afterEach(stopAll);

/** Resolves once `check` holds, polling every 10 ms for at most `ms`. */
async function until(check: () => Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('per-message TTL', () => {
  it('messages with a TTL past the paging window stay in memory and expire', async () => {
    const b = await start({ dataDir: tempDir('warren-ttl-'), fsync: false });
    const { connection, channel } = await openChannel(b.url);
    const ch = await connection.createConfirmChannel();
    await ch.assertQueue('ttl-backlog', { durable: true });
    const total = PAGE_OUT_AFTER + 1000;
    for (let i = 0; i < total; i++) {
      ch.sendToQueue('ttl-backlog', Buffer.from(`m${i}`), { persistent: true, expiration: '300' });
    }
    await ch.waitForConfirms();
    const queue = b.broker.vhost('/')?.queues.get('ttl-backlog');
    let paged = 0;
    for (const e of queue?.ready ?? []) if (typeof e === 'number') paged++;
    expect(paged).toBe(0);
    await until(
      async () => (await channel.checkQueue('ttl-backlog')).messageCount === 0,
      'the backlog to expire',
    );
    expect(b.broker.queuedBytes).toBe(0);
  });

  it('after a restart, a persistent message keeps its expiration, its TTL counting from the restart', async () => {
    const dataDir = tempDir('warren-ttl-');
    let b = await start({ dataDir, fsync: false });
    {
      const { connection } = await openChannel(b.url);
      const ch = await connection.createConfirmChannel();
      await ch.assertQueue('ttl-restart', { durable: true });
      ch.sendToQueue('ttl-restart', Buffer.from('kept'), { persistent: true, expiration: '60000' });
      ch.sendToQueue('ttl-restart', Buffer.from('short'), { persistent: true, expiration: '400' });
      ch.sendToQueue('ttl-restart', Buffer.from('none'), { persistent: true });
      await ch.waitForConfirms();
    }
    b = await restart(b, { dataDir, fsync: false });
    const { channel } = await openChannel(b.url);
    const kept = await channel.get('ttl-restart', { noAck: true });
    expect(kept === false ? 'nothing' : [kept.content.toString(), kept.properties.expiration]).toEqual([
      'kept',
      '60000',
    ]);
    // 'short' is at the head now: once its TTL has passed (by a message of the same TTL in a queue of
    // its own), it is dropped when its turn comes.
    await channel.assertQueue('clock', { exclusive: true });
    channel.sendToQueue('clock', Buffer.from('tick'), { expiration: '400' });
    await until(async () => (await channel.checkQueue('clock')).messageCount === 0, 'the clock');
    const next = await channel.get('ttl-restart', { noAck: true });
    expect(next === false ? 'nothing' : next.content.toString()).toBe('none');
    expect(await channel.get('ttl-restart', { noAck: true })).toBe(false);
  });

  it('after a restart, x-message-ttl counts from the restart for the messages a durable queue kept', async () => {
    const dataDir = tempDir('warren-ttl-');
    let b = await start({ dataDir, fsync: false });
    {
      const { connection } = await openChannel(b.url);
      const ch = await connection.createConfirmChannel();
      await ch.assertQueue('queue-ttl', { durable: true, messageTtl: 400 });
      ch.sendToQueue('queue-ttl', Buffer.from('first'), { persistent: true });
      ch.sendToQueue('queue-ttl', Buffer.from('second'), { persistent: true });
      await ch.waitForConfirms();
    }
    b = await restart(b, { dataDir, fsync: false });
    const { channel } = await openChannel(b.url);
    const first = await channel.get('queue-ttl', { noAck: true });
    expect(first === false ? 'nothing' : first.content.toString()).toBe('first');
    await channel.assertQueue('clock', { exclusive: true });
    channel.sendToQueue('clock', Buffer.from('tick'), { expiration: '400' });
    await until(async () => (await channel.checkQueue('clock')).messageCount === 0, 'the clock');
    expect(await channel.get('queue-ttl', { noAck: true })).toBe(false);
  });
});
