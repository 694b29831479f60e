// The expiration property (per-message TTL): a count of milliseconds in a string, read as RabbitMQ reads
// it (Erlang's string:to_integer: an optional sign and decimal digits, nothing before or after them),
// and RabbitMQ's reason when it refuses one, as it prints it in its 406 PRECONDITION_FAILED text.

/** The longest TTL RabbitMQ takes, per message or per queue (x-message-ttl): ten years, in milliseconds. */
export const MAX_TTL = 315_360_000_000n;

/** The TTL in milliseconds, or the text of the channel error that refuses the value. */
export function parseExpiration(text: string): number | string {
  const match = /^([+-]?)([0-9]+)(.*)$/s.exec(text);
  let reason: string;
  if (match === null) reason = 'no_integer';
  else if (match[3] !== '') reason = `{leftover_string,${erlangString(match[3])}}`;
  else {
    const value = BigInt(`${match[1] === '-' ? '-' : ''}${match[2]}`);
    if (value < 0n) reason = `{value_negative,${value}}`;
    else if (value > MAX_TTL) reason = `{value_too_large,${value}}`;
    else return Number(value);
  }
  const prefix = `invalid expiration '${text}': `;
  return prefix + pretty(reason, prefix.length);
}

/** An Erlang string as ~p prints it: in double quotes when printable, else as a list of its bytes. */
function erlangString(s: string): string {
  const bytes = Buffer.from(s, 'utf8');
  let printable = true;
  for (const b of bytes) if (b < 0x20 || b > 0x7e) printable = false;
  if (!printable) return `[${[...bytes].join(',')}]`;
  return `"${s.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/**
 * A two-element tuple as ~p lays it out at `column`: on one line if it fits, else broken after its first
 * element, the second aligned under it (what RabbitMQ's text then holds, newline and spaces included).
 */
function pretty(tuple: string, column: number): string {
  if (column + tuple.length <= 78) return tuple;
  const comma = tuple.indexOf(',');
  return `${tuple.slice(0, comma + 1)}\n${' '.repeat(column + 1)}${tuple.slice(comma + 1)}`;
}
