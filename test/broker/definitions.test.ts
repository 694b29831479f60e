// The stored definitions' changes, replayed onto the last whole save at a restart.
import { describe, expect, it } from 'vitest';
import { applyDefinitionChanges, type DefinitionChange } from '../../src/broker/definitions.js';
import { type FieldTable, tableSize, writeTable } from '../../src/protocol/index.js';

function args(t: FieldTable): string {
  const b = Buffer.allocUnsafe(4 + tableSize(t));
  writeTable(b, 0, t);
  return b.toString('base64');
}

const none = args({});
const exchange = (name: string): DefinitionChange => ({
  op: 'exchange',
  vhost: '/',
  name,
  type: 'direct',
  autoDelete: false,
  internal: false,
  arguments: none,
});
const queue = (name: string): DefinitionChange => ({
  op: 'queue',
  vhost: '/',
  name,
  autoDelete: false,
  arguments: none,
});
const binding = (
  op: 'bind' | 'unbind',
  source: string,
  destinationKind: 'queue' | 'exchange',
  destination: string,
  routingKey: string,
  table: FieldTable = {},
): DefinitionChange => ({
  op,
  vhost: '/',
  source,
  destinationKind,
  destination,
  routingKey,
  arguments: args(table),
});

describe('applying stored definition changes', () => {
  it('adds, replaces and removes, and a deleted exchange or queue takes its bindings with it', () => {
    const result = applyDefinitionChanges(undefined, [
      exchange('x'),
      exchange('x2'),
      queue('q1'),
      queue('q2'),
      binding('bind', 'x', 'queue', 'q1', 'a'),
      binding('bind', 'x', 'queue', 'q2', 'b', { one: 1, two: 'two' }),
      binding('bind', 'x', 'queue', 'q2', 'c'),
      binding('bind', 'x2', 'exchange', 'x', 'e'),
      binding('bind', 'amq.direct', 'queue', 'q1', 'k'),
      // Deleted with the binding to it, then declared again: bound to nothing.
      { op: 'delete-queue', vhost: '/', name: 'q1' },
      queue('q1'),
      // Arguments in another key order name the same binding.
      binding('unbind', 'x', 'queue', 'q2', 'b', { two: 'two', one: 1 }),
      // The exchange-to-exchange binding goes with its destination.
      { op: 'delete-exchange', vhost: '/', name: 'x' },
      exchange('x'),
      { op: 'queue', vhost: 'other', name: 'q', autoDelete: true, arguments: none },
    ]);
    expect(result).toEqual({
      version: 1,
      vhosts: [
        {
          name: '/',
          exchanges: [exchange('x2'), exchange('x')].map(({ op: _, vhost: __, ...d }) => d),
          queues: [
            { name: 'q2', autoDelete: false, arguments: none },
            { name: 'q1', autoDelete: false, arguments: none },
          ],
          bindings: [],
        },
        {
          name: 'other',
          exchanges: [],
          queues: [{ name: 'q', autoDelete: true, arguments: none }],
          bindings: [],
        },
      ],
    });
  });

  it('starts from the whole save, and keeps what no change touches', () => {
    const saved = applyDefinitionChanges(undefined, [
      exchange('x'),
      queue('q'),
      binding('bind', 'x', 'queue', 'q', 'kept'),
      binding('bind', 'x', 'queue', 'q', 'dropped'),
    ]);
    const result = applyDefinitionChanges(saved, [
      binding('unbind', 'x', 'queue', 'q', 'dropped'),
      queue('r'),
    ]);
    expect(result.vhosts[0].queues.map((q) => q.name)).toEqual(['q', 'r']);
    expect(result.vhosts[0].bindings.map((b) => b.routingKey)).toEqual(['kept']);
  });
});
