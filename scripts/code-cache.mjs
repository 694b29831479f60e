// Makes the V8 code cache of the `warren` command (dist/bin/warren-main.cjs.cache; src/bin/warren.cts
// reads it). Runs the command once, as far as a client's first channel, so that the cache holds the
// code compiled on the way there: start-up, the listening socket, and a connection's handshake.
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import amqplib from 'amqplib';

const entry = fileURLToPath(new URL('../dist/bin/warren.cjs', import.meta.url));
const cacheFile = fileURLToPath(new URL('../dist/bin/warren-main.cjs.cache', import.meta.url));
rmSync(cacheFile, { force: true });

const child = spawn(process.execPath, [entry, '--in-memory', '--port', '0', '--log-level', 'info'], {
  env: { ...process.env, WARREN_WRITE_CODE_CACHE: '1' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
const timer = setTimeout(() => {
  child.kill('SIGKILL');
  console.error('code-cache: the command did not start within 10 s');
  process.exit(1);
}, 10_000);
const port = await new Promise((resolve, reject) => {
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (s) => {
    out += s;
    const m = /"port":(\d+).*"msg":"warren started"/.exec(out);
    if (m) resolve(Number(m[1]));
  });
  child.once('exit', (code) => reject(new Error(`the command exited (${code}) before it started`)));
});
const connection = await amqplib.connect(`amqp://guest:guest@127.0.0.1:${port}/`);
await connection.createChannel();
await connection.close();
const exited = new Promise((resolve) => child.once('exit', resolve));
child.kill('SIGTERM');
await exited;
clearTimeout(timer);
if (!existsSync(cacheFile)) {
  console.error('code-cache: no cache was written');
  process.exit(1);
}
