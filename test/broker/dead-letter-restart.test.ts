// Dead-lettered copies of confirmed persistent messages are stored when they reach a durable queue: after
// a clean restart they are in the dead-letter queue, with their x-death, and not in the queue they left,
// whatever let them go (a reject, a TTL, a length limit, a refused publish). test/broker/extensions.test.ts
// covers a rejected message published without confirms.
import type { Channel, ConfirmChannel } from 'amqplib';
import { afterEach, describe, expect, it } from 'vitest';
import { restart, start, stopAll, tempDir } from '../helpers/brokers.js';
import { openChannel } from '../helpers/clients.js';

afterEach(stopAll);

/** A durable fanout exchange 'dlx' to the durable queue 'dead', and the durable queue 'src' dead-lettering to it. */
async function declare(channel: Channel, args: Record<string, unknown>): Promise<void> {
  await channel.assertExchange('dlx', 'fanout', { durable: true });
  await channel.assertQueue('dead', { durable: true });
  await channel.bindQueue('dead', 'dlx', '');
  await channel.assertQueue('src', {
    durable: true,
    arguments: { 'x-dead-letter-exchange': 'dlx', ...args },
  });
}

async function confirmChannel(url: string): Promise<ConfirmChannel> {
  const { connection } = await openChannel(url);
  const channel = await connection.createConfirmChannel();
  channel.on('error', () => {});
  return channel;
}

/** Whether the publish was confirmed (ack) or refused (nack). */
function publishConfirmed(channel: ConfirmChannel, queue: string, body: string): Promise<'ack' | 'nack'> {
  return new Promise((resolve) => {
    channel.sendToQueue(queue, Buffer.from(body), { persistent: true }, (err) =>
      resolve(err ? 'nack' : 'ack'),
    );
  });
}

/** Waits until the queue holds `n` messages, as a client sees it (a passive declare). */
async function holds(channel: Channel, queue: string, n: number): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const { messageCount } = await channel.checkQueue(queue);
    if (messageCount === n) return;
    if (Date.now() > deadline) throw new Error(`${queue} holds ${messageCount} messages, not ${n}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

interface Dead {
  body: string;
  reason: unknown;
  death: { reason: unknown; queue: unknown; count: unknown };
}

/** Takes every message of the dead-letter queue: its body and how it died. */
async function takeDead(channel: Channel): Promise<Dead[]> {
  const out: Dead[] = [];
  for (;;) {
    const got = await channel.get('dead', { noAck: true });
    if (got === false) return out;
    const headers = got.properties.headers ?? {};
    const [first] = headers['x-death'] as { reason: unknown; queue: unknown; count: unknown }[];
    out.push({
      body: got.content.toString(),
      reason: headers['x-first-death-reason'],
      death: { reason: first.reason, queue: first.queue, count: first.count },
    });
  }
}

function died(body: string, reason: string): Dead {
  return { body, reason, death: { reason, queue: 'src', count: 1 } };
}

describe('dead-lettered persistent messages across a clean restart', () => {
  it('a confirmed message a consumer rejects is in the dead-letter queue after the restart', async () => {
    const dataDir = tempDir();
    let broker = await start({ dataDir });
    const publisher = await confirmChannel(broker.url);
    await declare(publisher, {});
    expect(await publishConfirmed(publisher, 'src', 'rejected')).toBe('ack');
    const { channel } = await openChannel(broker.url);
    await new Promise<void>((resolve) => {
      void channel.consume('src', (m) => {
        if (m === null) return;
        channel.reject(m, false);
        resolve();
      });
    });
    await holds(publisher, 'dead', 1);
    broker = await restart(broker, { dataDir });
    const after = await openChannel(broker.url);
    expect(await takeDead(after.channel)).toEqual([died('rejected', 'rejected')]);
    expect(await after.channel.get('src')).toBe(false);
  });

  it('confirmed messages whose x-message-ttl ran out are in the dead-letter queue after the restart', async () => {
    const dataDir = tempDir();
    let broker = await start({ dataDir });
    const publisher = await confirmChannel(broker.url);
    await declare(publisher, { 'x-message-ttl': 50 });
    for (const body of ['one', 'two', 'three'])
      publisher.sendToQueue('src', Buffer.from(body), { persistent: true });
    await publisher.waitForConfirms();
    await holds(publisher, 'dead', 3);
    broker = await restart(broker, { dataDir });
    const after = await openChannel(broker.url);
    expect(await takeDead(after.channel)).toEqual([
      died('one', 'expired'),
      died('two', 'expired'),
      died('three', 'expired'),
    ]);
    expect(await after.channel.get('src')).toBe(false);
  });

  it('a confirmed message dead-lettered as it arrives (x-message-ttl 0) is in the dead-letter queue after a restart right after its confirm', async () => {
    const dataDir = tempDir();
    let broker = await start({ dataDir });
    const publisher = await confirmChannel(broker.url);
    await declare(publisher, { 'x-message-ttl': 0 });
    expect(await publishConfirmed(publisher, 'src', 'at once')).toBe('ack');
    broker = await restart(broker, { dataDir });
    const after = await openChannel(broker.url);
    expect(await takeDead(after.channel)).toEqual([died('at once', 'expired')]);
    expect(await after.channel.get('src')).toBe(false);
  });

  it('confirmed messages dropped from the head over x-max-length are in the dead-letter queue after the restart', async () => {
    const dataDir = tempDir();
    let broker = await start({ dataDir });
    const publisher = await confirmChannel(broker.url);
    await declare(publisher, { 'x-max-length': 1, 'x-overflow': 'drop-head' });
    for (const body of ['first', 'second', 'third'])
      publisher.sendToQueue('src', Buffer.from(body), { persistent: true });
    await publisher.waitForConfirms();
    broker = await restart(broker, { dataDir });
    const after = await openChannel(broker.url);
    expect(await takeDead(after.channel)).toEqual([died('first', 'maxlen'), died('second', 'maxlen')]);
    const kept = await after.channel.get('src', { noAck: true });
    expect(kept === false ? 'nothing' : kept.content.toString()).toBe('third');
  });

  it('a publish refused by x-overflow reject-publish-dlx is nacked, and its copy is in the dead-letter queue after the restart', async () => {
    const dataDir = tempDir();
    let broker = await start({ dataDir });
    const publisher = await confirmChannel(broker.url);
    await declare(publisher, { 'x-max-length': 1, 'x-overflow': 'reject-publish-dlx' });
    expect(await publishConfirmed(publisher, 'src', 'fits')).toBe('ack');
    expect(await publishConfirmed(publisher, 'src', 'refused')).toBe('nack');
    await holds(publisher, 'dead', 1);
    broker = await restart(broker, { dataDir });
    const after = await openChannel(broker.url);
    expect(await takeDead(after.channel)).toEqual([died('refused', 'maxlen')]);
    const kept = await after.channel.get('src', { noAck: true });
    expect(kept === false ? 'nothing' : kept.content.toString()).toBe('fits');
  });
});
