// A fresh reference node of its own, for the start time of scenario j and the idle connections of i:
// `reference-rabbitmq.sh start` on a port of its own (the script wipes that port's node data and starts
// RabbitMQ), timed from the spawn of the script until a first connection has opened a channel, the way
// scenario j times warren; `stop` ends it. Linux only (the node's beam.smp is found through /proc).
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { LoadConnection, parseAmqpUrl } from './load-client.js';
import { sleep } from './load-thread.js';
import { commandName, runControlScript, statFields } from './reference-node.js';

export interface FreshReference {
  readonly url: string;
  /** Its beam.smp process; undefined if /proc did not show it. */
  readonly pid: number | undefined;
  /** From the spawn of the start script to channel.open-ok on a first connection. */
  readonly firstChannelMs: number;
  /** That first connection, still open (scenario j reads the idle RSS with it open, as for warren). */
  readonly connection: LoadConnection;
  stop(): Promise<void>;
}

const POLL_MS = 50;
const START_TIMEOUT_MS = 180_000;
const STOP_TIMEOUT_MS = 120_000;

/**
 * The node's beam.smp: the one started by rabbitmq-server whose command line names this port's node
 * directory (reference-rabbitmq-<port>). rabbitmqctl runs a beam.smp of its own that names it too.
 */
function beamOf(port: number): number | undefined {
  const marker = `reference-rabbitmq-${port}`;
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || commandName(Number(p)) !== 'beam.smp') continue;
    try {
      if (!readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(marker)) continue;
      const parent = statFields(Number(p))?.[1];
      if (readFileSync(`/proc/${parent}/cmdline`, 'utf8').includes('/rabbitmq-server')) return Number(p);
    } catch {
      // The process ended while we looked.
    }
  }
  return undefined;
}

/** Starts a fresh node on `port` with the script and times it; refuses a port where a node already runs. */
export async function startFreshReference(script: string, port: number): Promise<FreshReference> {
  const url = `amqp://guest:guest@127.0.0.1:${port}/`;
  if (beamOf(port) !== undefined) throw new Error(`a reference node already runs on port ${port}`);
  const endpoint = parseAmqpUrl(url);
  const t0 = performance.now();
  const child = spawn('bash', [script, 'start'], {
    env: { ...process.env, PORT: String(port) },
    stdio: 'ignore',
  });
  let exited: string | undefined;
  child.on('exit', (code) => {
    if (code !== 0) exited = `reference-rabbitmq.sh start exited with ${code}`;
  });
  let connection: LoadConnection | undefined;
  while (connection === undefined) {
    if (exited !== undefined) throw new Error(exited);
    if (performance.now() - t0 > START_TIMEOUT_MS) {
      throw new Error(
        `the reference node on port ${port} did not open a channel within ${START_TIMEOUT_MS} ms`,
      );
    }
    try {
      connection = await LoadConnection.open(endpoint, 'warren-bench start');
    } catch {
      await sleep(POLL_MS / 1000);
    }
  }
  const firstChannelMs = performance.now() - t0;
  return {
    url,
    pid: beamOf(port),
    firstChannelMs,
    connection,
    async stop() {
      await connection.close();
      try {
        await runControlScript(script, port, 'stop', STOP_TIMEOUT_MS);
      } catch (err) {
        // Seen once in a full run: the script failed for want of the node's pid file, after the node had
        // halted. A node still running is stopped through its beam.smp instead; either way the wait
        // below ends once it is gone, and the run goes on.
        const beam = beamOf(port);
        if (beam !== undefined) process.kill(beam, 'SIGTERM');
        process.stdout.write(`reference: stopping the node on port ${port}: ${(err as Error).message}\n`);
      }
      // The script returns before beam.smp has quite exited: wait for it, so the port is free again.
      const deadline = performance.now() + STOP_TIMEOUT_MS;
      while (beamOf(port) !== undefined) {
        if (performance.now() > deadline) throw new Error(`the reference node on port ${port} did not stop`);
        await sleep(POLL_MS / 1000);
      }
    },
  };
}
