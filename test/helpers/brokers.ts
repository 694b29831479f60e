// Brokers and data directories that integration tests start: a test file calls afterEach(stopAll), and
// everything started through here is closed and removed after each test.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningBroker, type StartBrokerOptions, startBroker } from '../../src/index.js';
import { closeAll } from './clients.js';

const dirs: string[] = [];
const brokers: RunningBroker[] = [];

/** Closes the clients, the brokers and removes the directories the test started. */
export async function stopAll(): Promise<void> {
  await closeAll();
  for (const b of brokers.splice(0)) await b.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** A fresh temporary directory, removed after the test. */
export function tempDir(prefix = 'warren-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/** A broker on an ephemeral port, closed after the test. */
export async function start(options: StartBrokerOptions = {}): Promise<RunningBroker> {
  const b = await startBroker({ port: 0, ...options });
  brokers.push(b);
  return b;
}

/** Closes the clients and the broker, and starts a new one with these options (its data directory, say). */
export async function restart(b: RunningBroker, options: StartBrokerOptions): Promise<RunningBroker> {
  await closeAll();
  await b.close();
  brokers.splice(brokers.indexOf(b), 1);
  return start(options);
}
