// Short strings (names, routing keys) on the record paths: ASCII, the usual case, without a native call.

/** Byte length of `text` in UTF-8. */
export function utf8Length(text: string): number {
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) >= 0x80) return Buffer.byteLength(text, 'utf8');
  }
  return text.length;
}

/** Writes `text` (of `byteLength` UTF-8 bytes, from utf8Length) at `offset`; returns the offset after it. */
export function writeUtf8(buffer: Buffer, offset: number, text: string, byteLength: number): number {
  if (byteLength === text.length) {
    for (let i = 0; i < byteLength; i++) buffer[offset + i] = text.charCodeAt(i);
  } else {
    buffer.write(text, offset, byteLength, 'utf8');
  }
  return offset + byteLength;
}
