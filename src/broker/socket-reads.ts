// Where an accepted connection's socket reads go. By default Node reads at most 64 KiB at a time, each
// into a fresh buffer of its own. A broker that passes large bodies through spends a good part of its time
// on those reads and on collecting their buffers: one 64 KiB body takes two reads. Instead, reads go into
// buffers the broker hands out (Node's `onread` option), carved one after another from larger slabs, so
// that a busy connection takes everything its socket holds, up to the slab's free tail, in one read.
//
// A slab region is written once and never reused: frames and body pieces handed out stay valid for as
// long as anything refers to them, exactly as with Node's own reads. A slab is freed when nothing refers
// to it any more. The slab grows while reads fill it and shrinks back when the connection goes quiet,
// so that an idle connection holds a small slab, not the last big one.
import { Socket } from 'node:net';

/** The first slab of a connection and the size it shrinks back to. */
const SMALL_SLAB = 4 * 1024;
/** The largest slab, and so the largest single read. */
const LARGE_SLAB = 1024 * 1024;
/** A read smaller than this after a larger slab: the connection is quiet, go back to a small slab. */
const QUIET_READ = 4 * 1024;

/** Hands out read buffers: the free tail of the current slab, a new slab when that tail is too short. */
export class SlabReads {
  private slab: Buffer;
  private offset = 0;
  /** The size of the next slab. */
  private size = SMALL_SLAB;

  constructor() {
    this.slab = Buffer.allocUnsafeSlow(this.size);
  }

  /** Whether a buffer has been handed out: Node has taken this as the socket's read buffers. */
  handedOut = false;

  /** The buffer for the next read. */
  readonly next = (): Buffer => {
    this.handedOut = true;
    // Keep reading into this slab while its tail holds at least an eighth of it.
    if (this.slab.length - this.offset < this.slab.length >>> 3 || this.size !== this.slab.length) {
      this.slab = Buffer.allocUnsafeSlow(this.size);
      this.offset = 0;
    }
    return this.slab.subarray(this.offset);
  };

  /**
   * A read put n bytes at the start of the buffer last handed out; returns them. The next slab doubles
   * when a read fills its buffer (more was waiting), and is small again when the reads are.
   */
  took(n: number, buffer: Buffer): Buffer {
    this.offset += n;
    if (n === buffer.length) {
      if (this.size < LARGE_SLAB) this.size *= 2;
    } else if (n < QUIET_READ && this.size > SMALL_SLAB) {
      this.size = SMALL_SLAB;
    }
    return n === buffer.length ? buffer : buffer.subarray(0, n);
  }
}

interface HandleOwner {
  _handle?: { useUserBuffer?: unknown; readStart?: unknown } | null;
}

/**
 * Takes over an accepted socket (accepted paused, `pauseOnConnect`): its reads go into slabs and each
 * chunk read is passed to onChunk. Returns the socket to use from now on. Node offers `onread` to a
 * socket it creates around an existing handle, not to a server's sockets, so the handle moves into a new
 * socket; where this Node's sockets do not have that shape, the original socket is used with 'data'.
 */
export function readIntoSlabs(socket: Socket, onChunk: (chunk: Buffer) => void): Socket {
  const owner = socket as unknown as HandleOwner;
  const handle = owner._handle;
  if (!handle || typeof handle.useUserBuffer !== 'function' || typeof handle.readStart !== 'function') {
    socket.on('data', onChunk);
    socket.resume();
    return socket;
  }
  const reads = new SlabReads();
  owner._handle = null;
  // The old socket has no handle now: destroying it only releases it (and the server's count of it).
  socket.destroy();
  const taken = new Socket({
    handle,
    readable: true,
    writable: true,
    onread: {
      buffer: reads.next,
      callback: (n: number, buffer: Uint8Array): void => {
        onChunk(reads.took(n, buffer as Buffer));
      },
    },
  } as ConstructorParameters<typeof Socket>[0]);
  // A Node that asks for the first buffer in the constructor has taken `onread`; one that ignores it
  // next to a handle (as older ones did) reads as usual, into 'data' events.
  if (!reads.handedOut) taken.on('data', onChunk);
  return taken;
}
