// The outputs of a run: a table for people, TAP and JSON for CI, and the Results table of the README
// (markdown) from several runs side by side.

import { type CaseNode, type Counts, caseRows, count, type FileResult, type Status } from './runner.js';

/** The broker a run was against, as its connection.start described it. */
export interface BrokerInfo {
  /** The URL with its password hidden; absent for an in-process warren. */
  url?: string;
  inProcess: boolean;
  product: string;
  version: string;
  platform: string;
}

/** A whole run, as `--json` prints it and `compare` reads it. */
export interface RunReport {
  tool: 'warren-conformance';
  broker: BrokerInfo;
  startedAt: string;
  durationMs: number;
  ok: boolean;
  counts: Counts;
  files: (Omit<FileResult, 'tap'> & { counts: Counts })[];
}

export function runReport(broker: BrokerInfo, startedAt: Date, files: FileResult[]): RunReport {
  const counts = count(files);
  return {
    tool: 'warren-conformance',
    broker,
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
    ok: counts.fail === 0,
    counts,
    files: files.map(({ tap: _tap, ...f }) => ({ ...f, counts: count([f as FileResult]) })),
  };
}

/** Product, version and platform, e.g. `RabbitMQ 3.10.8 on Erlang/OTP 25.2.3`. */
export function describeProduct(b: BrokerInfo): string {
  return `${b.product} ${b.version}${b.platform ? ` on ${b.platform}` : ''}`;
}

export function describeBroker(b: BrokerInfo): string {
  return b.inProcess ? `${describeProduct(b)}, in-process` : `${describeProduct(b)} at ${b.url}`;
}

const MARK: Record<Status, string> = { pass: 'pass', fail: 'FAIL', skip: 'skip', todo: 'todo' };

/** The table for a terminal: each case under its file and groups, then a line per area. */
export function textTable(report: RunReport): string {
  const out: string[] = [`warren-conformance: ${describeBroker(report.broker)}`, ''];
  for (const f of report.files) {
    out.push(f.file);
    for (const p of f.problems) out.push(`  FAIL  ${p.name}`, ...detail(p.diag, '        '));
    if (f.problems.length > 0 && f.stderr) out.push(...indent(f.stderr.trimEnd().split('\n').slice(-15), 8));
    const walk = (nodes: CaseNode[], depth: number) => {
      const pad = '  '.repeat(depth);
      for (const n of nodes) {
        if (n.children.length > 0) {
          const own = caseRows(n)[0] === n;
          out.push(`${own ? '  FAIL' : '      '}${pad}  ${n.name}`);
          for (const fl of n.failures)
            out.push(`      ${pad}    ${fl.name}`, ...detail(fl.diag, `      ${pad}      `));
          walk(n.children, depth + 1);
        } else {
          const reason = n.reason ? ` (${n.reason})` : '';
          out.push(`  ${MARK[n.status]}${pad}  ${n.name}${reason}`);
          for (const fl of n.failures)
            out.push(`      ${pad}    ${fl.name}`, ...detail(fl.diag, `      ${pad}      `));
        }
      }
    };
    walk(f.cases, 0);
    out.push('');
  }
  out.push(summaryTable(report));
  const c = report.counts;
  out.push(
    '',
    `${report.ok ? 'ok' : 'FAILED'}: ${c.pass} passed, ${c.fail} failed, ${c.skip} skipped${c.todo ? `, ${c.todo} todo` : ''} of ${c.cases} cases in ${seconds(report.durationMs)}`,
  );
  return `${out.join('\n')}\n`;
}

/** One line per area: its counts and whether it passed. */
export function summaryTable(report: RunReport): string {
  const rows: string[][] = [['area', 'result', 'cases', 'pass', 'fail', 'skip', 'time']];
  for (const f of report.files) {
    const c = f.counts;
    rows.push([f.area, f.status, ...[c.cases, c.pass, c.fail, c.skip].map(String), seconds(f.durationMs)]);
  }
  const c = report.counts;
  rows.push([
    'total',
    report.ok ? 'pass' : 'fail',
    ...[c.cases, c.pass, c.fail, c.skip].map(String),
    seconds(report.durationMs),
  ]);
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows
    .map((r) => r.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  '))
    .join('\n');
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function indent(lines: string[], n: number): string[] {
  return lines.map((l) => `${' '.repeat(n)}${l}`);
}

/** The useful part of an assertion's diagnostics: found/wanted, the message of an error, where. */
function detail(diag: unknown, pad: string): string[] {
  if (!diag || typeof diag !== 'object') return [];
  const d = diag as Record<string, unknown>;
  const lines: string[] = [];
  for (const key of ['message', 'found', 'wanted', 'diff', 'at']) {
    const v = d[key];
    if (v === undefined) continue;
    const text = typeof v === 'string' ? v : JSON.stringify(v);
    const at =
      key === 'at' && v && typeof v === 'object'
        ? `${(v as { fileName?: string }).fileName ?? ''}:${(v as { lineNumber?: number }).lineNumber ?? ''}`
        : undefined;
    const body = (at ?? text).trimEnd().split('\n');
    lines.push(`${pad}${key}: ${body[0]}`, ...body.slice(1, 30).map((l) => `${pad}  ${l}`));
  }
  return lines;
}

/**
 * One TAP stream for the run: each case file is a subtest holding the file's own TAP; what failed
 * outside its cases (a crash, a timeout) is in the YAML block of the file's test point.
 */
export function combinedTap(files: FileResult[]): string {
  const out = ['TAP version 14'];
  files.forEach((f, i) => {
    out.push(`# Subtest: ${f.file}`);
    const lines = f.tap.split('\n').filter((l) => !/^TAP version/.test(l));
    while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    out.push(...lines.map((l) => (l === '' ? '' : `    ${l}`)));
    const directive = f.status === 'skip' ? ' # SKIP every case skipped' : '';
    out.push(
      `${f.status === 'fail' ? 'not ok' : 'ok'} ${i + 1} - ${f.file}${directive} # time=${f.durationMs}ms`,
    );
    if (f.problems.length > 0) {
      out.push('  ---', '  problems:', ...f.problems.map((p) => `    - ${JSON.stringify(p.name)}`));
      if (f.stderr) out.push(`  stderr: ${JSON.stringify(f.stderr)}`);
      out.push('  ...');
    }
    out.push('');
  });
  out.push(`1..${files.length}`);
  return `${out.join('\n')}\n`;
}

// Results table -------------------------------------------------------------------------------------

/** The column title of a run: product and minor version, e.g. `RabbitMQ 3.10`; `warren` for warren. */
export function columnTitle(b: BrokerInfo): string {
  if (b.product === 'warren') return 'warren';
  const minor = /^\d+\.\d+/.exec(b.version)?.[0] ?? b.version;
  return `${b.product} ${minor}`.trim();
}

interface Row {
  name: string;
  group: boolean;
  cells: (CaseNode | undefined)[];
  file?: boolean;
}

/**
 * The README's Results table: a row per case (under its file and groups), a column per run. Cases some
 * run did not have show `—`; a skipped case shows its reason as a numbered note under the table.
 */
export function resultsMarkdown(reports: RunReport[]): string {
  const rows: Row[] = [];
  const index = new Map<string, Row>();
  const place = (key: string, make: () => Row, after: string | undefined): Row => {
    let row = index.get(key);
    if (!row) {
      row = make();
      index.set(key, row);
      // A row new in a later run goes after the last row of its parent seen so far.
      const at = after === undefined ? rows.length : lastIndexUnder(rows, index, after) + 1;
      rows.splice(at, 0, row);
    }
    return row;
  };
  reports.forEach((report, column) => {
    for (const f of report.files) {
      const fileKey = f.file;
      place(fileKey, () => ({ name: f.file, group: true, file: true, cells: [] }), undefined);
      const walk = (nodes: CaseNode[], parentKey: string) => {
        for (const n of nodes) {
          const key = `${parentKey}\u0000${n.name}`;
          const group = n.children.length > 0;
          const row = place(key, () => ({ name: n.name, group, cells: [] }), parentKey);
          if (!group || caseRows(n)[0] === n) row.cells[column] = n;
          if (group) walk(n.children, key);
        }
      };
      walk(f.cases, fileKey);
      if (f.problems.length > 0) {
        const key = `${fileKey}\u0000(the case file)`;
        const row = place(key, () => ({ name: '(the case file)', group: false, cells: [] }), fileKey);
        row.cells[column] = { name: '', status: 'fail', failures: f.problems, children: [] };
      }
    }
  });

  const notes: string[] = [];
  const note = (reason: string) => {
    let i = notes.indexOf(reason);
    if (i === -1) i = notes.push(reason) - 1;
    return i + 1;
  };
  const titles = reports.map((r) => columnTitle(r.broker));
  const table: string[][] = [['case', ...titles]];
  for (const row of rows) {
    const label = row.file
      ? `**${escapeMarkdown(row.name)}**`
      : row.group
        ? `_${escapeMarkdown(row.name).replace(/_/g, '\\_')}_`
        : escapeMarkdown(row.name);
    const cells = reports.map((_r, i) => {
      const n = row.cells[i];
      if (row.group && !n) return '';
      if (!n) return '—';
      if (n.status === 'skip') return n.reason ? `skipped (${note(n.reason)})` : 'skipped';
      if (n.status === 'todo') return n.reason ? `todo (${note(n.reason)})` : 'todo';
      return n.status === 'fail' ? '**fail**' : 'pass';
    });
    table.push([label, ...cells]);
  }
  const widths = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  const out = [
    line(table[0]),
    `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`,
    ...table.slice(1).map(line),
  ];
  out.push('');
  out.push(
    reports
      .map(
        (r, i) =>
          `${titles[i]} column: ${describeProduct(r.broker)}${r.broker.inProcess ? ', in-process' : ''}.`,
      )
      .join(' '),
  );
  for (const [i, n] of notes.entries()) out.push(`(${i + 1}) ${n}.`);
  return `${out.join('\n')}\n`;
}

function lastIndexUnder(rows: Row[], index: Map<string, Row>, parentKey: string): number {
  let last = rows.indexOf(index.get(parentKey) as Row);
  for (const [key, row] of index) {
    if (key.startsWith(`${parentKey}\u0000`)) last = Math.max(last, rows.indexOf(row));
  }
  return last;
}

function escapeMarkdown(text: string): string {
  return text.replace(/([\\|*<>[\]`])/g, '\\$1');
}

/** The markers of the generated Results table in conformance/README.md. */
export const BEGIN = '<!-- results: generated by `npm run conformance:results`, edit the cases instead -->';
export const END = '<!-- end of results -->';

/** The README with the text between the markers replaced by the table. */
export function spliceResults(readme: string, table: string): string {
  const begin = readme.indexOf(BEGIN);
  const end = readme.indexOf(END);
  if (begin === -1 || end < begin) throw new Error(`the README has no ${BEGIN} ... ${END} section`);
  return `${readme.slice(0, begin + BEGIN.length)}\n\n${table.trimEnd()}\n\n${readme.slice(end)}`;
}
