// Dead-lettering: x-dead-letter-exchange and x-dead-letter-routing-key, the reasons a message is
// dead-lettered for (rejected, expired, maxlen), the x-death header and the x-first-death-* headers,
// cycles, and the arguments RabbitMQ refuses. Expectations are RabbitMQ's observed behaviour.

import t from 'tap';
import { Scratch } from './lib/scratch.js';
import { type Channel, expectError, Session } from './lib/session.js';
import type { FieldTable, FieldValue } from './lib/wire.js';

async function open(t: Parameters<typeof Session.open>[0]) {
  const s = await Session.open(t);
  return { s, ch: await s.channel(), names: Scratch.for(t, 'dlx') };
}

/** A queue `target` bound to a fanout exchange `dlx`, and a source queue dead-lettering to it. */
async function pair(ch: Channel, names: Scratch, sourceArgs: FieldTable = {}) {
  const dlx = names.exchange('dlx');
  await ch.exchangeDeclare(dlx, 'fanout', { autoDelete: false });
  const { queue: target } = await ch.queueDeclare('', { exclusive: true });
  await ch.queueBind(target, dlx, '');
  const { queue: source } = await ch.queueDeclare('', {
    exclusive: true,
    arguments: { 'x-dead-letter-exchange': dlx, ...sourceArgs },
  });
  return { dlx, target, source };
}

/** The next message dead-lettered to `queue` (dead-lettering may happen after the reject's reply). */
async function deadLettered(ch: Channel, queue: string) {
  await ch.consume(queue, { consumerTag: `dead-${queue}`, noAck: true });
  const m = await ch.nextDelivery();
  await ch.cancel(`dead-${queue}`);
  return m;
}

function deaths(headers: FieldTable | undefined): FieldTable[] {
  return ((headers?.['x-death'] as FieldValue[] | undefined) ?? []) as FieldTable[];
}

t.test('dead-letter arguments RabbitMQ refuses: channel error 406 with its reason', async (t) => {
  const { s } = await open(t);
  const cases: [FieldTable, string][] = [
    [
      { 'x-dead-letter-routing-key': 'k' },
      "invalid arg 'x-dead-letter-routing-key' for queue 'dlx-refused' in vhost '/': routing_key_but_no_dlx_defined",
    ],
    [
      { 'x-dead-letter-exchange': 5 },
      "invalid type 'signedint' for arg 'x-dead-letter-exchange' in queue 'dlx-refused' in vhost '/'",
    ],
    [
      { 'x-dead-letter-exchange': 'x', 'x-dead-letter-routing-key': 5 },
      "invalid arg 'x-dead-letter-routing-key' for queue 'dlx-refused' in vhost '/': {unacceptable_type,signedint}",
    ],
  ];
  for (const [args, text] of cases) {
    const ch = await s.channel();
    await expectError(t, ch.queueDeclare('dlx-refused', { exclusive: true, arguments: args }), 'channel', {
      replyCode: 406,
      replyText: `PRECONDITION_FAILED - ${text}`,
      classId: 50,
      methodId: 10,
    });
  }
  const ch = await s.channel();
  const { queue } = await ch.queueDeclare('', {
    exclusive: true,
    arguments: { 'x-dead-letter-exchange': 'no-such-exchange-here' },
  });
  t.ok(queue, 'a dead-letter exchange that does not exist is taken');
});

t.test('rejected without requeue: to the dead-letter exchange with x-death', async (t) => {
  const { ch, names } = await open(t);
  const { dlx, target, source } = await pair(ch, names);
  await ch.publish('', source, 'r1', {
    properties: { headers: { keep: 'me', n: 7 }, expiration: '60000', messageId: 'm1' },
  });
  const got = await ch.get(source);
  if (got === undefined) return t.fail('no message');
  await ch.reject(got.deliveryTag, false);
  const dead = await deadLettered(ch, target);
  t.equal(dead.body.toString(), 'r1');
  t.equal(dead.exchange, dlx, 'delivered from the dead-letter exchange');
  t.equal(dead.routingKey, source, 'with its original routing key');
  t.equal(dead.properties.expiration, undefined, 'the expiration is removed');
  t.equal(dead.properties.messageId, 'm1');
  const h = dead.properties.headers ?? {};
  t.equal(h.keep, 'me');
  t.equal(h.n, 7);
  const [d, ...more] = deaths(h);
  t.equal(more.length, 0);
  t.same(Object.keys(d).sort(), [
    'count',
    'exchange',
    'original-expiration',
    'queue',
    'reason',
    'routing-keys',
    'time',
  ]);
  t.equal(d.count, 1n);
  t.equal(d.reason, 'rejected');
  t.equal(d.queue, source);
  t.equal(d.exchange, '');
  t.same(d['routing-keys'], [source]);
  t.equal(d['original-expiration'], '60000');
  t.equal(typeof d.time, 'bigint');
  const now = BigInt(Math.floor(Date.now() / 1000));
  t.ok((d.time as bigint) <= now && (d.time as bigint) >= now - 60n, 'time in seconds, now');
  t.equal(h['x-first-death-reason'], 'rejected');
  t.equal(h['x-first-death-queue'], source);
  t.equal(h['x-first-death-exchange'], '');
});

t.test('headers and x-death entries in the order RabbitMQ writes them', async (t) => {
  const { ch, names } = await open(t);
  const { target, source } = await pair(ch, names);
  await ch.publish('', source, 'o1', { properties: { expiration: '60000', headers: { zz: 1, aa: 2 } } });
  const got = await ch.get(source);
  await ch.reject(got?.deliveryTag ?? 0, false);
  const dead = await deadLettered(ch, target);
  const h = dead.properties.headers ?? {};
  // RabbitMQ 3.13 and later add x-last-death-exchange, -queue and -reason (3.10 does not): sorted
  // among the others like every header.
  const last = Object.keys(h).filter((k) => k.startsWith('x-last-death-'));
  if (last.length > 0) {
    t.same(last, ['x-last-death-exchange', 'x-last-death-queue', 'x-last-death-reason']);
    t.equal(h['x-last-death-reason'], 'rejected');
    t.equal(h['x-last-death-queue'], source);
    t.equal(h['x-last-death-exchange'], '');
  }
  t.same(
    Object.keys(h).filter((k) => !k.startsWith('x-last-death-')),
    ['aa', 'x-death', 'x-first-death-exchange', 'x-first-death-queue', 'x-first-death-reason', 'zz'],
    'the headers sorted by name, as RabbitMQ writes them',
  );
  t.same(Object.keys(deaths(h)[0]), [
    'count',
    'reason',
    'queue',
    'time',
    'exchange',
    'routing-keys',
    'original-expiration',
  ]);
});

t.test('nack without requeue, one and multiple: each is dead-lettered as rejected', async (t) => {
  const { ch, names } = await open(t);
  const { target, source } = await pair(ch, names);
  for (const b of ['n1', 'n2', 'n3']) await ch.publish('', source, b);
  await ch.consume(source, { consumerTag: 'c1' });
  const ds = await ch.deliveries(3);
  await ch.nack(ds[0].deliveryTag, false, false);
  await ch.nack(ds[2].deliveryTag, true, false);
  const other = await ch.session.channel();
  const bodies: string[] = [];
  for (let i = 0; i < 3; i++) {
    const m = await other.get(target, true);
    bodies.push(m?.body.toString() ?? '');
    t.equal(deaths(m?.properties.headers)[0]?.reason, 'rejected');
  }
  t.same(bodies, ['n1', 'n2', 'n3']);
});

t.test(
  'x-dead-letter-routing-key replaces the routing key; routing-keys keeps the original ones',
  async (t) => {
    const { ch, names } = await open(t);
    const dlx = names.exchange('dlx-direct');
    await ch.exchangeDeclare(dlx, 'direct', { autoDelete: false });
    const { queue: target } = await ch.queueDeclare('', { exclusive: true });
    await ch.queueBind(target, dlx, 'dead');
    const ex = names.exchange('src-direct');
    await ch.exchangeDeclare(ex, 'direct', { autoDelete: false });
    const { queue: source } = await ch.queueDeclare('', {
      exclusive: true,
      arguments: { 'x-dead-letter-exchange': dlx, 'x-dead-letter-routing-key': 'dead' },
    });
    await ch.queueBind(source, ex, 'k1');
    await ch.publish(ex, 'k1', 'rk', { properties: { headers: { CC: ['k2'] } } });
    const got = await ch.get(source);
    await ch.reject(got?.deliveryTag ?? 0, false);
    const dead = await deadLettered(ch, target);
    t.equal(dead.routingKey, 'dead');
    const d = deaths(dead.properties.headers)[0];
    t.equal(d.exchange, ex);
    t.same(d['routing-keys'], ['k1', 'k2']);
    t.equal(d['original-expiration'], undefined, 'no original-expiration without an expiration');
  },
);

t.test('expired: per-message and per-queue TTL dead-letter with reason expired', async (t) => {
  const { ch, names } = await open(t);
  const { target, source } = await pair(ch, names, { 'x-message-ttl': 1 });
  await ch.publish('', source, 'e1');
  await ch.publish('', source, 'e2', { properties: { expiration: '0' } });
  await ch.consume(target, { consumerTag: 'dl', noAck: true });
  const [a, b] = await ch.deliveries(2);
  t.same([a.body.toString(), b.body.toString()], ['e1', 'e2']);
  const da = deaths(a.properties.headers)[0];
  t.equal(da.reason, 'expired');
  t.equal(da['original-expiration'], undefined);
  const db = deaths(b.properties.headers)[0];
  t.equal(db.reason, 'expired');
  t.equal(db['original-expiration'], '0');
  t.equal(b.properties.expiration, undefined);
  t.equal(a.properties.headers?.['x-first-death-reason'], 'expired');
});

t.test(
  'maxlen: drop-head dead-letters the dropped head, reject-publish-dlx the refused publish',
  async (t) => {
    const { s, ch, names } = await open(t);
    const { target, source } = await pair(ch, names, { 'x-max-length': 1 });
    await ch.publish('', source, 'h1');
    await ch.publish('', source, 'h2');
    const m = await deadLettered(ch, target);
    t.equal(m.body.toString(), 'h1');
    t.equal(deaths(m.properties.headers)[0]?.reason, 'maxlen');
    const second = await pair(ch, names, { 'x-max-length': 1, 'x-overflow': 'reject-publish-dlx' });
    const p = await s.channel();
    await p.confirmSelect();
    await p.publish('', second.source, 'p1');
    t.equal((await p.nextConfirm()).nack, false);
    await p.publish('', second.source, 'p2');
    t.equal((await p.nextConfirm()).nack, true, 'the publish over the limit is nacked');
    const refused = await deadLettered(ch, second.target);
    t.equal(refused.body.toString(), 'p2', 'and dead-lettered');
    t.equal(deaths(refused.properties.headers)[0]?.reason, 'maxlen');
    t.equal((await ch.get(second.source, true))?.body.toString(), 'p1');
    const third = await pair(ch, names, { 'x-max-length': 1, 'x-overflow': 'reject-publish' });
    await p.publish('', third.source, 'q1');
    await p.publish('', third.source, 'q2');
    t.equal((await p.nextConfirm()).nack, false);
    t.equal((await p.nextConfirm()).nack, true);
    t.equal(await ch.messageCount(third.target), 0, 'reject-publish does not dead-letter');
  },
);

t.test(
  'dead-lettered again through the same queue and reason: the count grows, newest entry first',
  async (t) => {
    const { ch, names } = await open(t);
    // a -> (rejected) dlx -> b -> (expired, TTL 1) -> a2 dlx -> a: the cycle contains a rejection, so it
    // goes on until the client stops rejecting.
    const dlxA = names.exchange('cycle-a');
    const dlxB = names.exchange('cycle-b');
    await ch.exchangeDeclare(dlxA, 'fanout', { autoDelete: false });
    await ch.exchangeDeclare(dlxB, 'fanout', { autoDelete: false });
    const qa = names.queue('cycle-qa');
    const qb = names.queue('cycle-qb');
    await ch.queueDeclare(qa, { exclusive: true, arguments: { 'x-dead-letter-exchange': dlxA } });
    await ch.queueDeclare(qb, {
      exclusive: true,
      arguments: { 'x-dead-letter-exchange': dlxB, 'x-message-ttl': 1 },
    });
    await ch.queueBind(qb, dlxA, '');
    await ch.queueBind(qa, dlxB, '');
    await ch.publish('', qa, 'c1');
    await ch.consume(qa, { consumerTag: 'ca' });
    const first = await ch.nextDelivery();
    await ch.reject(first.deliveryTag, false);
    const second = await ch.nextDelivery();
    t.same(
      deaths(second.properties.headers).map((d) => [d.queue, d.reason, d.count]),
      [
        [qb, 'expired', 1n],
        [qa, 'rejected', 1n],
      ],
    );
    await ch.reject(second.deliveryTag, false);
    const third = await ch.nextDelivery();
    const d3 = deaths(third.properties.headers);
    t.same(
      d3.map((d) => [d.queue, d.reason, d.count]),
      [
        [qb, 'expired', 2n],
        [qa, 'rejected', 2n],
      ],
    );
    t.same(d3[1]['routing-keys'], [qa], 'an entry keeps its first routing keys');
    t.equal(third.properties.headers?.['x-first-death-queue'], qa);
    t.equal(third.properties.headers?.['x-first-death-reason'], 'rejected');
    await ch.ack(third.deliveryTag);
  },
);

t.test('an automatic cycle (no rejection in it) is dropped', async (t) => {
  const { ch, names } = await open(t);
  const dlx = names.exchange('self');
  await ch.exchangeDeclare(dlx, 'fanout', { autoDelete: false });
  const q = names.queue('self-q');
  await ch.queueDeclare(q, {
    exclusive: true,
    arguments: { 'x-dead-letter-exchange': dlx, 'x-message-ttl': 1 },
  });
  const { queue: witness } = await ch.queueDeclare('', { exclusive: true });
  await ch.queueBind(q, dlx, '');
  await ch.queueBind(witness, dlx, '');
  await ch.publish('', q, 's1');
  await ch.consume(witness, { consumerTag: 'w', noAck: true });
  const d = await ch.nextDelivery();
  t.same(
    deaths(d.properties.headers).map((e) => [e.queue, e.reason, e.count]),
    [[q, 'expired', 1n]],
  );
  // Back to q it would expire again and go round for ever: RabbitMQ drops the copy for q; the witness,
  // not in the cycle, has its copy.
  await ch.publish('', witness, 'marker');
  t.equal((await ch.nextDelivery()).body.toString(), 'marker', 'no second copy before the marker');
  t.equal(await ch.messageCount(q), 0);
});

t.test('a dead-letter exchange that does not exist: the message is dropped', async (t) => {
  const { ch, names } = await open(t);
  const { queue } = await ch.queueDeclare('', {
    exclusive: true,
    arguments: { 'x-dead-letter-exchange': names.exchange('missing') },
  });
  await ch.publish('', queue, 'gone');
  const got = await ch.get(queue);
  await ch.reject(got?.deliveryTag ?? 0, false);
  t.equal(await ch.messageCount(queue), 0);
});
