import { AMQPClient } from '@cloudamqp/amqp-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_QUEUE_ARGUMENTS } from '../../../src/broker/arguments.js';
import { Message } from '../../../src/broker/message.js';
import type { Consumer } from '../../../src/broker/queue/consumer.js';
import { Queue } from '../../../src/broker/queue/queue.js';
import { type RunningBroker, startBroker } from '../../../src/index.js';
import { MemoryStore } from '../../../src/store/memory-store.js';
import { closeAll, Inbox, newChannel, openChannel } from '../../helpers/clients.js';

let broker: RunningBroker;
beforeAll(async () => {
  broker = await startBroker({ port: 0 });
});
afterEach(closeAll);
afterAll(() => broker.close());

describe('queue.declare', () => {
  it('server-named queues start with amq.gen-', async () => {
    const { channel } = await openChannel(broker.url);
    const { queue, messageCount, consumerCount } = await channel.assertQueue('', { exclusive: true });
    expect(queue).toMatch(/^amq\.gen-[A-Za-z0-9_-]{10,}$/);
    expect([messageCount, consumerCount]).toEqual([0, 0]);
    const other = await channel.assertQueue('', { exclusive: true });
    expect(other.queue).not.toBe(queue);
  });

  it('declare-ok carries the message and consumer counts', async () => {
    const { channel } = await openChannel(broker.url);
    await channel.assertQueue('counts');
    for (let i = 0; i < 3; i++) channel.sendToQueue('counts', Buffer.from(`${i}`));
    await channel.consume('counts', () => {}, { noAck: false });
    const { channel: ch2 } = await openChannel(broker.url);
    ch2.sendToQueue('counts', Buffer.from('extra'));
    const ok = await ch2.assertQueue('counts');
    // 4 published, the consumer (no prefetch limit) holds them all unacked: none ready.
    expect(ok.consumerCount).toBe(1);
    expect(ok.messageCount).toBe(0);
    await ch2.deleteQueue('counts');
  });

  it('passive declare of a missing queue is 404', async () => {
    const { channel } = await openChannel(broker.url);
    await expect(channel.checkQueue('missing-q')).rejects.toThrow(
      "404 (NOT-FOUND) with message \"NOT_FOUND - no queue 'missing-q' in vhost '/'\"",
    );
  });

  it('a redeclare with other flags or arguments is 406 inequivalent arg', async () => {
    const { connection, channel } = await openChannel(broker.url);
    await channel.assertQueue('eq-q', { durable: false, arguments: { 'x-queue-mode': 'lazy' } });
    await expect(channel.assertQueue('eq-q', { durable: true })).rejects.toThrow(
      "PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'eq-q' in vhost '/': received 'true' but current is 'false'",
    );
    const ch2 = await newChannel(connection);
    await expect(ch2.assertQueue('eq-q', { durable: false })).rejects.toThrow(
      "PRECONDITION_FAILED - inequivalent arg 'x-queue-mode' for queue 'eq-q' in vhost '/'",
    );
    const ch3 = await newChannel(connection);
    await ch3.assertQueue('eq-q', {
      durable: false,
      arguments: { 'x-queue-mode': 'lazy', 'x-unchecked': 1 },
    });
    await ch3.deleteQueue('eq-q');
  });

  it('a reply text naming a 255-byte queue is cut to fit its shortstr, and the broker carries on', async () => {
    const { channel } = await openChannel(broker.url);
    const name = 'q'.repeat(255);
    const err = await channel.checkQueue(name).catch((e: Error) => e);
    expect(String(err)).toContain('404 (NOT-FOUND) with message "NOT_FOUND - no queue \'qqq');
    const { channel: again } = await openChannel(broker.url);
    await again.assertQueue(name, { exclusive: true });
  });

  it('names starting with amq. are refused with 403', async () => {
    const { channel } = await openChannel(broker.url);
    await expect(channel.assertQueue('amq.mine')).rejects.toThrow(
      "403 (ACCESS-REFUSED) with message \"ACCESS_REFUSED - queue name 'amq.mine' contains reserved prefix 'amq.*'\"",
    );
  });

  it('an exclusive queue is locked to its connection (405) and deleted when it closes', async () => {
    const a = await openChannel(broker.url);
    await a.channel.assertQueue('excl-q', { exclusive: true });
    const b = await openChannel(broker.url);
    const locked = "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue 'excl-q' in vhost '/'";
    await expect(b.channel.assertQueue('excl-q', { exclusive: true })).rejects.toThrow(locked);
    for (const attempt of [
      (ch: typeof b.channel) => ch.checkQueue('excl-q'),
      (ch: typeof b.channel) => ch.consume('excl-q', () => {}),
      (ch: typeof b.channel) => ch.get('excl-q'),
      (ch: typeof b.channel) => ch.purgeQueue('excl-q'),
      (ch: typeof b.channel) => ch.deleteQueue('excl-q'),
      (ch: typeof b.channel) => ch.bindQueue('excl-q', 'amq.direct', 'k'),
    ]) {
      const ch = await newChannel(b.connection);
      await expect(attempt(ch)).rejects.toThrow('405');
    }
    await a.connection.close();
    const ch = await newChannel(b.connection);
    await expect(ch.checkQueue('excl-q')).rejects.toThrow('404');
  });

  it('an auto-delete queue is deleted when its last consumer goes', async () => {
    const { channel } = await openChannel(broker.url);
    await channel.assertQueue('auto-q', { autoDelete: true });
    const c1 = await channel.consume('auto-q', () => {});
    const c2 = await channel.consume('auto-q', () => {});
    await channel.cancel(c1.consumerTag);
    await channel.checkQueue('auto-q');
    await channel.cancel(c2.consumerTag);
    await expect(channel.checkQueue('auto-q')).rejects.toThrow('404');
  });
});

describe('bind, purge and delete', () => {
  it('bind and unbind', async () => {
    const { channel } = await openChannel(broker.url);
    const { queue } = await channel.assertQueue('', { exclusive: true });
    await channel.bindQueue(queue, 'amq.direct', 'rk');
    channel.publish('amq.direct', 'rk', Buffer.from('1'));
    await channel.unbindQueue(queue, 'amq.direct', 'rk');
    channel.publish('amq.direct', 'rk', Buffer.from('2'));
    expect((await channel.checkQueue(queue)).messageCount).toBe(1);
  });

  it('binding a missing queue or to a missing exchange is 404', async () => {
    const { connection, channel } = await openChannel(broker.url);
    await expect(channel.bindQueue('no-such-q', 'amq.direct', 'k')).rejects.toThrow(
      "NOT_FOUND - no queue 'no-such-q' in vhost '/'",
    );
    const ch2 = await newChannel(connection);
    const { queue } = await ch2.assertQueue('', { exclusive: true });
    await expect(ch2.bindQueue(queue, 'no-such-x', 'k')).rejects.toThrow(
      "NOT_FOUND - no exchange 'no-such-x' in vhost '/'",
    );
  });

  it('purge returns the count of ready messages removed', async () => {
    const { channel } = await openChannel(broker.url);
    const { queue } = await channel.assertQueue('', { exclusive: true });
    for (let i = 0; i < 5; i++) channel.sendToQueue(queue, Buffer.from(`${i}`));
    const { messageCount } = await channel.purgeQueue(queue);
    expect(messageCount).toBe(5);
    expect((await channel.checkQueue(queue)).messageCount).toBe(0);
  });

  it('delete with if-unused and if-empty is 406 when not met, else returns the message count', async () => {
    const { connection, channel } = await openChannel(broker.url);
    await channel.assertQueue('del-q');
    channel.sendToQueue('del-q', Buffer.from('x'));
    await expect(channel.deleteQueue('del-q', { ifEmpty: true })).rejects.toThrow(
      "406 (PRECONDITION-FAILED) with message \"PRECONDITION_FAILED - queue 'del-q' in vhost '/' not empty\"",
    );
    const ch2 = await newChannel(connection);
    await ch2.consume('del-q', () => {}, { noAck: true });
    const ch3 = await newChannel(connection);
    await expect(ch3.deleteQueue('del-q', { ifUnused: true })).rejects.toThrow(
      "PRECONDITION_FAILED - queue 'del-q' in vhost '/' in use",
    );
    await ch2.close();
    const ch4 = await newChannel(connection);
    ch4.sendToQueue('del-q', Buffer.from('a'));
    ch4.sendToQueue('del-q', Buffer.from('b'));
    const { messageCount } = await ch4.deleteQueue('del-q');
    expect(messageCount).toBe(2);
    // Deleting what is not there is fine, as in RabbitMQ 3.x.
    expect((await ch4.deleteQueue('del-q')).messageCount).toBe(0);
  });

  it('deleting a queue cancels its consumers with basic.cancel', async () => {
    const { channel } = await openChannel(broker.url);
    await channel.assertQueue('cancel-me');
    const inbox = new Inbox();
    await channel.consume('cancel-me', inbox.onMessage);
    const { channel: other } = await openChannel(broker.url);
    await other.deleteQueue('cancel-me');
    await inbox.until(() => inbox.cancelled, 3000, 'basic.cancel');

    const client = await new AMQPClient(broker.url).connect();
    const ch = await client.channel();
    const { name } = await ch.queueDeclare('cancel-me-2');
    const consumer = await ch.basicConsume(name, { noAck: true }, () => {});
    await other.deleteQueue(name);
    await expect(consumer.wait(3000)).rejects.toThrow();
    await client.close();
  });

  it('an empty queue name means the queue last declared on the channel', async () => {
    const { channel } = await openChannel(broker.url);
    const { queue } = await channel.assertQueue('', { exclusive: true });
    channel.sendToQueue(queue, Buffer.from('x'));
    const got = await channel.get('', { noAck: true });
    expect(got ? got.content.toString() : got).toBe('x');
    await channel.bindQueue('', 'amq.direct', '');
    channel.publish('amq.direct', queue, Buffer.from('by-name'));
    expect((await channel.checkQueue(queue)).messageCount).toBe(1);
  });
});

describe('large bodies that wait', () => {
  // A large body arrives as views of socket reads (socket-reads.ts), which can be much larger than it.
  function pieces(): Buffer[] {
    const read = Buffer.alloc(1024 * 1024, 7);
    return [read.subarray(1000, 1000 + 40_000), read.subarray(50_000, 50_000 + 30_000)];
  }
  function queue(): Queue {
    const events = {
      queueUnused() {},
      queueExpired() {},
      deadLetter() {},
      memoryChange() {},
      memoryPaging: false,
      store: new MemoryStore(),
    };
    return new Queue(
      {
        name: 'q',
        vhost: '/',
        durable: false,
        exclusiveOwner: undefined,
        autoDelete: false,
        arguments: {},
        settings: DEFAULT_QUEUE_ARGUMENTS,
      },
      events,
    );
  }

  it('are copied out of the reads into a buffer of their own when the queue has no consumer', () => {
    const q = queue();
    const message = new Message('', 'q', Buffer.alloc(2), pieces());
    q.enqueue(message);
    expect(message.inPieces).toBe(false);
    expect(message.body.buffer.byteLength).toBeLessThan(1024 * 1024);
    expect(message.body.equals(Buffer.alloc(70_000, 7))).toBe(true);
  });

  it('are copied when a thousand messages are ready ahead of them, and not before', () => {
    const q = queue();
    // A consumer with no room: messages stay ready.
    q.consumers.push({ canTake: () => false } as unknown as Consumer);
    const messages: Message[] = [];
    for (let i = 0; i < 1001; i++) {
      const m = new Message('', 'q', Buffer.alloc(2), pieces());
      messages.push(m);
      q.enqueue(m);
    }
    expect(messages.slice(0, 1000).every((m) => m.inPieces)).toBe(true);
    expect(messages[1000].inPieces).toBe(false);
  });
});

describe('removal reasons', () => {
  it('every message that leaves a queue is counted under its reason', async () => {
    const { channel } = await openChannel(broker.url);
    await channel.assertQueue('reasons', { arguments: { 'x-max-length': 3 } });
    const queue = broker.broker.vhost('/')?.queues.get('reasons');
    if (!queue) throw new Error('no queue');
    // Five published to a queue of at most three: the two oldest are dropped from the head.
    for (let i = 0; i < 5; i++) channel.sendToQueue('reasons', Buffer.from(`m${i}`));
    await channel.checkQueue('reasons');
    const acked = await channel.get('reasons');
    const rejected = await channel.get('reasons');
    if (!acked || !rejected) throw new Error('expected two messages');
    channel.ack(acked);
    channel.reject(rejected, false);
    await channel.get('reasons', { noAck: true });
    channel.sendToQueue('reasons', Buffer.from('short-lived'), { expiration: '1' });
    channel.sendToQueue('reasons', Buffer.from('purged'));
    await channel.checkQueue('reasons');
    await new Promise((resolve) => setTimeout(resolve, 5));
    // The expired one is dropped when it reaches the head: here, as get looks at it.
    const next = await channel.get('reasons');
    expect(next === false ? undefined : next.content.toString()).toBe('purged');
    if (next) channel.nack(next, false, true);
    await channel.purgeQueue('reasons');
    channel.sendToQueue('reasons', Buffer.from('deleted with it'));
    const unacked = await channel.get('reasons');
    expect(unacked).not.toBe(false);
    channel.sendToQueue('reasons', Buffer.from('ready when deleted'));
    await channel.deleteQueue('reasons');
    expect(queue.removals).toEqual({
      acked: 2,
      rejected: 1,
      expired: 1,
      maxlen: 2,
      purged: 1,
      deleted: 2,
      unreadable: 0,
      deliveryLimit: 0,
    });
  });
});
