// The main thread's handle on a worker thread of the bench (load-worker.ts, latency-worker.ts): start it,
// wait until it is ready, send it commands, wait until it is done; every wait is bounded in time and fails
// fast when the worker reports an error or dies.
import { Worker } from 'node:worker_threads';
import { cpuSeconds } from './cpu.js';
import type { LoadWorkerCommand, LoadWorkerInput, LoadWorkerReport } from './load-worker.js';

const WORKER_READY_MS = 15_000;
const WORKER_DONE_MS = 10_000;

/** What every worker reports: 'ready', 'error' with a message, or anything else, its last report. */
interface AnyReport {
  readonly type: string;
}

/**
 * A worker thread of the bench: ready once it says 'ready', done with its first other report, failed
 * on 'error' or when it dies. Every wait is bounded in time and races against failure.
 */
export class WorkerThread<Report extends AnyReport, Command, Done extends Report> {
  readonly worker: Worker;
  /** Rejects when the worker reports an error or dies; every wait races against it. */
  readonly failed: Promise<never>;
  private readonly ready: Promise<void>;
  private readonly done: Promise<Done>;

  constructor(
    script: URL,
    workerData: unknown,
    private readonly name: string,
    onReady: (report: Report) => void = () => {},
  ) {
    this.worker = new Worker(script, { workerData });
    let ready: () => void = () => {};
    let done: (d: Done) => void = () => {};
    let fail: (err: Error) => void = () => {};
    this.ready = new Promise((resolve) => {
      ready = resolve;
    });
    this.done = new Promise((resolve) => {
      done = resolve;
    });
    this.failed = new Promise<never>((_, reject) => {
      fail = reject;
    });
    this.failed.catch(() => {});
    this.worker.on('message', (r: Report) => {
      if (r.type === 'ready') {
        onReady(r);
        ready();
      } else if (r.type === 'error') fail(new Error(`${name}: ${(r as { message?: string }).message}`));
      else done(r as Done);
    });
    this.worker.on('error', (err) => fail(new Error(`${name}: ${err.message}`)));
    this.worker.on('exit', (code) => fail(new Error(`${name} exited (${code})`)));
  }

  send(command: Command): void {
    this.worker.postMessage(command);
  }

  waitReady(): Promise<void> {
    return bounded(Promise.race([this.ready, this.failed]), WORKER_READY_MS, `${this.name}: start`);
  }

  /** The worker's last report; a rejection after ms (default 10 s) or when it fails first. */
  waitDone(ms = WORKER_DONE_MS): Promise<Done> {
    return bounded(Promise.race([this.done, this.failed]), ms, `${this.name}: stop`);
  }
}

type LoadDone = Extract<LoadWorkerReport, { type: 'done' }>;

/** A publisher or consumer of load-worker.ts, with its thread id for its CPU time. */
export class LoadThread extends WorkerThread<LoadWorkerReport, LoadWorkerCommand, LoadDone> {
  tid: number | undefined;

  constructor(input: LoadWorkerInput) {
    super(new URL('./load-worker.js', import.meta.url), input, `${input.role} ${input.index}`, (r) => {
      if (r.type === 'ready') this.tid = r.tid;
    });
  }

  cpu(): number | undefined {
    return this.tid === undefined ? undefined : cpuSeconds(process.pid, this.tid);
  }
}

/** p, or a rejection naming `what` once ms have passed. */
export function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Waits `seconds`, or rejects as soon as `failed` does. */
export function sleep(seconds: number, failed?: Promise<never>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const slept = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, seconds * 1000);
  });
  return (failed ? Promise.race([slept, failed]) : slept).finally(() => clearTimeout(timer));
}
