// Direct reply-to through amqplib: an RPC round trip between two connections, and what RabbitMQ 4.2
// documents beyond what the reference 3.10 does alike (the conformance cases cover that part).
import type { ConsumeMessage } from 'amqplib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startBroker } from '../../src/index.js';
import { closeAll, Inbox, newChannel, openChannel } from '../helpers/clients.js';

let broker: RunningBroker;
beforeAll(async () => {
  broker = await startBroker({ port: 0 });
});
afterEach(closeAll);
afterAll(() => broker.close());

/** An RPC server on its own connection: answers each request on `queue` with its body upper-cased. */
async function rpcServer(queue: string): Promise<{ requests: ConsumeMessage[] }> {
  const { channel } = await openChannel(broker.url);
  await channel.assertQueue(queue, { exclusive: true });
  const requests: ConsumeMessage[] = [];
  await channel.consume(
    queue,
    (m) => {
      if (!m) return;
      requests.push(m);
      channel.publish('', m.properties.replyTo, Buffer.from(m.content.toString().toUpperCase()), {
        correlationId: m.properties.correlationId,
      });
      channel.ack(m);
    },
    { noAck: false },
  );
  return { requests };
}

describe('direct reply-to', () => {
  it('an RPC round trip across two connections: replies reach the requesting channel, in order', async () => {
    const server = await rpcServer('rpc.upper');
    const { connection, channel } = await openChannel(broker.url);
    const replies = new Inbox();
    const { consumerTag } = await channel.consume('amq.rabbitmq.reply-to', replies.onMessage, {
      noAck: true,
    });
    for (const word of ['alpha', 'beta', 'gamma']) {
      channel.sendToQueue('rpc.upper', Buffer.from(word), {
        replyTo: 'amq.rabbitmq.reply-to',
        correlationId: word,
        contentType: 'text/plain',
        headers: { kept: 'yes' },
        priority: 3,
      });
    }
    await replies.count(3);
    expect(replies.bodies).toEqual(['ALPHA', 'BETA', 'GAMMA']);
    expect(replies.messages.map((m) => m.properties.correlationId)).toEqual(['alpha', 'beta', 'gamma']);
    const replyTo = server.requests[0].properties.replyTo as string;
    expect(replyTo).toMatch(/^amq\.rabbitmq\.reply-to\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    // The rewrite of reply_to keeps every other property.
    expect(server.requests[0].properties).toMatchObject({
      correlationId: 'alpha',
      contentType: 'text/plain',
      headers: { kept: 'yes' },
      priority: 3,
    });
    const first = replies.messages[0].fields;
    expect(first).toMatchObject({ consumerTag, exchange: '', routingKey: replyTo, redelivered: false });
    // No acks are expected: the delivery tags run on, and closing the channel is clean.
    expect(replies.messages.map((m) => m.fields.deliveryTag)).toEqual([1, 2, 3]);
    await channel.close();
    await connection.close();
  });

  it('a reply published mandatory counts as routed, also once its requester is gone (RabbitMQ 4.2)', async () => {
    const server = await rpcServer('rpc.mandatory');
    const requester = await openChannel(broker.url);
    const replies = new Inbox();
    await requester.channel.consume('amq.rabbitmq.reply-to', replies.onMessage, { noAck: true });
    requester.channel.sendToQueue('rpc.mandatory', Buffer.from('x'), { replyTo: 'amq.rabbitmq.reply-to' });
    await replies.count(1);
    const replyTo = server.requests[0].properties.replyTo as string;

    const { connection } = await openChannel(broker.url);
    const responder = await connection.createConfirmChannel();
    const returned: string[] = [];
    responder.on('return', (m: ConsumeMessage) => returned.push(m.fields.routingKey));
    responder.publish('', replyTo, Buffer.from('live'), { mandatory: true });
    await responder.waitForConfirms();
    await replies.count(2);
    expect(replies.bodies).toEqual(['X', 'live']);

    // The requester leaves: a reply to its name is dropped, without a basic.return.
    await requester.connection.close();
    responder.publish('', replyTo, Buffer.from('stale'), { mandatory: true });
    // A name of another form is unroutable.
    responder.publish('', 'amq.rabbitmq.reply-to.not-a-name', Buffer.from('bad'), { mandatory: true });
    await responder.waitForConfirms();
    expect(returned).toEqual(['amq.rabbitmq.reply-to.not-a-name']);
    expect(replies.bodies).toEqual(['X', 'live']);
    // And a passive declare of the name now fails: its consumer is gone.
    const probe = await newChannel(connection);
    await expect(probe.checkQueue(replyTo)).rejects.toThrow(/404.*NOT_FOUND - no queue/);
  });

  it('a cancelled reply consumer gets no more replies, and a new one has a new name', async () => {
    const server = await rpcServer('rpc.cancel');
    const { channel } = await openChannel(broker.url);
    const replies = new Inbox();
    const { consumerTag } = await channel.consume('amq.rabbitmq.reply-to', replies.onMessage, {
      noAck: true,
    });
    channel.sendToQueue('rpc.cancel', Buffer.from('one'), { replyTo: 'amq.rabbitmq.reply-to' });
    await replies.count(1);
    await channel.cancel(consumerTag);
    const again = new Inbox();
    await channel.consume('amq.rabbitmq.reply-to', again.onMessage, { noAck: true });
    channel.sendToQueue('rpc.cancel', Buffer.from('two'), { replyTo: 'amq.rabbitmq.reply-to' });
    await again.count(1);
    expect(again.bodies).toEqual(['TWO']);
    expect(replies.bodies).toEqual(['ONE']);
    const [firstName, secondName] = server.requests.map((m) => m.properties.replyTo);
    expect(secondName).not.toBe(firstName);
  });

  it('replies in a transaction are delivered at commit', async () => {
    const server = await rpcServer('rpc.tx');
    const requester = await openChannel(broker.url);
    const replies = new Inbox();
    await requester.channel.consume('amq.rabbitmq.reply-to', replies.onMessage, { noAck: true });
    requester.channel.sendToQueue('rpc.tx', Buffer.from('q'), { replyTo: 'amq.rabbitmq.reply-to' });
    await replies.count(1);
    const replyTo = server.requests[0].properties.replyTo as string;
    const { channel } = await openChannel(broker.url);
    // amqplib's channel model has no tx methods; its rpc takes method ids (class << 16 | method).
    const raw = channel as unknown as {
      rpc(method: number, fields: object, expect: number): Promise<unknown>;
    };
    await raw.rpc((90 << 16) | 10, {}, (90 << 16) | 11);
    channel.publish('', replyTo, Buffer.from('in tx'));
    // A round trip on the channel: the publish has arrived, and nothing is delivered before the commit.
    await channel.checkExchange('amq.direct');
    expect(replies.bodies).toEqual(['Q']);
    await raw.rpc((90 << 16) | 20, {}, (90 << 16) | 21);
    await replies.count(2);
    expect(replies.bodies).toEqual(['Q', 'in tx']);
  });
});
