// x-expires across a restart, as RabbitMQ counts it: a durable queue's period starts again when the
// broker restores it (RabbitMQ arms the expiry timer when the queue process starts), so a queue whose
// period had almost run out, or had run out while the broker was down, is there after the restart and is
// deleted one period after it if nobody uses it. A passive declare renews the period (as in RabbitMQ), so
// the test watches the broker's own vhost until the queue is gone.
//
// Margins: the lower bound (not deleted before one period after the restart began) holds however slow the
// machine; the upper bound allows a second past the period for a busy machine's timers.
import { afterEach, describe, expect, it } from 'vitest';
import { restart, start, stopAll, tempDir } from '../helpers/brokers.js';
import { openChannel } from '../helpers/clients.js';

afterEach(stopAll);

const PERIOD = 600;
const SLACK = 1000;

/** Resolves at `time` (Date.now() milliseconds). */
function at(time: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, time - Date.now())));
}

type Started = Awaited<ReturnType<typeof start>>;

/**
 * Whether the queue exists, asked of the broker itself: any declare through AMQP that answers with the
 * queue's counts, passive or not, renews its period, as in RabbitMQ.
 */
function exists(b: Started, queue: string): boolean {
  return b.broker.vhost('/')?.queues.has(queue) === true;
}

/**
 * Watches the queue every few milliseconds until it is gone; resolves with when it was first seen
 * gone, failing if it is still there at `deadline`.
 */
async function goneAt(b: Started, queue: string, deadline: number): Promise<number> {
  for (;;) {
    if (!exists(b, queue)) return Date.now();
    if (Date.now() > deadline) throw new Error(`queue ${queue} still there ${SLACK} ms past its period`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('x-expires across a restart', () => {
  it('a restored queue whose period had almost run out is there after the restart, and goes one period after it', async () => {
    const dataDir = tempDir('warren-expires-restart-');
    let b = await start({ dataDir, fsync: false });
    const { channel } = await openChannel(b.url);
    await channel.assertQueue('nearly', { durable: true, arguments: { 'x-expires': PERIOD } });
    // The declare-ok came after the queue was declared: its period ran out by then, counted from it.
    const declared = Date.now();
    await at(declared + PERIOD - 150);
    const restarting = Date.now();
    b = await restart(b, { dataDir, fsync: false });
    const restarted = Date.now();
    // A client connected, as after a real restart (connecting is not a use of the queue).
    await openChannel(b.url);
    // Past the period counted from the declaration, and still there.
    await at(declared + PERIOD + 50);
    const gone = await goneAt(b, 'nearly', restarted + PERIOD + SLACK);
    expect(gone - restarting).toBeGreaterThanOrEqual(PERIOD);
  });

  it('a queue whose period ran out while the broker was down is there after the restart, and goes one period after it', async () => {
    const dataDir = tempDir('warren-expires-restart-');
    let b = await start({ dataDir, fsync: false });
    const { channel } = await openChannel(b.url);
    await channel.assertQueue('lapsed', { durable: true, arguments: { 'x-expires': PERIOD } });
    await channel.assertQueue('kept', { durable: true });
    const declared = Date.now();
    await b.close();
    // Down for longer than the period.
    await at(declared + PERIOD + 100);
    const restarting = Date.now();
    b = await restart(b, { dataDir, fsync: false });
    const restarted = Date.now();
    // A client connected, as after a real restart (connecting is not a use of the queue).
    await openChannel(b.url);
    const gone = await goneAt(b, 'lapsed', restarted + PERIOD + SLACK);
    expect(gone - restarting).toBeGreaterThanOrEqual(PERIOD);
    // Only the queue with x-expires goes.
    expect(exists(b, 'kept')).toBe(true);
  });

  it('after a restart, a use renews the period as before it', async () => {
    const dataDir = tempDir('warren-expires-restart-');
    let b = await start({ dataDir, fsync: false });
    {
      const { channel } = await openChannel(b.url);
      await channel.assertQueue('renewed', { durable: true, arguments: { 'x-expires': PERIOD } });
    }
    b = await restart(b, { dataDir, fsync: false });
    const restarted = Date.now();
    const { channel } = await openChannel(b.url);
    await at(restarted + PERIOD / 2);
    // A basic.get is a use: the period starts again from it.
    const getting = Date.now();
    expect(await channel.get('renewed')).toBe(false);
    await at(restarted + PERIOD + 50);
    const gone = await goneAt(b, 'renewed', getting + PERIOD + SLACK);
    expect(gone - getting).toBeGreaterThanOrEqual(PERIOD);
  });
});
