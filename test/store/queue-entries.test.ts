import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_ENTRY_VALUE, QueueEntries } from '../../src/store/queue-entries.js';

function contents(entries: QueueEntries): [number, number][] {
  const seen: [number, number][] = [];
  entries.forEach((id, value) => {
    seen.push([id, value]);
  });
  return seen;
}

describe('QueueEntries', () => {
  it('keeps entries in id order through appends, FIFO and random removes, and growth', () => {
    const entries = new QueueEntries();
    const value = (id: number): number => id % (MAX_ENTRY_VALUE + 1);
    for (let id = 1; id <= 1000; id++) expect(entries.add(id, value(id))).toBe(true);
    expect(entries.add(500, 0)).toBe(false);
    for (let id = 1; id <= 400; id++) expect(entries.delete(id)).toBe(value(id));
    for (let id = 402; id <= 1000; id += 2) expect(entries.delete(id)).toBe(value(id));
    expect(entries.delete(402)).toBe(-1);
    expect(entries.delete(5000)).toBe(-1);
    entries.set(401, MAX_ENTRY_VALUE);
    expect(entries.get(401)).toBe(MAX_ENTRY_VALUE);
    expect(entries.get(402)).toBe(-1);
    expect(entries.size).toBe(300);
    for (let id = 1001; id <= 3000; id++) entries.add(id, 0);
    const ids = contents(entries).map(([id]) => id);
    expect(ids.slice(0, 3)).toEqual([401, 403, 405]);
    expect(ids).toHaveLength(2300);
    expect(entries.size).toBe(2300);
  });

  it('behaves like a sorted map under any sequence of operations', () => {
    const operation = fc.oneof(
      fc.record({ op: fc.constant('append' as const), step: fc.integer({ min: 1, max: 3 }) }),
      fc.record({ op: fc.constant('add' as const), id: fc.integer({ min: 1, max: 200 }) }),
      fc.record({ op: fc.constant('delete' as const), id: fc.integer({ min: 1, max: 200 }) }),
      fc.record({ op: fc.constant('deleteHead' as const) }),
      fc.record({ op: fc.constant('set' as const), id: fc.integer({ min: 1, max: 200 }) }),
      fc.record({ op: fc.constant('clear' as const) }),
    );
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 300 }), (operations) => {
        const entries = new QueueEntries();
        const model = new Map<number, number>();
        let last = 0;
        for (const o of operations) {
          switch (o.op) {
            case 'append': {
              last += o.step;
              const value = last % (MAX_ENTRY_VALUE + 1);
              expect(entries.add(last, value)).toBe(!model.has(last));
              if (!model.has(last)) model.set(last, value);
              break;
            }
            case 'add':
              expect(entries.add(o.id, o.id)).toBe(!model.has(o.id));
              if (!model.has(o.id)) model.set(o.id, o.id);
              last = Math.max(last, o.id);
              break;
            case 'delete':
              expect(entries.delete(o.id)).toBe(model.get(o.id) ?? -1);
              model.delete(o.id);
              break;
            case 'deleteHead': {
              const head = [...model.keys()].sort((a, b) => a - b)[0];
              if (head !== undefined) {
                expect(entries.delete(head)).toBe(model.get(head));
                model.delete(head);
              }
              break;
            }
            case 'set':
              entries.set(o.id, 7);
              if (model.has(o.id)) model.set(o.id, 7);
              break;
            case 'clear':
              entries.clear();
              model.clear();
              break;
          }
          expect(entries.size).toBe(model.size);
        }
        const expected = [...model.entries()].sort((a, b) => a[0] - b[0]);
        expect(contents(entries)).toEqual(expected);
        for (const [id, value] of expected) expect(entries.get(id)).toBe(value);
        // A copy: what changes in the queue afterwards does not reach it.
        const copy = entries.toArrays();
        entries.add(last + 1, 1);
        for (const [id] of expected) entries.delete(id);
        expect(Array.from(copy.ids)).toEqual(expected.map(([id]) => id));
        expect(Array.from(copy.values)).toEqual(expected.map(([, value]) => value));
      }),
      { numRuns: 300 },
    );
  });
});
