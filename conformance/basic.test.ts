// The basic class: publish (mandatory, immediate, a missing exchange, empty and
// multi-frame bodies), consumers (tags, exclusivity, cancel), get, acknowledgements (ack, nack,
// reject, multiple, requeue, unknown tags), requeue on close, recover, qos and round-robin dispatch.
// Expectations are RabbitMQ 3.10's observed behaviour; texts are exact.

import t from 'tap';
import { broker } from './lib/broker.js';
import { amqpClientConnect, amqplibConnect, type Teardown, within } from './lib/cases.js';
import { basicGetArgsFull, basicQosArgs, M } from './lib/methods.js';
import { drain, drainMarked, Scratch } from './lib/scratch.js';
import { type Channel, eventually, expectError, publishBytes, Session } from './lib/session.js';
import { FRAME_BODY, FRAME_HEADER, FRAME_METHOD } from './lib/wire.js';

const b = await broker();

const VHOST = "in vhost '/'";
const unknownTag = (tag: number | bigint, methodId: number) => ({
  replyCode: 406,
  replyText: `PRECONDITION_FAILED - unknown delivery tag ${tag}`,
  classId: 60,
  methodId,
});

async function open(t: Teardown): Promise<{ s: Session; ch: Channel; names: Scratch }> {
  const s = await Session.open(t);
  return { s, ch: await s.channel(), names: Scratch.for(t, 'basic') };
}

/** An exclusive server-named queue holding the messages "1".."n", confirmed before it returns. */
async function filledQueue(s: Session, ch: Channel, n: number): Promise<string> {
  const { queue } = await ch.queueDeclare('', { exclusive: true });
  await fill(s, queue, n);
  return queue;
}

async function fill(s: Session, queue: string, n: number, from = 1): Promise<void> {
  const publisher = await s.channel();
  await publisher.confirmSelect();
  for (let i = from; i < from + n; i++) await publisher.publish('', queue, String(i));
  await publisher.waitForConfirms();
  await publisher.close();
}

const bodies = (messages: { body: Buffer }[]): string[] => messages.map((m) => m.body.toString());

t.test('basic.publish', async (t) => {
  t.test('mandatory and unroutable: basic.return 312 NO_ROUTE with the content intact', async (t) => {
    const { ch, names } = await open(t);
    const x = names.exchange();
    await ch.exchangeDeclare(x, 'direct');
    const properties = {
      contentType: 'text/plain',
      headers: { h: 'v', n: 7 },
      messageId: 'm-1',
      deliveryMode: 2,
    };
    await ch.publish(x, 'nowhere', 'returned', { mandatory: true, properties });
    const missingQueue = names.queue('missing');
    await ch.publish('', missingQueue, 'to no queue', { mandatory: true });
    const first = await ch.nextReturn();
    t.same(
      {
        replyCode: first.replyCode,
        replyText: first.replyText,
        exchange: first.exchange,
        routingKey: first.routingKey,
        body: first.body.toString(),
        properties: first.properties,
      },
      {
        replyCode: 312,
        replyText: 'NO_ROUTE',
        exchange: x,
        routingKey: 'nowhere',
        body: 'returned',
        properties,
      },
      'from a named exchange',
    );
    const second = await ch.nextReturn();
    t.same(
      [second.replyCode, second.replyText, second.exchange, second.routingKey, second.body.toString()],
      [312, 'NO_ROUTE', '', missingQueue, 'to no queue'],
      'from the default exchange',
    );
  });

  t.test('not mandatory and unroutable: dropped silently', async (t) => {
    const { ch } = await open(t);
    await ch.publish('amq.direct', 'warren-conformance-nowhere', 'dropped');
    await ch.queueDeclare('', { exclusive: true });
    t.same(ch.received(M.basicReturn), [], 'no basic.return by the next round trip');
  });

  t.test('amqp-client: a mandatory unroutable publish is returned', async (t) => {
    const client = await amqpClientConnect(t, b.url);
    const ch = await within(client.channel(), 'channel.open-ok');
    const returned = new Promise<{ replyCode: number; replyText: string; body: string }>((resolve) => {
      ch.onReturn = (msg) =>
        resolve({
          replyCode: msg.replyCode ?? 0,
          replyText: msg.replyText ?? '',
          body: msg.bodyToString() ?? '',
        });
    });
    await within(ch.basicPublish('amq.topic', 'warren.nowhere', 'back', {}, true), 'basic.publish');
    t.same(await within(returned, 'basic.return'), { replyCode: 312, replyText: 'NO_ROUTE', body: 'back' });
  });

  t.test('immediate: connection error 540 NOT_IMPLEMENTED, even with a consumer', async (t) => {
    const { s, ch } = await open(t);
    const { queue } = await ch.queueDeclare('', { exclusive: true });
    await ch.consume(queue);
    await ch.publish('', queue, 'now', { immediate: true });
    const close = await s.expectConnectionClose();
    t.same(close, {
      replyCode: 540,
      replyText: 'NOT_IMPLEMENTED - immediate=true',
      classId: 60,
      methodId: 40,
    });
  });

  t.test('to a missing exchange: channel error 404, the connection keeps serving', async (t) => {
    const { s, ch, names } = await open(t);
    const x = names.exchange('missing');
    await ch.publish(x, 'k', 'lost');
    const close = await ch.expectClose();
    t.same(close, {
      replyCode: 404,
      replyText: `NOT_FOUND - no exchange '${x}' ${VHOST}`,
      classId: 60,
      methodId: 40,
    });
    const other = await s.channel();
    await other.queueDeclare('', { exclusive: true });
    t.pass('another channel works');
  });

  t.test('a user-id property naming another user than the connection: channel error 406', async (t) => {
    const { s, ch } = await open(t);
    const { queue } = await ch.queueDeclare('', { exclusive: true });
    await ch.publish('', queue, 'mine', { properties: { userId: 'guest' } });
    await ch.publish('', queue, 'claimed', { properties: { userId: 'someone-else' } });
    const close = await ch.expectClose();
    t.same(close, {
      replyCode: 406,
      replyText:
        "PRECONDITION_FAILED - user_id property set to 'someone-else' but authenticated user was 'guest'",
      classId: 60,
      methodId: 40,
    });
    const other = await s.channel();
    t.equal((await other.queueDeclare(queue, { passive: true })).messageCount, 1, 'only the first queued');
  });

  t.test('an empty body through basic.get and basic.deliver', async (t) => {
    const { ch } = await open(t);
    const { queue } = await ch.queueDeclare('', { exclusive: true });
    await ch.publish('', queue, '');
    await ch.publish('', queue, Buffer.alloc(0), { properties: { messageId: 'empty' } });
    const got = await ch.get(queue, true);
    t.same([got?.body.length, got?.properties], [0, {}], 'basic.get-ok with an empty body');
    await ch.consume(queue, { noAck: true });
    const delivered = await ch.nextDelivery();
    t.same(
      [delivered.body.length, delivered.properties.messageId],
      [0, 'empty'],
      'basic.deliver with an empty body',
    );
  });

  t.test(
    'an empty body, frame by frame: deliver, then a header of size 0, then the next method',
    async (t) => {
      const { s, ch } = await open(t);
      const { queue } = await ch.queueDeclare('', { exclusive: true });
      await ch.publish('', queue, '');
      // basic.get, read with the raw frame reader rather than the session's assembler.
      await s.conn.sendMethod(ch.id, M.basicGet, basicGetArgsFull(queue, true));
      const frames = [];
      for (let i = 0; i < 2; i++) frames.push(await s.conn.nextFrame());
      await s.conn.sendMethod(ch.id, M.basicQos, basicQosArgs(0, 0, false));
      frames.push(await s.conn.nextFrame());
      t.same(
        frames.map((f) => f.type),
        [FRAME_METHOD, FRAME_HEADER, FRAME_METHOD],
        'get-ok, content header, qos-ok: no body frame',
      );
      t.equal(frames[1].payload.readBigUInt64BE(4), 0n, 'body size 0');
    },
  );

  t.test('a 300000-octet body: published over several frames, delivered split at frame_max', async (t) => {
    const { s, ch } = await open(t);
    const { queue } = await ch.queueDeclare('', { exclusive: true });
    const body = Buffer.alloc(300000);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7) % 251;
    await ch.publish('', queue, body);
    await s.conn.sendMethod(ch.id, M.basicGet, basicGetArgsFull(queue, true));
    const sizes: number[] = [];
    const received: Buffer[] = [];
    t.equal((await s.conn.nextFrame()).type, FRAME_METHOD, 'basic.get-ok');
    t.equal((await s.conn.nextFrame()).type, FRAME_HEADER, 'content header');
    while (received.reduce((n, b) => n + b.length, 0) < body.length) {
      const f = await s.conn.nextFrame();
      t.equal(f.type, FRAME_BODY, 'a body frame');
      sizes.push(f.payload.length + 8);
      received.push(f.payload);
    }
    t.ok(
      sizes.every((n) => n <= s.frameMax),
      `every frame within frame_max ${s.frameMax}: ${sizes.join(', ')}`,
    );
    t.ok(Buffer.concat(received).equals(body), 'the body is intact');
  });

  t.test('a body in 500 body frames of 40 octets', async (t) => {
    const { s, ch } = await open(t);
    const { queue } = await ch.queueDeclare('', { exclusive: true });
    const body = Buffer.from('0123456789'.repeat(2000));
    await s.conn.send(publishBytes(ch.id, '', queue, body, {}, 48));
    const got = await ch.get(queue, true);
    t.ok(got?.body.equals(body), 'reassembled intact');
  });

  t.test('properties are delivered as published', async (t) => {
    const { ch } = await open(t);
    const { queue } = await ch.queueDeclare('', { exclusive: true });
    const properties = {
      contentType: 'application/json',
      contentEncoding: 'identity',
      headers: { s: 'text', i: -5, l: 1n << 40n, b: true, nested: { x: 1 }, list: [1, 'two'] },
      deliveryMode: 1,
      priority: 3,
      correlationId: 'c',
      replyTo: 'r',
      expiration: '60000',
      messageId: 'm',
      timestamp: 1700000000n,
      type: 't',
      userId: 'guest',
      appId: 'a',
    };
    await ch.publish('', queue, 'props', { properties });
    const got = await ch.get(queue, true);
    t.same(got?.properties, properties);
  });
});

t.test('consumers', async (t) => {
  t.test('server-generated consumer tags: amq.ctag- and 22 base64url characters, distinct', async (t) => {
    const { ch } = await open(t);
    const { queue } = await ch.queueDeclare('', { exclusive: true });
    const first = await ch.consume(queue);
    const second = await ch.consume(queue);
    for (const tag of [first, second]) {
      t.match(tag, /^amq\.ctag-/, `${tag}: the amq.ctag- prefix`);
      t.match(tag, /^amq\.ctag-[A-Za-z0-9_-]{22}$/, `${tag}: then 22 base64url characters, as RabbitMQ's`);
    }
    t.not(first, second, 'distinct');
  });

  t.test('deliveries carry the consumer tag, exchange, routing key, delivery tags from 1', async (t) => {
    const { s, ch } = await open(t);
    const queue = await filledQueue(s, ch, 2);
    const tag = await ch.consume(queue, { consumerTag: 'warren-conformance-consumer' });
    const ds = await ch.deliveries(2);
    t.same(
      ds.map((d) => [
        d.consumerTag,
        String(d.deliveryTag),
        d.redelivered,
        d.exchange,
        d.routingKey,
        d.body.toString(),
      ]),
      [
        [tag, '1', false, '', queue, '1'],
        [tag, '2', false, '', queue, '2'],
      ],
    );
  });

  t.test('consume from a missing queue: 404 NOT_FOUND', async (t) => {
    const { s, names } = await open(t);
    const q = names.queue('missing');
    await expectError(
      t,
      s.withChannel((c) => c.consume(q)),
      'channel',
      {
        replyCode: 404,
        replyText: `NOT_FOUND - no queue '${q}' ${VHOST}`,
        classId: 60,
        methodId: 20,
      },
    );
  });

  t.test(
    'exclusive consumers: 403 ACCESS_REFUSED in exclusive use, both ways and on one channel',
    async (t) => {
      const { s, ch } = await open(t);
      const { queue } = await ch.queueDeclare('', { exclusive: true });
      const { queue: shared } = await ch.queueDeclare('', { exclusive: true });
      await ch.consume(queue, { exclusive: true });
      await ch.consume(shared);
      const inUse = (q: string) => ({
        replyCode: 403,
        replyText: `ACCESS_REFUSED - queue '${q}' ${VHOST} in exclusive use`,
        classId: 60,
        methodId: 20,
      });
      await expectError(
        t,
        s.withChannel((c) => c.consume(queue)),
        'channel',
        inUse(queue),
      );
      await expectError(
        t,
        s.withChannel((c) => c.consume(queue, { exclusive: true })),
        'channel',
        inUse(queue),
      );
      await expectError(
        t,
        s.withChannel((c) => c.consume(shared, { exclusive: true })),
        'channel',
        inUse(shared),
      );
      await expectError(t, ch.consume(queue), 'channel', inUse(queue));
    },
  );

  t.test('a consumer tag reused on its channel: connection error 530 NOT_ALLOWED', async (t) => {
    const { s, ch } = await open(t);
    const { queue } = await ch.queueDeclare('', { exclusive: true });
    await ch.consume(queue, { consumerTag: 'twice' });
    const other = await s.channel();
    t.equal(
      await other.consume(queue, { consumerTag: 'twice' }),
      'twice',
      'the same tag on another channel is fine',
    );
    await expectError(t, ch.consume(queue, { consumerTag: 'twice' }), 'connection', {
      replyCode: 530,
      replyText: "NOT_ALLOWED - attempt to reuse consumer tag 'twice'",
      classId: 60,
      methodId: 20,
    });
  });

  t.test(
    'basic.cancel: cancel-ok with the tag, deliveries stop; an unknown tag is also cancel-ok',
    async (t) => {
      const { s, ch } = await open(t);
      const { queue } = await ch.queueDeclare('', { exclusive: true });
      const tag = await ch.consume(queue, { noAck: true });
      await fill(s, queue, 1);
      t.equal((await ch.nextDelivery()).body.toString(), '1');
      t.equal(await ch.cancel(tag), tag, 'cancel-ok');
      await fill(s, queue, 1, 2);
      t.same(await drain(ch, queue), ['2'], 'the next message stays in the queue');
      t.same(ch.received(M.basicDeliver), [], 'nothing delivered after cancel-ok');
      t.equal(await ch.cancel('warren-conformance-unknown'), 'warren-conformance-unknown', 'unknown tag');
    },
  );

  t.test('round-robin between two consumers on two channels', async (t) => {
    const { s, ch } = await open(t);
    const { queue } = await ch.queueDeclare('', { exclusive: true });
    const other = await s.channel();
    await ch.consume(queue, { noAck: true });
    await other.consume(queue, { noAck: true });
    await fill(s, queue, 6);
    t.same(bodies(await ch.deliveries(3)), ['1', '3', '5'], 'first consumer');
    t.same(bodies(await other.deliveries(3)), ['2', '4', '6'], 'second consumer');
  });

  t.test('round-robin between two consumers on one channel, delivery tags in channel order', async (t) => {
    const { s, ch } = await open(t);
    const { queue } = await ch.queueDeclare('', { exclusive: true });
    await ch.consume(queue, { consumerTag: 'A' });
    await ch.consume(queue, { consumerTag: 'B' });
    await fill(s, queue, 6);
    const ds = await ch.deliveries(6);
    t.same(
      ds.map((d) => `${d.consumerTag}${d.body}:${d.deliveryTag}`),
      ['A1:1', 'B2:2', 'A3:3', 'B4:4', 'A5:5', 'B6:6'],
    );
  });

  t.test('amqplib: consume, ack, cancel', async (t) => {
    const conn = await amqplibConnect(t, b.url);
    conn.on('error', () => {});
    const ch = await within(conn.createChannel(), 'channel.open-ok');
    const { queue } = await within(ch.assertQueue('', { exclusive: true }), 'queue.declare-ok');
    const received: string[] = [];
    let done: () => void = () => {};
    const allThere = new Promise<void>((resolve) => {
      done = resolve;
    });
    const { consumerTag } = await within(
      ch.consume(queue, (msg) => {
        if (!msg) return;
        received.push(msg.content.toString());
        ch.ack(msg);
        if (received.length === 3) done();
      }),
      'basic.consume-ok',
    );
    for (const body of ['a', 'b', 'c']) ch.sendToQueue(queue, Buffer.from(body));
    await within(allThere, 'three deliveries');
    await within(ch.cancel(consumerTag), 'basic.cancel-ok');
    t.same(received, ['a', 'b', 'c']);
    const check = await within(ch.checkQueue(queue), 'queue.declare-ok');
    t.same([check.messageCount, check.consumerCount], [0, 0], 'all acked, no consumer');
  });
});

t.test('basic.get', async (t) => {
  t.test('get-ok carries the remaining message count; get-empty when none', async (t) => {
    const { s, ch } = await open(t);
    const queue = await filledQueue(s, ch, 3);
    const got = [];
    for (let i = 0; i < 3; i++) {
      const m = await ch.get(queue, false);
      got.push(
        m && [
          m.body.toString(),
          m.messageCount,
          String(m.deliveryTag),
          m.redelivered,
          m.exchange,
          m.routingKey,
        ],
      );
    }
    t.same(got, [
      ['1', 2, '1', false, '', queue],
      ['2', 1, '2', false, '', queue],
      ['3', 0, '3', false, '', queue],
    ]);
    t.equal(await ch.get(queue), undefined, 'basic.get-empty');
  });

  t.test('get from a missing queue: 404 NOT_FOUND', async (t) => {
    const { s, names } = await open(t);
    const q = names.queue('missing');
    await expectError(
      t,
      s.withChannel((c) => c.get(q)),
      'channel',
      {
        replyCode: 404,
        replyText: `NOT_FOUND - no queue '${q}' ${VHOST}`,
        classId: 60,
        methodId: 70,
      },
    );
  });
});

t.test('acknowledgements', async (t) => {
  t.test('ack multiple acknowledges up to the tag; the rest come back on close', async (t) => {
    const { s, ch } = await open(t);
    const queue = await filledQueue(s, ch, 4);
    const consumer = await s.channel();
    for (let i = 0; i < 4; i++) await consumer.get(queue);
    await consumer.ack(3, true);
    await consumer.close();
    t.same(await drainMarked(ch, queue), ['4R']);
  });

  t.test('ack of tag 0 with multiple acknowledges everything outstanding', async (t) => {
    const { s, ch } = await open(t);
    const queue = await filledQueue(s, ch, 3);
    const consumer = await s.channel();
    for (let i = 0; i < 3; i++) await consumer.get(queue);
    await consumer.ack(0, true);
    await consumer.close();
    t.same(await drainMarked(ch, queue), []);
    const idle = await s.channel();
    await idle.ack(0, true);
    await idle.queueDeclare('', { exclusive: true });
    t.pass('with nothing outstanding it is accepted too');
  });

  t.test('nack multiple with requeue: back in original order, redelivered', async (t) => {
    const { s, ch } = await open(t);
    const queue = await filledQueue(s, ch, 4);
    const consumer = await s.channel();
    for (let i = 0; i < 4; i++) await consumer.get(queue);
    await consumer.nack(3, true, true);
    t.same(await drainMarked(consumer, queue), ['1R', '2R', '3R']);
  });

  t.test('nack multiple with requeue to a consumer: redelivered with new tags', async (t) => {
    const { s, ch } = await open(t);
    const queue = await filledQueue(s, ch, 4);
    await ch.consume(queue);
    await ch.deliveries(4);
    await ch.nack(3, true, true);
    const again = await ch.deliveries(3);
    t.same(
      again.map((d) => `${d.body}:${d.deliveryTag}${d.redelivered ? 'R' : ''}`),
      ['1:5R', '2:6R', '3:7R'],
    );
  });

  t.test('reject and nack without requeue drop the message; reject with requeue keeps it', async (t) => {
    const { s, ch } = await open(t);
    const queue = await filledQueue(s, ch, 3);
    const consumer = await s.channel();
    const [one, two, three] = [
      await consumer.get(queue),
      await consumer.get(queue),
      await consumer.get(queue),
    ];
    if (!one || !two || !three) throw new Error('basic.get-empty');
    await consumer.reject(one.deliveryTag, false);
    await consumer.nack(two.deliveryTag, false, false);
    await consumer.reject(three.deliveryTag, true);
    t.same(await drainMarked(consumer, queue), ['3R']);
    await consumer.close();
    t.same(await drainMarked(ch, queue), [], 'nothing more after close');
  });

  for (const [name, method, send] of [
    ['basic.ack', 80, (c: Channel) => c.ack(5)],
    ['basic.nack', 120, (c: Channel) => c.nack(5)],
    ['basic.reject', 90, (c: Channel) => c.reject(5)],
    ['basic.ack multiple', 80, (c: Channel) => c.ack(5, true)],
    ['basic.nack multiple', 120, (c: Channel) => c.nack(5, true)],
  ] as const) {
    t.test(`${name} of an unknown delivery tag: 406 PRECONDITION_FAILED`, async (t) => {
      const { ch } = await open(t);
      await send(ch);
      t.same(await ch.expectClose(), unknownTag(5, method));
    });
  }

  t.test('basic.ack of tag 0 without multiple: 406 unknown delivery tag 0', async (t) => {
    const { ch } = await open(t);
    await ch.ack(0);
    t.same(await ch.expectClose(), unknownTag(0, 80));
  });

  t.test('a double ack: 406 unknown delivery tag', async (t) => {
    const { s, ch } = await open(t);
    const queue = await filledQueue(s, ch, 1);
    const got = await ch.get(queue);
    if (!got) throw new Error('basic.get-empty');
    await ch.ack(got.deliveryTag);
    await ch.ack(got.deliveryTag);
    t.same(await ch.expectClose(), unknownTag(1, 80));
  });

  t.test('an ack for a no-ack delivery: 406 unknown delivery tag', async (t) => {
    const { s, ch } = await open(t);
    const queue = await filledQueue(s, ch, 1);
    const got = await ch.get(queue, true);
    if (!got) throw new Error('basic.get-empty');
    await ch.ack(got.deliveryTag);
    t.same(await ch.expectClose(), unknownTag(1, 80));
  });

  t.test('an ack on another channel than the delivery: 406 unknown delivery tag', async (t) => {
    const { s, ch } = await open(t);
    const queue = await filledQueue(s, ch, 1);
    await ch.get(queue);
    const other = await s.channel();
    await other.ack(1);
    t.same(await other.expectClose(), unknownTag(1, 80));
  });
});

t.test('requeue when the receiver goes away', async (t) => {
  t.test('channel close: unacked messages back in original order, redelivered', async (t) => {
    const { s, ch } = await open(t);
    const queue = await filledQueue(s, ch, 6);
    const consumer = await s.channel();
    await consumer.qos(4);
    await consumer.consume(queue);
    const ds = await consumer.deliveries(4);
    await consumer.ack(ds[1].deliveryTag);
    await consumer.nextDelivery();
    await consumer.close();
    t.same(await drainMarked(ch, queue), ['1R', '3R', '4R', '5R', '6']);
  });

  t.test('connection close: unacked messages back in original order, redelivered', async (t) => {
    const { s, ch, names } = await open(t);
    const queue = names.queue();
    await ch.queueDeclare(queue);
    await fill(s, queue, 5);
    const receiver = await Session.open(t);
    const rc = await receiver.channel();
    await rc.qos(3);
    await rc.consume(queue);
    await rc.deliveries(3);
    const got = await rc.get(queue);
    t.equal(got?.body.toString(), '4', 'a basic.get alongside the consumer');
    await receiver.close();
    t.same(await drainMarked(ch, queue), ['1R', '2R', '3R', '4R', '5']);
  });

  t.test('socket dropped: unacked messages back in original order, redelivered', async (t) => {
    const { s, ch, names } = await open(t);
    const queue = names.queue();
    await ch.queueDeclare(queue);
    await fill(s, queue, 5);
    const receiver = await Session.open(t);
    const rc = await receiver.channel();
    await rc.qos(3);
    await rc.consume(queue);
    await rc.deliveries(3);
    receiver.destroy();
    // Nothing tells the other connections when the broker has noticed the drop: wait for the count.
    await eventually(
      async () => ((await ch.messageCount(queue)) === 5 ? true : undefined),
      'the three unacked messages to be requeued',
    );
    t.same(await drainMarked(ch, queue), ['1R', '2R', '3R', '4', '5']);
  });

  t.test('no-ack deliveries are not requeued', async (t) => {
    const { s, ch } = await open(t);
    const queue = await filledQueue(s, ch, 3);
    const consumer = await s.channel();
    await consumer.consume(queue, { noAck: true });
    await consumer.deliveries(3);
    await consumer.close();
    t.same(await drainMarked(ch, queue), []);
  });
});

t.test('basic.recover', async (t) => {
  t.test('requeue=true: unacked deliveries come again, redelivered, with new tags', async (t) => {
    const { s, ch } = await open(t);
    const queue = await filledQueue(s, ch, 3);
    await ch.consume(queue);
    const first = await ch.deliveries(3);
    await ch.ack(first[1].deliveryTag);
    await ch.recover(true);
    const again = await ch.deliveries(2);
    t.same(
      again.map((d) => `${d.body}:${d.deliveryTag}${d.redelivered ? 'R' : ''}`),
      ['1:4R', '3:5R'],
    );
  });

  t.test('requeue=false: connection error 540 NOT_IMPLEMENTED', async (t) => {
    const { ch } = await open(t);
    await expectError(t, ch.recover(false), 'connection', {
      replyCode: 540,
      replyText: 'NOT_IMPLEMENTED - requeue=false',
      classId: 60,
      methodId: 110,
    });
  });
});

t.test('basic.qos', async (t) => {
  /** `count` exclusive queues of five messages each, published and confirmed. */
  async function queues(s: Session, ch: Channel, count: number): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < count; i++) out.push(await filledQueue(s, ch, 5));
    return out;
  }

  /** Deliveries received so far, after a round trip through each queue on the consumer's channel. */
  async function settled(ch: Channel, qs: string[]): Promise<number> {
    for (const q of qs) await ch.queueDeclare(q, { passive: true });
    return ch.received(M.basicDeliver).length;
  }

  t.test('prefetch-count, global=false: a limit per consumer; an ack lets one more through', async (t) => {
    const { s, ch } = await open(t);
    const qs = await queues(s, ch, 2);
    await ch.qos(2);
    for (const q of qs) await ch.consume(q);
    const ds = await ch.deliveries(4);
    t.equal(await settled(ch, qs), 0, 'two per consumer, four in all');
    await ch.ack(ds[0].deliveryTag);
    const next = await ch.nextDelivery();
    t.equal(next.consumerTag, ds[0].consumerTag, 'the consumer that acked gets the next one');
    t.equal(await settled(ch, qs), 0, 'and no more');
  });

  t.test('prefetch-count, global=true: one limit shared by the channel’s consumers', async (t) => {
    const { s, ch } = await open(t);
    const qs = await queues(s, ch, 2);
    await ch.qos(3, true);
    for (const q of qs) await ch.consume(q);
    await ch.deliveries(3);
    t.equal(await settled(ch, qs), 0, 'three in all');
  });

  t.test('both limits: per consumer 1 and per channel 3, four consumers get three messages', async (t) => {
    const { s, ch } = await open(t);
    const qs = await queues(s, ch, 4);
    await ch.qos(1, false);
    await ch.qos(3, true);
    for (const q of qs) await ch.consume(q);
    const ds = await ch.deliveries(3);
    t.equal(await settled(ch, qs), 0, 'three in all');
    t.equal(new Set(ds.map((d) => d.consumerTag)).size, 3, 'from three consumers');
  });

  t.test('a consumer keeps the per-consumer limit in force when it was created', async (t) => {
    const { s, ch } = await open(t);
    const [limited, unlimited] = await queues(s, ch, 2);
    await ch.qos(1);
    await ch.consume(limited);
    await ch.qos(0);
    await ch.consume(unlimited);
    await ch.qos(1);
    await ch.deliveries(6);
    t.equal(await settled(ch, [limited, unlimited]), 0, 'one from the first consumer, five from the second');
  });

  t.test('prefetch 0 is unlimited and basic.get ignores the limit', async (t) => {
    const { s, ch } = await open(t);
    const [q] = await queues(s, ch, 1);
    await ch.qos(1);
    for (let i = 0; i < 3; i++) t.ok(await ch.get(q), `basic.get ${i + 1} under prefetch 1`);
    await ch.qos(0);
    await ch.consume(q);
    await ch.deliveries(2);
    t.pass('the remaining two delivered at once');
  });

  t.test('prefetch-size other than 0: connection error 540 NOT_IMPLEMENTED', async (t) => {
    const { ch } = await open(t);
    await expectError(t, ch.qos(10, false, 1000), 'connection', {
      replyCode: 540,
      replyText: 'NOT_IMPLEMENTED - prefetch_size!=0 (1000)',
      classId: 60,
      methodId: 10,
    });
  });
});
