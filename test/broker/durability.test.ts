import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import amqp from 'amqplib';
import { afterEach, describe, expect, it } from 'vitest';
import { startBroker } from '../../src/index.js';
import { FileStore } from '../../src/store/file-store.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { restart, start, stopAll, tempDir } from '../helpers/brokers.js';
import { Inbox, openChannel } from '../helpers/clients.js';
import { ioWrapping, recordingLogger } from '../store/store-helpers.js';

afterEach(stopAll);

describe('durable definitions', () => {
  it('durable exchanges, queues and bindings survive a restart; the others do not', async () => {
    const dataDir = tempDir();
    let b = await start({ dataDir, fsync: false });
    const { channel } = await openChannel(b.url);
    await channel.assertExchange('d-x', 'topic', {
      durable: true,
      arguments: { 'alternate-exchange': 'd-ae' },
    });
    await channel.assertExchange('d-ae', 'fanout', { durable: true });
    await channel.assertExchange('t-x', 'direct', { durable: false });
    await channel.assertQueue('d-q', { durable: true, arguments: { 'x-queue-mode': 'lazy' } });
    await channel.assertQueue('t-q', { durable: false });
    await channel.assertQueue('x-q', { durable: true, exclusive: true });
    await channel.bindQueue('d-q', 'd-x', 'a.*');
    await channel.bindExchange('d-ae', 'd-x', 'e2e.#');
    await channel.bindQueue('d-q', 'amq.direct', 'k');

    b = await restart(b, { dataDir, fsync: false });
    const { connection, channel: ch } = await openChannel(b.url);
    await ch.checkExchange('d-x');
    await ch.checkExchange('d-ae');
    await ch.checkQueue('d-q');
    // Same arguments: no 406.
    await ch.assertQueue('d-q', { durable: true, arguments: { 'x-queue-mode': 'lazy' } });
    await ch.assertExchange('d-x', 'topic', { durable: true, arguments: { 'alternate-exchange': 'd-ae' } });
    for (const gone of [
      () => ch.checkExchange('t-x'),
      () => ch.checkQueue('t-q'),
      () => ch.checkQueue('x-q'),
    ]) {
      const c = await connection.createChannel();
      c.on('error', () => {});
      await expect(gone.call(null).catch(() => c.checkQueue('nope'))).rejects.toThrow('404');
    }
    // Bindings route again.
    const { channel: p } = await openChannel(b.url);
    p.publish('d-x', 'a.b', Buffer.from('1'));
    p.publish('amq.direct', 'k', Buffer.from('2'));
    expect((await p.checkQueue('d-q')).messageCount).toBe(2);
  });
});

describe('durable definitions changed over time', () => {
  it('deletions, unbinds and redeclarations survive restarts, before and after the stored changes are compacted', async () => {
    const dataDir = tempDir();
    let b = await start({ dataDir, fsync: false });
    let { channel } = await openChannel(b.url);
    await channel.assertExchange('x', 'direct', { durable: true });
    await channel.assertExchange('x2', 'fanout', { durable: true });
    for (const q of ['q1', 'q2', 'q3']) await channel.assertQueue(q, { durable: true });
    await channel.bindQueue('q1', 'x', 'a');
    await channel.bindQueue('q2', 'x', 'b');
    await channel.bindQueue('q2', 'x', 'h', { 'x-any': 1, 'x-b': 'two' });
    await channel.bindQueue('q3', 'x', 'a');
    await channel.bindExchange('x', 'x2', '');
    await channel.bindQueue('q1', 'amq.direct', 'k');

    // Changes after the first save: a queue and an exchange go with their bindings, a binding goes
    // (its arguments given in another order than when bound), a queue comes back with no bindings.
    await channel.deleteQueue('q3');
    await channel.deleteExchange('x2');
    await channel.unbindQueue('q2', 'x', 'h', { 'x-b': 'two', 'x-any': 1 });
    await channel.deleteQueue('q2');
    await channel.assertQueue('q2', { durable: true });
    await channel.bindQueue('q2', 'x', 'c');

    const expectState = async (url: string) => {
      const { channel: ch } = await openChannel(url);
      await ch.checkExchange('x');
      await ch.checkQueue('q1');
      await ch.checkQueue('q2');
      for (const gone of ['q3', 'x2']) {
        const { channel: c } = await openChannel(url);
        const check = gone.startsWith('q') ? c.checkQueue(gone) : c.checkExchange(gone);
        await expect(check).rejects.toThrow('404');
      }
      for (const q of ['q1', 'q2']) await ch.purgeQueue(q);
      for (const key of ['a', 'b', 'c', 'h']) ch.publish('x', key, Buffer.from(key));
      ch.publish('amq.direct', 'k', Buffer.from('k'));
      expect((await ch.checkQueue('q1')).messageCount).toBe(2); // a, k
      expect((await ch.checkQueue('q2')).messageCount).toBe(1); // c
      await ch.purgeQueue('q1');
      await ch.purgeQueue('q2');
    };
    await expectState(b.url);
    b = await restart(b, { dataDir, fsync: false });
    await expectState(b.url);

    // Enough changes that the broker writes the definitions whole again, and some after that.
    ({ channel } = await openChannel(b.url));
    for (let i = 0; i < 1200; i++) await channel.assertQueue(`tmp-${i}`, { durable: true });
    for (let i = 0; i < 1200; i += 2) await channel.deleteQueue(`tmp-${i}`);
    await channel.unbindQueue('q1', 'amq.direct', 'k');
    await channel.bindQueue('q1', 'amq.direct', 'k');
    b = await restart(b, { dataDir, fsync: false });
    await expectState(b.url);
    const { channel: ch } = await openChannel(b.url);
    await ch.checkQueue('tmp-1199');
    await expect(ch.checkQueue('tmp-1198')).rejects.toThrow('404');
  });

  it('declaring durable queues writes a change each, not the whole definitions each time', async () => {
    const dataDir = tempDir();
    const b = await start({ dataDir, fsync: false });
    const { channel } = await openChannel(b.url);
    await channel.assertQueue('first', { durable: true });
    const definitionsBytes = () =>
      ['definitions.json', 'definitions.log'].reduce((n, f) => n + statSync(join(dataDir, f)).size, 0);
    const before = definitionsBytes();
    for (let i = 0; i < 900; i++)
      await channel.assertQueue(`queue-with-a-longish-name-${i}`, { durable: true });
    // Whole saves would have held 900 queues at the end; a change each is about 150 bytes a queue.
    expect(definitionsBytes() - before).toBeLessThan(900 * 200);
    expect(readFileSync(join(dataDir, 'definitions.json'), 'utf8')).not.toContain(
      'queue-with-a-longish-name',
    );
  });
});

describe('a failed write of the definitions', () => {
  it('is logged, the next change writes them whole, and a restart has every definition', async () => {
    const dir = tempDir();
    let fail = false;
    const io = ioWrapping('definitions.log', (file) => ({
      writev: (buffers, position) =>
        fail ? Promise.reject(new Error('ENOSPC: injected')) : file.writev(buffers, position),
    }));
    const { logger, lines } = recordingLogger();
    let b = await start({ store: new FileStore({ dir, fsync: false, io }), logger });
    const { channel } = await openChannel(b.url);
    await channel.assertQueue('first', { durable: true }); // written whole: the first change after a start
    await channel.assertQueue('second', { durable: true }); // appended
    fail = true;
    await channel.assertQueue('lost-append', { durable: true });
    expect(lines.some((l) => l.msg === 'could not save the durable definitions')).toBe(true);
    fail = false;
    await channel.assertQueue('after', { durable: true });
    b = await restart(b, { dataDir: dir, fsync: false });
    const { channel: ch } = await openChannel(b.url);
    for (const q of ['first', 'second', 'lost-append', 'after']) await ch.checkQueue(q);
  });
});

/** An in-memory store whose definition writes complete only when the test says so. */
class DefinitionsGatedStore extends MemoryStore {
  gate: Promise<void> = Promise.resolve();
  /** Resolves at the next write of definitions (saved or appended) after it is set. */
  written: Promise<void> = Promise.resolve();
  private heard: () => void = () => {};
  expectWrite(): void {
    this.written = new Promise((resolve) => {
      this.heard = resolve;
    });
  }
  override async saveDefinitions(definitions: unknown): Promise<void> {
    this.heard();
    await this.gate;
    return super.saveDefinitions(definitions);
  }
  override async appendDefinitions(changes: readonly unknown[]): Promise<void> {
    this.heard();
    await this.gate;
    return super.appendDefinitions(changes);
  }
}

describe('output waiting for durable definitions', () => {
  it('only the replies that report new definitions wait for the store; other clients go on', async () => {
    const store = new DefinitionsGatedStore();
    const b = await start({ store });
    const declarer = await openChannel(b.url);
    await declarer.channel.assertQueue('before', { durable: true });
    const { channel: consumer } = await openChannel(b.url);
    await consumer.assertQueue('live', { durable: false });
    const inbox = new Inbox();
    await consumer.consume('live', inbox.onMessage, { noAck: true });
    const publisher = await openChannel(b.url);
    const confirms = await publisher.connection.createConfirmChannel();

    let release: () => void = () => {};
    store.gate = new Promise((resolve) => {
      release = resolve;
    });
    store.expectWrite();
    let declared = false;
    const declaring = declarer.channel.assertQueue('new-durable', { durable: true }).then(() => {
      declared = true;
    });
    await store.written; // the declaration reached the store: the queue exists
    let confirmed = false;
    confirms.sendToQueue('new-durable', Buffer.from('m'), { persistent: true }, () => {
      confirmed = true;
    });
    let checked = false;
    const checking = publisher.channel.checkQueue('new-durable').then(() => {
      checked = true;
    });
    publisher.channel.sendToQueue('live', Buffer.from('after'));
    // The delivery leaves at once. The declare-ok, the confirm of a message routed to the new queue
    // and another client's passive declare of it wait for the store.
    await inbox.until(() => inbox.messages.length === 1);
    expect(inbox.bodies).toEqual(['after']);
    expect({ declared, confirmed, checked }).toEqual({ declared: false, confirmed: false, checked: false });
    release();
    await declaring;
    await checking;
    await confirms.waitForConfirms();
    expect(confirmed).toBe(true);
    expect((await declarer.channel.checkQueue('new-durable')).messageCount).toBe(1);
  });
});

describe('persistent messages', () => {
  it('survive a restart in order, with their properties; transient ones and non-durable queues do not', async () => {
    const dataDir = tempDir();
    let b = await start({ dataDir, fsync: true });
    const { connection } = await openChannel(b.url);
    const ch = await connection.createConfirmChannel();
    await ch.assertQueue('pq', { durable: true });
    await ch.assertQueue('tq', { durable: false });
    await ch.assertExchange('fan', 'fanout', { durable: true });
    await ch.bindQueue('pq', 'fan', '');
    await ch.bindQueue('tq', 'fan', '');
    for (let i = 0; i < 50; i++) {
      ch.publish('fan', `k${i}`, Buffer.from(`p${i}`), {
        persistent: i % 5 !== 0,
        messageId: `id-${i}`,
        headers: { i, s: 'x'.repeat(i) },
      });
    }
    await ch.waitForConfirms();
    b = await restart(b, { dataDir, fsync: true });
    const { channel } = await openChannel(b.url);
    await expect(channel.checkQueue('tq')).rejects.toThrow('404');
    const { channel: c2 } = await openChannel(b.url);
    const inbox = new Inbox();
    await c2.consume('pq', inbox.onMessage, { noAck: true });
    await inbox.count(40);
    const expected = Array.from({ length: 50 }, (_, i) => i).filter((i) => i % 5 !== 0);
    expect(inbox.bodies).toEqual(expected.map((i) => `p${i}`));
    expect(inbox.messages.map((m) => m.fields.routingKey)).toEqual(expected.map((i) => `k${i}`));
    expect(inbox.messages[3].properties).toMatchObject({
      messageId: 'id-4',
      deliveryMode: 2,
      headers: { i: 4 },
    });
    expect(inbox.messages.every((m) => m.fields.exchange === 'fan' && !m.fields.redelivered)).toBe(true);
  });

  it('large persistent bodies survive a restart intact', async () => {
    const dataDir = tempDir();
    let b = await start({ dataDir, fsync: false });
    const { connection } = await openChannel(b.url);
    const ch = await connection.createConfirmChannel();
    await ch.assertQueue('big', { durable: true });
    const bodies = [40_000, 65_536, 250_000].map((n, k) => {
      const body = Buffer.alloc(n);
      for (let i = 0; i < n; i++) body[i] = (i * 11 + k) & 0xff;
      return body;
    });
    for (const body of bodies) ch.sendToQueue('big', body, { persistent: true });
    await ch.waitForConfirms();
    b = await restart(b, { dataDir, fsync: false });
    const { channel } = await openChannel(b.url);
    const inbox = new Inbox();
    await channel.consume('big', inbox.onMessage, { noAck: true });
    await inbox.count(bodies.length);
    expect(inbox.messages.map((m, i) => m.content.equals(bodies[i]))).toEqual([true, true, true]);
  });

  it('delivered and unacked messages come back redelivered; acked and purged ones do not', async () => {
    const dataDir = tempDir();
    let b = await start({ dataDir, fsync: false });
    const { channel } = await openChannel(b.url);
    await channel.assertQueue('ack-q', { durable: true });
    await channel.assertQueue('purge-q', { durable: true });
    for (let i = 0; i < 6; i++) channel.sendToQueue('ack-q', Buffer.from(`${i}`), { persistent: true });
    for (let i = 0; i < 3; i++) channel.sendToQueue('purge-q', Buffer.from(`${i}`), { persistent: true });
    await channel.purgeQueue('purge-q');
    const inbox = new Inbox();
    await channel.prefetch(3);
    await channel.consume('ack-q', inbox.onMessage);
    await inbox.count(3);
    channel.ack(inbox.messages[0]); // 0 acked; 1 and 2 unacked; the room made takes 3; 4, 5 never delivered
    await inbox.count(4);

    b = await restart(b, { dataDir, fsync: false });
    const { channel: c } = await openChannel(b.url);
    expect((await c.checkQueue('purge-q')).messageCount).toBe(0);
    const after = new Inbox();
    await c.consume('ack-q', after.onMessage, { noAck: true });
    await after.count(5);
    expect(after.messages.map((m) => [m.content.toString(), m.fields.redelivered])).toEqual([
      ['1', true],
      ['2', true],
      ['3', true],
      ['4', false],
      ['5', false],
    ]);
  });

  it('a purge survives a restart: later messages stay, and so do unacked ones, redelivered', async () => {
    const dataDir = tempDir();
    let b = await start({ dataDir, fsync: false });
    const { channel } = await openChannel(b.url);
    await channel.assertQueue('purged', { durable: true });
    await channel.assertQueue('purged-unacked', { durable: true });
    for (let i = 0; i < 5; i++) {
      channel.sendToQueue('purged', Buffer.from(`old ${i}`), { persistent: true });
      channel.sendToQueue('purged-unacked', Buffer.from(`${i}`), { persistent: true });
    }
    // Nothing unacked: the purge takes every message of the queue.
    expect((await channel.purgeQueue('purged')).messageCount).toBe(5);
    for (let i = 0; i < 2; i++) channel.sendToQueue('purged', Buffer.from(`new ${i}`), { persistent: true });
    // Two unacked: the purge takes the three ready ones only.
    const inbox = new Inbox();
    await channel.prefetch(2);
    await channel.consume('purged-unacked', inbox.onMessage);
    await inbox.count(2);
    expect((await channel.purgeQueue('purged-unacked')).messageCount).toBe(3);

    b = await restart(b, { dataDir, fsync: false });
    const { channel: c } = await openChannel(b.url);
    const after = new Inbox();
    await c.consume('purged', after.onMessage, { noAck: true });
    await c.consume('purged-unacked', after.onMessage, { noAck: true });
    await after.count(4);
    expect(after.messages.map((m) => [m.content.toString(), m.fields.redelivered]).sort()).toEqual([
      ['0', true],
      ['1', true],
      ['new 0', false],
      ['new 1', false],
    ]);
    expect((await c.checkQueue('purged')).messageCount).toBe(0);
  });

  it('segments are deleted once everything in them is consumed', async () => {
    const dataDir = tempDir();
    const b = await start({ dataDir, fsync: false, segmentSize: 64 * 1024 });
    const { connection } = await openChannel(b.url);
    const ch = await connection.createConfirmChannel();
    await ch.assertQueue('seg-q', { durable: true });
    const body = Buffer.alloc(1000, 1);
    for (let i = 0; i < 500; i++) ch.sendToQueue('seg-q', body, { persistent: true });
    await ch.waitForConfirms();
    expect(b.broker.store.diskUsage().segments).toBeGreaterThan(5);
    const inbox = new Inbox();
    await ch.consume('seg-q', inbox.onMessage, { noAck: true });
    await inbox.count(500);
    await ch.checkQueue('seg-q');
    // The store removes segments as it writes its next batch; a confirmed publish is such a batch.
    ch.sendToQueue('seg-q', Buffer.alloc(0), { persistent: true });
    await ch.waitForConfirms();
    expect(b.broker.store.diskUsage().segments).toBeLessThanOrEqual(2);
  });

  it('a second broker on the same data directory is refused with a clear error', async () => {
    const dataDir = tempDir();
    await start({ dataDir, fsync: false });
    await expect(startBroker({ port: 0, dataDir })).rejects.toThrow(/is in use by this process/);
  });
});

/** A store whose syncs complete only when the test says so, or fail. */
class GatedStore extends MemoryStore {
  gate: Promise<void> = Promise.resolve();
  fail = false;
  override afterSync(callback: (err?: Error) => void): void {
    const fail = this.fail;
    void this.gate.then(() => super.afterSync(() => callback(fail ? new Error('disk full') : undefined)));
  }
}

describe('confirms and the store', () => {
  it('a persistent message to a durable queue is confirmed only after the store has synced it', async () => {
    const store = new GatedStore();
    let open: () => void = () => {};
    const b = await start({ store });
    const { connection } = await openChannel(b.url);
    const ch = await connection.createConfirmChannel();
    await ch.assertQueue('gated', { durable: true });
    store.gate = new Promise((resolve) => {
      open = resolve;
    });
    let confirmed = false;
    ch.sendToQueue('gated', Buffer.from('x'), { persistent: true }, () => {
      confirmed = true;
    });
    await ch.checkQueue('gated'); // a round trip: the publish was processed
    expect(confirmed).toBe(false);
    open();
    await ch.waitForConfirms();
    expect(confirmed).toBe(true);
  });

  it('a failed store write nacks the publish, and the broker goes on', async () => {
    const store = new GatedStore();
    const b = await start({ store });
    const { connection } = await openChannel(b.url);
    const ch = await connection.createConfirmChannel();
    await ch.assertQueue('failing', { durable: true });
    store.fail = true;
    const outcome = await new Promise<Error | null>((resolve) =>
      ch.sendToQueue('failing', Buffer.from('x'), { persistent: true }, (err) => resolve(err)),
    );
    expect(outcome).toBeInstanceOf(Error);
    store.fail = false;
    const ok = await new Promise<Error | null>((resolve) =>
      ch.sendToQueue('failing', Buffer.from('y'), { persistent: true }, (err) => resolve(err)),
    );
    expect(ok).toBeNull();
  });

  it('without confirms, a failed store write closes the channel with an error', async () => {
    const store = new GatedStore();
    const b = await start({ store });
    const { channel } = await openChannel(b.url);
    await channel.assertQueue('failing-2', { durable: true });
    store.fail = true;
    const closed = new Promise<Error>((resolve) => channel.on('error', resolve));
    channel.sendToQueue('failing-2', Buffer.from('x'), { persistent: true });
    expect((await closed).message).toContain('could not store a persistent message');
    void amqp;
  });
});
