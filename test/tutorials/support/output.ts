// What tutorial programs show their users, collected so a test can wait for it and check it. Waits are
// bounded: a line that does not come fails the test with what was awaited and everything seen so far.

export class Output<T> {
  readonly lines: T[] = [];
  /** Set once no more lines can come (the program exited). */
  closedBecause: string | undefined;
  readonly listeners = new Set<() => void>();

  push(line: T): void {
    this.lines.push(line);
    for (const listener of [...this.listeners]) listener();
  }

  close(reason: string): void {
    this.closedBecause = reason;
    for (const listener of [...this.listeners]) listener();
  }

  /** Resolves once `done(lines)` holds. */
  until(what: string, done: (lines: readonly T[]) => boolean, timeoutMs?: number): Promise<void> {
    return untilAll([this], what, () => done(this.lines), timeoutMs);
  }

  /** Resolves once `count` lines satisfy `match`. */
  untilCount(count: number, match: (line: T) => boolean, timeoutMs?: number): Promise<void> {
    return this.until(
      `${count} lines matching ${match}`,
      (lines) => lines.filter(match).length >= count,
      timeoutMs,
    );
  }

  describe(): string {
    const lines = this.lines.map((line) => `    ${typeof line === 'string' ? line : JSON.stringify(line)}`);
    return lines.join('\n');
  }
}

/**
 * Resolves once `done()` holds, checking whenever one of `outputs` gets a line; fails when one of them
 * closes first or after `timeoutMs`.
 */
export function untilAll(
  outputs: readonly Output<unknown>[],
  what: string,
  done: () => boolean,
  timeoutMs = 5000,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const stop = () => {
      clearTimeout(timer);
      for (const output of outputs) output.listeners.delete(check);
    };
    const fail = (why: string) => {
      stop();
      const seen = outputs.map((output, i) => `  output ${i + 1}:\n${output.describe()}`).join('\n');
      reject(new Error(`${why} waiting for ${what}; seen so far:\n${seen}`));
    };
    const check = () => {
      if (done()) {
        stop();
        resolve();
        return;
      }
      const closed = outputs.find((output) => output.closedBecause !== undefined);
      if (closed) fail(closed.closedBecause ?? 'closed');
    };
    const timer = setTimeout(() => fail(`timed out after ${timeoutMs} ms`), timeoutMs);
    for (const output of outputs) output.listeners.add(check);
    check();
  });
}

/** The console of an in-process tutorial program: the lines it prints. */
export class Terminal extends Output<string> {
  print(line: string): void {
    this.push(line);
  }
}

/** `promise`, or a rejection naming `what` once `timeoutMs` has passed. */
export function within<T>(promise: Promise<T>, what: string, timeoutMs = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
