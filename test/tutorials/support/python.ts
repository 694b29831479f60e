// Runs the pika tutorial programs (test/tutorials/pika/*.py) with Debian's python3 and python3-pika, and
// collects the JSON lines they print.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Output, within } from './output.js';

/** Debian's interpreter, which has python3-pika; the python3 first on PATH may be another one. */
export const PYTHON = '/usr/bin/python3';

const scripts = fileURLToPath(new URL('../pika/', import.meta.url));

/** One JSON line a tutorial program printed, e.g. {"event": "received", "body": "Hello World!"}. */
export interface Line {
  event: string;
  [field: string]: unknown;
}

/** Why the pika programs cannot run here, or undefined when they can. */
export function pikaMissing(): string | undefined {
  const check = spawnSync(PYTHON, ['-c', 'import pika'], { encoding: 'utf8', timeout: 10_000 });
  if (check.status === 0) return undefined;
  const why = check.error?.message ?? check.stderr.trim().split('\n').pop();
  return `the pika tutorials need python3-pika for ${PYTHON} (apt-get install -y python3-pika): ${why}`;
}

const running = new Set<PythonProgram>();

/** A tutorial program running as a child process. */
export class PythonProgram {
  readonly output = new Output<Line>();
  stderr = '';
  /** Resolves when the process has exited and its output is read to the end. */
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly #child: ChildProcess;

  constructor(
    readonly script: string,
    args: string[],
  ) {
    this.#child = spawn(PYTHON, [`${scripts}${script}`, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
    });
    running.add(this);
    let partial = '';
    this.#child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const text of lines) if (text.trim() !== '') this.output.push(parse(text));
    });
    this.#child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.exit = new Promise((resolve) => {
      const exited = (code: number | null, signal: NodeJS.Signals | null, error?: Error) => {
        if (!running.delete(this)) return;
        const how = error ? error.message : `exited with ${signal ?? code}`;
        this.output.close(`${script} ${how}${this.stderr ? `; its stderr:\n${this.stderr}` : ''}`);
        resolve({ code, signal });
      };
      this.#child.on('close', (code, signal) => exited(code, signal));
      this.#child.on('error', (error) => exited(null, null, error));
    });
  }

  /** Ctrl+C, then the program's exit status; kills it if it has not exited after timeoutMs. */
  async interrupt(timeoutMs = 5000): Promise<number | null> {
    this.#child.kill('SIGINT');
    try {
      const { code } = await within(this.exit, `${this.script} to exit after SIGINT`, timeoutMs);
      return code;
    } finally {
      this.#child.kill('SIGKILL');
    }
  }

  /** Kills the program on the spot, as a crash would: its connection drops without a close. */
  async kill(): Promise<void> {
    this.#child.kill('SIGKILL');
    await this.exit;
  }

  /** Waits for the program to end by itself, successfully, and returns what it printed. */
  async completed(timeoutMs = 10_000): Promise<Line[]> {
    try {
      const { code, signal } = await within(this.exit, `${this.script} to finish`, timeoutMs);
      if (code !== 0) {
        throw new Error(`${this.script} exited with ${signal ?? code}; stderr:\n${this.stderr}`);
      }
      return this.output.lines;
    } finally {
      this.#child.kill('SIGKILL');
    }
  }
}

/** Starts a long-running tutorial program (a consumer). */
export function start(script: string, args: string[]): PythonProgram {
  return new PythonProgram(script, args);
}

/** Runs a tutorial program that ends by itself (a producer, the RPC client) and returns what it printed. */
export function run(script: string, args: string[], timeoutMs?: number): Promise<Line[]> {
  return new PythonProgram(script, args).completed(timeoutMs);
}

/** Kills what a failed test left running. */
export async function killAll(): Promise<void> {
  await Promise.all([...running].map((program) => program.kill()));
}

function parse(text: string): Line {
  try {
    return JSON.parse(text) as Line;
  } catch {
    return { event: 'not JSON', text };
  }
}
