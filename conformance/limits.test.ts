// Queue length limits: x-max-length, x-max-length-bytes and x-overflow (drop-head, reject-publish):
// the values taken and RabbitMQ's 406 for the others, which messages go and which publishes are
// nacked. Expectations are RabbitMQ 3.10's observed behaviour; texts are exact.

import t from 'tap';
import { drain, Scratch } from './lib/scratch.js';
import { expectError, Session } from './lib/session.js';
import type { FieldTable } from './lib/wire.js';

async function open(t: Parameters<typeof Session.open>[0]) {
  const s = await Session.open(t);
  return { s, ch: await s.channel(), names: Scratch.for(t, 'limits') };
}

/** A confirm channel; publish() resolves with 'ack' or 'nack' for that publish. */
async function confirming(s: Session) {
  const ch = await s.channel();
  await ch.confirmSelect();
  return {
    ch,
    async publish(exchange: string, routingKey: string, body: string, mandatory = false): Promise<string> {
      await ch.publish(exchange, routingKey, body, { mandatory });
      const c = await ch.nextConfirm();
      return c.nack ? 'nack' : 'ack';
    },
  };
}

t.test('limit arguments RabbitMQ refuses: channel error 406 with its reason', async (t) => {
  const cases: [FieldTable, string, string][] = [
    [{ 'x-max-length': -1 }, 'x-max-length', '{value_negative,-1}'],
    [{ 'x-max-length': 'ten' }, 'x-max-length', '"expected integer, got longstr"'],
    [{ 'x-max-length': 1.5 }, 'x-max-length', '"expected integer, got double"'],
    [{ 'x-max-length-bytes': -5 }, 'x-max-length-bytes', '{value_negative,-5}'],
    [{ 'x-overflow': 'nope' }, 'x-overflow', 'invalid_overflow'],
    [{ 'x-overflow': 5 }, 'x-overflow', '{unacceptable_type,signedint}'],
  ];
  const { s } = await open(t);
  for (const [args, arg, reason] of cases) {
    const ch = await s.channel();
    await expectError(t, ch.queueDeclare('limits-refused', { exclusive: true, arguments: args }), 'channel', {
      replyCode: 406,
      replyText: `PRECONDITION_FAILED - invalid arg '${arg}' for queue 'limits-refused' in vhost '/': ${reason}`,
      classId: 50,
      methodId: 10,
    });
  }
  const ch = await s.channel();
  const taken: FieldTable[] = [
    { 'x-max-length': 0 },
    { 'x-max-length': 5n },
    { 'x-max-length-bytes': 2n ** 40n },
    { 'x-overflow': 'drop-head' },
    { 'x-overflow': 'reject-publish' },
    { 'x-overflow': 'reject-publish-dlx' },
  ];
  for (const args of taken) {
    const { queue } = await ch.queueDeclare('', { exclusive: true, arguments: args });
    t.ok(queue, `taken: ${JSON.stringify(args, (_, v) => (typeof v === 'bigint' ? `${v}n` : v))}`);
  }
});

t.test('x-max-length with drop-head: the oldest ready messages go; unacked ones do not count', async (t) => {
  const { s, ch } = await open(t);
  const { queue } = await ch.queueDeclare('', { exclusive: true, arguments: { 'x-max-length': 3 } });
  const p = await confirming(s);
  for (let i = 0; i < 5; i++) t.equal(await p.publish('', queue, String(i)), 'ack');
  t.equal((await ch.queueDeclare(queue, { passive: true })).messageCount, 3);
  t.same(await drain(ch, queue), ['2', '3', '4']);
  for (const body of ['u0', 'u1', 'u2']) await p.publish('', queue, body);
  const held = await ch.get(queue, false);
  t.equal(held?.body.toString(), 'u0');
  for (const body of ['v0', 'v1']) await p.publish('', queue, body);
  const other = await s.channel();
  t.same(await drain(other, queue), ['u2', 'v0', 'v1'], 'u1 went; the unacked u0 did not count');
  // Given back over the limit, the oldest goes: the one given back.
  for (const body of ['w0', 'w1', 'w2']) await p.publish('', queue, body);
  await ch.nack(held?.deliveryTag ?? 0n, false, true);
  t.equal((await other.queueDeclare(queue, { passive: true })).messageCount, 3);
  t.same(await drain(other, queue), ['w0', 'w1', 'w2']);
});

t.test('x-max-length-bytes with drop-head counts the bodies of ready messages', async (t) => {
  const { s, ch } = await open(t);
  const { queue } = await ch.queueDeclare('', { exclusive: true, arguments: { 'x-max-length-bytes': 10 } });
  const p = await confirming(s);
  for (const body of ['aaaa', 'bbbb', 'cccc', 'dd']) await p.publish('', queue, body);
  t.same(await drain(ch, queue), ['bbbb', 'cccc', 'dd']);
});

t.test('x-overflow reject-publish: a publish over the limit is nacked and not queued', async (t) => {
  const { s, ch } = await open(t);
  const p = await confirming(s);
  const { queue } = await ch.queueDeclare('', {
    exclusive: true,
    arguments: { 'x-max-length': 2, 'x-overflow': 'reject-publish' },
  });
  const outcomes: string[] = [];
  for (let i = 0; i < 4; i++) outcomes.push(await p.publish('', queue, String(i)));
  t.same(outcomes, ['ack', 'ack', 'nack', 'nack']);
  t.same(await drain(ch, queue), ['0', '1']);

  const bytes = await ch.queueDeclare('', {
    exclusive: true,
    arguments: { 'x-max-length-bytes': 6, 'x-overflow': 'reject-publish' },
  });
  const byBytes: string[] = [];
  for (const body of ['aaa', 'bbb', 'c', '']) byBytes.push(await p.publish('', bytes.queue, body));
  t.same(byBytes, ['ack', 'ack', 'nack', 'ack'], 'by bytes: over the limit only when it would exceed it');
  t.same(await drain(ch, bytes.queue), ['aaa', 'bbb', '']);
});

t.test('reject-publish: one full queue of a fanout nacks the publish; the others still get it', async (t) => {
  const { s, ch, names } = await open(t);
  const p = await confirming(s);
  const x = names.exchange('fan');
  await ch.exchangeDeclare(x, 'fanout', { autoDelete: true });
  const full = await ch.queueDeclare('', {
    exclusive: true,
    arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' },
  });
  const open_ = await ch.queueDeclare('', { exclusive: true });
  await ch.queueBind(full.queue, x, '');
  await ch.queueBind(open_.queue, x, '');
  t.same([await p.publish(x, '', '0'), await p.publish(x, '', '1')], ['ack', 'nack']);
  t.same(await drain(ch, full.queue), ['0']);
  t.same(await drain(ch, open_.queue), ['0', '1']);
});

t.test(
  'x-max-length 0: drop-head still hands a message to a waiting consumer, reject-publish does not',
  async (t) => {
    const { s, ch } = await open(t);
    const p = await confirming(s);
    const drop = await ch.queueDeclare('', { exclusive: true, arguments: { 'x-max-length': 0 } });
    const consumer = await s.channel();
    await consumer.consume(drop.queue, { noAck: true });
    t.equal(await p.publish('', drop.queue, 'taken'), 'ack');
    t.equal((await consumer.nextDelivery()).body.toString(), 'taken');

    const reject = await ch.queueDeclare('', {
      exclusive: true,
      arguments: { 'x-max-length': 0, 'x-overflow': 'reject-publish' },
    });
    await consumer.consume(reject.queue, { noAck: true });
    t.equal(await p.publish('', reject.queue, 'refused', true), 'nack', 'nacked, and not returned');
    t.equal((await ch.queueDeclare(reject.queue, { passive: true })).messageCount, 0);
    // A publish to the first queue shows that nothing of the refused one was delivered in between.
    await p.publish('', drop.queue, 'after');
    t.equal((await consumer.nextDelivery()).body.toString(), 'after');
  },
);

t.test('a redeclaration with another x-max-length: 406 inequivalent arg', async (t) => {
  const { ch, names } = await open(t);
  const q = names.queue('len');
  await ch.queueDeclare(q, { autoDelete: true, arguments: { 'x-max-length': 5 } });
  const other = await (await Session.open(t)).channel();
  await expectError(
    t,
    other.queueDeclare(q, { autoDelete: true, arguments: { 'x-max-length': 6 } }),
    'channel',
    {
      replyCode: 406,
      replyText: `PRECONDITION_FAILED - inequivalent arg 'x-max-length' for queue '${q}' in vhost '/': received '6' but current is '5'`,
      classId: 50,
      methodId: 10,
    },
  );
});
