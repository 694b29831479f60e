// amqplib's own codec (lib/defs.js, lib/frame.js), which its exports map does not expose: resolved by path
// from the package root so the tests compare our codec with a second, independent implementation.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export interface AmqplibArg {
  name: string;
  type: string;
  default?: unknown;
}

export interface AmqplibDefs {
  encodeMethod(id: number, channel: number, fields: Record<string, unknown>): Buffer;
  encodeProperties(classId: number, channel: number, size: number, fields: Record<string, unknown>): Buffer;
  decode(id: number, buf: Buffer): Record<string, unknown>;
  info(id: number): { id: number; classId: number; methodId: number; name: string; args: AmqplibArg[] };
}

export interface AmqplibFrame {
  type: number;
  channel: number;
  size: number;
  payload: Buffer;
  rest: Buffer;
}

export interface AmqplibFrames {
  parseFrame(bin: Buffer, max: number): AmqplibFrame | false;
  decodeFrame(frame: AmqplibFrame): {
    id?: number;
    channel: number;
    size?: number;
    fields?: Record<string, unknown>;
    content?: Buffer;
  };
  makeBodyFrame(channel: number, payload: Buffer): Buffer;
  HEARTBEAT_BUF: Buffer;
  HEARTBEAT: { channel: number };
}

const require = createRequire(import.meta.url);
const root = dirname(require.resolve('amqplib'));

export const defs = require(join(root, 'lib', 'defs.js')) as AmqplibDefs;
export const frames = require(join(root, 'lib', 'frame.js')) as AmqplibFrames;

/** Decodes one complete frame with amqplib, checking that it is the whole buffer. */
export function amqplibDecode(buf: Buffer): ReturnType<AmqplibFrames['decodeFrame']> {
  const frame = frames.parseFrame(buf, 0);
  if (!frame) throw new Error('amqplib: incomplete frame');
  if (frame.rest.length !== 0) throw new Error(`amqplib: ${frame.rest.length} bytes after the frame`);
  return frames.decodeFrame(frame);
}
