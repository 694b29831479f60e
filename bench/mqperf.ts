// `npm run bench:mqperf`: a second opinion on warren's throughput, latency and memory from mqperf, an
// open-loop load generator on RabbitMQ's Go client (../shared/tools/mqperf). For scenarios a to h (its
// README's flags) it runs mqperf alternately against a fresh warren (a child process, as run.ts starts
// it) and the reference RabbitMQ at REFERENCE_URL, samples each broker's RSS while mqperf runs, and prints
// markdown tables: the medians (min–max) of the runs, then the performance issue's targets and verdicts.
// See bench/README.md. The pure part (flags, parsing, tables, verdicts) is mqperf-report.ts.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type BrokerProcess, startWarren } from './broker-process.js';
import { failWith, numberOption } from './cli-options.js';
import { sleep } from './load-thread.js';
import {
  type BrokerRun,
  backlogLine,
  figuresOf,
  formatMiB,
  formatMs,
  judge,
  MQPERF_SCENARIOS,
  type MqperfScenario,
  mqperfArgs,
  parseMqperfOutput,
  RSS_RECOVERY_MS,
  type RssSample,
  resultsTable,
  rssRecovery,
} from './mqperf-report.js';
import { processMemory } from './proc-memory.js';
import { int } from './stats.js';
import { TargetBook } from './targets.js';

const HELP = `Usage: node build/bench/mqperf.js [options]

Runs ../shared/tools/mqperf (scenarios a to h of its README) alternately against a fresh warren and the
reference RabbitMQ (warren, RabbitMQ, warren, ...), and prints markdown tables of the results and of the
performance issue's targets.

Options:
  --only <names>     scenarios, comma-separated (default ${MQPERF_SCENARIOS.map((s) => s.name).join(',')}):
${MQPERF_SCENARIOS.map((s) => `                       ${s.name}  ${s.description}`).join('\n')}
  --runs <n>         runs per broker and scenario (default 3)
  --seconds <s>      mqperf's --duration for a to g (default 10)
  --warmup <s>       an unmeasured run of that many seconds against each fresh warren before its
                     measured runs of a to g (default 2; 0: none)
  --messages <n>     h's backlog (default 1000000)
  --json             also print one JSON line per run and one for the targets
  -h, --help         show this help

Environment:
  REFERENCE_URL      amqp:// URL of the reference RabbitMQ (without it, warren only)
  REFERENCE_PID      its beam.smp pid, for its CPU and RSS
  MQPERF             the mqperf binary (default ../shared/tools/mqperf/bin/mqperf beside the repository;
                     ../shared/tools/mqperf/build.sh builds it and prints its path)
`;

const fail = failWith('bench:mqperf');

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    runs: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    messages: { type: 'string', default: '1000000' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
  allowPositionals: false,
});
if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}

const names = MQPERF_SCENARIOS.map((s) => s.name);
const only = (values.only ?? names.join(','))
  .split(',')
  .map((n) => n.trim())
  .filter((n) => n !== '');
for (const n of only) if (!names.includes(n)) fail(`unknown scenario '${n}'`);
if (only.length === 0) fail('--only names no scenario');
const scenarios = MQPERF_SCENARIOS.filter((s) => only.includes(s.name));
const runs = Math.floor(numberOption(fail, 'runs', values.runs, 1, 100));
const seconds = numberOption(fail, 'seconds', values.seconds, 1, 3600);
const warmup = numberOption(fail, 'warmup', values.warmup, 0, 600);
const messages = Math.floor(numberOption(fail, 'messages', values.messages, 1, 1e8));
const referenceUrl = process.env.REFERENCE_URL || undefined;
const referencePid = process.env.REFERENCE_PID ? Number(process.env.REFERENCE_PID) : undefined;
if (referencePid !== undefined && !Number.isInteger(referencePid)) fail('REFERENCE_PID is not a pid');

const root = new URL('../../', import.meta.url);
const bin = (JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { bin: { warren: string } })
  .bin.warren;
if (!existsSync(new URL(bin, root))) fail(`${bin} is missing: run \`npm run build\` first`);
const cliPath = fileURLToPath(new URL(bin, root));
const mqperf =
  process.env.MQPERF || fileURLToPath(new URL('../../../shared/tools/mqperf/bin/mqperf', import.meta.url));
if (!existsSync(mqperf)) fail(`no mqperf at ${mqperf}: run ../shared/tools/mqperf/build.sh (or set MQPERF)`);

// Bounds on one mqperf process: a throughput run takes its duration, then up to 5 s for publishers stuck
// in flow control, 10 s to close and 60 s to delete its queues; a backlog run, its --timeout per phase.
const THROUGHPUT_SLACK_S = 100;
const BACKLOG_TIMEOUT_S = Math.ceil(120 + messages / 1000);
const RSS_SAMPLE_MS = 100;
/** Idle RSS: read this long after a connection and channel were opened and closed (as run.ts's j). */
const IDLE_WAIT_S = 1;

interface Broker {
  readonly label: 'warren' | 'RabbitMQ';
  readonly url: string;
  readonly pid: number | undefined;
}

interface Spawned {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number | null;
  readonly timedOut: boolean;
}

/** Runs mqperf with args, killing it after timeoutMs; every RSS_SAMPLE_MS while it runs, `tick`. */
function runMqperf(args: string[], timeoutMs: number, tick: () => void = () => {}): Promise<Spawned> {
  return new Promise((resolve, reject) => {
    const child = spawn(mqperf, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (s: string) => {
      stdout += s;
    });
    child.stderr.on('data', (s: string) => {
      stderr = (stderr + s).slice(-4000);
    });
    const sampler = setInterval(tick, RSS_SAMPLE_MS);
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    const killOnExit = () => child.kill('SIGKILL');
    process.once('exit', killOnExit);
    child.once('error', (err) => {
      clearInterval(sampler);
      clearTimeout(timer);
      process.off('exit', killOnExit);
      reject(err);
    });
    child.once('close', (code) => {
      clearInterval(sampler);
      clearTimeout(timer);
      process.off('exit', killOnExit);
      resolve({ stdout, stderr, code, timedOut });
    });
  });
}

const rssOf = (pid: number | undefined) => (pid === undefined ? undefined : processMemory(pid)?.rss);

let runCounter = 0;

/** One measured (or warm-up) mqperf run against one broker. */
async function measure(sc: MqperfScenario, broker: Broker, warmupSeconds?: number): Promise<BrokerRun> {
  const label = `warren-bench-mqperf-${sc.name}-${broker.label}-${++runCounter}`;
  const args = mqperfArgs(sc, {
    uri: broker.url,
    seconds: warmupSeconds ?? seconds,
    messages,
    brokerPid: broker.pid,
    label,
    timeoutSeconds: BACKLOG_TIMEOUT_S,
  });
  const timeoutMs =
    sc.kind === 'backlog'
      ? (2 * BACKLOG_TIMEOUT_S + THROUGHPUT_SLACK_S) * 1000
      : ((warmupSeconds ?? seconds) + THROUGHPUT_SLACK_S) * 1000;
  let peakRss = rssOf(broker.pid);
  const out = await runMqperf(args, timeoutMs, () => {
    const rss = rssOf(broker.pid);
    if (rss !== undefined && (peakRss === undefined || rss > peakRss)) peakRss = rss;
  });
  let json: Record<string, unknown>;
  try {
    json = parseMqperfOutput(out.stdout);
  } catch {
    json = {};
  }
  const figures = figuresOf(sc, json);
  const problems: string[] = [];
  if (out.timedOut)
    problems.push(`mqperf killed after ${timeoutMs / 1000} s (its queues may be left behind)`);
  else if (out.code !== 0) problems.push(`mqperf exited with ${out.code}`);
  if (figures.error) problems.push(figures.error);
  if (Object.keys(json).length === 0)
    problems.push(`no JSON result; stderr: ${out.stderr.trim().slice(-300)}`);
  const reported = typeof json.broker_rss_kb === 'number' ? json.broker_rss_kb * 1024 : undefined;
  if (reported !== undefined && (peakRss === undefined || reported > peakRss)) peakRss = reported;
  if (values.json && warmupSeconds === undefined) {
    console.log(
      JSON.stringify({
        tool: 'mqperf',
        scenario: sc.name,
        broker: broker.label,
        flags: sc.flags,
        peakRssBytes: peakRss ?? null,
        result: json,
      }),
    );
  }
  return {
    scenario: sc.name,
    broker: broker.label,
    figures: { ...figures, error: problems.length > 0 ? problems.join('; ') : undefined },
    peakRss,
  };
}

/** warren's RSS every RSS_SAMPLE_MS for RSS_RECOVERY_MS after a run. */
async function rssAfter(pid: number): Promise<RssSample[]> {
  const samples: RssSample[] = [];
  const start = Date.now();
  for (let i = 0; i <= RSS_RECOVERY_MS / RSS_SAMPLE_MS; i++) {
    const rss = rssOf(pid);
    if (rss !== undefined) samples.push({ ms: Date.now() - start, rss });
    await sleep(RSS_SAMPLE_MS / 1000);
  }
  return samples;
}

function progress(sc: MqperfScenario, run: number, r: BrokerRun): void {
  const f = r.figures;
  const rate = (n: number | undefined) => (n === undefined ? '-' : int(n));
  const parts =
    sc.kind === 'backlog'
      ? [`fill ${rate(f.publishRate)}/s`, `drain ${rate(f.consumeRate)}/s`]
      : [
          `consume ${rate(f.consumeRate)}/s`,
          `publish ${rate(f.publishRate)}/s`,
          `depth ${rate(f.depth)}`,
          `p50 ${f.p50Ms === undefined ? '-' : formatMs(f.p50Ms)} ms`,
          `p99 ${f.p99Ms === undefined ? '-' : formatMs(f.p99Ms)} ms`,
        ];
  parts.push(`peak RSS ${r.peakRss === undefined ? '-' : formatMiB(r.peakRss)}`);
  parts.push(`broker cpu ${f.brokerCpuPct === undefined ? '-' : `${Math.round(f.brokerCpuPct)}%`}`);
  parts.push(`mqperf cpu ${f.genCpuPct === undefined ? '-' : `${Math.round(f.genCpuPct)}%`}`);
  if (r.rssAfterRatio !== undefined) parts.push(`RSS after/idle ${r.rssAfterRatio.toFixed(2)}`);
  console.log(`${sc.name} run ${run} ${r.broker}: ${parts.join(', ')}`);
  if (f.error) console.log(`  error: ${f.error}`);
}

async function scenario(sc: MqperfScenario, all: BrokerRun[]): Promise<void> {
  console.log('');
  console.log(`scenario ${sc.name}: ${sc.description} (mqperf ${sc.flags.join(' ') || 'defaults'})`);
  const dataDir = mkdtempSync(join(tmpdir(), 'warren-bench-'));
  let warren: BrokerProcess | undefined;
  try {
    warren = await startWarren(cliPath, { dataDir });
    // Idle RSS of this fresh warren, before any load: a connection and channel opened and closed, then
    // a second's rest.
    await runMqperf(['--mode', 'ping', '--uri', warren.url, '--timeout', '10s'], 20_000);
    await sleep(IDLE_WAIT_S);
    const idleRss = rssOf(warren.pid);
    console.log(`warren idle RSS ${idleRss === undefined ? '-' : formatMiB(idleRss)}`);
    const brokers: Broker[] = [{ label: 'warren', url: warren.url, pid: warren.pid }];
    if (referenceUrl) brokers.push({ label: 'RabbitMQ', url: referenceUrl, pid: referencePid });
    if (warmup > 0 && sc.kind !== 'backlog') {
      const w = await measure(sc, brokers[0], warmup);
      console.log(`warm-up of warren, ${warmup} s: ${w.figures.error ?? 'done'}`);
    }
    for (let run = 1; run <= runs; run++) {
      for (const broker of brokers) {
        let r = await measure(sc, broker);
        if (sc.name === 'f' && broker.label === 'warren' && idleRss !== undefined) {
          const { lowest } = rssRecovery(await rssAfter(warren.pid), idleRss, RSS_RECOVERY_MS);
          r = { ...r, rssAfterRatio: lowest === undefined ? undefined : lowest / idleRss };
        }
        all.push(r);
        progress(sc, run, r);
      }
    }
  } finally {
    await warren?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  const load = () =>
    loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');
  console.log(
    `mqperf against warren${referenceUrl ? ' and RabbitMQ' : ''}: scenarios ${only.join(', ')}; ${runs} run(s) ` +
      `per broker of ${seconds} s (h: ${int(messages)} messages), open loop; node ${process.version}, ` +
      `${cpus().length} cpus, load average ${load()}`,
  );
  if (!referenceUrl) console.log('no REFERENCE_URL: warren only, no ratios');
  const all: BrokerRun[] = [];
  for (const sc of scenarios) await scenario(sc, all);

  console.log('');
  console.log('## mqperf: medians (min–max) of the runs');
  console.log('');
  for (const line of resultsTable(all)) console.log(line);
  console.log('');
  console.log(
    'consume/s, publish/s: over the run (e: deliveries to all 10 queues; h: drain and fill); end depth: ' +
      "published × queues − consumed at the end; p50/p99: mqperf's publish-to-consume latency; peak RSS: " +
      "the broker's, sampled every 100 ms while mqperf ran; CPU: % of one core (h: fill, drain).",
  );
  const h = backlogLine(all);
  if (h) {
    console.log('');
    console.log(h);
  }
  const book = new TargetBook();
  judge(book, all);
  const verdicts = book.markdown('RabbitMQ');
  if (verdicts.length > 0) {
    console.log('');
    console.log("## The performance issue's targets (mqperf)");
    console.log('');
    for (const line of verdicts) console.log(line);
  }
  if (values.json) {
    console.log(
      JSON.stringify({
        tool: 'mqperf',
        scenario: 'targets',
        results: book.results.map((r) => ({ ...r.target, mode: r.mode, value: r.value, met: r.met })),
        notes: book.notes,
      }),
    );
  }
  console.log('');
  console.log(`load average now ${load()}`);
  const errors = all.filter((r) => r.figures.error !== undefined);
  return errors.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`bench:mqperf: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
