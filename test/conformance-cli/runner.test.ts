// How the command reads a case file's TAP into cases, and what it makes of a file that crashes.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BEGIN, END, spliceResults } from '../../conformance/lib/report.js';
import { caseRows, count, parseTap, runFile } from '../../conformance/lib/runner.js';

// TAP as tap 21 prints it for a file with a group of two cases (one failing), a skipped case, a todo
// case, and a group that throws after its only case passed.
const TAP = `TAP version 14
# Subtest: group
    # Subtest: passes
        ok 1 - fine
        1..1
    ok 1 - passes # time=1ms

    # Subtest: fails
        ok 1 - fine
        not ok 2 - should be equal
          ---
          found: 30
          wanted: 60
          compare: ===
          ...

        1..2
    not ok 2 - fails # time=2ms

    1..2
not ok 1 - group # time=4ms

ok 2 - restarts the broker # SKIP needs a restart of the broker
# Subtest: not yet
    1..0
ok 3 - not yet # TODO some day

# Subtest: throws after its case
    # Subtest: inner
        ok 1 - fine
        1..1
    ok 1 - inner # time=1ms

    not ok 2 - boom
      ---
      message: boom
      ...

    1..2
not ok 4 - throws after its case # time=3ms

1..4
`;

describe('parseTap', () => {
  it('makes a tree of tests: cases, groups, skips with reasons, and failures where they happened', () => {
    const { cases, problems, ok } = parseTap(TAP);
    expect(ok).toBe(false);
    expect(problems).toEqual([]);
    expect(cases.map((c) => [c.name, c.status, c.reason])).toEqual([
      ['group', 'fail', undefined],
      ['restarts the broker', 'skip', 'needs a restart of the broker'],
      ['not yet', 'todo', 'some day'],
      ['throws after its case', 'fail', undefined],
    ]);
    const [group, , , throws] = cases;
    expect(group.children.map((c) => [c.name, c.status])).toEqual([
      ['passes', 'pass'],
      ['fails', 'fail'],
    ]);
    // The failed assertion belongs to the case, not to its group.
    expect(group.failures).toEqual([]);
    expect(group.children[1].failures).toEqual([
      { name: 'should be equal', diag: { found: 30, wanted: 60, compare: '===' } },
    ]);
    // A group that failed outside its cases counts as a failed row of its own.
    expect(throws.failures).toEqual([{ name: 'boom', diag: { message: 'boom' } }]);
    expect(caseRows(throws).map((r) => [r.name, r.status])).toEqual([
      ['throws after its case', 'fail'],
      ['inner', 'pass'],
    ]);
    expect(caseRows(group).map((r) => r.name)).toEqual(['passes', 'fails']);
  });

  it('a failed assertion at the top of a file is a problem of the file', () => {
    const { cases, problems } = parseTap('TAP version 14\nnot ok 1 - top level\n1..1\n');
    expect(cases).toEqual([]);
    expect(problems).toEqual([{ name: 'top level' }]);
  });
});

describe('runFile', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  function caseDir(files: Record<string, string>): string {
    const dir = mkdtempSync(join(tmpdir(), 'warren-conformance-runner-'));
    dirs.push(dir);
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    return dir;
  }

  it('a file that dies half-way fails, with its exit code and its stderr, and keeps the cases it ran', async () => {
    const dir = caseDir({
      'crash.test.js': `process.stdout.write('TAP version 14\\n# Subtest: first\\n    1..0\\nok 1 - first\\n');
        process.stderr.write('something broke\\n');
        process.exit(3);`,
    });
    const result = await runFile(dir, 'crash', { url: 'amqp://127.0.0.1:1/', timeoutSeconds: 10 });
    expect(result.status).toBe('fail');
    expect(result.exitCode).toBe(3);
    expect(result.cases.map((c) => [c.name, c.status])).toEqual([['first', 'pass']]);
    expect(result.problems.map((p) => p.name)).toEqual([
      'its TAP output does not add up (plan, bail out)',
      'exited with code 3',
    ]);
    expect(result.stderr).toBe('something broke\n');
    expect(count([result])).toEqual({ cases: 2, pass: 1, fail: 1, skip: 0, todo: 0 });
  });

  it('a file that exits non-zero after complete, passing TAP fails too', async () => {
    const dir = caseDir({
      'late.test.js': `process.stdout.write('TAP version 14\\nok 1 - a # SKIP why\\n1..1\\n'); process.exitCode = 1;`,
    });
    const result = await runFile(dir, 'late', { url: 'amqp://127.0.0.1:1/', timeoutSeconds: 10 });
    expect(result.status).toBe('fail');
    expect(result.problems.map((p) => p.name)).toEqual(['exited with code 1']);
  });

  it('passes the URL as AMQP_URL, or unsets it for an in-process run', async () => {
    const dir = caseDir({
      'env.test.js': `process.stdout.write('TAP version 14\\nok 1 - ' + (process.env.AMQP_URL ?? 'none') + ' # SKIP env\\n1..1\\n');`,
    });
    const external = await runFile(dir, 'env', { url: 'amqp://127.0.0.1:1/', timeoutSeconds: 10 });
    expect(external.cases[0].name).toBe('amqp://127.0.0.1:1/');
    expect(external.status).toBe('skip');
    process.env.AMQP_URL = 'amqp://elsewhere/';
    try {
      const inProcess = await runFile(dir, 'env', { url: undefined, timeoutSeconds: 10 });
      expect(inProcess.cases[0].name).toBe('none');
    } finally {
      delete process.env.AMQP_URL;
    }
  });
});

describe('spliceResults', () => {
  it('replaces what is between the markers and keeps the rest', () => {
    const readme = `# x\n\n${BEGIN}\n\nold table\n\n${END}\n\n## after\n`;
    expect(spliceResults(readme, '| new |\n')).toBe(`# x\n\n${BEGIN}\n\n| new |\n\n${END}\n\n## after\n`);
    expect(() => spliceResults('# no markers\n', '| t |')).toThrow(/no .* section/);
  });
});
