// Basic properties as raw content-header bytes, for a message the broker makes itself (a dead-lettered
// copy, a message with its BCC header removed): the flags and values as a client would have sent them.
import { FrameWriter } from './frame-writer.js';
import { type BasicProperties, writeBasicProperties } from './spec.js';

/** The property flags and values of `p`, as in a content header after its body size. */
export function encodeBasicProperties(p: BasicProperties): Buffer {
  writeBasicProperties(scratch, p);
  // Copied out: a view would keep the writer's whole chunk alive for as long as the message lives.
  const parts = scratch.take();
  return parts.length === 1 ? Buffer.from(parts[0]) : Buffer.concat(parts);
}

// Outside a frame the writer only gathers the bytes; frame_max does not apply to them.
const scratch = new FrameWriter(0x7fffffff);
