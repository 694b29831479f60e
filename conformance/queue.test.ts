// Queues: server-named, passive, durable, exclusive and auto-delete queues, argument equivalence,
// declare-ok counts, bind and unbind, purge, delete with if-unused and if-empty, the empty queue name
// meaning the channel's last declared queue, and consumers cancelled by a queue's deletion.
// Expectations are RabbitMQ 3.10's observed behaviour; texts are exact.

import t from 'tap';
import { broker } from './lib/broker.js';
import { amqplibConnect, type Teardown, within } from './lib/cases.js';
import { M } from './lib/methods.js';
import { drain, Scratch } from './lib/scratch.js';
import {
  ALL_CAPABILITIES,
  type Channel,
  type ExpectedClose,
  expectError,
  queueGone,
  Session,
  type SessionOptions,
} from './lib/session.js';

const b = await broker();

const VHOST = "in vhost '/'";
const noQueue = (name: string): string => `NOT_FOUND - no queue '${name}' ${VHOST}`;
const locked = (name: string): string =>
  `RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '${name}' ${VHOST}. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.`;
const inequivalent = (arg: string, queue: string, detail: string): string =>
  `PRECONDITION_FAILED - inequivalent arg '${arg}' for queue '${queue}' ${VHOST}: ${detail}`;
const NO_PREVIOUS = 'NOT_FOUND - no previously declared queue';

const DECLARE = { classId: 50, methodId: 10 };
const DELETE = { classId: 50, methodId: 40 };

async function open(
  t: Teardown,
  options: SessionOptions = {},
): Promise<{ s: Session; ch: Channel; names: Scratch }> {
  const s = await Session.open(t, options);
  return { s, ch: await s.channel(), names: Scratch.for(t, 'queue') };
}

t.test('queue.declare', async (t) => {
  t.test('server-named queues: amq.gen- and 22 base64url characters, distinct, zero counts', async (t) => {
    const { ch, names } = await open(t);
    const first = await ch.queueDeclare('', { exclusive: true });
    const second = await ch.queueDeclare('', { exclusive: false });
    names.keepQueue(second.queue);
    for (const { queue } of [first, second]) {
      t.match(queue, /^amq\.gen-/, `${queue}: the amq.gen- prefix`);
      t.match(queue, /^amq\.gen-[A-Za-z0-9_-]{22}$/, `${queue}: then 22 base64url characters, as RabbitMQ's`);
    }
    t.not(first.queue, second.queue, 'two names');
    t.same([first.messageCount, first.consumerCount], [0, 0], 'counts');
    await ch.queueDeclare(second.queue, { passive: true });
    await ch.queueDelete(second.queue);
  });

  t.test('passive declare of a missing queue: 404 NOT_FOUND', async (t) => {
    const { s, names } = await open(t);
    const q = names.queue('missing');
    await expectError(
      t,
      s.withChannel((c) => c.queueDeclare(q, { passive: true })),
      'channel',
      {
        replyCode: 404,
        replyText: noQueue(q),
        ...DECLARE,
      },
    );
  });

  t.test('a reply text longer than 255 octets is cut to 252 octets and "..."', async (t) => {
    const { s } = await open(t);
    const q = `warren-conformance.${'x'.repeat(220)}`;
    const err = await expectError(
      t,
      s.withChannel((c) => c.queueDeclare(q, { passive: true })),
      'channel',
      {
        replyCode: 404,
        replyText: noQueue(q),
        ...DECLARE,
      },
    );
    t.equal(err?.close.replyText, `${noQueue(q).slice(0, 252)}...`, 'the text as sent');
  });

  t.test('passive declare ignores flags and arguments', async (t) => {
    const { ch, names } = await open(t);
    const q = names.queue();
    await ch.queueDeclare(q, { arguments: { 'x-queue-mode': 'lazy' } });
    const ok = await ch.queueDeclare(q, {
      passive: true,
      durable: true,
      autoDelete: true,
      arguments: { 'x-queue-mode': 'default' },
    });
    t.same(ok, { queue: q, messageCount: 0, consumerCount: 0 });
  });

  t.test('declare of an amq.* name: 403 ACCESS_REFUSED reserved prefix', async (t) => {
    const { s, names } = await open(t);
    const q = `amq.${names.queue()}`;
    await expectError(
      t,
      s.withChannel((c) => c.queueDeclare(q)),
      'channel',
      {
        replyCode: 403,
        replyText: `ACCESS_REFUSED - queue name '${q}' contains reserved prefix 'amq.*'`,
        ...DECLARE,
      },
    );
    await expectError(
      t,
      s.withChannel((c) => c.queueDeclare(q, { passive: true })),
      'channel',
      {
        replyCode: 404,
        replyText: noQueue(q),
        ...DECLARE,
      },
    );
  });

  t.test(
    'durable: identical redeclare accepted; non-durable redeclare 406 inequivalent arg durable',
    async (t) => {
      const { s, ch, names } = await open(t);
      const durable = names.queue('durable');
      const transient = names.queue('transient');
      await ch.queueDeclare(durable, { durable: true });
      await ch.queueDeclare(durable, { durable: true });
      await ch.queueDeclare(transient);
      await expectError(
        t,
        s.withChannel((c) => c.queueDeclare(durable)),
        'channel',
        {
          replyCode: 406,
          replyText: inequivalent('durable', durable, "received 'false' but current is 'true'"),
          ...DECLARE,
        },
      );
      await expectError(
        t,
        s.withChannel((c) => c.queueDeclare(transient, { durable: true })),
        'channel',
        {
          replyCode: 406,
          replyText: inequivalent('durable', transient, "received 'true' but current is 'false'"),
          ...DECLARE,
        },
      );
    },
  );

  t.test('redeclare with another auto-delete flag: 406 inequivalent arg auto_delete', async (t) => {
    const { s, ch, names } = await open(t);
    const q = names.queue();
    await ch.queueDeclare(q);
    await expectError(
      t,
      s.withChannel((c) => c.queueDeclare(q, { autoDelete: true })),
      'channel',
      {
        replyCode: 406,
        replyText: inequivalent('auto_delete', q, "received 'true' but current is 'false'"),
        ...DECLARE,
      },
    );
  });

  t.test('redeclare with another exclusive flag on the same connection: 405 RESOURCE_LOCKED', async (t) => {
    const { s, ch, names } = await open(t);
    const shared = names.queue('shared');
    const exclusive = names.queue('exclusive');
    await ch.queueDeclare(shared);
    await ch.queueDeclare(exclusive, { exclusive: true });
    await expectError(
      t,
      s.withChannel((c) => c.queueDeclare(shared, { exclusive: true })),
      'channel',
      {
        replyCode: 405,
        replyText: locked(shared),
        ...DECLARE,
      },
    );
    await expectError(
      t,
      s.withChannel((c) => c.queueDeclare(exclusive)),
      'channel',
      {
        replyCode: 405,
        replyText: locked(exclusive),
        ...DECLARE,
      },
    );
  });

  t.test('x-queue-mode equivalence: 406 inequivalent arg for a missing, other or added value', async (t) => {
    const { s, ch, names } = await open(t);
    const lazy = names.queue('lazy');
    const plain = names.queue('plain');
    await ch.queueDeclare(lazy, { arguments: { 'x-queue-mode': 'lazy' } });
    await ch.queueDeclare(lazy, { arguments: { 'x-queue-mode': 'lazy' } });
    await ch.queueDeclare(plain);
    const cases: [string, Record<string, string>, string][] = [
      [lazy, {}, "received none but current is the value 'lazy' of type 'longstr'"],
      [lazy, { 'x-queue-mode': 'default' }, "received 'default' but current is 'lazy'"],
      [plain, { 'x-queue-mode': 'lazy' }, "received the value 'lazy' of type 'longstr' but current is none"],
    ];
    for (const [q, args, detail] of cases) {
      await expectError(
        t,
        s.withChannel((c) => c.queueDeclare(q, { arguments: args })),
        'channel',
        {
          replyCode: 406,
          replyText: inequivalent('x-queue-mode', q, detail),
          ...DECLARE,
        },
      );
    }
  });

  t.test('an x-queue-mode other than default or lazy: 406 invalid arg', async (t) => {
    const { s, names } = await open(t);
    const q = names.queue();
    await expectError(
      t,
      s.withChannel((c) => c.queueDeclare(q, { arguments: { 'x-queue-mode': 'bogus' } })),
      'channel',
      {
        replyCode: 406,
        replyText: `PRECONDITION_FAILED - invalid arg 'x-queue-mode' for queue '${q}' ${VHOST}: "unsupported queue mode 'bogus'"`,
        ...DECLARE,
      },
    );
  });

  t.test('arguments RabbitMQ does not know are not compared on redeclare', async (t) => {
    const { ch, names } = await open(t);
    const q = names.queue();
    await ch.queueDeclare(q, { arguments: { 'warren-conformance': 'one' } });
    await ch.queueDeclare(q, { arguments: { 'warren-conformance': 'two', other: 1 } });
    await ch.queueDeclare(q);
    t.pass('declare-ok three times');
  });

  t.test('declare-ok counts ready messages (not unacked ones) and consumers', async (t) => {
    const { s, ch, names } = await open(t);
    const q = names.queue();
    t.same(await ch.queueDeclare(q), { queue: q, messageCount: 0, consumerCount: 0 }, 'new queue');
    const publisher = await s.channel();
    await publisher.confirmSelect();
    for (const body of ['a', 'b', 'c']) await publisher.publish('', q, body);
    await publisher.waitForConfirms();
    t.same(await ch.queueDeclare(q), { queue: q, messageCount: 3, consumerCount: 0 }, 'redeclare: 3 ready');
    const consumer = await s.channel();
    await consumer.qos(1);
    await consumer.consume(q);
    const first = await consumer.nextDelivery();
    t.equal(first.body.toString(), 'a', 'one message delivered under prefetch 1');
    t.same(
      await ch.queueDeclare(q, { passive: true }),
      { queue: q, messageCount: 2, consumerCount: 1 },
      'passive: 2 ready, 1 consumer',
    );
  });
});

t.test('exclusive queues', async (t) => {
  t.test('used from another connection: 405 RESOURCE_LOCKED for every queue method', async (t) => {
    const { ch, names } = await open(t);
    const q = names.queue();
    await ch.queueDeclare(q, { exclusive: true });
    await ch.queueBind(q, 'amq.direct', q);
    const other = await Session.open(t);
    const refused: [string, (c: Channel) => Promise<unknown>, number, number][] = [
      ['exclusive declare', (c) => c.queueDeclare(q, { exclusive: true }), 50, 10],
      ['declare', (c) => c.queueDeclare(q), 50, 10],
      ['passive declare', (c) => c.queueDeclare(q, { passive: true }), 50, 10],
      ['bind', (c) => c.queueBind(q, 'amq.direct', 'other'), 50, 20],
      ['purge', (c) => c.queuePurge(q), 50, 30],
      ['delete', (c) => c.queueDelete(q), 50, 40],
      ['unbind of its binding', (c) => c.queueUnbind(q, 'amq.direct', q), 50, 50],
      ['consume', (c) => c.consume(q), 60, 20],
      ['get', (c) => c.get(q), 60, 70],
    ];
    for (const [what, op, classId, methodId] of refused) {
      const err = await expectError(t, other.withChannel(op), 'channel', {
        replyCode: 405,
        replyText: locked(q),
        classId,
        methodId,
      });
      if (!err) t.fail(`${what} was not refused`);
    }
  });

  t.test('another connection may publish to it and unbind what is not bound', async (t) => {
    const { ch, names } = await open(t);
    const q = names.queue();
    await ch.queueDeclare(q, { exclusive: true });
    const other = await Session.open(t);
    const oc = await other.channel();
    await oc.queueUnbind(q, 'amq.direct', 'never-bound');
    await oc.confirmSelect();
    await oc.publish('', q, 'from elsewhere');
    await oc.waitForConfirms();
    t.same(await drain(ch, q), ['from elsewhere']);
  });

  t.test('the owner may use it from any of its channels', async (t) => {
    const { s, ch, names } = await open(t);
    const q = names.queue();
    await ch.queueDeclare(q, { exclusive: true });
    const second = await s.channel();
    t.same(await second.queueDeclare(q, { exclusive: true }), {
      queue: q,
      messageCount: 0,
      consumerCount: 0,
    });
    await second.queueDeclare(q, { passive: true });
    await second.consume(q);
  });

  t.test('deleted when its connection closes', async (t) => {
    const owner = await Session.open(t);
    const names = Scratch.for(t, 'queue');
    const q = names.queue();
    await (await owner.channel()).queueDeclare(q, { exclusive: true });
    const observer = await Session.open(t);
    await owner.close();
    const gone = await queueGone(observer, q);
    t.equal(gone.close.replyText, noQueue(q), '404 once the owner has closed');
  });

  t.test('deleted when its connection drops without a close', async (t) => {
    const owner = await Session.open(t);
    const names = Scratch.for(t, 'queue');
    const q = names.queue();
    await (await owner.channel()).queueDeclare(q, { exclusive: true });
    const observer = await Session.open(t);
    owner.destroy();
    const gone = await queueGone(observer, q);
    t.equal(gone.close.replyText, noQueue(q), '404 once the owner is gone');
  });
});

t.test('auto-delete queues', async (t) => {
  t.test('deleted when its last consumer is cancelled', async (t) => {
    const { s, ch, names } = await open(t);
    const q = names.queue();
    await ch.queueDeclare(q, { autoDelete: true });
    const first = await ch.consume(q);
    const second = await ch.consume(q);
    await ch.cancel(first);
    t.same(
      await ch.queueDeclare(q, { passive: true }),
      { queue: q, messageCount: 0, consumerCount: 1 },
      'one left',
    );
    await ch.cancel(second);
    const gone = await queueGone(s, q);
    t.equal(gone.close.replyText, noQueue(q), 'gone after the last cancel');
  });

  t.test('deleted when the channel of its last consumer closes', async (t) => {
    const { s, ch, names } = await open(t);
    const q = names.queue();
    await ch.queueDeclare(q, { autoDelete: true });
    const consumer = await s.channel();
    await consumer.consume(q);
    await consumer.close();
    const gone = await queueGone(s, q);
    t.equal(gone.close.replyText, noQueue(q), 'gone after the channel closed');
  });

  t.test('kept while it never had a consumer', async (t) => {
    const { ch, names } = await open(t);
    const q = names.queue();
    await ch.queueDeclare(q, { autoDelete: true });
    await ch.publish('', q, 'kept');
    const got = await ch.get(q, false);
    t.equal(got?.body.toString(), 'kept', 'basic.get works on it');
    if (got) await ch.ack(got.deliveryTag);
    t.same(await ch.queueDeclare(q, { passive: true }), { queue: q, messageCount: 0, consumerCount: 0 });
  });
});

t.test('bind, unbind and purge', async (t) => {
  t.test('queue.bind routes, queue.unbind stops it, unbinding again is accepted', async (t) => {
    const { ch, names } = await open(t);
    const x = names.queue('exchange');
    await ch.exchangeDeclare(x, 'direct');
    const { queue } = await ch.queueDeclare('', { exclusive: true });
    await ch.queueBind(queue, x, 'k');
    await ch.publish(x, 'k', 'bound');
    t.same(await drain(ch, queue), ['bound']);
    await ch.queueUnbind(queue, x, 'k');
    await ch.queueBind(queue, x, 'other');
    await ch.publish(x, 'k', 'unbound');
    t.same(await drain(ch, queue), [], 'nothing after unbind');
    await ch.queueUnbind(queue, x, 'k');
    t.pass('second unbind-ok');
  });

  t.test('queue.purge returns the number of ready messages; unacked ones stay', async (t) => {
    const { ch } = await open(t);
    const { queue } = await ch.queueDeclare('', { exclusive: true });
    for (const body of ['a', 'b', 'c', 'd']) await ch.publish('', queue, body);
    const unacked = await ch.get(queue, false);
    t.equal(await ch.queuePurge(queue), 3, 'purge-ok message count');
    t.equal(await ch.queuePurge(queue), 0, 'purge of an empty queue');
    if (unacked) await ch.reject(unacked.deliveryTag, true);
    const again = await ch.get(queue, true);
    t.same([again?.body.toString(), again?.redelivered], ['a', true], 'the unacked message survived');
  });

  t.test('queue.purge of a missing queue: 404 NOT_FOUND', async (t) => {
    const { s, names } = await open(t);
    const q = names.queue('missing');
    await expectError(
      t,
      s.withChannel((c) => c.queuePurge(q)),
      'channel',
      {
        replyCode: 404,
        replyText: noQueue(q),
        classId: 50,
        methodId: 30,
      },
    );
  });
});

t.test('queue.delete', async (t) => {
  t.test('delete-ok counts the ready messages', async (t) => {
    const { ch, names } = await open(t);
    const q = names.queue();
    await ch.queueDeclare(q);
    for (const body of ['a', 'b', 'c']) await ch.publish('', q, body);
    await ch.get(q, false);
    t.equal(await ch.queueDelete(q), 2, 'two ready, one unacked');
  });

  t.test(
    'delete of a missing queue is accepted with count 0, with and without if-unused/if-empty',
    async (t) => {
      const { ch, names } = await open(t);
      t.equal(await ch.queueDelete(names.queue('missing')), 0);
      t.equal(await ch.queueDelete(names.queue('missing'), { ifUnused: true, ifEmpty: true }), 0);
    },
  );

  t.test('if-unused with a consumer: 406 in use', async (t) => {
    const { s, ch, names } = await open(t);
    const q = names.queue();
    await ch.queueDeclare(q);
    await ch.consume(q);
    await expectError(
      t,
      s.withChannel((c) => c.queueDelete(q, { ifUnused: true })),
      'channel',
      {
        replyCode: 406,
        replyText: `PRECONDITION_FAILED - queue '${q}' ${VHOST} in use`,
        ...DELETE,
      },
    );
  });

  t.test('if-empty with ready messages: 406 not empty (also with if-unused and a consumer)', async (t) => {
    const { s, ch, names } = await open(t);
    const q = names.queue();
    await ch.queueDeclare(q);
    await ch.publish('', q, 'ready');
    const notEmpty: ExpectedClose = {
      replyCode: 406,
      replyText: `PRECONDITION_FAILED - queue '${q}' ${VHOST} not empty`,
      ...DELETE,
    };
    await expectError(
      t,
      s.withChannel((c) => c.queueDelete(q, { ifEmpty: true })),
      'channel',
      notEmpty,
    );
    const consumer = await s.channel();
    await consumer.qos(1);
    await consumer.publish('', q, 'second');
    await consumer.consume(q);
    await consumer.nextDelivery();
    await expectError(
      t,
      s.withChannel((c) => c.queueDelete(q, { ifEmpty: true, ifUnused: true })),
      'channel',
      notEmpty,
    );
  });

  t.test('if-empty counts ready messages only: a queue with only unacked ones is deleted', async (t) => {
    const { s, ch, names } = await open(t);
    const q = names.queue();
    await ch.queueDeclare(q);
    await ch.publish('', q, 'taken');
    const got = await ch.get(q, false);
    t.ok(got, 'basic.get-ok');
    t.equal(await ch.queueDelete(q, { ifEmpty: true }), 0, 'delete-ok, count 0');
    const gone = await queueGone(s, q);
    t.equal(gone.close.replyCode, 404);
  });
});

t.test('the empty queue name', async (t) => {
  t.test(
    "means the channel's last declared queue in bind, get, purge, consume, unbind and delete",
    async (t) => {
      const { ch } = await open(t);
      const { queue } = await ch.queueDeclare('', { exclusive: true });
      await ch.queueBind('', 'amq.direct', queue);
      await ch.publish('amq.direct', queue, 'one');
      await ch.publish('amq.direct', queue, 'two');
      const got = await ch.get('', true);
      t.equal(got?.body.toString(), 'one', 'basic.get');
      t.equal(await ch.queuePurge(''), 1, 'queue.purge');
      await ch.queueUnbind('', 'amq.direct', queue);
      await ch.publish('amq.direct', queue, 'unbound');
      const tag = await ch.consume('');
      await ch.cancel(tag);
      t.equal(await ch.queueDelete(''), 0, 'queue.delete');
      t.equal((await ch.queueDeclare('', { exclusive: true })).queue.startsWith('amq.gen-'), true);
    },
  );

  t.test('a passive declare counts as the last declared queue', async (t) => {
    const { s, ch } = await open(t);
    const { queue } = await ch.queueDeclare('', { exclusive: true });
    const other = await s.channel();
    await other.queueDeclare(queue, { passive: true });
    await other.publish('', queue, 'x');
    t.equal(await other.queuePurge(''), 1, "purge of '' on the channel that declared it passively");
  });

  t.test('passive declare of the empty name: 404 no queue, even after a declare', async (t) => {
    const { s } = await open(t);
    await expectError(
      t,
      s.withChannel(async (c) => {
        await c.queueDeclare('', { exclusive: true });
        await c.queueDeclare('', { passive: true });
      }),
      'channel',
      { replyCode: 404, replyText: noQueue(''), ...DECLARE },
    );
  });

  t.test('with no queue declared on the channel: 404 no previously declared queue', async (t) => {
    const { s, ch } = await open(t);
    await ch.queueDeclare('', { exclusive: true });
    const ops: [string, (c: Channel) => Promise<unknown>, number, number][] = [
      ['queue.bind', (c) => c.queueBind('', 'amq.direct', 'k'), 50, 20],
      ['queue.unbind', (c) => c.queueUnbind('', 'amq.direct', 'k'), 50, 50],
      ['queue.purge', (c) => c.queuePurge(''), 50, 30],
      ['queue.delete', (c) => c.queueDelete(''), 50, 40],
      ['basic.consume', (c) => c.consume(''), 60, 20],
      ['basic.get', (c) => c.get(''), 60, 70],
    ];
    for (const [, op, classId, methodId] of ops) {
      await expectError(t, s.withChannel(op), 'channel', {
        replyCode: 404,
        replyText: NO_PREVIOUS,
        classId,
        methodId,
      });
    }
  });

  t.test('after the last declared queue was deleted: 404 naming that queue', async (t) => {
    const { s, names } = await open(t);
    const q = names.queue();
    await expectError(
      t,
      s.withChannel(async (c) => {
        await c.queueDeclare(q, { exclusive: true });
        await c.queueDelete(q);
        await c.queuePurge('');
      }),
      'channel',
      { replyCode: 404, replyText: noQueue(q), classId: 50, methodId: 30 },
    );
  });
});

t.test('consumers of a deleted queue', async (t) => {
  t.test('consumer_cancel_notify announced: basic.cancel with the consumer tag, channel kept', async (t) => {
    const { s, ch, names } = await open(t, { capabilities: ALL_CAPABILITIES });
    const q = names.queue();
    await ch.queueDeclare(q);
    const tag = await ch.consume(q, { consumerTag: 'warren-conformance-tag' });
    const other = await ch.consume(q);
    const deleter = await s.channel();
    t.equal(await deleter.queueDelete(q), 0, 'delete-ok');
    const cancels = [await ch.take(M.basicCancel), await ch.take(M.basicCancel)].map((m) => ({
      tag: m.args.subarray(1, 1 + m.args[0]).toString(),
      noWait: m.args[1 + m.args[0]] === 1,
    }));
    t.same(
      cancels.sort((x, y) => x.tag.localeCompare(y.tag)),
      [
        { tag: other, noWait: true },
        { tag, noWait: true },
      ].sort((x, y) => x.tag.localeCompare(y.tag)),
      'one basic.cancel per consumer, no-wait set',
    );
    const { queue } = await ch.queueDeclare('', { exclusive: true });
    t.match(queue, /^amq\.gen-/, 'the channel still works');
  });

  t.test('consumer_cancel_notify not announced: no basic.cancel, channel kept', async (t) => {
    const { s, ch, names } = await open(t);
    const q = names.queue();
    await ch.queueDeclare(q);
    await ch.consume(q);
    const deleter = await s.channel();
    await deleter.queueDelete(q);
    await ch.queueDeclare('', { exclusive: true });
    t.same(ch.received(M.basicCancel), [], 'no basic.cancel by the next round trip');
  });

  t.test('amqplib consumer gets null when its queue is deleted', async (t) => {
    const names = Scratch.for(t, 'queue');
    const conn = await amqplibConnect(t, b.url);
    conn.on('error', () => {});
    const ch = await within(conn.createChannel(), 'channel.open-ok');
    const q = names.queue();
    await within(ch.assertQueue(q, { durable: false }), 'queue.declare-ok');
    let onCancel: (msg: null) => void = () => {};
    const cancelled = new Promise<null>((resolve) => {
      onCancel = resolve;
    });
    await within(
      ch.consume(q, (msg) => {
        if (msg === null) onCancel(msg);
      }),
      'basic.consume-ok',
    );
    const admin = await within(conn.createChannel(), 'channel.open-ok');
    await within(admin.deleteQueue(q), 'queue.delete-ok');
    t.equal(await within(cancelled, 'the consumer callback with null'), null);
  });
});

t.test('a backlog of 50,000 persistent messages in a durable queue', async (t) => {
  t.test('delivers every message, in order, with its properties', async (t) => {
    const names = Scratch.for(t, 'queue');
    const conn = await amqplibConnect(t, b.url);
    conn.on('error', () => {});
    const ch = await within(conn.createConfirmChannel(), 'channel.open-ok');
    const q = names.queue('backlog');
    await within(ch.assertQueue(q, { durable: true }), 'queue.declare-ok');
    const n = 50_000;
    for (let i = 0; i < n; i++) {
      ch.sendToQueue(q, Buffer.from(`m${i}`), { persistent: true, headers: { i } });
    }
    await within(ch.waitForConfirms(), 'every publish confirmed', 60_000);
    t.equal((await within(ch.checkQueue(q), 'queue.declare-ok')).messageCount, n, 'all queued');
    const bodies: string[] = [];
    let lastHeaders: unknown;
    let done: () => void = () => {};
    const all = new Promise<void>((resolve) => {
      done = resolve;
    });
    await within(ch.prefetch(500), 'basic.qos-ok');
    await within(
      ch.consume(q, (msg) => {
        if (!msg) return;
        bodies.push(msg.content.toString());
        lastHeaders = msg.properties.headers;
        ch.ack(msg);
        if (bodies.length === n) done();
      }),
      'basic.consume-ok',
    );
    await within(all, `${n} deliveries`, 60_000);
    t.equal(bodies.length, n, 'every message arrived');
    t.ok(
      bodies.every((body, i) => body === `m${i}`),
      'in publish order',
    );
    t.same(lastHeaders, { i: n - 1 }, 'the last one with its headers');
    t.equal((await within(ch.checkQueue(q), 'queue.declare-ok')).messageCount, 0, 'none left');
  });
});
