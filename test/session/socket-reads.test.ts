import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { readIntoSlabs, SlabReads } from '../../src/broker/socket-reads.js';

describe('SlabReads', () => {
  it('never hands out a region that a read already went into', () => {
    const reads = new SlabReads();
    const taken: Buffer[] = [];
    // Reads of every kind: filling their buffer, half of it, a few bytes.
    const pattern = [1.0, 0.5, 0.001, 1.0, 1.0, 1.0, 0.2, 0.0001, 1.0, 1.0];
    for (let i = 0; i < 400; i++) {
      const buffer = reads.next();
      const n = Math.max(1, Math.floor(buffer.length * pattern[i % pattern.length]));
      buffer.fill(i & 0xff, 0, n);
      taken.push(reads.took(n, buffer));
    }
    for (let i = 0; i < taken.length; i++) {
      expect(taken[i].every((b) => b === (i & 0xff))).toBe(true);
    }
  });

  it('grows while reads fill their buffers, up to 1 MiB, and is small again once the reads are', () => {
    const reads = new SlabReads();
    const sizes: number[] = [];
    for (let i = 0; i < 12; i++) {
      const buffer = reads.next();
      sizes.push(buffer.buffer.byteLength);
      reads.took(buffer.length, buffer);
    }
    expect(sizes.slice(0, 9)).toEqual([4, 8, 16, 32, 64, 128, 256, 512, 1024].map((k) => k * 1024));
    expect(sizes.slice(9)).toEqual([1024 * 1024, 1024 * 1024, 1024 * 1024]);
    const last = reads.next();
    reads.took(100, last);
    expect(reads.next().buffer.byteLength).toBe(4 * 1024);
  });
});

describe('readIntoSlabs', () => {
  let server: Server | undefined;
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    if (server) await new Promise<void>((r) => server?.close(() => r()));
    server = undefined;
  });

  /** A server whose accepted socket is taken over; its chunks are kept, and each is echoed by length. */
  /** withoutUserBuffers: the accepted socket's handle looks like one from a Node without `onread` for it. */
  async function pair(
    withoutUserBuffers = false,
  ): Promise<{ client: Socket; chunks: Buffer[]; accepted: Promise<Socket> }> {
    const chunks: Buffer[] = [];
    let resolveAccepted: (s: Socket) => void = () => {};
    const accepted = new Promise<Socket>((r) => {
      resolveAccepted = r;
    });
    server = createServer({ pauseOnConnect: true }, (raw) => {
      if (withoutUserBuffers) {
        const handle = (raw as unknown as { _handle: object })._handle;
        Object.defineProperty(handle, 'useUserBuffer', { value: undefined });
      }
      const socket = readIntoSlabs(raw, (chunk) => {
        chunks.push(chunk);
        socket.write(`${chunk.length}\n`);
      });
      sockets.push(socket);
      resolveAccepted(socket);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const client = connect(port, '127.0.0.1');
    sockets.push(client);
    await once(client, 'connect');
    return { client, chunks, accepted };
  }

  /** Resolves once the server has echoed the lengths of `total` more bytes read. */
  function echoed(client: Socket, total: number): Promise<void> {
    let seen = 0;
    let text = '';
    return new Promise((resolve, reject) => {
      const onData = (d: Buffer) => {
        text += d.toString();
        const lines = text.split('\n');
        text = lines.pop() ?? '';
        for (const l of lines) seen += Number(l);
        if (seen >= total) {
          client.off('data', onData);
          resolve();
        }
      };
      client.on('data', onData);
      client.once('close', () => reject(new Error(`closed after ${seen} of ${total} bytes`)));
    });
  }

  it('every chunk handed out stays intact while later reads arrive, small and large', async () => {
    const { client, chunks } = await pair();
    const sent: Buffer[] = [];
    for (let i = 0; i < 60; i++) {
      const size = [7, 300, 70_000, 1, 4096, 1_500_000][i % 6];
      const b = Buffer.alloc(size);
      for (let j = 0; j < size; j++) b[j] = (i * 31 + j * 7) & 0xff;
      sent.push(b);
      const done = echoed(client, size);
      client.write(b);
      await done;
    }
    expect(Buffer.concat(chunks).equals(Buffer.concat(sent))).toBe(true);
  });

  it('reads go into the slab handed out, not one buffer per read', async () => {
    const { client, chunks, accepted } = await pair();
    const socket = await accepted;
    // Three small writes, each waited for, are three reads: one after another in one slab.
    for (const text of ['one', 'two', 'three']) {
      const done = echoed(client, text.length);
      client.write(text);
      await done;
    }
    expect(chunks.map((c) => c.toString())).toEqual(['one', 'two', 'three']);
    expect(chunks[1].buffer).toBe(chunks[0].buffer);
    expect(chunks[2].buffer).toBe(chunks[0].buffer);
    expect(chunks[1].byteOffset).toBe(chunks[0].byteOffset + 3);
    // The socket handed back is a working socket: it writes (the echoes above) and ends.
    const closed = once(socket, 'close');
    client.end();
    await closed;
  });

  it('falls back to the socket as accepted, with its data events, where the handle cannot take buffers', async () => {
    const { client, chunks, accepted } = await pair(true);
    const socket = await accepted;
    const sent = Buffer.alloc(200_000);
    for (let i = 0; i < sent.length; i++) sent[i] = (i * 13) & 0xff;
    const done = echoed(client, sent.length);
    client.write(sent);
    await done;
    expect(Buffer.concat(chunks).equals(sent)).toBe(true);
    // Node's own reads: one buffer of its own per read, so the second chunk is not in the first's.
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks[1].buffer).not.toBe(chunks[0].buffer);
    const closed = once(socket, 'close');
    client.end();
    await closed;
  });
});
