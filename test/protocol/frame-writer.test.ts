import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  FrameParser,
  FrameWriter,
  writeBasicDeliver,
  writeBasicPublish,
  writeConnectionStartOk,
} from '../../src/protocol/index.js';
import { type FrameEvent, recorder } from './support/recorder.js';

/** The frames of a byte stream as [type, channel, payload size], checking each frame-end octet. */
function frames(bytes: Buffer): [number, number, number][] {
  const out: [number, number, number][] = [];
  let o = 0;
  while (o < bytes.length) {
    const size = bytes.readUInt32BE(o + 3);
    expect(bytes[o + 7 + size]).toBe(0xce);
    out.push([bytes[o], bytes.readUInt16BE(o + 1), size]);
    o += 8 + size;
  }
  expect(o).toBe(bytes.length);
  return out;
}

function events(bytes: Buffer): FrameEvent[] {
  const r = recorder();
  new FrameParser(r, 0).push(bytes);
  expect(r.error).toBeUndefined();
  return r.events;
}

const sha1 = (b: Buffer) => createHash('sha1').update(b).digest('hex');

const bodyOf = (n: number, seed = 1): Buffer => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
};

describe('FrameWriter', () => {
  it('splits bodies so that no frame exceeds frame_max', () => {
    for (const frameMax of [4096, 8192, 131072]) {
      for (const size of [
        1,
        100,
        2047,
        2048,
        frameMax - 9,
        frameMax - 8,
        frameMax - 7,
        3 * frameMax + 5,
        300_000,
      ]) {
        const w = new FrameWriter(frameMax);
        const body = bodyOf(size);
        w.writeBody(3, body);
        const bytes = Buffer.concat(w.take());
        const list = frames(bytes);
        for (const [type, channel, payload] of list) {
          expect([type, channel]).toEqual([3, 3]);
          expect(payload + 8).toBeLessThanOrEqual(frameMax);
        }
        expect(list).toHaveLength(Math.ceil(size / (frameMax - 8)));
        const payloads = events(bytes).map((e) => (e.kind === 'body' ? e.payload : Buffer.alloc(0)));
        expect(Buffer.concat(payloads).equals(body), `frame_max ${frameMax}, body ${size}`).toBe(true);
      }
    }
  });

  it('writes one body frame when frame_max is 0 (no limit)', () => {
    const w = new FrameWriter(0);
    w.writeBody(1, bodyOf(1_000_000));
    expect(frames(Buffer.concat(w.take()))).toEqual([[3, 1, 1_000_000]]);
  });

  it('writes no body frame for an empty body', () => {
    const w = new FrameWriter(4096);
    w.writeBody(1, Buffer.alloc(0));
    expect(w.pendingBytes).toBe(0);
    expect(w.take()).toEqual([]);
  });

  it('references large bodies instead of copying them', () => {
    const body = Buffer.alloc(100_000, 5);
    const w = new FrameWriter(131072);
    writeBasicDeliver(w, 1, 'tag', 1, false, 'x', 'rk');
    w.writeContentHeader(1, 60, body.length, Buffer.from([0, 0]));
    w.writeBody(1, body);
    const taken = w.take();
    expect(taken.some((b) => b === body)).toBe(true);

    // Split across frames: each piece is a view of the body's memory, except a small last piece, copied.
    const split = new FrameWriter(4096);
    split.writeBody(1, body);
    const pieces = split.take().filter((b) => b.buffer === body.buffer);
    expect(pieces.map((b) => b.length)).toEqual(new Array(Math.floor(body.length / 4088)).fill(4088));
  });

  it('writes a body kept in pieces as the same frames as the joined body, referencing large pieces', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 70_000 }), { minLength: 1, maxLength: 5 }),
        fc.constantFrom(4096, 131072, 0),
        (sizes, frameMax) => {
          const parts = sizes.map((n, i) => bodyOf(n, i + 1));
          const joined = Buffer.concat(parts);
          const whole = new FrameWriter(frameMax);
          whole.writeBody(2, joined);
          const inPieces = new FrameWriter(frameMax);
          inPieces.writeBody(2, parts);
          const taken = inPieces.take();
          const bytes = Buffer.concat(taken);
          expect(bytes.equals(Buffer.concat(whole.take()))).toBe(true);
          if (joined.length > 0) frames(bytes);
          for (const part of parts) {
            if (part.length >= 4096 + 2048) expect(taken.some((b) => b.buffer === part.buffer)).toBe(true);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('copies small bodies, so the caller may reuse their memory', () => {
    const body = Buffer.from('hello');
    const w = new FrameWriter(4096);
    w.writeBody(1, body);
    body.fill(0);
    const bytes = Buffer.concat(w.take());
    expect(bytes.subarray(7, 12).toString()).toBe('hello');
  });

  it('keeps frames intact across the 64 KiB chunk boundary, including frames larger than a chunk', () => {
    const w = new FrameWriter(0);
    const expected: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const key = `routing.key.${i}.${'x'.repeat(i % 200)}`;
      writeBasicPublish(w, 1, 'ex', key, false, false);
      expected.push(key);
      if (i % 1000 === 999) {
        // A method frame of about 200 KiB, bigger than a chunk.
        writeConnectionStartOk(w, 0, { big: 'y'.repeat(200_000) }, 'PLAIN', bodyOf(1000), 'en_US');
      }
    }
    const taken = w.take();
    expect(taken.length).toBeGreaterThan(1);
    const all = events(Buffer.concat(taken));
    expect(
      all
        .filter((e) => e.kind === 'method' && 'routingKey' in e.method)
        .map((e) => e.kind === 'method' && 'routingKey' in e.method && e.method.routingKey),
    ).toEqual(expected);
    expect(all.filter((e) => e.kind === 'method' && 'clientProperties' in e.method)).toHaveLength(3);
  });

  it('never changes bytes already taken, whatever is written afterwards', () => {
    const w = new FrameWriter(4096);
    writeBasicPublish(w, 1, 'ex', 'rk', false, false);
    const first = w.take();
    const copy = first.map((b) => Buffer.from(b));
    for (let i = 0; i < 10_000; i++) writeBasicPublish(w, 1, 'other-exchange', `key-${i}`, true, true);
    w.writeBody(1, bodyOf(50_000));
    w.take();
    for (let i = 0; i < 100; i++) w.writeHeartbeat();
    expect(first).toEqual(copy);
  });

  it('drops a frame left unfinished by a field writer that threw, keeping the output whole frames', () => {
    const w = new FrameWriter(4096);
    writeBasicPublish(w, 1, 'before', 'rk', false, false);
    expect(() => writeBasicPublish(w, 1, 'x'.repeat(256), 'rk', false, false)).toThrow(RangeError);
    expect(() => writeBasicPublish(w, 1, '\u00e9'.repeat(128), 'rk', false, false)).toThrow(RangeError);
    const taken = Buffer.concat(w.take());
    expect(events(taken)).toMatchObject([{ kind: 'method', method: { exchange: 'before' } }]);
    expect(() => writeConnectionStartOk(w, 0, { ['k'.repeat(300)]: 1 }, 'PLAIN', '', 'en_US')).toThrow(
      RangeError,
    );
    writeBasicPublish(w, 1, 'after', 'rk', false, false);
    expect(events(Buffer.concat(w.take()))).toMatchObject([
      { kind: 'method', method: { exchange: 'after' } },
    ]);
  });

  it('writes shortstrs of any text as UTF-8, up to 255 bytes', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 63 }),
        fc.string({ unit: 'grapheme-ascii', maxLength: 255 }),
        (text, ascii) => {
          const w = new FrameWriter(4096);
          writeBasicPublish(w, 1, text, ascii, false, false);
          const bytes = Buffer.concat(w.take());
          const exchange = Buffer.from(text);
          expect(bytes[13]).toBe(exchange.length);
          expect(bytes.subarray(14, 14 + exchange.length)).toEqual(exchange);
          expect(events(bytes)).toMatchObject([
            { kind: 'method', method: { exchange: text, routingKey: ascii } },
          ]);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('counts pending bytes until they are taken', () => {
    const w = new FrameWriter(4096);
    expect(w.pendingBytes).toBe(0);
    w.writeHeartbeat();
    expect(w.pendingBytes).toBe(8);
    w.writeBody(1, bodyOf(10_000));
    expect(w.pendingBytes).toBe(8 + 10_000 + 3 * 8);
    expect(w.take().reduce((n, b) => n + b.length, 0)).toBe(8 + 10_000 + 3 * 8);
    expect(w.pendingBytes).toBe(0);
  });

  // Any sequence of frames and takes: the taken bytes are the frames in order, no frame exceeds frame_max,
  // and nothing taken changes afterwards.
  it('writes any sequence of frames faithfully', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('publish' as const), key: fc.string({ maxLength: 255 }) }),
      fc.record({
        kind: fc.constant('body' as const),
        size: fc.oneof({ weight: 4, arbitrary: fc.nat(3000) }, { weight: 1, arbitrary: fc.nat(150_000) }),
      }),
      fc.record({ kind: fc.constant('header' as const), size: fc.nat(300) }),
      fc.constant({ kind: 'heartbeat' as const }),
      fc.constant({ kind: 'take' as const }),
    );
    fc.assert(
      fc.property(fc.constantFrom(4096, 8192, 131072), fc.array(op, { maxLength: 60 }), (frameMax, ops) => {
        const w = new FrameWriter(frameMax);
        const taken: Buffer[] = [];
        const snapshots: Buffer[] = [];
        const expected: string[] = [];
        let n = 0;
        for (const o of ops) {
          n++;
          switch (o.kind) {
            case 'publish':
              writeBasicPublish(w, n, 'e', o.key, false, false);
              expected.push(`method ${n} ${o.key}`);
              break;
            case 'body': {
              const body = bodyOf(o.size, n);
              w.writeBody(n, body);
              if (o.size > 0) expected.push(`body ${n} ${sha1(body)}`);
              break;
            }
            case 'header': {
              // Properties of any size: a short string property (content-type) of o.size % 256 bytes.
              const props = Buffer.concat([
                Buffer.from([0x80, 0, o.size % 256]),
                Buffer.alloc(o.size % 256, 0x41),
              ]);
              w.writeContentHeader(n, 60, o.size, props);
              expected.push(`header ${n} ${o.size} ${props.toString('hex')}`);
              break;
            }
            case 'heartbeat':
              w.writeHeartbeat();
              expected.push('heartbeat 0');
              break;
            case 'take':
              for (const b of w.take()) {
                taken.push(b);
                snapshots.push(Buffer.from(b));
              }
              break;
          }
        }
        for (const b of w.take()) {
          taken.push(b);
          snapshots.push(Buffer.from(b));
        }
        expect(taken).toEqual(snapshots);
        const bytes = Buffer.concat(taken);
        for (const [, , size] of frames(bytes)) expect(size + 8).toBeLessThanOrEqual(frameMax);
        // Body frames of one content are joined back to compare with the body written.
        const got: string[] = [];
        let body: { channel: number; parts: Buffer[] } | undefined;
        const flush = () => {
          if (body) got.push(`body ${body.channel} ${sha1(Buffer.concat(body.parts))}`);
          body = undefined;
        };
        for (const e of events(bytes)) {
          if (e.kind === 'body' && body?.channel === e.channel) {
            body.parts.push(e.payload);
            continue;
          }
          flush();
          if (e.kind === 'body') body = { channel: e.channel, parts: [e.payload] };
          else if (e.kind === 'method' && 'routingKey' in e.method)
            got.push(`method ${e.channel} ${e.method.routingKey}`);
          else if (e.kind === 'header')
            got.push(`header ${e.channel} ${e.bodySize} ${e.properties.toString('hex')}`);
          else if (e.kind === 'heartbeat') got.push(`heartbeat ${e.channel}`);
        }
        flush();
        expect(got).toEqual(expected);
      }),
      { numRuns: 50 },
    );
  });
});
