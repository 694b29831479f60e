// Tutorial five, "Topics": emit_log_topic publishes on the topic exchange `topic_logs` with a routing key
// such as `kern.critical`; receive_logs_topic binds its queue with patterns (`*` one word, `#` any).
import amqp from 'amqplib';
import type { Terminal } from '../support/output.js';
import { onInterrupt, type Running } from './program.js';

export async function emitLogTopic(
  url: string,
  terminal: Terminal,
  args: string[],
  exchange = 'topic_logs',
): Promise<void> {
  const connection = await amqp.connect(url);
  const channel = await connection.createChannel();
  const key = args.length > 0 ? args[0] : 'anonymous.info';
  const text = args.slice(1).join(' ') || 'Hello World!';

  await channel.assertExchange(exchange, 'topic', { durable: false });
  channel.publish(exchange, key, Buffer.from(text));
  terminal.print(` [x] Sent ${key}: '${text}'`);

  await channel.close();
  await connection.close();
}

export async function receiveLogsTopic(
  url: string,
  terminal: Terminal,
  bindingKeys: string[],
  exchange = 'topic_logs',
): Promise<Running> {
  if (bindingKeys.length === 0) throw new Error('Usage: receive_logs_topic.js <facility>.<severity>');
  const connection = await amqp.connect(url);
  const channel = await connection.createChannel();

  await channel.assertExchange(exchange, 'topic', { durable: false });
  const { queue } = await channel.assertQueue('', { exclusive: true });
  for (const key of bindingKeys) await channel.bindQueue(queue, exchange, key);
  terminal.print(' [*] Waiting for logs. To exit press CTRL+C');
  await channel.consume(
    queue,
    (message) => {
      if (message) terminal.print(` [x] ${message.fields.routingKey}: '${message.content.toString()}'`);
    },
    { noAck: true },
  );

  return onInterrupt(connection, channel);
}
