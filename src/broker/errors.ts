// Constructors for the AMQP errors the broker raises, with RabbitMQ's reply texts ("CODE - detail").
import { methodName, ProtocolError, ReplyCode, replyCodeName } from '../protocol/index.js';

export function amqpError(replyCode: number, detail: string, classId = 0, methodId = 0): ProtocolError {
  return new ProtocolError(replyCode, `${replyCodeName(replyCode)} - ${detail}`, classId, methodId);
}

/** A method the broker does not implement yet: 540, as a connection error, naming the method. */
export function notImplemented(methodId: number, what?: string): ProtocolError {
  const classId = Math.floor(methodId / 65536);
  const id = methodId % 65536;
  const name = methodName(classId, id) ?? `${classId}.${id}`;
  return amqpError(ReplyCode.NOT_IMPLEMENTED, what ?? `${name} is not implemented yet`, classId, id);
}
