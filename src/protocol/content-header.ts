// Reading single basic properties from the raw property bytes of a content header (flags, then the
// values present in flag order, spec 4.2.6.1) without decoding the rest: the broker needs delivery-mode
// for every publish that reaches a durable queue, and decoding the headers table for it would be waste.

// Flag bits of the first basic properties (bit 15 is content-type).
const CONTENT_TYPE = 0x8000;
const CONTENT_ENCODING = 0x4000;
const HEADERS = 0x2000;
const DELIVERY_MODE = 0x1000;
const EXPIRATION = 0x0100;
const USER_ID = 0x0010;

/** The delivery-mode property (1 transient, 2 persistent), or 0 when absent or unreadable. */
export function deliveryModeOf(raw: Buffer): number {
  if (raw.length < 2) return 0;
  const flags = raw.readUInt16BE(0);
  if ((flags & DELIVERY_MODE) === 0) return 0;
  let o = 2;
  // A continuation flag (bit 0) adds flag words; RabbitMQ clients never send them for basic.
  if (flags & 1) {
    while (o + 2 <= raw.length && raw.readUInt16BE(o) & 1) o += 2;
    o += 2;
  }
  if (flags & CONTENT_TYPE) o += 1 + (raw[o] ?? 0);
  if (flags & CONTENT_ENCODING) o += 1 + (raw[o] ?? 0);
  if (flags & HEADERS) {
    if (o + 4 > raw.length) return 0;
    o += 4 + raw.readUInt32BE(o);
  }
  return o < raw.length ? raw[o] : 0;
}

/** The first property flag word (0 when the header has none): one read per publish for the checks below. */
export function propertyFlags(raw: Buffer): number {
  return raw.length >= 2 ? raw.readUInt16BE(0) : 0;
}

/** Flag bits of propertyFlags(): the user-id and expiration properties are present. */
export const USER_ID_FLAG = USER_ID;
export const EXPIRATION_FLAG = EXPIRATION;

/** Whether the expiration property is present. */
export function hasExpiration(raw: Buffer): boolean {
  return (propertyFlags(raw) & EXPIRATION) !== 0;
}

/** Flag bit of propertyFlags(): the headers table is present. */
export const HEADERS_FLAG = HEADERS;
