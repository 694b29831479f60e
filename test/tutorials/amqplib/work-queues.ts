// Tutorial two, "Work Queues": new_task puts a task on the durable queue `task_queue` as a persistent
// message; each worker takes one task at a time (prefetch 1), "works" one second per dot in the task and
// acknowledges it only when done, so a task whose worker dies goes to another worker.
import amqp, { type ConsumeMessage } from 'amqplib';
import type { Terminal } from '../support/output.js';
import { onInterrupt, type Running } from './program.js';

export async function newTask(
  url: string,
  terminal: Terminal,
  args: string[],
  queue = 'task_queue',
): Promise<void> {
  const connection = await amqp.connect(url);
  const channel = await connection.createChannel();
  const task = args.join(' ') || 'Hello World!';

  await channel.assertQueue(queue, { durable: true });
  channel.sendToQueue(queue, Buffer.from(task), { persistent: true });
  terminal.print(` [x] Sent '${task}'`);

  await channel.close();
  await connection.close();
}

/** How a worker spends its time on a task with `dots` dots. The tutorial sleeps a second per dot. */
export type Work = (dots: number) => Promise<void>;

const oneSecondPerDot: Work = (dots) => new Promise((resolve) => setTimeout(resolve, dots * 1000));

export interface Worker extends Running {
  /** Every delivery, for the properties the terminal does not show (redelivered, delivery mode). */
  readonly deliveries: ConsumeMessage[];
}

export async function worker(
  url: string,
  terminal: Terminal,
  { queue = 'task_queue', work = oneSecondPerDot }: { queue?: string; work?: Work } = {},
): Promise<Worker> {
  const connection = await amqp.connect(url);
  const channel = await connection.createChannel();
  const deliveries: ConsumeMessage[] = [];

  await channel.assertQueue(queue, { durable: true });
  await channel.prefetch(1);
  terminal.print(` [*] Waiting for messages in ${queue}. To exit press CTRL+C`);
  await channel.consume(
    queue,
    (message) => {
      if (!message) return;
      deliveries.push(message);
      const task = message.content.toString();
      terminal.print(` [x] Received '${task}'`);
      void work(task.split('.').length - 1).then(() => {
        channel.ack(message);
        terminal.print(' [x] Done');
      });
    },
    { noAck: false },
  );

  return { ...onInterrupt(connection, channel), deliveries };
}
