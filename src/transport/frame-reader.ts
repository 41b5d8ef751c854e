/**
 * Splits a byte stream into frames (u32 big-endian length, then that many bytes: a kind byte
 * and the body). A frame that lies inside one socket chunk is handed out as a view of that
 * chunk (no copy); only a frame split across chunks is copied, once, into a buffer of its exact
 * size. A length over the current maximum is garbage and stops the reader before anything of
 * that size is allocated.
 */
import { TransportError } from "./errors.js";

const LENGTH_PREFIX_BYTES = 4;

/** Called per frame; return false to stop reading (the connection is closing). */
export type FrameHandler = (kind: number, body: Buffer) => boolean;

export class FrameReader {
  #frameBytesMax: number;
  readonly #header = Buffer.alloc(LENGTH_PREFIX_BYTES);
  #headerFilled = 0;
  /** The frame being assembled across chunks, or null between frames. */
  #partial: Buffer | null = null;
  #partialFilled = 0;
  #stopped = false;

  constructor(frameBytesMax: number) {
    this.#frameBytesMax = frameBytesMax;
  }

  /** The handshake allows only small frames; established connections allow full ones. */
  setFrameBytesMax(frameBytesMax: number): void {
    this.#frameBytesMax = frameBytesMax;
  }

  /** True when bytes of an unfinished frame are held (the stream ended mid-frame if it ends now). */
  get midFrame(): boolean {
    return this.#headerFilled > 0 || this.#partial !== null;
  }

  /** Feeds one chunk; throws TransportError("bad-frame") on an invalid length. */
  push(chunk: Buffer, onFrame: FrameHandler): void {
    let offset = 0;
    while (offset < chunk.length && !this.#stopped) {
      if (this.#partial !== null) {
        offset = this.#fillPartial(chunk, offset, onFrame);
      } else if (this.#headerFilled === 0 && chunk.length - offset >= LENGTH_PREFIX_BYTES) {
        const length = this.#checkedLength(chunk.readUInt32BE(offset));
        offset += LENGTH_PREFIX_BYTES;
        if (chunk.length - offset >= length) {
          if (!onFrame(chunk[offset]!, chunk.subarray(offset + 1, offset + length))) this.#stopped = true;
          offset += length;
        } else {
          this.#startPartial(length);
        }
      } else {
        offset = this.#fillHeader(chunk, offset);
      }
    }
  }

  #fillHeader(chunk: Buffer, offset: number): number {
    const take = Math.min(LENGTH_PREFIX_BYTES - this.#headerFilled, chunk.length - offset);
    chunk.copy(this.#header, this.#headerFilled, offset, offset + take);
    this.#headerFilled += take;
    if (this.#headerFilled === LENGTH_PREFIX_BYTES) {
      this.#headerFilled = 0;
      this.#startPartial(this.#checkedLength(this.#header.readUInt32BE(0)));
    }
    return offset + take;
  }

  #startPartial(length: number): void {
    this.#partial = Buffer.allocUnsafe(length);
    this.#partialFilled = 0;
  }

  #fillPartial(chunk: Buffer, offset: number, onFrame: FrameHandler): number {
    const partial = this.#partial!;
    const take = Math.min(partial.length - this.#partialFilled, chunk.length - offset);
    chunk.copy(partial, this.#partialFilled, offset, offset + take);
    this.#partialFilled += take;
    if (this.#partialFilled === partial.length) {
      this.#partial = null;
      this.#emit(partial, onFrame);
    }
    return offset + take;
  }

  #checkedLength(length: number): number {
    if (length === 0) throw new TransportError("bad-frame", "empty frame (length 0, no kind byte)");
    if (length > this.#frameBytesMax) {
      throw new TransportError("bad-frame", `frame length ${length} exceeds the maximum of ${this.#frameBytesMax} bytes`);
    }
    return length;
  }

  #emit(frame: Buffer, onFrame: FrameHandler): void {
    if (!onFrame(frame[0]!, frame.subarray(1))) this.#stopped = true;
  }
}
