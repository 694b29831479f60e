import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { extensionsPath, generate, outPath, parseSpec, specPath } from '../../scripts/gen-spec.mjs';
import * as spec from '../../src/protocol/spec.js';

const xml = readFileSync(specPath, 'utf8');
const parsed = parseSpec(xml);
const pascal = (s: string) =>
  s
    .split(/[-.]/)
    .map((p) => p[0].toUpperCase() + p.slice(1))
    .join('');
const camel = (s: string) => {
  const p = pascal(s);
  return p[0].toLowerCase() + p.slice(1);
};

describe('spec.ts generation', () => {
  it('the committed spec.ts is what the generator writes from the XML', () => {
    expect(readFileSync(outPath, 'utf8')).toBe(generate(xml, readFileSync(extensionsPath, 'utf8')));
  });

  it('merges the RabbitMQ extensions the stripped spec lacks', () => {
    expect(spec.MethodId.ConnectionBlocked).toBe((10 << 16) | 60);
    expect(spec.MethodId.ConnectionUnblocked).toBe((10 << 16) | 61);
    expect(spec.MethodId.ConnectionUpdateSecret).toBe((10 << 16) | 70);
    expect(spec.MethodId.ConnectionUpdateSecretOk).toBe((10 << 16) | 71);
    expect(spec.ReplyCode.NO_ROUTE).toBe(312);
    expect(spec.HARD_ERROR_CODES.has(312)).toBe(false);
  });

  it('has one MethodId per method of the XML, numbered class-id * 65536 + method-id', () => {
    const fromXml: Record<string, number> = {};
    for (const c of parsed.classes)
      for (const m of c.methods) fromXml[pascal(c.name) + pascal(m.name)] = c.index * 65536 + m.index;
    expect(spec.MethodId).toEqual(fromXml);
    const count = Object.keys(spec.MethodId).length;
    expect(count).toBeGreaterThanOrEqual(55);
    expect(count).toBeLessThanOrEqual(70);
  });

  it('names and classifies methods as the XML does', () => {
    for (const c of parsed.classes) {
      expect(spec.ClassId[c.name as keyof typeof spec.ClassId]).toBe(c.index);
      for (const m of c.methods) {
        expect(spec.methodName(c.index, m.index)).toBe(`${c.name}.${m.name}`);
        expect(spec.methodHasContent(c.index, m.index)).toBe(m.content);
      }
    }
    expect(spec.methodName(10, 12)).toBeUndefined();
  });

  it('knows the well-known ids', () => {
    expect(spec.MethodId.ConnectionStart).toBe((10 << 16) | 10);
    expect(spec.MethodId.BasicPublish).toBe((60 << 16) | 40);
    expect(spec.MethodId.BasicDeliver).toBe((60 << 16) | 60);
    expect(spec.MethodId.ExchangeUnbindOk).toBe((40 << 16) | 51);
    expect(spec.MethodId.ConfirmSelect).toBe((85 << 16) | 10);
    expect(spec.MethodId.BasicNack).toBe((60 << 16) | 120);
  });

  it('has the frame constants and reply codes of the XML', () => {
    const value = (name: string) => Number(parsed.constants.find((c) => c.name === name)?.value);
    expect(spec.FRAME_METHOD).toBe(value('frame-method'));
    expect(spec.FRAME_HEADER).toBe(value('frame-header'));
    expect(spec.FRAME_BODY).toBe(value('frame-body'));
    expect(spec.FRAME_HEARTBEAT).toBe(value('frame-heartbeat'));
    expect(spec.FRAME_END).toBe(206);
    expect(spec.FRAME_MIN_SIZE).toBe(4096);
    for (const c of parsed.constants.filter((c) => c.class)) {
      const name = c.name.toUpperCase().replace(/-/g, '_');
      expect(spec.ReplyCode[name as keyof typeof spec.ReplyCode]).toBe(Number(c.value));
      expect(spec.replyCodeName(Number(c.value))).toBe(name);
      expect(spec.HARD_ERROR_CODES.has(Number(c.value))).toBe(c.class === 'hard-error');
    }
    expect(spec.replyCodeName(999)).toBe('UNKNOWN');
  });

  it('lists the 14 basic properties in flag order', () => {
    const basic = parsed.classes.find((c) => c.name === 'basic');
    expect(basic?.properties.map((p) => camel(p.name))).toEqual([...spec.BASIC_PROPERTY_NAMES]);
    expect(spec.BASIC_PROPERTY_NAMES).toHaveLength(14);
  });
});
