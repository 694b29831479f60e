import { HARD_ERROR_CODES } from './spec.js';

/**
 * An AMQP error as a value: the reply code and text of the channel.close or connection.close it becomes,
 * and the class and method that caused it (0, 0 when no method did).
 */
export class ProtocolError {
  constructor(
    readonly replyCode: number,
    readonly replyText: string,
    readonly classId = 0,
    readonly methodId = 0,
  ) {}

  /** Hard errors (5xx, 320, 402) close the connection, the others only the channel. */
  get isConnectionError(): boolean {
    return HARD_ERROR_CODES.has(this.replyCode);
  }
}
