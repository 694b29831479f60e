// Tutorial four, "Routing": emit_log_direct publishes a log line on the direct exchange `direct_logs` with
// its severity as routing key; receive_logs_direct binds its queue once per severity it wants.
import amqp from 'amqplib';
import type { Terminal } from '../support/output.js';
import { onInterrupt, type Running } from './program.js';

export async function emitLogDirect(
  url: string,
  terminal: Terminal,
  args: string[],
  exchange = 'direct_logs',
): Promise<void> {
  const connection = await amqp.connect(url);
  const channel = await connection.createChannel();
  const severity = args.length > 0 ? args[0] : 'info';
  const text = args.slice(1).join(' ') || 'Hello World!';

  await channel.assertExchange(exchange, 'direct', { durable: false });
  channel.publish(exchange, severity, Buffer.from(text));
  terminal.print(` [x] Sent ${severity}: '${text}'`);

  await channel.close();
  await connection.close();
}

export async function receiveLogsDirect(
  url: string,
  terminal: Terminal,
  severities: string[],
  exchange = 'direct_logs',
): Promise<Running> {
  if (severities.length === 0) throw new Error('Usage: receive_logs_direct.js [info] [warning] [error]');
  const connection = await amqp.connect(url);
  const channel = await connection.createChannel();

  await channel.assertExchange(exchange, 'direct', { durable: false });
  const { queue } = await channel.assertQueue('', { exclusive: true });
  for (const severity of severities) await channel.bindQueue(queue, exchange, severity);
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
