// What connection.start says of the server, as clients read it (amqplib's serverProperties): the
// defaults, startBroker's serverIdentity, and the warren command's flags (with --consumer-timeout).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { afterEach, describe, expect, it } from 'vitest';
import { VERSION } from '../../src/index.js';
import { start, stopAll } from '../helpers/brokers.js';
import { closeAll, openChannel } from '../helpers/clients.js';

afterEach(stopAll);

const root = new URL('../../', import.meta.url);
const { bin } = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
  bin: { warren: string };
};
const cli = fileURLToPath(new URL(bin.warren, root));

describe('server identity', () => {
  it('by default: product RabbitMQ 4.0.0, with warren named in information and platform Node.js', async () => {
    const broker = await start();
    const { connection } = await openChannel(broker.url);
    const props = connection.connection.serverProperties;
    expect(props).toMatchObject({
      product: 'RabbitMQ',
      version: '4.0.0',
      platform: `Node.js ${process.version}`,
      copyright: 'The warren authors',
      cluster_name: `warren@${hostname()}`,
    });
    expect(props.information).toContain(`warren ${VERSION}`);
  });

  it('startBroker({ serverIdentity }) sets each field; the unset ones keep their defaults', async () => {
    const broker = await start({
      serverIdentity: { product: 'warren', version: VERSION, clusterName: 'edge-1' },
    });
    const { connection } = await openChannel(broker.url);
    expect(connection.connection.serverProperties).toMatchObject({
      product: 'warren',
      version: VERSION,
      cluster_name: 'edge-1',
      copyright: 'The warren authors',
    });
  });

  it('the warren command takes --server-* and --cluster-name flags, and --consumer-timeout', async () => {
    const child = spawn(
      process.execPath,
      [
        cli,
        ...['--port', '0', '--in-memory', '--log-level', 'info'],
        ...['--server-product', 'Acme MQ', '--server-version', '9.9.9', '--server-platform', 'p'],
        ...['--server-copyright', 'c', '--server-information', 'i', '--cluster-name', 'n'],
        ...['--consumer-timeout', '100'],
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      const port = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('warren did not start')), 10_000);
        createInterface({ input: child.stdout }).on('line', (line) => {
          const entry = JSON.parse(line) as { msg?: string; port?: number };
          if (entry.msg === 'warren started') {
            clearTimeout(timer);
            resolve(entry.port as number);
          }
        });
      });
      const connection = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`);
      expect(connection.connection.serverProperties).toMatchObject({
        product: 'Acme MQ',
        version: '9.9.9',
        platform: 'p',
        copyright: 'c',
        information: 'i',
        cluster_name: 'n',
      });
      const channel = await connection.createChannel();
      const closed = new Promise<Error>((resolve) => channel.once('error', resolve));
      await channel.assertQueue('held', { exclusive: true });
      channel.sendToQueue('held', Buffer.from('x'));
      await channel.consume('held', () => {});
      expect((await closed).message).toContain('Timeout value used: 100 ms');
      await connection.close();
    } finally {
      child.kill('SIGKILL');
      await closeAll();
    }
  });

  it('the warren command refuses a consumer timeout that is not a whole number of milliseconds', async () => {
    const child = spawn(process.execPath, [cli, '--consumer-timeout', 'soon'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d;
    });
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(code).toBe(2);
    expect(err).toContain("invalid consumer timeout 'soon'");
  });
});
