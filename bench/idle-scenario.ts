// Scenarios i and j: what a broker costs when it does nothing.
// i: the broker's RSS before and after opening many idle connections (one channel each), per connection.
// j: start time (spawning the `warren` command, package.json's bin, as `node <bin> --port 0 --in-memory`,
//    to the first channel.open-ok) and idle RSS; and startBroker()'s time to ready in a fresh Node process
//    (start-in-process.ts).
import { execFile } from 'node:child_process';
import { relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { startWarren } from './broker-process.js';
import { LoadConnection, parseAmqpUrl } from './load-client.js';
import { formatBytes, processMemory } from './proc-memory.js';
import { median } from './stats.js';

const PRODUCT = 'warren-bench idle';
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const rssOf = (pid: number | undefined) => (pid === undefined ? undefined : processMemory(pid)?.rss);

export interface IdleOptions {
  /** Connections to open (each with channel 1 open). */
  readonly connections: number;
  /** Connections opened at once. */
  readonly batch: number;
  /** Opening stops (and the scenario reports how many it opened) after this long. */
  readonly openTimeoutMs: number;
  /** Wait after the last open, and after the last close, before reading RSS. */
  readonly settleMs: number;
}

export const IDLE_DEFAULTS: IdleOptions = {
  connections: 1000,
  batch: 50,
  openTimeoutMs: 60_000,
  settleMs: 2000,
};

export interface IdleResult {
  readonly label: string;
  readonly wanted: number;
  readonly opened: number;
  readonly openSeconds: number;
  /** RSS in bytes: before the first open, with every connection open, after they were all closed. */
  readonly rssBefore: number | undefined;
  readonly rssOpen: number | undefined;
  readonly rssClosed: number | undefined;
  /** The first failure to open, if any, or the timeout. */
  readonly error: string | undefined;
}

/** Opens o.connections idle connections to url in batches, reads pid's RSS, closes them all. */
export async function idleConnections(
  label: string,
  url: string,
  pid: number | undefined,
  o: IdleOptions = IDLE_DEFAULTS,
): Promise<IdleResult> {
  const endpoint = parseAmqpUrl(url);
  const open: LoadConnection[] = [];
  let error: string | undefined;
  await sleep(o.settleMs / 2);
  const rssBefore = rssOf(pid);
  const t0 = performance.now();
  try {
    while (open.length < o.connections) {
      if (performance.now() - t0 > o.openTimeoutMs) {
        error = `timed out after ${o.openTimeoutMs / 1000} s`;
        break;
      }
      const n = Math.min(o.batch, o.connections - open.length);
      const settled = await Promise.allSettled(
        Array.from({ length: n }, () => LoadConnection.open(endpoint, PRODUCT)),
      );
      for (const s of settled) {
        if (s.status === 'fulfilled') open.push(s.value);
        else error ??= s.reason instanceof Error ? s.reason.message : String(s.reason);
      }
      if (error !== undefined) break;
    }
    const openSeconds = (performance.now() - t0) / 1000;
    await sleep(o.settleMs);
    const rssOpen = rssOf(pid);
    const stillOpen = open.filter((c) => c.failure === undefined).length;
    if (stillOpen < open.length && error === undefined)
      error = `${open.length - stillOpen} connection(s) dropped while idle`;
    for (let i = 0; i < open.length; i += 100)
      await Promise.all(open.slice(i, i + 100).map((c) => c.close()));
    open.length = 0;
    await sleep(o.settleMs);
    return {
      label,
      wanted: o.connections,
      opened: stillOpen,
      openSeconds,
      rssBefore,
      rssOpen,
      rssClosed: rssOf(pid),
      error,
    };
  } finally {
    for (const c of open) c.socket.destroy();
  }
}

const MIB = 1024 * 1024;

export function idleReport(results: readonly IdleResult[]): string[] {
  const pad = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(9) : c.padStart([0, 11, 7, 10, 11, 10, 11][i]))).join('  ');
  const lines = [
    pad(['broker', 'connections', 'open s', 'RSS before', 'RSS opened', 'per conn', 'RSS closed']),
  ];
  for (const r of results) {
    const per =
      r.rssBefore === undefined || r.rssOpen === undefined || r.opened === 0
        ? '-'
        : `${((r.rssOpen - r.rssBefore) / r.opened / 1024).toFixed(1)} KiB`;
    lines.push(
      pad([
        r.label,
        `${r.opened}/${r.wanted}`,
        r.openSeconds.toFixed(2),
        formatBytes(r.rssBefore),
        formatBytes(r.rssOpen),
        per,
        formatBytes(r.rssClosed),
      ]),
    );
    if (r.error !== undefined) lines.push(`     ${r.label}: ${r.error}`);
  }
  return lines;
}

export interface StartRun {
  /** Spawn to the 'warren started' log line (listening), and to channel.open-ok on a first connection. */
  readonly listeningMs: number;
  readonly firstChannelMs: number;
  /** RSS IDLE_WAIT_MS after the first channel opened, that connection still open. */
  readonly idleRss: number | undefined;
}

export interface InProcessRun {
  readonly importMs: number;
  readonly startMs: number;
  readonly rss: number | null;
}

export interface StartResult {
  /** The script spawned, relative to the repository (package.json's bin). */
  readonly command: string;
  readonly cli: StartRun[];
  /**
   * When the bench's environment sets NODE_EXTRA_CA_CERTS: the same starts with it unset. Node 20 reads
   * the certificates it names (and builds its root store for them) at every process start, before the
   * first line of the script runs, whatever the script; this shows how much of `cli` that is.
   */
  readonly cliWithoutExtraCaCerts: StartRun[] | undefined;
  readonly inProcess: InProcessRun[];
  readonly referenceIdleRss: number | undefined;
}

const IDLE_WAIT_MS = 1000;
const CHILD_TIMEOUT_MS = 20_000;

async function cliStart(cliPath: string, env?: NodeJS.ProcessEnv): Promise<StartRun> {
  const t0 = performance.now();
  const warren = await startWarren(cliPath, { dataDir: undefined, env });
  try {
    const listeningMs = performance.now() - t0;
    const c = await LoadConnection.open(parseAmqpUrl(warren.url), PRODUCT);
    const firstChannelMs = performance.now() - t0;
    await sleep(IDLE_WAIT_MS);
    const idleRss = rssOf(warren.pid);
    await c.close();
    return { listeningMs, firstChannelMs, idleRss };
  } finally {
    await warren.stop();
  }
}

function inProcessStart(): Promise<InProcessRun> {
  const script = fileURLToPath(new URL('./start-in-process.js', import.meta.url));
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [script], { timeout: CHILD_TIMEOUT_MS }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`start-in-process: ${err.message} ${stderr}`));
        return;
      }
      try {
        resolve(JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as InProcessRun);
      } catch {
        reject(new Error(`start-in-process printed no JSON: ${stdout} ${stderr}`));
      }
    });
  });
}

/** Scenario j: `runs` starts each way; the reference broker is not restarted, only its RSS read. */
export async function startTimes(
  cliPath: string,
  runs: number,
  referencePid: number | undefined,
): Promise<StartResult> {
  const cli: StartRun[] = [];
  const withoutCerts = process.env.NODE_EXTRA_CA_CERTS === undefined ? undefined : { ...process.env };
  if (withoutCerts) delete withoutCerts.NODE_EXTRA_CA_CERTS;
  const cliWithoutExtraCaCerts: StartRun[] | undefined = withoutCerts ? [] : undefined;
  // Alternating, so that the machine's drift hits both series alike.
  for (let i = 0; i < runs; i++) {
    cli.push(await cliStart(cliPath));
    if (cliWithoutExtraCaCerts) cliWithoutExtraCaCerts.push(await cliStart(cliPath, withoutCerts));
  }
  const inProcess: InProcessRun[] = [];
  for (let i = 0; i < runs; i++) inProcess.push(await inProcessStart());
  const command = relative(fileURLToPath(new URL('../../', import.meta.url)), cliPath);
  return { command, cli, cliWithoutExtraCaCerts, inProcess, referenceIdleRss: rssOf(referencePid) };
}

export function startReport(r: StartResult): string[] {
  const ms = (n: number) => `${Math.round(n)} ms`;
  const list = (values: number[]) => values.map((v) => Math.round(v)).join(', ');
  const idle = r.cli.map((c) => c.idleRss).filter((v): v is number => v !== undefined);
  const inRss = r.inProcess.map((c) => c.rss).filter((v): v is number => v !== null);
  const lines = [
    `warren, node ${r.command} --port 0 --in-memory (${r.cli.length} runs, median):`,
    `  spawn to listening          ${ms(median(r.cli.map((c) => c.listeningMs)))}  (${list(r.cli.map((c) => c.listeningMs))})`,
    `  spawn to first channel      ${ms(median(r.cli.map((c) => c.firstChannelMs)))}  (${list(r.cli.map((c) => c.firstChannelMs))})`,
    `  idle RSS ${IDLE_WAIT_MS / 1000} s after channel  ${formatBytes(idle.length ? median(idle) : undefined)}  (${idle.map((v) => (v / MIB).toFixed(1)).join(', ')} MiB)`,
  ];
  const bare = r.cliWithoutExtraCaCerts;
  const bareIdle = bare?.map((c) => c.idleRss).filter((v): v is number => v !== undefined) ?? [];
  if (bare?.length)
    lines.push(
      `  the same with NODE_EXTRA_CA_CERTS unset (this environment sets it; Node reads those certificates at start):`,
      `  spawn to listening          ${ms(median(bare.map((c) => c.listeningMs)))}  (${list(bare.map((c) => c.listeningMs))})`,
      `  spawn to first channel      ${ms(median(bare.map((c) => c.firstChannelMs)))}  (${list(bare.map((c) => c.firstChannelMs))})`,
      `  idle RSS ${IDLE_WAIT_MS / 1000} s after channel  ${formatBytes(bareIdle.length ? median(bareIdle) : undefined)}`,
    );
  lines.push(
    `warren, await startBroker({ port: 0 }) in a fresh node process (${r.inProcess.length} runs, median):`,
    `  import warren               ${ms(median(r.inProcess.map((c) => c.importMs)))}  (${list(r.inProcess.map((c) => c.importMs))})`,
    `  startBroker to ready        ${ms(median(r.inProcess.map((c) => c.startMs)))}  (${list(r.inProcess.map((c) => c.startMs))})`,
    `  process RSS when ready      ${formatBytes(inRss.length ? median(inRss) : undefined)}`,
  );
  if (r.referenceIdleRss !== undefined)
    lines.push(`  its RSS now (REFERENCE_PID) ${formatBytes(r.referenceIdleRss)}`);
  return lines;
}
