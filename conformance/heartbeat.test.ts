// Heartbeats with a negotiated interval of 1 s: the broker sends heartbeat frames while it has
// nothing else to send, and drops a client that sends nothing. Kept in its own file because it waits
// on real time (about 3 s against RabbitMQ).

import t from 'tap';
import { broker } from './lib/broker.js';
import { RawConnection } from './lib/raw.js';
import { decodeMethod, FRAME_HEARTBEAT, type Frame, Method, Writer } from './lib/wire.js';

const b = await broker();

interface Arrival {
  frame: Frame;
  at: number;
}

/** Reads frames (heartbeats included) until a non-heartbeat frame arrives or the socket ends. */
async function collect(
  conn: RawConnection,
  arrivals: Arrival[],
  timeoutMs: number,
): Promise<'ended' | Frame> {
  for (;;) {
    let frame: Frame;
    try {
      frame = await conn.nextFrame({ heartbeats: true, timeoutMs });
    } catch (err) {
      if (conn.isEnded) return 'ended';
      throw err;
    }
    arrivals.push({ frame, at: performance.now() });
    if (frame.type !== FRAME_HEARTBEAT) return frame;
  }
}

function gaps(start: number, arrivals: Arrival[]): number[] {
  const times = [start, ...arrivals.filter((a) => a.frame.type === FRAME_HEARTBEAT).map((a) => a.at)];
  return times.slice(1).map((time, i) => time - times[i]);
}

t.test(
  'heartbeat 1 s: heartbeat frames from the broker; a silent client is dropped, a live one kept',
  async (t) => {
    const silent = await RawConnection.connect(b);
    const live = await RawConnection.connect(b);
    let ticker: NodeJS.Timeout | undefined;
    t.teardown(() => {
      clearInterval(ticker);
      silent.destroy();
      live.destroy();
    });

    const liveTune = await live.handshake({ tune: { heartbeat: 1 } });
    t.equal(liveTune.tune.heartbeat, 60, 'the broker proposed 60 s');
    const liveOpened = performance.now();
    ticker = setInterval(() => live.sendHeartbeat().catch(() => {}), 400);
    await silent.handshake({ tune: { heartbeat: 1 } });
    const silentOpened = performance.now();

    const silentArrivals: Arrival[] = [];
    const liveArrivals: Arrival[] = [];
    const liveDone = collect(live, liveArrivals, 8000);
    const silentEnd = await collect(silent, silentArrivals, 6000);
    const silentFor = performance.now() - silentOpened;

    t.equal(silentEnd, 'ended', 'the broker closed the silent connection');
    t.ok(silentFor >= 1000, `not before one interval of silence (${Math.round(silentFor)} ms)`);
    t.ok(silentFor <= 6000, `within 6 s (${Math.round(silentFor)} ms)`);
    t.ok(silentArrivals.length >= 1, `heartbeats reached the silent client first (${silentArrivals.length})`);
    for (const { frame } of silentArrivals) {
      t.same(
        { type: frame.type, channel: frame.channel, size: frame.payload.length },
        { type: 8, channel: 0, size: 0 },
        'a heartbeat frame: type 8, channel 0, empty',
      );
    }
    const silentGaps = gaps(silentOpened, silentArrivals);
    t.ok(
      silentGaps.every((gap) => gap <= 1500),
      `heartbeats at most 1.5 s apart (${silentGaps.map(Math.round).join(', ')} ms)`,
    );

    t.equal(live.isEnded, false, 'the client that sends heartbeats is still connected');
    clearInterval(ticker);
    await live.sendMethod(1, Method.channelOpen, new Writer().shortstr('').build());
    const reply = await liveDone;
    t.not(reply, 'ended', 'the live connection answers');
    if (reply !== 'ended') {
      const m = decodeMethod(reply);
      t.same([m.channel, m.classId, m.methodId], [1, ...Method.channelOpenOk], 'channel.open-ok');
    }
    const liveHeartbeats = liveArrivals.filter((a) => a.frame.type === FRAME_HEARTBEAT).length;
    t.ok(liveHeartbeats >= 1, `heartbeats reached the live client (${liveHeartbeats})`);
    const liveGaps = gaps(liveOpened, liveArrivals);
    t.ok(
      liveGaps.every((gap) => gap <= 1500),
      `heartbeats at most 1.5 s apart (${liveGaps.map(Math.round).join(', ')} ms)`,
    );
    await live.close();
  },
);
