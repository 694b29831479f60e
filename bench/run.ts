// `npm run bench`: message throughput of warren (a child process started here) and, with REFERENCE_URL,
// of a reference broker such as RabbitMQ, in alternating runs of the same scenario on the same machine.
// See bench/README.md for what is measured and how to read it.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type BrokerProcess, startWarren } from './broker-process.js';
import { machineBusySeconds } from './cpu.js';
import { type RunOptions, type RunResult, runScenario, type Target } from './run-scenario.js';
import { SCENARIOS } from './scenarios.js';

const HELP = `Usage: node build/bench/run.js [options]

Options:
  --scenario <name>        scenario to run (${Object.keys(SCENARIOS).join(', ')}; default a)
  --seconds <s>            measured seconds per run (default 10)
  --warmup <s>             warm-up seconds per run, not measured (default 2)
  --runs <n>               runs per broker, alternating between brokers (default 3)
  --window <n>             most messages published and not yet consumed (default 20000; 0: no limit)
  --smoke                  a quick check that messages flow: 1 run of 1 s, against warren only
  --json                   also print the results as one JSON line
  --broker-cpu-prof <dir>  run warren under node --cpu-prof, its profile written into <dir> at exit
                           (summarise it with node build/bench/profile-summary.js <file>)
  -h, --help               show this help

Environment:
  REFERENCE_URL            amqp:// URL of a reference broker to run the same scenario against
  REFERENCE_PID            that broker's pid, for its CPU time (RabbitMQ: the beam.smp process)
`;

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'a' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    runs: { type: 'string', default: '3' },
    window: { type: 'string', default: '20000' },
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

function numberOption(name: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < min || n > max) fail(`--${name} must be a number from ${min} to ${max}`);
  return n;
}

const scenario = SCENARIOS[values.scenario];
if (!scenario) fail(`unknown scenario '${values.scenario}'`);
const smoke = values.smoke;
const options: RunOptions = {
  seconds: smoke ? 1 : numberOption('seconds', values.seconds, 0.1, 3600),
  warmupSeconds: smoke ? 0.25 : numberOption('warmup', values.warmup, 0, 600),
  window: Math.floor(numberOption('window', values.window, 0, 1e9)),
};
const runs = smoke ? 1 : Math.floor(numberOption('runs', values.runs, 1, 100));
const referenceUrl = smoke ? undefined : process.env.REFERENCE_URL || undefined;
const referencePid = process.env.REFERENCE_PID ? Number(process.env.REFERENCE_PID) : undefined;
if (referencePid !== undefined && !Number.isInteger(referencePid)) fail('REFERENCE_PID is not a pid');

const cliPath = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
if (!existsSync(cliPath)) fail('dist/cli.js is missing: run `npm run build` first');

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

const int = (n: number) => Math.round(n).toLocaleString('en-US');
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

const COLUMNS = [
  ['run', 3],
  ['broker', 9],
  ['consumed/s', 10],
  ['published/s', 11],
  ['queue', 7],
  ['broker cpu', 10],
  ['µs/msg', 6],
  ['loadgen cpu', 11],
  ['µs/msg', 6],
  ['pub/cons cpu', 12],
  ['other cpu', 9],
] as const;

function row(cells: string[]): string {
  return cells.map((c, i) => (i < 2 ? c.padEnd(COLUMNS[i][1]) : c.padStart(COLUMNS[i][1]))).join('  ');
}

// Other processes using more than this share of a core make a run's figures unreliable.
const BUSY_WARNING = 0.25;

function minus(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined ? undefined : a - b;
}

function otherCpu(r: RunResult): number | undefined {
  return r.machineCpu === undefined || r.brokerCpu === undefined
    ? undefined
    : Math.max(0, r.machineCpu - r.brokerCpu - r.loadCpu);
}

function resultRow(run: string, r: RunResult): string {
  return row([
    run,
    r.label,
    int(r.consumed / r.seconds),
    int(r.published / r.seconds),
    int(r.queueDepth),
    percent(r.brokerCpu, r),
    perMessage(r.brokerCpu, r),
    percent(r.loadCpu, r),
    perMessage(r.loadCpu, r),
    `${percent(r.publisherCpu, r)}/${percent(r.consumerCpu, r)}`,
    percent(otherCpu(r), r),
  ]);
}

/** The run with the median consumed rate (the lower middle one for an even count). */
function medianRun(results: RunResult[]): RunResult {
  const sorted = [...results].sort((a, b) => a.consumed / a.seconds - b.consumed / b.seconds);
  return sorted[(sorted.length - 1) >> 1];
}

// Main

async function main(): Promise<number> {
  console.log(`scenario ${scenario.name}: ${scenario.description}; warren ${warrenRevision()}`);
  console.log(
    `warm-up ${options.warmupSeconds} s, measured ${options.seconds} s, ${runs} run(s) per broker, ` +
      `window ${options.window || 'unbounded'}; node ${process.version}, ${cpus().length} cpus, ` +
      `load average ${loadText()}`,
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

  let warren: BrokerProcess | undefined;
  const results: RunResult[] = [];
  try {
    const profileDir = values['broker-cpu-prof'];
    warren = await startWarren(cliPath, profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []);
    const targets: Target[] = [{ label: 'warren', url: warren.url, pid: warren.pid }];
    if (referenceUrl) targets.push({ label: 'reference', url: referenceUrl, pid: referencePid });
    console.log('');
    console.log(row(COLUMNS.map((c) => c[0])));
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
        console.log(resultRow(String(run), result));
        const other = otherCpu(result);
        if (other !== undefined && other / result.seconds > BUSY_WARNING) {
          console.log('     warning: other processes were busy during this run; its figures are unreliable');
        }
        if (result.blocked > 0)
          console.log(`     the broker blocked the publisher ${result.blocked} time(s)`);
        if (result.undelivered !== 0) {
          console.log(`     ${int(result.undelivered)} published message(s) never reached the consumer`);
        }
      }
    }
  } finally {
    await warren?.stop();
  }

  console.log('');
  console.log(
    [
      'cpu: % of one core over the measured interval; µs/msg: cpu time per consumed message;',
      'broker: the whole broker process; loadgen: the whole bench process, of which pub/cons: the',
      'publisher and consumer threads; other: every other process and the kernel outside them',
      '(loopback network work in interrupt context lands here too); queue: ready messages at the end.',
    ].join('\n'),
  );
  const warrenMedian = medianRun(results.filter((r) => r.label === 'warren'));
  const summary = [`median run: warren ${int(warrenMedian.consumed / warrenMedian.seconds)} msg/s`];
  if (referenceUrl) {
    const referenceMedian = medianRun(results.filter((r) => r.label === 'reference'));
    const ratio =
      warrenMedian.consumed / warrenMedian.seconds / (referenceMedian.consumed / referenceMedian.seconds);
    summary.push(
      `reference ${int(referenceMedian.consumed / referenceMedian.seconds)} msg/s`,
      `ratio warren/reference ${ratio.toFixed(2)}`,
    );
  }
  console.log(`${summary.join(', ')}; load average now ${loadText()}`);
  if (values.json) {
    console.log(JSON.stringify({ scenario: scenario.name, options, runs: results }));
  }
  const idle = results.filter((r) => r.consumed === 0);
  if (idle.length > 0) {
    console.error(`bench: no message was consumed in ${idle.map((r) => r.label).join(', ')}`);
    return 1;
  }
  if (results.some((r) => r.undelivered !== 0)) {
    console.error('bench: some published messages were never consumed');
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
