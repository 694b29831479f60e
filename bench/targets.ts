// The targets the performance issue sets, checked against one run's figures: at the end of a run against
// a reference broker, a table of each target with warren's and the reference's figures, the ratio and
// whether it was met. The exact ratio decides, and it is printed with as many digits as it takes to show
// which side of the bound it is on: a ratio of 1.4998 against "at least 1.5" reads 1.4998, not 1.50.
/** ≥, ≤, or < (an absolute limit, such as the in-process start's 20 ms). */
export type Direction = 'at least' | 'at most' | 'below';

export interface Target {
  readonly scenario: string;
  readonly measure: string;
  readonly direction: Direction;
  readonly bound: number;
  /** The bound as the issue writes it, when that is not the plain number (1/30). */
  readonly boundText?: string;
  /** An absolute figure of warren's, not a ratio to the reference's. */
  readonly absolute?: boolean;
}

/** Throughput scenarios: the ratio of consumed msg/s (deliveries/s in e) of the median runs. */
export const THROUGHPUT_TARGETS: Readonly<Record<string, Target>> = {
  a: { scenario: 'a', measure: 'msg/s, 1 pub, 1 cons, 16 B, no-ack', direction: 'at least', bound: 3 },
  b: { scenario: 'b', measure: 'msg/s, manual acks, prefetch 100', direction: 'at least', bound: 3 },
  c: { scenario: 'c', measure: 'msg/s, persistent, confirms, durable', direction: 'at least', bound: 3 },
  d: { scenario: 'd', measure: 'msg/s, 4 pubs, 4 cons, 4 queues', direction: 'at least', bound: 2 },
  e: { scenario: 'e', measure: 'deliveries/s, fanout to 10 queues', direction: 'at least', bound: 2 },
  f: { scenario: 'f', measure: 'msg/s, 64 KiB bodies', direction: 'at least', bound: 1.5 },
  m: { scenario: 'm', measure: 'msg/s dead-lettered and consumed', direction: 'at least', bound: 3 },
  n: { scenario: 'n', measure: 'msg/s, priority queue (10 levels)', direction: 'at least', bound: 3 },
};

export const TARGETS = {
  cpuPerMessage: { scenario: 'a', measure: 'broker CPU per message', direction: 'at most', bound: 0.25 },
  latencyP99: { scenario: 'g', measure: 'p99 latency at 1,000 msg/s', direction: 'at most', bound: 0.6 },
  fill: { scenario: 'h', measure: 'fill, confirmed msg/s', direction: 'at least', bound: 3 },
  drain: { scenario: 'h', measure: 'drain, msg/s', direction: 'at least', bound: 2 },
  backlogRss: { scenario: 'h', measure: 'RSS with the backlog queued', direction: 'at most', bound: 0.1 },
  connectionRss: { scenario: 'i', measure: 'RSS per idle connection', direction: 'at most', bound: 0.5 },
  start: {
    scenario: 'j',
    measure: 'spawn to first channel',
    direction: 'at most',
    bound: 1 / 30,
    boundText: '1/30',
  },
  idleRss: { scenario: 'j', measure: 'idle RSS', direction: 'at most', bound: 0.5 },
  inProcessStart: {
    scenario: 'j',
    measure: 'startBroker() in process to ready',
    direction: 'below',
    bound: 20,
    boundText: '20 ms',
    absolute: true,
  },
  killRestart: {
    scenario: 'k',
    measure: 'all messages back after SIGKILL',
    direction: 'at most',
    bound: 0.1,
  },
} as const satisfies Record<string, Target>;

/** The rate the latency scenario's target is set at. */
export const LATENCY_TARGET_RATE = 1000;

const MIB = 1024 * 1024;

/** Open loop, the scenarios in which warren's consumers must keep up with the publishers. */
export const KEEP_UP_SCENARIOS: readonly string[] = ['a', 'b', 'd', 'f'];

/** Open loop: warren's consumed rate over its published rate (of the median runs). */
export function consumeShareTarget(scenario: string): Target {
  return {
    scenario,
    measure: 'consumed/published',
    direction: 'at least',
    bound: 0.9,
    boundText: '90%',
    absolute: true,
  };
}

/** Open loop: warren's p99 latency from publish to consume (of the median runs), in ms. */
export function openLoopP99Target(scenario: string): Target {
  return {
    scenario,
    measure: 'p99 latency',
    direction: 'below',
    bound: 100,
    boundText: '100 ms',
    absolute: true,
  };
}

/** Broker CPU time per consumed message, warren's over the reference's: the alternative to a rate ratio. */
export function cpuPerMessageTarget(scenario: string): Target {
  return { ...TARGETS.cpuPerMessage, scenario };
}

export const OPEN_LOOP_TARGETS = {
  /** The highest RSS of warren sampled in any run of a to f, in bytes. */
  peakRss: {
    scenario: 'a–f',
    measure: 'peak RSS of warren',
    direction: 'at most',
    bound: 256 * MIB,
    boundText: '256 MiB',
    absolute: true,
  },
  /** After f, its queue deleted: warren's lowest RSS within 10 s over its idle RSS before the scenarios. */
  rssAfterF: {
    scenario: 'f',
    measure: 'RSS within 10 s after f / idle RSS',
    direction: 'below',
    bound: 2,
    absolute: true,
  },
  /** mqperf's g: p99 at 1,000 msg/s, warren's over RabbitMQ's. */
  latencyP99: { scenario: 'g', measure: 'p99 latency at 1,000 msg/s', direction: 'at most', bound: 1 },
} as const satisfies Record<string, Target>;

export function isMet(value: number, direction: Direction, bound: number): boolean {
  if (direction === 'at least') return value >= bound;
  if (direction === 'at most') return value <= bound;
  return value < bound;
}

const MAX_DIGITS = 12;

/**
 * value with three significant digits, or more where fewer would put it on the other side of the bound
 * than it is (1.4998 against at least 1.5 is "1.4998", where three digits would say "1.50").
 */
export function shown(value: number, direction: Direction, bound: number): string {
  if (!Number.isFinite(value)) return String(value);
  const met = isMet(value, direction, bound);
  for (let digits = 3; digits <= MAX_DIGITS; digits++) {
    const text = value.toPrecision(digits);
    // toPrecision writes a number of more digits than asked for (1234 to 3) with an exponent.
    if (isMet(Number(text), direction, bound) === met)
      return text.includes('e') ? String(Number(text)) : text;
  }
  return String(value);
}

function boundText(t: Target): string {
  const op = t.direction === 'at least' ? '≥' : t.direction === 'at most' ? '≤' : '<';
  return `${op} ${t.boundText ?? String(t.bound)}`;
}

export interface TargetResult {
  readonly target: Target;
  /** How the figures were measured ('open loop', 'window 20,000'), or '' where that does not apply. */
  readonly mode: string;
  /** warren's figure and the reference's, formatted; the reference's is empty for an absolute target. */
  readonly warren: string;
  readonly reference: string;
  /** The ratio warren/reference, or warren's figure for an absolute target. */
  readonly value: number;
  readonly met: boolean;
}

/** The targets checked in one run, in the order they were measured. */
export class TargetBook {
  readonly results: TargetResult[] = [];
  /** Remarks printed under the table (e.g. that the load generator was saturated). */
  readonly notes: string[] = [];

  /** A ratio target: records it when both figures are known and the reference's is not 0. */
  ratio(
    target: Target,
    warren: number | undefined,
    reference: number | undefined,
    format: (n: number) => string,
    mode = '',
  ): void {
    if (warren === undefined || reference === undefined) return;
    if (!Number.isFinite(warren) || !Number.isFinite(reference) || reference === 0) return;
    const value = warren / reference;
    this.results.push({
      target,
      mode,
      warren: format(warren),
      reference: format(reference),
      value,
      met: isMet(value, target.direction, target.bound),
    });
  }

  /**
   * An absolute target on warren's own figure; Infinity counts (a latency with no message received), but
   * not an unknown figure.
   */
  absolute(target: Target, warren: number | undefined, format: (n: number) => string, mode = ''): void {
    if (warren === undefined || Number.isNaN(warren)) return;
    this.results.push({
      target,
      mode,
      warren: format(warren),
      reference: '',
      value: warren,
      met: isMet(warren, target.direction, target.bound),
    });
  }

  /** Adds a remark for under the table. */
  note(text: string): void {
    this.notes.push(text);
  }

  /** The table, then how many were met, then the notes; nothing when no target was checked. */
  report(referenceLabel = 'reference'): string[] {
    if (this.results.length === 0) return [];
    const widths = [8, 40, 13, 10, 10, 8, 9, 7];
    const line = (cells: string[]) =>
      cells
        .map((c, i) => (i < 3 || i === cells.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
        .join('  ')
        .trimEnd();
    const lines = [line(this.header(referenceLabel)), ...this.cells().map(line)];
    lines.push(this.summary(), ...this.notes);
    return lines;
  }

  /** The same as a markdown table, the summary and notes after it. */
  markdown(referenceLabel = 'reference'): string[] {
    if (this.results.length === 0) return [];
    const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
    const header = this.header(referenceLabel);
    const align = header.map((_, i) => (i < 3 || i === header.length - 1 ? '---' : '---:'));
    return [
      line(header),
      line(align),
      ...this.cells().map(line),
      '',
      this.summary(),
      ...this.notes.map((n) => `- ${n}`),
    ];
  }

  private header(referenceLabel: string): string[] {
    return ['scenario', 'measure', 'mode', 'warren', referenceLabel, 'ratio', 'target', 'verdict'];
  }

  private cells(): string[][] {
    return this.results.map((r) => {
      const t = r.target;
      return [
        t.scenario,
        t.measure,
        r.mode,
        r.warren,
        r.reference,
        t.absolute ? '' : shown(r.value, t.direction, t.bound),
        boundText(t),
        r.met ? 'met' : 'MISSED',
      ];
    });
  }

  private summary(): string {
    const met = this.results.filter((r) => r.met).length;
    const missed = this.results
      .filter((r) => !r.met)
      .map((r) => `${r.target.scenario} (${r.target.measure})`);
    const which = missed.length ? `; missed: ${missed.join(', ')}` : '';
    return `${met} of ${this.results.length} targets met${which}`;
  }
}
