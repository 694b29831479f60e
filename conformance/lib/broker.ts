// The broker under test: AMQP_URL when set, otherwise a warren started in-process once per test file
// and closed when the file's tests are done. Cases that need more than a URL gives (a restart of the
// broker, a second broker) declare it with inProcessOnly(), and are skipped with the reason against a URL.

import t from 'tap';
import { startWarren } from './warren.js';

export { type InProcessWarren, startWarren, type WarrenOptions } from './warren.js';

export interface BrokerUnderTest {
  /** amqp:// URL with the default credentials (guest/guest) and vhost `/`. */
  url: string;
  host: string;
  port: number;
  /** True when the suite runs against AMQP_URL rather than an in-process warren. */
  isExternal: boolean;
}

let pending: Promise<BrokerUnderTest> | undefined;

export function broker(): Promise<BrokerUnderTest> {
  pending ??= resolveBroker();
  return pending;
}

async function resolveBroker(): Promise<BrokerUnderTest> {
  const external = process.env.AMQP_URL;
  if (external) return describe(external, true);
  const started = await startWarren({ port: 0 });
  t.teardown(() => started.close());
  return describe(started.url, false);
}

/** What an in-process-only case needs that a broker given by URL cannot give the suite. */
export type InProcessNeed = 'a restart of the broker' | 'a second broker';

/**
 * tap's `skip` option for a case that needs an in-process warren (to restart it, or to start another):
 * false when the suite runs in-process, otherwise the reason the case is skipped against AMQP_URL.
 */
export function inProcessOnly(need: InProcessNeed): string | false {
  if (!process.env.AMQP_URL) return false;
  return need === 'a restart of the broker'
    ? 'needs a restart of the broker, which the suite can do only to a warren it started itself'
    : 'needs a second broker, which the suite can start only as an in-process warren';
}

function describe(url: string, isExternal: boolean): BrokerUnderTest {
  const parsed = new URL(url);
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
  const port = parsed.port ? Number(parsed.port) : 5672;
  return { url, host, port, isExternal };
}

/** The broker URL with other credentials or another vhost. */
export function urlWith(
  base: string,
  changes: { username?: string; password?: string; vhost?: string },
): string {
  const u = new URL(base);
  if (changes.username !== undefined) u.username = encodeURIComponent(changes.username);
  if (changes.password !== undefined) u.password = encodeURIComponent(changes.password);
  if (changes.vhost !== undefined) u.pathname = `/${encodeURIComponent(changes.vhost)}`;
  return u.toString();
}
