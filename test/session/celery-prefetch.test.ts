// A real Celery worker (Debian's python3-celery) consuming three queues with a prefetch multiplier of 2
// and one process holds at most 2 unacked tasks, as on RabbitMQ: kombu asks for channel-wide prefetch
// (basic.qos global) only from a server whose product is RabbitMQ, version 3.3 or later, and sets the
// prefetch per consumer otherwise, which holds three times as many. The default server identity is
// what makes the difference; the second case shows it.
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import type { StartBrokerOptions } from '../../src/index.js';
import { start, stopAll } from '../helpers/brokers.js';
import { openChannel } from '../helpers/clients.js';

const PYTHON = '/usr/bin/python3';
const WORKER = new URL('./fixtures/celery_worker.py', import.meta.url).pathname;
const QUEUES = ['celery.q1', 'celery.q2', 'celery.q3'];
const TASKS_PER_QUEUE = 5;

const workers: ChildProcess[] = [];
afterEach(async () => {
  for (const w of workers.splice(0)) if (w.exitCode === null) w.kill('SIGKILL');
  await stopAll();
});

/** Starts the worker against `url` and resolves once its first task runs. */
function startWorker(url: string): Promise<void> {
  const worker = spawn(PYTHON, [WORKER, `${url}/`, String(TASKS_PER_QUEUE)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  workers.push(worker);
  let stderr = '';
  worker.stderr.on('data', (d: Buffer) => {
    stderr += d;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no task started within 20 s:\n${stderr}`)), 20_000);
    createInterface({ input: worker.stdout }).on('line', (line) => {
      if (line === 'started') {
        clearTimeout(timer);
        resolve();
      }
    });
    worker.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the worker exited (${code}):\n${stderr}`));
    });
  });
}

/** Tasks the worker has taken and not acked (late acks: the running one too), from the ready counts. */
async function heldByWorker(url: string): Promise<number> {
  const { channel } = await openChannel(url);
  let ready = 0;
  for (const q of QUEUES) ready += (await channel.checkQueue(q)).messageCount;
  return QUEUES.length * TASKS_PER_QUEUE - ready;
}

/** What the worker holds once it runs its first task and the broker has sent what it will send. */
async function unackedTasks(options: StartBrokerOptions): Promise<number> {
  const broker = await start(options);
  await startWorker(broker.url);
  const first = await heldByWorker(broker.url);
  // Deliveries go out as soon as the consumers have room; a moment more shows nothing else arrives.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const second = await heldByWorker(broker.url);
  expect(second).toBe(first);
  return second;
}

describe('a Celery worker on three queues, prefetch multiplier 2, one process', () => {
  it('holds 2 unacked tasks, as on RabbitMQ (channel-wide prefetch)', async () => {
    expect(await unackedTasks({})).toBe(2);
  }, 40_000);

  it('would hold 2 per queue from a server that does not say it is RabbitMQ', async () => {
    expect(await unackedTasks({ serverIdentity: { product: 'warren' } })).toBe(6);
  }, 40_000);
});
