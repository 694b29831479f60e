import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Deque } from '../../../src/broker/queue/deque.js';

describe('Deque', () => {
  it('behaves like an array under any sequence of operations, marks included', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('push' as const), value: fc.integer(), marked: fc.boolean() }),
      fc.record({ kind: fc.constant('unshift' as const), value: fc.integer(), marked: fc.boolean() }),
      fc.record({ kind: fc.constant('shift' as const) }),
      fc.record({ kind: fc.constant('pop' as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const d = new Deque<number>(2);
        const model: { value: number; marked: boolean }[] = [];
        for (const o of ops) {
          switch (o.kind) {
            case 'push':
              d.push(o.value, o.marked);
              model.push({ value: o.value, marked: o.marked });
              break;
            case 'unshift':
              d.unshift(o.value, o.marked);
              model.unshift({ value: o.value, marked: o.marked });
              break;
            case 'shift': {
              const m = model.shift();
              expect(d.shift()).toBe(m?.value);
              expect(d.shiftedMarked).toBe(m?.marked ?? false);
              break;
            }
            case 'pop':
              expect(d.pop()).toBe(model.pop()?.value);
              break;
          }
          expect(d.length).toBe(model.length);
        }
        const values = model.map((m) => m.value);
        expect([...d]).toEqual(values);
        expect(d.peek()).toBe(values[0]);
        expect(d.peekBack()).toBe(values[values.length - 1]);
        for (let i = 0; i < model.length; i++) {
          expect(d.at(i)).toBe(values[i]);
          expect(d.markedAt(i)).toBe(model[i].marked);
        }
        expect(d.drain()).toEqual(values);
        expect(d.length).toBe(0);
        // And it works on after a drain, its marks gone.
        for (let i = 0; i < 20; i++) d.push(i);
        d.unshift(-1, true);
        expect(d.shift()).toBe(-1);
        expect(d.shiftedMarked).toBe(true);
        expect([...d]).toEqual(Array.from({ length: 20 }, (_, i) => i));
        for (let i = 0; i < 20; i++) expect(d.markedAt(i)).toBe(false);
      }),
      { numRuns: 200 },
    );
  });
});
