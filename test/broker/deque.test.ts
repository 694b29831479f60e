import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Deque } from '../../src/broker/deque.js';

describe('Deque', () => {
  it('behaves like an array under any sequence of operations', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('push' as const), value: fc.integer() }),
      fc.record({ kind: fc.constant('unshift' as const), value: fc.integer() }),
      fc.record({ kind: fc.constant('shift' as const) }),
      fc.record({ kind: fc.constant('pop' as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const d = new Deque<number>(2);
        const model: number[] = [];
        for (const o of ops) {
          switch (o.kind) {
            case 'push':
              d.push(o.value);
              model.push(o.value);
              break;
            case 'unshift':
              d.unshift(o.value);
              model.unshift(o.value);
              break;
            case 'shift':
              expect(d.shift()).toBe(model.shift());
              break;
            case 'pop':
              expect(d.pop()).toBe(model.pop());
              break;
          }
          expect(d.length).toBe(model.length);
        }
        expect([...d]).toEqual(model);
        expect(d.peek()).toBe(model[0]);
        expect(d.peekBack()).toBe(model[model.length - 1]);
        for (let i = 0; i < model.length; i++) expect(d.at(i)).toBe(model[i]);
        expect(d.drain()).toEqual(model);
        expect(d.length).toBe(0);
        // And it works on after a drain.
        for (let i = 0; i < 20; i++) d.push(i);
        d.unshift(-1);
        expect(d.shift()).toBe(-1);
        expect([...d]).toEqual(Array.from({ length: 20 }, (_, i) => i));
      }),
      { numRuns: 200 },
    );
  });

  it('filter keeps order and returns what it removed', () => {
    const d = new Deque<number>();
    for (let i = 0; i < 10; i++) d.push(i);
    expect(d.filter((x) => x % 3 !== 0)).toEqual([0, 3, 6, 9]);
    expect([...d]).toEqual([1, 2, 4, 5, 7, 8]);
  });
});
