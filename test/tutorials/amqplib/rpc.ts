// Tutorial six, "RPC": rpc_server answers requests on `rpc_queue` with fib(n), one at a time (prefetch 1),
// replying to the request's reply_to queue with its correlation_id; rpc_client sends one request with an
// exclusive callback queue as reply_to and a fresh correlation_id, and waits for the matching reply.
import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';
import type { Terminal } from '../support/output.js';
import { onInterrupt, type Running } from './program.js';

function fibonacci(n: number): number {
  if (n === 0 || n === 1) return n;
  return fibonacci(n - 1) + fibonacci(n - 2);
}

export async function rpcServer(url: string, terminal: Terminal, queue = 'rpc_queue'): Promise<Running> {
  const connection = await amqp.connect(url);
  const channel = await connection.createChannel();

  await channel.assertQueue(queue, { durable: false });
  await channel.prefetch(1);
  terminal.print(' [x] Awaiting RPC requests');
  await channel.consume(queue, (message) => {
    if (!message) return;
    const n = Number.parseInt(message.content.toString(), 10);
    terminal.print(` [.] fib(${n})`);
    const result = fibonacci(n);
    channel.sendToQueue(message.properties.replyTo, Buffer.from(result.toString()), {
      correlationId: message.properties.correlationId,
    });
    channel.ack(message);
  });

  return onInterrupt(connection, channel);
}

export interface RpcCall {
  result: number;
  /** The exclusive queue the server replied to. */
  callbackQueue: string;
}

export async function rpcClient(
  url: string,
  terminal: Terminal,
  n: number,
  queue = 'rpc_queue',
): Promise<RpcCall> {
  const connection = await amqp.connect(url);
  const channel = await connection.createChannel();

  const { queue: callbackQueue } = await channel.assertQueue('', { exclusive: true });
  const correlationId = randomUUID();
  let answer: (result: string) => void = () => {};
  const reply = new Promise<string>((resolve) => {
    answer = resolve;
  });
  await channel.consume(
    callbackQueue,
    (message) => {
      // Replies to calls this client did not make (or made earlier) are not ours: ignore them.
      if (message?.properties.correlationId === correlationId) answer(message.content.toString());
    },
    { noAck: true },
  );

  terminal.print(` [x] Requesting fib(${n})`);
  channel.sendToQueue(queue, Buffer.from(n.toString()), { correlationId, replyTo: callbackQueue });
  const result = await reply;
  terminal.print(` [.] Got ${result}`);

  await channel.close();
  await connection.close();
  return { result: Number(result), callbackQueue };
}
