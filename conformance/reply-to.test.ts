// Direct reply-to: the amq.rabbitmq.reply-to pseudo-queue. Consuming from it (no-ack only, once per
// channel), the rewrite of reply_to on the requester's publishes, replies from another connection,
// queue.declare of the pseudo-queue and of reply names, and what is unroutable. Expectations are
// RabbitMQ 3.10's observed behaviour; texts are exact. (A reply published mandatory to a reply name
// differs between versions: 3.10 returns it, 4.2 counts it as routed; it is not a case here.)

import t from 'tap';
import { broker } from './lib/broker.js';
import type { Teardown } from './lib/cases.js';
import { amqplibConnect, within } from './lib/cases.js';
import { Scratch } from './lib/scratch.js';
import { type Channel, expectError, Session } from './lib/session.js';

const b = await broker();

const REPLY_TO = 'amq.rabbitmq.reply-to';
const consume = (text: string) => ({
  replyCode: 406,
  replyText: `PRECONDITION_FAILED - ${text}`,
  classId: 60,
  methodId: 20,
});
const notFound = (queue: string, methodId: number, classId = 50) => ({
  replyCode: 404,
  replyText: `NOT_FOUND - no queue '${queue}' in vhost '/'`,
  classId,
  methodId,
});

/** A requester: a channel consuming from the pseudo-queue. */
async function requester(s: Session): Promise<{ ch: Channel; consumerTag: string }> {
  const ch = await s.channel();
  const consumerTag = await ch.consume(REPLY_TO, { noAck: true });
  return { ch, consumerTag };
}

/** A request queue on a session of its own; returns the request as its server sees it. */
async function requestQueue(t: Teardown): Promise<{ server: Channel; queue: string }> {
  const names = Scratch.for(t, 'reply-to');
  const server = await (await Session.open(t)).channel();
  const queue = names.queue('requests');
  await server.queueDeclare(queue);
  return { server, queue };
}

t.test('basic.consume on amq.rabbitmq.reply-to', async (t) => {
  t.test('in ack mode: channel error 406 reply consumer cannot acknowledge', async (t) => {
    const s = await Session.open(t);
    const ch = await s.channel();
    await expectError(
      t,
      ch.consume(REPLY_TO, { noAck: false }),
      'channel',
      consume('reply consumer cannot acknowledge'),
    );
  });

  t.test('a second time on one channel: 406 reply consumer already set', async (t) => {
    const s = await Session.open(t);
    const { ch } = await requester(s);
    await expectError(
      t,
      ch.consume(REPLY_TO, { noAck: true }),
      'channel',
      consume('reply consumer already set'),
    );
  });

  t.test('on another channel of the same connection: each channel has its own', async (t) => {
    const s = await Session.open(t);
    await requester(s);
    const other = await requester(s);
    t.match(other.consumerTag, /^amq\.ctag-/, 'a server-named tag');
  });

  t.test('the requested consumer tag is kept; basic.cancel answers cancel-ok', async (t) => {
    const s = await Session.open(t);
    const ch = await s.channel();
    t.equal(await ch.consume(REPLY_TO, { noAck: true, consumerTag: 'replies' }), 'replies');
    t.equal(await ch.cancel('replies'), 'replies');
    // Consuming again after the cancel is allowed.
    t.equal(await ch.consume(REPLY_TO, { noAck: true, consumerTag: 'again' }), 'again');
  });
});

t.test('requests and replies', async (t) => {
  t.test(
    'reply_to is rewritten to a reply name; a reply to it from another connection is delivered',
    async (t) => {
      const { server, queue } = await requestQueue(t);
      const s = await Session.open(t);
      const { ch, consumerTag } = await requester(s);
      await ch.publish('', queue, 'request', {
        properties: {
          replyTo: REPLY_TO,
          correlationId: 'c-1',
          contentType: 'text/plain',
          headers: { h: 'v' },
        },
      });
      const request = await server.get(queue, true);
      t.ok(request, 'the request reached its queue');
      if (!request) return;
      const replyTo = request.properties.replyTo ?? '';
      t.match(replyTo, /^amq\.rabbitmq\.reply-to\../, `reply_to is a reply name (${replyTo})`);
      t.same(
        { ...request.properties, replyTo: undefined },
        { correlationId: 'c-1', contentType: 'text/plain', headers: { h: 'v' }, replyTo: undefined },
        'the other properties are kept',
      );
      t.equal(request.body.toString(), 'request');

      await server.publish('', replyTo, 'reply', { properties: { correlationId: 'c-1' } });
      const reply = await ch.nextDelivery();
      t.same(
        {
          consumerTag: reply.consumerTag,
          redelivered: reply.redelivered,
          exchange: reply.exchange,
          routingKey: reply.routingKey,
          body: reply.body.toString(),
          correlationId: reply.properties.correlationId,
        },
        {
          consumerTag,
          redelivered: false,
          exchange: '',
          routingKey: replyTo,
          body: 'reply',
          correlationId: 'c-1',
        },
        'basic.deliver to the reply consumer',
      );
      // No ack is expected: the channel closes cleanly.
      await ch.close();
    },
  );

  t.test('a publish with reply_to amq.rabbitmq.reply-to without a reply consumer: 406', async (t) => {
    const { queue } = await requestQueue(t);
    const s = await Session.open(t);
    // The reply consumer is on another channel: it does not count.
    await requester(s);
    const ch = await s.channel();
    await ch.publish('', queue, 'request', { properties: { replyTo: REPLY_TO } });
    await expectError(t, ch.queueDeclare(queue, { passive: true }), 'channel', {
      replyCode: 406,
      replyText: 'PRECONDITION_FAILED - fast reply consumer does not exist',
      classId: 60,
      methodId: 40,
    });
  });

  t.test('an RPC round trip through amqplib across two connections', async (t) => {
    const names = Scratch.for(t, 'reply-to');
    const queue = names.queue('rpc');
    const serverConn = await amqplibConnect(t, b.url);
    const server = await within(serverConn.createChannel(), 'channel.open-ok');
    await within(server.assertQueue(queue), 'queue.declare-ok');
    await within(
      server.consume(
        queue,
        (m) => {
          if (!m) return;
          server.publish('', m.properties.replyTo, Buffer.from(`re: ${m.content}`), {
            correlationId: m.properties.correlationId,
          });
        },
        { noAck: true },
      ),
      'basic.consume-ok',
    );
    const clientConn = await amqplibConnect(t, b.url);
    const client = await within(clientConn.createChannel(), 'channel.open-ok');
    const replies: string[] = [];
    let done: () => void = () => {};
    const allIn = new Promise<void>((resolve) => {
      done = resolve;
    });
    await within(
      client.consume(
        REPLY_TO,
        (m) => {
          if (!m) return;
          replies.push(`${m.properties.correlationId}:${m.content}`);
          if (replies.length === 2) done();
        },
        { noAck: true },
      ),
      'basic.consume-ok',
    );
    client.sendToQueue(queue, Buffer.from('one'), { replyTo: REPLY_TO, correlationId: '1' });
    client.sendToQueue(queue, Buffer.from('two'), { replyTo: REPLY_TO, correlationId: '2' });
    await within(allIn, 'two replies');
    t.same(replies, ['1:re: one', '2:re: two']);
  });

  t.test(
    'a publish to a name that is not a reply name is unroutable (mandatory: basic.return)',
    async (t) => {
      const s = await Session.open(t);
      const ch = await s.channel();
      await ch.publish('', 'amq.rabbitmq.reply-to.not-a-reply-name', 'x', { mandatory: true });
      await ch.publish('', REPLY_TO, 'y', { mandatory: true });
      const first = await ch.nextReturn();
      const second = await ch.nextReturn();
      t.same(
        [first, second].map((r) => [r.replyCode, r.replyText, r.routingKey, r.body.toString()]),
        [
          [312, 'NO_ROUTE', 'amq.rabbitmq.reply-to.not-a-reply-name', 'x'],
          [312, 'NO_ROUTE', REPLY_TO, 'y'],
        ],
      );
    },
  );
});

t.test('queue.declare and other queue methods on the names', async (t) => {
  t.test(
    'amq.rabbitmq.reply-to, passive or not, with or without a consumer: 0 messages, 1 consumer',
    async (t) => {
      const s = await Session.open(t);
      const ch = await s.channel();
      for (const passive of [true, false]) {
        const ok = await ch.queueDeclare(REPLY_TO, { passive, durable: !passive });
        t.same(ok, { queue: REPLY_TO, messageCount: 0, consumerCount: 1 }, `passive=${passive}`);
      }
    },
  );

  t.test('a reply name with its consumer there: 0 messages, 1 consumer; once it is gone: 404', async (t) => {
    const { server, queue } = await requestQueue(t);
    const s = await Session.open(t);
    const { ch } = await requester(s);
    await ch.publish('', queue, 'request', { properties: { replyTo: REPLY_TO } });
    const request = await server.get(queue, true);
    const replyTo = request?.properties.replyTo ?? '';
    const probe = await Session.open(t);
    const pch = await probe.channel();
    for (const passive of [true, false]) {
      t.same(
        await pch.queueDeclare(replyTo, { passive }),
        { queue: replyTo, messageCount: 0, consumerCount: 1 },
        `passive=${passive}`,
      );
    }
    await ch.close();
    await expectError(t, pch.queueDeclare(replyTo, { passive: true }), 'channel', notFound(replyTo, 10));
    const again = await probe.channel();
    await expectError(t, again.queueDeclare(replyTo), 'channel', notFound(replyTo, 10));
  });

  t.test('a name of another form, passive or not: 404', async (t) => {
    const name = 'amq.rabbitmq.reply-to.not-a-reply-name';
    const s = await Session.open(t);
    for (const passive of [true, false]) {
      const ch = await s.channel();
      await expectError(t, ch.queueDeclare(name, { passive }), 'channel', notFound(name, 10));
    }
  });

  t.test('basic.get, queue.purge and queue.bind on amq.rabbitmq.reply-to: 404', async (t) => {
    const s = await Session.open(t);
    await expectError(t, (await s.channel()).get(REPLY_TO), 'channel', notFound(REPLY_TO, 70, 60));
    await expectError(t, (await s.channel()).queuePurge(REPLY_TO), 'channel', notFound(REPLY_TO, 30));
    await expectError(
      t,
      (await s.channel()).queueBind(REPLY_TO, 'amq.direct', 'k'),
      'channel',
      notFound(REPLY_TO, 20),
    );
  });
});
