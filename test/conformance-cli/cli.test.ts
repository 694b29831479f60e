// The warren-conformance command as a user runs it: the bin of conformance/package.json, built here by
// the package's own build, against warren started in this process on an ephemeral port.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Parser } from 'tap-parser';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startBroker } from 'warren';
import type { RunReport } from '../../conformance/lib/report.js';

const packageDir = new URL('../../conformance/', import.meta.url);
const { bin } = JSON.parse(readFileSync(new URL('package.json', packageDir), 'utf8')) as {
  bin: { 'warren-conformance': string };
};
const cli = fileURLToPath(new URL(bin['warren-conformance'], packageDir));

beforeAll(() => {
  execFileSync('npm', ['run', 'build', '--workspace', 'warren-conformance'], {
    cwd: fileURLToPath(new URL('../../', import.meta.url)),
    stdio: 'ignore',
  });
}, 60_000);

const brokers: RunningBroker[] = [];
afterEach(async () => {
  for (const b of brokers.splice(0)) await b.close();
});

async function warren(options: { heartbeat?: number } = {}): Promise<RunningBroker> {
  const b = await startBroker({ port: 0, ...options });
  brokers.push(b);
  return b;
}

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    stdout += s;
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

const RESTART_REASON =
  'needs a restart of the broker, which the suite can do only to a warren it started itself';
const HEARTBEAT_CASE = 'the server proposes channel_max 2047, frame_max 131072, heartbeat 60';

describe('warren-conformance URL', () => {
  it('prints each case under its area and a line per area; cases that restart the broker are skipped', async () => {
    const b = await warren();
    const { code, stdout } = await run([b.url, '--only', 'tx,durability']);
    expect(code).toBe(0);
    const lines = stdout.split('\n');
    expect(lines[0]).toMatch(
      /^warren-conformance: warren \S+ on Node\.js v\d+\S* at amqp:\/\/guest:\*\*\*@127\.0\.0\.1:\d+/,
    );
    expect(lines).toContain('tx.test');
    expect(lines).toContain('  pass  publishes are enqueued at commit, not before');
    expect(lines).toContain(
      `  skip  a durable queue with persistent messages survives a restart (${RESTART_REASON})`,
    );
    expect(lines.find((l) => l.startsWith('tx '))).toMatch(/^tx\s+pass\s+12\s+12\s+0\s+0\s/);
    expect(lines.find((l) => l.startsWith('durability '))).toMatch(/^durability\s+skip\s+2\s+0\s+0\s+2\s/);
    expect(lines).toContainEqual(
      expect.stringMatching(/^ok: 12 passed, 0 failed, 2 skipped of 14 cases in /),
    );
    expect(stdout).not.toContain('guest:guest');
  });

  it('--json: the broker, counts, and each file with its cases; skips carry their reason', async () => {
    const b = await warren();
    const { code, stdout } = await run([b.url, '--json', '--only', 'framing,durability']);
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as RunReport;
    expect(report.broker).toMatchObject({ product: 'warren', inProcess: false });
    expect(report.broker.url).toBe(`amqp://guest:***@127.0.0.1:${b.port}`);
    expect(report.ok).toBe(true);
    expect(report.files.map((f) => [f.area, f.status])).toEqual([
      ['framing', 'pass'],
      ['durability', 'skip'],
    ]);
    const framing = report.files[0];
    // A group holds its cases; the loop over headers makes one case per header.
    const header = framing.cases[0];
    expect(header.name).toBe(
      'a protocol header the broker does not speak gets AMQP 0-0-9-1 back and the socket closed',
    );
    expect(header.children.map((c) => c.name)).toContain('HTTP/1.1');
    expect(framing.counts).toEqual({ cases: 11, pass: 11, fail: 0, skip: 0, todo: 0 });
    const durability = report.files[1];
    expect(durability.cases.map((c) => [c.status, c.reason])).toEqual([
      ['skip', RESTART_REASON],
      ['skip', RESTART_REASON],
    ]);
    expect(report.counts).toEqual({ cases: 13, pass: 11, fail: 0, skip: 2, todo: 0 });
  });

  it('--tap: one TAP stream with a subtest per area', async () => {
    const b = await warren();
    const { code, stdout } = await run([b.url, '--tap', '--only', 'tx,durability']);
    expect(code).toBe(0);
    const names: string[] = [];
    const parser = new Parser();
    parser.on('assert', (r: { name: string }) => names.push(r.name));
    const results = await new Promise<{ ok: boolean; count: number; skip: number }>((resolve) => {
      parser.on('complete', resolve);
      parser.end(stdout);
    });
    expect(results.ok).toBe(true);
    expect(names).toEqual(['tx.test', 'durability.test']);
    expect(results.skip).toBe(1);
  });

  it('a case that fails makes it exit 1, and the table says which and why', async () => {
    // A warren that proposes heartbeat 30: the case that pins RabbitMQ's 60 fails, the others pass.
    const b = await warren({ heartbeat: 30 });
    const text = await run([b.url, '--only', 'connection']);
    expect(text.code).toBe(1);
    const lines = text.stdout.split('\n');
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^  FAIL {4}${HEARTBEAT_CASE}$`)));
    expect(lines.find((l) => l.startsWith('connection '))).toMatch(
      /^connection\s+fail\s+(\d+)\s+\d+\s+1\s+0\s/,
    );
    expect(lines).toContainEqual(expect.stringMatching(/^FAILED: \d+ passed, 1 failed, 0 skipped/));

    const json = await run([b.url, '--json', '--only', 'connection']);
    expect(json.code).toBe(1);
    const report = JSON.parse(json.stdout) as RunReport;
    expect(report.ok).toBe(false);
    expect(report.counts.fail).toBe(1);
    const tune = report.files[0].cases.find((c) => c.name === 'tune');
    const failed = tune?.children.find((c) => c.name === HEARTBEAT_CASE);
    if (!failed) throw new Error(`no case '${HEARTBEAT_CASE}' under tune`);
    expect(failed.status).toBe('fail');
    expect((failed.failures[0].diag as { diff: string }).diff).toMatch(
      /-\s+"heartbeat": 60,\n\+\s+"heartbeat": 30,/,
    );
  });

  it('a broker that refuses the login, or nothing listening: exit 2 and why, no table', async () => {
    const b = await warren();
    const refused = await run([b.url.replace('guest:guest', 'guest:wrong')]);
    expect(refused.code).toBe(2);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/cannot connect to amqp:\/\/guest:\*\*\*@127\.0\.0\.1:\d+.*403/);

    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise((resolve) => server.close(resolve));
    const nobody = await run([`amqp://127.0.0.1:${port}/`]);
    expect(nobody.code).toBe(2);
    expect(nobody.stderr).toMatch(/ECONNREFUSED/);
  });

  it('loads nothing of warren: without a URL, from the package alone, there is no warren to start', async () => {
    // The package does not depend on warren and warren does not resolve from it, so a run against a
    // URL (above) cannot have loaded it; an in-process run says what is missing.
    const { code, stderr } = await run(['--only', 'tx']);
    expect(code).toBe(2);
    expect(stderr).toMatch(
      /no broker URL given, and no warren to start in-process: Cannot find package 'warren'/,
    );
  });

  it('usage errors exit 2 and name the areas', async () => {
    const unknown = await run(['amqp://127.0.0.1:1/', '--only', 'nosuch']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(
      /no area nosuch; the areas are connection, heartbeat, framing, .*durability/,
    );
    const tls = await run(['amqps://127.0.0.1:1/']);
    expect(tls.code).toBe(2);
    expect(tls.stderr).toMatch(/the cases speak plain AMQP/);
    const list = await run(['--list']);
    expect(list.code).toBe(0);
    expect(list.stdout.split('\n')).toEqual(expect.arrayContaining(['connection', 'basic', 'durability']));
  });

  it('compare: the Results table in markdown from saved runs, a column per run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warren-conformance-cli-'));
    try {
      const good = await warren();
      const bad = await warren({ heartbeat: 30 });
      const a = await run([good.url, '--json', '--only', 'connection,durability']);
      const b = await run([bad.url, '--json', '--only', 'connection']);
      writeFileSync(join(dir, 'a.json'), a.stdout);
      writeFileSync(join(dir, 'b.json'), b.stdout);
      const { code, stdout } = await run(['compare', join(dir, 'a.json'), join(dir, 'b.json')]);
      expect(code).toBe(0);
      const rows = stdout.split('\n').filter((l) => l.startsWith('|'));
      const cells = (l: string) =>
        l
          .split('|')
          .slice(1, -1)
          .map((c) => c.trim());
      expect(cells(rows[0])).toEqual(['case', 'warren', 'warren']);
      const byName = new Map(rows.map((r) => [cells(r)[0], cells(r).slice(1)]));
      expect(byName.get('**connection.test**')).toEqual(['', '']);
      expect(byName.get('_tune_')).toEqual(['', '']);
      expect(byName.get(HEARTBEAT_CASE)).toEqual(['pass', '**fail**']);
      expect(byName.get('channel.flow active=true gets flow-ok active=true')).toEqual(['pass', 'pass']);
      // durability ran only in the first run: skipped there with a numbered reason, not run in the second.
      expect(byName.get('a durable queue with persistent messages survives a restart')).toEqual([
        'skipped (1)',
        '—',
      ]);
      expect(stdout).toContain(`(1) ${RESTART_REASON}.`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
