// Connection closing in the ways clients do it (close sent twice, closes from several channels at once,
// the end of the socket after close-ok) and connection.update-secret. Expectations are RabbitMQ 3.10's
// observed behaviour, with what may differ between brokers left open: RabbitMQ answers a repeated
// connection.close with a second close-ok, warren with one.

import t from 'tap';
import { brokerStillServes, rawOpen } from './lib/cases.js';
import type { RawConnection } from './lib/raw.js';
import type { Asserts } from './lib/session.js';
import { closeArgs, decodeMethod, FRAME_METHOD, isMethod, Method, methodFrame, Writer } from './lib/wire.js';

const CLOSE = closeArgs({ replyCode: 200, replyText: 'bye', classId: 0, methodId: 0 });
const UPDATE_SECRET = [10, 70] as const;
const UPDATE_SECRET_OK = [10, 71] as const;

/**
 * The methods the broker sends until it has nothing more to say within `quietMs` or ends the socket,
 * as "class/method@channel".
 */
async function methodsUntilQuiet(conn: RawConnection, quietMs = 300): Promise<string[]> {
  const seen: string[] = [];
  for (;;) {
    let frame: Awaited<ReturnType<RawConnection['nextFrame']>>;
    try {
      frame = await conn.nextFrame({ timeoutMs: quietMs });
    } catch {
      return seen;
    }
    if (frame.type !== FRAME_METHOD) {
      seen.push(`frame type ${frame.type}`);
      continue;
    }
    const m = decodeMethod(frame);
    seen.push(`${m.classId}/${m.methodId}@${m.channel}`);
  }
}

/** The client ends its side after close-ok: the broker's side ends too, without more frames. */
async function endsCleanly(t: Asserts, conn: RawConnection): Promise<void> {
  conn.socket.end();
  await conn.waitForEnd();
  t.equal(conn.parser.buffered, 0, 'nothing left unread when the socket ends');
}

t.test('connection.close twice in one write: close-ok, nothing else, a clean end', async (t) => {
  const conn = await rawOpen(t, { tune: { heartbeat: 0 } });
  await conn.send(
    Buffer.concat([
      methodFrame(0, Method.connectionClose, CLOSE),
      methodFrame(0, Method.connectionClose, CLOSE),
    ]),
  );
  const seen = await methodsUntilQuiet(conn);
  t.ok(seen.length >= 1, `at least one reply (${seen.join(', ')})`);
  t.ok(
    seen.every((m) => m === '10/51@0'),
    'only connection.close-ok on channel 0, no error',
  );
  await endsCleanly(t, conn);
  await brokerStillServes();
});

t.test(
  'channel.close on two channels and connection.close between and after them, in one write',
  async (t) => {
    const conn = await rawOpen(t, { tune: { heartbeat: 0 } });
    await conn.openChannel(1);
    await conn.openChannel(2);
    await conn.send(
      Buffer.concat([
        methodFrame(1, Method.channelClose, CLOSE),
        methodFrame(0, Method.connectionClose, CLOSE),
        methodFrame(2, Method.channelClose, CLOSE),
        methodFrame(0, Method.connectionClose, CLOSE),
      ]),
    );
    const seen = await methodsUntilQuiet(conn);
    t.ok(seen.includes('10/51@0'), `connection.close-ok (${seen.join(', ')})`);
    t.ok(
      seen.every((m) => m === '10/51@0' || m === '20/41@1'),
      'nothing but close-oks: no connection.close, no frame error',
    );
    await endsCleanly(t, conn);
    await brokerStillServes();
  },
);

t.test(
  'after the broker closes the connection and the client answers close-ok, the socket ends',
  async (t) => {
    const conn = await rawOpen(t, { tune: { heartbeat: 0 } });
    // channel.close-ok on a channel that is not open: a connection error (504) from every broker.
    await conn.sendMethod(5, Method.channelCloseOk);
    const close = await conn.expectConnectionClose({ sendCloseOk: false });
    t.equal(close.replyCode, 504, 'connection.close 504');
    await conn.sendMethod(0, Method.connectionCloseOk);
    // The client does not end its side: the broker must, promptly (a Go client reads until end of stream).
    await conn.waitForEnd(2000);
    t.equal(conn.parser.buffered, 0, 'nothing after connection.close');
    await brokerStillServes();
  },
);

t.test('the client answers the broker close with connection.close: close-ok and an end', async (t) => {
  const conn = await rawOpen(t, { tune: { heartbeat: 0 } });
  await conn.sendMethod(5, Method.channelCloseOk);
  await conn.expectConnectionClose({ sendCloseOk: false });
  await conn.sendMethod(0, Method.connectionClose, CLOSE);
  const seen = await methodsUntilQuiet(conn);
  t.ok(
    seen.every((m) => m === '10/51@0'),
    `only close-ok, if anything (${seen.join(', ') || 'nothing'})`,
  );
  await conn.sendMethod(0, Method.connectionCloseOk).catch(() => {});
  conn.socket.end();
  await conn.waitForEnd(2000);
  await brokerStillServes();
});

t.test('connection.update-secret', async (t) => {
  t.test('on channel 0: update-secret-ok, and the connection goes on', async (t) => {
    const conn = await rawOpen(t, { tune: { heartbeat: 0 } });
    await conn.sendMethod(0, UPDATE_SECRET, new Writer().longstr('guest').shortstr('token refresh').build());
    const ok = await conn.nextMethod();
    t.ok(isMethod(ok, UPDATE_SECRET_OK) && ok.channel === 0, 'connection.update-secret-ok on channel 0');
    await conn.openChannel(1);
    await conn.close();
  });

  t.test('on another channel: connection.close 503 unimplemented method', async (t) => {
    const conn = await rawOpen(t, { tune: { heartbeat: 0 } });
    await conn.openChannel(1);
    await conn.sendMethod(1, UPDATE_SECRET, new Writer().longstr('guest').shortstr('token refresh').build());
    const close = await conn.expectConnectionClose();
    t.same(
      {
        replyCode: close.replyCode,
        replyText: close.replyText,
        classId: close.classId,
        methodId: close.methodId,
      },
      { replyCode: 503, replyText: 'COMMAND_INVALID - unimplemented method', classId: 10, methodId: 70 },
    );
  });
});
