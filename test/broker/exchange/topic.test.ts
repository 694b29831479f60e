import { describe, expect, it } from 'vitest';
import { type Binding, RouteCollector } from '../../../src/broker/exchange/exchange.js';
import { TopicExchange } from '../../../src/broker/exchange/topic.js';
import { Message } from '../../../src/broker/message.js';
import type { Queue } from '../../../src/broker/queue/queue.js';

function fakeQueue(name: string): Queue {
  return { kind: 'queue', name, routeEpoch: 0 } as unknown as Queue;
}

function bind(x: TopicExchange, key: string, q: Queue): Binding {
  const b: Binding = { source: x, destination: q, routingKey: key, arguments: {}, argumentsKey: '' };
  x.bindings.set(`${q.name}|${key}`, b);
  x.addRoute(b);
  return b;
}

function route(x: TopicExchange, key: string): string[] {
  const out = new RouteCollector();
  out.begin();
  x.route(new Message('t', key, Buffer.alloc(2), Buffer.alloc(0)), key, out);
  return out.queues.map((q) => q.name).sort();
}

describe('TopicExchange', () => {
  it('matches * and # as RabbitMQ does', () => {
    const x = new TopicExchange('t', '/', false, false, false, {});
    const cases: [string, string[], string[]][] = [
      ['#', ['', 'a', 'a.b', 'a.b.c'], []],
      ['a.*', ['a.b'], ['a', 'a.b.c', 'b.a']],
      ['*.b', ['a.b', '.b'], ['b', 'a.a.b']],
      ['a.#', ['a', 'a.b', 'a.b.c'], ['b.a']],
      ['#.a', ['a', 'b.a', 'c.b.a'], ['a.b']],
      ['a.#.b', ['a.b', 'a.x.b', 'a.x.y.b'], ['a', 'b', 'a.x']],
      ['#.#', ['', 'a', 'a.b'], []],
      ['*.#.*', ['a.b', 'a.b.c'], ['a', '']],
      ['a..b', ['a..b'], ['a.b', 'a.x.b']],
      ['', [''], ['a']],
    ];
    for (const [key, yes, no] of cases) {
      const q = fakeQueue(`q:${key}`);
      const b = bind(x, key, q);
      for (const rk of yes) expect(route(x, rk), `${key} should match '${rk}'`).toContain(q.name);
      for (const rk of no) expect(route(x, rk), `${key} should not match '${rk}'`).not.toContain(q.name);
      x.bindings.delete(`${q.name}|${key}`);
      x.removeRoute(b);
      for (const rk of yes) expect(route(x, rk)).not.toContain(q.name);
    }
  });

  it('a destination bound twice stays routed until its last binding goes', () => {
    const x = new TopicExchange('t', '/', false, false, false, {});
    const q = fakeQueue('q');
    const b1 = bind(x, 'a.*', q);
    const b2 = bind(x, 'a.*', q);
    expect(route(x, 'a.b')).toEqual(['q']);
    x.removeRoute(b1);
    expect(route(x, 'a.b')).toEqual(['q']);
    x.removeRoute(b2);
    expect(route(x, 'a.b')).toEqual([]);
  });
});
