// Crash tests of dead-lettering: the `warren` command is killed with SIGKILL while a durable queue with a
// dead-letter exchange lets its persistent messages go to a durable dead-letter queue, because a consumer
// rejects them (requeue false) or because their TTL runs out. After the restart on the same data
// directory every confirmed message must be in the queue or in the dead-letter queue: at least once (a
// message whose copy was written but whose removal was not is in both, which is reported, not failed).
// The kill moments are drawn from a seeded generator; set WARREN_CRASH_SEED to replay a run.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import { afterAll, describe, expect, it } from 'vitest';
import { WarrenProcess } from './helpers/warren-process.js';

const seed = Number(process.env.WARREN_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
console.log(`crash-dead-letter seed ${seed} (WARREN_CRASH_SEED=${seed} replays it)`);

/** mulberry32: a small seeded generator of floats in [0, 1). */
function generator(from: number): () => number {
  let a = from >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const dirs: string[] = [];
const processes: WarrenProcess[] = [];

afterAll(async () => {
  for (const p of processes.splice(0)) await p.kill();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function warren(): WarrenProcess {
  const dir = mkdtempSync(join(tmpdir(), 'warren-crash-dl-'));
  dirs.push(dir);
  const p = new WarrenProcess(dir);
  processes.push(p);
  return p;
}

async function connect(port: number): Promise<ChannelModel> {
  // noDelay: a query after a publish would otherwise wait out Nagle and a delayed ack.
  const connection = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`, { noDelay: true });
  connection.on('error', () => {});
  return connection;
}

function quiet<T extends Channel>(channel: T): T {
  channel.on('error', () => {});
  return channel;
}

/** Declares the durable queue `source` dead-lettering through a durable fanout exchange to `dead`. */
async function declare(
  port: number,
  source: string,
  dead: string,
  args: Record<string, unknown>,
): Promise<void> {
  const connection = await connect(port);
  const ch = await connection.createChannel();
  await ch.assertExchange(`${dead}-x`, 'fanout', { durable: true });
  await ch.assertQueue(dead, { durable: true });
  await ch.bindQueue(dead, `${dead}-x`, '');
  await ch.assertQueue(source, {
    durable: true,
    arguments: { 'x-dead-letter-exchange': `${dead}-x`, ...args },
  });
  await connection.close();
}

interface Found {
  id: number;
  deathReason: unknown;
}

/** Takes every message the queue holds (no-ack). */
async function drain(connection: ChannelModel, queue: string): Promise<Found[]> {
  const ch = quiet(await connection.createChannel());
  const { messageCount } = await ch.checkQueue(queue);
  const found: Found[] = [];
  if (messageCount > 0) {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`drained ${found.length} of ${messageCount} from ${queue}`)),
        10_000,
      );
      void ch.consume(
        queue,
        (m: ConsumeMessage | null) => {
          if (!m) return;
          found.push({
            id: Number(m.content.toString()),
            deathReason: m.properties.headers?.['x-first-death-reason'],
          });
          if (found.length === messageCount) {
            clearTimeout(timer);
            resolve();
          }
        },
        { noAck: true },
      );
    });
  }
  await ch.close();
  return found;
}

/** Waits until the queue holds no message (its TTLs run out after the restart too). */
async function emptied(connection: ChannelModel, queue: string): Promise<void> {
  const ch = quiet(await connection.createChannel());
  const deadline = Date.now() + 10_000;
  for (;;) {
    const { messageCount } = await ch.checkQueue(queue);
    if (messageCount === 0) break;
    if (Date.now() > deadline) throw new Error(`${queue} still holds ${messageCount} messages`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await ch.close();
}

interface Tally {
  missing: number[];
  unknown: number[];
  wrongReason: number[];
  duplicates: number;
}

/** What the queue and the dead-letter queue hold against what was confirmed and published. */
function tally(
  inSource: Found[],
  inDead: Found[],
  confirmed: Iterable<number>,
  published: Set<number>,
  reason: string,
): Tally {
  const counts = new Map<number, number>();
  for (const f of [...inSource, ...inDead]) counts.set(f.id, (counts.get(f.id) ?? 0) + 1);
  let duplicates = 0;
  for (const n of counts.values()) duplicates += n - 1;
  return {
    missing: [...confirmed].filter((id) => !counts.has(id)),
    unknown: [...counts.keys()].filter((id) => !published.has(id)),
    // Whatever reached the dead-letter queue got there by being dead-lettered, for this reason.
    wrongReason: inDead.filter((f) => f.deathReason !== reason).map((f) => f.id),
    duplicates,
  };
}

const MESSAGES = 1000;

describe('dead-lettering across a crash', () => {
  it('keeps every confirmed message, in the queue or its dead-letter queue, through SIGKILLs while a consumer rejects them', async () => {
    const random = generator(seed);
    const broker = warren();
    const deadline = Date.now() + 10_000;
    let port = await broker.start();
    let rounds = 0;
    while (rounds < 4 && Date.now() < deadline) {
      rounds++;
      const source = `reject-${rounds}`;
      const dead = `reject-${rounds}-dead`;
      await declare(port, source, dead, {});
      const published = new Set<number>();
      {
        const connection = await connect(port);
        const ch = quiet(await connection.createConfirmChannel());
        for (let id = 0; id < MESSAGES; id++) {
          published.add(id);
          if (!ch.sendToQueue(source, Buffer.from(String(id)), { persistent: true }))
            await new Promise<void>((resolve) => ch.once('drain', () => resolve()));
        }
        await ch.waitForConfirms();
        await connection.close();
      }
      // The moment: after the consumer has rejected this many (the broker some way behind it).
      const killAfter = 1 + Math.floor(random() * MESSAGES);
      const consumer = await connect(port);
      const ch = quiet(await consumer.createChannel());
      await ch.prefetch(50);
      let rejected = 0;
      await ch.consume(source, (m) => {
        if (!m || rejected >= killAfter) return;
        ch.reject(m, false);
        if (++rejected === killAfter) broker.killNow();
      });
      await broker.exited();

      port = await broker.start();
      const check = await connect(port);
      const inSource = await drain(check, source);
      const inDead = await drain(check, dead);
      await check.close();
      const { duplicates, ...result } = tally(inSource, inDead, published, published, 'rejected');
      console.log(
        `reject round ${rounds}: killed after ${killAfter} rejects; ${inSource.length} in the queue, ${inDead.length} dead-lettered, ${duplicates} duplicates`,
      );
      expect({ seed, round: rounds, ...result }).toEqual({
        seed,
        round: rounds,
        missing: [],
        unknown: [],
        wrongReason: [],
      });
    }
    expect(rounds).toBeGreaterThanOrEqual(2);
    await broker.kill();
  }, 20_000);

  it('keeps every confirmed message, in the queue or its dead-letter queue, through SIGKILLs while their TTLs run out', async () => {
    const random = generator(seed ^ 0x5bd1e995);
    const broker = warren();
    const deadline = Date.now() + 10_000;
    let port = await broker.start();
    let rounds = 0;
    let nextId = 0;
    while (rounds < 4 && Date.now() < deadline) {
      rounds++;
      const source = `ttl-${rounds}`;
      const dead = `ttl-${rounds}-dead`;
      await declare(port, source, dead, { 'x-message-ttl': 20 });
      const published = new Set<number>();
      const confirmed = new Set<number>();
      const publisher = await connect(port);
      const ch = quiet(await publisher.createConfirmChannel());
      let firstConfirm: () => void = () => {};
      const confirmedOne = new Promise<void>((resolve) => {
        firstConfirm = resolve;
      });
      let stop = false;
      // Publishes in slices while earlier messages expire and are dead-lettered; bounded by the kill and
      // by the count.
      const publishing = (async () => {
        for (let i = 0; i < 5000 && !stop; i++) {
          const id = nextId++;
          published.add(id);
          const ok = ch.sendToQueue(source, Buffer.from(String(id)), { persistent: true }, (err) => {
            if (err) return;
            confirmed.add(id);
            firstConfirm();
          });
          if (!ok) await new Promise<void>((resolve) => ch.once('drain', () => resolve()));
          if (i % 50 === 49) await new Promise((resolve) => setTimeout(resolve, 1));
        }
      })().catch(() => {});
      await confirmedOne;
      const delay = Math.floor(random() * 150);
      await new Promise((resolve) => setTimeout(resolve, delay));
      const confirmedAtKill = new Set(confirmed);
      await broker.kill();
      stop = true;
      await publishing;

      port = await broker.start();
      const check = await connect(port);
      // What was still in the queue expires there after the restart and is dead-lettered too.
      await emptied(check, source);
      const inDead = await drain(check, dead);
      await check.close();
      const { duplicates, ...result } = tally([], inDead, confirmedAtKill, published, 'expired');
      console.log(
        `ttl round ${rounds}: killed ${delay} ms after the first confirm with ${confirmedAtKill.size} of ${published.size} confirmed; ${inDead.length} dead-lettered, ${duplicates} duplicates`,
      );
      expect({ seed, round: rounds, ...result }).toEqual({
        seed,
        round: rounds,
        missing: [],
        unknown: [],
        wrongReason: [],
      });
      expect(confirmedAtKill.size).toBeGreaterThan(0);
    }
    expect(rounds).toBeGreaterThanOrEqual(2);
    await broker.kill();
  }, 20_000);
});
