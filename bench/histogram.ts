// Latencies of the throughput scenarios (a–f), counted in a histogram rather than kept one by one: at
// hundreds of thousands of messages a second a consumer thread would otherwise keep millions of numbers.
// Log-linear buckets, as HdrHistogram's: every microsecond below 64 µs has a bucket of its own, and each
// power of two above it is cut into 64 buckets, so a percentile read back is within 1/128 (0.8%) of the
// latency it stands for, from a microsecond to half an hour. The counts are a plain Float64Array, which
// a worker thread hands to the main thread (transferred) to be merged with the other consumers'.

/** Buckets per power of two, and the exact buckets below the first: 64 µs. */
const SUB_BUCKETS = 64;
const SUB_BITS = 6;
/** Latencies are whole microseconds from 0 to 2^31 - 1 (about 36 minutes); longer ones count as that. */
const MAX_MICROS = 0x7fffffff;
const TOP_EXPONENT = 30;
export const BUCKETS = SUB_BUCKETS + (TOP_EXPONENT - SUB_BITS + 1) * SUB_BUCKETS;

/** The bucket of a latency in microseconds (negative and NaN count as 0, past the range as its end). */
export function bucketOf(micros: number): number {
  const v = micros >= MAX_MICROS ? MAX_MICROS : micros > 0 ? Math.floor(micros) : 0;
  if (v < SUB_BUCKETS) return v;
  const exponent = 31 - Math.clz32(v);
  const shift = exponent - SUB_BITS;
  return SUB_BUCKETS + shift * SUB_BUCKETS + ((v >>> shift) - SUB_BUCKETS);
}

/** The lowest latency (µs) of a bucket, and the width of the bucket. */
export function bucketRange(bucket: number): { readonly low: number; readonly width: number } {
  if (bucket < SUB_BUCKETS) return { low: bucket, width: 1 };
  const shift = Math.floor((bucket - SUB_BUCKETS) / SUB_BUCKETS);
  const m = (bucket - SUB_BUCKETS) % SUB_BUCKETS;
  return { low: (SUB_BUCKETS + m) * 2 ** shift, width: 2 ** shift };
}

export class LatencyHistogram {
  constructor(readonly counts: Float64Array = new Float64Array(BUCKETS)) {
    if (counts.length !== BUCKETS) throw new Error(`a latency histogram has ${BUCKETS} buckets`);
  }

  record(micros: number): void {
    this.counts[bucketOf(micros)]++;
  }

  /** Adds another histogram's counts to this one's. */
  add(counts: Float64Array): void {
    if (counts.length !== BUCKETS) throw new Error(`a latency histogram has ${BUCKETS} buckets`);
    for (let i = 0; i < BUCKETS; i++) this.counts[i] += counts[i];
  }

  get count(): number {
    let n = 0;
    for (let i = 0; i < BUCKETS; i++) n += this.counts[i];
    return n;
  }

  /**
   * The nearest-rank percentile p (0 < p <= 1) in microseconds: the middle of the bucket holding the
   * smallest latency with a share p of all at or below it (a latency below 64 µs: itself, to the
   * microsecond). NaN when nothing was recorded.
   */
  percentile(p: number): number {
    const total = this.count;
    if (total === 0) return Number.NaN;
    const rank = Math.min(total, Math.max(1, Math.ceil(p * total)));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= rank) {
        const { low, width } = bucketRange(i);
        return width === 1 ? low : low + width / 2;
      }
    }
    return Number.NaN;
  }
}
