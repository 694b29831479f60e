// A typed model of field-table values for property tests: each value carries its wire type letter, so one
// generated model gives (1) the FieldValue our writer encodes to exactly that type and our decoder returns,
// (2) amqplib's {'!': type, value} encoding of the same bytes, (3) the plain values amqplib decodes.
import fc from 'fast-check';
import { type Decimal, type FieldTable, type FieldValue, TypedValue } from '../../../src/protocol/index.js';

export type Model =
  | { t: 't'; v: boolean }
  | { t: 'b' | 'B' | 's' | 'u' | 'I' | 'i' | 'f' | 'd'; v: number }
  | { t: 'l' | 'T'; v: bigint }
  | { t: 'D'; v: Decimal }
  | { t: 'S'; v: string }
  | { t: 'x'; v: Buffer }
  | { t: 'V'; v: null }
  | { t: 'A'; v: Model[] }
  | { t: 'F'; v: TableModel };

export type TableModel = [string, Model][];

export const TYPE_LETTERS = [
  't',
  'b',
  'B',
  's',
  'u',
  'I',
  'i',
  'l',
  'f',
  'd',
  'D',
  'S',
  'A',
  'T',
  'F',
  'V',
  'x',
];

/** A shortstr: any Unicode text of at most 255 UTF-8 bytes (63 code points of up to 4 bytes each). */
export const shortstr = (): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 8, arbitrary: fc.string({ unit: 'binary', maxLength: 63 }) },
    { weight: 1, arbitrary: fc.constant('k'.repeat(255)) },
    { weight: 1, arbitrary: fc.constant('\u{1f431}'.repeat(63)) },
  );

/**
 * Table keys. '!' is left out because amqplib reads an object with a '!' key as a typed value, and
 * '__proto__' because amqplib's decoder drops it (ours keeps it as an own key; field-table.test.ts covers it).
 */
export const tableKey = (): fc.Arbitrary<string> =>
  fc.string({ unit: 'binary', maxLength: 24 }).filter((k) => k !== '!' && k !== '__proto__');

const scalars: Record<string, fc.Arbitrary<Model>> = {
  t: fc.boolean().map((v) => ({ t: 't', v }) as Model),
  b: fc.integer({ min: -128, max: 127 }).map((v) => ({ t: 'b', v }) as Model),
  B: fc.integer({ min: 0, max: 255 }).map((v) => ({ t: 'B', v }) as Model),
  s: fc.integer({ min: -32768, max: 32767 }).map((v) => ({ t: 's', v }) as Model),
  u: fc.integer({ min: 0, max: 65535 }).map((v) => ({ t: 'u', v }) as Model),
  I: fc.integer().map((v) => ({ t: 'I', v }) as Model),
  i: fc.integer({ min: 0, max: 0xffffffff }).map((v) => ({ t: 'i', v }) as Model),
  l: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((v) => ({ t: 'l', v }) as Model),
  f: fc.float().map((v) => ({ t: 'f', v }) as Model),
  d: fc.double().map((v) => ({ t: 'd', v }) as Model),
  D: fc
    .record({ places: fc.integer({ min: 0, max: 255 }), digits: fc.integer({ min: 0, max: 0xffffffff }) })
    .map((v) => ({ t: 'D', v }) as Model),
  T: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((v) => ({ t: 'T', v }) as Model),
  S: fc.string({ unit: 'binary', maxLength: 40 }).map((v) => ({ t: 'S', v }) as Model),
  x: fc.uint8Array({ maxLength: 40 }).map((v) => ({ t: 'x', v: Buffer.from(v) }) as Model),
  V: fc.constant({ t: 'V', v: null } as Model),
};

const scalar = (): fc.Arbitrary<Model> => fc.oneof(...Object.values(scalars));

const entries = (value: fc.Arbitrary<Model>, maxLength: number): fc.Arbitrary<TableModel> =>
  fc.uniqueArray(fc.tuple(tableKey(), value), { maxLength, selector: (e) => e[0] });

const models = fc.letrec<{ value: Model; table: TableModel }>((tie) => ({
  value: fc.oneof(
    { maxDepth: 3, depthIdentifier: 'field-value' },
    { weight: 6, arbitrary: scalar() },
    { weight: 1, arbitrary: fc.array(tie('value'), { maxLength: 4 }).map((v) => ({ t: 'A', v }) as Model) },
    { weight: 1, arbitrary: tie('table').map((v) => ({ t: 'F', v }) as Model) },
  ),
  table: entries(tie('value'), 6),
}));

export const fieldValueModel = (): fc.Arbitrary<Model> => models.value;
export const tableModel = (): fc.Arbitrary<TableModel> => models.table;

/** A table with at least one value of every type letter (keys "type-<letter>"), then generated entries. */
export const everyTypeTable = (): fc.Arbitrary<TableModel> =>
  fc
    .tuple(
      ...TYPE_LETTERS.map((letter) =>
        letter === 'A'
          ? fc.array(fieldValueModel(), { minLength: 1, maxLength: 3 }).map((v): Model => ({ t: 'A', v }))
          : letter === 'F'
            ? tableModel().map(
                (v): Model => ({
                  t: 'F',
                  v: [['nested', { t: 'V', v: null }], ...v.filter(([k]) => k !== 'nested')],
                }),
              )
            : scalars[letter],
      ),
      tableModel(),
    )
    .map((all) => {
      const extra = all.pop() as TableModel;
      const typed = (all as Model[]).map((m, i): [string, Model] => [`type-${TYPE_LETTERS[i]}`, m]);
      return [...typed, ...extra.filter(([k]) => !k.startsWith('type-'))];
    });

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;

/** The FieldValue our decoder returns for the model's bytes, which our writer encodes as the same type. */
export function ours(m: Model): FieldValue {
  switch (m.t) {
    case 't':
    case 'S':
    case 'x':
    case 'V':
      return m.v;
    case 'I':
      return m.v;
    case 'l': {
      const n = Number(m.v);
      if (!Number.isSafeInteger(n)) return m.v;
      return n >= INT32_MIN && n <= INT32_MAX ? new TypedValue('l', n) : n;
    }
    case 'd':
      return Number.isInteger(m.v) ? new TypedValue('d', m.v) : m.v;
    case 'T': {
      const n = Number(m.v);
      return new TypedValue('T', Number.isSafeInteger(n) ? n : m.v);
    }
    case 'D':
      return new TypedValue('D', { places: m.v.places, digits: m.v.digits });
    case 'A':
      return m.v.map(ours);
    case 'F':
      return oursTable(m.v);
    default:
      return new TypedValue(m.t, m.v);
  }
}

export function oursTable(t: TableModel): FieldTable {
  const out: FieldTable = {};
  for (const [k, m] of t) out[k] = ours(m);
  return out;
}

const amqplibTypeName = {
  b: 'int8',
  B: 'uint8',
  s: 'int16',
  u: 'uint16',
  I: 'int32',
  i: 'uint32',
  l: 'int64',
  f: 'float',
  d: 'double',
  D: 'decimal',
  T: 'timestamp',
} as const;

/** The value amqplib encodes to the model's bytes: its {'!': type, value} notation for typed numbers. */
export function amqplibValue(m: Model): unknown {
  switch (m.t) {
    case 't':
    case 'S':
    case 'x':
    case 'V':
      return m.v;
    case 'A':
      return m.v.map(amqplibValue);
    case 'F':
      return amqplibTable(m.v);
    default:
      return { '!': amqplibTypeName[m.t], value: m.v };
  }
}

export function amqplibTable(t: TableModel): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, m] of t) out[k] = amqplibValue(m);
  return out;
}

/** What amqplib decodes from the model's bytes once its {'!': type, value} wrappers are removed. */
export function plain(m: Model): unknown {
  switch (m.t) {
    case 'l':
    case 'T':
      return Number(m.v);
    case 'A':
      return m.v.map(plain);
    case 'F':
      return plainTable(m.v);
    default:
      return m.v;
  }
}

export function plainTable(t: TableModel): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, m] of t) out[k] = plain(m);
  return out;
}

/** Removes amqplib's {'!': type, value} wrappers from a decoded value, recursively. */
export function unwrapAmqplib(v: unknown): unknown {
  if (v === null || typeof v !== 'object' || Buffer.isBuffer(v)) return v;
  if (Array.isArray(v)) return v.map(unwrapAmqplib);
  const o = v as Record<string, unknown>;
  if (Object.hasOwn(o, '!')) return unwrapAmqplib(o.value);
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(o)) out[k] = unwrapAmqplib(o[k]);
  return out;
}
