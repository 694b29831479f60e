// Direct exchange: a message goes to the bindings whose key equals its routing key.
import type { Message } from '../message.js';
import { type Binding, type Destination, Exchange, type RouteCollector } from './exchange.js';

export class DirectExchange extends Exchange {
  readonly type = 'direct';
  private readonly byKey = new Map<string, Destination[]>();

  addRoute(binding: Binding): void {
    const list = this.byKey.get(binding.routingKey);
    if (list) {
      if (!list.includes(binding.destination)) list.push(binding.destination);
    } else this.byKey.set(binding.routingKey, [binding.destination]);
  }

  removeRoute(binding: Binding): void {
    const list = this.byKey.get(binding.routingKey);
    if (!list) return;
    // Another binding with the same key and destination (other arguments) still routes.
    for (const b of this.bindings.values()) {
      if (b !== binding && b.routingKey === binding.routingKey && b.destination === binding.destination)
        return;
    }
    const i = list.indexOf(binding.destination);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.byKey.delete(binding.routingKey);
  }

  route(message: Message, routingKey: string, out: RouteCollector): void {
    const list = this.byKey.get(routingKey);
    if (!list) return;
    for (let i = 0; i < list.length; i++) out.add(list[i], message, routingKey);
  }
}
