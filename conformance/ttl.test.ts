// Per-message TTL, the expiration property: which values are taken and RabbitMQ's 406 for the others,
// expiry at the head of a queue (and only there), TTL 0, and a message that expired while it was out.
// Per-queue TTL, x-message-ttl: the values, the shorter of the two TTLs, one queue of a fanout.
// Expectations are RabbitMQ 3.10's observed behaviour; texts are exact.

import t from 'tap';
import { type Channel, eventually, expectError, Session } from './lib/session.js';
import type { FieldValue } from './lib/wire.js';

async function open(t: Parameters<typeof Session.open>[0]): Promise<{ s: Session; ch: Channel }> {
  const s = await Session.open(t);
  return { s, ch: await s.channel() };
}

/** An exclusive server-named queue, and a confirm channel to publish to it. */
async function queueWithPublisher(s: Session): Promise<{ queue: string; pub: Channel }> {
  const ch = await s.channel();
  const { queue } = await ch.queueDeclare('', { exclusive: true });
  const pub = await s.channel();
  await pub.confirmSelect();
  return { queue, pub };
}

async function count(s: Session, queue: string): Promise<number> {
  return s.withChannel(async (ch) => {
    const { messageCount } = await ch.queueDeclare(queue, { passive: true });
    await ch.close();
    return messageCount;
  });
}

/**
 * Resolves once at least `ms` milliseconds have passed by the broker's own clock: a message with that
 * TTL, alone in a queue, has expired and been dropped.
 */
async function brokerWaits(s: Session, ms: number): Promise<void> {
  const { queue, pub } = await queueWithPublisher(s);
  await pub.publish('', queue, 'clock', { properties: { expiration: String(ms) } });
  await pub.waitForConfirms();
  await eventually(
    async () => ((await count(s, queue)) === 0 ? true : undefined),
    `a ${ms} ms TTL to run out`,
  );
}

t.test('expiration values RabbitMQ does not read: channel error 406 with its reason', async (t) => {
  const cases: [string, string][] = [
    ['later', 'no_integer'],
    ['', 'no_integer'],
    [' 5', 'no_integer'],
    ['+', 'no_integer'],
    ['10abc', '{leftover_string,"abc"}'],
    ['1.5', '{leftover_string,".5"}'],
    ['5 ', '{leftover_string," "}'],
    ['-5', '{value_negative,-5}'],
    ['-100000000000000000', '{value_negative,-100000000000000000}'],
    ['315360000001', '{value_too_large,315360000001}'],
    ['999999999999999999', '{value_too_large,999999999999999999}'],
    // Printed as Erlang prints a term that does not fit the line: broken, the rest aligned under it.
    ['1000000000000000000', `{value_too_large,\n${' '.repeat(43)}1000000000000000000}`],
  ];
  const { s } = await open(t);
  const { queue } = await queueWithPublisher(s);
  for (const [expiration, reason] of cases) {
    const ch = await s.channel();
    await ch.publish('', queue, 'x', { properties: { expiration } });
    t.same(
      await ch.expectClose(),
      {
        replyCode: 406,
        replyText: `PRECONDITION_FAILED - invalid expiration '${expiration}': ${reason}`,
        classId: 60,
        methodId: 40,
      },
      JSON.stringify(expiration),
    );
  }
  t.equal(await count(s, queue), 0, 'none was queued');
});

t.test('expiration values RabbitMQ takes: a sign, leading zeros, up to ten years', async (t) => {
  const { s } = await open(t);
  const { queue, pub } = await queueWithPublisher(s);
  const values = ['+5000', '05000', '-0', '315360000000'];
  for (const expiration of values) await pub.publish('', queue, expiration, { properties: { expiration } });
  await pub.waitForConfirms();
  const ch = await s.channel();
  for (const expiration of values) {
    const got = await ch.get(queue, true);
    if (expiration === '-0') {
      // A TTL of 0 behind live messages: dropped once it is at the head, when the one before it is taken.
      t.equal(got?.body.toString(), '315360000000', '-0 is a TTL of 0');
      break;
    }
    t.same([got?.body.toString(), got?.properties.expiration], [expiration, expiration], expiration);
  }
  t.equal(await ch.get(queue, true), undefined, 'nothing left');
});

t.test('a message is dropped once it has expired at the head of its queue', async (t) => {
  const { s } = await open(t);
  const { queue, pub } = await queueWithPublisher(s);
  await pub.publish('', queue, 'a', { properties: { expiration: '50' } });
  await pub.publish('', queue, 'b', { properties: { expiration: '100000' } });
  await pub.publish('', queue, 'c', { properties: { expiration: '0' } });
  await pub.publish('', queue, 'd');
  await pub.waitForConfirms();
  t.equal(await count(s, queue), 4, 'all four queued, the TTL 0 one too: it is not at the head');
  await eventually(async () => ((await count(s, queue)) === 3 ? true : undefined), 'the head to expire');
  const ch = await s.channel();
  const b = await ch.get(queue, true);
  t.same(
    [b?.body.toString(), b?.properties.expiration],
    ['b', '100000'],
    'the property is delivered as sent',
  );
  t.equal((await ch.get(queue, true))?.body.toString(), 'd', 'the TTL 0 one was dropped at the head');
  t.equal(await ch.get(queue, true), undefined);
});

t.test('a message behind a longer-lived one is not dropped until it reaches the head', async (t) => {
  const { s } = await open(t);
  const { queue, pub } = await queueWithPublisher(s);
  await pub.publish('', queue, 'long', { properties: { expiration: '100000' } });
  await pub.publish('', queue, 'short', { properties: { expiration: '1' } });
  await pub.waitForConfirms();
  await brokerWaits(s, 30);
  t.equal(await count(s, queue), 2, 'the expired one is still counted behind the head');
  const ch = await s.channel();
  t.equal((await ch.get(queue, true))?.body.toString(), 'long');
  t.equal(await ch.get(queue, true), undefined, 'then dropped at the head');
  t.equal(await count(s, queue), 0);
});

t.test('TTL 0: delivered to a consumer that can take it at once, else dropped at the head', async (t) => {
  const { s } = await open(t);
  const consumed = await queueWithPublisher(s);
  const consumer = await s.channel();
  await consumer.consume(consumed.queue, { noAck: true });
  await consumed.pub.publish('', consumed.queue, 'now', { properties: { expiration: '0' } });
  const d = await consumer.nextDelivery();
  t.same([d.body.toString(), d.properties.expiration], ['now', '0']);

  const idle = await queueWithPublisher(s);
  await idle.pub.publish('', idle.queue, 'never', { properties: { expiration: '0' } });
  await idle.pub.waitForConfirms();
  await eventually(
    async () => ((await count(s, idle.queue)) === 0 ? true : undefined),
    'the TTL 0 message to go',
  );
  t.pass('dropped with no consumer');
});

t.test('a message nacked back after its TTL ran out is dropped, and one within it is not', async (t) => {
  const { s } = await open(t);
  const { queue, pub } = await queueWithPublisher(s);
  await pub.publish('', queue, 'short', { properties: { expiration: '100' } });
  await pub.publish('', queue, 'long', { properties: { expiration: '100000' } });
  await pub.waitForConfirms();
  const ch = await s.channel();
  const short = await ch.get(queue, false);
  const long = await ch.get(queue, false);
  t.same([short?.body.toString(), long?.body.toString()], ['short', 'long']);
  await brokerWaits(s, 150);
  await ch.nack(short?.deliveryTag ?? 0n, false, true);
  await ch.nack(long?.deliveryTag ?? 0n, false, true);
  t.equal(await count(s, queue), 1, 'only the live one came back');
  const again = await ch.get(queue, true);
  t.same([again?.body.toString(), again?.redelivered], ['long', true]);
});

t.test('x-message-ttl values RabbitMQ refuses: channel error 406 with its reason', async (t) => {
  const { s } = await open(t);
  const cases: [FieldValue, string][] = [
    [-1, '{value_negative,-1}'],
    ['ten', '"expected integer, got longstr"'],
    [315360000001n, '{value_too_large,315360000001}'],
  ];
  for (const [ttl, reason] of cases) {
    const ch = await s.channel();
    await expectError(
      t,
      ch.queueDeclare('ttl-refused', { exclusive: true, arguments: { 'x-message-ttl': ttl } }),
      'channel',
      {
        replyCode: 406,
        replyText: `PRECONDITION_FAILED - invalid arg 'x-message-ttl' for queue 'ttl-refused' in vhost '/': ${reason}`,
        classId: 50,
        methodId: 10,
      },
    );
  }
  const ch = await s.channel();
  for (const ttl of [0, 315360000000n]) {
    const { queue } = await ch.queueDeclare('', { exclusive: true, arguments: { 'x-message-ttl': ttl } });
    t.ok(queue, `taken: ${ttl}`);
  }
});

t.test(
  'x-message-ttl: messages expire at the head; a message with its own TTL gets the shorter',
  async (t) => {
    const { s } = await open(t);
    const ch = await s.channel();
    const { queue } = await ch.queueDeclare('', { exclusive: true, arguments: { 'x-message-ttl': 100 } });
    const pub = await s.channel();
    await pub.confirmSelect();
    await pub.publish('', queue, 'plain');
    await pub.publish('', queue, 'own-long', { properties: { expiration: '100000' } });
    await pub.publish('', queue, 'own-short', { properties: { expiration: '10' } });
    await pub.waitForConfirms();
    t.equal(await count(s, queue), 3);
    const live = await ch.queueDeclare('', { exclusive: true, arguments: { 'x-message-ttl': 100000 } });
    await pub.publish('', live.queue, 'kept');
    await pub.waitForConfirms();
    await eventually(
      async () => ((await count(s, queue)) === 0 ? true : undefined),
      'the queue TTL to run out',
    );
    const kept = await ch.get(live.queue, true);
    t.same(
      [kept?.body.toString(), kept?.properties.expiration],
      ['kept', undefined],
      'no expiration property added',
    );
  },
);

t.test(
  'x-message-ttl applies in its queue only: the same publish stays in a queue without one',
  async (t) => {
    const { s } = await open(t);
    const ch = await s.channel();
    const x = `ttl-fanout-${Date.now()}`;
    await ch.exchangeDeclare(x, 'fanout', { autoDelete: true });
    const short = await ch.queueDeclare('', { exclusive: true, arguments: { 'x-message-ttl': 50 } });
    const plain = await ch.queueDeclare('', { exclusive: true });
    await ch.queueBind(short.queue, x, '');
    await ch.queueBind(plain.queue, x, '');
    const pub = await s.channel();
    await pub.confirmSelect();
    await pub.publish(x, '', 'both');
    await pub.waitForConfirms();
    await eventually(
      async () => ((await count(s, short.queue)) === 0 ? true : undefined),
      'the TTL queue to empty',
    );
    t.equal((await ch.get(plain.queue, true))?.body.toString(), 'both');
  },
);

t.test('x-message-ttl: a message nacked back after the queue TTL ran out is dropped', async (t) => {
  const { s } = await open(t);
  const ch = await s.channel();
  const { queue } = await ch.queueDeclare('', { exclusive: true, arguments: { 'x-message-ttl': 100 } });
  const pub = await s.channel();
  await pub.confirmSelect();
  await pub.publish('', queue, 'out');
  await pub.waitForConfirms();
  const got = await ch.get(queue, false);
  t.equal(got?.body.toString(), 'out');
  await brokerWaits(s, 150);
  await ch.nack(got?.deliveryTag ?? 0n, false, true);
  t.equal(await count(s, queue), 0);
});
