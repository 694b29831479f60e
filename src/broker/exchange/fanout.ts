// Fanout exchange: a message goes to every binding, whatever its routing key.
import type { Message } from '../message.js';
import { type Binding, type Destination, Exchange, type RouteCollector } from './exchange.js';

export class FanoutExchange extends Exchange {
  readonly type = 'fanout';
  private readonly destinations: Destination[] = [];

  addRoute(binding: Binding): void {
    if (!this.destinations.includes(binding.destination)) this.destinations.push(binding.destination);
  }

  removeRoute(binding: Binding): void {
    for (const b of this.bindings.values())
      if (b !== binding && b.destination === binding.destination) return;
    const i = this.destinations.indexOf(binding.destination);
    if (i >= 0) this.destinations.splice(i, 1);
  }

  route(message: Message, routingKey: string, out: RouteCollector): void {
    const list = this.destinations;
    for (let i = 0; i < list.length; i++) out.add(list[i], message, routingKey);
  }
}
