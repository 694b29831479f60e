// Durable definitions (exchanges, queues, bindings) as the JSON document the store keeps, the changes
// the store appends after it, and back. Argument tables are kept as the AMQP bytes of the table
// (base64), so every value keeps its wire type.
//
// Format, version 1:
//   { "version": 1, "vhosts": [ { "name": "/",
//       "exchanges": [ { "name", "type", "autoDelete", "internal", "arguments" } ],
//       "queues":    [ { "name", "autoDelete", "arguments" } ],
//       "bindings":  [ { "source", "destinationKind": "queue" | "exchange", "destination", "routingKey", "arguments" } ] } ] }
//
// A change (DefinitionChange) is one of these objects with "op" and "vhost" added: op "exchange",
// "queue" or "bind" adds (or replaces) one, op "delete-exchange" or "delete-queue" removes one by name
// with every binding it is an end of, op "unbind" removes one binding.
import { decodeTable, type FieldTable, ProtocolError, tableSize, writeTable } from '../protocol/index.js';
import type { Binding, Exchange } from './exchange/exchange.js';
import type { Queue } from './queue/queue.js';
import { canonical, type VirtualHost } from './vhost.js';

export const DEFINITIONS_VERSION = 1;

interface ExchangeDefinition {
  name: string;
  type: string;
  autoDelete: boolean;
  internal: boolean;
  arguments: string;
}

interface QueueDefinition {
  name: string;
  autoDelete: boolean;
  arguments: string;
}

interface BindingDefinition {
  source: string;
  destinationKind: 'queue' | 'exchange';
  destination: string;
  routingKey: string;
  arguments: string;
}

interface VhostDefinitions {
  name: string;
  exchanges: ExchangeDefinition[];
  queues: QueueDefinition[];
  bindings: BindingDefinition[];
}

export interface Definitions {
  version: number;
  vhosts: VhostDefinitions[];
}

/** One change to the durable definitions, as the store appends it (see the format above). */
export type DefinitionChange =
  | ({ op: 'exchange'; vhost: string } & ExchangeDefinition)
  | { op: 'delete-exchange'; vhost: string; name: string }
  | ({ op: 'queue'; vhost: string } & QueueDefinition)
  | { op: 'delete-queue'; vhost: string; name: string }
  | ({ op: 'bind' | 'unbind'; vhost: string } & BindingDefinition);

function tableToText(t: FieldTable): string {
  const b = Buffer.allocUnsafe(4 + tableSize(t));
  writeTable(b, 0, t);
  return b.toString('base64');
}

function textToTable(text: string): FieldTable {
  const b = Buffer.from(text, 'base64');
  const t = decodeTable(b, 0, b.length);
  if (t instanceof ProtocolError) throw new Error(`definitions: unreadable arguments table (${t.replyText})`);
  return t;
}

/** Whether an exchange or queue outlives a restart (exclusive queues never do, as in RabbitMQ). */
export function isDurable(x: Exchange | Queue): boolean {
  if (x.kind === 'queue') return x.durable && x.exclusiveOwner === undefined;
  return x.durable && x.name !== '' && !x.name.startsWith('amq.');
}

/** Whether a binding outlives a restart: both ends do (the amq.* exchanges are durable and predeclared). */
export function isDurableBinding(b: Binding): boolean {
  const sourceDurable = b.source.durable && b.source.name !== '';
  const destinationDurable =
    b.destination.kind === 'queue' ? isDurable(b.destination) : b.destination.durable;
  return sourceDurable && destinationDurable;
}

export function exchangeDefinition(x: Exchange): ExchangeDefinition {
  return {
    name: x.name,
    type: x.type,
    autoDelete: x.autoDelete,
    internal: x.internal,
    arguments: tableToText(x.arguments_),
  };
}

export function queueDefinition(q: Queue): QueueDefinition {
  return { name: q.name, autoDelete: q.autoDelete, arguments: tableToText(q.arguments_) };
}

export function bindingDefinition(b: Binding): BindingDefinition {
  return {
    source: b.source.name,
    destinationKind: b.destination.kind,
    destination: b.destination.name,
    routingKey: b.routingKey,
    arguments: tableToText(b.arguments),
  };
}

export function exportDefinitions(vhosts: Iterable<VirtualHost>): Definitions {
  const out: Definitions = { version: DEFINITIONS_VERSION, vhosts: [] };
  for (const v of vhosts) {
    const d: VhostDefinitions = { name: v.name, exchanges: [], queues: [], bindings: [] };
    for (const x of v.exchanges.values()) {
      if (isDurable(x)) d.exchanges.push(exchangeDefinition(x));
      for (const b of x.bindings.values()) if (isDurableBinding(b)) d.bindings.push(bindingDefinition(b));
    }
    for (const q of v.queues.values()) if (isDurable(q)) d.queues.push(queueDefinition(q));
    out.vhosts.push(d);
  }
  return out;
}

/** How many exchanges, queues and bindings a definitions document holds. */
export function definitionCount(defs: Definitions): number {
  let n = 0;
  for (const d of defs.vhosts) n += d.exchanges.length + d.queues.length + d.bindings.length;
  return n;
}

/** A binding's identity, as the vhost's: its ends, routing key and arguments (in any key order). */
function bindingKey(b: BindingDefinition): string {
  return `${b.source}\u0000${b.destinationKind}\u0000${b.destination}\u0000${b.routingKey}\u0000${canonical(textToTable(b.arguments))}`;
}

/** One vhost's definitions while changes are applied: bindings indexed by their ends too. */
class WorkingVhost {
  readonly exchanges = new Map<string, ExchangeDefinition>();
  readonly queues = new Map<string, QueueDefinition>();
  readonly bindings = new Map<string, BindingDefinition>();
  /** Binding keys by end: "s\0<source>", "queue\0<name>" and "exchange\0<name>" for destinations. */
  private readonly byEnd = new Map<string, Set<string>>();

  bind(b: BindingDefinition): void {
    const key = bindingKey(b);
    this.bindings.set(key, b);
    this.index(`s\u0000${b.source}`, key);
    this.index(`${b.destinationKind}\u0000${b.destination}`, key);
  }

  unbind(key: string): void {
    const b = this.bindings.get(key);
    if (!b) return;
    this.bindings.delete(key);
    this.byEnd.get(`s\u0000${b.source}`)?.delete(key);
    this.byEnd.get(`${b.destinationKind}\u0000${b.destination}`)?.delete(key);
  }

  /** Removes every binding with this end (a deleted exchange or queue), in time of its count of them. */
  unbindEnd(end: string): void {
    const keys = this.byEnd.get(end);
    if (!keys) return;
    for (const key of [...keys]) this.unbind(key);
    this.byEnd.delete(end);
  }

  private index(end: string, key: string): void {
    let keys = this.byEnd.get(end);
    if (!keys) {
      keys = new Set();
      this.byEnd.set(end, keys);
    }
    keys.add(key);
  }
}

/**
 * The definitions document with the changes applied in order (undefined for none stored yet). Changes
 * of a vhost the document does not name add it.
 */
export function applyDefinitionChanges(
  defs: Definitions | undefined,
  changes: readonly DefinitionChange[],
): Definitions {
  const vhosts = new Map<string, WorkingVhost>();
  const working = (name: string): WorkingVhost => {
    let w = vhosts.get(name);
    if (!w) {
      w = new WorkingVhost();
      vhosts.set(name, w);
    }
    return w;
  };
  if (defs) {
    if (defs.version !== DEFINITIONS_VERSION) {
      throw new Error(
        `definitions: unsupported version ${defs.version} (this warren reads ${DEFINITIONS_VERSION})`,
      );
    }
    for (const d of defs.vhosts) {
      const w = working(d.name);
      for (const x of d.exchanges) w.exchanges.set(x.name, x);
      for (const q of d.queues) w.queues.set(q.name, q);
      for (const b of d.bindings) w.bind(b);
    }
  }
  for (const c of changes) {
    const w = working(c.vhost);
    switch (c.op) {
      case 'exchange':
        w.exchanges.set(c.name, {
          name: c.name,
          type: c.type,
          autoDelete: c.autoDelete,
          internal: c.internal,
          arguments: c.arguments,
        });
        break;
      case 'queue':
        w.queues.set(c.name, { name: c.name, autoDelete: c.autoDelete, arguments: c.arguments });
        break;
      case 'bind':
      case 'unbind': {
        const b: BindingDefinition = {
          source: c.source,
          destinationKind: c.destinationKind,
          destination: c.destination,
          routingKey: c.routingKey,
          arguments: c.arguments,
        };
        if (c.op === 'bind') w.bind(b);
        else w.unbind(bindingKey(b));
        break;
      }
      case 'delete-exchange':
        w.exchanges.delete(c.name);
        w.unbindEnd(`s\u0000${c.name}`);
        w.unbindEnd(`exchange\u0000${c.name}`);
        break;
      case 'delete-queue':
        w.queues.delete(c.name);
        w.unbindEnd(`queue\u0000${c.name}`);
        break;
      default:
        throw new Error(`definitions: unknown change ${JSON.stringify((c as { op?: unknown }).op)}`);
    }
  }
  const out: Definitions = { version: DEFINITIONS_VERSION, vhosts: [] };
  for (const [name, w] of vhosts) {
    out.vhosts.push({
      name,
      exchanges: [...w.exchanges.values()],
      queues: [...w.queues.values()],
      bindings: [...w.bindings.values()],
    });
  }
  return out;
}

/** Recreates the durable exchanges, queues and bindings of a definitions document in their vhosts. */
export function importDefinitions(
  defs: Definitions,
  vhostNamed: (name: string) => VirtualHost | undefined,
): string[] {
  const problems: string[] = [];
  if (defs.version !== DEFINITIONS_VERSION) {
    throw new Error(
      `definitions: unsupported version ${defs.version} (this warren reads ${DEFINITIONS_VERSION})`,
    );
  }
  for (const d of defs.vhosts) {
    const v = vhostNamed(d.name);
    if (!v) {
      problems.push(`vhost '${d.name}' is not configured: its definitions were not loaded`);
      continue;
    }
    for (const x of d.exchanges)
      v.restoreExchange(x.name, x.type, x.autoDelete, x.internal, textToTable(x.arguments));
    for (const q of d.queues) v.restoreQueue(q.name, q.autoDelete, textToTable(q.arguments));
    for (const b of d.bindings) {
      const err = v.restoreBinding(
        b.source,
        b.destinationKind,
        b.destination,
        b.routingKey,
        textToTable(b.arguments),
      );
      if (err) problems.push(err);
    }
  }
  return problems;
}
