// The pure part of `npm run bench:mqperf` (mqperf.ts): the scenarios as mqperf's flags, the figures read
// from its JSON line, medians and ranges over runs, the markdown tables, and the verdicts on the
// performance issue's targets. No process, socket or clock here, so that tests can drive it with made-up
// mqperf lines.
import { int, median } from './stats.js';
import {
  consumeShareTarget,
  cpuPerMessageTarget,
  KEEP_UP_SCENARIOS,
  OPEN_LOOP_TARGETS,
  openLoopP99Target,
  type TargetBook,
  THROUGHPUT_TARGETS,
} from './targets.js';

/** throughput: for --seconds, open loop; latency: at a fixed rate; backlog: fill, then drain. */
export type MqperfKind = 'throughput' | 'latency' | 'backlog';

export interface MqperfScenario {
  readonly name: string;
  readonly description: string;
  readonly kind: MqperfKind;
  /** mqperf's flags for the scenario (mqperf's README), without --uri, --duration, --count, --broker-pid. */
  readonly flags: readonly string[];
  /** Deliveries per publish (fanout), for the end-of-run depth. */
  readonly copies: number;
}

/** Scenarios a to h as mqperf's README writes them. */
export const MQPERF_SCENARIOS: readonly MqperfScenario[] = [
  {
    name: 'a',
    description: '1 publisher, 1 consumer, 16 B, no-ack',
    kind: 'throughput',
    flags: [],
    copies: 1,
  },
  {
    name: 'b',
    description: 'as a, manual acks, prefetch 100',
    kind: 'throughput',
    flags: ['--ack', '--prefetch', '100'],
    copies: 1,
  },
  {
    name: 'c',
    description: 'persistent, confirms (1000 outstanding), manual acks, prefetch 100',
    kind: 'throughput',
    flags: ['--persistent', '--confirm', '1000', '--ack', '--prefetch', '100'],
    copies: 1,
  },
  {
    name: 'd',
    description: '4 publishers, 4 consumers, 4 queues',
    kind: 'throughput',
    flags: ['--publishers', '4', '--consumers', '4', '--queues', '4'],
    copies: 1,
  },
  {
    name: 'e',
    description: 'fanout to 10 queues, a consumer each',
    kind: 'throughput',
    flags: ['--fanout', '10'],
    copies: 10,
  },
  { name: 'f', description: '64 KiB bodies', kind: 'throughput', flags: ['--size', '65536'], copies: 1 },
  { name: 'g', description: 'latency at 1,000 msg/s', kind: 'latency', flags: ['--rate', '1000'], copies: 1 },
  {
    name: 'h',
    description:
      'backlog: persistent, confirms (1000 outstanding), no consumer, then drained (manual acks, prefetch 1000, multiple every 100)',
    kind: 'backlog',
    flags: [
      '--mode',
      'backlog',
      '--persistent',
      '--confirm',
      '1000',
      '--ack',
      '--prefetch',
      '1000',
      '--multiple-ack',
      '100',
    ],
    copies: 1,
  },
];

export interface ArgOptions {
  readonly uri: string;
  readonly seconds: number;
  /** h's backlog. */
  readonly messages: number;
  readonly brokerPid: number | undefined;
  readonly label: string;
  /** h: mqperf's limit on each phase, seconds. */
  readonly timeoutSeconds: number;
}

/** mqperf's command line for one run of a scenario. */
export function mqperfArgs(sc: MqperfScenario, o: ArgOptions): string[] {
  const args = ['--uri', o.uri, ...sc.flags, '--label', o.label];
  if (sc.kind === 'backlog') args.push('--count', String(o.messages), '--timeout', `${o.timeoutSeconds}s`);
  else args.push('--duration', `${o.seconds}s`);
  if (o.brokerPid !== undefined) args.push('--broker-pid', String(o.brokerPid));
  return args;
}

/** mqperf's JSON result: the last line of its output that is a JSON object. */
export function parseMqperfOutput(stdout: string): Record<string, unknown> {
  const lines = stdout.split('\n').reverse();
  for (const line of lines) {
    const text = line.trim();
    if (!text.startsWith('{')) continue;
    try {
      const value: unknown = JSON.parse(text);
      if (value !== null && typeof value === 'object' && !Array.isArray(value))
        return value as Record<string, unknown>;
    } catch {
      // not the result line
    }
  }
  throw new Error('mqperf printed no JSON result');
}

/** One run's figures. Rates per second; latencies in ms; CPU in % of one core; RSS in bytes. */
export interface RunFigures {
  readonly consumeRate: number | undefined;
  readonly publishRate: number | undefined;
  /** Deliveries published and not consumed at the end of the run (published × copies - consumed). */
  readonly depth: number | undefined;
  readonly p50Ms: number | undefined;
  readonly p99Ms: number | undefined;
  readonly brokerCpuPct: number | undefined;
  readonly genCpuPct: number | undefined;
  /** h: the drain's CPU (the fill's are brokerCpuPct and genCpuPct). */
  readonly drainBrokerCpuPct: number | undefined;
  readonly drainGenCpuPct: number | undefined;
  /** What mqperf said went wrong, if anything. */
  readonly error: string | undefined;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

function errorsOf(json: Record<string, unknown>): string | undefined {
  const parts: string[] = [];
  for (const key of ['error', 'errors', 'publish_errors']) {
    const v = json[key];
    if (typeof v === 'string') parts.push(v);
    else if (Array.isArray(v)) parts.push(...v.map(String));
  }
  return parts.length > 0 ? parts.join('; ') : undefined;
}

/** The figures of one mqperf result line for a scenario. */
export function figuresOf(sc: MqperfScenario, json: Record<string, unknown>): RunFigures {
  const latency = json.latency_us as Record<string, unknown> | undefined;
  const us = (key: string) => {
    const n = num(latency?.[key]);
    return n === undefined || num(latency?.n) === 0 ? undefined : n / 1000;
  };
  const published = num(json.published);
  const consumed = num(json.consumed);
  const backlog = sc.kind === 'backlog';
  return {
    consumeRate: num(json.consume_rate),
    publishRate: num(json.publish_rate),
    depth: published === undefined || consumed === undefined ? undefined : published * sc.copies - consumed,
    p50Ms: backlog ? undefined : us('p50'),
    p99Ms: backlog ? undefined : us('p99'),
    brokerCpuPct: num(backlog ? json.publish_broker_cpu_pct : json.broker_cpu_pct),
    genCpuPct: num(backlog ? json.publish_gen_cpu_pct : json.gen_cpu_pct),
    drainBrokerCpuPct: backlog ? num(json.consume_broker_cpu_pct) : undefined,
    drainGenCpuPct: backlog ? num(json.consume_gen_cpu_pct) : undefined,
    error: errorsOf(json),
  };
}

/** The median of some runs' figure, with the lowest and highest. */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly n: number;
}

/** The spread of the known values; undefined when none is known. */
export function spread(values: readonly (number | undefined)[]): Spread | undefined {
  const known = values.filter((v): v is number => v !== undefined && !Number.isNaN(v));
  if (known.length === 0) return undefined;
  return { median: median(known), min: Math.min(...known), max: Math.max(...known), n: known.length };
}

/** "median (min–max)", just the median for one run, '-' for none. */
export function formatSpread(s: Spread | undefined, format: (n: number) => string): string {
  if (s === undefined) return '-';
  return s.n === 1 || s.min === s.max
    ? format(s.median)
    : `${format(s.median)} (${format(s.min)}–${format(s.max)})`;
}

export interface RssSample {
  /** Since the end of the run. */
  readonly ms: number;
  readonly rss: number;
}

/** After f: the lowest RSS within `withinMs`, and when it first went under twice the idle RSS. */
export function rssRecovery(
  samples: readonly RssSample[],
  idleRss: number,
  withinMs: number,
): { readonly lowest: number | undefined; readonly underAtMs: number | undefined } {
  let lowest: number | undefined;
  let underAtMs: number | undefined;
  for (const s of samples) {
    if (s.ms > withinMs) continue;
    if (lowest === undefined || s.rss < lowest) lowest = s.rss;
    if (underAtMs === undefined && s.rss < 2 * idleRss) underAtMs = s.ms;
  }
  return { lowest, underAtMs };
}

/** A markdown table; columns after the first two are right-aligned. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map((_, i) => (i < 2 ? '---' : '---:'))), ...rows.map(line)];
}

export const MIB = 1024 * 1024;
export const formatMiB = (bytes: number): string =>
  bytes >= 1024 * MIB ? `${(bytes / 1024 / MIB).toFixed(2)} GiB` : `${Math.round(bytes / MIB)} MiB`;
export const formatMs = (ms: number): string =>
  !Number.isFinite(ms) ? '-' : ms < 10 ? ms.toFixed(3) : ms < 1000 ? ms.toFixed(1) : int(ms);
export const formatPct = (pct: number): string => `${Math.round(pct)}%`;

/** One mqperf run of one broker, with what mqperf.ts measured around it. */
export interface BrokerRun {
  readonly scenario: string;
  readonly broker: 'warren' | 'RabbitMQ';
  readonly figures: RunFigures;
  /** The broker's highest RSS sampled during the run; undefined without its pid. */
  readonly peakRss: number | undefined;
  /** f, warren: the lowest RSS within 10 s after the run, over the idle RSS. */
  readonly rssAfterRatio?: number | undefined;
}

/** A generator at this share of a core (%) or more may be what limits the rate it measures. */
export const GENERATOR_SATURATED_PCT = 90;
export const RSS_RECOVERY_MS = 10_000;

/** Broker CPU seconds per consumed message. */
function cpuPerMessage(f: RunFigures): number | undefined {
  return f.brokerCpuPct === undefined || !f.consumeRate ? undefined : f.brokerCpuPct / 100 / f.consumeRate;
}

const ofRuns = (runs: readonly BrokerRun[], pick: (r: BrokerRun) => number | undefined) =>
  spread(runs.map(pick));

/**
 * The markdown table of every scenario and broker: the medians (min–max) over the runs of each figure.
 * h shows its fill as the publish rate and its drain as the consume rate.
 */
export function resultsTable(runs: readonly BrokerRun[]): string[] {
  const header = [
    'scenario',
    'broker',
    'runs',
    'consume/s',
    'publish/s',
    'end depth',
    'p50 ms',
    'p99 ms',
    'peak RSS',
    'broker CPU',
    'mqperf CPU',
  ];
  const rows: string[][] = [];
  for (const sc of MQPERF_SCENARIOS) {
    for (const broker of ['warren', 'RabbitMQ'] as const) {
      const of = runs.filter((r) => r.scenario === sc.name && r.broker === broker);
      if (of.length === 0) continue;
      const f = (pick: (f: RunFigures) => number | undefined, format: (n: number) => string) =>
        formatSpread(
          ofRuns(of, (r) => pick(r.figures)),
          format,
        );
      const cpu = (
        fill: (f: RunFigures) => number | undefined,
        drain: (f: RunFigures) => number | undefined,
      ) =>
        sc.kind === 'backlog'
          ? `fill ${f(fill, formatPct)}, drain ${f(drain, formatPct)}`
          : f(fill, formatPct);
      rows.push([
        sc.name,
        broker,
        String(of.length),
        f((x) => x.consumeRate, int),
        f((x) => x.publishRate, int),
        sc.kind === 'backlog' ? '-' : f((x) => x.depth, int),
        f((x) => x.p50Ms, formatMs),
        f((x) => x.p99Ms, formatMs),
        formatSpread(
          ofRuns(of, (r) => r.peakRss),
          formatMiB,
        ),
        cpu(
          (x) => x.brokerCpuPct,
          (x) => x.drainBrokerCpuPct,
        ),
        cpu(
          (x) => x.genCpuPct,
          (x) => x.drainGenCpuPct,
        ),
      ]);
    }
  }
  return markdownTable(header, rows);
}

/** h: the fill and drain rates' medians and their ratios, one line; undefined without both brokers. */
export function backlogLine(runs: readonly BrokerRun[]): string | undefined {
  const of = (broker: string) => runs.filter((r) => r.scenario === 'h' && r.broker === broker);
  const w = of('warren');
  const q = of('RabbitMQ');
  if (w.length === 0 || q.length === 0) return undefined;
  const m = (rs: BrokerRun[], pick: (f: RunFigures) => number | undefined) =>
    ofRuns(rs, (r) => pick(r.figures))?.median;
  const wf = m(w, (f) => f.publishRate);
  const qf = m(q, (f) => f.publishRate);
  const wd = m(w, (f) => f.consumeRate);
  const qd = m(q, (f) => f.consumeRate);
  const ratio = (a: number | undefined, b: number | undefined) =>
    a === undefined || !b ? '-' : (a / b).toFixed(2);
  const rate = (n: number | undefined) => (n === undefined ? '-' : int(n));
  return (
    `h: fill warren ${rate(wf)}/s, RabbitMQ ${rate(qf)}/s, ratio ${ratio(wf, qf)}; ` +
    `drain warren ${rate(wd)}/s, RabbitMQ ${rate(qd)}/s, ratio ${ratio(wd, qd)}`
  );
}

/**
 * Records the targets that the runs measured in the book: consumed-rate ratios (a–f) and the CPU
 * per message alternative, open-loop keep-up (consumed/published, p99) in a, b, d, f, the peak RSS over
 * a–f, the RSS after f, and g's p99 ratio; with notes where mqperf was near a core.
 */
export function judge(book: TargetBook, runs: readonly BrokerRun[]): void {
  const of = (scenario: string, broker: string) =>
    runs.filter((r) => r.scenario === scenario && r.broker === broker && r.figures.error === undefined);
  const med = (rs: readonly BrokerRun[], pick: (r: BrokerRun) => number | undefined) =>
    ofRuns(rs, pick)?.median;
  const throughput = MQPERF_SCENARIOS.filter((s) => s.kind === 'throughput');
  const saturated: string[] = [];
  for (const sc of throughput) {
    const w = of(sc.name, 'warren');
    const q = of(sc.name, 'RabbitMQ');
    if (w.length === 0) continue;
    const target = THROUGHPUT_TARGETS[sc.name];
    const rate = (rs: BrokerRun[]) => med(rs, (r) => r.figures.consumeRate);
    if (target && q.length > 0) book.ratio(target, rate(w), rate(q), int, 'open loop');
    if (q.length > 0) {
      book.ratio(
        cpuPerMessageTarget(sc.name),
        med(w, (r) => cpuPerMessage(r.figures)),
        med(q, (r) => cpuPerMessage(r.figures)),
        (s) => `${(s * 1e6).toFixed(2)} µs`,
        'open loop',
      );
    }
    if (KEEP_UP_SCENARIOS.includes(sc.name)) {
      const consumed = rate(w);
      const published = med(w, (r) => r.figures.publishRate);
      book.absolute(
        consumeShareTarget(sc.name),
        consumed === undefined || !published ? undefined : consumed / published,
        (n) => `${(n * 100).toFixed(1)}%`,
        'open loop',
      );
      // A run in which nothing was received has no latency: none below any bound.
      const p99 = med(w, (r) => (r.figures.consumeRate === 0 ? Number.POSITIVE_INFINITY : r.figures.p99Ms));
      book.absolute(
        openLoopP99Target(sc.name),
        p99,
        (n) => (Number.isFinite(n) ? `${formatMs(n)} ms` : 'none received'),
        'open loop',
      );
    }
    for (const [broker, rs] of [
      ['warren', w],
      ['RabbitMQ', q],
    ] as const) {
      const gen = med(rs, (r) => r.figures.genCpuPct);
      if (gen !== undefined && gen >= GENERATOR_SATURATED_PCT)
        saturated.push(`${sc.name} against ${broker} ${Math.round(gen)}%`);
    }
  }
  const peaks = runs
    .filter((r) => r.broker === 'warren' && throughput.some((s) => s.name === r.scenario))
    .map((r) => r.peakRss)
    .filter((v): v is number => v !== undefined);
  if (peaks.length > 0) {
    const scenarios = [...new Set(runs.filter((r) => r.broker === 'warren').map((r) => r.scenario))].filter(
      (n) => throughput.some((s) => s.name === n),
    );
    book.absolute(
      {
        ...OPEN_LOOP_TARGETS.peakRss,
        scenario: scenarios.length === throughput.length ? 'a–f' : scenarios.join(','),
      },
      Math.max(...peaks),
      formatMiB,
      'open loop',
    );
  }
  book.absolute(
    OPEN_LOOP_TARGETS.rssAfterF,
    med(of('f', 'warren'), (r) => r.rssAfterRatio),
    (n) => `${n.toFixed(2)}× idle`,
    'open loop',
  );
  const gw = of('g', 'warren');
  const gq = of('g', 'RabbitMQ');
  if (gw.length > 0 && gq.length > 0) {
    book.ratio(
      OPEN_LOOP_TARGETS.latencyP99,
      med(gw, (r) => r.figures.p99Ms),
      med(gq, (r) => r.figures.p99Ms),
      (n) => `${formatMs(n)} ms`,
      'rate 1,000',
    );
  }
  if (saturated.length > 0) {
    book.note(
      `mqperf's median CPU was near a core (≥ ${GENERATOR_SATURATED_PCT}%) in ${saturated.join(', ')}: ` +
        'there the generator may be what limits the rate, and the broker CPU per message ratio ' +
        '(≤ 0.25, above) is the alternative target',
    );
  }
}
