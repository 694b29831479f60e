// Small arithmetic the bench's reports share.

/** The median (the lower middle value for an even count); NaN for none. */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[(s.length - 1) >> 1];
}

/** a - b, or undefined when either is unknown (a figure /proc could not give). */
export function minus(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined ? undefined : a - b;
}
