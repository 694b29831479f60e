// Arguments of the exchange, queue, basic, confirm and tx methods, encoded and decoded from the
// 0-9-1 spec, and the basic content-header properties. Used by the session client in session.ts.

import { type FieldTable, type MethodId, Reader, Writer } from './wire.js';

/** Every method of the classes the broker-core cases use, by name. */
export const M = {
  exchangeDeclare: [40, 10],
  exchangeDeclareOk: [40, 11],
  exchangeDelete: [40, 20],
  exchangeDeleteOk: [40, 21],
  exchangeBind: [40, 30],
  exchangeBindOk: [40, 31],
  exchangeUnbind: [40, 40],
  exchangeUnbindOk: [40, 51],
  queueDeclare: [50, 10],
  queueDeclareOk: [50, 11],
  queueBind: [50, 20],
  queueBindOk: [50, 21],
  queuePurge: [50, 30],
  queuePurgeOk: [50, 31],
  queueDelete: [50, 40],
  queueDeleteOk: [50, 41],
  queueUnbind: [50, 50],
  queueUnbindOk: [50, 51],
  basicQos: [60, 10],
  basicQosOk: [60, 11],
  basicConsume: [60, 20],
  basicConsumeOk: [60, 21],
  basicCancel: [60, 30],
  basicCancelOk: [60, 31],
  basicPublish: [60, 40],
  basicReturn: [60, 50],
  basicDeliver: [60, 60],
  basicGet: [60, 70],
  basicGetOk: [60, 71],
  basicGetEmpty: [60, 72],
  basicAck: [60, 80],
  basicReject: [60, 90],
  basicRecoverAsync: [60, 100],
  basicRecover: [60, 110],
  basicRecoverOk: [60, 111],
  basicNack: [60, 120],
  confirmSelect: [85, 10],
  confirmSelectOk: [85, 11],
  txSelect: [90, 10],
  txSelectOk: [90, 11],
  txCommit: [90, 20],
  txCommitOk: [90, 21],
  txRollback: [90, 30],
  txRollbackOk: [90, 31],
} as const satisfies Record<string, MethodId>;

/** Methods followed by a content header and body frames. */
export function carriesContent(classId: number, methodId: number): boolean {
  return classId === 60 && (methodId === 40 || methodId === 50 || methodId === 60 || methodId === 71);
}

export interface ExchangeDeclareOptions {
  passive?: boolean;
  durable?: boolean;
  autoDelete?: boolean;
  internal?: boolean;
  noWait?: boolean;
  arguments?: FieldTable;
}

export function exchangeDeclareArgs(exchange: string, type: string, o: ExchangeDeclareOptions = {}): Buffer {
  return new Writer()
    .short(0)
    .shortstr(exchange)
    .shortstr(type)
    .bits(!!o.passive, !!o.durable, !!o.autoDelete, !!o.internal, !!o.noWait)
    .table(o.arguments ?? {})
    .build();
}

export function exchangeDeleteArgs(
  exchange: string,
  o: { ifUnused?: boolean; noWait?: boolean } = {},
): Buffer {
  return new Writer().short(0).shortstr(exchange).bits(!!o.ifUnused, !!o.noWait).build();
}

/** exchange.bind and exchange.unbind share their arguments. */
export function exchangeBindArgs(
  destination: string,
  source: string,
  routingKey: string,
  args: FieldTable = {},
  noWait = false,
): Buffer {
  return new Writer()
    .short(0)
    .shortstr(destination)
    .shortstr(source)
    .shortstr(routingKey)
    .bits(noWait)
    .table(args)
    .build();
}

export interface QueueDeclareOptions {
  passive?: boolean;
  durable?: boolean;
  exclusive?: boolean;
  autoDelete?: boolean;
  noWait?: boolean;
  arguments?: FieldTable;
}

export function queueDeclareArgsFull(queue: string, o: QueueDeclareOptions = {}): Buffer {
  return new Writer()
    .short(0)
    .shortstr(queue)
    .bits(!!o.passive, !!o.durable, !!o.exclusive, !!o.autoDelete, !!o.noWait)
    .table(o.arguments ?? {})
    .build();
}

export interface QueueDeclareOk {
  queue: string;
  messageCount: number;
  consumerCount: number;
}

export function decodeQueueDeclareOk(args: Buffer): QueueDeclareOk {
  const r = new Reader(args);
  return { queue: r.shortstr(), messageCount: r.long(), consumerCount: r.long() };
}

export function queueBindArgs(
  queue: string,
  exchange: string,
  routingKey: string,
  args: FieldTable = {},
  noWait = false,
): Buffer {
  return new Writer()
    .short(0)
    .shortstr(queue)
    .shortstr(exchange)
    .shortstr(routingKey)
    .bits(noWait)
    .table(args)
    .build();
}

/** queue.unbind has no no-wait bit. */
export function queueUnbindArgs(
  queue: string,
  exchange: string,
  routingKey: string,
  args: FieldTable = {},
): Buffer {
  return new Writer().short(0).shortstr(queue).shortstr(exchange).shortstr(routingKey).table(args).build();
}

export function queuePurgeArgs(queue: string, noWait = false): Buffer {
  return new Writer().short(0).shortstr(queue).bits(noWait).build();
}

export function queueDeleteArgs(
  queue: string,
  o: { ifUnused?: boolean; ifEmpty?: boolean; noWait?: boolean } = {},
): Buffer {
  return new Writer().short(0).shortstr(queue).bits(!!o.ifUnused, !!o.ifEmpty, !!o.noWait).build();
}

/** queue.purge-ok and queue.delete-ok: a message count. */
export function decodeMessageCount(args: Buffer): number {
  return new Reader(args).long();
}

export function basicQosArgs(prefetchSize: number, prefetchCount: number, global: boolean): Buffer {
  return new Writer().long(prefetchSize).short(prefetchCount).bits(global).build();
}

export interface ConsumeOptions {
  consumerTag?: string;
  noLocal?: boolean;
  noAck?: boolean;
  exclusive?: boolean;
  noWait?: boolean;
  arguments?: FieldTable;
}

export function basicConsumeArgs(queue: string, o: ConsumeOptions = {}): Buffer {
  return new Writer()
    .short(0)
    .shortstr(queue)
    .shortstr(o.consumerTag ?? '')
    .bits(!!o.noLocal, !!o.noAck, !!o.exclusive, !!o.noWait)
    .table(o.arguments ?? {})
    .build();
}

/** basic.consume-ok, basic.cancel-ok: the consumer tag. basic.cancel also carries no-wait after it. */
export function decodeConsumerTag(args: Buffer): string {
  return new Reader(args).shortstr();
}

export function basicCancelArgs(consumerTag: string, noWait = false): Buffer {
  return new Writer().shortstr(consumerTag).bits(noWait).build();
}

export function basicPublishArgs(
  exchange: string,
  routingKey: string,
  mandatory = false,
  immediate = false,
): Buffer {
  return new Writer().short(0).shortstr(exchange).shortstr(routingKey).bits(mandatory, immediate).build();
}

export interface Return {
  replyCode: number;
  replyText: string;
  exchange: string;
  routingKey: string;
}

export function decodeReturn(args: Buffer): Return {
  const r = new Reader(args);
  return { replyCode: r.short(), replyText: r.shortstr(), exchange: r.shortstr(), routingKey: r.shortstr() };
}

export interface Deliver {
  consumerTag: string;
  deliveryTag: bigint;
  redelivered: boolean;
  exchange: string;
  routingKey: string;
}

export function decodeDeliver(args: Buffer): Deliver {
  const r = new Reader(args);
  return {
    consumerTag: r.shortstr(),
    deliveryTag: r.longlong(),
    redelivered: (r.octet() & 1) === 1,
    exchange: r.shortstr(),
    routingKey: r.shortstr(),
  };
}

export interface GetOk {
  deliveryTag: bigint;
  redelivered: boolean;
  exchange: string;
  routingKey: string;
  messageCount: number;
}

export function decodeGetOk(args: Buffer): GetOk {
  const r = new Reader(args);
  return {
    deliveryTag: r.longlong(),
    redelivered: (r.octet() & 1) === 1,
    exchange: r.shortstr(),
    routingKey: r.shortstr(),
    messageCount: r.long(),
  };
}

export function basicGetArgsFull(queue: string, noAck: boolean): Buffer {
  return new Writer().short(0).shortstr(queue).bits(noAck).build();
}

export function basicAckArgs(deliveryTag: bigint | number, multiple = false): Buffer {
  return new Writer().longlong(deliveryTag).bits(multiple).build();
}

export function basicRejectArgs(deliveryTag: bigint | number, requeue: boolean): Buffer {
  return new Writer().longlong(deliveryTag).bits(requeue).build();
}

export function basicNackArgs(deliveryTag: bigint | number, multiple: boolean, requeue: boolean): Buffer {
  return new Writer().longlong(deliveryTag).bits(multiple, requeue).build();
}

/** basic.ack and basic.nack sent by the broker in confirm mode. */
export interface Confirm {
  deliveryTag: bigint;
  multiple: boolean;
  /** basic.nack only. */
  requeue: boolean;
}

export function decodeConfirm(args: Buffer): Confirm {
  const r = new Reader(args);
  const deliveryTag = r.longlong();
  const bits = r.octet();
  return { deliveryTag, multiple: (bits & 1) === 1, requeue: (bits & 2) === 2 };
}

export function bitArgs(value: boolean): Buffer {
  return new Writer().bits(value).build();
}

/** The basic class properties, in property-flag order (bit 15 first). */
export interface BasicProperties {
  contentType?: string;
  contentEncoding?: string;
  headers?: FieldTable;
  deliveryMode?: number;
  priority?: number;
  correlationId?: string;
  replyTo?: string;
  expiration?: string;
  messageId?: string;
  timestamp?: bigint;
  type?: string;
  userId?: string;
  appId?: string;
}

type Kind = 'shortstr' | 'table' | 'octet' | 'timestamp';
const PROPERTY_ORDER: [keyof BasicProperties, Kind][] = [
  ['contentType', 'shortstr'],
  ['contentEncoding', 'shortstr'],
  ['headers', 'table'],
  ['deliveryMode', 'octet'],
  ['priority', 'octet'],
  ['correlationId', 'shortstr'],
  ['replyTo', 'shortstr'],
  ['expiration', 'shortstr'],
  ['messageId', 'shortstr'],
  ['timestamp', 'timestamp'],
  ['type', 'shortstr'],
  ['userId', 'shortstr'],
  ['appId', 'shortstr'],
];

/** Property flags and property bytes for a content header. */
export function encodeProperties(p: BasicProperties): { flags: number; bytes: Buffer } {
  let flags = 0;
  const w = new Writer();
  PROPERTY_ORDER.forEach(([key, kind], i) => {
    const value = p[key];
    if (value === undefined) return;
    flags |= 1 << (15 - i);
    if (kind === 'shortstr') w.shortstr(value as string);
    else if (kind === 'table') w.table(value as FieldTable);
    else if (kind === 'octet') w.octet(value as number);
    else w.longlong(value as bigint);
  });
  return { flags, bytes: w.build() };
}

/** Decodes property flags and bytes (the content header payload after class, weight and body size). */
export function decodeProperties(r: Reader): BasicProperties {
  const flags = r.short();
  const p: Record<string, unknown> = {};
  PROPERTY_ORDER.forEach(([key, kind], i) => {
    if ((flags & (1 << (15 - i))) === 0) return;
    if (kind === 'shortstr') p[key] = r.shortstr();
    else if (kind === 'table') p[key] = r.table();
    else if (kind === 'octet') p[key] = r.octet();
    else p[key] = r.longlong();
  });
  return p as BasicProperties;
}
