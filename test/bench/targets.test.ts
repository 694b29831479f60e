import { describe, expect, it } from 'vitest';
import { openLoopP99Target, shown, TARGETS, TargetBook, THROUGHPUT_TARGETS } from '../../bench/targets.js';

describe("the bench's verdicts on the performance issue's targets", () => {
  it('judges by the exact ratio, and prints as many digits as it takes to show the side of the bound', () => {
    const book = new TargetBook();
    // f of the 19:06 run of 2026-11-22: two decimals made it read 1.50.
    book.ratio(THROUGHPUT_TARGETS.f, 28_770, 19_182, String);
    book.ratio(THROUGHPUT_TARGETS.a, 496_765, 96_500, String);
    expect(book.results.map((r) => r.met)).toEqual([false, true]);
    const [header, f, a, total] = book.report();
    expect(header).toMatch(/ratio +target +verdict$/);
    expect(f).toMatch(/^f +msg\/s, 64 KiB bodies +28770 +19182 +1\.4998 +≥ 1\.5 +MISSED$/);
    expect(a).toMatch(/ 5\.15 +≥ 3 +met$/);
    expect(total).toBe('1 of 2 targets met; missed: f (msg/s, 64 KiB bodies)');
  });

  it('keeps ratios of small figures readable and on the right side of a fractional bound', () => {
    expect(shown(107 / 4849, 'at most', 1 / 30)).toBe('0.0221');
    // 1/30 itself is met; a hair above it is not, and says so.
    expect(shown(1 / 30 + 1e-7, 'at most', 1 / 30)).toBe('0.0333334');
    expect(shown(0.6, 'at most', 0.6)).toBe('0.600');
    expect(shown(0.60004, 'at most', 0.6)).toBe('0.60004');
  });

  it('checks an absolute limit on warren alone, strictly below it', () => {
    const book = new TargetBook();
    book.absolute(TARGETS.inProcessStart, 6, (n) => `${n} ms`);
    book.absolute(TARGETS.inProcessStart, 20, (n) => `${n} ms`);
    expect(book.results.map((r) => r.met)).toEqual([true, false]);
    expect(book.report()[1]).toMatch(/^j +startBroker\(\) in process to ready +6 ms +< 20 ms +met$/);
  });

  it('leaves out a target whose figures were not measured', () => {
    const book = new TargetBook();
    book.ratio(TARGETS.cpuPerMessage, undefined, 18e-6, String);
    book.ratio(TARGETS.backlogRss, 149, 0, String);
    book.ratio(TARGETS.latencyP99, Number.NaN, 0.29, String);
    expect(book.results).toEqual([]);
    expect(book.report()).toEqual([]);
  });

  it('says how each figure was measured, and prints the same table as markdown with its notes', () => {
    const book = new TargetBook();
    book.ratio(THROUGHPUT_TARGETS.a, 400, 100, String, 'open loop');
    book.ratio(THROUGHPUT_TARGETS.d, 150, 100, String, 'window 20,000');
    book.note('the generator was busy');
    const [header, a, d, total, note] = book.report();
    expect(header).toMatch(/^scenario +measure +mode +warren +reference +ratio +target +verdict$/);
    expect(a).toMatch(/ open loop +400 +100 +4\.00 +≥ 3 +met$/);
    expect(d).toMatch(/ window 20,000 +150 +100 +1\.50 +≥ 2 +MISSED$/);
    expect(total).toBe('1 of 2 targets met; missed: d (msg/s, 4 pubs, 4 cons, 4 queues)');
    expect(note).toBe('the generator was busy');
    const md = book.markdown('RabbitMQ');
    expect(md[0]).toBe('| scenario | measure | mode | warren | RabbitMQ | ratio | target | verdict |');
    expect(md[1]).toMatch(/^\| --- \| --- \| --- \| ---: \|/);
    expect(md[2]).toBe(
      '| a | msg/s, 1 pub, 1 cons, 16 B, no-ack | open loop | 400 | 100 | 4.00 | ≥ 3 | met |',
    );
    expect(md.slice(-2)).toEqual([total, '- the generator was busy']);
  });

  it('counts an infinite figure against an absolute limit, but not an unknown one', () => {
    const book = new TargetBook();
    book.absolute(openLoopP99Target('a'), Number.POSITIVE_INFINITY, () => 'none received');
    book.absolute(openLoopP99Target('b'), Number.NaN, String);
    book.absolute(openLoopP99Target('d'), 99.9, String);
    expect(book.results.map((r) => [r.target.scenario, r.met])).toEqual([
      ['a', false],
      ['d', true],
    ]);
  });
});
