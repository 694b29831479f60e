// The consumer timeout (RabbitMQ's delivery acknowledgement timeout) through amqplib: a delivery left
// unacked past it closes its channel with 406 and RabbitMQ's text, and its message goes back to the
// queue. The broker's timeout, a queue's x-consumer-timeout and a consumer's, in that order of
// precedence (RabbitMQ 4.x: consumer, then queue, then broker).
import type { Channel, ChannelModel } from 'amqplib';
import { afterEach, describe, expect, it } from 'vitest';
import { type StartBrokerOptions, startBroker } from '../../src/index.js';
import { start, stopAll } from '../helpers/brokers.js';
import { closeAll, Inbox, newChannel, openChannel } from '../helpers/clients.js';

afterEach(stopAll);

const timedOut = (channel: number, ms: number) =>
  `PRECONDITION_FAILED - delivery acknowledgement on channel ${channel} timed out. Timeout value used: ${ms} ms. This timeout value can be configured, see consumers doc guide to learn more`;

/** Resolves with the error a channel is closed with by the broker. */
function closedWith(channel: Channel): Promise<Error & { code?: number }> {
  return new Promise((resolve) => channel.once('error', resolve));
}

async function setup(options: StartBrokerOptions): Promise<{ connection: ChannelModel; channel: Channel }> {
  const broker = await start(options);
  const { connection, channel } = await openChannel(broker.url);
  return { connection, channel };
}

describe('consumer timeout', () => {
  it("the broker's timeout: channel closed with 406 and the message requeued, redelivered", async () => {
    const { connection, channel } = await setup({ consumerTimeout: 200 });
    await channel.assertQueue('work');
    channel.sendToQueue('work', Buffer.from('task'));
    const held = new Inbox();
    await channel.consume('work', held.onMessage, { noAck: false });
    await held.count(1);
    const started = performance.now();
    const err = await closedWith(channel);
    expect(performance.now() - started).toBeGreaterThanOrEqual(150);
    expect(err.code).toBe(406);
    expect(err.message).toContain(timedOut(1, 200));
    // The message is back in the queue, marked redelivered.
    const other = await newChannel(connection);
    const again = new Inbox();
    await other.consume('work', again.onMessage, { noAck: true });
    await again.count(1);
    expect(again.messages[0].fields.redelivered).toBe(true);
    expect(again.bodies).toEqual(['task']);
  });

  it('a delivery acked in time keeps the channel open; so do no-ack consumers', async () => {
    const { connection, channel } = await setup({ consumerTimeout: 200 });
    await channel.assertQueue('acked');
    const inbox = new Inbox();
    await channel.consume('acked', (m) => {
      inbox.onMessage(m);
      if (m) channel.ack(m);
    });
    const noAck = await newChannel(connection);
    await noAck.assertQueue('free');
    const free = new Inbox();
    await noAck.consume('free', free.onMessage, { noAck: true });
    let closed = 0;
    channel.on('close', () => closed++);
    noAck.on('close', () => closed++);
    // Messages for half a second, well past the timeout: each is acked or needs no ack.
    for (let i = 0; i < 5; i++) {
      channel.sendToQueue('acked', Buffer.from(`${i}`));
      noAck.sendToQueue('free', Buffer.from(`${i}`));
      await inbox.count(i + 1);
      await free.count(i + 1);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await channel.checkQueue('acked');
    await noAck.checkQueue('free');
    expect(closed).toBe(0);
  });

  it("a queue's x-consumer-timeout takes precedence over the broker's", async () => {
    const { channel } = await setup({ consumerTimeout: 60_000 });
    await channel.assertQueue('short', { arguments: { 'x-consumer-timeout': 150 } });
    channel.sendToQueue('short', Buffer.from('task'));
    await channel.consume('short', () => {});
    const err = await closedWith(channel);
    expect(err.message).toContain(timedOut(1, 150));
  });

  it("a consumer's x-consumer-timeout takes precedence over its queue's", async () => {
    const { connection } = await setup({ consumerTimeout: 60_000 });
    const first = await newChannel(connection);
    const channel = await newChannel(connection);
    await first.assertQueue('q', { arguments: { 'x-consumer-timeout': 60_000 } });
    first.sendToQueue('q', Buffer.from('task'));
    await channel.consume('q', () => {}, { arguments: { 'x-consumer-timeout': 120 } });
    const err = await closedWith(channel);
    // The channel number in the text is the channel's own (amqplib numbered this one 3).
    expect(err.message).toContain(timedOut(3, 120));
  });

  it('a basic.get left unacked times out too', async () => {
    const { channel } = await setup({ consumerTimeout: 150 });
    await channel.assertQueue('got');
    channel.sendToQueue('got', Buffer.from('task'));
    await channel.checkQueue('got');
    expect(await channel.get('got')).not.toBe(false);
    const err = await closedWith(channel);
    expect(err.message).toContain(timedOut(1, 150));
  });

  it('consumerTimeout 0 turns it off; a value that is not a whole number of milliseconds is refused', async () => {
    await expect(startBroker({ port: 0, consumerTimeout: -1 })).rejects.toThrow(RangeError);
    await expect(startBroker({ port: 0, consumerTimeout: 1.5 })).rejects.toThrow(RangeError);
    const { channel } = await setup({ consumerTimeout: 0 });
    await channel.assertQueue('slow');
    channel.sendToQueue('slow', Buffer.from('task'));
    // A queue argument still applies when the broker's is off.
    await channel.assertQueue('bounded', { arguments: { 'x-consumer-timeout': 100 } });
    channel.sendToQueue('bounded', Buffer.from('task'));
    const held = new Inbox();
    await channel.consume('slow', held.onMessage);
    await held.count(1);
    await channel.consume('bounded', () => {});
    const err = await closedWith(channel);
    expect(err.message).toContain(timedOut(1, 100));
    await closeAll();
  });
});
