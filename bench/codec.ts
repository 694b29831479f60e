// Codec micro-benchmark: ns per frame set (method + content header + 16-byte body) through the frame parser
// and the frame writer. Run with `npm run bench:codec`; the figures go in the commit that changes the codec.
import {
  type FrameHandler,
  FrameParser,
  FrameWriter,
  type Method,
  writeBasicDeliver,
  writeBasicProperties,
  writeBasicPublish,
} from '../src/protocol/index.js';

const SETS = 20_000;
const RUNS = 15;
const WARMUP_RUNS = 5;
const FRAME_MAX = 131_072;

const body = Buffer.alloc(16, 0x61);

/** The raw property bytes a typical client publishes: content-type, delivery-mode 2, a small header table. */
function rawProperties(): Buffer {
  const w = new FrameWriter(FRAME_MAX);
  w.beginContentHeader(1, 60, 0);
  writeBasicProperties(w, {
    contentType: 'application/json',
    deliveryMode: 2,
    headers: { 'x-trace': 'abc123' },
    messageId: 'msg-1',
  });
  w.endFrame();
  const frame = Buffer.concat(w.take());
  return Buffer.from(frame.subarray(7 + 12, frame.length - 1));
}

const properties = rawProperties();

function publishStream(sets: number): Buffer {
  const w = new FrameWriter(FRAME_MAX);
  for (let i = 0; i < sets; i++) {
    writeBasicPublish(w, 1, 'amq.direct', 'bench.key', false, false);
    w.writeContentHeader(1, 60, body.length, properties);
    w.writeBody(1, body);
  }
  return Buffer.concat(w.take());
}

let sink = 0;
const handler: FrameHandler = {
  onMethod(_channel: number, method: Method) {
    sink += method.id;
  },
  onHeader(_channel: number, _classId: number, bodySize: number, props: Buffer) {
    sink += bodySize + props.length;
  },
  onBody(_channel: number, payload: Buffer) {
    sink += payload.length;
  },
  onHeartbeat() {
    sink++;
  },
  onFrameError(error) {
    throw new Error(`bench stream rejected: ${error.replyText}`);
  },
};

const stream = publishStream(SETS);
const chunks: Buffer[] = [];
for (let o = 0; o < stream.length; o += 65_536) chunks.push(stream.subarray(o, o + 65_536));

function decodeOneBuffer(): void {
  new FrameParser(handler, FRAME_MAX).push(stream);
}

function decodeChunked(): void {
  const parser = new FrameParser(handler, FRAME_MAX);
  for (const chunk of chunks) parser.push(chunk);
}

function encodeDeliver(batch: number): () => void {
  const w = new FrameWriter(FRAME_MAX);
  return () => {
    for (let i = 0; i < SETS; i++) {
      writeBasicDeliver(w, 1, 'amq.ctag-bench', i + 1, false, 'amq.direct', 'bench.key');
      w.writeContentHeader(1, 60, body.length, properties);
      w.writeBody(1, body);
      if ((i + 1) % batch === 0) sink += w.take().length;
    }
    sink += w.take().length;
  };
}

function measure(name: string, run: () => void): void {
  for (let i = 0; i < WARMUP_RUNS; i++) run();
  const perSet: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const start = process.hrtime.bigint();
    run();
    perSet.push(Number(process.hrtime.bigint() - start) / SETS);
  }
  perSet.sort((a, b) => a - b);
  const median = perSet[RUNS >> 1];
  console.log(
    `${name.padEnd(58)} ${median.toFixed(1).padStart(7)} ns/set  (min ${perSet[0].toFixed(1)}, max ${perSet[RUNS - 1].toFixed(1)})`,
  );
}

console.log(
  `node ${process.version}, ${SETS} sets per run, median of ${RUNS} runs; a set is method + header + 16-byte body`,
);
measure('decode publish set, one buffer (FrameParser)', decodeOneBuffer);
measure('decode publish set, 64 KiB reads (FrameParser)', decodeChunked);
measure('encode deliver set, take() per set (FrameWriter)', encodeDeliver(1));
measure('encode deliver set, take() per 64 sets (FrameWriter)', encodeDeliver(64));
if (sink === 0.5) console.log(sink);
