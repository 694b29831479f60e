// Exchanges: declare, redeclare, passive, delete, the predeclared exchanges and their reserved names,
// exchange-to-exchange bindings, auto-delete, internal exchanges, alternate exchanges and routing by
// each exchange type. Expectations are RabbitMQ 3.10's observed behaviour; texts are exact.

import t from 'tap';
import { broker } from './lib/broker.js';
import { amqplibConnect, type Teardown, within } from './lib/cases.js';
import { M } from './lib/methods.js';
import { drain, Scratch } from './lib/scratch.js';
import { type Channel, expectError, Session } from './lib/session.js';
import type { FieldTable } from './lib/wire.js';

const b = await broker();

const VHOST = "in vhost '/'";
const DEFAULT_EXCHANGE = 'ACCESS_REFUSED - operation not permitted on the default exchange';
const noExchange = (name: string): string => `NOT_FOUND - no exchange '${name}' ${VHOST}`;
const inequivalent = (arg: string, exchange: string, received: string, current: string): string =>
  `PRECONDITION_FAILED - inequivalent arg '${arg}' for exchange '${exchange}' ${VHOST}: received '${received}' but current is '${current}'`;
const inUse = (exchange: string): string => `PRECONDITION_FAILED - exchange '${exchange}' ${VHOST} in use`;

const DECLARE = { classId: 40, methodId: 10 };
const DELETE = { classId: 40, methodId: 20 };

async function open(t: Teardown): Promise<{ s: Session; ch: Channel; names: Scratch }> {
  const s = await Session.open(t);
  return { s, ch: await s.channel(), names: Scratch.for(t, 'exchange') };
}

/** A server-named exclusive queue bound to `exchange`. */
async function boundQueue(
  ch: Channel,
  exchange: string,
  routingKey = '',
  args: FieldTable = {},
): Promise<string> {
  const { queue } = await ch.queueDeclare('', { exclusive: true });
  await ch.queueBind(queue, exchange, routingKey, args);
  return queue;
}

t.test('exchange.declare', async (t) => {
  for (const type of ['direct', 'fanout', 'topic', 'headers']) {
    t.test(
      `${type}: plain, durable, auto-delete and internal; passive and identical redeclare`,
      async (t) => {
        const { ch, names } = await open(t);
        const variants = [
          {},
          { durable: true },
          { autoDelete: true },
          { internal: true },
          { durable: true, autoDelete: true, internal: true },
        ];
        for (const flags of variants) {
          const x = names.exchange(type);
          await ch.exchangeDeclare(x, type, flags);
          await ch.exchangeDeclare(x, type, flags);
          await ch.exchangeDeclare(x, type, { passive: true });
          await ch.exchangeDelete(x);
          t.pass(`${type} ${JSON.stringify(flags)}: declare-ok, redeclare-ok, passive declare-ok, delete-ok`);
        }
      },
    );
  }

  t.test('arguments: unknown ones are stored and not compared on redeclare', async (t) => {
    const { ch, names } = await open(t);
    const x = names.exchange();
    await ch.exchangeDeclare(x, 'direct', { arguments: { 'x-warren-conformance': 'one', n: 1 } });
    await ch.exchangeDeclare(x, 'direct', { arguments: { 'x-warren-conformance': 'two' } });
    await ch.exchangeDeclare(x, 'direct');
    t.pass('redeclares with other unknown arguments are accepted');
  });

  t.test('redeclare with a different type: 406 inequivalent arg type', async (t) => {
    const { s, ch, names } = await open(t);
    const x = names.exchange();
    await ch.exchangeDeclare(x, 'direct');
    await expectError(
      t,
      s.withChannel((c) => c.exchangeDeclare(x, 'fanout')),
      'channel',
      {
        replyCode: 406,
        replyText: inequivalent('type', x, 'fanout', 'direct'),
        ...DECLARE,
      },
    );
    await ch.exchangeDeclare(x, 'direct', { passive: true });
    t.pass('the exchange is unchanged and the first channel still open');
  });

  for (const [flag, arg] of [
    ['durable', 'durable'],
    ['autoDelete', 'auto_delete'],
    ['internal', 'internal'],
  ] as const) {
    t.test(`redeclare with a different ${flag} flag: 406 inequivalent arg ${arg}, both ways`, async (t) => {
      const { s, ch, names } = await open(t);
      const plain = names.exchange();
      const flagged = names.exchange();
      await ch.exchangeDeclare(plain, 'topic');
      await ch.exchangeDeclare(flagged, 'topic', { [flag]: true });
      await expectError(
        t,
        s.withChannel((c) => c.exchangeDeclare(plain, 'topic', { [flag]: true })),
        'channel',
        {
          replyCode: 406,
          replyText: inequivalent(arg, plain, 'true', 'false'),
          ...DECLARE,
        },
      );
      await expectError(
        t,
        s.withChannel((c) => c.exchangeDeclare(flagged, 'topic')),
        'channel',
        {
          replyCode: 406,
          replyText: inequivalent(arg, flagged, 'false', 'true'),
          ...DECLARE,
        },
      );
    });
  }

  t.test('redeclare adding an alternate-exchange argument: 406 inequivalent arg', async (t) => {
    const { s, ch, names } = await open(t);
    const x = names.exchange();
    await ch.exchangeDeclare(x, 'direct');
    await expectError(
      t,
      s.withChannel((c) => c.exchangeDeclare(x, 'direct', { arguments: { 'alternate-exchange': 'ae' } })),
      'channel',
      {
        replyCode: 406,
        replyText: `PRECONDITION_FAILED - inequivalent arg 'alternate-exchange' for exchange '${x}' ${VHOST}: received the value 'ae' of type 'longstr' but current is none`,
        ...DECLARE,
      },
    );
  });

  t.test('passive declare ignores type, flags and arguments', async (t) => {
    const { ch, names } = await open(t);
    const x = names.exchange();
    await ch.exchangeDeclare(x, 'direct');
    await ch.exchangeDeclare(x, 'fanout', {
      passive: true,
      durable: true,
      autoDelete: true,
      internal: true,
      arguments: { 'alternate-exchange': 'elsewhere' },
    });
    await ch.exchangeDeclare(x, 'no-such-type', { passive: true });
    t.pass('declare-ok');
  });

  t.test('passive declare of a missing exchange: 404 NOT_FOUND', async (t) => {
    const { s, names } = await open(t);
    const x = names.exchange('missing');
    await expectError(
      t,
      s.withChannel((c) => c.exchangeDeclare(x, 'direct', { passive: true })),
      'channel',
      {
        replyCode: 404,
        replyText: noExchange(x),
        ...DECLARE,
      },
    );
  });

  t.test('unknown exchange type: connection error 503 COMMAND_INVALID', async (t) => {
    const { s, names } = await open(t);
    const x = names.exchange();
    await expectError(
      t,
      s.withChannel((c) => c.exchangeDeclare(x, 'x-no-such-type')),
      'connection',
      {
        replyCode: 503,
        replyText: "COMMAND_INVALID - unknown exchange type 'x-no-such-type'",
        ...DECLARE,
      },
    );
  });

  t.test('unknown exchange type in a passive declare of a missing exchange: 404', async (t) => {
    const { s, names } = await open(t);
    const x = names.exchange('missing');
    await expectError(
      t,
      s.withChannel((c) => c.exchangeDeclare(x, 'x-no-such-type', { passive: true })),
      'channel',
      { replyCode: 404, replyText: noExchange(x), ...DECLARE },
    );
  });
});

t.test('predeclared exchanges and reserved names', async (t) => {
  t.test('amq.direct, amq.fanout, amq.topic, amq.headers and amq.match exist', async (t) => {
    const { ch } = await open(t);
    for (const x of ['amq.direct', 'amq.fanout', 'amq.topic', 'amq.headers', 'amq.match']) {
      await ch.exchangeDeclare(x, 'direct', { passive: true });
      t.pass(`${x}: passive declare-ok`);
    }
  });

  t.test('the default exchange routes to the queue named by the routing key', async (t) => {
    const { ch } = await open(t);
    const { queue } = await ch.queueDeclare('', { exclusive: true });
    await ch.publish('', queue, 'to the default exchange');
    t.same(await drain(ch, queue), ['to the default exchange']);
  });

  t.test('passive declare of the default exchange: 403 ACCESS_REFUSED', async (t) => {
    const { s } = await open(t);
    await expectError(
      t,
      s.withChannel((c) => c.exchangeDeclare('', 'direct', { passive: true })),
      'channel',
      {
        replyCode: 403,
        replyText: DEFAULT_EXCHANGE,
        ...DECLARE,
      },
    );
  });

  t.test('declare of the default exchange: 403 ACCESS_REFUSED', async (t) => {
    const { s } = await open(t);
    await expectError(
      t,
      s.withChannel((c) => c.exchangeDeclare('', 'direct', { durable: true })),
      'channel',
      {
        replyCode: 403,
        replyText: DEFAULT_EXCHANGE,
        ...DECLARE,
      },
    );
  });

  t.test('redeclare of an amq.* exchange with its own type and flags is accepted', async (t) => {
    const { ch } = await open(t);
    for (const [x, type] of [
      ['amq.direct', 'direct'],
      ['amq.fanout', 'fanout'],
      ['amq.topic', 'topic'],
      ['amq.headers', 'headers'],
      ['amq.match', 'headers'],
    ]) {
      await ch.exchangeDeclare(x, type, { durable: true });
      t.pass(`${x} ${type} durable: declare-ok`);
    }
  });

  t.test('redeclare of amq.direct non-durable: 406 inequivalent arg durable, not 403', async (t) => {
    const { s } = await open(t);
    await expectError(
      t,
      s.withChannel((c) => c.exchangeDeclare('amq.direct', 'direct')),
      'channel',
      {
        replyCode: 406,
        replyText: inequivalent('durable', 'amq.direct', 'false', 'true'),
        ...DECLARE,
      },
    );
  });

  t.test('redeclare of amq.direct as fanout: 406 inequivalent arg type', async (t) => {
    const { s } = await open(t);
    await expectError(
      t,
      s.withChannel((c) => c.exchangeDeclare('amq.direct', 'fanout', { durable: true })),
      'channel',
      { replyCode: 406, replyText: inequivalent('type', 'amq.direct', 'fanout', 'direct'), ...DECLARE },
    );
  });

  t.test('declare of a new amq.* name: 403 ACCESS_REFUSED reserved prefix', async (t) => {
    const { s, names } = await open(t);
    const x = `amq.${names.exchange()}`;
    await expectError(
      t,
      s.withChannel((c) => c.exchangeDeclare(x, 'direct')),
      'channel',
      {
        replyCode: 403,
        replyText: `ACCESS_REFUSED - exchange name '${x}' contains reserved prefix 'amq.*'`,
        ...DECLARE,
      },
    );
    await expectError(
      t,
      s.withChannel((c) => c.exchangeDeclare(x, 'direct', { passive: true })),
      'channel',
      {
        replyCode: 404,
        replyText: noExchange(x),
        ...DECLARE,
      },
    );
  });

  t.test('delete of amq.direct: 403 ACCESS_REFUSED system exchange', async (t) => {
    const { s, ch } = await open(t);
    await expectError(
      t,
      s.withChannel((c) => c.exchangeDelete('amq.direct')),
      'channel',
      {
        replyCode: 403,
        replyText: `ACCESS_REFUSED - deletion of system exchange 'amq.direct' ${VHOST} not allowed`,
        ...DELETE,
      },
    );
    await ch.exchangeDeclare('amq.direct', 'direct', { passive: true });
    t.pass('amq.direct is still there');
  });

  t.test('delete of a missing amq.* name: 403 ACCESS_REFUSED system exchange', async (t) => {
    const { s } = await open(t);
    const x = 'amq.warren-conformance-missing';
    await expectError(
      t,
      s.withChannel((c) => c.exchangeDelete(x)),
      'channel',
      {
        replyCode: 403,
        replyText: `ACCESS_REFUSED - deletion of system exchange '${x}' ${VHOST} not allowed`,
        ...DELETE,
      },
    );
  });

  t.test('delete of the default exchange: 403 ACCESS_REFUSED', async (t) => {
    const { s } = await open(t);
    await expectError(
      t,
      s.withChannel((c) => c.exchangeDelete('')),
      'channel',
      {
        replyCode: 403,
        replyText: DEFAULT_EXCHANGE,
        ...DELETE,
      },
    );
  });

  t.test('bindings to or from the default exchange: 403 ACCESS_REFUSED', async (t) => {
    const { s, ch, names } = await open(t);
    const x = names.exchange();
    await ch.exchangeDeclare(x, 'direct', { autoDelete: true });
    const { queue } = await ch.queueDeclare('', { exclusive: true });
    const refused = (op: (c: Channel) => Promise<void>, classId: number, methodId: number) =>
      expectError(t, s.withChannel(op), 'channel', {
        replyCode: 403,
        replyText: DEFAULT_EXCHANGE,
        classId,
        methodId,
      });
    await refused((c) => c.queueBind(queue, '', queue), 50, 20);
    await refused((c) => c.queueUnbind(queue, '', queue), 50, 50);
    await refused((c) => c.exchangeBind(x, '', 'k'), 40, 30);
    await refused((c) => c.exchangeBind('', x, 'k'), 40, 30);
    await refused((c) => c.exchangeUnbind(x, '', 'k'), 40, 40);
  });
});

t.test('exchange.delete', async (t) => {
  t.test('delete of a missing exchange is accepted, with and without if-unused', async (t) => {
    const { ch, names } = await open(t);
    await ch.exchangeDelete(names.exchange('missing'));
    await ch.exchangeDelete(names.exchange('missing'), { ifUnused: true });
    t.pass('delete-ok twice');
  });

  t.test('if-unused with a queue bound: 406 in use; after unbind it deletes', async (t) => {
    const { s, ch, names } = await open(t);
    const x = names.exchange();
    await ch.exchangeDeclare(x, 'direct');
    const queue = await boundQueue(ch, x, 'k');
    await expectError(
      t,
      s.withChannel((c) => c.exchangeDelete(x, { ifUnused: true })),
      'channel',
      {
        replyCode: 406,
        replyText: inUse(x),
        ...DELETE,
      },
    );
    await ch.queueUnbind(queue, x, 'k');
    await ch.exchangeDelete(x, { ifUnused: true });
    await expectError(
      t,
      s.withChannel((c) => c.exchangeDeclare(x, 'direct', { passive: true })),
      'channel',
      {
        replyCode: 404,
        replyText: noExchange(x),
        ...DECLARE,
      },
    );
  });

  t.test('if-unused: the source of an exchange binding is in use, the destination is not', async (t) => {
    const { s, ch, names } = await open(t);
    const source = names.exchange('source');
    const destination = names.exchange('destination');
    await ch.exchangeDeclare(source, 'fanout');
    await ch.exchangeDeclare(destination, 'fanout');
    await ch.exchangeBind(destination, source, '');
    await expectError(
      t,
      s.withChannel((c) => c.exchangeDelete(source, { ifUnused: true })),
      'channel',
      {
        replyCode: 406,
        replyText: inUse(source),
        ...DELETE,
      },
    );
    await ch.exchangeDelete(destination, { ifUnused: true });
    await ch.exchangeDelete(source, { ifUnused: true });
    t.pass('destination, then source, deleted with if-unused');
  });

  t.test('delete removes the bindings: a redeclared exchange routes nowhere', async (t) => {
    const { ch, names } = await open(t);
    const x = names.exchange();
    await ch.exchangeDeclare(x, 'fanout');
    const queue = await boundQueue(ch, x);
    await ch.exchangeDelete(x);
    await ch.exchangeDeclare(x, 'fanout');
    await ch.publish(x, '', 'after redeclare');
    t.same(await drain(ch, queue), [], 'the queue got nothing');
  });
});

t.test('bindings', async (t) => {
  t.test('queue.bind to a missing exchange or of a missing queue: 404 NOT_FOUND', async (t) => {
    const { s, ch, names } = await open(t);
    const x = names.exchange();
    const missingX = names.exchange('missing');
    const missingQ = names.queue('missing');
    await ch.exchangeDeclare(x, 'direct', { autoDelete: true });
    const { queue } = await ch.queueDeclare('', { exclusive: true });
    const bind = { classId: 50, methodId: 20 };
    await expectError(
      t,
      s.withChannel((c) => c.queueBind(queue, missingX, 'k')),
      'channel',
      {
        replyCode: 404,
        replyText: noExchange(missingX),
        ...bind,
      },
    );
    await expectError(
      t,
      s.withChannel((c) => c.queueBind(missingQ, x, 'k')),
      'channel',
      {
        replyCode: 404,
        replyText: `NOT_FOUND - no queue '${missingQ}' ${VHOST}`,
        ...bind,
      },
    );
    await expectError(
      t,
      s.withChannel((c) => c.queueBind(missingQ, missingX, 'k')),
      'channel',
      {
        replyCode: 404,
        replyText: noExchange(missingX),
        ...bind,
      },
    );
  });

  t.test('exchange.bind with a missing source or destination: 404 NOT_FOUND', async (t) => {
    const { s, ch, names } = await open(t);
    const x = names.exchange();
    const missing = names.exchange('missing');
    await ch.exchangeDeclare(x, 'direct');
    const bind = { classId: 40, methodId: 30 };
    await expectError(
      t,
      s.withChannel((c) => c.exchangeBind(missing, x, 'k')),
      'channel',
      {
        replyCode: 404,
        replyText: noExchange(missing),
        ...bind,
      },
    );
    await expectError(
      t,
      s.withChannel((c) => c.exchangeBind(x, missing, 'k')),
      'channel',
      {
        replyCode: 404,
        replyText: noExchange(missing),
        ...bind,
      },
    );
  });

  t.test('binding twice is accepted and routes once', async (t) => {
    const { ch, names } = await open(t);
    const x = names.exchange();
    await ch.exchangeDeclare(x, 'direct');
    const queue = await boundQueue(ch, x, 'k');
    await ch.queueBind(queue, x, 'k');
    await ch.publish(x, 'k', 'once');
    t.same(await drain(ch, queue), ['once']);
  });

  t.test(
    'unbind of a binding that does not exist is accepted (queue.unbind and exchange.unbind)',
    async (t) => {
      const { ch, names } = await open(t);
      const x = names.exchange();
      const y = names.exchange();
      await ch.exchangeDeclare(x, 'direct');
      await ch.exchangeDeclare(y, 'direct');
      const { queue } = await ch.queueDeclare('', { exclusive: true });
      await ch.queueUnbind(queue, x, 'never-bound');
      await ch.queueUnbind(queue, names.exchange('missing'), 'k');
      await ch.queueUnbind(names.queue('missing'), x, 'k');
      await ch.exchangeUnbind(y, x, 'never-bound');
      await ch.exchangeUnbind(names.exchange('missing'), x, 'k');
      t.pass('unbind-ok for each');
    },
  );

  t.test('exchange.bind routes through the destination exchange; exchange.unbind stops it', async (t) => {
    const { ch, names } = await open(t);
    const source = names.exchange('source');
    const destination = names.exchange('destination');
    await ch.exchangeDeclare(source, 'direct');
    await ch.exchangeDeclare(destination, 'fanout');
    const queue = await boundQueue(ch, destination);
    await ch.exchangeBind(destination, source, 'k');
    await ch.publish(source, 'k', 'routed');
    await ch.publish(source, 'other', 'not routed');
    t.same(await drain(ch, queue), ['routed']);
    await ch.exchangeUnbind(destination, source, 'k');
    await ch.publish(source, 'k', 'after unbind');
    t.same(await drain(ch, queue), [], 'nothing after unbind');
  });

  t.test('exchange binding cycles: each queue gets a message once', async (t) => {
    const { ch, names } = await open(t);
    const a = names.exchange('a');
    const b2 = names.exchange('b');
    await ch.exchangeDeclare(a, 'fanout');
    await ch.exchangeDeclare(b2, 'fanout');
    await ch.exchangeBind(b2, a, '');
    await ch.exchangeBind(a, b2, '');
    await ch.exchangeBind(a, a, '');
    const qa = await boundQueue(ch, a);
    const qb = await boundQueue(ch, b2);
    await ch.publish(a, '', 'into a');
    await ch.publish(b2, '', 'into b');
    t.same(await drain(ch, qa), ['into a', 'into b'], 'queue on a');
    t.same(await drain(ch, qb), ['into a', 'into b'], 'queue on b');
  });

  t.test('a queue reached by many bindings and paths gets one copy', async (t) => {
    const { ch, names } = await open(t);
    const direct = names.exchange('direct');
    const topic = names.exchange('topic');
    const fanout = names.exchange('fanout');
    await ch.exchangeDeclare(direct, 'direct');
    await ch.exchangeDeclare(topic, 'topic');
    await ch.exchangeDeclare(fanout, 'fanout');
    const { queue } = await ch.queueDeclare('', { exclusive: true });
    await ch.queueBind(queue, direct, 'a.b');
    await ch.queueBind(queue, topic, 'a.*');
    await ch.queueBind(queue, topic, '#');
    await ch.queueBind(queue, topic, 'a.b');
    await ch.queueBind(queue, fanout, 'x');
    await ch.queueBind(queue, fanout, 'y');
    await ch.exchangeBind(topic, direct, 'a.b');
    await ch.exchangeBind(fanout, direct, 'a.b');
    await ch.exchangeBind(fanout, topic, '#');
    await ch.publish(direct, 'a.b', 'one');
    await ch.publish(topic, 'a.b', 'two');
    t.same(await drain(ch, queue), ['one', 'two']);
  });
});

t.test('auto-delete exchanges', async (t) => {
  t.test('deleted when its last queue binding is removed', async (t) => {
    const { s, ch, names } = await open(t);
    const x = names.exchange();
    await ch.exchangeDeclare(x, 'direct', { autoDelete: true });
    const queue = await boundQueue(ch, x, 'one');
    await ch.queueBind(queue, x, 'two');
    await ch.queueUnbind(queue, x, 'one');
    await ch.exchangeDeclare(x, 'direct', { passive: true });
    t.pass('still there with one binding left');
    await ch.queueUnbind(queue, x, 'two');
    await expectError(
      t,
      s.withChannel((c) => c.exchangeDeclare(x, 'direct', { passive: true })),
      'channel',
      {
        replyCode: 404,
        replyText: noExchange(x),
        ...DECLARE,
      },
    );
  });

  t.test('deleted when its last bound queue is deleted', async (t) => {
    const { s, ch, names } = await open(t);
    const x = names.exchange();
    await ch.exchangeDeclare(x, 'fanout', { autoDelete: true });
    const queue = await boundQueue(ch, x);
    await ch.queueDelete(queue);
    await expectError(
      t,
      s.withChannel((c) => c.exchangeDeclare(x, 'fanout', { passive: true })),
      'channel',
      {
        replyCode: 404,
        replyText: noExchange(x),
        ...DECLARE,
      },
    );
  });

  t.test('deleted when its last exchange binding as source is removed', async (t) => {
    const { s, ch, names } = await open(t);
    const x = names.exchange();
    const destination = names.exchange('destination');
    await ch.exchangeDeclare(x, 'fanout', { autoDelete: true });
    await ch.exchangeDeclare(destination, 'fanout');
    await ch.exchangeBind(destination, x, '');
    await ch.exchangeUnbind(destination, x, '');
    await expectError(
      t,
      s.withChannel((c) => c.exchangeDeclare(x, 'fanout', { passive: true })),
      'channel',
      {
        replyCode: 404,
        replyText: noExchange(x),
        ...DECLARE,
      },
    );
  });

  t.test('kept when never bound, and when a binding where it is the destination goes', async (t) => {
    const { ch, names } = await open(t);
    const x = names.exchange();
    const source = names.exchange('source');
    await ch.exchangeDeclare(x, 'fanout', { autoDelete: true });
    await ch.exchangeDeclare(source, 'fanout');
    await ch.exchangeDeclare(x, 'fanout', { passive: true });
    t.pass('kept while never bound');
    await ch.exchangeBind(x, source, '');
    await ch.exchangeUnbind(x, source, '');
    await ch.exchangeDeclare(x, 'fanout', { passive: true });
    t.pass('kept after exchange.unbind of the binding from source to it');
    await ch.exchangeBind(x, source, '');
    await ch.exchangeDelete(source);
    await ch.exchangeDeclare(x, 'fanout', { passive: true });
    t.pass('kept after its source exchange was deleted');
  });
});

t.test('internal exchanges', async (t) => {
  t.test('publish to an internal exchange: 403 ACCESS_REFUSED', async (t) => {
    const { ch, names } = await open(t);
    const x = names.exchange();
    await ch.exchangeDeclare(x, 'fanout', { internal: true });
    await ch.publish(x, '', 'refused');
    const close = await ch.expectClose();
    t.same(close, {
      replyCode: 403,
      replyText: `ACCESS_REFUSED - cannot publish to internal exchange '${x}' ${VHOST}`,
      classId: 60,
      methodId: 40,
    });
  });

  t.test('an internal exchange routes what reaches it through an exchange binding', async (t) => {
    const { ch, names } = await open(t);
    const x = names.exchange('public');
    const internal = names.exchange('internal');
    await ch.exchangeDeclare(x, 'direct');
    await ch.exchangeDeclare(internal, 'fanout', { internal: true });
    await ch.exchangeBind(internal, x, 'k');
    const queue = await boundQueue(ch, internal);
    await ch.publish(x, 'k', 'through');
    t.same(await drain(ch, queue), ['through']);
  });
});

t.test('alternate-exchange', async (t) => {
  t.test('unroutable messages go to the alternate exchange, routable ones do not', async (t) => {
    const { ch, names } = await open(t);
    const x = names.exchange();
    const ae = names.exchange('ae');
    await ch.exchangeDeclare(ae, 'fanout');
    await ch.exchangeDeclare(x, 'direct', { arguments: { 'alternate-exchange': ae } });
    const routed = await boundQueue(ch, x, 'k');
    const alternate = await boundQueue(ch, ae);
    await ch.publish(x, 'k', 'routed');
    await ch.publish(x, 'nowhere', 'unroutable', { mandatory: true });
    t.same(await drain(ch, routed), ['routed'], 'routed queue');
    t.same(await drain(ch, alternate), ['unroutable'], 'alternate exchange queue');
    t.same(ch.received(M.basicReturn), [], 'no basic.return for a message the alternate exchange routed');
  });

  t.test('an alternate exchange that routes nowhere or is missing: mandatory returns 312', async (t) => {
    const { ch, names } = await open(t);
    const emptyAe = names.exchange('ae-empty');
    const withEmpty = names.exchange();
    const withMissing = names.exchange();
    await ch.exchangeDeclare(emptyAe, 'fanout');
    await ch.exchangeDeclare(withEmpty, 'direct', { arguments: { 'alternate-exchange': emptyAe } });
    await ch.exchangeDeclare(withMissing, 'direct', {
      arguments: { 'alternate-exchange': names.exchange('missing') },
    });
    await ch.publish(withEmpty, 'k1', 'one', { mandatory: true });
    await ch.publish(withMissing, 'k2', 'two', { mandatory: true });
    const first = await ch.nextReturn();
    const second = await ch.nextReturn();
    t.same(
      [first, second].map((r) => [r.replyCode, r.replyText, r.exchange, r.routingKey, r.body.toString()]),
      [
        [312, 'NO_ROUTE', withEmpty, 'k1', 'one'],
        [312, 'NO_ROUTE', withMissing, 'k2', 'two'],
      ],
    );
  });

  t.test('through amqplib: the alternateExchange option', async (t) => {
    const names = Scratch.for(t, 'exchange');
    const conn = await amqplibConnect(t, b.url);
    conn.on('error', () => {});
    const ch = await within(conn.createChannel(), 'channel.open-ok');
    const x = names.exchange();
    const ae = names.exchange('ae');
    await within(ch.assertExchange(ae, 'fanout', { durable: false }), 'exchange.declare-ok');
    await within(
      ch.assertExchange(x, 'topic', { durable: false, alternateExchange: ae }),
      'exchange.declare-ok',
    );
    const { queue } = await within(ch.assertQueue('', { exclusive: true }), 'queue.declare-ok');
    await within(ch.bindQueue(queue, ae, ''), 'queue.bind-ok');
    ch.publish(x, 'no.binding', Buffer.from('via ae'));
    const got = await within(ch.get(queue, { noAck: true }), 'basic.get-ok');
    t.equal(got ? got.content.toString() : got, 'via ae', 'the alternate exchange queue has the message');
  });
});

t.test('routing', async (t) => {
  t.test('direct: exact routing key, every queue bound with it, through amqplib', async (t) => {
    const names = Scratch.for(t, 'exchange');
    const conn = await amqplibConnect(t, b.url);
    conn.on('error', () => {});
    const ch = await within(conn.createChannel(), 'channel.open-ok');
    const x = names.exchange();
    await within(ch.assertExchange(x, 'direct', { durable: false }), 'exchange.declare-ok');
    const queues: string[] = [];
    for (const key of ['k', 'k', 'K', '']) {
      const { queue } = await within(ch.assertQueue('', { exclusive: true }), 'queue.declare-ok');
      await within(ch.bindQueue(queue, x, key), 'queue.bind-ok');
      queues.push(queue);
    }
    for (const key of ['k', 'K', '', 'k.x', 'k ']) ch.publish(x, key, Buffer.from(key));
    const got: string[][] = [];
    for (const queue of queues) {
      const bodies: string[] = [];
      for (;;) {
        const m = await within(ch.get(queue, { noAck: true }), 'basic.get-ok or get-empty');
        if (!m) break;
        bodies.push(m.content.toString());
      }
      got.push(bodies);
    }
    t.same(
      got,
      [['k'], ['k'], ['K'], ['']],
      'bound with k, k, K and the empty key (keys are case-sensitive)',
    );
  });

  t.test('fanout: every bound queue, whatever the routing key and binding key', async (t) => {
    const { ch, names } = await open(t);
    const x = names.exchange();
    await ch.exchangeDeclare(x, 'fanout');
    const q1 = await boundQueue(ch, x, '');
    const q2 = await boundQueue(ch, x, 'some-key');
    await ch.publish(x, 'any', 'one');
    await ch.publish(x, '', 'two');
    t.same(await drain(ch, q1), ['one', 'two']);
    t.same(await drain(ch, q2), ['one', 'two']);
  });

  t.test('topic patterns', async (t) => {
    const keys = [
      '',
      '.',
      'a',
      'b',
      'a.b',
      'a.b.c',
      'a..b',
      'a.x.b',
      'a.x.y.b',
      'b.a',
      'a.',
      '.a',
      'a.b.b',
      '#',
      '*',
    ];
    const everything = keys.filter((k) => k !== '');
    const table: [pattern: string, matches: string[]][] = [
      ['', ['']],
      ['*', ['a', 'b', '#', '*']],
      ['#', keys],
      ['#.#', keys],
      ['*.*', ['.', 'a.b', 'b.a', 'a.', '.a']],
      ['a.*', ['a.b', 'a.']],
      ['*.b', ['a.b']],
      ['a.#', ['a', 'a.b', 'a.b.c', 'a..b', 'a.x.b', 'a.x.y.b', 'a.', 'a.b.b']],
      ['#.b', ['b', 'a.b', 'a..b', 'a.x.b', 'a.x.y.b', 'a.b.b']],
      ['a.#.b', ['a.b', 'a..b', 'a.x.b', 'a.x.y.b', 'a.b.b']],
      ['a.#.#.b', ['a.b', 'a..b', 'a.x.b', 'a.x.y.b', 'a.b.b']],
      ['a.*.b', ['a..b', 'a.x.b', 'a.b.b']],
      ['a..b', ['a..b']],
      ['*.#', everything],
      ['#.*', everything],
      ['#.a.#', ['a', 'a.b', 'a.b.c', 'a..b', 'a.x.b', 'a.x.y.b', 'b.a', 'a.', '.a', 'a.b.b']],
    ];
    for (const [pattern, matches] of table) {
      t.test(`topic pattern ${JSON.stringify(pattern)}`, async (t) => {
        const { ch, names } = await open(t);
        const x = names.exchange();
        await ch.exchangeDeclare(x, 'topic');
        const queue = await boundQueue(ch, x, pattern);
        for (const key of keys) await ch.publish(x, key, key);
        t.same(await drain(ch, queue), matches, `keys routed by ${JSON.stringify(pattern)}`);
      });
    }
  });

  t.test('headers bindings', async (t) => {
    type Case = [binding: FieldTable, messages: [headers: FieldTable | undefined, matches: boolean][]];
    const cases: Case[] = [
      [
        {},
        [
          [{}, true],
          [{ a: 1 }, true],
          [undefined, true],
        ],
      ],
      [
        { 'x-match': 'any' },
        [
          [{}, false],
          [{ a: 1 }, false],
        ],
      ],
      [
        { a: 1, b: 'x' },
        [
          [{ a: 1, b: 'x' }, true],
          [{ a: 1 }, false],
          [{ a: 1, b: 'x', c: 1 }, true],
          [{ a: '1', b: 'x' }, false],
          [{ a: 2, b: 'x' }, false],
          [undefined, false],
        ],
      ],
      [
        { 'x-match': 'any', a: 1, b: 'x' },
        [
          [{ a: 1 }, true],
          [{ b: 'x' }, true],
          [{ a: 2 }, false],
          [{ c: 1 }, false],
          [{}, false],
        ],
      ],
      [
        { 'x-match': 'all', 'x-foo': 1, a: 1 },
        [
          [{ a: 1 }, true],
          [{ a: 1, 'x-foo': 1 }, true],
          [{ 'x-foo': 1 }, false],
        ],
      ],
      [
        { 'x-match': 'all-with-x', 'x-foo': 1, a: 1 },
        [
          [{ a: 1 }, false],
          [{ a: 1, 'x-foo': 1 }, true],
          [{ 'x-foo': 1 }, false],
        ],
      ],
      [
        { 'x-match': 'any', 'x-foo': 1 },
        [
          [{ 'x-foo': 1 }, false],
          [{}, false],
        ],
      ],
      [
        { 'x-match': 'any-with-x', 'x-foo': 1 },
        [
          [{ 'x-foo': 1 }, true],
          [{ 'x-foo': 2 }, false],
          [{}, false],
        ],
      ],
      [
        { 'x-match': 'all', a: null },
        [
          [{ a: 1 }, true],
          [{ a: 'z' }, true],
          [{ a: null }, true],
          [{}, false],
          [{ b: 1 }, false],
        ],
      ],
      [
        { 'x-match': 'any', a: null, b: 2 },
        [
          [{ a: 1 }, true],
          [{ b: 2 }, true],
          [{ b: 3 }, false],
          [{}, false],
        ],
      ],
      [
        { a: 1 },
        [
          [{ a: 1n }, true],
          [{ a: true }, false],
          [{ a: 1.5 }, false],
        ],
      ],
      [
        { a: true },
        [
          [{ a: true }, true],
          [{ a: false }, false],
          [{ a: 1 }, false],
        ],
      ],
    ];
    const show = (v: unknown): string =>
      JSON.stringify(v, (_k, value) => (typeof value === 'bigint' ? `${value}n` : value)) ?? 'no headers';
    for (const [binding, messages] of cases) {
      t.test(`headers binding ${show(binding)}`, async (t) => {
        const { ch, names } = await open(t);
        const x = names.exchange();
        await ch.exchangeDeclare(x, 'headers');
        const queue = await boundQueue(ch, x, '', binding);
        for (const [i, [headers]] of messages.entries())
          await ch.publish(x, '', String(i), { properties: headers ? { headers } : {} });
        const got = await drain(ch, queue);
        const expected = messages.flatMap(([, matches], i) => (matches ? [String(i)] : []));
        t.same(
          got,
          expected,
          `matching: ${
            messages
              .filter(([, m]) => m)
              .map(([h]) => show(h))
              .join(', ') || 'none'
          }`,
        );
      });
    }
  });

  t.test('headers: invalid x-match value or type at bind: 406 PRECONDITION_FAILED', async (t) => {
    const { s, ch, names } = await open(t);
    const x = names.exchange();
    await ch.exchangeDeclare(x, 'headers');
    const { queue } = await ch.queueDeclare('', { exclusive: true });
    await expectError(
      t,
      s.withChannel((c) => c.queueBind(queue, x, '', { 'x-match': 'bogus' })),
      'channel',
      {
        replyCode: 406,
        replyText:
          'PRECONDITION_FAILED - Invalid x-match field value <<"bogus">>; expected all, any, all-with-x, or any-with-x',
        classId: 50,
        methodId: 20,
      },
    );
    await expectError(
      t,
      s.withChannel((c) => c.queueBind(queue, x, '', { 'x-match': 1 })),
      'channel',
      {
        replyCode: 406,
        replyText: 'PRECONDITION_FAILED - Invalid x-match field type signedint (value 1); expected longstr',
        classId: 50,
        methodId: 20,
      },
    );
  });
});
