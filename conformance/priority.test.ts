// Priority queues, x-max-priority: the values taken and RabbitMQ's 406 for the others, the order
// messages go out in (higher priorities first, publish order within one, above the maximum counting as
// it, no priority as 0), drop-head from the highest priority, requeued messages returning to their
// place in their priority. Expectations are RabbitMQ 3.10's observed behaviour; texts are exact.

import t from 'tap';
import { drainMarked, Scratch } from './lib/scratch.js';
import { type Channel, expectError, Session } from './lib/session.js';
import type { FieldTable } from './lib/wire.js';

async function open(t: Parameters<typeof Session.open>[0]): Promise<{ s: Session; ch: Channel }> {
  const s = await Session.open(t);
  return { s, ch: await s.channel() };
}

/** An exclusive server-named queue with these arguments, and a confirm channel to publish to it. */
async function queueWithPublisher(s: Session, args: FieldTable): Promise<{ queue: string; pub: Channel }> {
  const ch = await s.channel();
  const { queue } = await ch.queueDeclare('', { exclusive: true, arguments: args });
  const pub = await s.channel();
  await pub.confirmSelect();
  return { queue, pub };
}

/** Publishes [body, priority] pairs (undefined: no priority property) and waits for the confirms. */
async function publish(pub: Channel, queue: string, messages: [string, number | undefined][]): Promise<void> {
  for (const [body, priority] of messages) {
    await pub.publish('', queue, body, { properties: priority === undefined ? {} : { priority } });
  }
  await pub.waitForConfirms();
}

t.test('x-max-priority values RabbitMQ refuses: channel error 406 with its reason', async (t) => {
  const cases: [FieldTable, string][] = [
    [{ 'x-max-priority': 256 }, '{max_value_exceeded,256}'],
    [{ 'x-max-priority': -1 }, '{value_negative,-1}'],
    [{ 'x-max-priority': 'ten' }, '"expected integer, got longstr"'],
    [{ 'x-max-priority': 1.5 }, '"expected integer, got double"'],
    [{ 'x-max-priority': true }, '"expected integer, got bool"'],
  ];
  const { s } = await open(t);
  for (const [args, reason] of cases) {
    const ch = await s.channel();
    await expectError(
      t,
      ch.queueDeclare('priority-refused', { exclusive: true, arguments: args }),
      'channel',
      {
        replyCode: 406,
        replyText: `PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue 'priority-refused' in vhost '/': ${reason}`,
        classId: 50,
        methodId: 10,
      },
    );
  }
  const ch = await s.channel();
  for (const max of [0, 1, 255, 10n]) {
    const { queue } = await ch.queueDeclare('', { exclusive: true, arguments: { 'x-max-priority': max } });
    t.ok(queue, `taken: ${max}`);
  }
});

t.test(
  'higher priorities go first, publish order within one; above the maximum is the maximum, none is 0',
  async (t) => {
    const { s } = await open(t);
    const { queue, pub } = await queueWithPublisher(s, { 'x-max-priority': 3 });
    await publish(pub, queue, [
      ['a0', 0],
      ['b9', 9],
      ['c3', 3],
      ['d', undefined],
      ['e2', 2],
      ['f200', 200],
      ['g1', 1],
      ['h2', 2],
    ]);
    const ch = await s.channel();
    t.equal(await ch.messageCount(queue), 8);
    t.same(await drainMarked(ch, queue), ['b9', 'c3', 'f200', 'e2', 'h2', 'g1', 'a0', 'd']);
    const consumer = await s.channel();
    await publish(pub, queue, [
      ['low', 1],
      ['high', 3],
    ]);
    await consumer.consume(queue, { noAck: true });
    const got = await consumer.deliveries(2);
    t.same(
      got.map((d) => d.body.toString()),
      ['high', 'low'],
      'a consumer gets them in priority order too',
    );
  },
);

t.test('x-max-priority 0 orders nothing', async (t) => {
  const { s } = await open(t);
  const { queue, pub } = await queueWithPublisher(s, { 'x-max-priority': 0 });
  await publish(pub, queue, [
    ['a', 0],
    ['b', 9],
    ['c', 3],
  ]);
  t.same(await drainMarked(await s.channel(), queue), ['a', 'b', 'c']);
});

t.test('x-max-length drop-head drops the head: the highest priority', async (t) => {
  const { s } = await open(t);
  const { queue, pub } = await queueWithPublisher(s, { 'x-max-priority': 5, 'x-max-length': 2 });
  await publish(pub, queue, [
    ['a1', 1],
    ['b5', 5],
    ['c3', 3],
    ['d0', 0],
  ]);
  t.same(await drainMarked(await s.channel(), queue), ['a1', 'd0']);
});

t.test('messages given back return to their place in their priority, redelivered', async (t) => {
  const { s } = await open(t);
  const { queue, pub } = await queueWithPublisher(s, { 'x-max-priority': 3 });
  await publish(pub, queue, [
    ['a1', 1],
    ['b2', 2],
    ['c1', 1],
    ['d2', 2],
    ['e0', 0],
  ]);
  const taker = await s.channel();
  const got = [];
  for (let i = 0; i < 4; i++) {
    const m = await taker.get(queue);
    if (!m) throw new Error('queue empty');
    got.push(m);
  }
  t.same(
    got.map((m) => m.body.toString()),
    ['b2', 'd2', 'a1', 'c1'],
  );
  await taker.nack(got[3].deliveryTag, false, true);
  await taker.nack(got[0].deliveryTag, false, true);
  await publish(pub, queue, [['f2', 2]]);
  // A round trip on the taker: its nacks have been taken.
  await taker.messageCount(queue);
  const ch = await s.channel();
  t.same(await drainMarked(ch, queue), ['b2R', 'f2', 'c1R', 'e0'], 'nacked with requeue');
  await publish(pub, queue, [
    ['g2', 2],
    ['h1', 1],
  ]);
  await taker.close();
  t.same(await drainMarked(ch, queue), ['d2R', 'g2', 'a1R', 'h1'], 'given back by a channel close');
});

t.test('a redeclaration with another x-max-priority: 406 inequivalent arg', async (t) => {
  const { ch } = await open(t);
  const queue = Scratch.for(t, 'priority').queue('eq');
  await ch.queueDeclare(queue, { autoDelete: true, arguments: { 'x-max-priority': 5 } });
  await ch.queueDeclare(queue, { autoDelete: true, arguments: { 'x-max-priority': 5 } });
  await expectError(
    t,
    ch.queueDeclare(queue, { autoDelete: true, arguments: { 'x-max-priority': 6 } }),
    'channel',
    {
      replyCode: 406,
      replyText: `PRECONDITION_FAILED - inequivalent arg 'x-max-priority' for queue '${queue}' in vhost '/': received '6' but current is '5'`,
      classId: 50,
      methodId: 10,
    },
  );
});
