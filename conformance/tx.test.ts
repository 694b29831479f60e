// Transactions: tx.select, publishes and acknowledgements that take effect only at commit, rollback,
// returns at commit, errors inside a transaction and commit/rollback without select. Expectations
// are RabbitMQ 3.10's observed behaviour; texts are exact.

import t from 'tap';
import { broker } from './lib/broker.js';
import { amqpClientConnect, type Teardown, within } from './lib/cases.js';
import { M } from './lib/methods.js';
import { drain, drainMarked, Scratch } from './lib/scratch.js';
import { type Channel, expectError, Session } from './lib/session.js';

const b = await broker();

const NOT_TRANSACTIONAL = 'PRECONDITION_FAILED - channel is not transactional';

async function open(t: Teardown): Promise<{ s: Session; ch: Channel; names: Scratch }> {
  const s = await Session.open(t);
  return { s, ch: await s.channel(), names: Scratch.for(t, 'tx') };
}

/** A queue with the messages given, published outside any transaction and confirmed. */
async function filledQueue(s: Session, bodies: string[]): Promise<string> {
  const ch = await s.channel();
  const { queue } = await ch.queueDeclare('', { exclusive: true });
  await ch.confirmSelect();
  for (const body of bodies) await ch.publish('', queue, body);
  await ch.waitForConfirms();
  await ch.close();
  return queue;
}

t.test('tx.select: select-ok; selecting again is accepted', async (t) => {
  const { ch } = await open(t);
  await ch.txSelect();
  await ch.txSelect();
  t.pass('select-ok twice');
});

t.test('publishes are enqueued at commit, not before', async (t) => {
  const { s, ch } = await open(t);
  const { queue } = await ch.queueDeclare('', { exclusive: true });
  const observer = await s.channel();
  await ch.txSelect();
  await ch.publish('', queue, 'one');
  await ch.publish('', queue, 'two');
  await ch.queueDeclare(queue, { passive: true });
  t.same(await drain(observer, queue), [], 'nothing before commit');
  await ch.txCommit();
  t.same(await drain(observer, queue), ['one', 'two'], 'both after commit, in order');
});

t.test('rollback discards the publishes; the channel stays transactional', async (t) => {
  const { s, ch } = await open(t);
  const { queue } = await ch.queueDeclare('', { exclusive: true });
  const observer = await s.channel();
  await ch.txSelect();
  await ch.publish('', queue, 'discarded');
  await ch.txRollback();
  await ch.publish('', queue, 'kept');
  await ch.queueDeclare(queue, { passive: true });
  t.same(await drain(observer, queue), [], 'nothing before the next commit');
  await ch.txCommit();
  t.same(await drain(observer, queue), ['kept']);
});

t.test('acks take effect at commit; a rolled back ack leaves the message unacked', async (t) => {
  const { s, ch } = await open(t);
  const queue = await filledQueue(s, ['a', 'b']);
  const observer = await s.channel();
  await ch.txSelect();
  const a = await ch.get(queue);
  const b2 = await ch.get(queue);
  if (!a || !b2) throw new Error('basic.get-empty');
  await ch.ack(a.deliveryTag);
  await ch.txRollback();
  await ch.ack(b2.deliveryTag);
  await ch.txCommit();
  // Closing the channel requeues what is still unacked: 'a', whose ack was rolled back.
  await ch.close();
  t.same(await drainMarked(observer, queue), ['aR']);
});

t.test(
  'an ack in a transaction, then the channel closes before commit: the message comes back',
  async (t) => {
    const { s, ch } = await open(t);
    const queue = await filledQueue(s, ['a']);
    const observer = await s.channel();
    await ch.txSelect();
    const a = await ch.get(queue);
    if (!a) throw new Error('basic.get-empty');
    await ch.ack(a.deliveryTag);
    await ch.close();
    t.same(await drainMarked(observer, queue), ['aR']);
  },
);

t.test('reject and nack with requeue take effect at commit', async (t) => {
  const { s, ch } = await open(t);
  const queue = await filledQueue(s, ['a', 'b', 'c']);
  const observer = await s.channel();
  await ch.txSelect();
  const got = [await ch.get(queue), await ch.get(queue)];
  if (!got[0] || !got[1]) throw new Error('basic.get-empty');
  await ch.reject(got[0].deliveryTag, true);
  await ch.nack(got[1].deliveryTag, false, true);
  await ch.queueDeclare(queue, { passive: true });
  const before = await observer.get(queue, false);
  t.equal(before?.body.toString(), 'c', 'before commit the next ready message is c');
  await ch.txCommit();
  t.same(await drainMarked(observer, queue), ['aR', 'bR'], 'after commit a and b are back');
});

t.test('a mandatory unroutable publish is returned at commit', async (t) => {
  const { ch } = await open(t);
  await ch.txSelect();
  await ch.publish('amq.direct', 'warren-conformance-nowhere', 'back', { mandatory: true });
  await ch.queueDeclare('', { exclusive: true });
  t.same(ch.received(M.basicReturn), [], 'no basic.return before commit');
  await ch.txCommit();
  const r = await ch.nextReturn();
  t.same(
    [r.replyCode, r.replyText, r.body.toString()],
    [312, 'NO_ROUTE', 'back'],
    'basic.return after commit',
  );
});

t.test('tx.commit without tx.select: 406 channel is not transactional', async (t) => {
  const { ch } = await open(t);
  await expectError(t, ch.txCommit(), 'channel', {
    replyCode: 406,
    replyText: NOT_TRANSACTIONAL,
    classId: 90,
    methodId: 20,
  });
});

t.test('tx.rollback without tx.select: 406 channel is not transactional', async (t) => {
  const { ch } = await open(t);
  await expectError(t, ch.txRollback(), 'channel', {
    replyCode: 406,
    replyText: NOT_TRANSACTIONAL,
    classId: 90,
    methodId: 30,
  });
});

t.test('an unknown delivery tag in a transaction: 406 at once, not at commit', async (t) => {
  const { ch } = await open(t);
  await ch.txSelect();
  await ch.ack(9);
  t.same(await ch.expectClose(), {
    replyCode: 406,
    replyText: 'PRECONDITION_FAILED - unknown delivery tag 9',
    classId: 60,
    methodId: 80,
  });
});

t.test('a publish to a missing exchange in a transaction: 404 at once', async (t) => {
  const { ch, names } = await open(t);
  const x = names.exchange('missing');
  await ch.txSelect();
  await ch.publish(x, 'k', 'lost');
  t.same(await ch.expectClose(), {
    replyCode: 404,
    replyText: `NOT_FOUND - no exchange '${x}' in vhost '/'`,
    classId: 60,
    methodId: 40,
  });
});

t.test('amqp-client: txSelect, publish, rollback, publish, commit', async (t) => {
  const client = await amqpClientConnect(t, b.url);
  const ch = await within(client.channel(), 'channel.open-ok');
  const q = await within(ch.queueDeclare('', { exclusive: true }), 'queue.declare-ok');
  await within(ch.txSelect(), 'tx.select-ok');
  await within(ch.basicPublish('', q.name, 'rolled back'), 'basic.publish');
  await within(ch.txRollback(), 'tx.rollback-ok');
  await within(ch.basicPublish('', q.name, 'committed'), 'basic.publish');
  await within(ch.txCommit(), 'tx.commit-ok');
  const msg = await within(ch.basicGet(q.name, { noAck: true }), 'basic.get-ok');
  t.equal(msg?.bodyToString(), 'committed');
  const none = await within(ch.basicGet(q.name, { noAck: true }), 'basic.get-empty');
  t.equal(none, null, 'nothing else');
});
