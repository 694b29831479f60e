// Publisher confirms: confirm.select, one ack for every publish (multiple acks where the broker
// batches), returns before acks, confirm and tx exclusivity. Expectations are RabbitMQ 3.10's
// observed behaviour; texts are exact.

import t from 'tap';
import { broker } from './lib/broker.js';
import { amqpClientConnect, amqplibConnect, type Teardown, within } from './lib/cases.js';
import { decodeConfirm, decodeReturn, M } from './lib/methods.js';
import { drain, Scratch } from './lib/scratch.js';
import { type Channel, expectError, type Incoming, publishBytes, Session } from './lib/session.js';
import { Writer } from './lib/wire.js';

const b = await broker();

async function open(t: Teardown): Promise<{ s: Session; ch: Channel; names: Scratch }> {
  const s = await Session.open(t);
  return { s, ch: await s.channel(), names: Scratch.for(t, 'confirm') };
}

/**
 * Checks that the confirms acknowledge exactly the delivery tags 1..n: tags strictly increasing, a
 * multiple ack covering every tag above the previous confirm, no nack. Returns how many were multiple.
 */
function checkCoverage(
  t: { equal: (a: unknown, b: unknown, m: string) => unknown; ok: (v: unknown, m: string) => unknown },
  confirms: { deliveryTag: bigint; multiple: boolean; nack: boolean }[],
  n: number,
): number {
  let covered = 0n;
  let multiples = 0;
  let fine = true;
  for (const c of confirms) {
    if (c.nack || c.deliveryTag <= covered || (!c.multiple && c.deliveryTag !== covered + 1n)) fine = false;
    if (c.multiple) multiples++;
    covered = c.deliveryTag;
  }
  t.ok(
    fine,
    `acks in order, each single ack the next tag: ${confirms.map((c) => `${c.deliveryTag}${c.multiple ? 'm' : ''}`).join(' ')}`,
  );
  t.equal(covered, BigInt(n), `the last ack is for tag ${n}`);
  return multiples;
}

t.test('confirm.select: select-ok; selecting again is accepted', async (t) => {
  const { ch } = await open(t);
  await ch.confirmSelect();
  await ch.confirmSelect();
  t.pass('select-ok twice');
});

t.test('every publish is acked once, tags from 1, multiple acks cover ranges', async (t) => {
  const { ch } = await open(t);
  const { queue } = await ch.queueDeclare('', { exclusive: true });
  await ch.confirmSelect();
  const n = 200;
  for (let i = 0; i < n; i++) await ch.publish('', queue, `m${i}`);
  const confirms = await ch.waitForConfirms();
  const multiples = checkCoverage(t, confirms, n);
  t.comment(`${confirms.length} confirms for ${n} publishes, ${multiples} of them multiple`);
  await ch.queueDeclare('', { exclusive: true });
  t.same(ch.received(M.basicAck), [], 'no ack beyond the last publish');
  t.equal((await drain(ch, queue)).length, n, 'all in the queue');
});

t.test('500 publishes in one write: the acks, single or multiple, cover exactly tags 1..500', async (t) => {
  const { s, ch } = await open(t);
  const { queue } = await ch.queueDeclare('', { exclusive: true });
  await ch.confirmSelect();
  // Many publishes in a single write give the broker the chance to batch its acks.
  const bytes: Buffer[] = [];
  for (let i = 0; i < 500; i++) bytes.push(publishBytes(ch.id, '', queue, `m${i}`, {}, s.frameMax));
  ch.published += 500n;
  await s.conn.send(Buffer.concat(bytes));
  const confirms = await ch.waitForConfirms();
  checkCoverage(t, confirms, 500);
});

t.test('publishes before confirm.select are not counted', async (t) => {
  const { ch } = await open(t);
  const { queue } = await ch.queueDeclare('', { exclusive: true });
  await ch.publish('', queue, 'before');
  await ch.publish('', queue, 'before');
  await ch.confirmSelect();
  await ch.publish('', queue, 'after');
  const c = await ch.nextConfirm();
  t.same([c.deliveryTag, c.nack], [1n, false], 'basic.ack 1');
});

t.test('each channel counts from 1', async (t) => {
  const { s, ch } = await open(t);
  const { queue } = await ch.queueDeclare('', { exclusive: true });
  const other = await s.channel();
  await ch.confirmSelect();
  await other.confirmSelect();
  await ch.publish('', queue, 'a');
  await ch.publish('', queue, 'b');
  await other.publish('', queue, 'c');
  await ch.waitForConfirms();
  const c = await other.nextConfirm();
  t.equal(c.deliveryTag, 1n, 'the other channel acks tag 1');
});

t.test('unroutable publishes are acked; a mandatory one is returned before its ack', async (t) => {
  const { ch } = await open(t);
  await ch.confirmSelect();
  await ch.publish('amq.direct', 'warren-conformance-nowhere', 'dropped');
  await ch.publish('amq.direct', 'warren-conformance-nowhere', 'returned', { mandatory: true });
  const returned = await ch.take(M.basicReturn);
  const r = decodeReturn(returned.args);
  t.same(
    [r.replyCode, r.replyText, returned.body?.toString()],
    [312, 'NO_ROUTE', 'returned'],
    'basic.return',
  );
  const confirms = [];
  let coveringSecond: Incoming | undefined;
  while (!coveringSecond) {
    const m = await ch.session.take(
      ch.id,
      (m) => m.classId === 60 && (m.methodId === 80 || m.methodId === 120),
      'basic.ack or basic.nack',
    );
    const c = { ...decodeConfirm(m.args), nack: m.methodId === 120 };
    confirms.push(c);
    if (c.deliveryTag >= 2n) coveringSecond = m;
  }
  checkCoverage(t, confirms, 2);
  t.ok((returned.seq ?? 0) < (coveringSecond.seq ?? 0), 'basic.return came before the ack of its publish');
});

t.test('confirm.select with no-wait: no select-ok, acks still come', async (t) => {
  const { ch } = await open(t);
  const { queue } = await ch.queueDeclare('', { exclusive: true });
  await ch.send(M.confirmSelect, new Writer().bits(true).build());
  await ch.publish('', queue, 'x');
  const c = await ch.nextConfirm();
  t.equal(c.deliveryTag, 1n, 'basic.ack 1');
  t.same(ch.received(M.confirmSelectOk), [], 'no confirm.select-ok');
});

t.test('publish to a missing exchange in confirm mode: channel error 404, no ack', async (t) => {
  const { ch, names } = await open(t);
  await ch.confirmSelect();
  const x = names.exchange('missing');
  await ch.publish(x, 'k', 'lost');
  t.same(await ch.expectClose(), {
    replyCode: 404,
    replyText: `NOT_FOUND - no exchange '${x}' in vhost '/'`,
    classId: 60,
    methodId: 40,
  });
  t.same(ch.received(M.basicAck), [], 'no basic.ack');
});

t.test('persistent messages to a durable queue are acked', async (t) => {
  const { ch, names } = await open(t);
  const q = names.queue('durable');
  await ch.queueDeclare(q, { durable: true });
  await ch.confirmSelect();
  for (let i = 0; i < 10; i++) await ch.publish('', q, `p${i}`, { properties: { deliveryMode: 2 } });
  checkCoverage(t, await ch.waitForConfirms(), 10);
  t.equal((await drain(ch, q)).length, 10);
});

t.test('confirm.select on a transactional channel: 406 cannot switch from tx to confirm mode', async (t) => {
  const { ch } = await open(t);
  await ch.txSelect();
  await expectError(t, ch.confirmSelect(), 'channel', {
    replyCode: 406,
    replyText: 'PRECONDITION_FAILED - cannot switch from tx to confirm mode',
    classId: 85,
    methodId: 10,
  });
});

t.test('tx.select on a channel in confirm mode: 406 cannot switch from confirm to tx mode', async (t) => {
  const { ch } = await open(t);
  await ch.confirmSelect();
  await expectError(t, ch.txSelect(), 'channel', {
    replyCode: 406,
    replyText: 'PRECONDITION_FAILED - cannot switch from confirm to tx mode',
    classId: 90,
    methodId: 10,
  });
});

t.test('amqp-client: basicPublish resolves with the sequence number once confirmed', async (t) => {
  const client = await amqpClientConnect(t, b.url);
  const ch = await within(client.channel(), 'channel.open-ok');
  const q = await within(ch.queueDeclare('', { exclusive: true }), 'queue.declare-ok');
  await within(ch.confirmSelect(), 'confirm.select-ok');
  const tags: number[] = [];
  for (let i = 0; i < 5; i++) tags.push(await within(ch.basicPublish('', q.name, `c${i}`), 'basic.ack'));
  t.same(tags, [1, 2, 3, 4, 5]);
});

t.test('amqplib: a confirm channel waits for its confirms', async (t) => {
  const conn = await amqplibConnect(t, b.url);
  conn.on('error', () => {});
  const ch = await within(conn.createConfirmChannel(), 'confirm.select-ok');
  const { queue } = await within(ch.assertQueue('', { exclusive: true }), 'queue.declare-ok');
  let acked = 0;
  for (let i = 0; i < 20; i++)
    ch.sendToQueue(queue, Buffer.from(`a${i}`), {}, (err) => {
      if (!err) acked++;
    });
  await within(ch.waitForConfirms(), 'every confirm');
  t.equal(acked, 20, 'every publish callback without an error');
});
