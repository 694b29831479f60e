// Crash tests: a broker child process is killed with SIGKILL while publishers with confirms run at full
// speed and a consumer holds unacked deliveries. After each restart every confirmed message must be
// there exactly once, nothing unconfirmed more than once, and the held deliveries come back redelivered.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import amqp, { type ChannelModel, type ConsumeMessage } from 'amqplib';
import { afterAll, describe, expect, it } from 'vitest';

// The `warren` command as users run it: package.json's bin.
const root = new URL('../', import.meta.url);
const { bin } = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
  bin: { warren: string };
};
const cli = fileURLToPath(new URL(bin.warren, root));
const dataDir = mkdtempSync(join(tmpdir(), 'warren-crash-'));
let child: ChildProcess | undefined;

afterAll(() => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

/** Starts the broker on the data directory; resolves with its port once it listens. */
async function startBroker(): Promise<number> {
  const c = spawn(process.execPath, [cli, '--port', '0', '--data-dir', dataDir, '--log-level', 'info'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  child = c;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('broker did not start within 10 s')), 10_000);
    c.once('exit', (code) => reject(new Error(`broker exited with ${code} before listening`)));
    createInterface({ input: c.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      if (!line.includes('"warren started"')) return;
      clearTimeout(timer);
      resolve((JSON.parse(line) as { port: number }).port);
    });
  });
}

async function kill(): Promise<void> {
  const c = child;
  if (!c || c.exitCode !== null) return;
  const exited = once(c, 'exit');
  c.kill('SIGKILL');
  await exited;
}

function quietly(connection: ChannelModel): ChannelModel {
  connection.on('error', () => {});
  return connection;
}

/** Reads every message of the queue (acking each); returns ids with their redelivered flags. */
async function drain(port: number): Promise<{ id: number; redelivered: boolean }[]> {
  const connection = quietly(await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`));
  const ch = await connection.createConfirmChannel();
  const { messageCount } = await ch.checkQueue('crash-q');
  const seen: { id: number; redelivered: boolean }[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`drained ${seen.length} of ${messageCount}`)), 20_000);
    if (messageCount === 0) {
      clearTimeout(timer);
      resolve();
      return;
    }
    void ch.consume('crash-q', (m: ConsumeMessage | null) => {
      if (!m) return;
      seen.push({ id: Number(m.content.toString()), redelivered: m.fields.redelivered });
      if (seen.length === messageCount) {
        clearTimeout(timer);
        ch.ack(m, true);
        resolve();
      }
    });
  });
  // A confirmed publish to another queue makes the acks above durable before the next kill.
  await ch.assertQueue('crash-sync', { durable: true });
  ch.sendToQueue('crash-sync', Buffer.from('sync'), { persistent: true });
  await ch.waitForConfirms();
  await ch.purgeQueue('crash-sync');
  await connection.close();
  return seen;
}

describe('crash recovery', () => {
  it('keeps every confirmed message through SIGKILLs at random moments', async () => {
    const deadline = Date.now() + 90_000;
    let nextId = 1;
    let rounds = 0;
    let port = await startBroker();
    {
      const setup = quietly(await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`));
      const ch = await setup.createChannel();
      await ch.assertQueue('crash-q', { durable: true });
      await setup.close();
    }
    while (rounds < 20 && Date.now() < deadline) {
      rounds++;
      const published = new Set<number>();
      const confirmed = new Set<number>();
      const held = new Map<number, boolean>(); // delivered to the consumer, never acked
      const publisher = quietly(await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`));
      const consumer = quietly(await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`));
      const cch = await consumer.createChannel();
      cch.on('error', () => {});
      await cch.prefetch(10);
      await cch.consume('crash-q', (m) => {
        if (m) held.set(Number(m.content.toString()), true);
      });
      const pch = await publisher.createConfirmChannel();
      pch.on('error', () => {});
      let firstConfirm: () => void = () => {};
      const confirmedOne = new Promise<void>((resolve) => {
        firstConfirm = resolve;
      });
      let stop = false;
      const publishing = (async () => {
        // Bounded: the kill ends it, and so does the count.
        for (let i = 0; i < 200_000 && !stop; i++) {
          const id = nextId++;
          published.add(id);
          const ok = pch.sendToQueue('crash-q', Buffer.from(String(id)), { persistent: true }, (err) => {
            if (err) return;
            confirmed.add(id);
            firstConfirm();
          });
          if (!ok) await new Promise<void>((r) => pch.once('drain', () => r()));
          if (i % 200 === 199) await new Promise((r) => setImmediate(r));
        }
      })().catch(() => {});
      // Kill at a random moment once confirms flow.
      await confirmedOne;
      await new Promise((r) => setTimeout(r, 20 + Math.floor(Math.random() * 250)));
      const confirmedAtKill = new Set(confirmed);
      const heldAtKill = new Set(held.keys());
      await kill();
      stop = true;
      await publishing;

      port = await startBroker();
      const seen = await drain(port);
      const counts = new Map<number, number>();
      for (const s of seen) counts.set(s.id, (counts.get(s.id) ?? 0) + 1);
      const missing = [...confirmedAtKill].filter((id) => !counts.has(id));
      const duplicated = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
      const unknown = [...counts.keys()].filter((id) => !published.has(id));
      expect({ round: rounds, missing, duplicated, unknown }).toEqual({
        round: rounds,
        missing: [],
        duplicated: [],
        unknown: [],
      });
      // What the consumer held unacked comes back, marked redelivered (when it was confirmed).
      for (const s of seen) {
        if (heldAtKill.has(s.id)) expect(s.redelivered, `held message ${s.id} redelivered`).toBe(true);
      }
      expect(confirmedAtKill.size).toBeGreaterThan(0);
    }
    expect(rounds).toBeGreaterThanOrEqual(20);
    await kill();
  }, 120_000);

  it('keeps every acknowledged declaration, binding and deletion through SIGKILLs', async () => {
    const deadline = Date.now() + 40_000;
    const declared = new Set<number>(); // declare-ok and bind-ok received, no delete sent since
    const deleted = new Set<number>(); // delete-ok received
    let next = 0;
    let rounds = 0;
    let port = await startBroker();
    while (rounds < 8 && Date.now() < deadline) {
      rounds++;
      const connection = quietly(await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`));
      const ch = await connection.createChannel();
      ch.on('error', () => {});
      let firstDone: () => void = () => {};
      const oneDone = new Promise<void>((resolve) => {
        firstDone = resolve;
      });
      let stop = false;
      const declaring = (async () => {
        // Bounded: the kill ends it, and so does the count.
        for (let i = 0; i < 100_000 && !stop; i++) {
          const n = next++;
          await ch.assertQueue(`decl-${n}`, { durable: true });
          await ch.bindQueue(`decl-${n}`, 'amq.direct', `decl-${n}`);
          declared.add(n);
          firstDone();
          if (n % 3 === 0) {
            const old = n - 3 * (1 + (n % 5));
            if (declared.delete(old)) {
              await ch.deleteQueue(`decl-${old}`);
              deleted.add(old);
            }
          }
        }
      })().catch(() => {});
      await oneDone;
      await new Promise((r) => setTimeout(r, 20 + Math.floor(Math.random() * 250)));
      const declaredAtKill = [...declared];
      const deletedAtKill = [...deleted];
      await kill();
      stop = true;
      await declaring;

      port = await startBroker();
      // noDelay: a publish followed by a query would otherwise wait out Nagle and a delayed ack.
      const check = quietly(await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`, { noDelay: true }));
      const missing: number[] = [];
      const unbound: number[] = [];
      for (const n of declaredAtKill) {
        const c = await check.createChannel();
        c.on('error', () => {});
        const ok = await c.checkQueue(`decl-${n}`).then(
          () => true,
          () => false,
        );
        if (!ok) {
          missing.push(n);
          continue;
        }
        // The binding routes: one message in, then out again.
        c.publish('amq.direct', `decl-${n}`, Buffer.from('b'));
        if ((await c.checkQueue(`decl-${n}`)).messageCount !== 1) unbound.push(n);
        await c.purgeQueue(`decl-${n}`);
        await c.close();
      }
      const back: number[] = [];
      for (const n of deletedAtKill) {
        const c = await check.createChannel();
        c.on('error', () => {});
        if (
          await c.checkQueue(`decl-${n}`).then(
            () => true,
            () => false,
          )
        )
          back.push(n);
        else await c.close().catch(() => {});
      }
      await check.close();
      expect({ round: rounds, missing, unbound, back }).toEqual({
        round: rounds,
        missing: [],
        unbound: [],
        back: [],
      });
      expect(declaredAtKill.length).toBeGreaterThan(0);
    }
    expect(rounds).toBeGreaterThanOrEqual(8);
    expect(deleted.size).toBeGreaterThan(0);
    await kill();
  }, 60_000);
});
