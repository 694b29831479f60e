// `npm run bench`: message throughput of warren (a child process started here) and, with REFERENCE_URL,
// of a reference broker such as RabbitMQ, in alternating runs of the same scenario on the same machine;
// and scenario k, a backlog across restarts. See bench/README.md for what is measured and how to read it.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type BrokerProcess, startWarren } from './broker-process.js';
import { failWith, numberOption } from './cli-options.js';
import { machineBusySeconds } from './cpu.js';
import { type DefinitionsResult, definitionsReport, manyDefinitions } from './definitions-scenario.js';
import { type FillDrainResult, fillDrain, fillDrainReport } from './fill-drain.js';
import {
  IDLE_DEFAULTS,
  type IdleResult,
  idleConnections,
  idleReport,
  startReport,
  startTimes,
} from './idle-scenario.js';
import { type LatencyResult, latencyReport, runLatency } from './latency-scenario.js';
import { sleep } from './load-thread.js';
import { formatBytes, processMemory } from './proc-memory.js';
import { startFreshReference } from './reference-start.js';
import {
  type RestartOptions,
  type RestartResult,
  restartReference,
  restartReport,
  restartWarren,
  SETTLE_SECONDS,
} from './run-restart.js';
import {
  effectiveWindow,
  modeText,
  type RunOptions,
  type RunResult,
  runScenario,
  type Target,
} from './run-scenario.js';
import { SCENARIOS, type Scenario } from './scenarios.js';
import { int, median, minus } from './stats.js';
import {
  consumeShareTarget,
  KEEP_UP_SCENARIOS,
  LATENCY_TARGET_RATE,
  OPEN_LOOP_TARGETS,
  openLoopP99Target,
  TARGETS,
  TargetBook,
  THROUGHPUT_TARGETS,
} from './targets.js';

const SCENARIO_NAMES = [...Object.keys(SCENARIOS), 'g', 'h', 'i', 'j', 'k', 'l'].sort();
// The scenarios whose peak RSS the open-loop target bounds (the issue's matrix).
const PEAK_RSS_SCENARIOS = ['a', 'b', 'c', 'd', 'e', 'f'];
const LATENCY_RATES = [1000, 10_000];
const LATENCY_WARMUP_RATE = 10_000;
const LATENCY_WARMUP_S = 10;
const LATENCY_REWARM_S = 3;
const DEFAULT_FRESH_PORT = 5695;

const HELP = `Usage: node build/bench/run.js [options]

Options:
  --only <names>           scenarios to run, comma-separated (default ${SCENARIO_NAMES.join(',')}):
                           a  1 publisher, 1 consumer, 16 B, transient, no-ack
                           b  as a, with manual acks and prefetch 100
                           c  as b, persistent to a durable queue, confirms (1000 unconfirmed at most)
                           d  4 publishers, 4 consumers, 4 queues, 16 B, no-ack
                           e  1 publisher to a fanout exchange bound to 10 queues, a consumer each
                           f  as a with 64 KiB bodies
                           g  end-to-end latency (p50, p99, p99.9) at ${LATENCY_RATES.join(' and ')} msg/s
                           h  --messages persistent messages into a durable queue (confirms, no
                              consumer), then drained (manual acks): both rates, peak RSS
                           i  ${IDLE_DEFAULTS.connections} idle connections with a channel each: the broker's RSS
                              before and after, per connection (warren --in-memory)
                           j  start time: spawning warren (--in-memory) to the first channel open,
                              its idle RSS, and startBroker() to ready in a fresh node; 5 runs each
                           k  fill a durable queue with --messages persistent messages, then
                              time a clean restart and a SIGKILL restart
                           l  declare --queues durable queues, each bound to amq.direct, one call
                              at a time, then delete them; another client's round trip meanwhile
                           m  dead-lettering: 1 publisher to a queue with x-dead-letter-exchange, 1
                              consumer rejecting every message (nack, requeue false), 1 consumer
                              (manual acks) on the dead-letter queue, whose rate counts
                           n  priority queue (x-max-priority 10): 1 publisher, priorities 0-9 in
                              turn, 1 consumer with manual acks and prefetch 100
  --seconds <s>            measured seconds per run of a to g, m and n (default 10)
  --warmup <s>             warm-up seconds per run, not measured (default 2)
  --runs <n>               runs per broker of a to g, m and n, alternating between brokers (default 3)
  --window <n>             a to f, m, n: most messages published and not yet consumed (default 0: open loop,
                           the publishers publish as fast as the broker and TCP let them; f keeps at
                           most 256 of its 64 KiB messages in flight under any window)
  --messages <n>           scenarios h and k: the backlog (default 1000000)
  --queues <n>             scenario l: the queues (default 5000)
  --no-reference-restart   scenario k: fill the reference broker, but do not restart it
  --smoke                  a quick check that the bench still works: 1 run of 1 s of each of a to g,
                           m and n (g without its warm-up; the others with a 2 s drain), h with 20000
                           messages and l with 200 queues (or --only), against warren only
  --json                   also print the results as one JSON line per scenario
  --broker-cpu-prof <dir>  run warren under node --cpu-prof, its profile written into <dir> at exit
                           (summarise it with node build/bench/profile-summary.js <file>); this runs
                           dist/cli.js, one file per module, rather than the bundled command
  -h, --help               show this help

Environment:
  REFERENCE_URL            amqp:// URL of a reference broker to run the same scenarios against
  REFERENCE_PID            that broker's pid, for its CPU time and memory (RabbitMQ: the beam.smp
                           process); scenario k restarts it only when this is set; scenario j only
                           reads its RSS (it never restarts it)
  REFERENCE_CONTROL        the script that starts and stops reference nodes (scenarios i, j, k;
                           default ../shared/tools/reference-rabbitmq.sh beside the repository)
  REFERENCE_FRESH_PORT     with REFERENCE_URL and that script, scenarios i and j start fresh
                           reference nodes of their own on this port (default ${DEFAULT_FRESH_PORT}) and stop them
                           after: i measures one, j times the start of 3
`;

const fail = failWith('bench');

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    runs: { type: 'string', default: '3' },
    window: { type: 'string', default: '0' },
    messages: { type: 'string', default: '1000000' },
    queues: { type: 'string', default: '5000' },
    'no-reference-restart': { type: 'boolean', default: false },
    smoke: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    'broker-cpu-prof': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
  allowPositionals: false,
});

if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}

const smoke = values.smoke;
const SMOKE_SCENARIOS = 'a,b,c,d,e,f,g,h,l,m,n';
const SMOKE_MESSAGES = 20_000;
const SMOKE_QUEUES = 200;
// After the publishers of a to f, m and n stop, how long the consumers get to take what is queued.
const DRAIN_SECONDS = 5;
const SMOKE_DRAIN_SECONDS = 2;
const only = (values.only ?? (smoke ? SMOKE_SCENARIOS : SCENARIO_NAMES.join(',')))
  .split(',')
  .map((n) => n.trim())
  .filter((n) => n !== '');
for (const name of only) if (!SCENARIO_NAMES.includes(name)) fail(`unknown scenario '${name}'`);
if (only.length === 0) fail('--only names no scenario');
// In the order of SCENARIO_NAMES, whatever the order asked, but k last, as it may restart the reference node.
const throughputScenarios: Scenario[] = Object.values(SCENARIOS).filter((sc) => only.includes(sc.name));
const runRestarts = only.includes('k');
const runLatencyScenario = only.includes('g');
const runFillDrain = only.includes('h');
const runIdle = only.includes('i');
const runStart = only.includes('j');
const runDefinitions = only.includes('l');
const START_RUNS = 5;
const options: RunOptions = {
  seconds: smoke ? 1 : numberOption(fail, 'seconds', values.seconds, 0.1, 3600),
  warmupSeconds: smoke ? 0.25 : numberOption(fail, 'warmup', values.warmup, 0, 600),
  window: Math.floor(numberOption(fail, 'window', values.window, 0, 1e9)),
  drainSeconds: smoke ? SMOKE_DRAIN_SECONDS : DRAIN_SECONDS,
};
const runs = smoke ? 1 : Math.floor(numberOption(fail, 'runs', values.runs, 1, 100));
const messages =
  smoke && values.messages === '1000000'
    ? SMOKE_MESSAGES
    : Math.floor(numberOption(fail, 'messages', values.messages, 1, 1e8));
const queueCount =
  smoke && values.queues === '5000'
    ? SMOKE_QUEUES
    : Math.floor(numberOption(fail, 'queues', values.queues, 1, 1e6));
const referenceUrl = smoke ? undefined : process.env.REFERENCE_URL || undefined;
const referencePid = process.env.REFERENCE_PID ? Number(process.env.REFERENCE_PID) : undefined;
if (referencePid !== undefined && !Number.isInteger(referencePid)) fail('REFERENCE_PID is not a pid');

// The `warren` command as users run it: package.json's bin, which runs the one-file bundle of dist/cli.js
// with its code cache. Under
// --broker-cpu-prof, dist/cli.js itself (a file per module), so that the profile's time by file means
// something. Scenario j always times the bin.
const root = new URL('../../', import.meta.url);
const bin = (JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { bin: { warren: string } })
  .bin.warren;
const cli = values['broker-cpu-prof'] ? 'dist/cli.js' : bin;
for (const file of new Set([bin, cli]))
  if (!existsSync(new URL(file, root))) fail(`${file} is missing: run \`npm run build\` first`);
const binPath = fileURLToPath(new URL(bin, root));
const cliPath = fileURLToPath(new URL(cli, root));
const controlScript =
  process.env.REFERENCE_CONTROL ||
  fileURLToPath(new URL('../../../shared/tools/reference-rabbitmq.sh', import.meta.url));
const freshPort = Math.floor(
  numberOption(
    fail,
    'REFERENCE_FRESH_PORT',
    process.env.REFERENCE_FRESH_PORT || String(DEFAULT_FRESH_PORT),
    1,
    65535,
  ),
);
/** Fresh reference nodes for i and j: only with a reference broker to compare with, and the script. */
const freshReference = referenceUrl !== undefined && existsSync(controlScript);

/** Which warren is measured: `git describe` of the checkout, '-dirty' when src has uncommitted changes. */
function warrenRevision(): string {
  try {
    const cwd = fileURLToPath(new URL('../..', import.meta.url));
    const git = (args: string[]) =>
      execFileSync('git', args, {
        cwd,
        encoding: 'utf8',
        timeout: 5000,
        stdio: ['ignore', 'pipe', 'ignore'],
      });
    const commit = git(['rev-parse', '--short', 'HEAD']).trim();
    const dirty = git(['status', '--porcelain', '--', 'src']).trim() !== '';
    return dirty ? `${commit} with uncommitted changes in src/` : commit;
  } catch {
    return 'unknown revision';
  }
}

// Formatting

const loadText = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

function perMessage(cpu: number | undefined, r: RunResult): string {
  return cpu === undefined || r.consumed === 0 ? '-' : ((cpu / r.consumed) * 1e6).toFixed(2);
}

function percent(cpu: number | undefined, r: RunResult): string {
  return cpu === undefined ? '-' : `${Math.round((cpu / r.seconds) * 100)}%`;
}

type Column = readonly [name: string, width: number];

/** A latency in ms: three decimals below 10 ms, one below 1 s, whole ms above; '-' for none. */
function latencyMs(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  return ms < 10 ? ms.toFixed(3) : ms < 1000 ? ms.toFixed(1) : int(ms);
}

const COLUMNS: readonly Column[] = [
  ['run', 3],
  ['broker', 9],
  ['mode', 13],
  ['consumed/s', 10],
  ['published/s', 11],
  ['confirmed/s', 11],
  ['queue', 9],
  ['p50 ms', 7],
  ['p99 ms', 8],
  ['peak RSS', 8],
  ['broker cpu', 10],
  ['µs/msg', 6],
  ['loadgen cpu', 11],
  ['µs/msg', 6],
  ['pub/cons cpu', 12],
  ['other cpu', 9],
];
const CONFIRMED_COLUMN = 5;

/** The table's columns and cells for a scenario: confirmed/s only with publisher confirms. */
function forScenario<T>(scenario: Scenario, cells: readonly T[]): T[] {
  return scenario.confirmWindow > 0 ? [...cells] : cells.filter((_, i) => i !== CONFIRMED_COLUMN);
}

function row(scenario: Scenario, cells: string[]): string {
  const columns = forScenario(scenario, COLUMNS);
  return cells.map((c, i) => (i < 3 ? c.padEnd(columns[i][1]) : c.padStart(columns[i][1]))).join('  ');
}

// Other processes using more than this share of a core make a run's figures unreliable.
const BUSY_WARNING = 0.25;

function otherCpu(r: RunResult): number | undefined {
  return r.machineCpu === undefined || r.brokerCpu === undefined
    ? undefined
    : Math.max(0, r.machineCpu - r.brokerCpu - r.loadCpu);
}

function resultRow(scenario: Scenario, run: string, r: RunResult): string {
  return row(
    scenario,
    forScenario(scenario, [
      run,
      r.label,
      r.mode,
      int(r.consumed / r.seconds),
      int(r.published / r.seconds),
      int(r.confirmed / r.seconds),
      int(r.queueDepth),
      latencyMs(r.p50Ms),
      latencyMs(r.p99Ms),
      formatBytes(r.peakRss),
      percent(r.brokerCpu, r),
      perMessage(r.brokerCpu, r),
      percent(r.loadCpu, r),
      perMessage(r.loadCpu, r),
      `${percent(r.publisherCpu, r)}/${percent(r.consumerCpu, r)}`,
      percent(otherCpu(r), r),
    ]),
  );
}

const percentText = (n: number) => `${(n * 100).toFixed(1)}%`;
const p99Text = (n: number) => (Number.isFinite(n) ? `${latencyMs(n)} ms` : 'none received');

/** A run for the --json line: NaN (no latency measured) as null, as JSON has no NaN. */
function jsonRun(r: RunResult): RunResult | Record<string, unknown> {
  return {
    ...r,
    p50Ms: Number.isFinite(r.p50Ms) ? r.p50Ms : null,
    p99Ms: Number.isFinite(r.p99Ms) ? r.p99Ms : null,
  };
}

/** The run with the median consumed rate (the lower middle one for an even count). */
function medianRun(results: RunResult[]): RunResult {
  const sorted = [...results].sort((a, b) => a.consumed / a.seconds - b.consumed / b.seconds);
  return sorted[(sorted.length - 1) >> 1];
}

const rate = (r: RunResult) => r.consumed / r.seconds;

/** Broker CPU seconds per consumed message; undefined without the broker's pid. */
const cpuPerMessage = (r: RunResult) =>
  r.brokerCpu === undefined || r.consumed === 0 ? undefined : r.brokerCpu / r.consumed;

/** The targets of the performance issue that this run measured, with their verdicts (targets.ts). */
const targetBook = new TargetBook();

function newDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'warren-bench-'));
}

// Main

/** Alternating runs of one throughput scenario against a fresh warren and the reference; true if all is well. */
/** Every throughput run of warren's in a to f, for the peak RSS target across them. */
const warrenThroughputRuns: RunResult[] = [];

async function throughput(scenario: Scenario, nodeArgs: string[]): Promise<boolean> {
  const mode = modeText(effectiveWindow(scenario, options.window));
  console.log('');
  console.log(`scenario ${scenario.name} (${mode}): ${scenario.description}`);
  let warren: BrokerProcess | undefined;
  const dataDir = newDataDir();
  const results: RunResult[] = [];
  try {
    warren = await startWarren(cliPath, { dataDir, nodeArgs });
    const targets: Target[] = [{ label: 'warren', url: warren.url, pid: warren.pid }];
    if (referenceUrl) targets.push({ label: 'reference', url: referenceUrl, pid: referencePid });
    console.log(
      row(
        scenario,
        forScenario(scenario, COLUMNS).map((c) => c[0]),
      ),
    );
    for (let run = 1; run <= runs; run++) {
      // Alternate which broker goes first, so neither always runs on a machine just warmed by the other.
      const order = run % 2 === 1 ? targets : [...targets].reverse();
      for (const target of order) {
        const result = await runScenario(scenario, target, options).catch((err: unknown) => {
          const where = new URL(target.url);
          const reason = err instanceof Error ? err.message : String(err);
          throw new Error(`${target.label} at ${where.host}: ${reason}`);
        });
        results.push(result);
        console.log(resultRow(scenario, String(run), result));
        const other = otherCpu(result);
        if (other !== undefined && other / result.seconds > BUSY_WARNING) {
          console.log('     warning: other processes were busy during this run; its figures are unreliable');
        }
        if (result.blocked > 0)
          console.log(`     the broker blocked the publisher ${result.blocked} time(s)`);
        if (result.undelivered !== 0) {
          console.log(`     ${int(result.undelivered)} published message(s) never reached the consumer`);
        }
        if (result.backlog !== 0) {
          console.log(
            `     ${int(result.backlog)} deliveries still owed ${options.drainSeconds} s after the publishers ` +
              'stopped, held by the broker: deleted with the queues',
          );
        }
        if (result.drainStalled) {
          console.log(
            `     the consumers received nothing in the last second of the drain, deliveries still owed`,
          );
        }
        if (!result.deliveryChecked) {
          console.log(
            "     a publisher's close timed out with publishes still in its socket: deliveries not checked",
          );
        }
        if (result.consumed === 0 && result.consumedTotal > 0)
          console.log('     nothing was consumed in the measured interval, only before or after it');
        if (result.nacked !== 0) console.log(`     the broker nacked ${int(result.nacked)} publish(es)`);
        if (scenario.deadLetter) {
          console.log(
            `     rejected on the dead-lettering queue: ${int(result.rejected / result.seconds)}/s ` +
              '(consumed/s: what reached the dead-letter queue)',
          );
        }
      }
    }
  } finally {
    await warren?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }

  const warrenRuns = results.filter((r) => r.label === 'warren');
  if (PEAK_RSS_SCENARIOS.includes(scenario.name)) warrenThroughputRuns.push(...warrenRuns);
  const warrenMedian = medianRun(warrenRuns);
  const range = (label: string) => {
    const rates = results.filter((r) => r.label === label).map(rate);
    return rates.length > 1 ? ` (${int(Math.min(...rates))}–${int(Math.max(...rates))})` : '';
  };
  const summary = [`median run (${mode}): warren ${int(rate(warrenMedian))} msg/s${range('warren')}`];
  if (scenario.confirmWindow > 0)
    summary.push(`${int(warrenMedian.confirmed / warrenMedian.seconds)} confirmed/s`);
  summary.push(`p99 ${latencyMs(warrenMedian.p99Ms)} ms`);
  if (referenceUrl) {
    const referenceMedian = medianRun(results.filter((r) => r.label === 'reference'));
    summary.push(`reference ${int(rate(referenceMedian))} msg/s${range('reference')}`);
    if (scenario.confirmWindow > 0) {
      summary.push(`${int(referenceMedian.confirmed / referenceMedian.seconds)} confirmed/s`);
    }
    summary.push(`p99 ${latencyMs(referenceMedian.p99Ms)} ms`);
    summary.push(`ratio warren/reference ${(rate(warrenMedian) / rate(referenceMedian)).toFixed(2)}`);
    const target = THROUGHPUT_TARGETS[scenario.name];
    if (target) targetBook.ratio(target, rate(warrenMedian), rate(referenceMedian), int, mode);
    if (scenario.name === TARGETS.cpuPerMessage.scenario) {
      targetBook.ratio(
        TARGETS.cpuPerMessage,
        cpuPerMessage(warrenMedian),
        cpuPerMessage(referenceMedian),
        (s) => `${(s * 1e6).toFixed(2)} µs`,
        mode,
      );
    }
  }
  // Targets of open loop alone: with a window the load generator keeps the consumers in step.
  if (options.window === 0 && KEEP_UP_SCENARIOS.includes(scenario.name)) {
    const share = warrenMedian.published === 0 ? undefined : warrenMedian.consumed / warrenMedian.published;
    targetBook.absolute(consumeShareTarget(scenario.name), share, percentText, mode);
    // No message received in the measured interval: no latency below any bound.
    const p99 = warrenMedian.latencySamples === 0 ? Number.POSITIVE_INFINITY : warrenMedian.p99Ms;
    targetBook.absolute(openLoopP99Target(scenario.name), p99, p99Text, mode);
  }
  console.log(`${summary.join(', ')}; load average now ${loadText()}`);
  if (values.json)
    console.log(JSON.stringify({ scenario: scenario.name, mode, options, runs: results.map(jsonRun) }));
  let ok = true;
  const idle = results.filter((r) => r.consumedTotal === 0 || r.publishedTotal === 0);
  if (idle.length > 0) {
    console.error(`bench: no message flowed in ${idle.map((r) => r.label).join(', ')}`);
    ok = false;
  }
  const unconfirmed = results.filter((r) => scenario.confirmWindow > 0 && r.confirmed === 0);
  if (unconfirmed.length > 0) {
    console.error(`bench: no publish was confirmed in ${unconfirmed.map((r) => r.label).join(', ')}`);
    ok = false;
  }
  if (results.some((r) => r.undelivered !== 0)) {
    console.error('bench: some published messages were never consumed');
    ok = false;
  }
  if (results.some((r) => r.nacked !== 0)) {
    console.error('bench: the broker nacked some publishes');
    ok = false;
  }
  return ok;
}

/** Scenario g: latency at each fixed rate, alternating runs of warren and the reference. */
async function latency(nodeArgs: string[]): Promise<boolean> {
  console.log('');
  console.log(
    `scenario g: end-to-end latency, 1 publisher at a fixed rate (${LATENCY_RATES.join(' and ')} msg/s), ` +
      '1 consumer, 16 B, transient, no-ack',
  );
  const results: LatencyResult[] = [];
  const warren = await startWarren(cliPath, { dataDir: undefined, nodeArgs });
  try {
    const targets: Target[] = [{ label: 'warren', url: warren.url, pid: warren.pid }];
    if (referenceUrl) targets.push({ label: 'reference', url: referenceUrl, pid: referencePid });
    // A fresh node process runs its hot paths unoptimised for its first seconds, and the tail of its
    // latency shows it (p99 at 1,000 msg/s fell from about 1.5 ms to 0.2 ms after 10 s of traffic); the
    // reference node has long been running. So warren first gets traffic that is not measured.
    // Twice: the end of the first warm-up run (its connections closed, its queue deleted) is the first
    // time this process deletes a queue and closes a connection, and V8 then throws away optimised code
    // that took fields never written since construction (a queue's `deleted`) as constants. At 1,000
    // msg/s it takes seconds to be optimised again: warren's first measured run at that rate was the
    // slowest of its three, or tied, in 5 of 7 full runs, most of its tail in its first seconds. A
    // second, short run after that first close leaves warren as it is for every run after.
    if (!smoke) {
      for (const seconds of [LATENCY_WARMUP_S, LATENCY_REWARM_S]) {
        await runLatency(targets[0], { rate: LATENCY_WARMUP_RATE, warmupSeconds: 0, seconds });
      }
    }
    for (const rate of LATENCY_RATES) {
      const atRate: LatencyResult[] = [];
      for (let run = 1; run <= runs; run++) {
        const order = run % 2 === 1 ? targets : [...targets].reverse();
        for (const target of order) {
          atRate.push(
            await runLatency(target, {
              rate,
              warmupSeconds: options.warmupSeconds,
              seconds: options.seconds,
            }).catch((err: unknown) => {
              throw new Error(`${target.label}, latency at ${rate} msg/s: ${(err as Error).message}`);
            }),
          );
        }
      }
      for (const line of latencyReport(atRate)) console.log(line);
      results.push(...atRate);
      if (rate === LATENCY_TARGET_RATE) {
        const p99 = (label: string) => median(atRate.filter((r) => r.label === label).map((r) => r.p99Ms));
        targetBook.ratio(TARGETS.latencyP99, p99('warren'), p99('reference'), (n) => `${n.toFixed(3)} ms`);
      }
    }
  } finally {
    await warren.stop();
  }
  console.log(
    "latency: from the publisher's socket write to the consumer's read of the body, in ms; nearest-rank " +
      'percentiles over every message of the measured interval; the ratio line compares the medians of the runs.',
  );
  if (values.json) console.log(JSON.stringify({ scenario: 'g', results }));
  return results.every((r) => r.lost === 0 && r.samples > 0);
}

/** Scenario h against a fresh warren (data directory, fsync on) and the reference; true if all is well. */
async function fillAndDrain(nodeArgs: string[]): Promise<boolean> {
  console.log('');
  console.log(
    `scenario h: ${int(messages)} persistent 16-byte messages into a durable queue (confirms, 1000 ` +
      'unconfirmed at most, no consumer), then drained by one consumer (manual acks, prefetch 100)',
  );
  const results: FillDrainResult[] = [];
  const dataDir = newDataDir();
  const log = (line: string) => console.log(line);
  try {
    const warren = await startWarren(cliPath, { dataDir, nodeArgs });
    try {
      results.push(await fillDrain('warren', warren.url, warren.pid, messages, log));
    } finally {
      await warren.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
  if (referenceUrl) results.push(await fillDrain('reference', referenceUrl, referencePid, messages, log));
  for (const line of fillDrainReport(results)) console.log(line);
  const [w, ref] = results;
  if (w && ref && w.error === undefined && ref.error === undefined) {
    targetBook.ratio(TARGETS.fill, w.fillRate, ref.fillRate, int);
    targetBook.ratio(TARGETS.drain, w.drainRate, ref.drainRate, int);
    targetBook.ratio(
      TARGETS.backlogRss,
      w.backlogRssBytes ?? undefined,
      ref.backlogRssBytes ?? undefined,
      formatBytes,
    );
  }
  console.log(
    'fill: confirmed messages per second; drain: consumed per second; µs/msg: broker cpu per message in ' +
      'each phase; RSS: VmRSS before, with the backlog queued, and the highest sampled every 100 ms.',
  );
  if (values.json) console.log(JSON.stringify({ scenario: 'h', messages, results }));
  return results.every((r) => r.error === undefined);
}

/** Scenario l against a fresh warren (data directory, fsync on) and the reference; true if all is well. */
async function definitions(nodeArgs: string[]): Promise<boolean> {
  console.log('');
  console.log(
    `scenario l: ${int(queueCount)} durable queues declared and bound to amq.direct, one call at a time, ` +
      'then deleted; another connection pings itself through a queue every 5 ms meanwhile',
  );
  const results: DefinitionsResult[] = [];
  const dataDir = newDataDir();
  try {
    const warren = await startWarren(cliPath, { dataDir, nodeArgs });
    try {
      results.push(await manyDefinitions('warren', warren.url, warren.pid, queueCount));
    } finally {
      await warren.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
  if (referenceUrl) results.push(await manyDefinitions('reference', referenceUrl, referencePid, queueCount));
  for (const line of definitionsReport(results)) console.log(line);
  console.log(
    'declare/s: queues declared and bound per second; delete/s: deleted per second; µs/q: broker cpu per ' +
      "queue in each phase; ping ms: the other connection's round trip, p50/p99, in each phase.",
  );
  if (values.json) console.log(JSON.stringify({ scenario: 'l', queues: queueCount, results }));
  return results.every((r) => r.error === undefined);
}

/** Scenario i against a fresh warren (--in-memory) and a reference node; true if warren opened them all. */
async function idle(nodeArgs: string[]): Promise<boolean> {
  console.log('');
  console.log(
    `scenario i: ${int(IDLE_DEFAULTS.connections)} idle connections, one channel each, opened ` +
      `${IDLE_DEFAULTS.batch} at a time; the broker's RSS before, with them open, and after closing them`,
  );
  const results: IdleResult[] = [];
  const warren = await startWarren(cliPath, { dataDir: undefined, nodeArgs });
  try {
    results.push(await idleConnections('warren', warren.url, warren.pid));
  } finally {
    await warren.stop();
  }
  if (freshReference) {
    console.log(`reference: a fresh node on port ${freshPort}`);
    const node = await startFreshReference(controlScript, freshPort);
    try {
      await node.connection.close();
      results.push(await idleConnections('reference', node.url, node.pid));
    } finally {
      await node.stop();
    }
  } else if (referenceUrl) results.push(await idleConnections('reference', referenceUrl, referencePid));
  for (const line of idleReport(results)) console.log(line);
  const perConnection = (r: IdleResult) =>
    r.error !== undefined || r.rssBefore === undefined || r.rssOpen === undefined || r.opened === 0
      ? undefined
      : (r.rssOpen - r.rssBefore) / r.opened;
  if (results.length === 2) {
    targetBook.ratio(
      TARGETS.connectionRss,
      perConnection(results[0]),
      perConnection(results[1]),
      (n) => `${(n / 1024).toFixed(1)} KiB`,
    );
  }
  console.log(
    `RSS: VmRSS of the broker process (reference: its beam.smp); read ${IDLE_DEFAULTS.settleMs / 1000} s ` +
      'after the last open and after the last close; per conn: (opened - before) / connections.',
  );
  if (values.json) console.log(JSON.stringify({ scenario: 'i', results }));
  return results[0].error === undefined && results[0].opened === results[0].wanted;
}

const REFERENCE_START_RUNS = 3;
const IDLE_RSS_WAIT_S = 1;

/** Scenario j: warren's start time and idle RSS; a fresh reference node's, when one can be started. */
async function start(): Promise<boolean> {
  console.log('');
  console.log(`scenario j: start time and idle RSS, ${START_RUNS} runs each`);
  const result = await startTimes(binPath, START_RUNS, freshReference ? undefined : referencePid);
  for (const line of startReport(result)) console.log(line);
  targetBook.absolute(
    TARGETS.inProcessStart,
    median(result.inProcess.map((r) => r.startMs)),
    (n) => `${n.toFixed(1)} ms`,
  );
  const reference: { firstChannelMs: number; idleRss: number | undefined }[] = [];
  if (!freshReference) {
    console.log('reference: no start time without REFERENCE_URL and the reference script (see --help)');
  } else {
    for (let i = 0; i < REFERENCE_START_RUNS; i++) {
      const node = await startFreshReference(controlScript, freshPort);
      try {
        await sleep(IDLE_RSS_WAIT_S);
        reference.push({
          firstChannelMs: node.firstChannelMs,
          idleRss: node.pid === undefined ? undefined : processMemory(node.pid)?.rss,
        });
      } finally {
        await node.stop();
      }
    }
    const times = reference.map((r) => r.firstChannelMs);
    const rss = reference.map((r) => r.idleRss).filter((v): v is number => v !== undefined);
    const warrenChannel = median(result.cli.map((c) => c.firstChannelMs));
    const warrenRss = median(result.cli.map((c) => c.idleRss).filter((v): v is number => v !== undefined));
    console.log(
      `reference, reference-rabbitmq.sh start on port ${freshPort} (a fresh node; ${reference.length} runs, median):`,
    );
    console.log(
      `  spawn to first channel      ${Math.round(median(times))} ms  (${times.map((t) => Math.round(t)).join(', ')})`,
    );
    console.log(
      `  idle RSS ${IDLE_RSS_WAIT_S} s after channel  ${formatBytes(rss.length ? median(rss) : undefined)}`,
    );
    console.log(
      `ratio warren/reference: start to first channel ${(warrenChannel / median(times)).toFixed(3)}` +
        (rss.length && warrenRss ? `, idle RSS ${(warrenRss / median(rss)).toFixed(2)}` : ''),
    );
    targetBook.ratio(TARGETS.start, warrenChannel, median(times), (n) => `${int(n)} ms`);
    if (rss.length) targetBook.ratio(TARGETS.idleRss, warrenRss, median(rss), formatBytes);
    const bare = result.cliWithoutExtraCaCerts;
    if (bare?.length)
      console.log(
        `  with NODE_EXTRA_CA_CERTS unset for warren: start to first channel ` +
          (median(bare.map((c) => c.firstChannelMs)) / median(times)).toFixed(3),
      );
  }
  if (values.json) console.log(JSON.stringify({ scenario: 'j', ...result, reference }));
  return true;
}

/** Scenario k against warren and the reference; true if all is well. */
async function restarts(nodeArgs: string[]): Promise<boolean> {
  console.log('');
  console.log(
    `scenario k: ${int(messages)} persistent 16-byte messages into one durable queue (confirms, ` +
      'no consumer), then a clean restart and a SIGKILL restart',
  );
  const o: RestartOptions = {
    messages,
    cliPath,
    nodeArgs,
    referenceUrl,
    referencePid,
    referenceControl: values['no-reference-restart']
      ? { skip: '--no-reference-restart' }
      : existsSync(controlScript)
        ? { script: controlScript }
        : { skip: `no ${controlScript} (set REFERENCE_CONTROL)` },
    log: (line) => console.log(line),
  };
  const results: RestartResult[] = [await restartWarren(o)];
  if (referenceUrl) results.push(await restartReference({ ...o, referenceUrl }));
  console.log('');
  for (const line of restartReport(results)) console.log(line);
  const killed = (r: RestartResult | undefined) => r?.restarts.find((x) => x.how === 'kill')?.ready.readyMs;
  if (results.length === 2) {
    targetBook.ratio(
      TARGETS.killRestart,
      killed(results[0]),
      killed(results[1]),
      (n) => `${(n / 1000).toFixed(2)} s`,
    );
  }
  console.log(
    [
      'fill: confirmed messages per second (1000 unconfirmed at most); cpu and µs/msg over the fill;',
      'RSS: VmRSS (peak: VmHWM) of the broker process with the backlog in place, again once it reported',
      `every message after each restart, and ${SETTLE_SECONDS} s after that; on disk: warren's data directory.`,
      'first answer: from the start of the process to the first passive queue.declare answered, with the',
      "count it reported; all at: until it reported every message; recovery: warren's own log figure.",
    ].join('\n'),
  );
  console.log(`load average now ${loadText()}`);
  if (values.json) console.log(JSON.stringify({ scenario: 'k', messages, results }));
  return results.every((r) => r.error === undefined);
}

async function main(): Promise<number> {
  console.log(`warren ${warrenRevision()}; scenarios ${only.join(', ')}`);
  console.log(
    `warm-up ${options.warmupSeconds} s, measured ${options.seconds} s, ${runs} run(s) per broker, ` +
      `a–f, m, n ${options.window === 0 ? 'open loop' : `with a window of ${int(options.window)}`}; ` +
      `node ${process.version}, ${cpus().length} cpus, load average ${loadText()}`,
  );
  // What else keeps the cores busy, the bench's own process left out.
  const busy0 = machineBusySeconds();
  const own0 = process.cpuUsage();
  await new Promise((resolve) => setTimeout(resolve, 500));
  const own = process.cpuUsage(own0);
  const busyBefore = minus(
    machineBusySeconds(),
    busy0 === undefined ? undefined : busy0 + (own.user + own.system) / 1e6,
  );
  if (busyBefore !== undefined && busyBefore / 0.5 > BUSY_WARNING) {
    console.log(
      `warning: the machine was busy before the start (${Math.round((busyBefore / 0.5) * 100)}% of a core); ` +
        'figures will be low and noisy',
    );
  }
  const profileDir = values['broker-cpu-prof'];
  const nodeArgs = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];

  let ok = true;
  for (const scenario of throughputScenarios) ok = (await throughput(scenario, nodeArgs)) && ok;
  if (options.window === 0 && warrenThroughputRuns.length > 0) {
    const rssNames = throughputScenarios.map((sc) => sc.name).filter((n) => PEAK_RSS_SCENARIOS.includes(n));
    const peaks = warrenThroughputRuns.map((r) => r.peakRss).filter((v): v is number => v !== undefined);
    if (peaks.length > 0)
      targetBook.absolute(
        {
          ...OPEN_LOOP_TARGETS.peakRss,
          scenario: rssNames.length === PEAK_RSS_SCENARIOS.length ? 'a–f' : rssNames.join(','),
        },
        Math.max(...peaks),
        formatBytes,
        modeText(0),
      );
  }
  if (runLatencyScenario) ok = (await latency(nodeArgs)) && ok;
  if (runFillDrain) ok = (await fillAndDrain(nodeArgs)) && ok;
  if (runIdle) ok = (await idle(nodeArgs)) && ok;
  if (runStart) ok = (await start()) && ok;
  if (runDefinitions) ok = (await definitions(nodeArgs)) && ok;
  if (runRestarts) ok = (await restarts(nodeArgs)) && ok;

  if (throughputScenarios.length > 0) {
    console.log('');
    console.log(
      [
        'mode: open loop (publishers publish as fast as the broker and TCP let them) or window N (at most',
        'N messages published and not yet consumed); queue: deliveries published and not yet consumed at',
        "the end of the measured interval; p50/p99: latency from the publisher's write to the consumer's",
        "read, of the messages received in the measured interval; peak RSS: the broker's, sampled every",
        '100 ms from the first publish to the deletion of the queues;',
        'cpu: % of one core over the measured interval; µs/msg: cpu time per consumed message;',
        'broker: the whole broker process; loadgen: the whole bench process, of which pub/cons: the',
        'publisher and consumer threads; other: every other process and the kernel outside them',
        '(loopback network work in interrupt context lands here too).',
      ].join('\n'),
    );
  }
  // A smoke run's second-long figures say nothing about the targets.
  const verdicts = smoke ? [] : targetBook.report();
  if (verdicts.length > 0) {
    console.log('');
    console.log("the performance issue's targets, from this run's figures (the exact ratio decides):");
    for (const line of verdicts) console.log(line);
    if (values.json) {
      const results = targetBook.results.map((r) => ({ ...r.target, value: r.value, met: r.met }));
      console.log(JSON.stringify({ scenario: 'targets', results }));
    }
  }
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
