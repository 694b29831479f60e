// Which consumer gets a message. Consumer priorities (x-priority): the highest priority with room first,
// round-robin among equals, lower ones only while the higher ones are full; RabbitMQ's 406 for a
// non-integer. Single active consumer (x-single-active-consumer): one consumer gets everything; when its
// channel or connection goes, the next (highest priority, then first registered) takes over with the
// unacked messages given back first; no exclusive consumer on such a queue. Expectations are RabbitMQ
// 3.10's observed behaviour; texts are exact.

import t from 'tap';
import { M } from './lib/methods.js';
import { type Channel, type Delivered, expectError, Session } from './lib/session.js';
import type { FieldTable } from './lib/wire.js';

/** An exclusive server-named queue with these arguments, and a confirm channel to publish to it. */
async function setup(s: Session, args: FieldTable = {}): Promise<{ queue: string; pub: Channel }> {
  const pub = await s.channel();
  const { queue } = await pub.queueDeclare('', { exclusive: true, arguments: args });
  await pub.confirmSelect();
  return { queue, pub };
}

async function publish(pub: Channel, queue: string, bodies: string[]): Promise<void> {
  for (const body of bodies) await pub.publish('', queue, body);
  await pub.waitForConfirms();
}

/** A consumer on a channel of its own, with its prefetch (0: none) and arguments. */
async function subscribe(
  s: Session,
  queue: string,
  prefetch: number,
  args: FieldTable = {},
): Promise<Channel> {
  const ch = await s.channel();
  if (prefetch > 0) await ch.qos(prefetch);
  await ch.consume(queue, { arguments: args });
  return ch;
}

const range = (from: number, to: number): string[] =>
  Array.from({ length: to - from + 1 }, (_, i) => `m${from + i}`);

/** Bodies, with "R" after those redelivered. */
const marked = (ds: Delivered[]): string[] =>
  ds.map((d) => `${d.body.toString()}${d.redelivered ? 'R' : ''}`);

t.test('x-priority values RabbitMQ refuses: channel error 406; any integer is taken', async (t) => {
  const s = await Session.open(t);
  const { queue } = await setup(s);
  const cases: [FieldTable, string][] = [
    [{ 'x-priority': 'high' }, '"expected integer, got longstr"'],
    [{ 'x-priority': 1.5 }, '"expected integer, got double"'],
    [{ 'x-priority': true }, '"expected integer, got bool"'],
  ];
  for (const [args, reason] of cases) {
    const ch = await s.channel();
    await expectError(t, ch.consume(queue, { arguments: args }), 'channel', {
      replyCode: 406,
      replyText: `PRECONDITION_FAILED - invalid arg 'x-priority' for queue '${queue}' in vhost '/': ${reason}`,
      classId: 60,
      methodId: 20,
    });
  }
  const ch = await s.channel();
  for (const priority of [-5, 0, 2n ** 40n]) {
    t.ok(await ch.consume(queue, { arguments: { 'x-priority': priority } }), `taken: ${priority}`);
  }
});

t.test('the highest priority with room gets the messages; a lower one once it is full', async (t) => {
  const s = await Session.open(t);
  const { queue, pub } = await setup(s);
  const low = await subscribe(s, queue, 10);
  const high = await subscribe(s, queue, 2, { 'x-priority': 10 });
  await publish(pub, queue, range(1, 5));
  const toHigh = await high.deliveries(2);
  t.same(marked(toHigh), ['m1', 'm2']);
  t.same(marked(await low.deliveries(3)), ['m3', 'm4', 'm5']);
  // Room again in the high one: the next goes to it.
  await high.ack(toHigh[0].deliveryTag);
  await high.messageCount(queue);
  await publish(pub, queue, ['m6']);
  t.same(marked([await high.nextDelivery()]), ['m6']);
});

t.test(
  'round-robin among consumers of the highest priority; none to a lower one while they have room',
  async (t) => {
    const s = await Session.open(t);
    const { queue, pub } = await setup(s);
    const low = await subscribe(s, queue, 0);
    const a = await subscribe(s, queue, 0, { 'x-priority': 5 });
    const b = await subscribe(s, queue, 0, { 'x-priority': 5 });
    await publish(pub, queue, range(1, 6));
    t.same(marked(await a.deliveries(3)), ['m1', 'm3', 'm5']);
    t.same(marked(await b.deliveries(3)), ['m2', 'm4', 'm6']);
    // A round trip on the low one's channel: nothing came before it.
    await low.messageCount(queue);
    t.equal(low.received(M.basicDeliver).length, 0, 'none to the lower priority');
  },
);

t.test('single active consumer: x-single-active-consumer values RabbitMQ refuses', async (t) => {
  const s = await Session.open(t);
  const cases: [FieldTable, string][] = [
    [{ 'x-single-active-consumer': 'yes' }, '{unacceptable_type,longstr}'],
    [{ 'x-single-active-consumer': 1 }, '{unacceptable_type,signedint}'],
  ];
  for (const [args, reason] of cases) {
    const ch = await s.channel();
    await expectError(t, ch.queueDeclare('sac-refused', { exclusive: true, arguments: args }), 'channel', {
      replyCode: 406,
      replyText: `PRECONDITION_FAILED - invalid arg 'x-single-active-consumer' for queue 'sac-refused' in vhost '/': ${reason}`,
      classId: 50,
      methodId: 10,
    });
  }
});

t.test(
  'single active consumer: the first registered gets everything, also with its prefetch full',
  async (t) => {
    const s = await Session.open(t);
    const { queue, pub } = await setup(s, { 'x-single-active-consumer': true });
    const first = await subscribe(s, queue, 2);
    const second = await subscribe(s, queue, 0);
    await publish(pub, queue, range(1, 5));
    const got = await first.deliveries(2);
    t.same(marked(got), ['m1', 'm2']);
    t.equal(await pub.messageCount(queue), 3, 'the rest wait for the active one');
    await second.messageCount(queue);
    t.equal(second.received(M.basicDeliver).length, 0, 'none to the other');
    await first.ack(got[1].deliveryTag, true);
    t.same(marked(await first.deliveries(2)), ['m3', 'm4']);
  },
);

t.test(
  'single active consumer: when its channel closes the next takes over, the unacked first',
  async (t) => {
    const s = await Session.open(t);
    const { queue, pub } = await setup(s, { 'x-single-active-consumer': true });
    const first = await subscribe(s, queue, 2);
    const second = await subscribe(s, queue, 0);
    await publish(pub, queue, range(1, 4));
    t.same(marked(await first.deliveries(2)), ['m1', 'm2']);
    await first.close();
    t.same(marked(await second.deliveries(4)), ['m1R', 'm2R', 'm3', 'm4']);
  },
);

t.test(
  'single active consumer: when its connection is lost the next takes over, the unacked first',
  async (t) => {
    const s = await Session.open(t);
    const pub = await s.channel();
    const queue = `sac-lost-${process.pid}-${Date.now()}`;
    await pub.queueDeclare(queue, { autoDelete: true, arguments: { 'x-single-active-consumer': true } });
    await pub.confirmSelect();
    const lost = await Session.open(t);
    const first = await subscribe(lost, queue, 3);
    const next = await subscribe(s, queue, 0);
    await publish(pub, queue, range(1, 5));
    t.same(marked(await first.deliveries(3)), ['m1', 'm2', 'm3']);
    lost.destroy();
    t.same(marked(await next.deliveries(5)), ['m1R', 'm2R', 'm3R', 'm4', 'm5']);
  },
);

t.test('single active consumer: the next active is the highest priority waiting', async (t) => {
  const s = await Session.open(t);
  const { queue, pub } = await setup(s, { 'x-single-active-consumer': true });
  const first = await subscribe(s, queue, 0);
  const mid = await subscribe(s, queue, 0, { 'x-priority': 5 });
  const top = await subscribe(s, queue, 0, { 'x-priority': 10 });
  await publish(pub, queue, ['m1', 'm2']);
  t.same(marked(await first.deliveries(2)), ['m1', 'm2'], 'the first registered, whatever the priorities');
  await first.close();
  await publish(pub, queue, ['m3', 'm4']);
  t.same(marked(await top.deliveries(4)), ['m1R', 'm2R', 'm3', 'm4']);
  await mid.messageCount(queue);
  t.equal(mid.received(M.basicDeliver).length, 0, 'none to the lower priority');
});

t.test('single active consumer: an exclusive consumer is refused, even on an empty queue: 403', async (t) => {
  const s = await Session.open(t);
  const { queue } = await setup(s, { 'x-single-active-consumer': true });
  const ch = await s.channel();
  await expectError(t, ch.consume(queue, { exclusive: true }), 'channel', {
    replyCode: 403,
    replyText: `ACCESS_REFUSED - queue '${queue}' in vhost '/' in exclusive use`,
    classId: 60,
    methodId: 20,
  });
});
