import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MessageLocations, OFFSET_UNKNOWN } from '../../src/store/message-locations.js';

interface Location {
  segment: number;
  offset: number;
  length: number;
  queues: number;
}

function contents(locations: MessageLocations): [number, Location][] {
  const seen: [number, Location][] = [];
  locations.forEach((slot) => {
    seen.push([
      locations.idAt(slot),
      {
        segment: locations.segmentAt(slot),
        offset: locations.offsetAt(slot),
        length: locations.lengthAt(slot),
        queues: locations.queuesAt(slot),
      },
    ]);
  });
  return seen;
}

describe('MessageLocations', () => {
  it('keeps where each live message is through appends, FIFO releases, shared messages and growth', () => {
    const locations = new MessageLocations();
    for (let id = 1; id <= 1000; id++)
      locations.add(id, id >> 6, id * 100, 60 + (id % 7), id % 3 === 0 ? 2 : 1);
    for (let id = 1; id <= 300; id++) {
      expect(locations.release(id)).toBe(id % 3 === 0 ? -1 : id >> 6);
    }
    expect(locations.size).toBe(800);
    // The shared ones are still there, once.
    const slot = locations.find(3);
    expect(locations.offsetAt(slot)).toBe(300);
    expect(locations.release(3)).toBe(0);
    expect(locations.find(3)).toBe(-1);
    expect(locations.release(3)).toBe(-1);
    expect(locations.release(5000)).toBe(-1);
    // Offsets and lengths up to 32 bits, the largest offset just below OFFSET_UNKNOWN.
    for (let id = 1001; id <= 5000; id++)
      locations.add(id, 99, OFFSET_UNKNOWN - 1 - (5000 - id), 0xffff_ffff, 1);
    const last = locations.find(5000);
    expect(locations.offsetAt(last)).toBe(0xffff_fffe);
    expect(locations.placed(last)).toBe(true);
    expect(locations.lengthAt(last)).toBe(0xffff_ffff);
    expect(locations.size).toBe(799 + 4000);
  });

  it('tells a message whose record is not found yet from a placed one, through growth', () => {
    const locations = new MessageLocations();
    for (let id = 1; id <= 100; id++) locations.add(id, 1, id % 2 === 0 ? OFFSET_UNKNOWN : id * 64, 0, 1);
    for (let id = 1; id <= 100; id++) expect(locations.placed(locations.find(id))).toBe(id % 2 === 1);
    const slot = locations.find(50);
    locations.setPosition(slot, 3, 0, 40);
    expect(locations.placed(slot)).toBe(true);
    expect(locations.offsetAt(slot)).toBe(0);
  });

  it('behaves like a sorted map under any sequence of operations', () => {
    const operation = fc.oneof(
      fc.record({
        op: fc.constant('append' as const),
        step: fc.integer({ min: 1, max: 3 }),
        queues: fc.integer({ min: 1, max: 3 }),
      }),
      fc.record({ op: fc.constant('add' as const), id: fc.integer({ min: 1, max: 200 }) }),
      fc.record({ op: fc.constant('release' as const), id: fc.integer({ min: 1, max: 200 }) }),
      fc.record({ op: fc.constant('releaseHead' as const) }),
      fc.record({ op: fc.constant('addQueues' as const), id: fc.integer({ min: 1, max: 200 }) }),
      fc.record({ op: fc.constant('setPosition' as const), id: fc.integer({ min: 1, max: 200 }) }),
      fc.record({ op: fc.constant('removeSlot' as const), id: fc.integer({ min: 1, max: 200 }) }),
    );
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 300 }), (operations) => {
        const locations = new MessageLocations();
        const model = new Map<number, Location>();
        let last = 0;
        const add = (id: number, queues: number): void => {
          const location = { segment: (id % 5) + 1, offset: id * 10, length: id + 12, queues };
          locations.add(id, location.segment, location.offset, location.length, queues);
          model.set(id, location);
        };
        for (const o of operations) {
          switch (o.op) {
            case 'append':
              last += o.step;
              if (!model.has(last)) add(last, o.queues);
              break;
            case 'add':
              if (!model.has(o.id)) add(o.id, 1);
              last = Math.max(last, o.id);
              break;
            case 'release': {
              const location = model.get(o.id);
              const gone = location !== undefined && location.queues === 1;
              expect(locations.release(o.id)).toBe(gone ? location.segment : -1);
              if (gone) model.delete(o.id);
              else if (location !== undefined) location.queues--;
              break;
            }
            case 'releaseHead': {
              const head = [...model.keys()].sort((a, b) => a - b)[0];
              if (head !== undefined) {
                const location = model.get(head) as Location;
                locations.release(head);
                if (--location.queues === 0) model.delete(head);
              }
              break;
            }
            case 'addQueues': {
              const slot = locations.find(o.id);
              expect(slot >= 0).toBe(model.has(o.id));
              if (slot >= 0) {
                locations.addQueues(slot, 2);
                (model.get(o.id) as Location).queues += 2;
              }
              break;
            }
            case 'setPosition': {
              const slot = locations.find(o.id);
              if (slot >= 0) {
                locations.setPosition(slot, 7, 1234, 56);
                Object.assign(model.get(o.id) as Location, { segment: 7, offset: 1234, length: 56 });
              }
              break;
            }
            case 'removeSlot': {
              const slot = locations.find(o.id);
              if (slot >= 0) {
                locations.removeSlot(slot);
                model.delete(o.id);
              }
              break;
            }
          }
          expect(locations.size).toBe(model.size);
        }
        const expected = [...model.entries()].sort((a, b) => a[0] - b[0]);
        expect(contents(locations)).toEqual(expected);
        for (const [id, location] of expected) {
          const slot = locations.find(id);
          expect(locations.idAt(slot)).toBe(id);
          expect(locations.offsetAt(slot)).toBe(location.offset);
        }
        // The segments of any increasing list of ids in one pass; 0 for one not live.
        const some = Float64Array.from(
          [...new Set([...expected.filter((_, i) => i % 3 !== 1).map(([id]) => id), 0.5, last + 1])].sort(
            (a, b) => a - b,
          ),
        );
        expect(Array.from(locations.segmentsOf(some))).toEqual(
          Array.from(some, (id) => model.get(id)?.segment ?? 0),
        );
      }),
      { numRuns: 300 },
    );
  });
});
