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

/** Reply texts are shortstrs: at most 255 bytes (a long queue name in a text must not break the frame). */
export function truncateShortstr(text: string): string {
  if (Buffer.byteLength(text) <= 255) return text;
  let t = text.slice(0, 255);
  while (Buffer.byteLength(t) > 255) t = t.slice(0, -1);
  return t;
}

/** A method the broker does not implement yet: 540, as a connection error, naming the method. */
export function notImplemented(methodId: number, what?: string): ProtocolError {
  const classId = Math.floor(methodId / 65536);
  const id = methodId % 65536;
  const name = methodName(classId, id) ?? `${classId}.${id}`;
  return amqpError(ReplyCode.NOT_IMPLEMENTED, what ?? `${name} is not implemented yet`, classId, id);
}
