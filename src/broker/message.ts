// The one immutable message object, shared by every queue a publish reaches. The content header's
// property bytes are kept raw and written back unchanged on delivery; they are decoded only when the
// broker needs a property (delivery-mode, priority, expiration, headers), and then once.
import {
  type BasicProperties,
  decodeBasicProperties,
  deliveryModeOf,
  encodeBasicProperties,
  type FieldTable,
  ProtocolError,
  TypedValue,
} from '../protocol/index.js';

import type { StoredMessage } from '../store/store.js';

let nextSeq = 1;

/** After a restart: message ids continue after the highest one the store holds. */
export function continueMessageIdsAfter(id: number): void {
  if (id >= nextSeq) nextSeq = id + 1;
}

export class Message {
  /** Publish order across the broker: queues keep their messages in this order, requeues included. */
  readonly seq: number;
  /** Written to the store (persistent, and routed to at least one durable queue). */
  stored = false;
  /** The expiration property's TTL in milliseconds, or -1 without one. */
  ttl = -1;
  /**
   * With a TTL: when it expires (Date.now() milliseconds), set as it is routed; it is dropped once it is
   * at the head of a queue after that. 0 without a TTL.
   */
  expiresAt = 0;
  /** Times a quorum queue has given it back after a delivery (its x-delivery-count header). */
  deliveryCount = 0;
  private decoded: BasicProperties | undefined;

  /** The body's length in bytes. */
  readonly bodySize: number;
  private content: Buffer | readonly Buffer[];

  constructor(
    readonly exchange: string,
    readonly routingKey: string,
    /** Raw property flags and values, as in the content header after body-size. */
    readonly properties: Buffer,
    /** The body, or the pieces of a large body as they arrived (never copied on the way through). */
    body: Buffer | readonly Buffer[],
    /** The id of a message recovered from the store; new messages take the next one. */
    seq?: number,
  ) {
    this.seq = seq ?? nextSeq++;
    this.content = body;
    if (Array.isArray(body)) {
      let size = 0;
      for (const part of body) size += part.length;
      this.bodySize = size;
    } else this.bodySize = (body as Buffer).length;
  }

  /**
   * The message as it waits in a queue with a TTL of its own (x-message-ttl) when it also went to other
   * queues: the same content and id, its own expiry. A body in pieces is joined first, once for all.
   */
  expiringAt(expiresAt: number): Message {
    this.compact();
    const m = new Message(this.exchange, this.routingKey, this.properties, this.content, this.seq);
    m.stored = this.stored;
    m.ttl = this.ttl;
    m.expiresAt = expiresAt;
    m.decoded = this.decoded;
    return m;
  }

  /** A message read back from the store, with its id. */
  static fromStored(stored: StoredMessage, id: number): Message {
    return new Message(stored.exchange, stored.routingKey, stored.properties, stored.body, id);
  }

  /**
   * The same message (id, body, TTL, store state) with other properties, encoded anew: a copy with its
   * BCC header removed, or given back by a quorum queue with its x-delivery-count.
   */
  withProperties(props: BasicProperties): Message {
    this.compact();
    const m = new Message(
      this.exchange,
      this.routingKey,
      encodeBasicProperties(props),
      this.content,
      this.seq,
    );
    m.stored = this.stored;
    m.ttl = this.ttl;
    m.expiresAt = this.expiresAt;
    m.deliveryCount = this.deliveryCount;
    return m;
  }

  /** The message as a quorum queue gives it back after its count-th delivery. */
  withDeliveryCount(count: number): Message {
    const props = this.props;
    const m = this.withProperties({
      ...props,
      headers: { ...(props.headers ?? {}), 'x-delivery-count': new TypedValue('l', count) },
    });
    m.deliveryCount = count;
    return m;
  }

  /** The body as one Buffer: a large body that arrived in pieces is joined the first time it is asked for. */
  get body(): Buffer {
    this.compact();
    return this.content as Buffer;
  }

  /** Whether the body is still the pieces it arrived in: views of socket reads, which it keeps alive. */
  get inPieces(): boolean {
    return Array.isArray(this.content);
  }

  /**
   * Joins a body kept in pieces into one buffer of its own. A message that is going to wait is compacted,
   * so that it holds its own bytes rather than the larger read buffers its pieces are views of.
   */
  compact(): void {
    const c = this.content;
    if (Array.isArray(c)) this.content = Buffer.concat(c as Buffer[], this.bodySize);
  }

  /** The body as kept: one Buffer, or the pieces of a large body, for writing out without joining them. */
  get bodyParts(): Buffer | readonly Buffer[] {
    return this.content;
  }

  get props(): BasicProperties {
    if (this.decoded === undefined) {
      const p = decodeBasicProperties(this.properties);
      // The header was validated when it arrived; a failure here would be a broker bug, so stay usable.
      this.decoded = p instanceof ProtocolError ? {} : p;
    }
    return this.decoded;
  }

  get headers(): FieldTable | undefined {
    return this.props.headers;
  }

  /** delivery-mode 2, read from the raw properties without decoding them all. */
  get persistent(): boolean {
    if (this.decoded !== undefined) return this.decoded.deliveryMode === 2;
    return deliveryModeOf(this.properties) === 2;
  }
}
