import { describe, expect, it } from 'vitest';
import {
  type BrokerRun,
  backlogLine,
  figuresOf,
  formatSpread,
  GENERATOR_SATURATED_PCT,
  judge,
  MIB,
  MQPERF_SCENARIOS,
  mqperfArgs,
  parseMqperfOutput,
  type RunFigures,
  resultsTable,
  rssRecovery,
  spread,
} from '../../bench/mqperf-report.js';
import { TargetBook } from '../../bench/targets.js';

const scenario = (name: string) => {
  const sc = MQPERF_SCENARIOS.find((s) => s.name === name);
  if (!sc) throw new Error(name);
  return sc;
};

/** A throughput result line as mqperf prints it. */
function line(o: {
  published: number;
  consumed: number;
  seconds?: number;
  p50us?: number;
  p99us?: number;
  brokerCpu?: number;
  genCpu?: number;
}): Record<string, unknown> {
  const s = o.seconds ?? 10;
  const n = o.consumed;
  return {
    mode: 'throughput',
    published: o.published,
    consumed: o.consumed,
    publish_rate: Math.floor(o.published / s),
    consume_rate: Math.floor(o.consumed / s),
    duration_s: s,
    broker_cpu_pct: o.brokerCpu ?? 100,
    gen_cpu_pct: o.genCpu ?? 30,
    latency_us: n === 0 ? { n: 0 } : { n, p50: o.p50us ?? 100, p95: o.p99us ?? 200, p99: o.p99us ?? 200 },
  };
}

function run(
  name: string,
  broker: 'warren' | 'RabbitMQ',
  f: Partial<RunFigures>,
  peakRss?: number,
): BrokerRun {
  const figures: RunFigures = {
    consumeRate: undefined,
    publishRate: undefined,
    depth: undefined,
    p50Ms: undefined,
    p99Ms: undefined,
    brokerCpuPct: undefined,
    genCpuPct: undefined,
    drainBrokerCpuPct: undefined,
    drainGenCpuPct: undefined,
    error: undefined,
    ...f,
  };
  return { scenario: name, broker, figures, peakRss };
}

describe("mqperf's output", () => {
  it('is the last JSON object line, whatever else was printed', () => {
    const first = JSON.stringify({ mode: 'throughput', consume_rate: 1 });
    const last = JSON.stringify({ mode: 'throughput', consume_rate: 2 });
    expect(parseMqperfOutput(`${first}\nnoise {\n${last}\n\n`).consume_rate).toBe(2);
    expect(parseMqperfOutput(`${last}\n[1,2]\nnot json {"a":`).consume_rate).toBe(2);
    expect(() => parseMqperfOutput('mqperf: nothing\n[1]\n')).toThrow(/no JSON/);
  });

  it('gives the end depth as deliveries owed, counting a fanout publish once per queue', () => {
    const a = figuresOf(scenario('a'), line({ published: 1000, consumed: 700 }));
    expect(a.depth).toBe(300);
    const e = figuresOf(scenario('e'), line({ published: 1000, consumed: 7000 }));
    expect(e.depth).toBe(1000 * scenario('e').copies - 7000);
  });

  it('reads latencies in ms, none when nothing was received, and collects the errors', () => {
    const f = figuresOf(scenario('a'), line({ published: 10, consumed: 5, p50us: 1500, p99us: 250_000 }));
    expect(f.p50Ms).toBe(1.5);
    expect(f.p99Ms).toBe(250);
    const none = figuresOf(scenario('a'), line({ published: 10, consumed: 0 }));
    expect(none.p99Ms).toBeUndefined();
    const failed = figuresOf(scenario('a'), {
      error: 'connect: refused',
      errors: ['publisher 0: x', 'consumer 1: y'],
    });
    expect(failed.error).toBe('connect: refused; publisher 0: x; consumer 1: y');
    expect(failed.consumeRate).toBeUndefined();
  });

  it("takes h's fill from its publish phase and its drain from its consume phase", () => {
    const h = figuresOf(scenario('h'), {
      mode: 'backlog',
      publish_rate: 40_000,
      consume_rate: 90_000,
      publish_broker_cpu_pct: 110,
      consume_broker_cpu_pct: 95,
      publish_gen_cpu_pct: 20,
      consume_gen_cpu_pct: 40,
      published: 1000,
      consumed: 1000,
    });
    expect([h.publishRate, h.consumeRate, h.brokerCpuPct, h.drainBrokerCpuPct]).toEqual([
      40_000, 90_000, 110, 95,
    ]);
    expect([h.genCpuPct, h.drainGenCpuPct, h.p99Ms]).toEqual([20, 40, undefined]);
  });
});

describe("mqperf's command lines", () => {
  const o = {
    uri: 'amqp://u:p@127.0.0.1:1/',
    seconds: 7,
    messages: 500,
    brokerPid: 42,
    label: 'L',
    timeoutSeconds: 99,
  };

  it('run a throughput scenario for --seconds with its flags, and name the broker pid when known', () => {
    const args = mqperfArgs(scenario('d'), o);
    expect(args).toEqual(expect.arrayContaining([...scenario('d').flags]));
    expect(args[args.indexOf('--duration') + 1]).toBe('7s');
    expect(args[args.indexOf('--broker-pid') + 1]).toBe('42');
    expect(args).not.toContain('--count');
    expect(mqperfArgs(scenario('a'), { ...o, brokerPid: undefined })).not.toContain('--broker-pid');
  });

  it('fill and drain h with --messages, bounded by a timeout, not a duration', () => {
    const args = mqperfArgs(scenario('h'), o);
    expect(args[args.indexOf('--mode') + 1]).toBe('backlog');
    expect(args[args.indexOf('--count') + 1]).toBe('500');
    expect(args[args.indexOf('--timeout') + 1]).toBe('99s');
    expect(args).not.toContain('--duration');
  });
});

describe('spreads over runs', () => {
  it('give the median and the range of the known values', () => {
    expect(spread([3, undefined, 1, 2])).toEqual({ median: 2, min: 1, max: 3, n: 3 });
    expect(spread([undefined])).toBeUndefined();
    expect(formatSpread(spread([5, 1, 3]), String)).toBe('3 (1–5)');
    expect(formatSpread(spread([4]), String)).toBe('4');
    expect(formatSpread(undefined, String)).toBe('-');
  });
});

describe('RSS after f', () => {
  it('is the lowest within the window, and the first time it went under twice the idle RSS', () => {
    const idle = 50;
    const samples = [
      { ms: 0, rss: 400 },
      { ms: 3000, rss: 120 },
      { ms: 6000, rss: 90 },
      { ms: 9000, rss: 95 },
      { ms: 12_000, rss: 60 },
    ];
    expect(rssRecovery(samples, idle, 10_000)).toEqual({ lowest: 90, underAtMs: 6000 });
    expect(rssRecovery(samples.slice(0, 2), idle, 10_000)).toEqual({ lowest: 120, underAtMs: undefined });
    expect(rssRecovery([], idle, 10_000)).toEqual({ lowest: undefined, underAtMs: undefined });
  });
});

describe("mqperf's verdicts", () => {
  const verdict = (book: TargetBook, scenarioName: string, measure: RegExp) =>
    book.results.find((r) => r.target.scenario === scenarioName && measure.test(r.target.measure));

  it("judge the consumed rate's ratio by the scenario's bound, on the medians of the runs", () => {
    const runs = [
      ...[300, 310, 900].map((r) => run('a', 'warren', { consumeRate: r * 1000, publishRate: r * 1000 })),
      ...[100, 101, 99].map((r) => run('a', 'RabbitMQ', { consumeRate: r * 1000, publishRate: r * 1000 })),
      run('f', 'warren', { consumeRate: 1400, publishRate: 1400 }),
      run('f', 'RabbitMQ', { consumeRate: 1000, publishRate: 1000 }),
    ];
    const book = new TargetBook();
    judge(book, runs);
    const a = verdict(book, 'a', /msg\/s/);
    expect(a?.value).toBeCloseTo(310 / 100);
    expect(a?.met).toBe(true);
    const f = verdict(book, 'f', /msg\/s/);
    expect(f?.value).toBeCloseTo(1.4);
    expect(f?.met).toBe(false);
  });

  it('ask warren to consume 90% of what it was sent, within 100 ms at p99, and count no latency as missed', () => {
    const book = new TargetBook();
    judge(book, [
      run('a', 'warren', { consumeRate: 95, publishRate: 100, p99Ms: 99 }),
      run('b', 'warren', { consumeRate: 80, publishRate: 100, p99Ms: 100 }),
      run('d', 'warren', { consumeRate: 0, publishRate: 100, p99Ms: undefined }),
    ]);
    expect(verdict(book, 'a', /consumed\/published/)?.met).toBe(true);
    expect(verdict(book, 'a', /p99/)?.met).toBe(true);
    expect(verdict(book, 'b', /consumed\/published/)?.met).toBe(false);
    expect(verdict(book, 'b', /p99/)?.met).toBe(false);
    expect(verdict(book, 'd', /p99/)?.met).toBe(false);
    expect(verdict(book, 'd', /p99/)?.warren).toBe('none received');
  });

  it("take warren's highest RSS in any run of a to f, and its recovery after f", () => {
    const book = new TargetBook();
    judge(book, [
      run('a', 'warren', { consumeRate: 1 }, 100 * MIB),
      run('e', 'warren', { consumeRate: 1 }, 300 * MIB),
      run('g', 'warren', { consumeRate: 1 }, 900 * MIB),
      { ...run('f', 'warren', { consumeRate: 1 }, 200 * MIB), rssAfterRatio: 1.5 },
    ]);
    const peak = book.results.find((r) => /peak RSS/.test(r.target.measure));
    expect(peak?.value).toBe(300 * MIB);
    expect(peak?.met).toBe(false);
    expect(peak?.target.scenario).toBe('a,e,f');
    expect(verdict(book, 'f', /after f/)?.met).toBe(true);
  });

  it("compare g's p99 with RabbitMQ's, and note a generator near a core", () => {
    const book = new TargetBook();
    judge(book, [
      run('g', 'warren', { p99Ms: 0.2 }),
      run('g', 'RabbitMQ', { p99Ms: 0.4 }),
      run('a', 'warren', { consumeRate: 10, publishRate: 10, genCpuPct: GENERATOR_SATURATED_PCT + 5 }),
      run('a', 'RabbitMQ', { consumeRate: 10, publishRate: 10, genCpuPct: 20 }),
    ]);
    expect(verdict(book, 'g', /p99/)?.value).toBeCloseTo(0.5);
    expect(verdict(book, 'g', /p99/)?.met).toBe(true);
    expect(book.notes).toHaveLength(1);
    expect(book.notes[0]).toMatch(/a against warren 95%/);
    expect(book.notes[0]).not.toMatch(/RabbitMQ/);
  });

  it('leave out runs that failed', () => {
    const book = new TargetBook();
    judge(book, [
      run('a', 'warren', { consumeRate: 1000, publishRate: 1000, error: 'mqperf exited with 1' }),
      run('a', 'RabbitMQ', { consumeRate: 10, publishRate: 10 }),
    ]);
    expect(verdict(book, 'a', /msg\/s/)).toBeUndefined();
  });
});

describe("mqperf's tables", () => {
  it('show a row per scenario and broker, with the median and range of the runs', () => {
    const lines = resultsTable([
      run('a', 'warren', { consumeRate: 100, publishRate: 100 }, 60 * MIB),
      run('a', 'warren', { consumeRate: 300, publishRate: 100 }, 70 * MIB),
      run('a', 'warren', { consumeRate: 200, publishRate: 100 }, 80 * MIB),
      run('a', 'RabbitMQ', { consumeRate: 50, publishRate: 60 }),
    ]);
    expect(lines[0]).toMatch(/^\| scenario \| broker \| runs \| consume\/s/);
    expect(lines).toHaveLength(4);
    expect(lines[2]).toMatch(/^\| a \| warren \| 3 \| 200 \(100–300\) \| 100 \|/);
    expect(lines[2]).toContain('70 MiB (60 MiB–80 MiB)');
    expect(lines[3]).toMatch(/^\| a \| RabbitMQ \| 1 \| 50 \| 60 \|/);
  });

  it("give h's fill and drain ratios", () => {
    const text = backlogLine([
      run('h', 'warren', { publishRate: 30_000, consumeRate: 80_000 }),
      run('h', 'RabbitMQ', { publishRate: 10_000, consumeRate: 20_000 }),
    ]);
    expect(text).toMatch(/fill warren 30,000\/s, RabbitMQ 10,000\/s, ratio 3\.00/);
    expect(text).toMatch(/drain warren 80,000\/s, RabbitMQ 20,000\/s, ratio 4\.00/);
    expect(backlogLine([run('h', 'warren', { publishRate: 1 })])).toBeUndefined();
  });
});
