// Turns the bench's `--json` output into an SVG chart: for each throughput scenario (a to f, h's fill
// and drain, m and n), warren's median rate beside the reference broker's, on a log scale, with the range of the
// runs as a whisker and the ratio of the medians; and prints the same figures, one line per scenario.
//   npm run bench -- --json > bench-output.txt
//   node build/bench/plot.js bench-output.txt [out.svg] [--subtitle "<date, machine>"] [--reference <name>]
// Lines that do not start with `{` are skipped, as are scenarios of other shapes (g, i, j, k). The SVG is
// written as text, with no dependency: default bench/results.svg.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { int } from './stats.js';

const USAGE =
  'usage: node build/bench/plot.js <bench-output-file> [<out.svg>] [--subtitle <text>] [--reference <name>]\n';

function fail(message: string): never {
  process.stderr.write(`plot: ${message}\n${USAGE}`);
  process.exit(2);
}

function parseCommandLine() {
  try {
    return parseArgs({
      options: {
        subtitle: { type: 'string' },
        reference: { type: 'string', default: 'RabbitMQ' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: true,
    });
  } catch (e) {
    fail((e as Error).message);
  }
}
const parsed = parseCommandLine();
if (parsed.values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const [inputFile, outputFile, ...extra] = parsed.positionals;
if (!inputFile) fail('no input file');
if (extra.length > 0) fail(`unexpected argument '${extra[0]}'`);
const referenceName = parsed.values.reference;
const outPath = outputFile ?? fileURLToPath(new URL('../../bench/results.svg', import.meta.url));

// Reading the bench's output

type Label = 'warren' | 'reference';
const LABELS: readonly Label[] = ['warren', 'reference'];

/** One broker's figures in one group: the median run's rate, and the lowest and highest of the runs. */
interface Stat {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly runs: number;
}

interface Group {
  readonly name: string;
  readonly description: string;
  readonly stats: Partial<Record<Label, Stat>>;
}

const GROUP_ORDER = ['a', 'b', 'c', 'd', 'e', 'f', 'h fill', 'h drain', 'm', 'n'];
const DESCRIPTIONS: Readonly<Record<string, string>> = {
  a: '1 pub, 1 cons, 16 B, no-ack',
  b: 'as a, manual ack, prefetch 100',
  c: 'persistent, confirms, durable queue',
  d: '4 pubs, 4 cons, 4 queues',
  e: 'fanout to 10 queues',
  f: '64 KiB bodies',
  'h fill': '1M persistent: fill',
  'h drain': '1M persistent: drain',
  m: 'dead-lettered (reject), then consumed',
  n: 'priority queue, 10 levels',
};

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isLabel(v: unknown): v is Label {
  return v === 'warren' || v === 'reference';
}

const isRate = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/** The median rate (the lower middle one for an even count), with the lowest and the highest. */
function stat(rates: number[]): Stat | undefined {
  if (rates.length === 0) return undefined;
  const sorted = [...rates].sort((a, b) => a - b);
  return {
    median: sorted[(sorted.length - 1) >> 1],
    min: sorted[0],
    max: sorted[sorted.length - 1],
    runs: sorted.length,
  };
}

/** Rates per label from a throughput scenario's runs: consumed / seconds. */
function throughputRates(runs: unknown[]): Map<Label, number[]> {
  const rates = new Map<Label, number[]>();
  for (const run of runs) {
    if (!isRecord(run) || !isLabel(run.label)) continue;
    const { seconds, consumed } = run;
    if (typeof seconds !== 'number' || !(seconds > 0) || !isRate(consumed)) continue;
    rates.set(run.label, [...(rates.get(run.label) ?? []), consumed / seconds]);
  }
  return rates;
}

/** Rates per label of one of scenario h's figures (fillRate or drainRate). */
function fillDrainRates(results: unknown[], key: 'fillRate' | 'drainRate'): Map<Label, number[]> {
  const rates = new Map<Label, number[]>();
  for (const r of results) {
    if (!isRecord(r) || !isLabel(r.label)) continue;
    const value = r[key];
    if (!isRate(value)) continue;
    rates.set(r.label, [...(rates.get(r.label) ?? []), value]);
  }
  return rates;
}

function readGroups(text: string): Group[] {
  const byName = new Map<string, Group>();
  const add = (name: string, rates: Map<Label, number[]>) => {
    const stats: Partial<Record<Label, Stat>> = {};
    for (const label of LABELS) {
      const s = stat(rates.get(label) ?? []);
      if (s) stats[label] = s;
    }
    if (Object.keys(stats).length === 0) return;
    if (byName.has(name))
      process.stderr.write(`plot: scenario ${name} appears again: the last one is plotted\n`);
    byName.set(name, { name, description: DESCRIPTIONS[name] ?? '', stats });
  };
  text.split('\n').forEach((line, i) => {
    if (!line.startsWith('{')) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      process.stderr.write(`plot: line ${i + 1} is not JSON (${(e as Error).message}): skipped\n`);
      return;
    }
    if (!isRecord(value) || typeof value.scenario !== 'string') return;
    const { scenario } = value;
    if (scenario === 'h' && Array.isArray(value.results)) {
      add('h fill', fillDrainRates(value.results, 'fillRate'));
      add('h drain', fillDrainRates(value.results, 'drainRate'));
    } else if (GROUP_ORDER.includes(scenario) && Array.isArray(value.runs)) {
      add(scenario, throughputRates(value.runs));
    }
  });
  return GROUP_ORDER.flatMap((name) => byName.get(name) ?? []);
}

// Formatting

/** A rate in three significant digits: 441k, 75.8k, 1.23M. */
function short(n: number): string {
  const units: readonly [number, string][] = [
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  for (const [size, unit] of units) {
    if (n >= size * 0.9995) {
      const v = n / size;
      return `${Number(v.toPrecision(3))}${unit}`;
    }
  }
  return `${Number(n.toPrecision(3))}`;
}

function ratioText(r: number): string {
  if (!Number.isFinite(r)) return '-';
  if (r >= 10) return `${r.toFixed(0)}x`;
  if (r >= 1) return `${r.toFixed(1)}x`;
  return `${r.toFixed(2)}x`;
}

function ratioOf(g: Group): number | undefined {
  const w = g.stats.warren;
  const r = g.stats.reference;
  return w && r && r.median > 0 ? w.median / r.median : undefined;
}

function escapeXml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

// The chart

const WIDTH = 900;
const FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif";
const COLOURS: Readonly<Record<Label, string>> = { warren: '#1f6fb4', reference: '#f08a24' };
const PLOT_LEFT = 250; // the labels' column ends here
const PLOT_RIGHT = 770; // the axis' right end; the value of a bar reaching it is printed beyond
const RATIO_X = 880; // right edge of the ratio column
const BAR_HEIGHT = 16;
const BAR_GAP = 4;
const GROUP_PADDING = 14;

/** 1, 2 or 5 times a power of ten: the axis' ends. */
function niceBelow(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  return [5, 2, 1].map((m) => m * p).find((n) => n <= v) ?? p;
}

function niceAbove(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((n) => n >= v) ?? 10 * p;
}

/**
 * The axis' ends around every rate: below the lowest by at least half as much again, so that the shortest
 * bar has some length (bars start at the axis' left end, not at 0, which a log scale cannot show).
 */
function domain(groups: Group[]): [number, number] {
  const values = groups
    .flatMap((g) => LABELS.flatMap((l) => (g.stats[l] ? [g.stats[l].min, g.stats[l].max] : [])))
    .filter((v) => v > 0);
  if (values.length === 0) return [1, 10];
  const lo = niceBelow(Math.min(...values) / 1.5);
  const hi = Math.max(niceAbove(Math.max(...values)), niceAbove(lo * 1.01) * 2);
  return [lo, hi];
}

function render(groups: Group[], subtitle: string | undefined): string {
  const labels = LABELS.filter((l) => groups.some((g) => g.stats[l]));
  const [lo, hi] = domain(groups);
  const [logLo, logHi] = [Math.log10(lo), Math.log10(hi)];
  const x = (v: number) => {
    const clamped = Math.min(Math.max(Math.log10(Math.max(v, lo)), logLo), logHi);
    return PLOT_LEFT + ((clamped - logLo) / (logHi - logLo)) * (PLOT_RIGHT - PLOT_LEFT);
  };
  const out: string[] = [];
  const text = (tx: number, ty: number, s: string, attributes = '') =>
    out.push(`<text x="${tx.toFixed(1)}" y="${ty.toFixed(1)}"${attributes}>${escapeXml(s)}</text>`);

  // Title, subtitle, legend.
  let y = 30;
  const brokers = labels.includes('reference') ? `warren vs ${referenceName}` : 'warren';
  const title = `${brokers}: throughput (median of runs, msgs/s, log scale)`;
  text(24, y, title, ' class="title"');
  if (subtitle) {
    y += 20;
    text(24, y, subtitle, ' class="sub"');
  }
  y += 26;
  let lx = 24;
  for (const label of labels) {
    const name = label === 'warren' ? 'warren' : `${referenceName} (reference)`;
    out.push(`<rect x="${lx}" y="${y - 11}" width="14" height="14" rx="2" fill="${COLOURS[label]}"/>`);
    text(lx + 20, y, name, ' class="legend"');
    lx += 20 + name.length * 7.5 + 24;
  }
  out.push(`<line x1="${lx}" y1="${y - 4}" x2="${lx + 24}" y2="${y - 4}" class="whisker"/>`);
  out.push(`<line x1="${lx}" y1="${y - 9}" x2="${lx}" y2="${y + 1}" class="whisker"/>`);
  out.push(`<line x1="${lx + 24}" y1="${y - 9}" x2="${lx + 24}" y2="${y + 1}" class="whisker"/>`);
  text(lx + 32, y, 'lowest to highest run', ' class="legend"');

  // Groups.
  y += 22;
  const withRatio = labels.length === 2;
  if (withRatio) text(RATIO_X, y, `warren / ${referenceName}`, ' class="head" text-anchor="end"');
  y += 8;
  const plotTop = y;
  const groupHeight = labels.length * BAR_HEIGHT + (labels.length - 1) * BAR_GAP + 2 * GROUP_PADDING;
  const body: string[] = [];
  groups.forEach((g, i) => {
    const top = plotTop + i * groupHeight;
    if (i % 2 === 0) {
      out.push(`<rect x="16" y="${top}" width="${WIDTH - 32}" height="${groupHeight}" class="band"/>`);
    }
    const mid = top + groupHeight / 2;
    const nameY = g.description ? mid - 2 : mid + 5;
    body.push(`<text x="24" y="${nameY}" class="name">${escapeXml(g.name)}</text>`);
    if (g.description)
      body.push(`<text x="24" y="${mid + 14}" class="desc">${escapeXml(g.description)}</text>`);
    labels.forEach((label, j) => {
      const barTop = top + GROUP_PADDING + j * (BAR_HEIGHT + BAR_GAP);
      const cy = barTop + BAR_HEIGHT / 2;
      const s = g.stats[label];
      if (!s) {
        body.push(`<text x="${PLOT_LEFT + 6}" y="${cy + 4}" class="none">no run</text>`);
        return;
      }
      const end = x(s.median);
      body.push(
        `<rect x="${PLOT_LEFT}" y="${barTop}" width="${(end - PLOT_LEFT).toFixed(1)}" height="${BAR_HEIGHT}" ` +
          `fill="${COLOURS[label]}"><title>${escapeXml(
            `${g.name} ${label === 'warren' ? 'warren' : referenceName}: median ${int(s.median)} msgs/s, ` +
              `lowest ${int(s.min)}, highest ${int(s.max)} (${s.runs} run${s.runs === 1 ? '' : 's'})`,
          )}</title></rect>`,
      );
      if (s.max > s.min) {
        const [x1, x2] = [x(s.min), x(s.max)];
        body.push(
          `<line x1="${x1.toFixed(1)}" y1="${cy}" x2="${x2.toFixed(1)}" y2="${cy}" class="whisker"/>`,
        );
        for (const wx of [x1, x2]) {
          body.push(
            `<line x1="${wx.toFixed(1)}" y1="${cy - 5}" x2="${wx.toFixed(1)}" y2="${cy + 5}" class="whisker"/>`,
          );
        }
      }
      const labelX = Math.max(end, x(s.max)) + 6;
      body.push(
        `<text x="${labelX.toFixed(1)}" y="${cy + 4}" class="value">${escapeXml(short(s.median))}</text>`,
      );
    });
    const ratio = ratioOf(g);
    if (withRatio) {
      body.push(
        `<text x="${RATIO_X}" y="${mid + 6}" text-anchor="end" class="ratio">${escapeXml(
          ratio === undefined ? '-' : ratioText(ratio),
        )}</text>`,
      );
    }
  });
  const plotBottom = plotTop + groups.length * groupHeight;

  // Gridlines under the bars: each decade, labelled, and fainter at 2 to 9 times it; the axis' ends are
  // labelled too, and 2 and 5 times each decade when the axis spans little more than one.
  const fewDecades = logHi - logLo < 1.5;
  let lastLabel = Number.NEGATIVE_INFINITY;
  for (let d = Math.floor(logLo); d <= Math.ceil(logHi); d++) {
    for (let m = 1; m <= 9; m++) {
      const v = m * 10 ** d;
      if (v < lo * 0.999 || v > hi * 1.001) continue;
      const gx = x(v);
      const major = m === 1;
      out.push(
        `<line x1="${gx.toFixed(1)}" y1="${plotTop}" x2="${gx.toFixed(1)}" y2="${plotBottom}" ` +
          `class="${major ? 'grid' : 'minor'}"/>`,
      );
      const end = v <= lo * 1.001 || v >= hi * 0.999;
      if ((major || end || (fewDecades && (m === 2 || m === 5))) && gx - lastLabel >= 34) {
        text(gx, plotBottom + 16, short(v), ' class="axis" text-anchor="middle"');
        lastLabel = gx;
      }
    }
  }
  out.push(`<line x1="${PLOT_LEFT}" y1="${plotBottom}" x2="${PLOT_RIGHT}" y2="${plotBottom}" class="grid"/>`);
  text(
    (PLOT_LEFT + PLOT_RIGHT) / 2,
    plotBottom + 34,
    'msgs/s (log scale)',
    ' class="axis" text-anchor="middle"',
  );
  out.push(...body);
  const height = plotBottom + 50;

  const style = [
    `text { font-family: ${FONT}; fill: #212529; }`,
    '.title { font-size: 18px; font-weight: 600; }',
    '.sub { font-size: 13px; fill: #495057; }',
    '.legend { font-size: 13px; }',
    '.head { font-size: 12px; fill: #495057; }',
    '.name { font-size: 14px; font-weight: 600; }',
    '.desc { font-size: 11.5px; fill: #495057; }',
    '.value { font-size: 12px; }',
    '.ratio { font-size: 15px; font-weight: 600; }',
    '.axis { font-size: 12px; fill: #495057; }',
    '.none { font-size: 11.5px; font-style: italic; fill: #868e96; }',
    '.grid { stroke: #adb5bd; stroke-width: 1; }',
    '.minor { stroke: #e9ecef; stroke-width: 1; }',
    '.band { fill: #f4f6f8; }',
    '.whisker { stroke: #212529; stroke-width: 1.3; }',
  ];
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" ` +
      `viewBox="0 0 ${WIDTH} ${height}">`,
    `<title>${escapeXml(title)}</title>`,
    `<style>\n${style.join('\n')}\n</style>`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    ...out,
    '</svg>',
    '',
  ].join('\n');
}

// Main

let input: string;
try {
  input = readFileSync(inputFile, 'utf8');
} catch (e) {
  fail(`cannot read ${inputFile}: ${(e as Error).message}`);
}
const groups = readGroups(input);
if (groups.length === 0) {
  process.stderr.write(
    `plot: no throughput scenario (a-f, h, m, n) in ${inputFile}: was the bench run with --json?\n`,
  );
  process.exit(1);
}

const nameWidth = Math.max(...groups.map((g) => g.name.length), 'scenario'.length);
const figure = (s: Stat | undefined) => (s ? int(s.median) : '-').padStart(11);
console.log(`${'scenario'.padEnd(nameWidth)}  ${'warren'.padStart(11)}  ${'reference'.padStart(11)}  ratio`);
for (const g of groups) {
  const ratio = ratioOf(g);
  console.log(
    `${g.name.padEnd(nameWidth)}  ${figure(g.stats.warren)}  ${figure(g.stats.reference)}  ` +
      `${ratio === undefined ? '-' : ratio.toFixed(2)}`,
  );
}

writeFileSync(outPath, render(groups, parsed.values.subtitle));
process.stderr.write(`plot: wrote ${outPath}\n`);
