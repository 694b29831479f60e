// RabbitMQ's queue extensions through amqplib: x-expires, quorum queues' delivery limit, CC and BCC,
// and a dead-lettered persistent message surviving a restart in a durable queue.
import { afterEach, describe, expect, it } from 'vitest';
import { restart, start, stopAll, tempDir } from '../helpers/brokers.js';
import { closeAll, eventually, Inbox, openChannel } from '../helpers/clients.js';

afterEach(async () => {
  await closeAll();
  await stopAll();
});

describe('x-expires', () => {
  it('deletes a queue once it has had no consumer, get or redeclare for its period', async () => {
    const broker = await start();
    const { channel } = await openChannel(broker.url);
    await channel.assertQueue('idle', { arguments: { 'x-expires': 100 } });
    await channel.assertQueue('watched', { arguments: { 'x-expires': 100 } });
    await channel.consume('watched', () => {}, { consumerTag: 'w' });
    const vhost = broker.broker.vhost('/');
    await eventually(() => !vhost?.queues.has('idle'), 'the idle queue to expire');
    expect(vhost?.queues.has('watched')).toBe(true);
    await channel.cancel('w');
    await eventually(() => !vhost?.queues.has('watched'), 'the queue to expire once unconsumed');
  });
});

describe('quorum queues', () => {
  it('count redeliveries in x-delivery-count and dead-letter past x-delivery-limit', async () => {
    const broker = await start();
    const { channel } = await openChannel(broker.url);
    await channel.assertExchange('dlx', 'fanout', { durable: false });
    await channel.assertQueue('dead', { exclusive: true });
    await channel.bindQueue('dead', 'dlx', '');
    await channel.assertQueue('work', {
      durable: true,
      arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 1, 'x-dead-letter-exchange': 'dlx' },
    });
    channel.sendToQueue('work', Buffer.from('task'));
    const first = await channel.get('work');
    if (first === false) throw new Error('no message');
    expect(first.properties.headers?.['x-delivery-count']).toBeUndefined();
    channel.nack(first, false, true);
    const second = await channel.get('work');
    if (second === false) throw new Error('not given back');
    expect(second.properties.headers?.['x-delivery-count']).toBe(1);
    channel.nack(second, false, true);
    const inbox = new Inbox();
    await channel.consume('dead', inbox.onMessage, { noAck: true });
    await inbox.count(1);
    expect(inbox.bodies).toEqual(['task']);
    expect(inbox.messages[0].properties.headers?.['x-first-death-reason']).toBe('delivery_limit');
    expect(await channel.get('work')).toBe(false);
  });

  it('order by two priority levels as RabbitMQ 4.x, normal ones given every third turn', async () => {
    const broker = await start();
    const { channel } = await openChannel(broker.url);
    await channel.assertQueue('ranked', { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    // Priority 5 and above is high, 4 and below (or none) normal; no x-max-priority is needed.
    const published: [string, number | undefined][] = [
      ['n1', undefined],
      ['h1', 5],
      ['h2', 9],
      ['h3', 200],
      ['h4', 5],
      ['h5', 7],
      ['n2', 4],
    ];
    for (const [body, priority] of published) channel.sendToQueue('ranked', Buffer.from(body), { priority });
    await eventually(() => broker.broker.vhost('/')?.queues.get('ranked')?.messageCount === 7, 'all queued');
    const order: string[] = [];
    for (let i = 0; i < published.length; i++) {
      const m = await channel.get('ranked', { noAck: true });
      if (m === false) throw new Error('queue emptied early');
      order.push(m.content.toString());
    }
    // High first, but the third take goes to the normal level when its head is older than high's.
    expect(order).toEqual(['h1', 'h2', 'n1', 'h3', 'h4', 'h5', 'n2']);
  });

  it('give a requeued message back to its place in its level', async () => {
    const broker = await start();
    const { channel } = await openChannel(broker.url);
    await channel.assertQueue('back', { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    for (const [body, priority] of [
      ['h1', 6],
      ['h2', 6],
      ['n1', 0],
    ] as const) {
      channel.sendToQueue('back', Buffer.from(body), { priority });
    }
    await eventually(() => broker.broker.vhost('/')?.queues.get('back')?.messageCount === 3, 'all queued');
    const first = await channel.get('back');
    if (first === false) throw new Error('empty');
    expect(first.content.toString()).toBe('h1');
    channel.nack(first, false, true);
    const again = await channel.get('back', { noAck: true });
    if (again === false) throw new Error('not given back');
    expect(again.content.toString()).toBe('h1');
    expect(again.fields.redelivered).toBe(true);
  });

  it('are refused non-durable, exclusive or auto-delete with RabbitMQ 406 texts', async () => {
    const broker = await start();
    const { connection, channel } = await openChannel(broker.url);
    const closed = new Promise<Error>((resolve) => channel.on('error', resolve));
    await expect(
      channel.assertQueue('qq', { durable: false, arguments: { 'x-queue-type': 'quorum' } }),
    ).rejects.toThrow();
    expect((await closed).message).toContain(
      "PRECONDITION_FAILED - invalid property 'non-durable' for queue 'qq' in vhost '/'",
    );
    await connection.close();
  });
});

describe('CC and BCC headers', () => {
  it('route to their keys too; BCC is gone before delivery, CC stays', async () => {
    const broker = await start();
    const { channel } = await openChannel(broker.url);
    for (const q of ['to', 'cc', 'bcc']) await channel.assertQueue(q, { exclusive: true });
    channel.sendToQueue('to', Buffer.from('m'), { headers: { CC: ['cc'], BCC: ['bcc'], other: 1 } });
    for (const q of ['to', 'cc', 'bcc']) {
      const got = await channel.get(q, { noAck: true });
      if (got === false) throw new Error(`nothing in ${q}`);
      expect(got.properties.headers).toEqual({ CC: ['cc'], other: 1 });
    }
  });
});

describe('dead-lettering across a restart', () => {
  it('a rejected persistent message dead-lettered to a durable queue is there after the restart', async () => {
    const dataDir = tempDir();
    let broker = await start({ dataDir });
    const { channel } = await openChannel(broker.url);
    await channel.assertExchange('dlx', 'fanout', { durable: true });
    await channel.assertQueue('dead', { durable: true });
    await channel.bindQueue('dead', 'dlx', '');
    await channel.assertQueue('src', { durable: true, arguments: { 'x-dead-letter-exchange': 'dlx' } });
    channel.sendToQueue('src', Buffer.from('keep me'), { persistent: true });
    const got = await channel.get('src');
    if (got === false) throw new Error('no message');
    channel.reject(got, false);
    const vhost = broker.broker.vhost('/');
    await eventually(() => vhost?.queues.get('dead')?.messageCount === 1, 'the dead-lettered copy');
    broker = await restart(broker, { dataDir });
    const after = await openChannel(broker.url);
    const dead = await after.channel.get('dead', { noAck: true });
    if (dead === false) throw new Error('the dead-lettered copy did not survive');
    expect(dead.content.toString()).toBe('keep me');
    expect(dead.properties.headers?.['x-first-death-reason']).toBe('rejected');
    expect(await after.channel.get('src')).toBe(false);
  });
});
