// The `warren` command as users run it (package.json's bin, built by `npm run build`), as a child process
// on a data directory, for tests that kill it with SIGKILL and start it again on the same directory.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = new URL('../../', import.meta.url);
const { bin } = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
  bin: { warren: string };
};
const cli = fileURLToPath(new URL(bin.warren, root));

export class WarrenProcess {
  private child: ChildProcess | undefined;

  constructor(private readonly dataDir: string) {}

  /** Starts the command on the data directory, on a free loopback port; resolves with the port. */
  start(): Promise<number> {
    const c = spawn(
      process.execPath,
      [cli, '--host', '127.0.0.1', '--port', '0', '--data-dir', this.dataDir, '--log-level', 'info'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    this.child = c;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('warren did not start within 10 s')), 10_000);
      c.once('exit', (code) => reject(new Error(`warren exited with ${code} before listening`)));
      createInterface({ input: c.stdout as NodeJS.ReadableStream }).on('line', (line) => {
        if (!line.includes('"warren started"')) return;
        clearTimeout(timer);
        resolve((JSON.parse(line) as { port: number }).port);
      });
    });
  }

  /** Sends SIGKILL now (the moment of the crash); `exited` resolves once the process is gone. */
  killNow(): void {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null)
      this.child.kill('SIGKILL');
  }

  /** Kills the process, if it runs, and resolves once it has exited. */
  async kill(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = once(c, 'exit');
    c.kill('SIGKILL');
    await exited;
  }

  /** Resolves once the process has exited (at once if it has, or never ran). */
  async exited(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await once(c, 'exit');
  }
}
