// The main thread's handle on one load worker thread (load-worker.ts): start it, wait until it is ready,
// send it commands, wait until it is done; every wait is bounded in time and fails fast when the worker
// reports an error or dies.
import { Worker } from 'node:worker_threads';
import { cpuSeconds } from './cpu.js';
import type { LoadWorkerCommand, LoadWorkerInput, LoadWorkerReport } from './load-worker.js';

const WORKER_READY_MS = 15_000;
const WORKER_DONE_MS = 10_000;

export class LoadThread {
  readonly worker: Worker;
  tid: number | undefined;
  private readonly ready: Promise<void>;
  private readonly done: Promise<{ messages: number; blocked: number }>;
  /** Rejects when the worker reports an error or dies; every wait races against it. */
  readonly failed: Promise<never>;

  constructor(input: LoadWorkerInput) {
    this.worker = new Worker(new URL('./load-worker.js', import.meta.url), { workerData: input });
    let onReady: () => void = () => {};
    let onDone: (d: { messages: number; blocked: number }) => void = () => {};
    let onFailed: (err: Error) => void = () => {};
    this.ready = new Promise((resolve) => {
      onReady = resolve;
    });
    this.done = new Promise((resolve) => {
      onDone = resolve;
    });
    this.failed = new Promise<never>((_, reject) => {
      onFailed = reject;
    });
    this.failed.catch(() => {});
    const name = `${input.role} ${input.index}`;
    this.worker.on('message', (r: LoadWorkerReport) => {
      if (r.type === 'ready') {
        this.tid = r.tid;
        onReady();
      } else if (r.type === 'done') onDone(r);
      else onFailed(new Error(`${name}: ${r.message}`));
    });
    this.worker.on('error', (err) => onFailed(new Error(`${name}: ${err.message}`)));
    this.worker.on('exit', (code) => onFailed(new Error(`${name} exited (${code})`)));
  }

  send(command: LoadWorkerCommand): void {
    this.worker.postMessage(command);
  }

  waitReady(): Promise<void> {
    return bounded(Promise.race([this.ready, this.failed]), WORKER_READY_MS, 'worker start');
  }

  waitDone(): Promise<{ messages: number; blocked: number }> {
    return bounded(Promise.race([this.done, this.failed]), WORKER_DONE_MS, 'worker stop');
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
