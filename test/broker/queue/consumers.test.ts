// Which consumer a message goes to, through amqplib: consumer priorities (x-priority: the highest with
// room first, round-robin among equals, lower ones only while every higher one is blocked) and single
// active consumer queues (x-single-active-consumer: one consumer gets everything; the next in line, by
// priority then registration, takes over on cancel, channel close or connection loss, with the old one's
// unacked messages first, in their places).
import amqp, {
  type Channel,
  type ChannelModel,
  type ConfirmChannel,
  type ConsumeMessage,
  type Options,
} from 'amqplib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startBroker } from '../../../src/index.js';
import { closeAll, Inbox, newChannel, openChannel } from '../../helpers/clients.js';

let broker: RunningBroker;
beforeAll(async () => {
  broker = await startBroker({ port: 0 });
});
afterEach(closeAll);
afterAll(() => broker.close());

interface Subscriber {
  channel: Channel;
  inbox: Inbox;
  tag: string;
}

/** A consumer on a channel of its own (manual acks unless noAck), with its prefetch (0: none). */
async function subscribe(
  connection: ChannelModel,
  queue: string,
  prefetch: number,
  options: Options.Consume = {},
): Promise<Subscriber> {
  const channel = await newChannel(connection);
  if (prefetch > 0) await channel.prefetch(prefetch);
  const inbox = new Inbox();
  const { consumerTag } = await channel.consume(queue, inbox.onMessage, options);
  return { channel, inbox, tag: consumerTag };
}

async function publishAll(ch: ConfirmChannel, queue: string, bodies: string[]): Promise<void> {
  for (const body of bodies) ch.sendToQueue(queue, Buffer.from(body));
  await ch.waitForConfirms();
}

const range = (from: number, to: number): string[] =>
  Array.from({ length: to - from + 1 }, (_, i) => `m${from + i}`);

/** Bodies, a * after those redelivered. */
const seen = (messages: ConsumeMessage[]): string[] =>
  messages.map((m) => m.content.toString() + (m.fields.redelivered ? '*' : ''));

async function setup(args: Record<string, unknown> = {}): Promise<{
  connection: ChannelModel;
  pub: ConfirmChannel;
  queue: string;
}> {
  const { connection } = await openChannel(broker.url);
  const pub = await connection.createConfirmChannel();
  const { queue } = await pub.assertQueue('', { exclusive: true, arguments: args });
  return { connection, pub, queue };
}

describe('consumer priorities (x-priority)', () => {
  it('the highest priority with room gets the messages; lower ones only once it is full', async () => {
    const { connection, pub, queue } = await setup();
    const low = await subscribe(connection, queue, 10);
    const negative = await subscribe(connection, queue, 0, { arguments: { 'x-priority': -5 } });
    const high = await subscribe(connection, queue, 2, { priority: 10 });
    await publishAll(pub, queue, range(1, 5));
    await high.inbox.count(2);
    await low.inbox.count(3);
    expect(high.inbox.bodies).toEqual(['m1', 'm2']);
    expect(low.inbox.bodies).toEqual(['m3', 'm4', 'm5']);
    // An ack makes room in the high one: the next message goes to it again.
    high.channel.ack(high.inbox.messages[0]);
    await high.channel.checkQueue(queue);
    await publishAll(pub, queue, ['m6']);
    await high.inbox.count(3);
    expect(high.inbox.bodies[2]).toBe('m6');
    // Both full: the one below 0 gets the rest.
    await publishAll(pub, queue, range(7, 15));
    await negative.inbox.count(2);
    expect(low.inbox.bodies).toEqual(range(3, 5).concat(range(7, 13)));
    expect(negative.inbox.bodies).toEqual(['m14', 'm15']);
  });

  it('round-robin among consumers of one priority, none to a lower one while they have room', async () => {
    const { connection, pub, queue } = await setup();
    const low = await subscribe(connection, queue, 0, { noAck: true });
    const a = await subscribe(connection, queue, 0, { noAck: true, priority: 5 });
    const b = await subscribe(connection, queue, 0, { noAck: true, priority: 5 });
    await publishAll(pub, queue, range(1, 6));
    await a.inbox.count(3);
    await b.inbox.count(3);
    expect(a.inbox.bodies).toEqual(['m1', 'm3', 'm5']);
    expect(b.inbox.bodies).toEqual(['m2', 'm4', 'm6']);
    expect(low.inbox.messages).toHaveLength(0);
    // One of them cancelled: the other takes everything; both gone: the low one.
    await b.channel.cancel(b.tag);
    await publishAll(pub, queue, ['m7', 'm8']);
    await a.inbox.count(5);
    await a.channel.cancel(a.tag);
    await publishAll(pub, queue, ['m9']);
    await low.inbox.count(1);
    expect([a.inbox.bodies.slice(3), low.inbox.bodies]).toEqual([['m7', 'm8'], ['m9']]);
  });

  it('a non-integer x-priority is refused with 406, as RabbitMQ', async () => {
    const { connection, queue } = await setup();
    const cases: [unknown, string][] = [
      ['high', '"expected integer, got longstr"'],
      [1.5, '"expected integer, got double"'],
      [true, '"expected integer, got bool"'],
    ];
    for (const [value, reason] of cases) {
      const ch = await newChannel(connection);
      await expect(ch.consume(queue, () => {}, { arguments: { 'x-priority': value } })).rejects.toThrow(
        `406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - invalid arg 'x-priority' for queue '${queue}' in vhost '/': ${reason}"`,
      );
    }
    const ch = await newChannel(connection);
    await ch.consume(queue, () => {}, { arguments: { 'x-priority': 2 ** 40 } });
  });
});

describe('single active consumer (x-single-active-consumer)', () => {
  it('the first registered consumer gets everything, also while its prefetch is full', async () => {
    const { connection, pub, queue } = await setup({ 'x-single-active-consumer': true });
    const first = await subscribe(connection, queue, 2);
    const second = await subscribe(connection, queue, 0);
    await publishAll(pub, queue, range(1, 5));
    await first.inbox.count(2);
    const ok = await pub.checkQueue(queue);
    // The others are not asked: three wait for the active one.
    expect([ok.messageCount, ok.consumerCount]).toEqual([3, 2]);
    expect(second.inbox.messages).toHaveLength(0);
    first.channel.ack(first.inbox.messages[1], true);
    await first.inbox.count(4);
    expect(first.inbox.bodies).toEqual(range(1, 4));
  });

  it('on cancel the next registered takes over; on channel close it gets the unacked ones first, in order', async () => {
    const { connection, pub, queue } = await setup({ 'x-single-active-consumer': true });
    const a = await subscribe(connection, queue, 2);
    const b = await subscribe(connection, queue, 2);
    const c = await subscribe(connection, queue, 0);
    await publishAll(pub, queue, range(1, 6));
    await a.inbox.count(2);
    // Cancelled: its two stay unacked on its channel; b is next in line.
    await a.channel.cancel(a.tag);
    await b.inbox.count(2);
    expect(b.inbox.bodies).toEqual(['m3', 'm4']);
    expect(c.inbox.messages).toHaveLength(0);
    // b's channel closes: its unacked come back to their places, and c takes over with them first.
    await b.channel.close();
    await c.inbox.count(4);
    expect(seen(c.inbox.messages)).toEqual(['m3*', 'm4*', 'm5', 'm6']);
    // a's channel closes too: its two come back, ahead of anything newer, and go to c.
    await a.channel.close();
    await c.inbox.count(6);
    await publishAll(pub, queue, ['m7']);
    await c.inbox.count(7);
    expect(seen(c.inbox.messages).slice(4)).toEqual(['m1*', 'm2*', 'm7']);
    expect(a.inbox.bodies).toEqual(['m1', 'm2']);
  });

  it('on connection loss the next takes over with the lost one’s unacked messages first', async () => {
    const { connection, pub } = await setup();
    // Not exclusive: consumed from two connections.
    const { queue } = await pub.assertQueue('sac-lost', { arguments: { 'x-single-active-consumer': true } });
    // Not through openChannel: its connections are closed after the test, and this one will be gone.
    const lost = await amqp.connect(broker.url);
    lost.on('error', () => {});
    const active = await subscribe(lost, queue, 3);
    const next = await subscribe(connection, queue, 0);
    await publishAll(pub, queue, range(1, 5));
    await active.inbox.count(3);
    // The socket goes without a connection.close.
    const stream = (lost.connection as unknown as { stream: { destroy(): void } }).stream;
    stream.destroy();
    await next.inbox.count(5);
    expect(seen(next.inbox.messages)).toEqual(['m1*', 'm2*', 'm3*', 'm4', 'm5']);
    await pub.deleteQueue(queue);
  });

  it('the next active is the highest priority waiting, then the first registered; a newcomer does not take over', async () => {
    const { connection, pub, queue } = await setup({ 'x-single-active-consumer': true });
    const first = await subscribe(connection, queue, 0, { noAck: true });
    const mid = await subscribe(connection, queue, 0, { noAck: true, priority: 5 });
    const top = await subscribe(connection, queue, 0, { noAck: true, priority: 10 });
    const top2 = await subscribe(connection, queue, 0, { noAck: true, priority: 10 });
    // Two messages at each step: round-robin would spread them.
    await publishAll(pub, queue, ['m1', 'm2']);
    await first.inbox.count(2);
    await first.channel.close();
    await publishAll(pub, queue, ['m3', 'm4']);
    await top.inbox.count(2);
    await top.channel.cancel(top.tag);
    await publishAll(pub, queue, ['m5', 'm6']);
    await top2.inbox.count(2);
    await top2.channel.cancel(top2.tag);
    await publishAll(pub, queue, ['m7', 'm8']);
    await mid.inbox.count(2);
    expect([first, top, top2, mid].map((s) => s.inbox.bodies)).toEqual([
      ['m1', 'm2'],
      ['m3', 'm4'],
      ['m5', 'm6'],
      ['m7', 'm8'],
    ]);
  });

  it('an exclusive consumer is refused on a single active consumer queue, even an empty one: 403', async () => {
    const { connection, queue } = await setup({ 'x-single-active-consumer': true });
    const ch = await newChannel(connection);
    await expect(ch.consume(queue, () => {}, { exclusive: true })).rejects.toThrow(
      `403 (ACCESS-REFUSED) with message "ACCESS_REFUSED - queue '${queue}' in vhost '/' in exclusive use"`,
    );
  });

  it('refuses a value that is not a boolean, with RabbitMQ’s texts; false is a plain queue', async () => {
    const { connection, pub } = await setup();
    const cases: [unknown, string][] = [
      ['yes', '{unacceptable_type,longstr}'],
      [1, '{unacceptable_type,byte}'],
    ];
    for (const [value, reason] of cases) {
      const ch = await newChannel(connection);
      await expect(
        ch.assertQueue('sac-refused', { arguments: { 'x-single-active-consumer': value } }),
      ).rejects.toThrow(
        `PRECONDITION_FAILED - invalid arg 'x-single-active-consumer' for queue 'sac-refused' in vhost '/': ${reason}`,
      );
    }
    const { queue } = await pub.assertQueue('', {
      exclusive: true,
      arguments: { 'x-single-active-consumer': false },
    });
    const a = await subscribe(connection, queue, 0, { noAck: true });
    const b = await subscribe(connection, queue, 0, { noAck: true });
    await publishAll(pub, queue, ['m1', 'm2']);
    await a.inbox.count(1);
    await b.inbox.count(1);
  });
});
