// Frame-level errors after a completed handshake. Each case opens a connection with channel 1, sends
// one bad thing, expects the connection error RabbitMQ 3.10 gives, then checks that a fresh connection
// is still served. A bystander connection opened first must survive them all.

import t from 'tap';
import { broker } from './lib/broker.js';
import { brokerStillServes, expectConnectionEnd, rawOpen } from './lib/cases.js';
import { RawConnection } from './lib/raw.js';
import {
  bodyFrame,
  closeArgs,
  encodeFrame,
  FRAME_BODY,
  FRAME_HEARTBEAT,
  FRAME_METHOD,
  headerFrame,
  heartbeatFrame,
  Method,
  methodFrame,
  queueDeclareArgs,
  Writer,
} from './lib/wire.js';

const b = await broker();

interface ExpectedClose {
  replyCode: number;
  /** Exact text, or a pattern where RabbitMQ's text embeds Erlang terms. */
  replyText: string | RegExp;
  classId: number;
  methodId: number;
}

interface ErrorCase {
  name: string;
  bytes: () => Buffer;
  /** A connection.close, or `closed` for a broker that may just drop the socket. */
  expect: ExpectedClose | { closed: true; allowedCodes: number[] };
}

const publish = (): Buffer =>
  methodFrame(
    1,
    Method.basicPublish,
    new Writer().short(0).shortstr('').shortstr('nowhere').bits(false, false).build(),
  );
const declare = (channel: number): Buffer =>
  methodFrame(
    channel,
    Method.queueDeclare,
    queueDeclareArgs('warren-conformance.errors', { exclusive: true }),
  );

const FRAME_ERROR = /^FRAME_ERROR - /;
const UNEXPECTED_FRAME = /^UNEXPECTED_FRAME - /;
const EXPECTED_METHOD = 'UNEXPECTED_FRAME - expected method frame, got non method frame instead';

const cases: ErrorCase[] = [
  {
    name: 'bad frame-end octet: 501 FRAME_ERROR',
    bytes: () => {
      const frame = declare(1);
      frame[frame.length - 1] = 0x00;
      return frame;
    },
    expect: { replyCode: 501, replyText: FRAME_ERROR, classId: 0, methodId: 0 },
  },
  {
    name: 'unknown frame type 5: 501 FRAME_ERROR',
    bytes: () => encodeFrame(5, 1, Buffer.from('abc')),
    expect: { replyCode: 501, replyText: FRAME_ERROR, classId: 0, methodId: 0 },
  },
  {
    name: 'unknown frame type 99 on channel 0: 501 FRAME_ERROR',
    bytes: () => encodeFrame(99, 0, Buffer.alloc(0)),
    expect: { replyCode: 501, replyText: FRAME_ERROR, classId: 0, methodId: 0 },
  },
  {
    name: 'frame larger than frame_max (200000 octets): 501 FRAME_ERROR',
    bytes: () => encodeFrame(FRAME_METHOD, 1, Buffer.alloc(200000)),
    expect: { replyCode: 501, replyText: FRAME_ERROR, classId: 0, methodId: 0 },
  },
  {
    name: 'frame header announcing 2 GiB, no payload sent: 501 FRAME_ERROR from the header alone',
    bytes: () => Buffer.from([FRAME_METHOD, 0, 1, 0x7f, 0xff, 0xff, 0xff]),
    expect: { replyCode: 501, replyText: FRAME_ERROR, classId: 0, methodId: 0 },
  },
  {
    name: 'heartbeat frame with a payload: 501 FRAME_ERROR',
    bytes: () => encodeFrame(FRAME_HEARTBEAT, 0, Buffer.from('ab')),
    expect: { replyCode: 501, replyText: FRAME_ERROR, classId: 0, methodId: 0 },
  },
  {
    name: 'method frame shorter than its class and method ids: 501 FRAME_ERROR',
    bytes: () => encodeFrame(FRAME_METHOD, 1, Buffer.from([0, 50])),
    expect: { replyCode: 501, replyText: FRAME_ERROR, classId: 0, methodId: 0 },
  },
  {
    name: 'queue.declare with its arguments cut short in a well-formed frame: 501 FRAME_ERROR',
    bytes: () => {
      const args = queueDeclareArgs('warren-conformance.truncated', { exclusive: true });
      return methodFrame(1, Method.queueDeclare, args.subarray(0, 6));
    },
    expect: { replyCode: 501, replyText: /^FRAME_ERROR - cannot decode /, classId: 50, methodId: 10 },
  },
  {
    name: 'queue.declare with octets after its last argument: 501 FRAME_ERROR',
    bytes: () => {
      const args = queueDeclareArgs('warren-conformance.trailing', { exclusive: true });
      return methodFrame(1, Method.queueDeclare, Buffer.concat([args, Buffer.from('zz')]));
    },
    expect: { replyCode: 501, replyText: /^FRAME_ERROR - cannot decode /, classId: 50, methodId: 10 },
  },
  {
    name: 'unknown class id 99: the connection is closed',
    bytes: () => methodFrame(1, [99, 10], Buffer.from([1, 2, 3])),
    expect: { closed: true, allowedCodes: [503, 540] },
  },
  {
    name: 'unknown method id 50/99: the connection is closed',
    bytes: () => methodFrame(1, [50, 99], Buffer.from([1, 2, 3])),
    expect: { closed: true, allowedCodes: [503, 540] },
  },
  {
    name: 'unknown connection method 10/99 on channel 0: the connection is closed',
    bytes: () => methodFrame(0, [10, 99]),
    expect: { closed: true, allowedCodes: [503, 540] },
  },
  {
    name: 'content header without basic.publish: 505 UNEXPECTED_FRAME',
    bytes: () => headerFrame(1, 60, 5),
    expect: { replyCode: 505, replyText: EXPECTED_METHOD, classId: 0, methodId: 0 },
  },
  {
    name: 'content header on a channel never opened: 505 UNEXPECTED_FRAME',
    bytes: () => headerFrame(7, 60, 5),
    expect: { replyCode: 505, replyText: EXPECTED_METHOD, classId: 0, methodId: 0 },
  },
  {
    name: 'body frame without basic.publish: 505 UNEXPECTED_FRAME',
    bytes: () => bodyFrame(1, Buffer.from('hello')),
    expect: { replyCode: 505, replyText: EXPECTED_METHOD, classId: 0, methodId: 0 },
  },
  {
    name: 'body frame where the content header is expected: 505 UNEXPECTED_FRAME',
    bytes: () => Buffer.concat([publish(), bodyFrame(1, Buffer.from('hello'))]),
    expect: {
      replyCode: 505,
      replyText:
        'UNEXPECTED_FRAME - expected content header for class 60, got non content header frame instead',
      classId: 60,
      methodId: 40,
    },
  },
  {
    name: 'method frame where the content header is expected: 505 UNEXPECTED_FRAME',
    bytes: () => Buffer.concat([publish(), declare(1)]),
    expect: {
      replyCode: 505,
      replyText:
        'UNEXPECTED_FRAME - expected content header for class 60, got non content header frame instead',
      classId: 60,
      methodId: 40,
    },
  },
  {
    name: 'content header of another class: 505 UNEXPECTED_FRAME',
    bytes: () => Buffer.concat([publish(), headerFrame(1, 50, 5)]),
    expect: {
      replyCode: 505,
      replyText: 'UNEXPECTED_FRAME - expected content header for class 60, got one for class 50 instead',
      classId: 60,
      methodId: 40,
    },
  },
  {
    name: 'method frame where a body frame is expected: 505 UNEXPECTED_FRAME',
    bytes: () => Buffer.concat([publish(), headerFrame(1, 60, 5), declare(1)]),
    expect: {
      replyCode: 505,
      replyText: 'UNEXPECTED_FRAME - expected content body, got non content body frame instead',
      classId: 60,
      methodId: 40,
    },
  },
  {
    name: 'queue.declare on channel 0: 504 CHANNEL_ERROR',
    bytes: () => declare(0),
    expect: {
      replyCode: 504,
      replyText: 'CHANNEL_ERROR - unexpected method in connection state running',
      classId: 50,
      methodId: 10,
    },
  },
  {
    name: 'channel.open on channel 0: 504 CHANNEL_ERROR',
    bytes: () => methodFrame(0, Method.channelOpen, new Writer().shortstr('').build()),
    expect: {
      replyCode: 504,
      replyText: 'CHANNEL_ERROR - unexpected method in connection state running',
      classId: 20,
      methodId: 10,
    },
  },
  {
    name: 'connection.close on channel 1: 503 COMMAND_INVALID',
    bytes: () =>
      methodFrame(
        1,
        Method.connectionClose,
        closeArgs({ replyCode: 200, replyText: '', classId: 0, methodId: 0 }),
      ),
    expect: {
      replyCode: 503,
      replyText: 'COMMAND_INVALID - unimplemented method',
      classId: 10,
      methodId: 50,
    },
  },
  {
    name: 'content header on channel 0: 505 UNEXPECTED_FRAME',
    bytes: () => headerFrame(0, 60, 5),
    expect: { replyCode: 505, replyText: UNEXPECTED_FRAME, classId: 0, methodId: 0 },
  },
  {
    name: 'body frame on channel 0: 505 UNEXPECTED_FRAME',
    bytes: () => encodeFrame(FRAME_BODY, 0, Buffer.from('x')),
    expect: { replyCode: 505, replyText: UNEXPECTED_FRAME, classId: 0, methodId: 0 },
  },
  {
    name: 'heartbeat frame on channel 1: 505 UNEXPECTED_FRAME',
    bytes: () => heartbeatFrame(1),
    expect: { replyCode: 505, replyText: UNEXPECTED_FRAME, classId: 0, methodId: 0 },
  },
  {
    name: 'connection.start-ok after the handshake: 504 CHANNEL_ERROR',
    bytes: () =>
      methodFrame(
        0,
        Method.connectionStartOk,
        new Writer().table({}).shortstr('PLAIN').longstr('\0guest\0guest').shortstr('en_US').build(),
      ),
    expect: {
      replyCode: 504,
      replyText: 'CHANNEL_ERROR - unexpected method in connection state running',
      classId: 10,
      methodId: 11,
    },
  },
];

// Opened before any error and checked after all of them.
const bystander = await RawConnection.open(b, { tune: { heartbeat: 0 } });
await bystander.openChannel(1);
t.teardown(() => bystander.destroy());

for (const c of cases) {
  t.test(c.name, async (t) => {
    const conn = await rawOpen(t, { tune: { heartbeat: 0 }, openChannel: true });
    await conn.send(c.bytes());
    if ('closed' in c.expect) {
      const end = await expectConnectionEnd(conn);
      if (end.close) {
        t.ok(c.expect.allowedCodes.includes(end.close.replyCode), `connection.close ${end.close.replyCode}`);
        t.equal(end.close.channel, 0, 'on channel 0');
      } else {
        t.pass('the broker closed the socket');
      }
    } else {
      const close = await conn.expectConnectionClose();
      const { replyText, ...ids } = c.expect;
      t.same(
        {
          replyCode: close.replyCode,
          classId: close.classId,
          methodId: close.methodId,
          channel: close.channel,
        },
        { ...ids, channel: 0 },
        'connection.close code, class and method ids, on channel 0',
      );
      if (typeof replyText === 'string') t.equal(close.replyText, replyText, 'reply-text');
      else t.match(close.replyText, replyText, 'reply-text');
    }
    await brokerStillServes();
  });
}

t.test(
  'many frames in one write: a bad frame ends the connection after the good ones were handled',
  async (t) => {
    const conn = await rawOpen(t, { tune: { heartbeat: 0 } });
    const bad = declare(2);
    bad[bad.length - 1] = 0x00;
    await conn.send(
      Buffer.concat([methodFrame(2, Method.channelOpen, new Writer().shortstr('').build()), bad]),
    );
    await conn.expectMethod(Method.channelOpenOk, 2);
    const close = await conn.expectConnectionClose();
    t.equal(close.replyCode, 501, 'then 501 FRAME_ERROR');
  },
);

t.test('the bystander connection opened before the errors still works', async (t) => {
  await bystander.openChannel(2);
  await bystander.sendMethod(2, Method.channelFlow, new Writer().bits(true).build());
  await bystander.expectMethod(Method.channelFlowOk, 2);
  await bystander.close();
  t.pass('channel.open-ok, channel.flow-ok and a clean close');
});
