// Protocol header negotiation and frame boundaries: refused headers, many frames in one write, frames
// split across many writes, content split over many body frames.

import t from 'tap';
import { rawOpen, rawSocket, uniqueName } from './lib/cases.js';
import type { RawConnection } from './lib/raw.js';
import {
  basicGetArgs,
  bodyFrame,
  closeArgs,
  FRAME_BODY,
  FRAME_HEADER,
  headerFrame,
  Method,
  methodFrame,
  PROTOCOL_HEADER,
  publishFrames,
  queueDeclareArgs,
  Reader,
  Writer,
} from './lib/wire.js';

const AMQP_0_9_1 = Buffer.from('AMQP\x00\x00\x09\x01', 'latin1');

const channelOpenArgs = new Writer().shortstr('').build();
const closeOkArgs = closeArgs({ replyCode: 200, replyText: '', classId: 0, methodId: 0 });

t.test(
  'a protocol header the broker does not speak gets AMQP 0-0-9-1 back and the socket closed',
  async (t) => {
    const headers: [string, Buffer][] = [
      ['AMQP 0-0-9-0', Buffer.from('AMQP\x00\x00\x09\x00', 'latin1')],
      ['AMQP 0-0-10-0', Buffer.from('AMQP\x00\x00\x0a\x00', 'latin1')],
      ['AMQP 1.0 (AMQP 0-1-0-0)', Buffer.from('AMQP\x00\x01\x00\x00', 'latin1')],
      ['HTTP/1.1', Buffer.from('HTTP/1.1', 'latin1')],
      ['an HTTP request', Buffer.from('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 'latin1')],
      ['eight zero octets', Buffer.alloc(8)],
    ];
    for (const [name, header] of headers) {
      t.test(name, async (t) => {
        const conn = await rawSocket(t);
        await conn.send(header);
        const reply = await conn.readBytes(8);
        t.same([...reply], [...AMQP_0_9_1], 'AMQP 0-0-9-1');
        await conn.waitForEnd();
        t.equal(conn.parser.buffered, 0, 'nothing else was sent');
      });
    }
  },
);

t.test('the AMQP 0-9 header (AMQP 1-1-0-9) is accepted as 0-9-1', async (t) => {
  const conn = await rawSocket(t);
  await conn.sendProtocolHeader(Buffer.from('AMQP\x01\x01\x00\x09', 'latin1'));
  const start = await conn.readStart();
  t.same([start.versionMajor, start.versionMinor], [0, 9], 'connection.start says 0-9');
  await conn.sendStartOk();
  await conn.sendTuneOk(await conn.readTune());
  await conn.sendOpen('/');
  await conn.expectMethod(Method.connectionOpenOk, 0);
  await conn.openChannel(1);
  await conn.close();
});

t.test('tune-ok and connection.open in one write', async (t) => {
  const conn = await rawSocket(t);
  await conn.sendProtocolHeader();
  await conn.readStart();
  await conn.sendStartOk();
  const tune = await conn.readTune();
  await conn.send(
    Buffer.concat([
      methodFrame(
        0,
        Method.connectionTuneOk,
        new Writer().short(tune.channelMax).long(tune.frameMax).short(0).build(),
      ),
      methodFrame(0, Method.connectionOpen, new Writer().shortstr('/').shortstr('').bits(false).build()),
    ]),
  );
  await conn.expectMethod(Method.connectionOpenOk, 0);
  await conn.close();
});

/** channel.open, queue.declare, a publish to that queue, basic.get and channel.close on channel 1. */
function sessionFrames(queue: string, body: Buffer): Buffer {
  return Buffer.concat([
    methodFrame(1, Method.channelOpen, channelOpenArgs),
    methodFrame(1, Method.queueDeclare, queueDeclareArgs(queue, { exclusive: true })),
    publishFrames(1, '', queue, body),
    methodFrame(1, Method.basicGet, basicGetArgs(queue, true)),
    methodFrame(1, Method.channelClose, closeOkArgs),
  ]);
}

async function expectSessionReplies(conn: RawConnection, queue: string, body: Buffer): Promise<void> {
  await conn.expectMethod(Method.channelOpenOk, 1);
  const declareOk = await conn.expectMethod(Method.queueDeclareOk, 1);
  if (new Reader(declareOk.args).shortstr() !== queue)
    throw new Error('queue.declare-ok names another queue');
  await conn.expectMethod(Method.basicGetOk, 1);
  const header = await conn.nextFrame();
  if (header.type !== FRAME_HEADER)
    throw new Error(`expected a content header, got frame type ${header.type}`);
  const content = await conn.nextFrame();
  if (content.type !== FRAME_BODY || !content.payload.equals(body)) throw new Error('body differs');
  await conn.expectMethod(Method.channelCloseOk, 1);
}

t.test('many frames in one write', async (t) => {
  const conn = await rawOpen(t);
  const queue = uniqueName('one-write');
  const body = Buffer.from('many frames, one write');
  await conn.send(sessionFrames(queue, body));
  await expectSessionReplies(conn, queue, body);
  t.pass('open-ok, declare-ok, get-ok with the body, close-ok in order');
  await conn.close();
});

t.test('every frame written one octet at a time, from the protocol header on', async (t) => {
  const conn = await rawSocket(t);
  await conn.sendByteByByte(PROTOCOL_HEADER);
  await conn.readStart();
  const startOk = new Writer()
    .table({ product: 'warren-conformance' })
    .shortstr('PLAIN')
    .longstr('\0guest\0guest')
    .shortstr('en_US')
    .build();
  await conn.sendByteByByte(methodFrame(0, Method.connectionStartOk, startOk));
  const tune = await conn.readTune();
  await conn.sendByteByByte(
    Buffer.concat([
      methodFrame(
        0,
        Method.connectionTuneOk,
        new Writer().short(tune.channelMax).long(tune.frameMax).short(0).build(),
      ),
      methodFrame(0, Method.connectionOpen, new Writer().shortstr('/').shortstr('').bits(false).build()),
    ]),
  );
  await conn.expectMethod(Method.connectionOpenOk, 0);
  const queue = uniqueName('byte-by-byte');
  const body = Buffer.from('one octet at a time');
  await conn.sendByteByByte(sessionFrames(queue, body));
  await expectSessionReplies(conn, queue, body);
  t.pass('the broker reassembled every frame');
  await conn.close();
});

t.test('content split over many body frames, and content with no body frame', async (t) => {
  const conn = await rawOpen(t, { openChannel: true });
  const queue = uniqueName('body-frames');
  await conn.sendMethod(1, Method.queueDeclare, queueDeclareArgs(queue, { exclusive: true }));
  await conn.expectMethod(Method.queueDeclareOk, 1);
  const publish = new Writer().short(0).shortstr('').shortstr(queue).bits(false, false).build();

  const body = Buffer.from('split into one body frame per octet');
  await conn.send(
    Buffer.concat([
      methodFrame(1, Method.basicPublish, publish),
      headerFrame(1, 60, body.length),
      ...[...body].map((octet) => bodyFrame(1, Buffer.from([octet]))),
    ]),
  );
  // body-size 0: the content header completes the message (spec 4.2.6.2).
  await conn.send(Buffer.concat([methodFrame(1, Method.basicPublish, publish), headerFrame(1, 60, 0)]));

  await conn.sendMethod(1, Method.basicGet, basicGetArgs(queue, true));
  await conn.expectMethod(Method.basicGetOk, 1);
  t.equal((await conn.nextFrame()).type, FRAME_HEADER, 'content header');
  const parts: Buffer[] = [];
  let received = 0;
  while (received < body.length) {
    const frame = await conn.nextFrame();
    t.equal(frame.type, FRAME_BODY, 'body frame');
    parts.push(frame.payload);
    received += frame.payload.length;
  }
  t.equal(Buffer.concat(parts).toString(), body.toString(), 'the body was reassembled');

  await conn.sendMethod(1, Method.basicGet, basicGetArgs(queue, true));
  await conn.expectMethod(Method.basicGetOk, 1);
  const header = await conn.nextFrame();
  t.equal(header.type, FRAME_HEADER, 'content header');
  const r = new Reader(header.payload);
  r.short();
  r.short();
  t.equal(r.longlong(), 0n, 'body-size 0');
  // The next frame must be the reply to this get-empty probe, not a body frame.
  await conn.sendMethod(1, Method.basicGet, basicGetArgs(queue, true));
  await conn.expectMethod(Method.basicGetEmpty, 1);
  await conn.close();
});
