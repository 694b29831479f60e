// One channel of a connection (spec 2.2.5): open until channel.close from either side. Publishing,
// consuming, acks, confirms and transactions live here as the broker core grows; until then their
// methods answer 540 NOT_IMPLEMENTED.
import {
  type Method,
  MethodId,
  type ProtocolError,
  ReplyCode,
  writeChannelClose,
  writeChannelCloseOk,
  writeChannelFlowOk,
} from '../protocol/index.js';
import type { Connection } from './connection.js';
import { amqpError, notImplemented } from './errors.js';

type ChannelState = 'open' | 'closing' | 'closed';

export class Channel {
  private state: ChannelState = 'open';

  constructor(
    private readonly connection: Connection,
    readonly number: number,
  ) {}

  /** Handles a method for this channel; an error comes back as a value for the connection to act on. */
  onMethod(method: Method): ProtocolError | undefined {
    if (this.state === 'closing') {
      // After sending channel.close only close and close-ok matter (spec 2.2.5).
      if (method.id === MethodId.ChannelCloseOk) this.finishClose();
      else if (method.id === MethodId.ChannelClose) {
        writeChannelCloseOk(this.connection.writer, this.number);
        this.connection.scheduleFlush();
      }
      return undefined;
    }
    switch (method.id) {
      case MethodId.ChannelClose:
        writeChannelCloseOk(this.connection.writer, this.number);
        this.connection.scheduleFlush();
        this.finishClose();
        return undefined;
      case MethodId.ChannelCloseOk:
        // close-ok without a close from us: RabbitMQ ignores it too.
        return undefined;
      case MethodId.ChannelFlow:
        // Like RabbitMQ, the broker does not stop deliveries on a client's request (flow active=false).
        if (!method.active) return notImplemented(method.id, 'active=false');
        writeChannelFlowOk(this.connection.writer, this.number, true);
        this.connection.scheduleFlush();
        return undefined;
      case MethodId.ChannelFlowOk:
        return undefined;
      default:
        return notImplemented(method.id);
    }
  }

  onHeader(_classId: number, _bodySize: number, _properties: Buffer): ProtocolError | undefined {
    if (this.state !== 'open') return undefined;
    return amqpError(ReplyCode.UNEXPECTED_FRAME, 'expected method frame, got non method frame instead');
  }

  onBody(_payload: Buffer): ProtocolError | undefined {
    if (this.state !== 'open') return undefined;
    return amqpError(ReplyCode.UNEXPECTED_FRAME, 'expected method frame, got non method frame instead');
  }

  /** A channel exception (spec 1.4.2.1 soft error): channel.close, then wait for close-ok. */
  closeWithError(err: ProtocolError): void {
    if (this.state !== 'open') return;
    this.connection.log.info(
      { channel: this.number, replyCode: err.replyCode, replyText: err.replyText },
      'closing channel on error',
    );
    this.state = 'closing';
    writeChannelClose(
      this.connection.writer,
      this.number,
      err.replyCode,
      err.replyText,
      err.classId,
      err.methodId,
    );
    this.connection.scheduleFlush();
    this.release();
  }

  private finishClose(): void {
    this.release();
    this.state = 'closed';
    this.connection.channelClosed(this);
  }

  /** Gives back what the channel holds (consumers, unacked deliveries) when it or its connection closes. */
  release(): void {}
}
