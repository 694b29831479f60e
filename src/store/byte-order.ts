// Big-endian integers on the record paths, written and read byte by byte: Buffer.writeUInt32BE
// range-checks every call, which showed up in profiles of publish at ~8% of the time (and the reads
// in profiles of recovery).

const TWO_32 = 0x1_0000_0000;

export function putUint16(buffer: Uint8Array, offset: number, value: number): void {
  buffer[offset] = value >>> 8;
  buffer[offset + 1] = value;
}

export function putUint32(buffer: Uint8Array, offset: number, value: number): void {
  buffer[offset] = value >>> 24;
  buffer[offset + 1] = value >>> 16;
  buffer[offset + 2] = value >>> 8;
  buffer[offset + 3] = value;
}

/** A non-negative integer below 2^53 as a u64. */
export function putUint64(buffer: Uint8Array, offset: number, value: number): void {
  putUint32(buffer, offset, Math.floor(value / TWO_32));
  putUint32(buffer, offset + 4, value >>> 0);
}

/** The u32 at `offset`, which the caller has checked is in bounds (no range check: scans run it per record). */
export function getUint32(buffer: Uint8Array, offset: number): number {
  return (
    ((buffer[offset] << 24) | (buffer[offset + 1] << 16) | (buffer[offset + 2] << 8) | buffer[offset + 3]) >>>
    0
  );
}

/** A u64 as a number: exact below 2^53. In bounds, as for getUint32. */
export function getUint64(buffer: Uint8Array, offset: number): number {
  return getUint32(buffer, offset) * TWO_32 + getUint32(buffer, offset + 4);
}
