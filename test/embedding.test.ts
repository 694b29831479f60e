// warren embedded in a fresh Node process, as a test suite uses it: `import('warren')`, the built package's
// entry (package.json's exports; the package resolves its own name from its directory).
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { afterEach, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../', import.meta.url));
const children: ChildProcess[] = [];

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

// Starts a broker with the logger option given, prints its URL and whether pino was loaded, and closes
// the broker when its standard input ends.
const SCRIPT = `
import { createRequire } from 'node:module';
const logger = process.argv[1];
const { startBroker } = await import('warren');
const broker = await startBroker({ port: 0, logger });
const pino = Object.keys(createRequire(import.meta.resolve('warren')).cache).some((k) => /[\\\\/]node_modules[\\\\/]pino[\\\\/]/.test(k));
console.log(JSON.stringify({ url: broker.url, pino }));
process.stdin.resume();
process.stdin.on('end', () => broker.close());
`;

type Line = Record<string, unknown>;

function embedded(logger: string) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', SCRIPT, logger], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  children.push(child);
  const lines: Line[] = [];
  const waiters: (() => void)[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(JSON.parse(line) as Line);
    for (const w of waiters.splice(0)) w();
  });
  const line = (test: (l: Line) => boolean) =>
    new Promise<Line>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no such line')), 10_000);
      const check = () => {
        const l = lines.find(test);
        if (l) {
          clearTimeout(timer);
          resolve(l);
        } else waiters.push(check);
      };
      check();
    });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const stop = async () => {
    child.stdin?.end();
    return exited;
  };
  return { lines, line, stop };
}

async function roundTrip(url: string): Promise<string> {
  const conn = await amqp.connect(url);
  try {
    const ch = await conn.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    ch.sendToQueue(queue, Buffer.from('hello'));
    await ch.checkQueue(queue);
    const m = await ch.get(queue, { noAck: true });
    return m ? m.content.toString() : 'nothing';
  } finally {
    await conn.close();
  }
}

describe('startBroker in a fresh process', () => {
  it('logs nothing and never loads pino by default (silent), and serves clients', async () => {
    const b = embedded('silent');
    const ready = await b.line((l) => 'url' in l);
    expect(ready.pino).toBe(false);
    expect(await roundTrip(ready.url as string)).toBe('hello');
    expect(await b.stop()).toBe(0);
    expect(b.lines).toEqual([ready]);
  });

  it('logs through pino at the level asked for', async () => {
    const b = embedded('info');
    const ready = await b.line((l) => 'url' in l);
    expect(ready.pino).toBe(true);
    expect(await b.line((l) => l.msg === 'listening')).toMatchObject({ level: 30, name: 'warren' });
    expect(await roundTrip(ready.url as string)).toBe('hello');
    await b.line((l) => l.msg === 'connection closed');
    expect(await b.stop()).toBe(0);
    expect(b.lines.some((l) => l.msg === 'stopped')).toBe(true);
  });
});
