// Dead-lettering: what a message becomes when a queue with x-dead-letter-exchange lets it go because it
// was rejected, expired, dropped over a length limit or returned past a quorum queue's delivery limit.
// The copy is republished (by the virtual host, through the router) with the x-death header RabbitMQ
// writes, and cycles that no client takes part in are cut as RabbitMQ cuts them.
import {
  type BasicProperties,
  encodeBasicProperties,
  type FieldTable,
  type FieldValue,
  fieldNumber,
  TypedValue,
} from '../protocol/index.js';
import { Message } from './message.js';
import { Removal, type RemovalReason } from './queue/removal.js';

/** The reasons as RabbitMQ names them in x-death. */
export type DeathReason = 'rejected' | 'expired' | 'maxlen' | 'delivery_limit';

/** The death reason of a removal reason, or undefined for one that never dead-letters (ack, purge...). */
export function deathReasonOf(reason: RemovalReason): DeathReason | undefined {
  switch (reason) {
    case Removal.rejected:
      return 'rejected';
    case Removal.expired:
      return 'expired';
    case Removal.maxlen:
      return 'maxlen';
    case Removal.deliveryLimit:
      return 'delivery_limit';
    default:
      return undefined;
  }
}

/** The string values of a CC or BCC header (RabbitMQ takes an array of longstr; anything else is ignored). */
export function headerKeys(value: FieldValue | undefined): string[] {
  if (!Array.isArray(value)) return [];
  const keys: string[] = [];
  for (const v of value) if (typeof v === 'string') keys.push(v);
  return keys;
}

/** Where a dead-lettered message goes, and the message to publish there. */
export interface DeadLetter {
  readonly message: Message;
  /** The keys to route it with: the dead-letter routing key, or its own keys (CC included). */
  readonly routingKeys: readonly string[];
  /** Its x-death entries, newest first (for the cycle check). */
  readonly deaths: readonly FieldValue[];
}

/** Compares keys as RabbitMQ sorts a table: by their bytes. */
function byBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

const SURROGATE = /[\ud800-\udfff]/;

/**
 * Keys in the order of their UTF-8 bytes. That is the order of their code points, which the default
 * sort (by UTF-16 code units) gives too unless a key has a character beyond the BMP: only then are
 * the bytes compared.
 */
function sortedByBytes(keys: string[]): string[] {
  for (const key of keys) if (SURROGATE.test(key)) return keys.sort(byBytes);
  return keys.sort();
}

/**
 * The copy of `message` that queue `queueName` dead-letters to `exchange` for `reason` at `now` (ms): its
 * x-death entry for this queue and reason added (or its count raised and the entry moved first), the
 * x-first-death-* headers set once and the x-last-death-* ones (RabbitMQ 4.x) every time, the
 * expiration removed (kept in x-death as original-expiration), and its headers sorted as RabbitMQ
 * sorts them. With a dead-letter routing key, the CC header goes too, as RabbitMQ does.
 */
export function deadLettered(
  message: Message,
  queueName: string,
  reason: DeathReason,
  exchange: string,
  routingKey: string | undefined,
  now: number,
): DeadLetter {
  const props = message.props;
  const headers: FieldTable = { ...(props.headers ?? {}) };
  const ownKeys = [message.routingKey, ...headerKeys(headers.CC)];
  const deaths = Array.isArray(headers['x-death']) ? [...(headers['x-death'] as FieldValue[])] : [];
  const at = deaths.findIndex((d) => isDeathOf(d, queueName, reason));
  let entry: FieldTable;
  if (at >= 0) {
    const old = deaths[at] as FieldTable;
    deaths.splice(at, 1);
    entry = { ...old, count: new TypedValue('l', (fieldNumber(old.count) ?? 0) + 1) };
  } else {
    entry = {
      count: new TypedValue('l', 1),
      reason,
      queue: queueName,
      time: new TypedValue('T', Math.floor(now / 1000)),
      exchange: message.exchange,
      'routing-keys': ownKeys,
    };
    if (props.expiration !== undefined) entry['original-expiration'] = props.expiration;
  }
  deaths.unshift(entry);
  headers['x-death'] = deaths;
  if (headers['x-first-death-reason'] === undefined) {
    headers['x-first-death-reason'] = reason;
    headers['x-first-death-queue'] = queueName;
    headers['x-first-death-exchange'] = message.exchange;
  }
  headers['x-last-death-reason'] = reason;
  headers['x-last-death-queue'] = queueName;
  headers['x-last-death-exchange'] = message.exchange;
  if (routingKey !== undefined) delete headers.CC;
  const sorted: FieldTable = {};
  for (const key of sortedByBytes(Object.keys(headers))) sorted[key] = headers[key];
  const next: BasicProperties = { ...props, headers: sorted };
  delete next.expiration;
  const copy = new Message(
    exchange,
    routingKey ?? message.routingKey,
    encodeBasicProperties(next),
    message.body,
  );
  return { message: copy, routingKeys: routingKey === undefined ? ownKeys : [routingKey], deaths };
}

/** An x-death entry as a table; undefined for anything else a client may have put in the array. */
function asTable(d: FieldValue): FieldTable | undefined {
  if (
    d === null ||
    typeof d !== 'object' ||
    Array.isArray(d) ||
    Buffer.isBuffer(d) ||
    d instanceof TypedValue
  )
    return undefined;
  return d as FieldTable;
}

function isDeathOf(d: FieldValue, queueName: string, reason: string): boolean {
  const t = asTable(d);
  return t !== undefined && t.queue === queueName && t.reason === reason;
}

/**
 * Whether republishing to `queueName` would go round a cycle with no client in it: the message has died
 * in that queue before and every death since (that one included) was automatic, not a rejection. As
 * RabbitMQ, a rejected message is never cut, and `deaths` is the message's x-death, newest first, with
 * the death being recorded included.
 */
export function isAutomaticCycle(queueName: string, deaths: readonly FieldValue[]): boolean {
  for (const d of deaths) {
    const t = asTable(d);
    if (t === undefined) return false;
    if (t.reason === 'rejected') return false;
    if (t.queue === queueName) return true;
  }
  return false;
}
