// Headers exchange: bindings match on message headers. x-match `all` (the default) needs every binding
// argument to match, `any` at least one; arguments starting with `x-` are left out unless x-match is
// `all-with-x` or `any-with-x`. A binding argument with no value (void) matches when the header is present.
import { type FieldTable, type FieldValue, TypedValue } from '../../protocol/index.js';
import type { Message } from '../message.js';
import { type Binding, Exchange, type RouteCollector } from './exchange.js';

export class HeadersExchange extends Exchange {
  readonly type = 'headers';
  private readonly routes: Binding[] = [];

  addRoute(binding: Binding): void {
    this.routes.push(binding);
  }

  removeRoute(binding: Binding): void {
    const i = this.routes.indexOf(binding);
    if (i >= 0) this.routes.splice(i, 1);
  }

  route(message: Message, routingKey: string, out: RouteCollector): void {
    if (this.routes.length === 0) return;
    const headers = message.headers ?? {};
    for (const b of this.routes) {
      if (headersMatch(b.arguments, headers)) out.add(b.destination, message, routingKey);
    }
  }
}

export function headersMatch(args: FieldTable, headers: FieldTable): boolean {
  const mode = typeof args['x-match'] === 'string' ? args['x-match'] : 'all';
  const any = mode === 'any' || mode === 'any-with-x';
  const withX = mode === 'all-with-x' || mode === 'any-with-x';
  for (const key in args) {
    if (key === 'x-match') continue;
    if (!withX && key.startsWith('x-')) continue;
    const expected = args[key];
    const ok = key in headers && (expected === null || valuesEqual(expected, headers[key]));
    if (any && ok) return true;
    if (!any && !ok) return false;
  }
  // Every argument matched (`all`), or none did (`any`); with nothing to compare, `all` matches.
  return !any;
}

function plain(v: FieldValue): unknown {
  if (v instanceof TypedValue) return typeof v.value === 'object' ? JSON.stringify(v.value) : Number(v.value);
  if (typeof v === 'bigint') return Number(v);
  if (Buffer.isBuffer(v)) return v.toString('latin1');
  return v;
}

function valuesEqual(a: FieldValue, b: FieldValue): boolean {
  const x = plain(a);
  const y = plain(b);
  if (typeof x === 'object' || typeof y === 'object') return JSON.stringify(x) === JSON.stringify(y);
  return x === y;
}
