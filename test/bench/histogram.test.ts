import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BUCKETS, bucketOf, bucketRange, LatencyHistogram } from '../../bench/histogram.js';

/** The nearest-rank percentile of the values themselves, for comparison. */
function exact(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil(p * sorted.length))) - 1];
}

describe("the bench's latency histogram", () => {
  it('puts every latency in a bucket whose range holds it, in order, within 1/128 of its middle', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0x7ffffffe }),
        fc.integer({ min: 0, max: 0x7ffffffe }),
        (a, b) => {
          const [lo, hi] = a <= b ? [a, b] : [b, a];
          expect(bucketOf(lo)).toBeLessThanOrEqual(bucketOf(hi));
          const { low, width } = bucketRange(bucketOf(a));
          expect(a).toBeGreaterThanOrEqual(low);
          expect(a).toBeLessThan(low + width);
          const middle = width === 1 ? low : low + width / 2;
          expect(Math.abs(middle - a)).toBeLessThanOrEqual(Math.max(0.5, a / 128));
        },
      ),
    );
  });

  it('keeps each microsecond below 64 apart, and clamps what is out of range to the ends', () => {
    for (let us = 0; us < 64; us++) expect(bucketRange(bucketOf(us + 0.7))).toEqual({ low: us, width: 1 });
    expect(bucketOf(-5)).toBe(0);
    expect(bucketOf(Number.NaN)).toBe(0);
    expect(bucketOf(1e15)).toBe(BUCKETS - 1);
    expect(bucketOf(0x7fffffff)).toBe(BUCKETS - 1);
  });

  it('reads percentiles back within 1/128 of the exact nearest rank', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 5e6, noNaN: true }), { minLength: 1, maxLength: 2000 }),
        fc.constantFrom(0.5, 0.9, 0.99, 0.999, 1),
        (values, p) => {
          const h = new LatencyHistogram();
          for (const v of values) h.record(v);
          expect(h.count).toBe(values.length);
          const want = Math.floor(exact(values, p));
          expect(Math.abs(h.percentile(p) - want)).toBeLessThanOrEqual(Math.max(0.5, want / 128));
        },
      ),
    );
  });

  it('merges histograms as if every latency had been recorded in one', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 1e7, noNaN: true }), { maxLength: 300 }),
        fc.array(fc.double({ min: 0, max: 1e7, noNaN: true }), { maxLength: 300 }),
        (xs, ys) => {
          const a = new LatencyHistogram();
          const b = new LatencyHistogram();
          const both = new LatencyHistogram();
          for (const x of xs) {
            a.record(x);
            both.record(x);
          }
          for (const y of ys) {
            b.record(y);
            both.record(y);
          }
          a.add(b.counts);
          expect(Array.from(a.counts)).toEqual(Array.from(both.counts));
        },
      ),
    );
  });

  it('has no percentile when empty, and refuses counts of another shape', () => {
    expect(new LatencyHistogram().percentile(0.5)).toBeNaN();
    expect(() => new LatencyHistogram(new Float64Array(10))).toThrow();
    expect(() => new LatencyHistogram().add(new Float64Array(BUCKETS + 1))).toThrow();
  });
});
