// Constructors for the AMQP errors the broker raises, with RabbitMQ's reply texts ("CODE - detail").
import { methodName, ProtocolError, ReplyCode, replyCodeName } from '../protocol/index.js';

export function amqpError(replyCode: number, detail: string, classId = 0, methodId = 0): ProtocolError {
  return new ProtocolError(
    replyCode,
    truncateShortstr(`${replyCodeName(replyCode)} - ${detail}`),
    classId,
    methodId,
  );
}

/**
 * Reply texts are shortstrs: at most 255 bytes (a long queue name in a text must not break the frame).
 * Like RabbitMQ, a longer text keeps its first 252 bytes and ends in '...'.
 */
export function truncateShortstr(text: string): string {
  if (Buffer.byteLength(text) <= 255) return text;
  const bytes = Buffer.from(text).subarray(0, 252);
  // Do not cut a UTF-8 sequence in half.
  let end = bytes.length;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return `${bytes.toString('utf8', 0, end)}...`;
}

/** A method the broker does not implement yet: 540, as a connection error, naming the method. */
export function notImplemented(methodId: number, what?: string): ProtocolError {
  const classId = Math.floor(methodId / 65536);
  const id = methodId % 65536;
  const name = methodName(classId, id) ?? `${classId}.${id}`;
  return amqpError(ReplyCode.NOT_IMPLEMENTED, what ?? `${name} is not implemented yet`, classId, id);
}
