// Tutorial three, "Publish/Subscribe": emit_log broadcasts a log line on the fanout exchange `logs`; each
// receive_logs binds its own exclusive, server-named queue to it and prints every line.
import amqp from 'amqplib';
import type { Terminal } from '../support/output.js';
import { onInterrupt, type Running } from './program.js';

export async function emitLog(
  url: string,
  terminal: Terminal,
  args: string[],
  exchange = 'logs',
): Promise<void> {
  const connection = await amqp.connect(url);
  const channel = await connection.createChannel();
  const text = args.join(' ') || 'info: Hello World!';

  await channel.assertExchange(exchange, 'fanout', { durable: false });
  channel.publish(exchange, '', Buffer.from(text));
  terminal.print(` [x] Sent ${text}`);

  await channel.close();
  await connection.close();
}

export interface LogReceiver extends Running {
  /** The name the broker gave the receiver's queue. */
  readonly queue: string;
}

export async function receiveLogs(url: string, terminal: Terminal, exchange = 'logs'): Promise<LogReceiver> {
  const connection = await amqp.connect(url);
  const channel = await connection.createChannel();

  await channel.assertExchange(exchange, 'fanout', { durable: false });
  const { queue } = await channel.assertQueue('', { exclusive: true });
  await channel.bindQueue(queue, exchange, '');
  terminal.print(' [*] Waiting for logs. To exit press CTRL+C');
  await channel.consume(
    queue,
    (message) => {
      if (message) terminal.print(` [x] ${message.content.toString()}`);
    },
    { noAck: true },
  );

  return { ...onInterrupt(connection, channel), queue };
}
