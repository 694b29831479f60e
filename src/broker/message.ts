// The one immutable message object, shared by every queue a publish reaches. The content header's
// property bytes are kept raw and written back unchanged on delivery; they are decoded only when the
// broker needs a property (delivery-mode, priority, expiration, headers), and then once.
import {
  type BasicProperties,
  decodeBasicProperties,
  type FieldTable,
  ProtocolError,
} from '../protocol/index.js';

let nextSeq = 1;

export class Message {
  /** Publish order across the broker: queues keep their messages in this order, requeues included. */
  readonly seq: number;
  private decoded: BasicProperties | undefined;

  constructor(
    readonly exchange: string,
    readonly routingKey: string,
    /** Raw property flags and values, as in the content header after body-size. */
    readonly properties: Buffer,
    readonly body: Buffer,
  ) {
    this.seq = nextSeq++;
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

  get persistent(): boolean {
    return this.props.deliveryMode === 2;
  }
}

/** A message back in a queue after a delivery: it keeps its place by seq and is marked redelivered. */
export class RequeuedMessage {
  constructor(readonly message: Message) {}
}
