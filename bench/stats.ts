// Small arithmetic and layout the bench's reports share.

/** The median (the lower middle value for an even count); NaN for none. */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[(s.length - 1) >> 1];
}

/** a - b, or undefined when either is unknown (a figure /proc could not give). */
export function minus(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined ? undefined : a - b;
}

/** A whole number with thousands separators. */
export const int = (n: number): string => Math.round(n).toLocaleString('en-US');

/** a / b to two places, '-' when b is 0. */
export const ratio = (a: number, b: number): string => (b === 0 ? '-' : (a / b).toFixed(2));

/** One row of a report's table: the first cell padded on the right, the others on the left. */
export function tableRow(cells: readonly string[], widths: readonly number[]): string {
  return cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
}
