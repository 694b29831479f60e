// A FrameHandler that records every call, for tests that check what the parser reports and in what order.
import type { FrameHandler, Method, ProtocolError } from '../../../src/protocol/index.js';

export type FrameEvent =
  | { kind: 'method'; channel: number; method: Method }
  | { kind: 'header'; channel: number; classId: number; bodySize: number; properties: Buffer }
  | { kind: 'body'; channel: number; payload: Buffer }
  | { kind: 'heartbeat'; channel: number }
  | { kind: 'error'; error: ProtocolError };

export interface Recorder extends FrameHandler {
  events: FrameEvent[];
  /** Calls made after onFrameError; the parser must make none. */
  callsAfterError: number;
  readonly error: ProtocolError | undefined;
}

/** copy: keep copies of the header and body views (they are only valid during the call). */
export function recorder(copy = true): Recorder {
  const events: FrameEvent[] = [];
  let failed = false;
  const r: Recorder = {
    events,
    callsAfterError: 0,
    get error() {
      const e = events.find((x) => x.kind === 'error');
      return e?.kind === 'error' ? e.error : undefined;
    },
    onMethod(channel, method) {
      if (failed) r.callsAfterError++;
      events.push({ kind: 'method', channel, method });
    },
    onHeader(channel, classId, bodySize, properties) {
      if (failed) r.callsAfterError++;
      events.push({
        kind: 'header',
        channel,
        classId,
        bodySize,
        properties: copy ? Buffer.from(properties) : properties,
      });
    },
    onBody(channel, payload) {
      if (failed) r.callsAfterError++;
      events.push({ kind: 'body', channel, payload: copy ? Buffer.from(payload) : payload });
    },
    onHeartbeat(channel) {
      if (failed) r.callsAfterError++;
      events.push({ kind: 'heartbeat', channel });
    },
    onFrameError(error) {
      if (failed) r.callsAfterError++;
      failed = true;
      events.push({ kind: 'error', error });
    },
  };
  return r;
}
