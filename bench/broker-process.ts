// The warren under test, as a child process of its own (`node dist/cli.js --port 0`), so it never shares
// an event loop or a core's worth of threads with the load generator.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface BrokerProcess {
  readonly pid: number;
  readonly url: string;
  /** SIGTERM, then SIGKILL if it has not exited within a few seconds. */
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;

/**
 * Starts `node <cliPath> --port 0` and resolves once it has logged 'warren started' with its port. The
 * log level is info because that line is logged at info; at that level warren logs only connection opens
 * and closes, nothing per message. nodeArgs go to node before the script (e.g. --cpu-prof).
 */
export function startWarren(cliPath: string, nodeArgs: string[] = []): Promise<BrokerProcess> {
  const child = spawn(process.execPath, [...nodeArgs, cliPath, '--port', '0', '--log-level', 'info'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    stderr = (stderr + s).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // If the bench dies first (an uncaught error), the broker goes with it rather than lingering.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  exited.then(() => process.off('exit', killOnExit));

  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), STOP_TIMEOUT_MS);
    });
    if (await Promise.race([exited.then(() => false), timedOut])) {
      child.kill('SIGKILL');
      await exited;
    }
    clearTimeout(timer);
  };

  return new Promise<BrokerProcess>((resolve, reject) => {
    const timer = setTimeout(() => {
      stop().finally(() =>
        reject(new Error(`warren did not start within ${START_TIMEOUT_MS} ms: ${stderr}`)),
      );
    }, START_TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`warren exited (${signal ?? code}) before it started: ${stderr}`));
    });
    // Read every line, to the end, so that the child never blocks on a full stdout pipe.
    const lines = createInterface({ input: child.stdout });
    let started = false;
    lines.on('line', (line) => {
      if (started || !line.includes('warren started')) return;
      let port: unknown;
      try {
        const record = JSON.parse(line) as { msg?: unknown; port?: unknown };
        if (record.msg === 'warren started') port = record.port;
      } catch {
        return;
      }
      if (typeof port !== 'number' || child.pid === undefined) return;
      started = true;
      clearTimeout(timer);
      resolve({ pid: child.pid, url: `amqp://guest:guest@127.0.0.1:${port}/`, stop });
    });
  });
}
