// What the bench's commands share in reading their options.

/** Prints `<command>: message` on stderr and exits with status 2, as for a bad option. */
export function failWith(command: string): (message: string) => never {
  return (message) => {
    process.stderr.write(`${command}: ${message}\n`);
    process.exit(2);
  };
}

/** An option's number, failing (through `fail`) unless it is within [min, max]. */
export function numberOption(
  fail: (message: string) => never,
  name: string,
  text: string,
  min: number,
  max: number,
): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < min || n > max) fail(`--${name} must be a number from ${min} to ${max}`);
  return n;
}
