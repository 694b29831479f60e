import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeArray,
  decodeTable,
  type FieldTable,
  type FieldValue,
  fieldNumber,
  ProtocolError,
  TypedValue,
  tableEnd,
  tableSize,
  writeTable,
} from '../../src/protocol/index.js';
import { fieldValueModel, ours, oursTable, tableModel } from './support/field-model.js';

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return [...b];
};
const shortKey = (key: string) => [Buffer.byteLength(key), ...Buffer.from(key)];
/** A table's bytes: 4-byte size, then entries (key, type letter, payload). */
const tableBytes = (...entries: [string, string, number[]][]): Buffer => {
  const body = entries.flatMap(([k, t, p]) => [...shortKey(k), t.charCodeAt(0), ...p]);
  return Buffer.from([...u32(body.length), ...body]);
};

function encode(t: FieldTable): Buffer {
  const b = Buffer.alloc(4 + tableSize(t));
  expect(writeTable(b, 0, t)).toBe(b.length);
  return b;
}

function decode(b: Buffer, start = 0, end = b.length): FieldTable {
  const t = decodeTable(b, start, end);
  if (t instanceof ProtocolError) throw new Error(`unexpected ${t.replyCode} ${t.replyText}`);
  return t;
}

function decodeError(b: Buffer, end = b.length): ProtocolError {
  const t = decodeTable(b, 0, end);
  expect(t).toBeInstanceOf(ProtocolError);
  const e = t as ProtocolError;
  expect(e.replyCode).toBe(501);
  expect(e.replyText).toMatch(/^FRAME_ERROR - /);
  return e;
}

const float = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeFloatBE(v);
  return [...b];
};
const double = (v: number) => {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(v);
  return [...b];
};
const int64 = (v: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(v);
  return [...b];
};

// Every type letter RabbitMQ clients send, from bytes written by hand, and the value we decode.
const cases: [string, string, number[], FieldValue][] = [
  ['t false', 't', [0], false],
  ['t true', 't', [1], true],
  ['b', 'b', [0xff], new TypedValue('b', -1)],
  ['B', 'B', [0xff], new TypedValue('B', 255)],
  ['s', 's', [0xff, 0xfe], new TypedValue('s', -2)],
  ['u', 'u', [0xff, 0xfe], new TypedValue('u', 65534)],
  ['I', 'I', [0xff, 0xff, 0xff, 0xfb], -5],
  ['i', 'i', [0xff, 0xff, 0xff, 0xfb], new TypedValue('i', 0xfffffffb)],
  ['l in int32 range', 'l', int64(-7n), new TypedValue('l', -7)],
  ['l beyond int32', 'l', int64(2n ** 40n), 2 ** 40],
  ['l beyond 2^53', 'l', int64(-(2n ** 62n) - 1n), -(2n ** 62n) - 1n],
  ['f', 'f', float(1.5), new TypedValue('f', 1.5)],
  ['d fractional', 'd', double(-2.25), -2.25],
  ['d integral', 'd', double(3), new TypedValue('d', 3)],
  ['d NaN', 'd', double(Number.NaN), Number.NaN],
  ['d -0', 'd', double(-0), new TypedValue('d', -0)],
  ['D', 'D', [2, ...u32(12345)], new TypedValue('D', { places: 2, digits: 12345 })],
  ['S', 'S', [...u32(4), ...Buffer.from('h\u00e9l')], 'h\u00e9l'],
  ['S empty', 'S', u32(0), ''],
  ['A', 'A', [...u32(6), 0x74, 1, 0x56, 0x42, 9, 0x56], [true, null, new TypedValue('B', 9), null]],
  ['A empty', 'A', u32(0), []],
  ['T', 'T', [0, 0, 0, 0, 0x60, 0, 0, 0], new TypedValue('T', 0x60000000)],
  [
    'T beyond 2^53',
    'T',
    [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    new TypedValue('T', 2n ** 64n - 1n),
  ],
  ['F', 'F', [...u32(4), 1, 0x6b, 0x74, 0], { k: false }],
  ['F empty', 'F', u32(0), {}],
  ['V', 'V', [], null],
  ['x', 'x', [...u32(3), 0, 0xff, 0xce], Buffer.from([0, 0xff, 0xce])],
];

describe('field tables', () => {
  it.each(cases)(
    'decodes %s from hand-written bytes and writes the same bytes back',
    (_name, letter, payload, value) => {
      const bytes = tableBytes(['key', letter, payload]);
      const t = decode(bytes);
      expect(t).toStrictEqual({ key: value });
      expect(tableEnd).toBe(bytes.length);
      expect(encode(t)).toEqual(bytes);
    },
  );

  it('decodes a table of every type at an offset inside a larger buffer', () => {
    const bytes = tableBytes(
      ...cases.map(([name, letter, payload]): [string, string, number[]] => [name, letter, payload]),
    );
    const framed = Buffer.concat([Buffer.from([1, 2, 3]), bytes, Buffer.from([9, 9])]);
    const t = decode(framed, 3, framed.length);
    expect(tableEnd).toBe(3 + bytes.length);
    expect(Object.keys(t)).toHaveLength(cases.length);
    expect(encode(t)).toEqual(bytes);
  });

  it('writes plain JS values with the types RabbitMQ expects', () => {
    const t: FieldTable = {
      bool: true,
      int: 42,
      big: 2 ** 40,
      bigint: 5n,
      float: 0.5,
      str: 'x',
      buf: Buffer.from([1]),
      nil: null,
      arr: [1],
      tbl: {},
    };
    expect(encode(t)).toEqual(
      tableBytes(
        ['bool', 't', [1]],
        ['int', 'I', [0, 0, 0, 42]],
        ['big', 'l', int64(2n ** 40n)],
        ['bigint', 'l', int64(5n)],
        ['float', 'd', double(0.5)],
        ['str', 'S', [...u32(1), 0x78]],
        ['buf', 'x', [...u32(1), 1]],
        ['nil', 'V', []],
        ['arr', 'A', [...u32(5), 0x49, 0, 0, 0, 1]],
        ['tbl', 'F', u32(0)],
      ),
    );
  });

  it('skips undefined values when writing', () => {
    const t = { a: 1, b: undefined } as unknown as FieldTable;
    expect(encode(t)).toEqual(tableBytes(['a', 'I', [0, 0, 0, 1]]));
  });

  it('keeps a "__proto__" key as an own key, not as the prototype', () => {
    const bytes = tableBytes(['__proto__', 'F', [...u32(4), 1, 0x6b, 0x74, 1]], ['a', 't', [1]]);
    const t = decode(bytes);
    expect(Object.getPrototypeOf(t)).toBe(Object.prototype);
    expect(Object.keys(t)).toEqual(['__proto__', 'a']);
    expect((t as Record<string, unknown>).k).toBeUndefined();
    expect(encode(t)).toEqual(bytes);
  });

  it('lets the last of duplicate keys win', () => {
    expect(decode(tableBytes(['a', 't', [0]], ['a', 't', [1]]))).toStrictEqual({ a: true });
  });

  it('decodes and writes back any generated table byte for byte', () => {
    fc.assert(
      fc.property(tableModel(), (model) => {
        const bytes = encode(oursTable(model));
        const t = decode(bytes);
        expect(t).toStrictEqual(oursTable(model));
        expect(encode(t)).toEqual(bytes);
      }),
      { numRuns: 300 },
    );
  });

  it('decodes arrays of any generated values', () => {
    fc.assert(
      fc.property(fc.array(fieldValueModel(), { maxLength: 8 }), (models) => {
        const values = models.map(ours);
        const bytes = encode({ a: values }).subarray(4 + 3);
        const a = decodeArray(bytes, 0, bytes.length);
        expect(a).toStrictEqual(values);
        expect(tableEnd).toBe(bytes.length);
      }),
      { numRuns: 200 },
    );
  });

  it('reads numbers of any wire type with fieldNumber', () => {
    expect(fieldNumber(5)).toBe(5);
    expect(fieldNumber(5n)).toBe(5);
    expect(fieldNumber(new TypedValue('s', -3))).toBe(-3);
    expect(fieldNumber(new TypedValue('T', 2n ** 60n))).toBe(2 ** 60);
    expect(fieldNumber(new TypedValue('D', { places: 1, digits: 1 }))).toBeUndefined();
    expect(fieldNumber('5')).toBeUndefined();
    expect(fieldNumber(undefined)).toBeUndefined();
  });

  it('throws (a bug in the caller) for a key longer than 255 bytes', () => {
    expect(() => encode({ ['k'.repeat(256)]: 1 })).toThrow(RangeError);
  });
});

describe('malformed field tables', () => {
  const valid = tableBytes(
    ...cases.map(([name, letter, payload]): [string, string, number[]] => [name, letter, payload]),
  );

  it('rejects a table cut short at any byte', () => {
    for (let end = 0; end < valid.length; end++) decodeError(valid, end);
  });

  it('rejects a size prefix larger than the bytes at hand', () => {
    const b = Buffer.from(valid);
    b.writeUInt32BE(valid.length - 3);
    decodeError(b);
    b.writeUInt32BE(0xffffffff);
    decodeError(b);
  });

  it('rejects an entry that runs past the table size, even when the buffer has more bytes', () => {
    const inner = tableBytes(['k', 'S', [...u32(3), 0x61, 0x62, 0x63]]);
    const shrunk = Buffer.concat([inner, Buffer.alloc(16)]);
    shrunk.writeUInt32BE(inner.length - 4 - 1);
    decodeError(shrunk);
  });

  it('rejects a key without a value', () => {
    decodeError(Buffer.from([...u32(2), 1, 0x6b]));
    decodeError(Buffer.from([...u32(1), 5]));
  });

  it.each([
    ['S', [...u32(10), 0x61]],
    ['x', [...u32(0xffffffff)]],
    ['F', [...u32(100)]],
    ['A', [...u32(100), 0x56]],
    ['A', [...u32(1), 0x53]],
    ['I', [0, 0]],
    ['l', [0, 0, 0, 0]],
    ['d', [0]],
    ['D', [1, 0, 0]],
    ['T', [0, 0, 0, 0, 0, 0, 0]],
    ['u', [0]],
  ])('rejects a %s value whose length runs past the end: %j', (letter, payload) => {
    decodeError(tableBytes(['k', letter, payload]));
  });

  it('rejects an unknown type letter, naming it', () => {
    for (const letter of ['Z', 'c', 'U', 'L', '\0']) {
      expect(decodeError(tableBytes(['k', letter, [0, 0, 0, 0]])).replyText).toContain(`'${letter}'`);
    }
  });

  /** F inside F inside F ..., each with the one key "k", around an empty table; the same with arrays. */
  function nested(depth: number): { table: Buffer; array: Buffer } {
    const table = Buffer.alloc(7 * depth + 4);
    const array = Buffer.alloc(5 * depth + 4);
    for (let i = 0; i < depth; i++) {
      table.writeUInt32BE(table.length - 7 * i - 4, 7 * i);
      table.set([1, 0x6b, 0x46], 7 * i + 4);
      array.writeUInt32BE(array.length - 5 * i - 4, 5 * i);
      array[5 * i + 4] = 0x41;
    }
    return { table, array };
  }

  it('rejects deep nesting without overflowing the stack', () => {
    const shallow = nested(50);
    expect(decodeTable(shallow.table, 0, shallow.table.length)).not.toBeInstanceOf(ProtocolError);
    expect(decodeArray(shallow.array, 0, shallow.array.length)).not.toBeInstanceOf(ProtocolError);
    for (const depth of [100, 10_000, 500_000]) {
      const { table, array } = nested(depth);
      decodeError(table);
      expect(decodeArray(array, 0, array.length)).toBeInstanceOf(ProtocolError);
    }
  });

  it('accepts nesting up to the limit', () => {
    let v: FieldValue = 1;
    for (let i = 0; i < 60; i++) v = i % 2 ? { k: v } : [v];
    const bytes = encode({ k: v });
    expect(decode(bytes)).toStrictEqual({ k: v });
  });

  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), (a, offset) => {
        const b = Buffer.from(a);
        const start = b.length ? offset % b.length : 0;
        const t = decodeTable(b, start, b.length);
        if (!(t instanceof ProtocolError)) expect(tableEnd).toBeLessThanOrEqual(b.length);
        decodeArray(b, start, b.length);
      }),
      { numRuns: 2000 },
    );
  });
});
