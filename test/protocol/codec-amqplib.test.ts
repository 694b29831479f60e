// Our codec against amqplib's, field by field, in both directions, for every method of the spec, content
// headers with all 14 basic properties, body frames and heartbeats. amqplib is an independent implementation
// that RabbitMQ has been tested against for years; where both agree on the bytes, we agree with RabbitMQ.
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSpec, type SpecField, specPath } from '../../scripts/gen-spec.mjs';
import {
  BASIC_PROPERTY_NAMES,
  type BasicProperties,
  decodeBasicProperties,
  FrameParser,
  FrameWriter,
  type Method,
  MethodId,
  ProtocolError,
  writeBasicProperties,
  writeConnectionStartOk,
  writeMethod,
} from '../../src/protocol/index.js';
import { amqplibDecode, defs, frames } from './support/amqplib.js';
import {
  amqplibTable,
  everyTypeTable,
  oursTable,
  plainTable,
  shortstr,
  type TableModel,
  tableModel,
  unwrapAmqplib,
} from './support/field-model.js';
import { recorder } from './support/recorder.js';

const RUNS = 30;

const pascal = (s: string) =>
  s
    .split(/[-.]/)
    .map((p) => p[0].toUpperCase() + p.slice(1))
    .join('');
const camel = (s: string) => {
  const p = pascal(s);
  return p[0].toLowerCase() + p.slice(1);
};

const { classes } = parseSpec(readFileSync(specPath, 'utf8'));
const methods = classes.flatMap((c) =>
  c.methods.map((m) => ({ id: c.index * 65536 + m.index, name: `${c.name}.${m.name}`, fields: m.fields })),
);

function valueArbitrary(f: SpecField, withTables: () => fc.Arbitrary<TableModel>): fc.Arbitrary<unknown> {
  switch (f.type) {
    case 'bit':
      return fc.boolean();
    case 'octet':
      return fc.integer({ min: 0, max: 0xff });
    case 'short':
      return fc.integer({ min: 0, max: 0xffff });
    case 'long':
      return fc.integer({ min: 0, max: 0xffffffff });
    case 'longlong':
    case 'timestamp':
      return fc.oneof(fc.maxSafeNat(), fc.constant(Number.MAX_SAFE_INTEGER), fc.constant(0x100000000));
    case 'shortstr':
      return shortstr();
    case 'longstr':
      return fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));
    case 'table':
      return withTables();
    default:
      throw new Error(`no arbitrary for ${f.type}`);
  }
}

/** Generated arguments of a method, by our field names; tables as models. */
type Args = Record<string, unknown>;

function argsArbitrary(fields: SpecField[], tables = tableModel): fc.Arbitrary<Args> {
  const shape: Record<string, fc.Arbitrary<unknown>> = {};
  for (const f of fields) if (!f.reserved) shape[camel(f.name)] = valueArbitrary(f, tables);
  return fc.record(shape);
}

/** Random values for the reserved fields, which a decoder must skip whatever they hold. */
function reservedArbitrary(fields: SpecField[]): fc.Arbitrary<unknown[]> {
  return fc.tuple(
    ...fields.map((f) => (f.reserved ? valueArbitrary(f, tableModel) : fc.constant(undefined))),
  );
}

const reservedDefault: Record<string, unknown> = {
  short: 0,
  shortstr: '',
  bit: false,
  longstr: Buffer.alloc(0),
};

function oursMethod(id: number, fields: SpecField[], args: Args): Method {
  const m: Record<string, unknown> = { id };
  for (const f of fields) {
    if (f.reserved) continue;
    const v = args[camel(f.name)];
    m[camel(f.name)] = f.type === 'table' ? oursTable(v as TableModel) : v;
  }
  return m as unknown as Method;
}

function amqplibFields(
  id: number,
  fields: SpecField[],
  args: Args,
  reserved?: unknown[],
): Record<string, unknown> {
  const info = defs.info(id);
  const out: Record<string, unknown> = {};
  fields.forEach((f, i) => {
    const name = info.args[i].name;
    if (f.reserved) out[name] = reserved ? reserved[i] : reservedDefault[f.type];
    else {
      const v = args[camel(f.name)];
      out[name] = f.type === 'table' ? amqplibTable(v as TableModel) : v;
    }
  });
  return out;
}

function write(fn: (w: FrameWriter) => void, frameMax = 0): Buffer {
  const w = new FrameWriter(frameMax);
  fn(w);
  return Buffer.concat(w.take());
}

function parseAll(bytes: Buffer, frameMax = 0) {
  const r = recorder();
  new FrameParser(r, frameMax).push(bytes);
  return r.events;
}

describe('method codec against amqplib', () => {
  it('covers every method of MethodId, with the same argument list as amqplib', () => {
    expect(methods.map((m) => m.id).sort()).toEqual(Object.values(MethodId).sort());
    for (const { id, fields, name } of methods) {
      const info = defs.info(id);
      expect(
        info.args.map((a) => a.type),
        name,
      ).toEqual(fields.map((f) => f.type));
      fields.forEach((f, i) => {
        // amqplib names reserved fields after their pre-0-9-1 meaning (ticket, insist, ...) and no-wait "nowait".
        if (!f.reserved) expect(info.args[i].name.toLowerCase(), name).toBe(camel(f.name).toLowerCase());
      });
    }
  });

  describe.each(methods)('$name', ({ id, fields }) => {
    const hasTable = fields.some((f) => f.type === 'table');

    it('ours -> amqplib: amqplib decodes every field we write', () => {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 0xffff }), argsArbitrary(fields), (channel, args) => {
          const bytes = write((w) => writeMethod(w, channel, oursMethod(id, fields, args)));
          const frame = amqplibDecode(bytes);
          expect(frame.id).toBe(id);
          expect(frame.channel).toBe(channel);
          const info = defs.info(id);
          fields.forEach((f, i) => {
            const theirs = frame.fields?.[info.args[i].name];
            if (f.reserved) expect(theirs).toEqual(reservedDefault[f.type]);
            else if (f.type === 'table')
              expect(unwrapAmqplib(theirs)).toEqual(plainTable(args[camel(f.name)] as TableModel));
            else expect(theirs).toEqual(args[camel(f.name)]);
          });
        }),
        { numRuns: RUNS },
      );
    });

    it('amqplib -> ours: we decode every field amqplib writes, skipping any reserved value', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: 0xffff }),
          argsArbitrary(fields),
          reservedArbitrary(fields),
          (channel, args, reserved) => {
            const bytes = defs.encodeMethod(id, channel, amqplibFields(id, fields, args, reserved));
            const events = parseAll(bytes);
            expect(events).toHaveLength(1);
            expect(events[0]).toStrictEqual({
              kind: 'method',
              channel,
              method: oursMethod(id, fields, args),
            });
          },
        ),
        { numRuns: RUNS },
      );
    });

    it('writes the same bytes as amqplib', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: 0xffff }),
          argsArbitrary(fields, hasTable ? everyTypeTable : tableModel),
          (channel, args) => {
            const ours = write((w) => writeMethod(w, channel, oursMethod(id, fields, args)));
            expect(ours).toEqual(defs.encodeMethod(id, channel, amqplibFields(id, fields, args)));
          },
        ),
        { numRuns: hasTable ? RUNS : 10 },
      );
    });
  });

  it('round-trips tables holding every type letter both ways', () => {
    fc.assert(
      fc.property(everyTypeTable(), everyTypeTable(), (server, client) => {
        const start = write((w) =>
          writeMethod(w, 0, {
            id: MethodId.ConnectionStart,
            versionMajor: 0,
            versionMinor: 9,
            serverProperties: oursTable(server),
            mechanisms: Buffer.from('PLAIN'),
            locales: Buffer.from('en_US'),
          }),
        );
        expect(unwrapAmqplib(amqplibDecode(start).fields?.serverProperties)).toEqual(plainTable(server));
        const startOk = defs.encodeMethod(MethodId.ConnectionStartOk, 0, {
          clientProperties: amqplibTable(client),
          mechanism: 'PLAIN',
          response: Buffer.from('\0guest\0guest'),
          locale: 'en_US',
        });
        const [event] = parseAll(startOk);
        expect(event.kind === 'method' && event.method).toStrictEqual({
          id: MethodId.ConnectionStartOk,
          clientProperties: oursTable(client),
          mechanism: 'PLAIN',
          response: Buffer.from('\0guest\0guest'),
          locale: 'en_US',
        });
      }),
      { numRuns: 50 },
    );
  });

  it('writes a longstr given as a string as its UTF-8 bytes', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 100 }), (s) => {
        const asString = write((w) => writeConnectionStartOk(w, 0, {}, 'PLAIN', s, 'en_US'));
        const asBuffer = write((w) => writeConnectionStartOk(w, 0, {}, 'PLAIN', Buffer.from(s), 'en_US'));
        expect(asString).toEqual(asBuffer);
      }),
      { numRuns: 50 },
    );
  });
});

// Our property names are amqplib's, except the last (the spec's reserved "cluster-id").
const amqplibPropertyName = (name: string) => (name === 'reserved' ? 'clusterId' : name);

const propertiesArbitrary = (): fc.Arbitrary<{ model: Record<string, unknown>; headers?: TableModel }> =>
  fc
    .record(
      {
        contentType: shortstr(),
        contentEncoding: shortstr(),
        headers: tableModel(),
        deliveryMode: fc.integer({ min: 0, max: 255 }),
        priority: fc.integer({ min: 0, max: 255 }),
        correlationId: shortstr(),
        replyTo: shortstr(),
        expiration: shortstr(),
        messageId: shortstr(),
        timestamp: fc.maxSafeNat(),
        type: shortstr(),
        userId: shortstr(),
        appId: shortstr(),
        reserved: shortstr(),
      },
      { requiredKeys: [] },
    )
    .map((model) => ({ model, headers: model.headers }));

function oursProperties(model: Record<string, unknown>): BasicProperties {
  const p: Record<string, unknown> = { ...model };
  if (model.headers !== undefined) p.headers = oursTable(model.headers as TableModel);
  return p as BasicProperties;
}

function amqplibProperties(model: Record<string, unknown>): Record<string, unknown> {
  const p: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(model))
    p[amqplibPropertyName(k)] = k === 'headers' ? amqplibTable(v as TableModel) : v;
  return p;
}

describe('content headers against amqplib', () => {
  it('names the 14 basic properties as amqplib does', () => {
    expect(BASIC_PROPERTY_NAMES.map(amqplibPropertyName)).toEqual(defs.info(60).args.map((a) => a.name));
  });

  const channelArb = fc.integer({ min: 0, max: 0xffff });
  const sizeArb = fc.oneof(fc.maxSafeNat(), fc.integer({ min: 0, max: 0xffff }), fc.constant(2 ** 32));

  it('ours -> amqplib, and the same bytes as amqplib writes', () => {
    fc.assert(
      fc.property(channelArb, sizeArb, propertiesArbitrary(), (channel, size, { model }) => {
        const ours = write((w) => {
          w.beginContentHeader(channel, 60, size);
          writeBasicProperties(w, oursProperties(model));
          w.endFrame();
        });
        expect(ours).toEqual(defs.encodeProperties(60, channel, size, amqplibProperties(model)));
        const frame = amqplibDecode(ours);
        expect(frame).toMatchObject({ id: 60, channel, size });
        const theirs = frame.fields ?? {};
        for (const name of BASIC_PROPERTY_NAMES) {
          const v = theirs[amqplibPropertyName(name)];
          if (name === 'headers' && model.headers !== undefined)
            expect(unwrapAmqplib(v)).toEqual(plainTable(model.headers as TableModel));
          else expect(v).toEqual(model[name]);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('amqplib -> ours, through the frame parser and decodeBasicProperties', () => {
    fc.assert(
      fc.property(channelArb, sizeArb, propertiesArbitrary(), (channel, size, { model }) => {
        const bytes = defs.encodeProperties(60, channel, size, amqplibProperties(model));
        const events = parseAll(bytes);
        expect(events).toHaveLength(1);
        const e = events[0];
        if (e.kind !== 'header') throw new Error(`expected a header, got ${e.kind}`);
        expect([e.channel, e.classId, e.bodySize]).toEqual([channel, 60, size]);
        // The raw property bytes are the frame's payload after class, weight and body size.
        expect(e.properties).toEqual(bytes.subarray(7 + 12, bytes.length - 1));
        const props = decodeBasicProperties(e.properties);
        expect(props).not.toBeInstanceOf(ProtocolError);
        expect(props).toStrictEqual(oursProperties(model));
      }),
      { numRuns: 200 },
    );
  });

  it('decodes the empty property list', () => {
    const bytes = defs.encodeProperties(60, 1, 0, {});
    const [e] = parseAll(bytes);
    expect(e.kind === 'header' && decodeBasicProperties(e.properties)).toStrictEqual({});
    expect(write((w) => w.writeContentHeader(1, 60, 0, Buffer.from([0, 0])))).toEqual(bytes);
  });
});

describe('body and heartbeat frames against amqplib', () => {
  it('writes body frames as amqplib does and reads amqplib body frames', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff }),
        fc.uint8Array({ minLength: 1, maxLength: 5000 }),
        (channel, a) => {
          const body = Buffer.from(a);
          const theirs = frames.makeBodyFrame(channel, body);
          expect(write((w) => w.writeBody(channel, body), 8192)).toEqual(theirs);
          expect(amqplibDecode(theirs)).toEqual({ channel, content: body });
          expect(parseAll(theirs, 8192)).toStrictEqual([{ kind: 'body', channel, payload: body }]);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('writes and reads the heartbeat frame', () => {
    const ours = write((w) => w.writeHeartbeat());
    expect(ours).toEqual(frames.HEARTBEAT_BUF);
    expect(amqplibDecode(ours)).toBe(frames.HEARTBEAT);
    expect(parseAll(frames.HEARTBEAT_BUF)).toStrictEqual([{ kind: 'heartbeat', channel: 0 }]);
  });
});
