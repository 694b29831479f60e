// Queue and exchange arguments, in one place: each x-argument is parsed and validated once, with the text
// RabbitMQ gives when it refuses one, compared for equivalence on a redeclare, and refused with 540 when
// warren does not act on it yet (never silently ignored).
import {
  type FieldTable,
  type FieldValue,
  type ProtocolError,
  ReplyCode,
  TypedValue,
} from '../protocol/index.js';
import { amqpError } from './errors.js';
import { MAX_TTL } from './expiration.js';

const INTEGER_TYPES = new Set(['b', 'B', 's', 'u', 'I', 'i', 'l']);

/** An integer field value (of any AMQP integer type), or undefined when it is not an integer. */
export function integerOf(v: FieldValue): bigint | undefined {
  if (typeof v === 'number') return Number.isInteger(v) ? BigInt(v) : undefined;
  if (typeof v === 'bigint') return v;
  if (v instanceof TypedValue && INTEGER_TYPES.has(v.type)) return BigInt(v.value as number | bigint);
  return undefined;
}

export type Overflow = 'drop-head' | 'reject-publish' | 'reject-publish-dlx';

export type QueueType = 'classic' | 'quorum';

export type DeadLetterStrategy = 'at-most-once' | 'at-least-once';

/** RabbitMQ 4.x's delivery limit of a quorum queue declared without x-delivery-limit. */
export const DEFAULT_DELIVERY_LIMIT = 20;

/** The flags a queue is declared with, which some queue types restrict. */
export interface QueueFlags {
  readonly durable: boolean;
  readonly exclusive: boolean;
  readonly autoDelete: boolean;
}

/** What a queue's arguments make it do, read once when it is declared or restored. */
export interface QueueArguments {
  /** Ready messages the queue holds at most (Infinity: no limit). */
  readonly maxLength: number;
  /** Body bytes of ready messages the queue holds at most (Infinity: no limit). */
  readonly maxLengthBytes: number;
  /** What happens to a publish that would take the queue over a limit. */
  readonly overflow: Overflow;
  /** x-message-ttl: how long a message may stay in the queue, in milliseconds (-1: for ever). */
  readonly messageTtl: number;
  /** x-dead-letter-exchange: where rejected, expired and dropped messages are republished (undefined: none). */
  readonly deadLetterExchange: string | undefined;
  /** x-dead-letter-routing-key: the key they are republished with (undefined: their own keys). */
  readonly deadLetterRoutingKey: string | undefined;
  /** x-expires: how long the queue may stay unused before it is deleted, in milliseconds (0: for ever). */
  readonly expires: number;
  /** x-queue-type. */
  readonly queueType: QueueType;
  /** x-delivery-limit of a quorum queue: deliveries a message may have before it is dropped or dead-lettered. */
  readonly deliveryLimit: number;
  /** x-dead-letter-strategy of a quorum queue. */
  readonly deadLetterStrategy: DeadLetterStrategy;
  /** x-max-priority: the highest message priority the queue orders by (0: none, a plain FIFO). */
  readonly maxPriority: number;
  /** x-single-active-consumer: one consumer at a time gets the messages, the next takes over. */
  readonly singleActiveConsumer: boolean;
}

export const DEFAULT_QUEUE_ARGUMENTS: QueueArguments = {
  maxLength: Number.POSITIVE_INFINITY,
  maxLengthBytes: Number.POSITIVE_INFINITY,
  overflow: 'drop-head',
  messageTtl: -1,
  deadLetterExchange: undefined,
  deadLetterRoutingKey: undefined,
  expires: 0,
  queueType: 'classic',
  deliveryLimit: Number.POSITIVE_INFINITY,
  deadLetterStrategy: 'at-most-once',
  maxPriority: 0,
  singleActiveConsumer: false,
};

// Queue arguments RabbitMQ checks for equivalence on redeclare.
const CHECKED_QUEUE_ARGS = [
  'x-dead-letter-exchange',
  'x-dead-letter-routing-key',
  'x-expires',
  'x-max-length',
  'x-max-length-bytes',
  'x-max-priority',
  'x-message-ttl',
  'x-overflow',
  'x-queue-mode',
  'x-queue-type',
  'x-single-active-consumer',
  'x-queue-master-locator',
  'x-queue-version',
];

// Arguments a quorum queue refuses (RabbitMQ: "invalid arg ... of queue type rabbit_quorum_queue").
const QUORUM_REFUSED_ARGS = ['x-max-priority', 'x-queue-mode', 'x-queue-version'];

// Exchange arguments RabbitMQ checks for equivalence on redeclare.
const CHECKED_EXCHANGE_ARGS = ['alternate-exchange'];

/**
 * The arguments of a new queue, parsed and validated, or the error RabbitMQ answers with. `what` names
 * the queue as RabbitMQ's texts do ("queue 'q' in vhost '/'").
 */
export function parseQueueArguments(
  args: FieldTable,
  what: string,
  flags: QueueFlags = { durable: true, exclusive: false, autoDelete: false },
): QueueArguments | ProtocolError {
  const queueType = args['x-queue-type'];
  if (queueType !== undefined && queueType !== 'classic' && queueType !== 'quorum') {
    if (typeof queueType !== 'string' && !Buffer.isBuffer(queueType)) {
      return amqpError(
        ReplyCode.PRECONDITION_FAILED,
        `invalid arg 'x-queue-type' for ${what}: {unacceptable_type,${typeNameOf(queueType)}}`,
      );
    }
    if (queueType === 'stream') {
      return amqpError(
        ReplyCode.NOT_IMPLEMENTED,
        "queue type 'stream' is not supported; only classic and quorum",
      );
    }
    return amqpError(
      ReplyCode.PRECONDITION_FAILED,
      `invalid arg 'x-queue-type' for ${what}: "unsupported queue type '${plainValue(queueType)}'"`,
    );
  }
  if (queueType === 'quorum') {
    // In RabbitMQ's order: auto-delete is named before exclusivity.
    const property = flags.autoDelete
      ? 'auto-delete'
      : flags.exclusive
        ? 'exclusive-owner'
        : !flags.durable
          ? 'non-durable'
          : undefined;
    if (property !== undefined) {
      return amqpError(ReplyCode.PRECONDITION_FAILED, `invalid property '${property}' for ${what}`);
    }
    for (const arg of QUORUM_REFUSED_ARGS) {
      if (args[arg] !== undefined) {
        return amqpError(
          ReplyCode.PRECONDITION_FAILED,
          `invalid arg '${arg}' for ${what} of queue type rabbit_quorum_queue`,
        );
      }
    }
  }
  const dlx = args['x-dead-letter-exchange'];
  if (dlx !== undefined && typeof dlx !== 'string') {
    return amqpError(
      ReplyCode.PRECONDITION_FAILED,
      `invalid type '${typeNameOf(dlx)}' for arg 'x-dead-letter-exchange' in ${what}`,
    );
  }
  const mode = args['x-queue-mode'];
  if (mode !== undefined && mode !== 'default' && mode !== 'lazy') {
    return amqpError(
      ReplyCode.PRECONDITION_FAILED,
      `invalid arg 'x-queue-mode' for ${what}: "unsupported queue mode '${plainValue(mode)}'"`,
    );
  }
  const parsed = readQueueArguments(args);
  if ('reason' in parsed) {
    return amqpError(
      ReplyCode.PRECONDITION_FAILED,
      `invalid arg '${parsed.arg}' for ${what}: ${parsed.reason}`,
    );
  }
  return parsed;
}

/**
 * The arguments of a queue restored from the stored definitions: they were accepted when it was
 * declared, so one that does not parse now (a definitions file from elsewhere) leaves the default.
 */
export function restoredQueueArguments(args: FieldTable): QueueArguments {
  const parsed = readQueueArguments(args);
  return 'reason' in parsed ? DEFAULT_QUEUE_ARGUMENTS : parsed;
}

/** The values, or the reason RabbitMQ refuses one of them (for "invalid arg 'NAME' for queue ...: REASON"). */
function readQueueArguments(args: FieldTable): QueueArguments | { arg: string; reason: string } {
  let maxLength = Number.POSITIVE_INFINITY;
  let maxLengthBytes = Number.POSITIVE_INFINITY;
  let messageTtl = -1;
  let expires = 0;
  for (const arg of ['x-max-length', 'x-max-length-bytes', 'x-message-ttl', 'x-expires']) {
    const v = args[arg];
    if (v === undefined) continue;
    const n = integerOf(v);
    if (n === undefined) return { arg, reason: `"expected integer, got ${typeNameOf(v)}"` };
    if (n < 0n) return { arg, reason: `{value_negative,${n}}` };
    if (arg === 'x-max-length') maxLength = Number(n);
    else if (arg === 'x-max-length-bytes') maxLengthBytes = Number(n);
    else if (n > MAX_TTL) return { arg, reason: `{value_too_large,${n}}` };
    else if (arg === 'x-message-ttl') messageTtl = Number(n);
    else if (n === 0n) return { arg, reason: '{value_zero,0}' };
    else expires = Number(n);
  }
  const dlx = args['x-dead-letter-exchange'];
  const dlrk = args['x-dead-letter-routing-key'];
  if (dlrk !== undefined) {
    if (typeof dlrk !== 'string') {
      return { arg: 'x-dead-letter-routing-key', reason: `{unacceptable_type,${typeNameOf(dlrk)}}` };
    }
    if (dlx === undefined)
      return { arg: 'x-dead-letter-routing-key', reason: 'routing_key_but_no_dlx_defined' };
  }
  const strategy = args['x-dead-letter-strategy'];
  if (strategy !== undefined && strategy !== 'at-most-once' && strategy !== 'at-least-once') {
    return { arg: 'x-dead-letter-strategy', reason: 'invalid_dlx_strategy' };
  }
  const quorum = args['x-queue-type'] === 'quorum';
  let deliveryLimit = quorum ? DEFAULT_DELIVERY_LIMIT : Number.POSITIVE_INFINITY;
  const limit = args['x-delivery-limit'];
  if (quorum && limit !== undefined) {
    // As RabbitMQ 4.x: a negative limit is none; a value that is not an integer leaves the default.
    const n = integerOf(limit);
    if (n !== undefined) deliveryLimit = n < 0n ? Number.POSITIVE_INFINITY : Number(n);
  }
  // Up to 255 levels, as RabbitMQ; 0 is taken and orders nothing.
  let maxPriority = 0;
  const priority = args['x-max-priority'];
  if (priority !== undefined) {
    const n = integerOf(priority);
    if (n === undefined)
      return { arg: 'x-max-priority', reason: `"expected integer, got ${typeNameOf(priority)}"` };
    if (n < 0n) return { arg: 'x-max-priority', reason: `{value_negative,${n}}` };
    if (n > 255n) return { arg: 'x-max-priority', reason: `{max_value_exceeded,${n}}` };
    maxPriority = Number(n);
  }
  const single = args['x-single-active-consumer'];
  if (single !== undefined && typeof single !== 'boolean') {
    return { arg: 'x-single-active-consumer', reason: `{unacceptable_type,${typeNameOf(single)}}` };
  }
  const overflow = args['x-overflow'];
  if (overflow !== undefined) {
    if (typeof overflow !== 'string') {
      return { arg: 'x-overflow', reason: `{unacceptable_type,${typeNameOf(overflow)}}` };
    }
    if (overflow !== 'drop-head' && overflow !== 'reject-publish' && overflow !== 'reject-publish-dlx') {
      return { arg: 'x-overflow', reason: 'invalid_overflow' };
    }
  }
  return {
    maxLength,
    maxLengthBytes,
    overflow: (overflow as Overflow | undefined) ?? 'drop-head',
    messageTtl,
    deadLetterExchange: typeof dlx === 'string' ? dlx : undefined,
    deadLetterRoutingKey: typeof dlrk === 'string' ? dlrk : undefined,
    expires,
    queueType: quorum ? 'quorum' : 'classic',
    deliveryLimit,
    // The at-least-once strategy applies to quorum queues with drop-head (RabbitMQ falls back otherwise).
    deadLetterStrategy: quorum && strategy === 'at-least-once' ? 'at-least-once' : 'at-most-once',
    maxPriority,
    singleActiveConsumer: single === true,
  };
}

/** RabbitMQ's equivalence check of a queue redeclared with `received` against the queue's `current`. */
export function queueArgumentsEquivalent(
  received: FieldTable,
  current: FieldTable,
  what: string,
): ProtocolError | undefined {
  return argumentsEquivalent(CHECKED_QUEUE_ARGS, received, current, what);
}

/** The same for an exchange. */
export function exchangeArgumentsEquivalent(
  received: FieldTable,
  current: FieldTable,
  what: string,
): ProtocolError | undefined {
  return argumentsEquivalent(CHECKED_EXCHANGE_ARGS, received, current, what);
}

function argumentsEquivalent(
  keys: readonly string[],
  received: FieldTable,
  current: FieldTable,
  what: string,
): ProtocolError | undefined {
  for (const key of keys) {
    const r = received[key];
    const c = current[key];
    if (r === undefined && c === undefined) continue;
    if (r !== undefined && c !== undefined && plainValue(r) === plainValue(c)) continue;
    if (r !== undefined && c !== undefined && typeNameOf(r) === typeNameOf(c)) {
      return amqpError(
        ReplyCode.PRECONDITION_FAILED,
        `inequivalent arg '${key}' for ${what}: received '${plainValue(r)}' but current is '${plainValue(c)}'`,
      );
    }
    const receivedText = r === undefined ? 'none' : `the value '${plainValue(r)}' of type '${typeNameOf(r)}'`;
    const currentText = c === undefined ? 'none' : `the value '${plainValue(c)}' of type '${typeNameOf(c)}'`;
    return amqpError(
      ReplyCode.PRECONDITION_FAILED,
      `inequivalent arg '${key}' for ${what}: received ${receivedText} but current is ${currentText}`,
    );
  }
  return undefined;
}

/** A field value as RabbitMQ prints it in its texts. */
export function plainValue(v: FieldValue): string {
  if (v instanceof TypedValue) return typeof v.value === 'object' ? JSON.stringify(v.value) : String(v.value);
  if (Buffer.isBuffer(v)) return v.toString();
  if (v !== null && typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** The AMQP type name RabbitMQ uses for a value in its messages. */
export function typeNameOf(v: FieldValue): string {
  if (v === null) return 'void';
  if (v instanceof TypedValue) {
    const names: Record<string, string> = {
      b: 'byte',
      B: 'unsignedbyte',
      s: 'short',
      u: 'unsignedshort',
      I: 'signedint',
      i: 'unsignedint',
      l: 'long',
      f: 'float',
      d: 'double',
      T: 'timestamp',
      D: 'decimal',
    };
    return names[v.type] ?? v.type;
  }
  switch (typeof v) {
    case 'boolean':
      return 'bool';
    case 'number':
      return Number.isInteger(v) ? (v >= -0x80000000 && v <= 0x7fffffff ? 'signedint' : 'long') : 'double';
    case 'bigint':
      return 'long';
    case 'string':
      return 'longstr';
    default:
      if (Buffer.isBuffer(v)) return 'binary';
      return Array.isArray(v) ? 'array' : 'table';
  }
}
