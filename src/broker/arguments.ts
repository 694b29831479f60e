// The queue arguments warren acts on, read and checked as RabbitMQ does, with the reason RabbitMQ
// gives in its 406 when it refuses one: x-max-length, x-max-length-bytes, x-overflow, x-message-ttl.
import { type FieldTable, type FieldValue, TypedValue } from '../protocol/index.js';
import { MAX_TTL } from './expiration.js';

const INTEGER_TYPES = new Set(['b', 'B', 's', 'u', 'I', 'i', 'l']);

/** An integer field value (of any AMQP integer type), or undefined when it is not an integer. */
function integerOf(v: FieldValue): bigint | undefined {
  if (typeof v === 'number') return Number.isInteger(v) ? BigInt(v) : undefined;
  if (typeof v === 'bigint') return v;
  if (v instanceof TypedValue && INTEGER_TYPES.has(v.type)) return BigInt(v.value as number | bigint);
  return undefined;
}

export type Overflow = 'drop-head' | 'reject-publish' | 'reject-publish-dlx';

export interface QueueLimits {
  /** Ready messages the queue holds at most (Infinity: no limit). */
  readonly maxLength: number;
  /** Body bytes of ready messages the queue holds at most (Infinity: no limit). */
  readonly maxLengthBytes: number;
  /** Over a limit, refuse the publish (true) rather than drop the oldest ready message. */
  readonly rejectPublish: boolean;
  /** x-message-ttl: how long a message may stay in the queue, in milliseconds (-1: for ever). */
  readonly messageTtl: number;
}

export const NO_LIMITS: QueueLimits = {
  maxLength: Number.POSITIVE_INFINITY,
  maxLengthBytes: Number.POSITIVE_INFINITY,
  rejectPublish: false,
  messageTtl: -1,
};

/**
 * The limits on length and age the arguments set, or the reason RabbitMQ refuses one of them (for
 * "invalid arg 'NAME' for queue ...: REASON").
 */
export function queueLimits(args: FieldTable): QueueLimits | { arg: string; reason: string } {
  let maxLength = Number.POSITIVE_INFINITY;
  let maxLengthBytes = Number.POSITIVE_INFINITY;
  let messageTtl = -1;
  for (const arg of ['x-max-length', 'x-max-length-bytes', 'x-message-ttl']) {
    const v = args[arg];
    if (v === undefined) continue;
    const n = integerOf(v);
    if (n === undefined) return { arg, reason: `"expected integer, got ${typeNameOf(v)}"` };
    if (n < 0n) return { arg, reason: `{value_negative,${n}}` };
    if (arg === 'x-max-length') maxLength = Number(n);
    else if (arg === 'x-max-length-bytes') maxLengthBytes = Number(n);
    else if (n > MAX_TTL) return { arg, reason: `{value_too_large,${n}}` };
    else messageTtl = Number(n);
  }
  const overflow = args['x-overflow'];
  let rejectPublish = false;
  if (overflow !== undefined) {
    if (typeof overflow !== 'string') {
      return { arg: 'x-overflow', reason: `{unacceptable_type,${typeNameOf(overflow)}}` };
    }
    if (overflow !== 'drop-head' && overflow !== 'reject-publish' && overflow !== 'reject-publish-dlx') {
      return { arg: 'x-overflow', reason: 'invalid_overflow' };
    }
    // Without dead-lettering, reject-publish-dlx is reject-publish.
    rejectPublish = overflow !== 'drop-head';
  }
  return { maxLength, maxLengthBytes, rejectPublish, messageTtl };
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
