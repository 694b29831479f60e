#!/usr/bin/env node
// Generates src/protocol/spec.ts from spec/amqp0-9-1-rabbit.xml: the one table of classes, methods,
// fields, reply codes, and the per-method decoders and frame writers built from it.
//   node scripts/gen-spec.mjs            writes src/protocol/spec.ts
//   node scripts/gen-spec.mjs --check    exits 1 when the committed file differs from the output
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const specPath = join(root, 'spec', 'amqp0-9-1-rabbit.xml');
export const extensionsPath = join(root, 'spec', 'rabbitmq-extensions.xml');
export const outPath = join(root, 'src', 'protocol', 'spec.ts');

function attrs(tag) {
  const out = {};
  for (const m of tag.matchAll(/([\w-]+)="([^"]*)"/g)) out[m[1]] = m[2];
  return out;
}

/**
 * Parses the stripped spec: constants, domains, classes with their properties and methods. Methods of
 * the extensions file are added to the classes of the same name.
 */
export function parseSpec(xml, extensionsXml = readFileSync(extensionsPath, 'utf8')) {
  const spec = parseOne(xml, new Map());
  const extensions = parseOne(extensionsXml, spec.domains);
  for (const c of extensions.constants) {
    if (!spec.constants.some((x) => x.name === c.name)) spec.constants.push(c);
  }
  spec.constants.sort((a, b) => Number(a.value) - Number(b.value));
  for (const ext of extensions.classes) {
    const cls = spec.classes.find((c) => c.name === ext.name);
    if (!cls) throw new Error(`extension for unknown class ${ext.name}`);
    for (const m of ext.methods) {
      if (!cls.methods.some((x) => x.index === m.index)) cls.methods.push(m);
    }
  }
  return spec;
}

function parseOne(xml, knownDomains) {
  const body = xml.replace(/<!--[\s\S]*?-->/g, '');
  const constants = [...body.matchAll(/<constant\s[^>]*\/>/g)].map((m) => attrs(m[0]));
  const domains = new Map(knownDomains);
  for (const m of body.matchAll(/<domain\s[^>]*?\/?>/g)) {
    const a = attrs(m[0]);
    domains.set(a.name, a.type);
  }
  const classes = [];
  for (const cm of body.matchAll(/<class\s([^>]*)>([\s\S]*?)<\/class>/g)) {
    const ca = attrs(cm[1]);
    const inner = cm[2];
    const methodBlocks = [...inner.matchAll(/<method\s([^>]*?)(?:\/>|>([\s\S]*?)<\/method>)/g)];
    const withoutMethods = inner.replace(/<method\s[^>]*?(?:\/>|>[\s\S]*?<\/method>)/g, '');
    const fieldsOf = (text) =>
      [...text.matchAll(/<field\s[^>]*?\/?>/g)].map((f) => {
        const a = attrs(f[0]);
        const type = a.type ?? domains.get(a.domain);
        if (!type) throw new Error(`no type for field ${a.name}`);
        return { name: a.name, type, reserved: a.reserved === '1' };
      });
    classes.push({
      name: ca.name,
      index: Number(ca.index),
      properties: fieldsOf(withoutMethods),
      methods: methodBlocks.map((mm) => {
        const ma = attrs(mm[1]);
        const text = mm[2] ?? '';
        const chassis = [...text.matchAll(/<chassis\s[^>]*\/>/g)].map((c) => attrs(c[0]).name);
        return {
          name: ma.name,
          index: Number(ma.index),
          synchronous: ma.synchronous === '1',
          content: ma.content === '1',
          chassis,
          fields: fieldsOf(text),
        };
      }),
    });
  }
  return { constants, classes, domains };
}

const pascal = (s) =>
  s
    .split(/[-.]/)
    .map((p) => p[0].toUpperCase() + p.slice(1))
    .join('');
const camel = (s) => {
  const p = pascal(s);
  return p[0].toLowerCase() + p.slice(1);
};
// A local name for a field: `arguments` cannot name a variable in strict mode.
const local = (s) => (camel(s) === 'arguments' ? 'args' : camel(s));
const snake = (s) => s.toUpperCase().replace(/-/g, '_');

const tsType = {
  bit: 'boolean',
  octet: 'number',
  short: 'number',
  long: 'number',
  longlong: 'number',
  shortstr: 'string',
  longstr: 'Buffer',
  timestamp: 'number',
  table: 'FieldTable',
};
const encodeTsType = { ...tsType, longstr: 'Buffer | string' };
const fixedSize = { octet: 1, short: 2, long: 4, longlong: 8, timestamp: 8 };

function decodeField(f, v, cls, m) {
  const bad = `return malformed(${cls.index}, ${m.index})`;
  switch (f.type) {
    case 'octet':
      return [`if (o + 1 > end) ${bad};`, `${v} b[o];`, 'o += 1;'];
    case 'short':
      return [`if (o + 2 > end) ${bad};`, `${v} b.readUInt16BE(o);`, 'o += 2;'];
    case 'long':
      return [`if (o + 4 > end) ${bad};`, `${v} b.readUInt32BE(o);`, 'o += 4;'];
    case 'longlong':
    case 'timestamp':
      return [
        `if (o + 8 > end) ${bad};`,
        `${v} b.readUInt32BE(o) * 0x100000000 + b.readUInt32BE(o + 4);`,
        'o += 8;',
      ];
    case 'shortstr':
      return [
        `if (o + 1 > end) ${bad};`,
        'len = b[o];',
        `if (o + 1 + len > end) ${bad};`,
        `${v} b.toString('utf8', o + 1, o + 1 + len);`,
        'o += 1 + len;',
      ];
    case 'longstr':
      return [
        `if (o + 4 > end) ${bad};`,
        'len = b.readUInt32BE(o);',
        `if (o + 4 + len > end) ${bad};`,
        `${v} b.subarray(o + 4, o + 4 + len);`,
        'o += 4 + len;',
      ];
    case 'table':
      return [
        'tbl = decodeTable(b, o, end);',
        // A method's table error names the method, as its other argument errors do.
        m.index
          ? `if (tbl instanceof ProtocolError) return inMethod(tbl, ${cls.index}, ${m.index});`
          : 'if (tbl instanceof ProtocolError) return tbl;',
        `${v} tbl;`,
        'o = tableEnd;',
      ];
    default:
      throw new Error(`field type ${f.type}`);
  }
}

function skipField(f, cls, m) {
  const bad = `return malformed(${cls.index}, ${m.index})`;
  if (fixedSize[f.type]) return [`if (o + ${fixedSize[f.type]} > end) ${bad};`, `o += ${fixedSize[f.type]};`];
  if (f.type === 'shortstr') return [`if (o + 1 > end) ${bad};`, `o += 1 + b[o];`, `if (o > end) ${bad};`];
  if (f.type === 'longstr')
    return [`if (o + 4 > end) ${bad};`, `o += 4 + b.readUInt32BE(o);`, `if (o > end) ${bad};`];
  throw new Error(`reserved ${f.type}`);
}

function encodeField(f, v) {
  switch (f.type) {
    case 'octet':
      return [`w.u8(${v});`];
    case 'short':
      return [`w.u16(${v});`];
    case 'long':
      return [`w.u32(${v});`];
    case 'longlong':
    case 'timestamp':
      return [`w.u64(${v});`];
    case 'shortstr':
      return [`w.shortstr(${v});`];
    case 'longstr':
      return [`w.longstr(${v});`];
    case 'table':
      return [`w.table(${v});`];
    default:
      throw new Error(`field type ${f.type}`);
  }
}

const reservedValue = { octet: '0', short: '0', long: '0', longlong: '0', shortstr: "''", longstr: "''" };

/** Groups consecutive bits into octets, as the spec packs them (bit fields share an octet, low bit first). */
function groupFields(fields) {
  const groups = [];
  for (const f of fields) {
    const last = groups[groups.length - 1];
    if (f.type === 'bit') {
      if (last?.bits && last.bits.length < 8) last.bits.push(f);
      else groups.push({ bits: [f] });
    } else groups.push({ field: f });
  }
  return groups;
}

export function generate(xml, extensionsXml) {
  const { constants, classes } = parseSpec(xml, extensionsXml);
  const out = [];
  const emit = (...lines) => out.push(...lines);
  emit(
    '// Generated by scripts/gen-spec.mjs from spec/amqp0-9-1-rabbit.xml. Do not edit: run `npm run gen:spec`.',
    '// The single table of AMQP 0-9-1 (with RabbitMQ extensions): constants, reply codes, one interface per',
    '// method, and a decoder and a frame writer specialised per method.',
    "import { decodeTable, type FieldTable, tableEnd } from './field-table.js';",
    "import type { FrameWriter } from './frame-writer.js';",
    "import { ProtocolError } from './protocol-error.js';",
    '',
  );
  for (const c of constants) {
    if (!c.class) emit(`export const ${snake(c.name)} = ${c.value};`);
  }
  emit('', '/** Reply codes, named as RabbitMQ names them in reply texts. */', 'export const ReplyCode = {');
  for (const c of constants) if (c.class) emit(`  ${snake(c.name)}: ${c.value},`);
  emit('} as const;', 'export type ReplyCode = (typeof ReplyCode)[keyof typeof ReplyCode];', '');
  emit('/** Hard errors close the connection; soft errors close only the channel. */');
  emit('export const HARD_ERROR_CODES: ReadonlySet<number> = new Set([');
  for (const c of constants) if (c.class === 'hard-error') emit(`  ${c.value},`);
  emit(']);', '');
  emit('const replyCodeNames: Record<number, string> = {');
  for (const c of constants) if (c.class) emit(`  ${c.value}: '${snake(c.name)}',`);
  emit('};', '');
  emit(
    'export function replyCodeName(code: number): string {',
    "  return replyCodeNames[code] ?? 'UNKNOWN';",
    '}',
    '',
  );

  emit('export const ClassId = {');
  for (const cls of classes) emit(`  ${cls.name}: ${cls.index},`);
  emit('} as const;', '');

  // Interfaces
  const all = [];
  for (const cls of classes) {
    for (const m of cls.methods) {
      const iface = pascal(cls.name) + pascal(m.name);
      all.push({ cls, m, iface, fields: m.fields.filter((f) => !f.reserved) });
    }
  }
  emit(
    '/** Method ids as the discriminant of Method: class-id * 65536 + method-id. */',
    'export const MethodId = {',
  );
  for (const { cls, m, iface } of all) emit(`  ${iface}: ${cls.index * 65536 + m.index},`);
  emit('} as const;', '');
  for (const { cls, m, iface, fields } of all) {
    emit(`/** ${cls.name}.${m.name} (${cls.index}, ${m.index}) */`, `export interface ${iface} {`);
    emit(`  readonly id: ${cls.index * 65536 + m.index};`);
    for (const f of fields) emit(`  ${camel(f.name)}: ${tsType[f.type]};`);
    emit('}', '');
  }
  emit(`export type Method =\n${all.map((a) => `  | ${a.iface}`).join('\n')};`, '');
  emit('/** The fields of a method, without its ids: what a writer takes. */');
  emit("export type MethodFields<M extends Method> = Omit<M, 'id'>;", '');

  emit('const methodNames: Record<number, string> = {');
  for (const { cls, m } of all) emit(`  ${cls.index * 65536 + m.index}: '${cls.name}.${m.name}',`);
  emit('};', '');
  emit('/** "class.method" as the spec names it, e.g. "basic.publish"; undefined for unknown ids. */');
  emit('export function methodName(classId: number, methodId: number): string | undefined {');
  emit('  return methodNames[classId * 65536 + methodId];', '}', '');
  emit('const contentMethods: ReadonlySet<number> = new Set([');
  for (const { cls, m } of all) if (m.content) emit(`  ${cls.index * 65536 + m.index},`);
  emit(']);', '');
  emit(
    '/** Methods followed by a content header and body frames (basic.publish, deliver, return, get-ok). */',
  );
  emit('export function methodHasContent(classId: number, methodId: number): boolean {');
  emit('  return contentMethods.has(classId * 65536 + methodId);', '}', '');

  emit(
    '// Arguments cut short or followed by extra octets: RabbitMQ answers 501 FRAME_ERROR (cannot decode).',
  );
  emit('function malformed(classId: number, methodId: number): ProtocolError {');
  emit(
    '  return new ProtocolError(ReplyCode.FRAME_ERROR, `FRAME_ERROR - cannot decode the arguments of ${methodName(classId, methodId)}`, classId, methodId);',
  );
  emit('}', '');
  emit('function inMethod(e: ProtocolError, classId: number, methodId: number): ProtocolError {');
  emit('  return new ProtocolError(e.replyCode, e.replyText, classId, methodId);');
  emit('}', '');

  // Decoders
  for (const { cls, m, iface } of all) {
    emit(`function decode${iface}(b: Buffer, o: number, end: number): ${iface} | ProtocolError {`);
    const body = [];
    let usesLen = false;
    let usesTbl = false;
    const names = [];
    for (const g of groupFields(m.fields)) {
      if (g.bits) {
        body.push(`if (o + 1 > end) return malformed(${cls.index}, ${m.index});`, 'bits = b[o];', 'o += 1;');
        g.bits.forEach((f, i) => {
          if (!f.reserved) {
            body.push(`const ${local(f.name)} = (bits & ${1 << i}) !== 0;`);
            names.push(f.name);
          }
        });
      } else if (g.field.reserved) {
        body.push(...skipField(g.field, cls, m));
      } else {
        names.push(g.field.name);
        const lines = decodeField(g.field, `const ${local(g.field.name)} =`, cls, m);
        if (lines.some((l) => l.includes('len'))) usesLen = true;
        if (lines.some((l) => l.includes('tbl'))) usesTbl = true;
        body.push(...lines);
      }
    }
    if (usesLen) emit('  let len: number;');
    if (usesTbl) emit('  let tbl: FieldTable | ProtocolError;');
    if (body.some((l) => l.startsWith('bits ='))) emit('  let bits: number;');
    for (const l of body) emit(`  ${l}`);
    if (!body.length) emit('  void b;');
    emit(`  if (o !== end) return malformed(${cls.index}, ${m.index});`);
    const fieldsText = names
      .map((n) => (local(n) === camel(n) ? `, ${camel(n)}` : `, ${camel(n)}: ${local(n)}`))
      .join('');
    emit(`  return { id: ${cls.index * 65536 + m.index}${fieldsText} };`, '}', '');
  }
  emit('/**');
  emit(' * Decodes a method frame payload (class-id, method-id, arguments) from b[start, end).');
  emit(' * Unknown ids and truncated or malformed arguments come back as a ProtocolError, never a throw.');
  emit(' */');
  emit('export function decodeMethod(b: Buffer, start: number, end: number): Method | ProtocolError {');
  emit(
    '  if (start + 4 > end) return new ProtocolError(ReplyCode.FRAME_ERROR, "FRAME_ERROR - method frame too short", 0, 0);',
  );
  emit('  const classId = b.readUInt16BE(start);', '  const methodId = b.readUInt16BE(start + 2);');
  emit('  const o = start + 4;', '  switch (classId * 65536 + methodId) {');
  for (const { cls, m, iface } of all) {
    emit(`    case ${cls.index * 65536 + m.index}:`, `      return decode${iface}(b, o, end);`);
  }
  emit('    default:');
  emit(
    '      return new ProtocolError(ReplyCode.COMMAND_INVALID, `COMMAND_INVALID - unknown method: class ${classId}, method ${methodId}`, classId, methodId);',
  );
  emit('  }', '}', '');

  // Writers
  for (const { cls, m, iface, fields } of all) {
    const params = fields.map((f) => `${local(f.name)}: ${encodeTsType[f.type]}`);
    emit(`/** Writes a ${cls.name}.${m.name} method frame. */`);
    emit(
      `export function write${iface}(w: FrameWriter, channel: number${params.map((p) => `, ${p}`).join('')}): void {`,
    );
    emit(`  w.beginMethod(channel, ${cls.index}, ${m.index});`);
    for (const g of groupFields(m.fields)) {
      if (g.bits) {
        const parts = g.bits
          .map((f, i) => (f.reserved ? null : `(${local(f.name)} ? ${1 << i} : 0)`))
          .filter(Boolean);
        emit(`  w.u8(${parts.length ? parts.join(' | ') : '0'});`);
      } else if (g.field.reserved) {
        for (const l of encodeField(g.field, reservedValue[g.field.type])) emit(`  ${l}`);
      } else {
        for (const l of encodeField(g.field, local(g.field.name))) emit(`  ${l}`);
      }
    }
    emit('  w.endFrame();', '}', '');
  }
  emit(
    '/** Writes any method frame; the per-method writers above avoid building the object on hot paths. */',
  );
  emit('export function writeMethod(w: FrameWriter, channel: number, m: Method): void {');
  emit('  switch (m.id) {');
  for (const { iface, fields } of all) {
    const args = fields.map((f) => `m.${camel(f.name)}`);
    emit(`    case MethodId.${iface}:`);
    emit(`      write${iface}(w, channel${args.map((a) => `, ${a}`).join('')});`, '      return;');
  }
  emit(
    '    default:',
    '      throw new Error(`writeMethod: unknown method ${(m as { id: number }).id}`);',
    '  }',
    '}',
    '',
  );

  // Basic properties
  const basic = classes.find((c) => c.name === 'basic');
  emit('/** The basic content-header properties, in flag order (bit 15 first). */');
  emit('export interface BasicProperties {');
  for (const p of basic.properties) emit(`  ${camel(p.name)}?: ${tsType[p.type]};`);
  emit('}', '');
  emit('export const BASIC_PROPERTY_NAMES = [');
  for (const p of basic.properties) emit(`  '${camel(p.name)}',`);
  emit('] as const;', '');
  emit(
    'function bad(): ProtocolError {',
    "  return new ProtocolError(ReplyCode.FRAME_ERROR, 'FRAME_ERROR - malformed content header properties', 60, 0);",
    '}',
    '',
    '/** Decodes raw property bytes (flags and values, as in a content header after body-size). */',
    'export function decodeBasicProperties(b: Buffer, start = 0, end = b.length): BasicProperties | ProtocolError {',
    '  let o = start;',
    '  let len: number;',
    '  let tbl: FieldTable | ProtocolError;',
    '  if (o + 2 > end) return bad();',
    '  const flags = b.readUInt16BE(o);',
    '  o += 2;',
    '  // Continuation flag (bit 0): RabbitMQ clients never set it for basic; more flag words are skipped.',
    '  let more = flags & 1;',
    '  while (more) {',
    '    if (o + 2 > end) return bad();',
    '    more = b.readUInt16BE(o) & 1;',
    '    o += 2;',
    '  }',
    '  const p: BasicProperties = {};',
  );
  basic.properties.forEach((prop, i) => {
    const bit = 1 << (15 - i);
    emit(`  if (flags & ${bit}) {`);
    const lines = decodeField(prop, `p.${camel(prop.name)} =`, basic, { index: 0 }).map((l) =>
      l.replace('return malformed(60, 0)', 'return bad()'),
    );
    for (const l of lines) emit(`    ${l}`);
    emit('  }');
  });
  emit('  return p;', '}', '');
  emit(
    '/** Writes raw property bytes (flags and values) for a content header. */',
    'export function writeBasicProperties(w: FrameWriter, p: BasicProperties): void {',
    '  let flags = 0;',
  );
  basic.properties.forEach((prop, i) => {
    emit(`  if (p.${camel(prop.name)} !== undefined) flags |= ${1 << (15 - i)};`);
  });
  emit('  w.u16(flags);');
  basic.properties.forEach((prop) => {
    const v = `p.${camel(prop.name)}`;
    emit(`  if (${v} !== undefined) ${encodeField(prop, v)[0]}`);
  });
  emit('}', '');
  return `${out.join('\n')}\n`;
}

const isMain = process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  const text = generate(readFileSync(specPath, 'utf8'));
  if (process.argv.includes('--check')) {
    const current = readFileSync(outPath, 'utf8');
    if (current !== text) {
      console.error('src/protocol/spec.ts differs from the generator output: run npm run gen:spec');
      process.exit(1);
    }
  } else {
    writeFileSync(outPath, text);
    console.log(`wrote ${outPath}`);
  }
}
