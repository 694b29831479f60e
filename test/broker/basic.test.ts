import { AMQPClient } from '@cloudamqp/amqp-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startBroker } from '../../src/index.js';
import { closeAll, Inbox, newChannel, openChannel } from '../helpers/clients.js';

let broker: RunningBroker;
beforeAll(async () => {
  broker = await startBroker({ port: 0 });
});
afterEach(closeAll);
afterAll(() => broker.close());

describe('basic.publish', () => {
  it('an unroutable mandatory message comes back as basic.return 312 NO_ROUTE', async () => {
    const { channel } = await openChannel(broker.url);
    const returned = new Promise<{ fields: Record<string, unknown>; content: Buffer }>((resolve) =>
      channel.on('return', resolve),
    );
    channel.publish('amq.direct', 'nobody', Buffer.from('lost?'), { mandatory: true, messageId: 'm1' });
    const r = await returned;
    expect(r.fields).toMatchObject({
      replyCode: 312,
      replyText: 'NO_ROUTE',
      exchange: 'amq.direct',
      routingKey: 'nobody',
    });
    expect(r.content.toString()).toBe('lost?');
  });

  it('immediate=true is 540 NOT_IMPLEMENTED, as in RabbitMQ', async () => {
    const client = await new AMQPClient(broker.url).connect();
    const ch = await client.channel();
    const closed = new Promise<Error>((resolve) => {
      client.onerror = resolve;
    });
    await ch.basicPublish('', 'x', 'now', {}, false, true).catch(() => {});
    expect((await closed).message).toContain('NOT_IMPLEMENTED - immediate=true');
  });

  it('publishing to a missing exchange closes the channel with 404', async () => {
    const { channel } = await openChannel(broker.url);
    const closed = new Promise<Error>((resolve) => channel.on('error', resolve));
    channel.publish('no-such-exchange', 'k', Buffer.from('x'));
    expect((await closed).message).toContain(
      "404 (NOT-FOUND) with message \"NOT_FOUND - no exchange 'no-such-exchange' in vhost '/'\"",
    );
  });

  it('bodies of 0 bytes and of many frames arrive intact, with their properties', async () => {
    const { channel } = await openChannel(broker.url);
    const { queue } = await channel.assertQueue('', { exclusive: true });
    const big = Buffer.alloc(1_000_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    const props = {
      contentType: 'application/octet-stream',
      contentEncoding: 'identity',
      headers: { n: 1, s: 'two', nested: { deep: [1, 'a', true] } },
      deliveryMode: 2,
      priority: 3,
      correlationId: 'c',
      replyTo: 'r',
      expiration: '60000',
      messageId: 'id',
      timestamp: 1_700_000_000,
      type: 't',
      userId: 'guest',
      appId: 'app',
    };
    channel.sendToQueue(queue, Buffer.alloc(0), props);
    channel.sendToQueue(queue, big, props);
    const inbox = new Inbox();
    await channel.consume(queue, inbox.onMessage, { noAck: true });
    await inbox.count(2);
    expect(inbox.messages[0].content.length).toBe(0);
    expect(inbox.messages[1].content.equals(big)).toBe(true);
    for (const m of inbox.messages) expect(m.properties).toMatchObject(props);
  });
});

describe('large bodies', () => {
  it('arrive intact by consume, after a requeue, and by basic.get, to a durable queue and to a transient one', async () => {
    const { channel } = await openChannel(broker.url);
    const sizes = [32_767, 32_768, 65_536, 131_064, 300_001];
    const bodies = sizes.map((n, k) => {
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i++) b[i] = (i * 7 + k * 13) & 0xff;
      return b;
    });
    for (const durable of [false, true]) {
      const { queue } = await channel.assertQueue(`large-bodies-${durable}`, {
        durable,
        exclusive: !durable,
      });
      for (const b of bodies)
        channel.sendToQueue(queue, b, { deliveryMode: durable ? 2 : 1, messageId: `${b.length}` });
      const first = new Inbox();
      const { consumerTag } = await channel.consume(queue, first.onMessage);
      await first.count(bodies.length);
      expect(
        first.messages.map((m) =>
          m.content.equals(
            bodies[
              Number(
                m.properties.messageId === undefined ? -1 : sizes.indexOf(Number(m.properties.messageId)),
              )
            ],
          ),
        ),
      ).toEqual(bodies.map(() => true));
      await channel.cancel(consumerTag);
      channel.nackAll(true);
      const got: Buffer[] = [];
      for (let i = 0; i < bodies.length; i++) {
        const m = await channel.get(queue, { noAck: true });
        if (m === false) throw new Error(`basic.get-empty after ${i} messages`);
        expect(m.fields.redelivered).toBe(true);
        got.push(m.content);
      }
      expect(got.map((b, i) => b.equals(bodies[i]))).toEqual(bodies.map(() => true));
      await channel.deleteQueue(queue);
    }
  });
});

describe('basic.consume, cancel, get', () => {
  it('server-generated consumer tags; a reused tag is 530; cancel stops deliveries', async () => {
    const { connection, channel } = await openChannel(broker.url);
    const { queue } = await channel.assertQueue('', { exclusive: true });
    const inbox = new Inbox();
    const { consumerTag } = await channel.consume(queue, inbox.onMessage, { noAck: true });
    expect(consumerTag).toMatch(/^amq\.ctag-/);
    channel.sendToQueue(queue, Buffer.from('1'));
    await inbox.count(1);
    await channel.cancel(consumerTag);
    channel.sendToQueue(queue, Buffer.from('2'));
    expect((await channel.checkQueue(queue)).messageCount).toBe(1);
    expect(inbox.bodies).toEqual(['1']);

    const ch2 = await newChannel(connection);
    await ch2.consume(queue, () => {}, { consumerTag: 'mine' });
    await expect(ch2.consume(queue, () => {}, { consumerTag: 'mine' })).rejects.toThrow();
  });

  it('an exclusive consumer keeps others out (403), and cannot join a queue with consumers', async () => {
    const { connection, channel } = await openChannel(broker.url);
    await channel.assertQueue('excl-consumer');
    await channel.consume('excl-consumer', () => {}, { exclusive: true });
    const ch2 = await newChannel(connection);
    await expect(ch2.consume('excl-consumer', () => {})).rejects.toThrow(
      "403 (ACCESS-REFUSED) with message \"ACCESS_REFUSED - queue 'excl-consumer' in vhost '/' in exclusive use\"",
    );
    await channel.deleteQueue('excl-consumer');
    await channel.assertQueue('excl-consumer-2', { autoDelete: false });
    await channel.consume('excl-consumer-2', () => {});
    const ch3 = await newChannel(connection);
    await expect(ch3.consume('excl-consumer-2', () => {}, { exclusive: true })).rejects.toThrow('403');
    await channel.deleteQueue('excl-consumer-2');
  });

  it('basic.get returns messages with the remaining count, then get-empty', async () => {
    const { channel } = await openChannel(broker.url);
    const { queue } = await channel.assertQueue('', { exclusive: true });
    channel.sendToQueue(queue, Buffer.from('a'));
    channel.sendToQueue(queue, Buffer.from('b'));
    const a = await channel.get(queue, { noAck: true });
    expect(a && [a.content.toString(), a.fields.messageCount]).toEqual(['a', 1]);
    const b = await channel.get(queue, { noAck: false });
    expect(b && [b.content.toString(), b.fields.messageCount, b.fields.redelivered]).toEqual(['b', 0, false]);
    expect(await channel.get(queue)).toBe(false);
    if (b) channel.ack(b);
  });

  it('consumers of a queue are served round-robin', async () => {
    const { channel } = await openChannel(broker.url);
    const { queue } = await channel.assertQueue('', { exclusive: true });
    const inboxes = [new Inbox(), new Inbox(), new Inbox()];
    for (const inbox of inboxes) await channel.consume(queue, inbox.onMessage, { noAck: true });
    for (let i = 0; i < 9; i++) channel.sendToQueue(queue, Buffer.from(`${i}`));
    for (const inbox of inboxes) await inbox.count(3);
    expect(inboxes.map((x) => x.bodies)).toEqual([
      ['0', '3', '6'],
      ['1', '4', '7'],
      ['2', '5', '8'],
    ]);
  });
});

describe('acks', () => {
  it('ack, nack and reject with multiple and requeue; redelivered on the way back', async () => {
    const { channel } = await openChannel(broker.url);
    const { queue } = await channel.assertQueue('', { exclusive: true });
    for (let i = 1; i <= 6; i++) channel.sendToQueue(queue, Buffer.from(`${i}`));
    const inbox = new Inbox();
    await channel.consume(queue, inbox.onMessage);
    await inbox.count(6);
    const [m1, m2, m3, m4, m5, m6] = inbox.messages;
    channel.ack(m2, true); // acks 1 and 2
    channel.nack(m3, false, true); // back to the queue
    channel.reject(m4, false); // dropped
    channel.nack(m6, true, true); // 5 and 6 back
    await inbox.count(9);
    const again = inbox.messages.slice(6);
    expect(again.map((m) => [m.content.toString(), m.fields.redelivered])).toEqual([
      ['3', true],
      ['5', true],
      ['6', true],
    ]);
    void m1;
    void m5;
    channel.ackAll();
    expect((await channel.checkQueue(queue)).messageCount).toBe(0);
  });

  it('an unknown or already acked delivery tag is 406 and closes the channel', async () => {
    const { connection, channel } = await openChannel(broker.url);
    const { queue } = await channel.assertQueue('', { exclusive: true });
    channel.sendToQueue(queue, Buffer.from('x'));
    const m = await channel.get(queue);
    if (!m) throw new Error('no message');
    const closed = new Promise<Error>((resolve) => channel.on('error', resolve));
    channel.ack(m);
    channel.ack(m);
    expect((await closed).message).toContain(
      `406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - unknown delivery tag ${m.fields.deliveryTag}"`,
    );
    const ch2 = await newChannel(connection);
    const closed2 = new Promise<Error>((resolve) => ch2.on('error', resolve));
    ch2.ack({ fields: { deliveryTag: 99 } } as never);
    expect((await closed2).message).toContain('unknown delivery tag 99');
  });

  it('unacked messages go back in their original order, marked redelivered, when the channel closes', async () => {
    const { connection, channel } = await openChannel(broker.url);
    const { queue } = await channel.assertQueue('', { exclusive: true });
    for (let i = 1; i <= 5; i++) channel.sendToQueue(queue, Buffer.from(`${i}`));
    const first = new Inbox();
    const ch1 = await newChannel(connection);
    await ch1.consume(queue, first.onMessage);
    await first.count(5);
    ch1.ack(first.messages[1]); // 2 is done
    await ch1.close();
    const second = new Inbox();
    await channel.consume(queue, second.onMessage, { noAck: true });
    await second.count(4);
    expect(second.messages.map((m) => [m.content.toString(), m.fields.redelivered])).toEqual([
      ['1', true],
      ['3', true],
      ['4', true],
      ['5', true],
    ]);
  });

  it('100,000 unacked messages go back at once when the channel closes: in order, ahead of newer ones', async () => {
    // Each requeue used to scan past the ones requeued before it: 100,000 took minutes, during which
    // the broker served no one.
    const n = 100_000;
    const { connection, channel } = await openChannel(broker.url);
    const { queue } = await channel.assertQueue('', { exclusive: true });
    const body = (i: number) => Buffer.from(`${i}`);
    for (let i = 1; i <= n; i++) channel.sendToQueue(queue, body(i));
    const first = new Inbox();
    const ch1 = await newChannel(connection);
    const { consumerTag } = await ch1.consume(queue, first.onMessage);
    await first.count(n, 15_000);
    await ch1.cancel(consumerTag);
    // Ready behind the unacked ones: newer messages, and one of the unacked, given back on its own.
    for (let i = n + 1; i <= n + 10; i++) channel.sendToQueue(queue, body(i));
    ch1.nack(first.messages[49], false, true);
    expect((await channel.checkQueue(queue)).messageCount).toBe(11);
    await ch1.close();
    const second = new Inbox();
    await channel.consume(queue, second.onMessage, { noAck: true });
    await second.count(n + 10, 15_000);
    const got = second.messages.map((m) => Number(m.content.toString()));
    expect(got).toEqual(Array.from({ length: n + 10 }, (_, i) => i + 1));
    const redelivered = second.messages.map((m) => m.fields.redelivered);
    expect(redelivered.indexOf(false)).toBe(n);
    expect(redelivered.lastIndexOf(true)).toBe(n - 1);
  }, 30_000);

  it('a message redelivered on the channel goes back to its own place when the channel closes', async () => {
    const { connection, channel } = await openChannel(broker.url);
    const { queue } = await channel.assertQueue('', { exclusive: true });
    for (let i = 1; i <= 4; i++) channel.sendToQueue(queue, Buffer.from(`${i}`));
    const first = new Inbox();
    const ch1 = await newChannel(connection);
    await ch1.consume(queue, first.onMessage);
    await first.count(4);
    ch1.nack(first.messages[1], false, true); // 2 comes back to this channel, after 4
    await first.count(5);
    expect(first.messages[4].content.toString()).toBe('2');
    await ch1.close();
    const second = new Inbox();
    await channel.consume(queue, second.onMessage, { noAck: true });
    await second.count(4);
    expect(second.messages.map((m) => m.content.toString())).toEqual(['1', '2', '3', '4']);
  });

  it('a message given back to one of the queues its publish reached is redelivered there only', async () => {
    const { connection, channel } = await openChannel(broker.url);
    await channel.assertExchange('requeue-fan', 'fanout', { autoDelete: true });
    const queues: string[] = [];
    for (let i = 0; i < 2; i++) {
      const { queue } = await channel.assertQueue('', { exclusive: true });
      await channel.bindQueue(queue, 'requeue-fan', '');
      queues.push(queue);
    }
    channel.publish('requeue-fan', '', Buffer.from('both'));
    const first = new Inbox();
    const ch1 = await newChannel(connection);
    await ch1.consume(queues[0], first.onMessage);
    await first.count(1);
    await ch1.close();
    const got = await Promise.all(queues.map((q) => channel.get(q, { noAck: true })));
    expect(got.map((m) => m && [m.content.toString(), m.fields.redelivered])).toEqual([
      ['both', true],
      ['both', false],
    ]);
  });

  it('two channels of round-robin deliveries closing one after the other: all back in order, redelivered', async () => {
    const { connection, channel } = await openChannel(broker.url);
    const { queue } = await channel.assertQueue('', { exclusive: true });
    const n = 40;
    const chs = [await newChannel(connection), await newChannel(connection)];
    const inboxes = [new Inbox(), new Inbox()];
    // Each takes half and no more, so that what the first close gives back stays ready.
    for (let i = 0; i < 2; i++) {
      await chs[i].prefetch(n / 2);
      await chs[i].consume(queue, inboxes[i].onMessage);
    }
    for (let i = 1; i <= n; i++) channel.sendToQueue(queue, Buffer.from(`${i}`));
    await inboxes[0].count(n / 2);
    await inboxes[1].count(n / 2);
    // Each holds every other message: the second close merges its messages between the first's.
    await chs[1].close();
    channel.sendToQueue(queue, Buffer.from(`${n + 1}`));
    expect((await channel.checkQueue(queue)).messageCount).toBe(n / 2 + 1);
    await chs[0].close();
    const second = new Inbox();
    await channel.consume(queue, second.onMessage, { noAck: true });
    await second.count(n + 1);
    expect(second.messages.map((m) => Number(m.content.toString()))).toEqual(
      Array.from({ length: n + 1 }, (_, i) => i + 1),
    );
    expect(second.messages.map((m) => m.fields.redelivered)).toEqual([
      ...Array.from({ length: n }, () => true),
      false,
    ]);
  });

  it('unacked messages go back when the connection drops', async () => {
    const { channel } = await openChannel(broker.url);
    await channel.assertQueue('drop-q');
    for (let i = 1; i <= 3; i++) channel.sendToQueue('drop-q', Buffer.from(`${i}`));
    const other = await openChannel(broker.url);
    const inbox = new Inbox();
    await other.channel.consume('drop-q', inbox.onMessage);
    await inbox.count(3);
    await other.connection.close();
    const got = await channel.get('drop-q', { noAck: true });
    expect(got && [got.content.toString(), got.fields.redelivered]).toEqual(['1', true]);
    expect((await channel.checkQueue('drop-q')).messageCount).toBe(2);
    await channel.deleteQueue('drop-q');
  });

  it('basic.recover requeues the unacked deliveries', async () => {
    const { channel } = await openChannel(broker.url);
    const { queue } = await channel.assertQueue('', { exclusive: true });
    channel.sendToQueue(queue, Buffer.from('r'));
    const inbox = new Inbox();
    await channel.consume(queue, inbox.onMessage);
    await inbox.count(1);
    await channel.recover();
    await inbox.count(2);
    expect(inbox.messages[1].fields.redelivered).toBe(true);
  });
});

describe('basic.qos', () => {
  it('prefetch-count limits unacked deliveries per consumer', async () => {
    const { channel } = await openChannel(broker.url);
    const { queue } = await channel.assertQueue('', { exclusive: true });
    for (let i = 0; i < 10; i++) channel.sendToQueue(queue, Buffer.from(`${i}`));
    await channel.prefetch(3);
    const a = new Inbox();
    const b = new Inbox();
    await channel.consume(queue, a.onMessage);
    await channel.consume(queue, b.onMessage);
    await a.count(3);
    await b.count(3);
    expect((await channel.checkQueue(queue)).messageCount).toBe(4);
    expect(a.messages.length + b.messages.length).toBe(6);
    channel.ack(a.messages[2], true);
    await a.count(6);
    expect((await channel.checkQueue(queue)).messageCount).toBe(1);
  });

  it('global prefetch is shared by the consumers of the channel', async () => {
    const { channel } = await openChannel(broker.url);
    const { queue } = await channel.assertQueue('', { exclusive: true });
    for (let i = 0; i < 10; i++) channel.sendToQueue(queue, Buffer.from(`${i}`));
    await channel.prefetch(4, true);
    const a = new Inbox();
    const b = new Inbox();
    await channel.consume(queue, a.onMessage);
    await channel.consume(queue, b.onMessage);
    await a.until(() => a.messages.length + b.messages.length >= 4);
    expect((await channel.checkQueue(queue)).messageCount).toBe(6);
    expect(a.messages.length + b.messages.length).toBe(4);
  });

  it('prefetch-size other than 0 is 540 NOT_IMPLEMENTED, as in RabbitMQ', async () => {
    const client = await new AMQPClient(broker.url).connect();
    const ch = await client.channel();
    await expect(ch.basicQos(10, 1000)).rejects.toThrow(/NOT_IMPLEMENTED - prefetch_size!=0 \(1000\)/);
  });

  it('prefetch through @cloudamqp/amqp-client', async () => {
    const client = await new AMQPClient(broker.url).connect();
    const ch = await client.channel();
    const { name } = await ch.queueDeclare('', { exclusive: true });
    for (let i = 0; i < 5; i++) await ch.basicPublish('', name, `${i}`);
    await ch.basicQos(2);
    const got: string[] = [];
    let twoArrived: () => void = () => {};
    const two = new Promise<void>((resolve) => {
      twoArrived = resolve;
    });
    await ch.basicConsume(name, { noAck: false }, (m) => {
      got.push(m.bodyToString() ?? '');
      if (got.length === 2) twoArrived();
    });
    await two;
    const { messageCount } = await ch.queueDeclare(name, { passive: true });
    expect(got).toEqual(['0', '1']);
    expect(messageCount).toBe(3);
    await client.close();
  });
});
