// Connection layer: handshake through two clients and by hand, connection.start, authentication,
// virtual hosts, tuning and channels. Expectations are RabbitMQ 3.10's observed behaviour.

import * as amqplib from 'amqplib';
import t from 'tap';
import { broker, urlWith } from './lib/broker.js';
import {
  amqpClientConnect,
  amqplibConnect,
  brokerStillServes,
  expectConnectionEnd,
  rawOpen,
  rawSocket,
  uniqueName,
  within,
} from './lib/cases.js';
import {
  basicGetArgs,
  bodyFrame,
  closeArgs,
  FRAME_BODY,
  FRAME_HEADER,
  headerFrame,
  Method,
  methodFrame,
  queueDeclareArgs,
  Reader,
  Writer,
} from './lib/wire.js';

const b = await broker();

const ACCESS_REFUSED_PLAIN =
  'ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile.';
const ACCESS_REFUSED_AMQPLAIN =
  'ACCESS_REFUSED - Login was refused using authentication mechanism AMQPLAIN. For details see the broker logfile.';

function publishArgs(routingKey: string): Buffer {
  return new Writer().short(0).shortstr('').shortstr(routingKey).bits(false, false).build();
}

t.test('handshake through client libraries', async (t) => {
  t.test('amqplib: connect, open a channel, round trip a message, close', async (t) => {
    const conn = await amqplibConnect(t, b.url);
    t.type(conn.connection.serverProperties.product, 'string', 'server-properties carry a product');
    const ch = await within(conn.createChannel(), 'channel.open-ok');
    const { queue } = await within(ch.assertQueue('', { exclusive: true }), 'queue.declare-ok');
    ch.sendToQueue(queue, Buffer.from('hello amqplib'));
    const msg = await within(ch.get(queue, { noAck: true }), 'basic.get-ok');
    t.ok(msg, 'basic.get returns the message');
    if (msg) t.equal(msg.content.toString(), 'hello amqplib');
    await within(ch.close(), 'channel.close-ok');
    await within(conn.close(), 'connection.close-ok');
  });

  t.test('amqp-client: connect, open a channel, round trip a message, close', async (t) => {
    const client = await amqpClientConnect(t, b.url);
    const ch = await within(client.channel(), 'channel.open-ok');
    const q = await within(ch.queueDeclare('', { exclusive: true }), 'queue.declare-ok');
    await within(ch.basicPublish('', q.name, 'hello amqp-client'), 'basic.publish');
    const msg = await within(ch.basicGet(q.name, { noAck: true }), 'basic.get-ok');
    t.equal(msg?.bodyToString(), 'hello amqp-client');
    await within(ch.close(), 'channel.close-ok');
    t.equal(ch.closed, true, 'channel closed');
    await within(client.close(), 'connection.close-ok');
    t.equal(client.closed, true, 'connection closed');
  });
});

t.test(
  'connection.start announces version 0-9, PLAIN and AMQPLAIN, en_US and server properties',
  async (t) => {
    const conn = await rawSocket(t);
    await conn.sendProtocolHeader();
    const start = await conn.readStart();
    t.equal(start.versionMajor, 0, 'version-major');
    t.equal(start.versionMinor, 9, 'version-minor');
    t.ok(start.mechanisms.includes('PLAIN'), `mechanisms include PLAIN (${start.mechanisms.join(' ')})`);
    t.ok(start.mechanisms.includes('AMQPLAIN'), 'mechanisms include AMQPLAIN');
    t.ok(start.locales.includes('en_US'), 'locales include en_US');
    const props = start.serverProperties;
    for (const key of ['product', 'version', 'platform'])
      t.type(props[key], 'string', `server-properties.${key}`);
    const capabilities = props.capabilities;
    t.ok(
      typeof capabilities === 'object' && capabilities !== null && !Array.isArray(capabilities),
      'server-properties.capabilities is a table',
    );
    if (typeof capabilities === 'object' && capabilities !== null && !Array.isArray(capabilities)) {
      for (const [key, value] of Object.entries(capabilities)) {
        t.type(value, 'boolean', `capability ${key} is a boolean`);
      }
      // The extensions clients look for before using them (the Java client's consumer priorities,
      // RPC helpers' direct reply-to).
      for (const key of [
        'consumer_priorities',
        'direct_reply_to',
        'publisher_confirms',
        'per_consumer_qos',
      ]) {
        t.equal((capabilities as Record<string, unknown>)[key], true, `capability ${key} is advertised`);
      }
    }
  },
);

t.test('authentication', async (t) => {
  t.test('AMQPLAIN with a field-table response (no length prefix) is accepted (raw)', async (t) => {
    const conn = await rawOpen(t, { mechanism: 'AMQPLAIN' });
    await conn.openChannel(1);
    await conn.close();
  });

  t.test('AMQPLAIN is accepted (amqplib)', async (t) => {
    const conn = await amqplibConnect(t, b.url, {
      credentials: amqplib.credentials.amqplain('guest', 'guest'),
    });
    const ch = await within(conn.createChannel(), 'channel.open-ok');
    await within(ch.close(), 'channel.close-ok');
    await within(conn.close(), 'connection.close-ok');
  });

  for (const [name, options, text] of [
    ['wrong password, PLAIN', { password: 'wrong' }, ACCESS_REFUSED_PLAIN],
    ['wrong password, AMQPLAIN', { password: 'wrong', mechanism: 'AMQPLAIN' }, ACCESS_REFUSED_AMQPLAIN],
    ['unknown user', { username: 'warren-conformance-nobody' }, ACCESS_REFUSED_PLAIN],
  ] as const) {
    t.test(`${name}, authentication_failure_close announced: connection.close 403`, async (t) => {
      const conn = await rawSocket(t);
      await conn.sendProtocolHeader();
      await conn.readStart();
      await conn.sendStartOk({
        ...options,
        clientProperties: { capabilities: { authentication_failure_close: true } },
      });
      const close = await conn.expectConnectionClose();
      t.same(close, { replyCode: 403, replyText: text, classId: 0, methodId: 0, channel: 0 });
      await conn.waitForEnd();
    });
  }

  t.test('wrong password through amqplib and amqp-client is refused with 403', async (t) => {
    const bad = urlWith(b.url, { password: 'wrong' });
    await t.rejects(amqplibConnect(t, bad), {
      message: /403 \(ACCESS-REFUSED\).*ACCESS_REFUSED - Login was refused/,
    });
    await t.rejects(amqpClientConnect(t, bad), { message: /ACCESS_REFUSED - Login was refused.*\(403\)/ });
  });

  // Refusals the spec wants without a negotiated close: the broker closes the socket and sends nothing.
  t.test('refused without sending anything', { jobs: 5 }, async (t) => {
    t.test('wrong password, authentication_failure_close not announced', async (t) => {
      const conn = await rawSocket(t);
      await conn.sendProtocolHeader();
      await conn.readStart();
      await conn.sendStartOk({ password: 'wrong', clientProperties: { product: 'warren-conformance' } });
      t.same(await expectConnectionEnd(conn, 5000), { close: undefined, silent: true });
    });

    t.test('unknown mechanism', async (t) => {
      const conn = await rawSocket(t);
      await conn.sendProtocolHeader();
      await conn.readStart();
      await conn.sendStartOk({ mechanism: 'WARREN-NO-SUCH-MECHANISM', response: Buffer.from('x') });
      t.same(await expectConnectionEnd(conn, 5000), { close: undefined, silent: true });
    });

    t.test('tune-ok frame_max below 4096', async (t) => {
      const conn = await rawSocket(t);
      await conn.sendProtocolHeader();
      await conn.readStart();
      await conn.sendStartOk();
      const tune = await conn.readTune();
      await conn.sendTuneOk({ ...tune, frameMax: 1024 });
      await conn.sendOpen('/');
      t.same(await expectConnectionEnd(conn, 5000), { close: undefined, silent: true });
    });

    t.test("tune-ok frame_max above the server's", async (t) => {
      const conn = await rawSocket(t);
      await conn.sendProtocolHeader();
      await conn.readStart();
      await conn.sendStartOk();
      const tune = await conn.readTune();
      await conn.sendTuneOk({ ...tune, frameMax: tune.frameMax + 1 });
      await conn.sendOpen('/');
      t.same(await expectConnectionEnd(conn, 5000), { close: undefined, silent: true });
    });

    t.test("tune-ok channel_max above the server's", async (t) => {
      const conn = await rawSocket(t);
      await conn.sendProtocolHeader();
      await conn.readStart();
      await conn.sendStartOk();
      const tune = await conn.readTune();
      await conn.sendTuneOk({ ...tune, channelMax: tune.channelMax + 1 });
      await conn.sendOpen('/');
      t.same(await expectConnectionEnd(conn, 5000), { close: undefined, silent: true });
    });
  });

  t.test('the broker still serves a fresh connection', async () => {
    await brokerStillServes();
  });
});

t.test('unknown vhost', async (t) => {
  const vhost = uniqueName('no-such-vhost');
  const text = `NOT_ALLOWED - vhost ${vhost} not found`;

  t.test('raw: connection.close 530 for connection.open', async (t) => {
    const conn = await rawSocket(t);
    await conn.sendProtocolHeader();
    await conn.readStart();
    await conn.sendStartOk();
    await conn.sendTuneOk(await conn.readTune());
    await conn.sendOpen(vhost);
    const close = await conn.expectConnectionClose();
    t.same(close, { replyCode: 530, replyText: text, classId: 10, methodId: 40, channel: 0 });
    await conn.waitForEnd();
  });

  t.test('amqplib and amqp-client are refused', async (t) => {
    const url = urlWith(b.url, { vhost });
    await t.rejects(amqplibConnect(t, url), { message: /ConnectionClose/ });
    await t.rejects(amqpClientConnect(t, url), { message: `connection closed: ${text} (530)` });
  });
});

t.test('tune', async (t) => {
  t.test('the server proposes channel_max 2047, frame_max 131072, heartbeat 60', async (t) => {
    const conn = await rawSocket(t);
    await conn.sendProtocolHeader();
    await conn.readStart();
    await conn.sendStartOk();
    t.same(await conn.readTune(), { channelMax: 2047, frameMax: 131072, heartbeat: 60 });
  });

  t.test('frame_max 8192: a frame larger than 8192 octets is 501 FRAME_ERROR', async (t) => {
    const conn = await rawOpen(t, { tune: { frameMax: 8192 }, openChannel: true });
    const tooBig = Buffer.alloc(8192 + 100, 0x62);
    // Routed nowhere: only the frame size matters here.
    await conn.send(
      Buffer.concat([
        methodFrame(1, Method.basicPublish, publishArgs(uniqueName('nowhere'))),
        headerFrame(1, 60, tooBig.length),
        bodyFrame(1, tooBig),
      ]),
    );
    const close = await conn.expectConnectionClose();
    t.match(close, { replyCode: 501, replyText: /^FRAME_ERROR - /, classId: 0, methodId: 0, channel: 0 });
    await brokerStillServes();
  });

  t.test('frame_max 8192: a frame of exactly 8192 octets is accepted', async (t) => {
    const conn = await rawOpen(t, { tune: { frameMax: 8192 }, openChannel: true });
    const queue = uniqueName('frame-max');
    await conn.sendMethod(1, Method.queueDeclare, queueDeclareArgs(queue, { exclusive: true }));
    await conn.expectMethod(Method.queueDeclareOk, 1);
    // 7 octets of frame header + 8184 of payload + frame-end = 8192.
    const fits = Buffer.alloc(8184, 0x61);
    await conn.send(
      Buffer.concat([
        methodFrame(1, Method.basicPublish, publishArgs(queue)),
        headerFrame(1, 60, fits.length),
        bodyFrame(1, fits),
      ]),
    );
    await conn.sendMethod(1, Method.basicGet, basicGetArgs(queue, true));
    await conn.expectMethod(Method.basicGetOk, 1);
    t.equal((await conn.nextFrame()).type, FRAME_HEADER, 'content header');
    const body = await conn.nextFrame();
    t.equal(body.type, FRAME_BODY, 'body frame');
    t.ok(body.payload.equals(fits), 'the 8192-octet frame arrived whole');
    await conn.close();
  });

  t.test('with the default frame_max the same 8292-octet frame is accepted', async (t) => {
    const conn = await rawOpen(t, { openChannel: true });
    const queue = uniqueName('frame-max-default');
    await conn.sendMethod(1, Method.queueDeclare, queueDeclareArgs(queue, { exclusive: true }));
    await conn.expectMethod(Method.queueDeclareOk, 1);
    const payload = Buffer.alloc(8192 + 100, 0x62);
    await conn.send(
      Buffer.concat([
        methodFrame(1, Method.basicPublish, publishArgs(queue)),
        headerFrame(1, 60, payload.length),
        bodyFrame(1, payload),
      ]),
    );
    await conn.sendMethod(1, Method.basicGet, basicGetArgs(queue, true));
    await conn.expectMethod(Method.basicGetOk, 1);
    await conn.nextFrame();
    const body = await conn.nextFrame();
    t.ok(body.payload.equals(payload), 'body arrived whole in one frame');
    await conn.close();
  });

  t.test(
    'frame_max 8192: the server splits a 20000-octet body into frames of at most 8192 octets',
    async (t) => {
      const conn = await rawOpen(t, { tune: { frameMax: 8192 }, openChannel: true });
      const queue = uniqueName('split');
      await conn.sendMethod(1, Method.queueDeclare, queueDeclareArgs(queue, { exclusive: true }));
      await conn.expectMethod(Method.queueDeclareOk, 1);
      const message = Buffer.alloc(20000);
      for (let i = 0; i < message.length; i++) message[i] = i % 251;
      await conn.send(
        Buffer.concat([
          methodFrame(1, Method.basicPublish, publishArgs(queue)),
          headerFrame(1, 60, message.length),
          bodyFrame(1, message.subarray(0, 8184)),
          bodyFrame(1, message.subarray(8184, 16368)),
          bodyFrame(1, message.subarray(16368)),
        ]),
      );
      await conn.sendMethod(1, Method.basicGet, basicGetArgs(queue, true));
      await conn.expectMethod(Method.basicGetOk, 1);
      const header = await conn.nextFrame();
      t.equal(header.type, FRAME_HEADER);
      const r = new Reader(header.payload);
      t.equal(r.short(), 60, 'content class');
      r.short();
      t.equal(r.longlong(), 20000n, 'body-size');
      const parts: Buffer[] = [];
      let received = 0;
      while (received < message.length) {
        const frame = await conn.nextFrame();
        t.equal(frame.type, FRAME_BODY);
        t.ok(
          frame.payload.length + 8 <= 8192,
          `body frame of ${frame.payload.length + 8} octets fits frame_max`,
        );
        parts.push(frame.payload);
        received += frame.payload.length;
      }
      t.ok(Buffer.concat(parts).equals(message), 'body reassembles to what was published');
      await conn.close();
    },
  );

  t.test('channel_max 10: ten channels open, the eleventh is 530 NOT_ALLOWED', async (t) => {
    const conn = await rawOpen(t, { tune: { channelMax: 10 } });
    for (let channel = 1; channel <= 10; channel++) await conn.openChannel(channel);
    await conn.sendMethod(11, Method.channelOpen, new Writer().shortstr('').build());
    const close = await conn.expectConnectionClose();
    t.same(close, {
      replyCode: 530,
      replyText: 'NOT_ALLOWED - number of channels opened (10) has reached the negotiated channel_max (10)',
      classId: 0,
      methodId: 0,
      channel: 0,
    });
    await brokerStillServes();
  });

  t.test('amqp-client with frameMax 8192 and channelMax 10 round trips a 20000-octet message', async (t) => {
    const url = new URL(b.url);
    url.searchParams.set('frameMax', '8192');
    url.searchParams.set('channelMax', '10');
    const client = await amqpClientConnect(t, url.toString());
    t.equal(client.frameMax, 8192);
    t.equal(client.channelMax, 10);
    const ch = await within(client.channel(), 'channel.open-ok');
    const q = await within(ch.queueDeclare('', { exclusive: true }), 'queue.declare-ok');
    const message = Buffer.alloc(20000, 0x7a);
    await within(ch.basicPublish('', q.name, message), 'basic.publish');
    const msg = await within(ch.basicGet(q.name, { noAck: true }), 'basic.get-ok');
    t.ok(msg?.body && Buffer.from(msg.body).equals(message), 'body round trips');
    await within(client.close(), 'connection.close-ok');
  });
});

t.test('channels', async (t) => {
  t.test("channel.open on an open channel: 504 CHANNEL_ERROR second 'channel.open' seen", async (t) => {
    const conn = await rawOpen(t, { openChannel: true });
    await conn.sendMethod(1, Method.channelOpen, new Writer().shortstr('').build());
    const close = await conn.expectConnectionClose();
    t.same(close, {
      replyCode: 504,
      replyText: "CHANNEL_ERROR - second 'channel.open' seen",
      classId: 20,
      methodId: 10,
      channel: 0,
    });
    await conn.waitForEnd();
  });

  t.test("a method on a channel never opened: 504 CHANNEL_ERROR expected 'channel.open'", async (t) => {
    const conn = await rawOpen(t);
    await conn.sendMethod(
      3,
      Method.queueDeclare,
      queueDeclareArgs(uniqueName('unopened'), { exclusive: true }),
    );
    const close = await conn.expectConnectionClose();
    t.same(close, {
      replyCode: 504,
      replyText: "CHANNEL_ERROR - expected 'channel.open'",
      classId: 50,
      methodId: 10,
      channel: 0,
    });
    await conn.waitForEnd();
  });

  t.test('channel.close / close-ok, then the same channel number opens again', async (t) => {
    const conn = await rawOpen(t, { openChannel: true });
    await conn.sendMethod(
      1,
      Method.channelClose,
      closeArgs({ replyCode: 200, replyText: '', classId: 0, methodId: 0 }),
    );
    await conn.expectMethod(Method.channelCloseOk, 1);
    await conn.openChannel(1);
    await conn.sendMethod(
      1,
      Method.queueDeclare,
      queueDeclareArgs(uniqueName('reopen'), { exclusive: true }),
    );
    await conn.expectMethod(Method.queueDeclareOk, 1);
    await conn.close();
  });

  t.test('channel.flow active=true gets flow-ok active=true', async (t) => {
    const conn = await rawOpen(t, { openChannel: true });
    await conn.sendMethod(1, Method.channelFlow, new Writer().bits(true).build());
    const ok = await conn.expectMethod(Method.channelFlowOk, 1);
    t.equal(new Reader(ok.args).octet() & 1, 1, 'active=true');
    await conn.close();
  });

  t.test('channel.flow active=false: 540 NOT_IMPLEMENTED', async (t) => {
    const conn = await rawOpen(t, { openChannel: true });
    await conn.sendMethod(1, Method.channelFlow, new Writer().bits(false).build());
    const close = await conn.expectConnectionClose();
    t.same(close, {
      replyCode: 540,
      replyText: 'NOT_IMPLEMENTED - active=false',
      classId: 20,
      methodId: 20,
      channel: 0,
    });
    await conn.waitForEnd();

    const client = await amqpClientConnect(t, b.url);
    const ch = await within(client.channel(), 'channel.open-ok');
    await t.rejects(
      within(ch.basicFlow(false), 'channel.flow reply'),
      { message: /NOT_IMPLEMENTED - active=false/ },
      'amqp-client sees 540',
    );
  });

  t.test('connection.close from the client gets close-ok', async (t) => {
    const conn = await rawOpen(t, { openChannel: true });
    await conn.sendMethod(
      0,
      Method.connectionClose,
      closeArgs({ replyCode: 200, replyText: 'bye', classId: 0, methodId: 0 }),
    );
    const ok = await conn.expectMethod(Method.connectionCloseOk, 0);
    t.equal(ok.args.length, 0, 'close-ok has no arguments');
    conn.socket.end();
    await conn.waitForEnd();
  });

  t.test('abrupt socket destroys leave the broker serving other connections', async (t) => {
    const midHandshake = await rawSocket(t);
    await midHandshake.sendProtocolHeader();
    await midHandshake.readStart();
    midHandshake.destroy();

    const midFrame = await rawOpen(t, { openChannel: true });
    const publish = Buffer.concat([
      methodFrame(1, Method.basicPublish, publishArgs(uniqueName('gone'))),
      headerFrame(1, 60, 10),
    ]);
    await midFrame.send(publish.subarray(0, publish.length - 5));
    midFrame.destroy();

    const withChannels = await rawOpen(t, { openChannel: true });
    await withChannels.openChannel(2);
    withChannels.destroy();

    await brokerStillServes();
    const conn = await amqplibConnect(t, b.url);
    const ch = await within(conn.createChannel(), 'channel.open-ok');
    await within(ch.close(), 'channel.close-ok');
    await within(conn.close(), 'connection.close-ok');
  });
});
