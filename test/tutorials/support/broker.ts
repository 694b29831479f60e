// The broker the tutorials run against: an in-process warren by default, or any broker named by
// TUTORIAL_AMQP_URL (e.g. a RabbitMQ node, to check that the expectations are RabbitMQ's).
import { randomUUID } from 'node:crypto';
import amqp, { type Channel } from 'amqplib';
import { afterAll, beforeAll } from 'vitest';
import { type RunningBroker, startBroker } from '../../../src/index.js';
import { within } from './output.js';

export interface Names {
  queues?: string[];
  exchanges?: string[];
}

export interface TutorialBroker {
  /** Set once beforeAll has run. */
  readonly url: string;
  /**
   * Deletes what a test declared, so that nothing is left on a long-lived broker (say, RabbitMQ) by this
   * run. Call it from the test's own onTestFinished: tests run concurrently.
   */
  deleteAll(names: Names): Promise<void>;
}

export function useTutorialBroker(): TutorialBroker {
  const external = process.env.TUTORIAL_AMQP_URL;
  let broker: RunningBroker | undefined;
  let url = external ?? '';

  beforeAll(async () => {
    if (external === undefined || external === '') {
      broker = await startBroker({ port: 0 });
      url = broker.url;
    }
  });
  afterAll(async () => {
    await broker?.close();
  });

  return {
    get url() {
      return url;
    },
    deleteAll: (names) => within(deleteAll(url, names), `deleting ${JSON.stringify(names)}`),
  };
}

/** A name no earlier run used, so nothing left on a shared broker by a failed run can interfere. */
export function unique(name: string): string {
  return `${name}.${randomUUID().slice(0, 8)}`;
}

async function deleteAll(url: string, { queues = [], exchanges = [] }: Names): Promise<void> {
  const connection = await amqp.connect(url);
  connection.on('error', () => {});
  try {
    // One channel per delete: cleaning up must not fail the test, and a channel error (say, the queue
    // was exclusive and is gone already) closes only that channel.
    for (const queue of queues) {
      const channel = await connection.createChannel();
      channel.on('error', () => {});
      await channel.deleteQueue(queue).catch(() => {});
      await channel.close().catch(() => {});
    }
    for (const exchange of exchanges) {
      const channel = await connection.createChannel();
      channel.on('error', () => {});
      await channel.deleteExchange(exchange).catch(() => {});
      await channel.close().catch(() => {});
    }
  } finally {
    await connection.close().catch(() => {}); // the broker may have closed it already
  }
}

/** Runs `use` on a channel of a connection of its own, so a channel error in it affects nothing else. */
export async function withChannel<T>(url: string, use: (channel: Channel) => Promise<T>): Promise<T> {
  const connection = await amqp.connect(url);
  connection.on('error', () => {});
  try {
    const channel = await connection.createChannel();
    channel.on('error', () => {});
    return await use(channel);
  } finally {
    await connection.close().catch(() => {}); // the broker may have closed it already
  }
}

/** The reply code of the channel error `operation` ends in, or 'ok' when it succeeds. */
export async function replyCode(
  url: string,
  operation: (channel: Channel) => Promise<unknown>,
): Promise<number | 'ok'> {
  return withChannel(url, async (channel) => {
    try {
      await operation(channel);
      return 'ok';
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (typeof code === 'number') return code;
      throw error;
    }
  });
}

/**
 * Resolves once `queue` no longer exists. An exclusive queue goes when its connection does, but RabbitMQ
 * deletes it after it has answered connection.close, and no event tells a client when: so this polls,
 * briefly and within a bound.
 */
export async function untilQueueGone(url: string, queue: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((await replyCode(url, (channel) => channel.checkQueue(queue))) === 404) return;
    if (Date.now() > deadline) throw new Error(`queue '${queue}' still exists ${timeoutMs} ms later`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
