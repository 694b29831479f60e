import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  FrameParser,
  FrameWriter,
  MethodId,
  ProtocolError,
  writeBasicDeliver,
  writeBasicProperties,
  writeBasicPublish,
  writeChannelOpen,
  writeConnectionStartOk,
  writeQueueDeclare,
} from '../../src/protocol/index.js';
import { type FrameEvent, recorder } from './support/recorder.js';

/** One frame from its parts, for frames the writer would never produce. */
function frame(type: number, channel: number, payload: Buffer | number[], end = 0xce, size?: number): Buffer {
  const p = Buffer.from(payload);
  const b = Buffer.alloc(8 + p.length);
  b[0] = type;
  b.writeUInt16BE(channel, 1);
  b.writeUInt32BE(size ?? p.length, 3);
  p.copy(b, 7);
  b[7 + p.length] = end;
  return b;
}

/** A copy in a buffer of its own (not a slice of Node's shared pool), so buffer identity is meaningful. */
const own = (b: Buffer): Buffer => {
  const c = Buffer.alloc(b.length);
  b.copy(c);
  return c;
};

/** A stream of varied frames: methods with tables and longstrs, content with several body frames, heartbeats. */
function sampleStream(): Buffer {
  const w = new FrameWriter(1024);
  writeConnectionStartOk(
    w,
    0,
    { product: 'test', capabilities: { publisher_confirms: true } },
    'PLAIN',
    '\0u\0p',
    'en_US',
  );
  w.writeHeartbeat();
  writeChannelOpen(w, 1);
  writeQueueDeclare(w, 1, 'q', false, true, false, false, false, { 'x-max-length': 10 });
  writeBasicPublish(w, 1, 'amq.direct', 'rk', true, false);
  w.beginContentHeader(1, 60, 2500);
  writeBasicProperties(w, { contentType: 'text/plain', deliveryMode: 2, headers: { a: 1 } });
  w.endFrame();
  w.writeBody(1, Buffer.alloc(2500, 7));
  writeBasicDeliver(w, 2, 'ctag', 2 ** 40, true, '', 'q');
  w.writeContentHeader(2, 60, 0, Buffer.from([0, 0]));
  w.writeHeartbeat();
  return Buffer.concat(w.take());
}

/** Events as one string (buffers in hex): comparing thousands of event lists stays fast. */
function summary(events: FrameEvent[]): string {
  return JSON.stringify(events, (_key, value) =>
    value && value.type === 'Buffer' && Array.isArray(value.data)
      ? Buffer.from(value.data).toString('hex')
      : value,
  );
}

/**
 * Events with consecutive body payloads on one channel joined: a body frame that spans reads is handed
 * out in pieces, so only the bytes of the bodies, not how they are cut, are comparable across splits.
 */
function joinBodies(events: FrameEvent[]): FrameEvent[] {
  const out: FrameEvent[] = [];
  for (const e of events) {
    const last = out[out.length - 1];
    if (e.kind === 'body' && last?.kind === 'body' && last.channel === e.channel) {
      out[out.length - 1] = { ...last, payload: Buffer.concat([last.payload, e.payload]) };
    } else out.push(e);
  }
  return out;
}

/** The offset just after the first n frames of a stream of whole frames. */
function afterFrames(b: Buffer, n: number): number {
  let o = 0;
  for (let i = 0; i < n; i++) o += 8 + b.readUInt32BE(o + 3);
  return o;
}

function parse(chunks: Buffer[], frameMax = 4096) {
  const r = recorder();
  const p = new FrameParser(r, frameMax);
  for (const c of chunks) p.push(c);
  return { r, p };
}

function only(events: FrameEvent[]): ProtocolError {
  expect(events).toHaveLength(1);
  const e = events[0];
  if (e.kind !== 'error') throw new Error(`expected an error, got ${e.kind}`);
  return e.error;
}

describe('FrameParser', () => {
  const stream = sampleStream();
  const expected = parse([stream]).r.events;
  const expectedSummary = summary(joinBodies(expected));

  afterEach(() => vi.restoreAllMocks());

  it('reports every frame of a stream in order', () => {
    expect(expected.map((e) => e.kind)).toEqual([
      'method',
      'heartbeat',
      'method',
      'method',
      'method',
      'header',
      'body',
      'body',
      'body',
      'method',
      'header',
      'heartbeat',
    ]);
    const [startOk, , open, declare, publish, header, body1, body2, body3, deliver, header2] = expected;
    expect(startOk).toMatchObject({
      channel: 0,
      method: { id: MethodId.ConnectionStartOk, mechanism: 'PLAIN' },
    });
    expect(open).toMatchObject({ channel: 1, method: { id: MethodId.ChannelOpen } });
    expect(declare).toMatchObject({
      method: { queue: 'q', durable: true, arguments: { 'x-max-length': 10 } },
    });
    expect(publish).toMatchObject({ method: { exchange: 'amq.direct', routingKey: 'rk', mandatory: true } });
    expect(header).toMatchObject({ channel: 1, classId: 60, bodySize: 2500 });
    const bodies = [body1, body2, body3].map((e) => (e.kind === 'body' ? e.payload : Buffer.alloc(0)));
    expect(bodies.map((b) => b.length)).toEqual([1016, 1016, 468]);
    expect(Buffer.concat(bodies)).toEqual(Buffer.alloc(2500, 7));
    expect(deliver).toMatchObject({ channel: 2, method: { deliveryTag: 2 ** 40, redelivered: true } });
    expect(header2).toMatchObject({ channel: 2, bodySize: 0, properties: Buffer.from([0, 0]) });
  });

  it('gives the same frames when the stream is split in two at every byte position', () => {
    for (let i = 0; i <= stream.length; i++) {
      const { r } = parse([stream.subarray(0, i), stream.subarray(i)]);
      expect(summary(joinBodies(r.events)), `split at ${i}`).toBe(expectedSummary);
    }
  });

  it('gives the same frames when the stream arrives a byte at a time, or in chunks of any small size', () => {
    for (const size of [1, 2, 3, 5, 7, 8, 13, 100, 1023, 1024, 1025]) {
      const chunks: Buffer[] = [];
      for (let o = 0; o < stream.length; o += size) chunks.push(stream.subarray(o, o + size));
      expect(summary(joinBodies(parse(chunks).r.events)), `chunks of ${size}`).toBe(expectedSummary);
    }
  });

  it('accepts empty reads anywhere', () => {
    const { r } = parse([
      Buffer.alloc(0),
      stream.subarray(0, 3),
      Buffer.alloc(0),
      stream.subarray(3),
      Buffer.alloc(0),
    ]);
    expect(r.events).toStrictEqual(expected);
  });

  it('parses many frames in one read', () => {
    const w = new FrameWriter(131072);
    for (let i = 0; i < 5000; i++) {
      writeBasicPublish(w, 1, 'x', `key-${i}`, false, false);
      w.writeContentHeader(1, 60, 3, Buffer.from([0, 0]));
      w.writeBody(1, Buffer.from('abc'));
    }
    const { r } = parse([Buffer.concat(w.take())], 131072);
    expect(r.events).toHaveLength(15_000);
    expect(r.events[14_997]).toMatchObject({ kind: 'method', method: { routingKey: 'key-4999' } });
    expect(r.events[14_999]).toMatchObject({ kind: 'body', payload: Buffer.from('abc') });
  });

  it('hands out views into the read, and copies only a method or header frame that spans reads', () => {
    const methods = new FrameWriter(0);
    writeChannelOpen(methods, 1);
    writeBasicPublish(methods, 1, 'exchange', 'key', false, false);
    writeChannelOpen(methods, 3);
    const [a, b, c] = (() => {
      const all = Buffer.concat(methods.take());
      const one = afterFrames(all, 1);
      const two = afterFrames(all, 2);
      return [all.subarray(0, one), all.subarray(one, two), all.subarray(two)];
    })();
    const first = own(Buffer.concat([a, b.subarray(0, 10)]));
    const second = own(Buffer.concat([b.subarray(10), c]));
    const r = recorder(false);
    const p = new FrameParser(r, 0);
    const copy = vi.spyOn(Buffer, 'concat');
    p.push(first);
    p.push(second);
    expect(r.events.map((e) => (e.kind === 'method' ? e.channel : -1))).toEqual([1, 1, 3]);
    expect(r.events[1]).toMatchObject({ method: { exchange: 'exchange', routingKey: 'key' } });
    expect(copy).toHaveBeenCalledTimes(1);
  });

  it('hands out a body frame that spans reads in pieces, each a view into its read, without copying', () => {
    const a = frame(3, 1, Buffer.alloc(100, 1));
    const b = frame(3, 1, Buffer.alloc(50, 2));
    const c = frame(3, 1, Buffer.alloc(20, 3));
    const first = own(Buffer.concat([a, b.subarray(0, 30)]));
    const second = own(Buffer.concat([b.subarray(30), c]));
    const r = recorder(false);
    const p = new FrameParser(r, 0);
    const copy = vi.spyOn(Buffer, 'concat');
    p.push(first);
    p.push(second);
    expect(copy).not.toHaveBeenCalled();
    const payloads = r.events.map((e) => (e.kind === 'body' ? e.payload : Buffer.alloc(0)));
    expect(payloads.map((x) => [x[0], x.length])).toEqual([
      [1, 100],
      [2, 23],
      [2, 27],
      [3, 20],
    ]);
    expect(payloads.map((x) => x.buffer)).toEqual([first.buffer, first.buffer, second.buffer, second.buffer]);
  });

  it('hands out a large body that arrives in many reads as the reads come, and checks its frame end', () => {
    const body = Buffer.alloc(1 << 20);
    for (let i = 0; i < body.length; i++) body[i] = i * 7;
    const bytes = frame(3, 5, body);
    const concat = vi.spyOn(Buffer, 'concat');
    const r = recorder();
    const p = new FrameParser(r, 2 << 20);
    for (let o = 0; o < bytes.length; o += 1000) p.push(bytes.subarray(o, o + 1000));
    expect(concat).not.toHaveBeenCalled();
    expect(r.events.every((e) => e.kind === 'body' && e.channel === 5)).toBe(true);
    const joined = joinBodies(r.events);
    expect(joined).toHaveLength(1);
    // Buffer.equals: a deep comparison of a megabyte, key by key, takes seconds.
    expect(joined[0].kind === 'body' && joined[0].payload.equals(body)).toBe(true);

    const bad = frame(3, 5, Buffer.alloc(5000, 1), 0xcd);
    const r2 = recorder();
    const p2 = new FrameParser(r2, 0);
    p2.push(bad.subarray(0, 3000));
    p2.push(bad.subarray(3000, 5007));
    expect(r2.events.map((e) => e.kind)).toEqual(['body', 'body']);
    p2.push(bad.subarray(5007));
    expect(r2.error?.replyText).toBe('FRAME_ERROR - type 3, frame end octet 205 is not 206');
    expect(p2.isStopped).toBe(true);
  });

  it('reads a body size beyond 2^32', () => {
    const w = new FrameWriter(0);
    w.writeContentHeader(1, 60, 2 ** 40 + 3, Buffer.from([0, 0]));
    expect(parse(w.take()).r.events).toMatchObject([{ kind: 'header', bodySize: 2 ** 40 + 3 }]);
  });

  it('reports a bad frame-end as 501 and ignores everything after it', () => {
    const bad = frame(1, 1, [0, 20, 0, 10, 0, 0, 0, 0], 0xcd);
    const cut = afterFrames(stream, 4);
    const { r, p } = parse([stream.subarray(0, cut), bad, stream]);
    const before = parse([stream.subarray(0, cut)]).r.events;
    expect(before).toHaveLength(4);
    expect(r.events.slice(0, -1)).toStrictEqual(before);
    const error = r.error;
    expect(error?.replyCode).toBe(501);
    expect(error?.replyText).toMatch(/^FRAME_ERROR - .*frame end/);
    expect(p.isStopped).toBe(true);
    p.push(stream);
    expect(r.events).toHaveLength(before.length + 1);
    expect(r.callsAfterError).toBe(0);
  });

  it('reports an unknown frame type as 501 from its header, before the payload', () => {
    const bad = frame(4, 0, Buffer.alloc(100));
    const r = recorder();
    const p = new FrameParser(r, 4096);
    p.push(bad.subarray(0, 7));
    const error = only(r.events);
    expect(error.replyCode).toBe(501);
    expect(error.replyText).toBe('FRAME_ERROR - unknown frame type 4');
    p.push(bad.subarray(7));
    expect(r.events).toHaveLength(1);
  });

  it.each([0, 65, 0xff])('reports frame type %i as unknown', (type) => {
    expect(only(parse([frame(type, 0, [])]).r.events).replyCode).toBe(501);
  });

  it('reports a frame larger than frame_max as 501 from its header, before the payload', () => {
    for (const split of [7, 1, 3, 6]) {
      const bad = frame(3, 1, Buffer.alloc(4089));
      const r = recorder();
      const p = new FrameParser(r, 4096);
      p.push(bad.subarray(0, split));
      if (split < 7) {
        expect(r.events).toHaveLength(0);
        p.push(bad.subarray(split, 7));
      }
      const error = only(r.events);
      expect(error.replyCode).toBe(501);
      expect(error.replyText).toBe('FRAME_ERROR - type 3, frame size 4097 exceeds frame_max 4096');
    }
  });

  it('reports an announced 4 GiB frame without waiting for it', () => {
    const r = recorder();
    new FrameParser(r, 131072).push(Buffer.from([3, 0, 1, 0xff, 0xff, 0xff, 0xff]));
    expect(only(r.events).replyCode).toBe(501);
  });

  it('accepts a frame of exactly frame_max, and any size when frame_max is 0', () => {
    const exact = frame(3, 1, Buffer.alloc(4088));
    expect(parse([exact]).r.events).toMatchObject([{ kind: 'body' }]);
    expect(parse([frame(3, 1, Buffer.alloc(100_000))], 0).r.events).toMatchObject([{ kind: 'body' }]);
  });

  it('applies a frame_max changed between reads', () => {
    const r = recorder();
    const p = new FrameParser(r, 0);
    p.push(frame(3, 1, Buffer.alloc(5000)));
    p.frameMax = 4096;
    p.push(frame(3, 1, Buffer.alloc(5000)));
    expect(r.events.map((e) => e.kind)).toEqual(['body', 'error']);
  });

  it('reports a method frame too short for class and method ids', () => {
    for (const payload of [[], [0], [0, 10, 0]]) {
      const error = only(parse([frame(1, 0, payload)]).r.events);
      expect(error.replyCode).toBeGreaterThanOrEqual(500);
      expect(error.replyText).toMatch(/^[A-Z_]+ - .+/);
    }
  });

  it('reports truncated method arguments as a ProtocolError naming the method', () => {
    const w = new FrameWriter(0);
    writeBasicPublish(w, 1, 'exchange', 'routing-key', true, true);
    const full = Buffer.concat(w.take());
    const payload = full.subarray(7, full.length - 1);
    for (let n = 4; n < payload.length; n++) {
      const error = only(parse([frame(1, 1, payload.subarray(0, n))]).r.events);
      expect(error).toBeInstanceOf(ProtocolError);
      expect(error.replyCode).toBeGreaterThanOrEqual(500);
      expect(error.replyCode).toBeLessThan(600);
      expect(error.replyText).toMatch(/^[A-Z_]+ - .*basic\.publish/);
      expect([error.classId, error.methodId]).toEqual([60, 40]);
    }
  });

  it('reports method arguments followed by extra octets as 501, as RabbitMQ does', () => {
    const w = new FrameWriter(0);
    writeBasicPublish(w, 1, 'exchange', 'routing-key', true, true);
    const full = Buffer.concat(w.take());
    const payload = Buffer.concat([full.subarray(7, full.length - 1), Buffer.from([0])]);
    const error = only(parse([frame(1, 1, payload)]).r.events);
    expect(error.replyCode).toBe(501);
    expect(error.replyText).toMatch(/^FRAME_ERROR - .*basic\.publish/);
    expect([error.classId, error.methodId]).toEqual([60, 40]);
  });

  it('reports a heartbeat frame with a payload as 501', () => {
    const error = only(parse([frame(8, 0, [0])]).r.events);
    expect(error.replyCode).toBe(501);
    expect(error.replyText).toMatch(/^FRAME_ERROR - /);
  });

  it('reports a malformed table inside method arguments as a ProtocolError', () => {
    const w = new FrameWriter(0);
    writeQueueDeclare(w, 1, 'q', false, false, false, false, false, { a: 'b' });
    const bytes = Buffer.concat(w.take());
    bytes[bytes.length - 7] = 0x5a; // the 'S' before the value of "a" (length 1, 'b', frame-end) becomes 'Z'
    const error = only(parse([bytes]).r.events);
    expect(error.replyCode).toBeGreaterThanOrEqual(500);
    expect(error.replyText).toMatch(/^[A-Z_]+ - .*'Z'/);
    expect([error.classId, error.methodId]).toEqual([50, 10]);
  });

  it('reports an unknown class or method as a ProtocolError', () => {
    for (const [classId, methodId] of [
      [10, 12],
      [60, 41],
      [99, 10],
      [0, 0],
      [0xffff, 0xffff],
    ]) {
      const payload = [classId >> 8, classId & 0xff, methodId >> 8, methodId & 0xff, 0, 0, 0, 0];
      const error = only(parse([frame(1, 1, payload)]).r.events);
      expect(error.replyCode).toBeGreaterThanOrEqual(500);
      expect(error.replyCode).toBeLessThan(600);
      expect(error.replyText).toContain(`class ${classId}, method ${methodId}`);
      expect([error.classId, error.methodId]).toEqual([classId, methodId]);
    }
  });

  it('reports a content header frame too short for its fixed fields as 501', () => {
    const error = only(parse([frame(2, 1, Buffer.alloc(13))]).r.events);
    expect(error.replyCode).toBe(501);
    expect(error.replyText).toMatch(/^FRAME_ERROR - /);
  });

  it('stops at once when a handler calls stop(), even in the middle of a read', () => {
    const r = recorder();
    const p = new FrameParser(
      {
        ...r,
        onMethod(channel, method) {
          r.onMethod(channel, method);
          if (method.id === MethodId.ChannelOpen) p.stop();
        },
      },
      4096,
    );
    p.push(stream);
    expect(r.events.map((e) => e.kind)).toEqual(['method', 'heartbeat', 'method']);
    p.push(stream);
    expect(r.events).toHaveLength(3);
  });

  it('ignores input after stop(), including a pending partial frame', () => {
    const r = recorder();
    const p = new FrameParser(r, 4096);
    p.push(stream.subarray(0, 5));
    p.stop();
    p.push(stream.subarray(5));
    expect(r.events).toHaveLength(0);
    expect(p.isStopped).toBe(true);
  });
});

describe('FrameParser pause and resume', () => {
  /** A recorder whose handler pauses the parser after every `every`-th frame event. */
  function pausing(every: number) {
    const r = recorder();
    const p = new FrameParser(r, 4096);
    let count = 0;
    for (const name of ['onMethod', 'onHeader', 'onBody', 'onHeartbeat'] as const) {
      const inner = r[name].bind(r) as (...args: unknown[]) => void;
      (r as unknown as Record<string, (...args: unknown[]) => void>)[name] = (...args: unknown[]) => {
        inner(...args);
        if (++count % every === 0) p.pause();
      };
    }
    return { r, p };
  }

  it('hands out nothing after the frame whose handler paused, keeps the rest, and goes on at resume', () => {
    const stream = sampleStream();
    const { r, p } = pausing(2);
    p.push(stream);
    expect(r.events).toHaveLength(2);
    expect(p.isPaused).toBe(true);
    expect(p.heldBytes).toBe(stream.length - afterFrames(stream, 2));
    // Input that arrives while paused is kept behind what was held.
    p.push(Buffer.alloc(0));
    let rounds = 0;
    while (p.isPaused && rounds++ < 100) p.resume();
    expect(p.heldBytes).toBe(0);
    expect(summary(joinBodies(r.events))).toBe(summary(joinBodies(parse([stream]).r.events)));
  });

  it('gives the same frames, in order, for any split of the input and any pause points (seeded)', () => {
    const stream = Buffer.concat([sampleStream(), sampleStream(), sampleStream()]);
    const expected = summary(joinBodies(parse([stream]).r.events));
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 12 }),
        fc.integer({ min: 1, max: 7 }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 20 }),
        (cuts, every, resumeBeforePush) => {
          const points = [...new Set(cuts)].sort((a, b) => a - b);
          const chunks: Buffer[] = [];
          let from = 0;
          for (const c of [...points, stream.length]) {
            chunks.push(own(stream.subarray(from, c)));
            from = c;
          }
          const { r, p } = pausing(every);
          chunks.forEach((c, i) => {
            if (resumeBeforePush[i % resumeBeforePush.length]) p.resume();
            p.push(c);
          });
          let rounds = 0;
          while (p.isPaused && rounds++ < 10_000) p.resume();
          return !p.isPaused && summary(joinBodies(r.events)) === expected;
        },
      ),
      { numRuns: 300 },
    );
  });
});
