// Control of the reference RabbitMQ node's process, for the restart timings of scenario k. The node is
// the one `shared/tools/reference-rabbitmq.sh start` runs: a `rabbitmq-server` shell script (beam.smp's
// parent) with the node's settings in its environment. That script's `stop` stops the node cleanly, but
// its `start` wipes the node's data directory first, so a restart that must find the messages again
// starts the launcher itself: the same command line, environment and working directory as the running
// one, read from /proc before it is stopped. Linux only.
import { execFile, spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

interface Launcher {
  readonly argv: string[];
  readonly env: Record<string, string>;
  readonly cwd: string;
  /** Where the launcher's output goes (its console log), as reference-rabbitmq.sh sends it. */
  readonly consoleLog: string | undefined;
}

const POLL_MS = 100;

function sleepMs(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The fields of /proc/<pid>/stat after the command name, or undefined once the process is gone. */
export function statFields(pid: number): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Running: present in /proc and not a zombie waiting for its parent. */
export function processAlive(pid: number): boolean {
  const fields = statFields(pid);
  return fields !== undefined && fields[0] !== 'Z' && fields[0] !== 'X';
}

export function commandName(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Established TCP connections whose local port is `port`: the clients of a server listening there. */
export function establishedConnections(port: number): number {
  let count = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4) continue;
      const localPort = Number.parseInt(cols[1].slice(cols[1].lastIndexOf(':') + 1), 16);
      if (localPort === port && cols[3] === '01') count++;
    }
  }
  return count;
}

export class ReferenceNode {
  private constructor(
    private beamPid: number,
    private readonly launcher: Launcher,
    private readonly controlScript: string,
    private readonly amqpPort: number,
  ) {}

  /**
   * Reads how the node with this beam.smp pid was started. Returns a reason instead when it cannot be
   * controlled (not a beam.smp, no rabbitmq-server parent, /proc unreadable).
   */
  static capture(beamPid: number, amqpPort: number, controlScript: string): ReferenceNode | string {
    if (commandName(beamPid) !== 'beam.smp') return `pid ${beamPid} is not a running beam.smp`;
    const parent = Number(statFields(beamPid)?.[1]);
    if (!Number.isInteger(parent) || parent <= 1) return `beam.smp ${beamPid} has no launcher process`;
    let argv: string[];
    let env: Record<string, string>;
    let cwd: string;
    try {
      argv = readFileSync(`/proc/${parent}/cmdline`, 'utf8')
        .split('\0')
        .filter((a) => a !== '');
      env = {};
      for (const entry of readFileSync(`/proc/${parent}/environ`, 'utf8').split('\0')) {
        const eq = entry.indexOf('=');
        if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
      }
      cwd = readlinkSync(`/proc/${parent}/cwd`);
    } catch (err) {
      return `cannot read the launcher of beam.smp ${beamPid}: ${(err as Error).message}`;
    }
    if (!argv.some((a) => a.endsWith('/rabbitmq-server'))) {
      return `beam.smp ${beamPid}'s parent is not rabbitmq-server: ${argv.join(' ')}`;
    }
    if (env.RABBITMQ_NODE_PORT !== String(amqpPort)) {
      return `beam.smp ${beamPid} is not the node on port ${amqpPort}`;
    }
    const consoleLog = env.RABBITMQ_LOG_BASE ? join(env.RABBITMQ_LOG_BASE, 'console.out') : undefined;
    return new ReferenceNode(beamPid, { argv, env, cwd, consoleLog }, controlScript, amqpPort);
  }

  /** The node's beam.smp process. */
  get pid(): number {
    return this.beamPid;
  }

  /** Clients connected to the node's AMQP port now. */
  clients(): number {
    return establishedConnections(this.amqpPort);
  }

  /** `reference-rabbitmq.sh stop` (rabbitmqctl stop); resolves once beam.smp has exited. */
  async stopClean(timeoutMs: number): Promise<void> {
    await runControlScript(this.controlScript, this.amqpPort, 'stop', timeoutMs);
    await this.waitGone(timeoutMs);
  }

  /** SIGKILL to beam.smp; resolves once it has exited. */
  async kill(timeoutMs: number): Promise<void> {
    process.kill(this.beamPid, 'SIGKILL');
    await this.waitGone(timeoutMs);
  }

  /**
   * Starts the launcher again, detached, as reference-rabbitmq.sh does; resolves with the new beam.smp
   * pid once it is running (the node is not yet accepting connections then).
   */
  async start(timeoutMs: number): Promise<number> {
    const { argv, env, cwd, consoleLog } = this.launcher;
    let out: number | 'ignore' = 'ignore';
    if (consoleLog) {
      try {
        out = openSync(consoleLog, 'a');
      } catch {
        out = 'ignore';
      }
    }
    const child = spawn(argv[0], argv.slice(1), { env, cwd, detached: true, stdio: ['ignore', out, out] });
    child.unref();
    if (typeof out === 'number') closeSync(out);
    const launcherPid = child.pid;
    if (launcherPid === undefined) throw new Error('could not start rabbitmq-server');
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const beam = childNamed(launcherPid, 'beam.smp');
      if (beam !== undefined) {
        this.beamPid = beam;
        return beam;
      }
      if (!processAlive(launcherPid)) throw new Error('rabbitmq-server exited before starting beam.smp');
      await sleepMs(POLL_MS / 2);
    }
    throw new Error(`no beam.smp under rabbitmq-server within ${timeoutMs} ms`);
  }

  /** The last resort after a failed restart: `reference-rabbitmq.sh start` (a fresh, empty node). */
  restoreWithScript(timeoutMs: number): Promise<string> {
    return runControlScript(this.controlScript, this.amqpPort, 'start', timeoutMs);
  }

  private async waitGone(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (processAlive(this.beamPid)) {
      if (Date.now() > deadline)
        throw new Error(`beam.smp ${this.beamPid} still running after ${timeoutMs} ms`);
      await sleepMs(POLL_MS / 2);
    }
  }
}

/** `<script> <command>` (reference-rabbitmq.sh start, stop) for the node on `port`; resolves with its output. */
export function runControlScript(
  script: string,
  port: number,
  command: string,
  timeoutMs: number,
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'bash',
      [script, command],
      { env: { ...process.env, PORT: String(port) }, timeout: timeoutMs },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message} ${stderr}`.trim())) : resolve(stdout)),
    );
  });
}

/** A child process of `parent` with this command name, if there is one now. */
function childNamed(parent: number, name: string): number | undefined {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return undefined;
  }
  for (const p of pids) {
    const pid = Number(p);
    if (Number(statFields(pid)?.[1]) === parent && commandName(pid) === name) return pid;
  }
  return undefined;
}
