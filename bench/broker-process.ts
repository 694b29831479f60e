// The warren under test, as a child process of its own (`node <script> --port 0 --data-dir DIR`, the script
// being the `warren` command users run, package.json's bin, as run.ts passes it), so it never shares an
// event loop or a core's worth of threads with the load generator.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface WarrenOptions {
  /**
   * The data directory (the caller creates and removes it); the broker's durable store lives there.
   * undefined: `--in-memory`, nothing on disk.
   */
  readonly dataDir: string | undefined;
  /** false: --no-fsync. Default true, as the `warren` command. */
  readonly fsync?: boolean;
  /** Arguments to node before the script (e.g. --cpu-prof). */
  readonly nodeArgs?: readonly string[];
  /** How long recovery and listening may take before the start counts as failed (default 10 s). */
  readonly startTimeoutMs?: number;
  /** The child's environment; the bench's own when absent. */
  readonly env?: NodeJS.ProcessEnv;
}

/** The 'recovered from the data directory' log line's fields. */
export interface Recovery {
  readonly messages: number;
  readonly queues: number;
  readonly ms: number;
}

export interface BrokerProcess {
  readonly pid: number;
  readonly url: string;
  /** What the broker logged about its recovery, if it logged it. */
  readonly recovery: Recovery | undefined;
  /** Resolves once the process has exited. */
  readonly exited: Promise<void>;
  /** SIGTERM, then SIGKILL if it has not exited within a few seconds (or within timeoutMs). */
  stop(timeoutMs?: number): Promise<void>;
  /** Sends a signal and waits (at most timeoutMs) until the process has exited. */
  kill(signal: NodeJS.Signals, timeoutMs: number): Promise<void>;
}

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;

/**
 * Starts `node <cliPath> --port 0 --data-dir <dir>` (or `--in-memory`) and resolves once it has logged 'warren started' with
 * its port. The log level is info because that line is logged at info; at that level warren logs only
 * its start, its recovery, and connection opens and closes, nothing per message.
 */
export function startWarren(cliPath: string, options: WarrenOptions): Promise<BrokerProcess> {
  const args = [...(options.nodeArgs ?? []), cliPath, '--port', '0'];
  if (options.dataDir === undefined) args.push('--in-memory');
  else args.push('--data-dir', options.dataDir);
  if (options.fsync === false) args.push('--no-fsync');
  args.push('--log-level', 'info');
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: options.env ?? process.env,
  });
  const startTimeoutMs = options.startTimeoutMs ?? START_TIMEOUT_MS;
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
  const gone = () => child.exitCode !== null || child.signalCode !== null;

  const waitExit = async (ms: number): Promise<boolean> => {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    });
    const done = await Promise.race([exited.then(() => true), timedOut]);
    clearTimeout(timer);
    return done;
  };

  const stop = async (timeoutMs = STOP_TIMEOUT_MS): Promise<void> => {
    if (gone()) return;
    child.kill('SIGTERM');
    if (!(await waitExit(timeoutMs))) {
      child.kill('SIGKILL');
      await exited;
    }
  };

  const kill = async (signal: NodeJS.Signals, timeoutMs: number): Promise<void> => {
    if (gone()) return;
    child.kill(signal);
    if (!(await waitExit(timeoutMs))) {
      child.kill('SIGKILL');
      await exited;
      throw new Error(`warren did not exit within ${timeoutMs} ms of ${signal}`);
    }
  };

  return new Promise<BrokerProcess>((resolve, reject) => {
    const timer = setTimeout(() => {
      stop().finally(() => reject(new Error(`warren did not start within ${startTimeoutMs} ms: ${stderr}`)));
    }, startTimeoutMs);
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
    let recovery: Recovery | undefined;
    lines.on('line', (line) => {
      if (started || !line.startsWith('{')) return;
      let record: { msg?: unknown; port?: unknown; messages?: unknown; queues?: unknown; ms?: unknown };
      try {
        record = JSON.parse(line);
      } catch {
        return;
      }
      if (record.msg === 'recovered from the data directory') {
        recovery = {
          messages: Number(record.messages),
          queues: Number(record.queues),
          ms: Number(record.ms),
        };
        return;
      }
      if (record.msg !== 'warren started' || typeof record.port !== 'number' || child.pid === undefined)
        return;
      started = true;
      clearTimeout(timer);
      resolve({
        pid: child.pid,
        url: `amqp://guest:guest@127.0.0.1:${record.port}/`,
        recovery,
        exited,
        stop,
        kill,
      });
    });
  });
}
