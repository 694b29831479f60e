// Property tests on hostile input: whatever bytes arrive, in whatever reads, the parser and decoders return
// errors as values and never throw, and the parser reports nothing after its one error.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeArray,
  decodeBasicProperties,
  decodeMethod,
  decodeTable,
  FrameParser,
  FrameWriter,
  type Method,
  MethodId,
  ProtocolError,
  writeBasicProperties,
  writeMethod,
} from '../../src/protocol/index.js';
import { oursTable, tableModel } from './support/field-model.js';
import { recorder } from './support/recorder.js';

const bytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));

/** Cuts a buffer into reads at the given positions (taken modulo its length). */
function chunk(b: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => (b.length ? c % (b.length + 1) : 0)))].sort((x, y) => x - y);
  const out: Buffer[] = [];
  let from = 0;
  for (const c of at) {
    out.push(b.subarray(from, c));
    from = c;
  }
  out.push(b.subarray(from));
  return out;
}

/** Feeds reads to a parser whose handler also decodes properties, as the broker does lazily. */
function feed(chunks: Buffer[], frameMax: number) {
  const r = recorder(false);
  const p = new FrameParser(
    {
      ...r,
      onHeader(channel, classId, bodySize, properties) {
        r.onHeader(channel, classId, bodySize, properties);
        decodeBasicProperties(properties);
      },
    },
    frameMax,
  );
  for (const c of chunks) p.push(c);
  return r;
}

function checkOutcome(r: ReturnType<typeof feed>): void {
  expect(r.callsAfterError).toBe(0);
  const errors = r.events.filter((e) => e.kind === 'error');
  expect(errors.length).toBeLessThanOrEqual(1);
  if (errors.length) {
    expect(r.events[r.events.length - 1].kind).toBe('error');
    const e = r.error as ProtocolError;
    expect(e).toBeInstanceOf(ProtocolError);
    expect(e.replyCode).toBeGreaterThanOrEqual(500);
    expect(e.replyCode).toBeLessThan(600);
    expect(e.replyText).toMatch(/^[A-Z_]+ - ./);
  }
}

// A valid stream: a few methods (some with tables), content headers with properties, bodies, heartbeats.
const methodIds = Object.values(MethodId);
const validStream = fc
  .array(
    fc.oneof(
      fc.record({
        kind: fc.constant('method' as const),
        id: fc.constantFrom(...methodIds),
        table: tableModel(),
      }),
      fc.record({ kind: fc.constant('header' as const), table: tableModel(), size: fc.nat(1000) }),
      fc.record({ kind: fc.constant('body' as const), data: bytes(600) }),
      fc.constant({ kind: 'heartbeat' as const }),
    ),
    { minLength: 1, maxLength: 8 },
  )
  .map((ops) => {
    const w = new FrameWriter(512);
    for (const op of ops) {
      if (op.kind === 'method') writeMethod(w, 1, sampleMethod(op.id, oursTable(op.table)));
      else if (op.kind === 'header') {
        w.beginContentHeader(1, 60, op.size);
        writeBasicProperties(w, {
          contentType: 'a/b',
          headers: oursTable(op.table),
          deliveryMode: 2,
          timestamp: 1,
        });
        w.endFrame();
      } else if (op.kind === 'body') w.writeBody(1, op.data);
      else w.writeHeartbeat();
    }
    return Buffer.concat(w.take());
  });

/** A method with every field set to a plain value of its type (tables from the generated table). */
function sampleMethod(id: number, table: Record<string, unknown>): Method {
  // Decode a zero-filled payload to learn the field names and types, then fill them in.
  const payload = Buffer.alloc(64);
  payload.writeUInt32BE(id);
  // Arguments followed by extra octets are an error, so find the length the zeros decode at.
  let blank = decodeMethod(payload, 0, 4);
  for (let end = 5; blank instanceof ProtocolError && end <= payload.length; end++) {
    blank = decodeMethod(payload, 0, end);
  }
  if (blank instanceof ProtocolError) throw new Error(`cannot decode blank ${id}`);
  const m: Record<string, unknown> = { ...blank };
  for (const [k, v] of Object.entries(m)) {
    if (k === 'id') continue;
    if (typeof v === 'string') m[k] = 'name';
    else if (typeof v === 'number') m[k] = 7;
    else if (typeof v === 'boolean') m[k] = true;
    else if (Buffer.isBuffer(v)) m[k] = Buffer.from('bytes');
    else m[k] = table;
  }
  return m as unknown as Method;
}

type Mutation =
  | { kind: 'flip'; at: number; xor: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; data: Buffer }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'duplicate'; at: number; length: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), data: bytes(20) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.nat(30) }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), length: fc.nat(60) }),
);

function mutate(b: Buffer, mutations: Mutation[]): Buffer {
  let out = Buffer.from(b);
  for (const m of mutations) {
    if (out.length === 0) break;
    const at = m.at % out.length;
    if (m.kind === 'flip') out[at] ^= m.xor;
    else if (m.kind === 'truncate') out = out.subarray(0, at);
    else if (m.kind === 'insert') out = Buffer.concat([out.subarray(0, at), m.data, out.subarray(at)]);
    else if (m.kind === 'delete') out = Buffer.concat([out.subarray(0, at), out.subarray(at + m.length)]);
    else out = Buffer.concat([out.subarray(0, at + m.length), out.subarray(at)]);
  }
  return out;
}

const frameMax = fc.constantFrom(0, 512, 4096, 131072);
const cuts = fc.array(fc.nat(), { maxLength: 12 });

describe('fuzz', () => {
  it('a valid stream in any reads gives no error', () => {
    fc.assert(
      fc.property(validStream, cuts, (stream, c) => {
        // The writer splits bodies at 512 but not methods or headers, whose tables may be larger.
        const r = feed(chunk(stream, c), 131072);
        expect(r.error).toBeUndefined();
      }),
      { numRuns: 200 },
    );
  });

  it('random bytes in random reads never throw, and nothing is reported after the error', () => {
    fc.assert(
      fc.property(bytes(400), cuts, frameMax, (b, c, max) => {
        checkOutcome(feed(chunk(b, c), max));
      }),
      { numRuns: 500 },
    );
  });

  it('random bytes after valid frames never throw', () => {
    fc.assert(
      fc.property(validStream, bytes(200), cuts, (stream, junk, c) => {
        checkOutcome(feed(chunk(Buffer.concat([stream, junk]), c), 131072));
      }),
      { numRuns: 200 },
    );
  });

  it('mutated valid streams (flipped, truncated, spliced) never throw', () => {
    fc.assert(
      fc.property(
        validStream,
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        cuts,
        frameMax,
        (stream, ms, c, max) => {
          checkOutcome(feed(chunk(mutate(stream, ms), c), max));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('method arguments of random bytes never throw, for every method', () => {
    fc.assert(
      fc.property(fc.constantFrom(...methodIds), bytes(100), (id, args) => {
        const payload = Buffer.concat([
          Buffer.from([id >>> 24, (id >>> 16) & 0xff, (id >>> 8) & 0xff, id & 0xff]),
          args,
        ]);
        const m = decodeMethod(payload, 0, payload.length);
        if (m instanceof ProtocolError) expect(m.replyCode).toBeGreaterThanOrEqual(500);
        else expect(m.id).toBe(id);
      }),
      { numRuns: 1000 },
    );
  });

  it('decodeBasicProperties, decodeTable and decodeArray never throw on random bytes', () => {
    fc.assert(
      fc.property(bytes(300), fc.nat(), (b, offset) => {
        const start = b.length ? offset % b.length : 0;
        for (const result of [
          decodeBasicProperties(b),
          decodeBasicProperties(b, start, b.length),
          decodeTable(b, start, b.length),
          decodeArray(b, start, b.length),
        ]) {
          if (result instanceof ProtocolError) expect(result.replyCode).toBeGreaterThanOrEqual(500);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('decodeBasicProperties never throws on mutated valid properties', () => {
    const valid = fc.tuple(tableModel(), fc.nat(0xffff)).map(([t, flags]) => {
      const w = new FrameWriter(0);
      w.beginContentHeader(1, 60, 0);
      writeBasicProperties(w, {
        contentType: 'text/plain',
        headers: oursTable(t),
        priority: 1,
        messageId: 'm',
        appId: 'a',
      });
      w.endFrame();
      const frame = Buffer.concat(w.take());
      const props = Buffer.from(frame.subarray(19, frame.length - 1));
      return { props, flags };
    });
    fc.assert(
      fc.property(valid, fc.array(mutation, { maxLength: 3 }), ({ props, flags }, ms) => {
        const b = mutate(props, ms);
        decodeBasicProperties(b);
        if (b.length >= 2) b.writeUInt16BE(flags);
        decodeBasicProperties(b);
      }),
      { numRuns: 500 },
    );
  });
});
