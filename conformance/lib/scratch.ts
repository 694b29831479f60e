// Names for exchanges and queues a case creates, deleted when the case ends from a connection of their
// own, so runs against a shared broker leave nothing behind even when a case fails halfway.

import type { Teardown } from './cases.js';
import { uniqueName } from './cases.js';
import { type Channel, Session } from './session.js';

export class Scratch {
  private readonly exchanges: string[] = [];
  private readonly queues: string[] = [];

  constructor(private readonly area: string) {}

  /** A Scratch whose names are deleted when the test ends. */
  static for(t: Teardown, area: string): Scratch {
    const scratch = new Scratch(area);
    // A cleanup that cannot connect must not turn a passing case into a failure.
    t.teardown(() => scratch.cleanup().catch(() => {}));
    return scratch;
  }

  exchange(label = 'x'): string {
    const name = uniqueName(`${this.area}.${label}`);
    this.exchanges.push(name);
    return name;
  }

  queue(label = 'q'): string {
    const name = uniqueName(`${this.area}.${label}`);
    this.queues.push(name);
    return name;
  }

  /** Remembers a name made elsewhere (a server-named queue) for deletion. */
  keepQueue(name: string): string {
    this.queues.push(name);
    return name;
  }

  async cleanup(): Promise<void> {
    if (this.exchanges.length === 0 && this.queues.length === 0) return;
    const cleaner = { teardown: (_fn: () => unknown) => {} };
    const session = await Session.open(cleaner);
    try {
      // One channel per deletion: a broker that refuses one must not stop the others.
      for (const queue of this.queues) await ignoreErrors(session, (ch) => ch.queueDelete(queue));
      for (const exchange of this.exchanges) await ignoreErrors(session, (ch) => ch.exchangeDelete(exchange));
      await session.close().catch(() => {});
    } finally {
      session.destroy();
    }
  }
}

async function ignoreErrors(session: Session, op: (ch: Channel) => Promise<unknown>): Promise<void> {
  try {
    const ch = await session.channel();
    await op(ch);
    await ch.close();
  } catch {
    // Already gone, or refused: nothing more a cleanup can do.
  }
}

/** Takes every ready message of a queue with basic.get (no-ack) and returns the bodies as strings. */
export async function drain(ch: Channel, queue: string, limit = 1000): Promise<string[]> {
  const bodies: string[] = [];
  for (let i = 0; i < limit; i++) {
    const m = await ch.get(queue, true);
    if (!m) break;
    bodies.push(m.body.toString());
  }
  return bodies;
}

/** Like drain(), with "R" appended to the body of a redelivered message. */
export async function drainMarked(ch: Channel, queue: string, limit = 1000): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < limit; i++) {
    const m = await ch.get(queue, true);
    if (!m) break;
    out.push(`${m.body.toString()}${m.redelivered ? 'R' : ''}`);
  }
  return out;
}
