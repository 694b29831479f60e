// Small conveniences over amqplib for integration tests: channels whose server-side closes are recorded
// instead of crashing the test process, and bounded waits for messages.
import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';

export interface Opened {
  connection: ChannelModel;
  channel: Channel;
  /** Errors the connection emitted (connection.close from the broker). */
  connectionErrors: Error[];
}

const opened: ChannelModel[] = [];

export async function openChannel(url: string): Promise<Opened> {
  const connection = await amqp.connect(url);
  opened.push(connection);
  const connectionErrors: Error[] = [];
  connection.on('error', (e: Error) => connectionErrors.push(e));
  const channel = await connection.createChannel();
  channel.on('error', () => {});
  return { connection, channel, connectionErrors };
}

export async function newChannel(connection: ChannelModel): Promise<Channel> {
  const channel = await connection.createChannel();
  channel.on('error', () => {});
  return channel;
}

/** Closes every connection opened through openChannel (ignoring those already closed). */
export async function closeAll(): Promise<void> {
  for (const c of opened.splice(0)) await c.close().catch(() => {});
}

/** Collects the messages a consumer receives; `next(n)` waits until n have arrived. */
export class Inbox {
  readonly messages: ConsumeMessage[] = [];
  cancelled = false;
  private waiters: (() => void)[] = [];

  readonly onMessage = (m: ConsumeMessage | null): void => {
    if (m === null) this.cancelled = true;
    else this.messages.push(m);
    for (const w of this.waiters.splice(0)) w();
  };

  get bodies(): string[] {
    return this.messages.map((m) => m.content.toString());
  }

  until(predicate: () => boolean, timeoutMs = 3000, what = 'messages'): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out waiting for ${what} (have ${this.messages.length})`)),
        timeoutMs,
      );
      const check = () => {
        if (predicate()) {
          clearTimeout(timer);
          resolve();
        } else this.waiters.push(check);
      };
      check();
    });
  }

  count(n: number, timeoutMs = 3000): Promise<void> {
    return this.until(() => this.messages.length >= n, timeoutMs, `${n} messages`);
  }
}

/**
 * Waits until a state of the broker that no client event announces holds (checked every few
 * milliseconds), failing after `ms`.
 */
export async function eventually(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
