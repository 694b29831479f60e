// Runs the compiled case files one after the other, each in a child process of its own with AMQP_URL
// set (or unset, for an in-process warren), and reads their TAP output into a tree of cases.

import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Parser, type Result } from 'tap-parser';

export type Status = 'pass' | 'fail' | 'skip' | 'todo';

/** A failed assertion, or another reason a case or a case file failed. */
export interface Failure {
  name: string;
  diag?: unknown;
}

/** A `t.test` of a case file: a case when it has no subtests, a group of cases otherwise. */
export interface CaseNode {
  name: string;
  status: Status;
  /** The reason given for a skip or a todo. */
  reason?: string;
  /** Assertions of this test itself that failed (those of its subtests are theirs). */
  failures: Failure[];
  children: CaseNode[];
}

export interface FileResult {
  /** The case file's name without its extension, e.g. `basic.test`. */
  file: string;
  /** The area the file covers, e.g. `basic`. */
  area: string;
  status: Status;
  durationMs: number;
  exitCode: number | null;
  signal: string | null;
  cases: CaseNode[];
  /** What failed outside every case: a failed top-level assertion, a crash, a timeout, a broken plan. */
  problems: Failure[];
  /** The file's TAP output as it printed it. */
  tap: string;
  /** The end of what the file wrote to stderr, when it failed. */
  stderr?: string;
}

/** Areas in the order the results list them: the lower layers first; other areas follow by name. */
const ORDER = [
  'connection',
  'heartbeat',
  'framing',
  'errors',
  'exchange',
  'queue',
  'basic',
  'confirm',
  'tx',
  'ttl',
  'limits',
  'durability',
];

const SUFFIX = '.test.js';

/** The case files in a directory, as areas (`basic` for basic.test.js), in the order results list them. */
export function listAreas(dir: string): string[] {
  const areas = readdirSync(dir)
    .filter((f) => f.endsWith(SUFFIX))
    .map((f) => f.slice(0, -SUFFIX.length));
  const rank = (a: string) => {
    const i = ORDER.indexOf(a);
    return i === -1 ? ORDER.length : i;
  };
  return areas.sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}

export interface RunOptions {
  /** The broker's URL; undefined runs each file against a warren it starts in-process. */
  url: string | undefined;
  /** tap's timeout for each file, in seconds; the file is killed 15 s after it. */
  timeoutSeconds: number;
}

/** Runs one case file and reads its results. */
export function runFile(dir: string, area: string, options: RunOptions): Promise<FileResult> {
  const env: NodeJS.ProcessEnv = {};
  // A clean tap environment: the file prints plain TAP on stdout, as when run by hand.
  for (const [k, v] of Object.entries(process.env)) if (!/^TAP($|_)/.test(k)) env[k] = v;
  if (options.url === undefined) delete env.AMQP_URL;
  else env.AMQP_URL = options.url;
  env.TAP_TIMEOUT = String(options.timeoutSeconds);
  env.TAP_COLOR = '0';

  const started = performance.now();
  const child = spawn(process.execPath, [join(dir, `${area}${SUFFIX}`)], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    stdout += s;
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  let killed = false;
  const killer = setTimeout(
    () => {
      killed = true;
      child.kill('SIGKILL');
    },
    (options.timeoutSeconds + 15) * 1000,
  );
  return new Promise((resolve) => {
    child.once('error', (err) => {
      stderr += `${err.message}\n`;
    });
    child.once('close', (exitCode, signal) => {
      clearTimeout(killer);
      const durationMs = Math.round(performance.now() - started);
      const parsed = parseTap(stdout);
      const problems = parsed.problems;
      // Whether the cases themselves say what failed; if not, the file's ending must.
      const casesFailed = parsed.cases.some(hasFailure) || problems.length > 0;
      if (killed) problems.push({ name: `did not finish within ${options.timeoutSeconds + 15} s` });
      if (!casesFailed && !parsed.ok)
        problems.push({ name: 'its TAP output does not add up (plan, bail out)' });
      if (!casesFailed && (exitCode !== 0 || signal !== null)) {
        problems.push({ name: signal ? `exited on ${signal}` : `exited with code ${exitCode}` });
      }
      if (parsed.cases.length === 0 && problems.length === 0) problems.push({ name: 'it ran no cases' });
      const failed = problems.length > 0 || parsed.cases.some(hasFailure);
      const leaves = parsed.cases.flatMap(caseRows);
      const status: Status = failed
        ? 'fail'
        : leaves.length > 0 && leaves.every((c) => c.status === 'skip')
          ? 'skip'
          : 'pass';
      const result: FileResult = {
        file: `${area}.test`,
        area,
        status,
        durationMs,
        exitCode,
        signal,
        cases: parsed.cases,
        problems,
        tap: stdout,
      };
      if (failed && stderr) result.stderr = stderr.slice(-4000);
      resolve(result);
    });
  });
}

function hasFailure(node: CaseNode): boolean {
  return node.status === 'fail' || node.failures.length > 0 || node.children.some(hasFailure);
}

/**
 * The rows a node counts as: each case (a test without subtests), and a group itself when it failed
 * while none of its cases did (an error thrown outside them).
 */
export function caseRows(node: CaseNode): CaseNode[] {
  if (node.children.length === 0) return [node];
  const rows = node.children.flatMap(caseRows);
  if (node.status === 'fail' && !rows.some((r) => r.status === 'fail')) rows.unshift(node);
  return rows;
}

export interface Counts {
  cases: number;
  pass: number;
  fail: number;
  skip: number;
  todo: number;
}

export function count(files: FileResult[]): Counts {
  const c: Counts = { cases: 0, pass: 0, fail: 0, skip: 0, todo: 0 };
  for (const f of files) {
    for (const row of f.cases.flatMap(caseRows)) {
      c.cases++;
      c[row.status]++;
    }
    if (f.problems.length > 0) {
      c.cases++;
      c.fail++;
    }
  }
  return c;
}

interface ParsedTap {
  cases: CaseNode[];
  problems: Failure[];
  ok: boolean;
}

/**
 * Reads the TAP a case file prints into its tests. A subtest is a test point that closes a
 * `# Subtest:` block; a skipped or todo test point without a block is a case too (tap prints a skipped
 * `t.test` that way); any other test point is an assertion of the test it is in.
 */
export function parseTap(tap: string): ParsedTap {
  const root: CaseNode = { name: '', status: 'pass', failures: [], children: [] };
  const parser = new Parser();
  const watch = (p: Parser, node: CaseNode) => {
    // The nodes of subtests opened in p, waiting for the test point that closes them.
    const open: { parser: Parser; node: CaseNode }[] = [];
    p.on('child', (child: Parser) => {
      const childNode: CaseNode = { name: child.name, status: 'pass', failures: [], children: [] };
      open.push({ parser: child, node: childNode });
      watch(child, childNode);
    });
    p.on('assert', (r: Result) => {
      const opened = r.closingTestPoint ? open.findIndex((o) => o.node.name === r.name) : -1;
      if (opened !== -1) {
        const [{ node: closed }] = open.splice(opened, 1);
        setStatus(closed, r);
        node.children.push(closed);
      } else if (r.skip || r.todo) {
        const leaf: CaseNode = { name: r.name, status: 'pass', failures: [], children: [] };
        setStatus(leaf, r);
        node.children.push(leaf);
      } else if (!r.ok) {
        node.failures.push(failureOf(r));
      }
    });
  };
  watch(parser, root);
  let ok = true;
  parser.on('complete', (results: { ok: boolean }) => {
    ok = results.ok;
  });
  parser.end(tap);
  return { cases: root.children, problems: root.failures, ok };
}

function setStatus(node: CaseNode, r: Result): void {
  if (r.todo) {
    node.status = 'todo';
    if (typeof r.todo === 'string') node.reason = r.todo;
  } else if (r.skip) {
    node.status = 'skip';
    if (typeof r.skip === 'string') node.reason = r.skip;
  } else {
    node.status = r.ok ? 'pass' : 'fail';
  }
  // A test whose own subtests passed can still fail (an error thrown after them, a timeout): its
  // closing test point says why when nothing inside did.
  if (node.status === 'fail' && !hasFailure({ ...node, status: 'pass' })) node.failures.push(failureOf(r));
}

function failureOf(r: Result): Failure {
  const f: Failure = { name: r.name };
  if (r.diag) f.diag = r.diag;
  return f;
}
