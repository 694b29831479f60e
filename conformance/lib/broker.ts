// The broker under test: AMQP_URL when set, otherwise a warren started in-process once per test file
// and closed when the file's tests are done.

import t from 'tap';

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
  // Loaded only when needed, so the suite runs against another broker without a build of warren.
  const { startBroker } = await import('warren');
  const started = await startBroker({ port: 0 });
  t.teardown(() => started.close());
  return describe(started.url, false);
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
