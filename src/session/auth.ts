// SASL mechanisms offered in connection.start: PLAIN (RFC 4616) and RabbitMQ's AMQPLAIN.
import { decodeTable, ProtocolError } from '../protocol/index.js';

export const MECHANISMS = ['PLAIN', 'AMQPLAIN'] as const;

export interface Credentials {
  username: string;
  password: string;
}

/** Extracts the credentials from a start-ok response, or undefined when it cannot be read. */
export function parseCredentials(mechanism: string, response: Buffer): Credentials | undefined {
  if (mechanism === 'PLAIN') {
    // authzid NUL authcid NUL passwd
    const first = response.indexOf(0);
    const second = first < 0 ? -1 : response.indexOf(0, first + 1);
    if (second < 0) return undefined;
    return {
      username: response.toString('utf8', first + 1, second),
      password: response.toString('utf8', second + 1),
    };
  }
  if (mechanism === 'AMQPLAIN') {
    // A field table's entries without its 4-byte size prefix.
    const framed = Buffer.allocUnsafe(4 + response.length);
    framed.writeUInt32BE(response.length, 0);
    response.copy(framed, 4);
    const table = decodeTable(framed, 0, framed.length);
    if (table instanceof ProtocolError) return undefined;
    const { LOGIN: login, PASSWORD: password } = table;
    const text = (v: unknown) =>
      typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : undefined;
    const username = text(login);
    const pass = text(password);
    if (username === undefined || pass === undefined) return undefined;
    return { username, password: pass };
  }
  return undefined;
}
