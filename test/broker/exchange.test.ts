import { AMQPClient } from '@cloudamqp/amqp-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startBroker } from '../../src/index.js';
import { closeAll, Inbox, newChannel, openChannel } from '../helpers/clients.js';

let broker: RunningBroker;
beforeAll(async () => {
  broker = await startBroker({ port: 0 });
});
afterEach(closeAll);
afterAll(() => broker.close());

describe('exchange.declare', () => {
  it('declares every type, and a redeclare with the same flags is fine', async () => {
    const { channel } = await openChannel(broker.url);
    for (const type of ['direct', 'fanout', 'topic', 'headers']) {
      await channel.assertExchange(`x-${type}`, type, { durable: true, arguments: { a: 1 } });
      await channel.assertExchange(`x-${type}`, type, { durable: true, arguments: { a: 1 } });
      await channel.checkExchange(`x-${type}`);
    }
  });

  it('a redeclare with another type or flags is 406 inequivalent arg', async () => {
    const { connection, channel } = await openChannel(broker.url);
    await channel.assertExchange('x-eq', 'direct', { durable: false });
    await expect(channel.assertExchange('x-eq', 'fanout', { durable: false })).rejects.toThrow(
      "406 (PRECONDITION-FAILED) with message \"PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'x-eq' in vhost '/': received 'fanout' but current is 'direct'\"",
    );
    const ch2 = await newChannel(connection);
    await expect(ch2.assertExchange('x-eq', 'direct', { durable: true })).rejects.toThrow(
      "inequivalent arg 'durable' for exchange 'x-eq' in vhost '/': received 'true' but current is 'false'",
    );
    const ch3 = await newChannel(connection);
    await expect(ch3.assertExchange('x-eq', 'direct', { durable: false, autoDelete: true })).rejects.toThrow(
      "inequivalent arg 'auto_delete'",
    );
  });

  it('passive declare of a missing exchange is 404', async () => {
    const { channel } = await openChannel(broker.url);
    await expect(channel.checkExchange('nope')).rejects.toThrow(
      "404 (NOT-FOUND) with message \"NOT_FOUND - no exchange 'nope' in vhost '/'\"",
    );
  });

  it('an unknown type is 503 COMMAND_INVALID, a connection error', async () => {
    const { channel, connectionErrors } = await openChannel(broker.url);
    await expect(channel.assertExchange('x-bad', 'nonsense')).rejects.toThrow();
    await expect.poll(() => connectionErrors.length).toBe(1);
    expect(connectionErrors[0].message).toContain(
      '503 (COMMAND-INVALID) with message "COMMAND_INVALID - unknown exchange type \'nonsense\'"',
    );
  });

  it('the default and amq.* exchanges exist; declaring or deleting amq.* names is 403', async () => {
    const { connection, channel } = await openChannel(broker.url);
    for (const name of ['amq.direct', 'amq.fanout', 'amq.topic', 'amq.headers', 'amq.match']) {
      await channel.checkExchange(name);
    }
    await expect(channel.assertExchange('amq.mine', 'direct')).rejects.toThrow(
      "403 (ACCESS-REFUSED) with message \"ACCESS_REFUSED - exchange name 'amq.mine' contains reserved prefix 'amq.*'\"",
    );
    const ch2 = await newChannel(connection);
    await expect(ch2.deleteExchange('amq.direct')).rejects.toThrow('403');
  });

  it('binding to or from the default exchange is 403', async () => {
    const { connection, channel } = await openChannel(broker.url);
    const { queue } = await channel.assertQueue('', { exclusive: true });
    await expect(channel.bindQueue(queue, '', 'k')).rejects.toThrow(
      'ACCESS_REFUSED - operation not permitted on the default exchange',
    );
    const ch2 = await newChannel(connection);
    await ch2.assertExchange('x-e2e-default', 'fanout', { autoDelete: false });
    await expect(ch2.bindExchange('x-e2e-default', '', 'k')).rejects.toThrow('403');
  });
});

describe('exchange.delete and bindings', () => {
  it('if-unused refuses an exchange with bindings (406); delete is idempotent', async () => {
    const { connection, channel } = await openChannel(broker.url);
    await channel.assertExchange('x-del', 'direct');
    const { queue } = await channel.assertQueue('', { exclusive: true });
    await channel.bindQueue(queue, 'x-del', 'k');
    await expect(channel.deleteExchange('x-del', { ifUnused: true })).rejects.toThrow(
      "406 (PRECONDITION-FAILED) with message \"PRECONDITION_FAILED - exchange 'x-del' in vhost '/' in use\"",
    );
    const ch2 = await newChannel(connection);
    await ch2.deleteExchange('x-del');
    await ch2.deleteExchange('x-del');
    await expect(ch2.checkExchange('x-del')).rejects.toThrow('404');
  });

  it('an auto-delete exchange goes when its last binding is removed', async () => {
    const { channel } = await openChannel(broker.url);
    await channel.assertExchange('x-auto', 'direct', { autoDelete: true });
    const { queue } = await channel.assertQueue('', { exclusive: true });
    await channel.bindQueue(queue, 'x-auto', 'a');
    await channel.bindQueue(queue, 'x-auto', 'b');
    await channel.unbindQueue(queue, 'x-auto', 'a');
    await channel.checkExchange('x-auto');
    await channel.unbindQueue(queue, 'x-auto', 'b');
    await expect(channel.checkExchange('x-auto')).rejects.toThrow('404');
  });

  it('exchange-to-exchange bindings route, cycles included, each queue getting one copy', async () => {
    const { channel } = await openChannel(broker.url);
    await channel.assertExchange('x-a', 'fanout');
    await channel.assertExchange('x-b', 'fanout');
    await channel.assertExchange('x-c', 'topic');
    await channel.bindExchange('x-b', 'x-a', '');
    await channel.bindExchange('x-a', 'x-b', ''); // a cycle
    await channel.bindExchange('x-c', 'x-a', '');
    const { queue } = await channel.assertQueue('', { exclusive: true });
    await channel.bindQueue(queue, 'x-b', '');
    await channel.bindQueue(queue, 'x-c', '#');
    channel.publish('x-a', 'k', Buffer.from('once'));
    const inbox = new Inbox();
    await channel.consume(queue, inbox.onMessage, { noAck: true });
    await inbox.count(1);
    await channel.checkQueue(queue); // a round trip: anything else would have arrived before its reply
    expect(inbox.bodies).toEqual(['once']);
    await channel.unbindExchange('x-b', 'x-a', '');
    await channel.unbindExchange('x-a', 'x-b', '');
    await channel.unbindExchange('x-c', 'x-a', '');
    channel.publish('x-a', 'k', Buffer.from('unrouted'));
    await channel.checkQueue(queue);
    expect(inbox.bodies).toEqual(['once']);
  });

  it('exchange-to-exchange bindings through @cloudamqp/amqp-client', async () => {
    const client = await new AMQPClient(broker.url).connect();
    const ch = await client.channel();
    await ch.exchangeDeclare('y-src', 'direct');
    await ch.exchangeDeclare('y-dst', 'fanout');
    await ch.exchangeBind('y-dst', 'y-src', 'key');
    const { name } = await ch.queueDeclare('', { exclusive: true });
    await ch.queueBind(name, 'y-dst', '');
    await ch.basicPublish('y-src', 'key', 'hello');
    await ch.basicPublish('y-src', 'other', 'no');
    const first = await ch.basicGet(name, { noAck: true });
    expect(first?.bodyToString()).toBe('hello');
    expect(await ch.basicGet(name, { noAck: true })).toBeNull();
    await ch.exchangeUnbind('y-dst', 'y-src', 'key');
    await ch.exchangeDelete('y-src');
    await ch.exchangeDelete('y-dst');
    await client.close();
  });
});

async function routed(
  type: string,
  bindings: { key?: string; args?: Record<string, unknown> }[],
  publish: { key?: string; headers?: Record<string, unknown> },
): Promise<number[]> {
  // One queue per binding; returns the indexes of the queues that got the message.
  const { channel } = await openChannel(broker.url);
  const exchange = `route-${type}-${Math.random().toString(36).slice(2)}`;
  await channel.assertExchange(exchange, type, { autoDelete: false });
  const queues: string[] = [];
  for (const b of bindings) {
    const { queue } = await channel.assertQueue('', { exclusive: true });
    await channel.bindQueue(queue, exchange, b.key ?? '', b.args);
    queues.push(queue);
  }
  channel.publish(exchange, publish.key ?? '', Buffer.from('m'), { headers: publish.headers });
  const out: number[] = [];
  for (let i = 0; i < queues.length; i++) {
    const { messageCount } = await channel.checkQueue(queues[i]);
    if (messageCount > 0) out.push(i);
    expect(messageCount).toBeLessThanOrEqual(1);
  }
  await channel.deleteExchange(exchange);
  return out;
}

describe('routing', () => {
  it('direct: by equal routing key', async () => {
    expect(await routed('direct', [{ key: 'a' }, { key: 'b' }, { key: 'a' }], { key: 'a' })).toEqual([0, 2]);
    expect(await routed('direct', [{ key: 'a' }], { key: 'A' })).toEqual([]);
  });

  it('fanout: every binding, whatever the key', async () => {
    expect(await routed('fanout', [{ key: 'x' }, { key: 'y' }], { key: 'z' })).toEqual([0, 1]);
  });

  it('topic: * matches one word, # zero or more', async () => {
    const bindings = [
      { key: '#' }, // 0
      { key: 'a.*' }, // 1
      { key: 'a.#.b' }, // 2
      { key: '*.*' }, // 3
      { key: '#.#' }, // 4
      { key: 'a.b' }, // 5
      { key: '*' }, // 6
      { key: 'a..b' }, // 7: an empty word
      { key: '#.b' }, // 8
    ];
    expect(await routed('topic', bindings, { key: 'a.b' })).toEqual([0, 1, 2, 3, 4, 5, 8]);
    expect(await routed('topic', bindings, { key: 'a.x.y.b' })).toEqual([0, 2, 4, 8]);
    expect(await routed('topic', bindings, { key: 'a' })).toEqual([0, 4, 6]);
    expect(await routed('topic', bindings, { key: '' })).toEqual([0, 4]); // '' is zero words
    expect(await routed('topic', bindings, { key: 'a..b' })).toEqual([0, 2, 4, 7, 8]);
    expect(await routed('topic', bindings, { key: 'b' })).toEqual([0, 4, 6, 8]);
  });

  it('headers: x-match all, any, all-with-x, any-with-x, and void values', async () => {
    const bindings = [
      { args: { 'x-match': 'all', format: 'pdf', type: 'report' } }, // 0
      { args: { 'x-match': 'any', format: 'pdf', type: 'log' } }, // 1
      { args: { format: 'pdf' } }, // 2: all by default
      { args: { 'x-match': 'all', 'x-tag': 'v', format: 'pdf' } }, // 3: x- args left out
      { args: { 'x-match': 'all-with-x', 'x-tag': 'v', format: 'pdf' } }, // 4
      { args: { 'x-match': 'any-with-x', 'x-tag': 'v', other: 1 } }, // 5
      { args: { 'x-match': 'all', count: 5 } }, // 6
    ];
    expect(await routed('headers', bindings, { headers: { format: 'pdf', type: 'report' } })).toEqual([
      0, 1, 2, 3,
    ]);
    expect(await routed('headers', bindings, { headers: { format: 'pdf', 'x-tag': 'v' } })).toEqual([
      1, 2, 3, 4, 5,
    ]);
    expect(await routed('headers', bindings, { headers: { type: 'log', count: 5 } })).toEqual([1, 6]);
    expect(await routed('headers', bindings, { headers: {} })).toEqual([]);
  });

  it('a message reaches a queue once however many bindings match', async () => {
    const { channel } = await openChannel(broker.url);
    await channel.assertExchange('dedup-t', 'topic');
    const { queue } = await channel.assertQueue('', { exclusive: true });
    await channel.bindQueue(queue, 'dedup-t', 'a.*');
    await channel.bindQueue(queue, 'dedup-t', '#');
    await channel.bindQueue(queue, 'dedup-t', 'a.b');
    channel.publish('dedup-t', 'a.b', Buffer.from('m'));
    const { messageCount } = await channel.checkQueue(queue);
    expect(messageCount).toBe(1);
  });

  it('alternate-exchange takes what the exchange cannot route', async () => {
    const { channel } = await openChannel(broker.url);
    await channel.assertExchange('ae-target', 'fanout');
    await channel.assertExchange('ae-main', 'direct', { alternateExchange: 'ae-target' });
    const { queue: unrouted } = await channel.assertQueue('', { exclusive: true });
    const { queue: routedQueue } = await channel.assertQueue('', { exclusive: true });
    await channel.bindQueue(unrouted, 'ae-target', '');
    await channel.bindQueue(routedQueue, 'ae-main', 'k');
    channel.publish('ae-main', 'k', Buffer.from('routed'));
    channel.publish('ae-main', 'other', Buffer.from('alternate'));
    expect((await channel.checkQueue(routedQueue)).messageCount).toBe(1);
    expect((await channel.checkQueue(unrouted)).messageCount).toBe(1);
    const m = await channel.get(unrouted, { noAck: true });
    expect(m ? m.content.toString() : m).toBe('alternate');
  });
});
