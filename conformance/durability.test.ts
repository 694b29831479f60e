// Durability across a broker restart. The suite can restart only a broker it started itself: against
// AMQP_URL these cases are skipped, with the reason, since the suite has no control over that broker.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqplib from 'amqplib';
import t from 'tap';
import { inProcessOnly, startWarren } from './lib/broker.js';

const skip = inProcessOnly('a restart of the broker');

/** Starts warren in-process on a data directory (restartable on the same directory). */
async function startOn(dataDir: string) {
  return startWarren({ port: 0, dataDir, fsync: true });
}

t.test('a durable queue with persistent messages survives a restart', { skip }, async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'warren-conformance-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  let broker = await startOn(dataDir);
  let connection = await amqplib.connect(broker.url);
  const ch = await connection.createConfirmChannel();
  await ch.assertExchange('conf-durable-x', 'direct', { durable: true });
  await ch.assertQueue('conf-durable-q', { durable: true });
  await ch.bindQueue('conf-durable-q', 'conf-durable-x', 'k');
  for (let i = 0; i < 10; i++) {
    ch.publish('conf-durable-x', 'k', Buffer.from(`m${i}`), { persistent: i % 2 === 0, messageId: `id${i}` });
  }
  await ch.waitForConfirms();
  await connection.close();
  await broker.close();

  broker = await startOn(dataDir);
  t.teardown(() => broker.close());
  connection = await amqplib.connect(broker.url);
  t.teardown(() => connection.close().catch(() => {}));
  const after = await connection.createChannel();
  const { messageCount } = await after.checkQueue('conf-durable-q');
  t.equal(messageCount, 5, 'the five persistent messages are back; the transient ones are not');
  const bodies: string[] = [];
  for (let i = 0; i < 5; i++) {
    const m = await after.get('conf-durable-q', { noAck: true });
    if (m) {
      bodies.push(m.content.toString());
      t.equal(m.properties.messageId, `id${i * 2}`, 'properties survive');
    }
  }
  t.same(bodies, ['m0', 'm2', 'm4', 'm6', 'm8'], 'in publish order');
  // The binding survived too.
  after.publish('conf-durable-x', 'k', Buffer.from('again'));
  const again = await after.get('conf-durable-q', { noAck: true });
  t.equal(again ? again.content.toString() : again, 'again', 'the durable binding routes after the restart');
});

t.test('non-durable queues and exchanges are gone after a restart', { skip }, async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'warren-conformance-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  let broker = await startOn(dataDir);
  let connection = await amqplib.connect(broker.url);
  const ch = await connection.createChannel();
  await ch.assertQueue('conf-transient-q', { durable: false });
  await ch.assertExchange('conf-transient-x', 'fanout', { durable: false });
  await connection.close();
  await broker.close();

  broker = await startOn(dataDir);
  t.teardown(() => broker.close());
  connection = await amqplib.connect(broker.url);
  t.teardown(() => connection.close().catch(() => {}));
  const c1 = await connection.createChannel();
  c1.on('error', () => {});
  await t.rejects(c1.checkQueue('conf-transient-q'), /404/, 'the queue is gone');
  const c2 = await connection.createChannel();
  c2.on('error', () => {});
  await t.rejects(c2.checkExchange('conf-transient-x'), /404/, 'the exchange is gone');
});
