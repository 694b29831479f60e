import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { afterEach, describe, expect, it } from 'vitest';

// The built command as users run it: package.json's bin, which `npm start` runs too (npm test builds first).
const root = new URL('../', import.meta.url);
const { bin } = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
  bin: { warren: string };
};
const cli = fileURLToPath(new URL(bin.warren, root));
const children: ChildProcess[] = [];

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

function run(args: string[], command = cli) {
  const child = spawn(process.execPath, [command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const lines: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      lines.push({ msg: line });
    }
    for (const w of waiters.splice(0)) w();
  });
  const logLine = (msg: string, timeoutMs = 5000) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no log line '${msg}'`)), timeoutMs);
      const check = () => {
        const l = lines.find((x) => x.msg === msg);
        if (l) {
          clearTimeout(timer);
          resolve(l);
        } else waiters.push(check);
      };
      check();
    });
  return { child, lines, logLine };
}

describe('the warren command', () => {
  it('prints its version and help', async () => {
    const v = run(['--version']);
    let out = '';
    v.child.stdout.on('data', (d) => {
      out += d;
    });
    const [code] = await once(v.child, 'exit');
    expect(code).toBe(0);
    expect(out.trim()).toMatch(/^\d+\.\d+\.\d+/);

    const h = spawn(process.execPath, [cli, '--help']);
    let help = '';
    h.stdout.on('data', (d) => {
      help += d;
    });
    const [hcode] = await once(h, 'exit');
    expect(hcode).toBe(0);
    for (const flag of ['--host', '--port', '--log-level', '--help', '--version'])
      expect(help).toContain(flag);
  });

  it('runs as an executable of its own (the #! line and the mode npm links it with)', async () => {
    const child = spawn(cli, ['--version']);
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
    expect(out.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('rejects unknown options with a non-zero exit', async () => {
    const child = spawn(process.execPath, [cli, '--nope']);
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
    });
    const [code] = await once(child, 'exit');
    expect(code).not.toBe(0);
    expect(err).toContain('--nope');
  });

  it('serves clients, logs connections, and on SIGTERM closes them with 320 and exits 0', async () => {
    const w = run(['--port', '0', '--in-memory', '--log-level', 'info']);
    const started = await w.logLine('warren started');
    const port = started.port as number;
    expect(port).toBeGreaterThan(0);
    const connection = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`);
    await connection.createChannel();
    const opened = await w.logLine('connection opened');
    expect(opened).toMatchObject({ user: 'guest', vhost: '/' });
    const closed = new Promise<Error>((resolve) => connection.on('close', resolve));
    w.child.kill('SIGTERM');
    const err = await closed;
    expect(err.message).toContain('320');
    const [code] = await once(w.child, 'exit');
    expect(code).toBe(0);
  });

  it('SIGINT also stops it with exit status 0', async () => {
    const w = run(['--port', '0', '--in-memory']);
    const { port } = await w.logLine('warren started');
    const connection = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`);
    const closed = new Promise<Error>((resolve) => connection.on('close', resolve));
    w.child.kill('SIGINT');
    expect((await closed).message).toContain('CONNECTION_FORCED');
    const [code] = await once(w.child, 'exit');
    expect(code).toBe(0);
  });

  it('keeps its data in --data-dir, which a second warren cannot open (exit status not 0)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warren-cli-'));
    try {
      const first = run(['--port', '0', '--data-dir', dir]);
      const started = await first.logLine('warren started');
      expect(started.dataDir).toBe(dir);
      expect(existsSync(join(dir, 'warren.lock'))).toBe(true);
      const second = spawn(process.execPath, [cli, '--port', '0', '--data-dir', dir]);
      let err = '';
      second.stderr.on('data', (d) => {
        err += d;
      });
      const [code] = await once(second, 'exit');
      expect(code).not.toBe(0);
      expect(err).toMatch(new RegExp(`in use by process ${first.child.pid}`));
      first.child.kill('SIGTERM');
      await once(first.child, 'exit');
      expect(existsSync(join(dir, 'warren.lock'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--in-memory writes nothing; it cannot be combined with --data-dir', async () => {
    const w = run(['--port', '0', '--in-memory']);
    const started = await w.logLine('warren started');
    expect(started.dataDir).toBeNull();
    w.child.kill('SIGTERM');
    await once(w.child, 'exit');
    const both = spawn(process.execPath, [cli, '--in-memory', '--data-dir', 'x']);
    const [code] = await once(both, 'exit');
    expect(code).toBe(2);
  });

  it('an in-memory start loads neither node:crypto nor node:zlib: they wait until something needs them', async () => {
    // About 4 ms of start each (bench scenario j). A preload reports the built-in modules loaded when
    // the server listens.
    const dir = mkdtempSync(join(tmpdir(), 'warren-preload-'));
    try {
      const preload = join(dir, 'report.cjs');
      writeFileSync(
        preload,
        `const net = require('node:net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  this.once('listening', () => process.stderr.write('LOADED ' + process.moduleLoadList.join(' ') + '\\n'));
  return listen.apply(this, args);
};
`,
      );
      const child = spawn(process.execPath, ['--require', preload, cli, '--port', '0', '--in-memory'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      children.push(child);
      const loaded = await new Promise<string[]>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no report from the preload')), 5000);
        createInterface({ input: child.stderr }).on('line', (line) => {
          if (!line.startsWith('LOADED ')) return;
          clearTimeout(timer);
          resolve(line.slice(7).split(' '));
        });
      });
      expect(loaded).toContain('net'); // the report is of the right process
      expect(loaded.filter((m) => m === 'crypto' || m === 'zlib')).toEqual([]);
      child.kill('SIGTERM');
      await once(child, 'exit');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('starts and serves with a code cache that does not fit its Node, and with none', async () => {
    // A copy of the package's command, to spoil its code cache without touching the built one.
    const pkg = mkdtempSync(join(tmpdir(), 'warren-cache-'));
    try {
      mkdirSync(join(pkg, 'dist', 'bin'), { recursive: true });
      copyFileSync(fileURLToPath(new URL('package.json', root)), join(pkg, 'package.json'));
      symlinkSync(fileURLToPath(new URL('node_modules', root)), join(pkg, 'node_modules'));
      for (const f of ['warren.cjs', 'warren-main.cjs']) {
        copyFileSync(join(dirname(cli), f), join(pkg, 'dist', 'bin', f));
      }
      const command = join(pkg, 'dist', 'bin', 'warren.cjs');
      for (const cache of [Buffer.from('not a code cache'), undefined]) {
        const cacheFile = join(pkg, 'dist', 'bin', 'warren-main.cjs.cache');
        if (cache) writeFileSync(cacheFile, cache);
        else rmSync(cacheFile, { force: true });
        const w = run(['--in-memory', '--port', '0'], command);
        const { port } = await w.logLine('warren started');
        const connection = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`);
        const channel = await connection.createChannel();
        await channel.assertQueue('cache-check', { exclusive: true });
        channel.sendToQueue('cache-check', Buffer.from('through'));
        const got = await channel.get('cache-check', { noAck: true });
        if (got === false) throw new Error('basic.get-empty');
        expect(got.content.toString()).toBe('through');
        await connection.close();
        w.child.kill('SIGTERM');
        const [code] = await once(w.child, 'exit');
        expect(code).toBe(0);
      }
    } finally {
      rmSync(pkg, { recursive: true, force: true });
    }
  });
});
