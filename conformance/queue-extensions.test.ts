// RabbitMQ's queue extensions: x-expires (when an unused queue goes, what keeps it and what renews
// its lease), quorum queues (the declares RabbitMQ refuses, x-delivery-limit and x-delivery-count),
// CC and BCC routing headers, and header field types kept byte for byte through dead-lettering.
// Expectations are RabbitMQ 3.10's observed behaviour; texts are exact.

import t from 'tap';
import { rawOpen } from './lib/cases.js';
import {
  basicCancelArgs,
  basicConsumeArgs,
  basicGetArgsFull,
  basicNackArgs,
  basicPublishArgs,
  basicRejectArgs,
  type Deliver,
  decodeDeliver,
  decodeGetOk,
  type GetOk,
  M,
  type QueueDeclareOptions,
} from './lib/methods.js';
import type { RawConnection } from './lib/raw.js';
import { Scratch } from './lib/scratch.js';
import { type Asserts, type Channel, expectError, Session } from './lib/session.js';
import {
  bodyFrame,
  decodeTableBody,
  type FieldTable,
  type FieldValue,
  FRAME_BODY,
  FRAME_HEADER,
  headerFrame,
  isMethod,
  methodFrame,
  Reader,
  Writer,
} from './lib/wire.js';

async function open(t: Parameters<typeof Session.open>[0], area: string) {
  const s = await Session.open(t);
  return { s, ch: await s.channel(), names: Scratch.for(t, area) };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function refused(text: string) {
  return { replyCode: 406, replyText: `PRECONDITION_FAILED - ${text}`, classId: 50, methodId: 10 };
}

// ---- x-expires ----------------------------------------------------------------------------------

/** Short enough to keep the file quick, long enough that a loaded machine still sends what it must. */
const EXPIRES = 300;
/** Timer rounding between the broker's clock and ours. */
const CLOCK_SLACK = 15;

/**
 * Resolves with performance.now() once `queue` is gone, seen as a mandatory publish to it coming back
 * 312 NO_ROUTE. A publish does not renew an x-expires lease; a passive declare does on RabbitMQ
 * (it takes the queue's stat, which restarts the timer), so it cannot be the probe.
 */
async function expiredAt(ch: Channel, queue: string, timeoutMs = 5000): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    await ch.publish('', queue, 'probe', { mandatory: true });
    try {
      const returned = await ch.nextReturn(25);
      if (returned.replyCode === 312) return performance.now();
    } catch (err) {
      if (!(err instanceof Error && err.message.startsWith('timed out'))) throw err;
    }
    if (performance.now() > deadline) throw new Error(`queue ${queue} still there after ${timeoutMs} ms`);
  }
}

async function passiveDeclare404(t: Asserts, s: Session, queue: string): Promise<void> {
  const ch = await s.channel();
  await expectError(t, ch.queueDeclare(queue, { passive: true }), 'channel', {
    replyCode: 404,
    replyText: `NOT_FOUND - no queue '${queue}' in vhost '/'`,
    classId: 50,
    methodId: 10,
  });
}

t.test('x-expires values RabbitMQ refuses: channel error 406 with its reason', async (t) => {
  const { s } = await open(t, 'expires');
  const cases: [FieldValue, string][] = [
    [0, '{value_zero,0}'],
    [0n, '{value_zero,0}'],
    [-1, '{value_negative,-1}'],
    [-5n, '{value_negative,-5}'],
    [1.5, '"expected integer, got double"'],
    ['100', '"expected integer, got longstr"'],
    [true, '"expected integer, got bool"'],
  ];
  for (const [value, reason] of cases) {
    const ch = await s.channel();
    await expectError(
      t,
      ch.queueDeclare('expires-refused', { exclusive: true, arguments: { 'x-expires': value } }),
      'channel',
      refused(`invalid arg 'x-expires' for queue 'expires-refused' in vhost '/': ${reason}`),
    );
  }
  const ch = await s.channel();
  for (const value of [1, 100n, 2 ** 31 - 1]) {
    const { queue } = await ch.queueDeclare('', { exclusive: true, arguments: { 'x-expires': value } });
    t.ok(queue, `taken: ${value}`);
  }
});

t.test('an unused queue is deleted once the period has passed; passive declare is 404 then', async (t) => {
  const { s, ch, names } = await open(t, 'expires');
  const queue = names.queue('unused');
  const declared = performance.now();
  await ch.queueDeclare(queue, { arguments: { 'x-expires': EXPIRES } });
  const gone = await expiredAt(ch, queue);
  t.ok(gone - declared >= EXPIRES - CLOCK_SLACK, `not before the period (${Math.round(gone - declared)} ms)`);
  await passiveDeclare404(t, s, queue);
});

t.test('a consumer keeps it past the period; after the cancel the period runs again', async (t) => {
  const { s, ch, names } = await open(t, 'expires');
  const queue = names.queue('consumed');
  await ch.queueDeclare(queue, { arguments: { 'x-expires': EXPIRES } });
  const consumer = await s.channel();
  await consumer.consume(queue, { consumerTag: 'keeper', noAck: true });
  // Nothing announces that a queue was not deleted: three periods of waiting is the only witness.
  await sleep(3 * EXPIRES);
  const probe = await s.channel();
  const ok = await probe.queueDeclare(queue, { passive: true });
  t.equal(ok.consumerCount, 1, 'still there with its consumer after three periods');
  const cancelled = performance.now();
  await consumer.cancel('keeper');
  const gone = await expiredAt(ch, queue);
  t.ok(
    gone - cancelled >= EXPIRES - CLOCK_SLACK,
    `gone a full period after the cancel (${Math.round(gone - cancelled)} ms)`,
  );
  await passiveDeclare404(t, s, queue);
});

t.test('a redeclare renews the lease', async (t) => {
  const { s, ch, names } = await open(t, 'expires');
  const queue = names.queue('redeclared');
  const args = { 'x-expires': EXPIRES };
  await ch.queueDeclare(queue, { arguments: args });
  const pub = await s.channel();
  await pub.confirmSelect();
  await pub.publish('', queue, 'marker');
  await pub.waitForConfirms();
  await sleep(EXPIRES / 3);
  const renewed = performance.now();
  const again = await ch.queueDeclare(queue, { arguments: args });
  // A queue that already expired would be declared anew, empty: then this machine was too slow.
  t.equal(again.messageCount, 1, 'the redeclare found the same queue, with its message');
  const gone = await expiredAt(ch, queue);
  t.ok(
    gone - renewed >= EXPIRES - CLOCK_SLACK,
    `gone a full period after the redeclare (${Math.round(gone - renewed)} ms)`,
  );
  await passiveDeclare404(t, s, queue);
});

t.test('a passive declare renews the lease too', async (t) => {
  const { s, ch, names } = await open(t, 'expires');
  const queue = names.queue('passive');
  await ch.queueDeclare(queue, { arguments: { 'x-expires': EXPIRES } });
  await sleep(EXPIRES / 3);
  const renewed = performance.now();
  await ch.queueDeclare(queue, { passive: true });
  const gone = await expiredAt(ch, queue);
  t.ok(
    gone - renewed >= EXPIRES - CLOCK_SLACK,
    `gone a full period after the passive declare (${Math.round(gone - renewed)} ms)`,
  );
  await passiveDeclare404(t, s, queue);
});

t.test('basic.get renews the lease, whether it finds a message or not', async (t) => {
  const { s, ch, names } = await open(t, 'expires');
  for (const withMessage of [false, true]) {
    const queue = names.queue(withMessage ? 'got' : 'got-empty');
    await ch.queueDeclare(queue, { arguments: { 'x-expires': EXPIRES } });
    if (withMessage) await ch.publish('', queue, 'm');
    await sleep(EXPIRES / 3);
    const renewed = performance.now();
    // On a queue already gone this is a 404, which fails the case.
    const got = await ch.get(queue, true);
    t.equal(got?.body.toString(), withMessage ? 'm' : undefined, 'basic.get reached the queue');
    const gone = await expiredAt(ch, queue);
    t.ok(
      gone - renewed >= EXPIRES - CLOCK_SLACK,
      `${withMessage ? 'get-ok' : 'get-empty'}: gone a full period after it (${Math.round(gone - renewed)} ms)`,
    );
    await passiveDeclare404(t, s, queue);
  }
});

// ---- typed field tables, for the cases that compare header bytes ---------------------------------

/** One field value as it is on the wire: its type octet and the octets after it. */
interface TypedField {
  tag: string;
  bytes: Buffer;
}

function fixed(tag: string, size: number, write: (b: Buffer) => void): TypedField {
  const b = Buffer.alloc(size);
  write(b);
  return { tag, bytes: b };
}

function withLength(tag: string, content: Buffer): TypedField {
  return { tag, bytes: new Writer().longstr(content).build() };
}

function encodeField(f: TypedField): Buffer {
  return Buffer.concat([Buffer.from(f.tag, 'latin1'), f.bytes]);
}

function encodeEntries(entries: [string, TypedField][]): Buffer {
  const w = new Writer();
  for (const [key, field] of entries) w.shortstr(key).raw(encodeField(field));
  return w.build();
}

const field = {
  bool: (v: number) => fixed('t', 1, (b) => b.writeUInt8(v)),
  int8: (v: number) => fixed('b', 1, (b) => b.writeInt8(v)),
  uint8: (v: number) => fixed('B', 1, (b) => b.writeUInt8(v)),
  int16: (v: number) => fixed('s', 2, (b) => b.writeInt16BE(v)),
  uint16: (v: number) => fixed('u', 2, (b) => b.writeUInt16BE(v)),
  int32: (v: number) => fixed('I', 4, (b) => b.writeInt32BE(v)),
  uint32: (v: number) => fixed('i', 4, (b) => b.writeUInt32BE(v)),
  int64: (v: bigint) => fixed('l', 8, (b) => b.writeBigInt64BE(v)),
  float: (v: number) => fixed('f', 4, (b) => b.writeFloatBE(v)),
  double: (v: number) => fixed('d', 8, (b) => b.writeDoubleBE(v)),
  decimal: (scale: number, v: number) =>
    fixed('D', 5, (b) => {
      b.writeUInt8(scale, 0);
      b.writeInt32BE(v, 1);
    }),
  timestamp: (v: bigint) => fixed('T', 8, (b) => b.writeBigUInt64BE(v)),
  string: (v: string) => withLength('S', Buffer.from(v, 'utf8')),
  bytes: (v: Buffer) => withLength('x', v),
  table: (entries: [string, TypedField][]) => withLength('F', encodeEntries(entries)),
  array: (items: TypedField[]) => withLength('A', Buffer.concat(items.map(encodeField))),
  void: (): TypedField => ({ tag: 'V', bytes: Buffer.alloc(0) }),
};

const FIXED_SIZES: Record<string, number> = {
  t: 1,
  b: 1,
  B: 1,
  s: 2,
  u: 2,
  I: 4,
  i: 4,
  l: 8,
  f: 4,
  d: 8,
  D: 5,
  T: 8,
  V: 0,
};

function readField(r: Reader): TypedField {
  const tag = String.fromCharCode(r.octet());
  const size = FIXED_SIZES[tag];
  if (size !== undefined) return { tag, bytes: Buffer.from(r.bytes(size)) };
  if ('SxFA'.includes(tag)) {
    const start = r.offset;
    r.longstr();
    return { tag, bytes: Buffer.from(r.buffer.subarray(start, r.offset)) };
  }
  throw new Error(`unknown field type ${JSON.stringify(tag)} at offset ${r.offset - 1}`);
}

/** The entries of a field table (without its length prefix), in wire order, types kept. */
function decodeEntries(bytes: Buffer): [string, TypedField][] {
  const r = new Reader(bytes);
  const out: [string, TypedField][] = [];
  while (r.remaining > 0) out.push([r.shortstr(), readField(r)]);
  return out;
}

/** A field's value through the suite's own decoder, which maps types to JS values. */
function decodedValue(f: TypedField | undefined): FieldValue | undefined {
  return f === undefined ? undefined : decodeTableBody(encodeEntries([['v', f]])).v;
}

/** For messages: a field as tag and hex. */
function show(f: TypedField | undefined): string {
  return f === undefined ? 'absent' : `${f.tag} ${f.bytes.toString('hex')}`;
}

// ---- a raw channel that publishes and reads header tables as octets ------------------------------

interface RawContent {
  headers: [string, TypedField][] | undefined;
  body: Buffer;
}
interface RawGot extends GetOk, RawContent {}
interface RawDelivered extends Deliver, RawContent {}

/** basic.publish, get, reject and nack on one channel of a raw connection, one method at a time. */
class RawChannel {
  constructor(
    readonly conn: RawConnection,
    readonly id: number,
  ) {}

  /** Publishes with only the headers property, given as table octets (without the length prefix). */
  publish(exchange: string, routingKey: string, body: string, headers: Buffer): Promise<void> {
    const content = Buffer.from(body);
    return this.conn.send(
      Buffer.concat([
        methodFrame(this.id, M.basicPublish, basicPublishArgs(exchange, routingKey)),
        headerFrame(this.id, 60, content.length, 1 << 13, new Writer().longstr(headers).build()),
        bodyFrame(this.id, content),
      ]),
    );
  }

  async get(queue: string): Promise<RawGot | undefined> {
    await this.conn.sendMethod(this.id, M.basicGet, basicGetArgsFull(queue, false));
    const m = await this.conn.nextMethod();
    if (isMethod(m, M.basicGetEmpty)) return undefined;
    if (!isMethod(m, M.basicGetOk)) throw new Error(`expected basic.get-ok, got ${m.classId}/${m.methodId}`);
    return { ...decodeGetOk(m.args), ...(await this.content()) };
  }

  async consume(queue: string, consumerTag: string): Promise<void> {
    await this.conn.sendMethod(this.id, M.basicConsume, basicConsumeArgs(queue, { consumerTag }));
    await this.conn.expectMethod(M.basicConsumeOk, this.id);
  }

  async cancel(consumerTag: string): Promise<void> {
    await this.conn.sendMethod(this.id, M.basicCancel, basicCancelArgs(consumerTag));
    await this.conn.expectMethod(M.basicCancelOk, this.id);
  }

  async nextDelivery(): Promise<RawDelivered> {
    const m = await this.conn.expectMethod(M.basicDeliver, this.id);
    return { ...decodeDeliver(m.args), ...(await this.content()) };
  }

  /** The content header and body frames after a get-ok or deliver; the headers property as octets. */
  private async content(): Promise<RawContent> {
    const header = await this.conn.nextFrame();
    if (header.type !== FRAME_HEADER) throw new Error(`expected a content header, got type ${header.type}`);
    const r = new Reader(header.payload);
    r.short();
    r.short();
    const size = Number(r.longlong());
    const flags = r.short();
    // headers is the third property: content-type and content-encoding come before it.
    if (flags & (1 << 15)) r.shortstr();
    if (flags & (1 << 14)) r.shortstr();
    const headers = flags & (1 << 13) ? decodeEntries(r.longstr()) : undefined;
    const chunks: Buffer[] = [];
    let received = 0;
    while (received < size) {
      const frame = await this.conn.nextFrame();
      if (frame.type !== FRAME_BODY) throw new Error(`expected a body frame, got type ${frame.type}`);
      chunks.push(frame.payload);
      received += frame.payload.length;
    }
    return { headers, body: Buffer.concat(chunks) };
  }

  reject(deliveryTag: bigint, requeue: boolean): Promise<void> {
    return this.conn.sendMethod(this.id, M.basicReject, basicRejectArgs(deliveryTag, requeue));
  }

  nack(deliveryTag: bigint, requeue: boolean): Promise<void> {
    return this.conn.sendMethod(this.id, M.basicNack, basicNackArgs(deliveryTag, false, requeue));
  }

  /** basic.get until a message comes: dead-lettering and requeues may land after their method's reply. */
  async nextGot(queue: string, timeoutMs = 3000): Promise<RawGot> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const got = await this.get(queue);
      if (got) return got;
      if (performance.now() > deadline) throw new Error(`no message in ${queue} after ${timeoutMs} ms`);
      await sleep(10);
    }
  }
}

async function rawChannel(t: Parameters<typeof rawOpen>[0]): Promise<RawChannel> {
  return new RawChannel(await rawOpen(t, { openChannel: true, tune: { heartbeat: 0 } }), 1);
}

function headerOf(headers: [string, TypedField][] | undefined, key: string): TypedField | undefined {
  return headers?.find(([k]) => k === key)?.[1];
}

// ---- quorum queues --------------------------------------------------------------------------------

const QUORUM: FieldTable = { 'x-queue-type': 'quorum' };

t.test('quorum queue declares RabbitMQ refuses: channel error 406 with its reason', async (t) => {
  const { s } = await open(t, 'quorum');
  const q = "for queue 'qq-refused' in vhost '/'";
  const ofType = `${q} of queue type rabbit_quorum_queue`;
  const cases: [QueueDeclareOptions, string][] = [
    [{ durable: true, exclusive: true }, `invalid property 'exclusive-owner' ${q}`],
    [{ durable: false, exclusive: true }, `invalid property 'exclusive-owner' ${q}`],
    [{ durable: true, autoDelete: true }, `invalid property 'auto-delete' ${q}`],
    [{ durable: false }, `invalid property 'non-durable' ${q}`],
    [{ durable: true, arguments: { 'x-max-priority': 5 } }, `invalid arg 'x-max-priority' ${ofType}`],
    [{ durable: true, arguments: { 'x-queue-mode': 'lazy' } }, `invalid arg 'x-queue-mode' ${ofType}`],
    [{ durable: true, arguments: { 'x-queue-version': 2 } }, `invalid arg 'x-queue-version' ${ofType}`],
    [
      { durable: true, arguments: { 'x-queue-type': 'bogus' } },
      `invalid arg 'x-queue-type' ${q}: "unsupported queue type 'bogus'"`,
    ],
    [
      { durable: true, arguments: { 'x-queue-type': 5 } },
      `invalid arg 'x-queue-type' ${q}: {unacceptable_type,signedint}`,
    ],
    // Both refused properties: auto-delete is named first.
    [{ durable: true, exclusive: true, autoDelete: true }, `invalid property 'auto-delete' ${q}`],
  ];
  for (const [options, text] of cases) {
    const ch = await s.channel();
    const declare = ch.queueDeclare('qq-refused', {
      ...options,
      arguments: { ...QUORUM, ...options.arguments },
    });
    await expectError(t, declare, 'channel', refused(text));
  }
});

/** A durable quorum queue with this delivery limit, dead-lettering to a fanout with one queue bound. */
async function quorumWithDeadLetters(ch: Channel, names: Scratch, limit: number, withDlx: boolean) {
  const target = names.queue('dead');
  await ch.queueDeclare(target, {});
  const dlx = names.exchange('dlx');
  await ch.exchangeDeclare(dlx, 'fanout', {});
  await ch.queueBind(target, dlx, '');
  const queue = names.queue('qq');
  await ch.queueDeclare(queue, {
    durable: true,
    arguments: {
      ...QUORUM,
      'x-delivery-limit': limit,
      ...(withDlx ? { 'x-dead-letter-exchange': dlx } : {}),
    },
  });
  return { queue, target };
}

t.test(
  'x-delivery-limit: x-delivery-count on each redelivery, then dead-lettered as delivery_limit',
  async (t) => {
    const { ch, names } = await open(t, 'quorum');
    const { queue, target } = await quorumWithDeadLetters(ch, names, 2, true);
    const raw = await rawChannel(t);
    await raw.publish('', queue, 'd1', encodeEntries([['keep', field.string('me')]]));
    await raw.consume(queue, 'limited');
    const counts: string[] = [];
    for (let delivery = 1; delivery <= 3; delivery++) {
      const d = await raw.nextDelivery();
      t.equal(d.body.toString(), 'd1');
      t.equal(d.redelivered, delivery > 1, `delivery ${delivery}: redelivered flag`);
      counts.push(show(headerOf(d.headers, 'x-delivery-count')));
      await raw.nack(d.deliveryTag, true);
    }
    t.same(
      counts,
      ['absent', show(field.int64(1n)), show(field.int64(2n))],
      'no x-delivery-count on the first delivery, then a long (l) counting the returns',
    );
    const dead = await raw.nextGot(target);
    t.equal(dead.body.toString(), 'd1', 'the third return is over the limit: dead-lettered');
    await raw.cancel('limited');
    t.equal(await raw.get(queue), undefined, 'and gone from the quorum queue');
    t.same(
      dead.headers
        ?.map(([key]) => key)
        .filter((key) => !key.startsWith('x-last-death-') && key !== 'x-delivery-count'),
      ['keep', 'x-death', 'x-first-death-exchange', 'x-first-death-queue', 'x-first-death-reason'],
      'its own header, x-death and x-first-death-*',
    );
    const [death] = (decodedValue(headerOf(dead.headers, 'x-death')) ?? []) as FieldTable[];
    t.same(
      { reason: death?.reason, queue: death?.queue, count: death?.count, exchange: death?.exchange },
      { reason: 'delivery_limit', queue, count: 1n, exchange: '' },
    );
    t.equal(show(headerOf(dead.headers, 'keep')), show(field.string('me')), 'its own header kept');
    t.equal(decodedValue(headerOf(dead.headers, 'x-first-death-reason')), 'delivery_limit');
  },
);

t.test('x-delivery-limit without a dead-letter exchange: the message is dropped', async (t) => {
  const { ch, names } = await open(t, 'quorum');
  const { queue, target } = await quorumWithDeadLetters(ch, names, 1, false);
  const raw = await rawChannel(t);
  await raw.publish('', queue, 'd2', encodeEntries([]));
  await raw.consume(queue, 'limited');
  const first = await raw.nextDelivery();
  await raw.nack(first.deliveryTag, true);
  const second = await raw.nextDelivery();
  t.equal(show(headerOf(second.headers, 'x-delivery-count')), show(field.int64(1n)));
  await raw.nack(second.deliveryTag, true);
  // A requeued message would come to the consumer before the cancel-ok (and fail the cancel).
  await raw.cancel('limited');
  t.equal(await raw.get(queue), undefined, 'not requeued after the limit');
  t.equal(await ch.messageCount(target), 0, 'nor dead-lettered anywhere');
});

// ---- CC and BCC ------------------------------------------------------------------------------------

/** Publishes through a confirm channel and waits for the confirm, so every copy is queued. */
async function publishConfirmed(
  pub: Channel,
  exchange: string,
  routingKey: string,
  body: string,
  headers: FieldTable,
): Promise<void> {
  await pub.publish(exchange, routingKey, body, { properties: { headers } });
  await pub.waitForConfirms();
}

/** Every ready message of each queue: body and headers, by basic.get. */
async function takeAll(ch: Channel, queues: string[]) {
  const out: { body: string; headers: FieldTable | undefined }[][] = [];
  for (const queue of queues) {
    const got: { body: string; headers: FieldTable | undefined }[] = [];
    for (let m = await ch.get(queue, true); m; m = await ch.get(queue, true))
      got.push({ body: m.body.toString(), headers: m.properties.headers });
    out.push(got);
  }
  return out;
}

t.test('CC and BCC route to their keys too; CC stays in the headers, BCC is removed', async (t) => {
  const { s, ch, names } = await open(t, 'cc');
  const ex = names.exchange('direct');
  await ch.exchangeDeclare(ex, 'direct', {});
  const queues = ['k1', 'k2', 'k3', 'k4'].map((k) => names.queue(k));
  for (const [i, queue] of queues.entries()) {
    await ch.queueDeclare(queue, {});
    await ch.queueBind(queue, ex, `k${i + 1}`);
  }
  const pub = await s.channel();
  await pub.confirmSelect();
  await publishConfirmed(pub, ex, 'k1', 'cc', { CC: ['k2'], BCC: ['k3'], other: 'x' });
  const [q1, q2, q3, q4] = await takeAll(ch, queues);
  for (const [label, got] of [
    ['routing key', q1],
    ['CC', q2],
    ['BCC', q3],
  ] as const) {
    t.equal(got.length, 1, `the queue bound with the ${label} key has one copy`);
    t.same(got[0]?.headers, { CC: ['k2'], other: 'x' }, `${label}: CC kept, BCC removed`);
  }
  t.equal(q4.length, 0, 'a queue bound with no key of the message has none');
});

t.test('duplicates among the routing key, CC and BCC: one copy per queue', async (t) => {
  const { s, ch, names } = await open(t, 'cc');
  const ex = names.exchange('direct');
  await ch.exchangeDeclare(ex, 'direct', {});
  const a = names.queue('a');
  const b = names.queue('b');
  const both = names.queue('both');
  for (const queue of [a, b, both]) await ch.queueDeclare(queue, {});
  await ch.queueBind(a, ex, 'ka');
  await ch.queueBind(b, ex, 'kb');
  await ch.queueBind(both, ex, 'ka');
  await ch.queueBind(both, ex, 'kb');
  const pub = await s.channel();
  await pub.confirmSelect();
  await publishConfirmed(pub, ex, 'ka', 'dup', { CC: ['ka', 'kb', 'kb'], BCC: ['kb', 'ka'] });
  const got = await takeAll(ch, [a, b, both]);
  t.same(
    got.map((copies) => copies.length),
    [1, 1, 1],
    'each queue once, however many of the keys reach it',
  );
  t.same(got[2][0]?.headers, { CC: ['ka', 'kb', 'kb'] }, 'CC as published, BCC removed');
});

t.test('CC and BCC through the default exchange: queues named by the keys', async (t) => {
  const { s, ch, names } = await open(t, 'cc');
  const [main, cc, bcc] = ['main', 'cc', 'bcc'].map((label) => names.queue(label));
  for (const queue of [main, cc, bcc]) await ch.queueDeclare(queue, {});
  const pub = await s.channel();
  await pub.confirmSelect();
  await publishConfirmed(pub, '', main, 'default', { CC: [cc], BCC: [bcc] });
  const got = await takeAll(ch, [main, cc, bcc]);
  t.same(
    got.map((copies) => copies.map((m) => m.headers)),
    [[{ CC: [cc] }], [{ CC: [cc] }], [{ CC: [cc] }]],
  );
});

t.test('a mandatory publish routed only by CC or BCC is not returned', async (t) => {
  const { s, ch, names } = await open(t, 'cc');
  const [cc, bcc] = ['cc', 'bcc'].map((label) => names.queue(label));
  for (const queue of [cc, bcc]) await ch.queueDeclare(queue, {});
  const pub = await s.channel();
  await pub.confirmSelect();
  await pub.publish('', names.queue('nobody'), 'm1', {
    mandatory: true,
    properties: { headers: { CC: [cc] } },
  });
  await pub.publish('', names.queue('nobody'), 'm2', {
    mandatory: true,
    properties: { headers: { BCC: [bcc] } },
  });
  await pub.waitForConfirms();
  t.same(pub.received(M.basicReturn), [], 'no basic.return');
  t.same(
    (await takeAll(ch, [cc, bcc])).map((copies) => copies.map((m) => m.body)),
    [['m1'], ['m2']],
  );
});

// ---- header field types through dead-lettering ---------------------------------------------------

/** One header of each type RabbitMQ keeps, with values at the edges of their ranges. */
const TYPED_HEADERS: [string, TypedField][] = [
  ['bool-true', field.bool(1)],
  ['bool-false', field.bool(0)],
  ['int8-min', field.int8(-128)],
  ['int8-max', field.int8(127)],
  ['uint8-max', field.uint8(255)],
  ['int16-min', field.int16(-32768)],
  ['uint16-max', field.uint16(65535)],
  ['int32-min', field.int32(-(2 ** 31))],
  ['int32-small', field.int32(7)],
  ['uint32-max', field.uint32(2 ** 32 - 1)],
  ['int64-min', field.int64(-(2n ** 63n))],
  ['int64-max', field.int64(2n ** 63n - 1n)],
  ['float', field.float(1.5)],
  ['float-negative', field.float(-0.25)],
  ['double', field.double(Math.PI)],
  ['double-tiny', field.double(5e-324)],
  ['decimal', field.decimal(2, -12345)],
  ['timestamp', field.timestamp(1_700_000_000n)],
  ['string', field.string('héllo, wörld')],
  ['string-empty', field.string('')],
  ['bytes', field.bytes(Buffer.from([0, 1, 2, 0xfe, 0xff]))],
  ['bytes-empty', field.bytes(Buffer.alloc(0))],
  ['void', field.void()],
  [
    'table',
    field.table([
      ['i8', field.int8(-1)],
      ['u16', field.uint16(1)],
      ['f', field.float(2.5)],
      ['T', field.timestamp(0n)],
      ['inner', field.table([['x', field.bytes(Buffer.from('x'))]])],
      ['nothing', field.void()],
    ]),
  ],
  ['table-empty', field.table([])],
  [
    'array',
    field.array([
      field.int16(-2),
      field.uint32(3),
      field.double(0.5),
      field.decimal(0, 1),
      field.string('s'),
      field.void(),
      field.array([field.uint8(1), field.bool(1)]),
      field.table([['k', field.int64(-1n)]]),
    ]),
  ],
  ['array-empty', field.array([])],
];

t.test('header types and values after dead-lettering, byte for byte as published', async (t) => {
  const { ch, names } = await open(t, 'types');
  const dlx = names.exchange('dlx');
  await ch.exchangeDeclare(dlx, 'fanout', {});
  const target = names.queue('dead');
  await ch.queueDeclare(target, {});
  await ch.queueBind(target, dlx, '');
  const source = names.queue('source');
  await ch.queueDeclare(source, { arguments: { 'x-dead-letter-exchange': dlx } });
  const raw = await rawChannel(t);
  // A bool octet other than 0 and 1 is the one value RabbitMQ does not write back as it came.
  const boolTwo = field.bool(2);
  await raw.publish('', source, 'typed', encodeEntries([...TYPED_HEADERS, ['bool-two', boolTwo]]));
  const got = await raw.nextGot(source);
  const asPublished = new Map(got.headers);
  for (const [key, sent] of [...TYPED_HEADERS, ['bool-two', boolTwo] as const])
    t.equal(show(asPublished.get(key)), show(sent), `delivered before dead-lettering: ${key}`);
  await raw.reject(got.deliveryTag, false);
  const dead = await raw.nextGot(target);
  t.equal(dead.body.toString(), 'typed');
  const after = new Map(dead.headers);
  for (const [key, sent] of TYPED_HEADERS) t.equal(show(after.get(key)), show(sent), `dead-lettered: ${key}`);
  t.equal(show(after.get('bool-two')), show(field.bool(1)), 'dead-lettered: bool octet 2 written back as 1');
  t.same(
    [...after.keys()].filter((key) => key !== 'bool-two' && !TYPED_HEADERS.some(([k]) => k === key)),
    ['x-death', 'x-first-death-exchange', 'x-first-death-queue', 'x-first-death-reason'].concat(
      [...after.keys()].filter((key) => key.startsWith('x-last-death-')),
    ),
    'the only headers added are the dead-lettering ones',
  );
  const [death] = (decodedValue(after.get('x-death')) ?? []) as FieldTable[];
  t.equal(death?.reason, 'rejected');
  t.equal(after.get('x-death')?.tag, 'A', 'x-death is an array');
});
