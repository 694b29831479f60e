// Durable definitions (exchanges, queues, bindings) as the JSON document the store keeps, and back.
// Argument tables are kept as the AMQP bytes of the table (base64), so every value keeps its wire type.
//
// Format, version 1:
//   { "version": 1, "vhosts": [ { "name": "/",
//       "exchanges": [ { "name", "type", "autoDelete", "internal", "arguments" } ],
//       "queues":    [ { "name", "autoDelete", "arguments" } ],
//       "bindings":  [ { "source", "destinationKind": "queue" | "exchange", "destination", "routingKey", "arguments" } ] } ] }
import { decodeTable, type FieldTable, ProtocolError, tableSize, writeTable } from '../protocol/index.js';
import type { Exchange } from './exchange/exchange.js';
import type { Queue } from './queue.js';
import type { VirtualHost } from './vhost.js';

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

export function exportDefinitions(vhosts: Iterable<VirtualHost>): Definitions {
  const out: Definitions = { version: DEFINITIONS_VERSION, vhosts: [] };
  for (const v of vhosts) {
    const d: VhostDefinitions = { name: v.name, exchanges: [], queues: [], bindings: [] };
    for (const x of v.exchanges.values()) {
      if (isDurable(x)) {
        d.exchanges.push({
          name: x.name,
          type: x.type,
          autoDelete: x.autoDelete,
          internal: x.internal,
          arguments: tableToText(x.arguments_),
        });
      }
      for (const b of x.bindings.values()) {
        // A binding is durable when both ends are (the amq.* exchanges are durable and predeclared).
        const sourceDurable = x.durable && x.name !== '';
        const destinationDurable =
          b.destination.kind === 'queue' ? isDurable(b.destination) : b.destination.durable;
        if (!sourceDurable || !destinationDurable) continue;
        d.bindings.push({
          source: x.name,
          destinationKind: b.destination.kind,
          destination: b.destination.name,
          routingKey: b.routingKey,
          arguments: tableToText(b.arguments),
        });
      }
    }
    for (const q of v.queues.values()) {
      if (isDurable(q))
        d.queues.push({ name: q.name, autoDelete: q.autoDelete, arguments: tableToText(q.arguments_) });
    }
    out.vhosts.push(d);
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
