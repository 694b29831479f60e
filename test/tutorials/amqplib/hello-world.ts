// Tutorial one, "Hello World!": send puts one message on the queue `hello` through the default exchange,
// receive prints every message that arrives there.
import amqp from 'amqplib';
import type { Terminal } from '../support/output.js';
import { onInterrupt, type Running } from './program.js';

export async function send(url: string, terminal: Terminal, queue = 'hello'): Promise<void> {
  const connection = await amqp.connect(url);
  const channel = await connection.createChannel();
  const text = 'Hello World!';

  await channel.assertQueue(queue, { durable: false });
  channel.sendToQueue(queue, Buffer.from(text));
  terminal.print(` [x] Sent ${text}`);

  await channel.close();
  await connection.close();
}

export async function receive(url: string, terminal: Terminal, queue = 'hello'): Promise<Running> {
  const connection = await amqp.connect(url);
  const channel = await connection.createChannel();

  await channel.assertQueue(queue, { durable: false });
  terminal.print(` [*] Waiting for messages in ${queue}. To exit press CTRL+C`);
  await channel.consume(
    queue,
    (message) => {
      if (message) terminal.print(` [x] Received ${message.content.toString()}`);
    },
    { noAck: true },
  );

  return onInterrupt(connection, channel);
}
