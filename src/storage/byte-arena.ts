/**
 * A growable byte buffer that records are encoded straight into, so that one group-commit
 * batch is one contiguous Buffer handed to one write(), and the buffer is reused by later
 * batches instead of allocating per append. Callers reserve a record's exact size first.
 */
import { assert } from "../util/assert.js";

export class ByteArena {
  #bytes: Buffer;
  #length = 0;

  constructor(capacity: number) {
    assert(capacity > 0, "ByteArena: capacity must be positive");
    this.#bytes = Buffer.allocUnsafe(capacity);
  }

  get length(): number {
    return this.#length;
  }

  get capacity(): number {
    return this.#bytes.length;
  }

  /** The encoded bytes: a view, valid until the next reserve() or reset(). */
  view(start = 0, end = this.#length): Buffer {
    return this.#bytes.subarray(start, end);
  }

  /**
   * The whole backing buffer, without making a view object (the write path runs this per
   * record and per batch). Valid until the next reserve(); bytes from `length` on are garbage.
   */
  get backing(): Buffer {
    return this.#bytes;
  }

  /** Makes room for `bytes` more, doubling the capacity as needed. */
  reserve(bytes: number): void {
    const needed = this.#length + bytes;
    if (needed <= this.#bytes.length) return;
    const grown = Buffer.allocUnsafe(Math.max(needed, this.#bytes.length * 2));
    this.#bytes.copy(grown, 0, 0, this.#length);
    this.#bytes = grown;
  }

  reset(): void {
    this.#length = 0;
  }

  u8(value: number): void {
    this.#length = this.#bytes.writeUInt8(value, this.#length);
  }

  u16(value: number): void {
    this.#length = this.#bytes.writeUInt16LE(value, this.#length);
  }

  u32(value: number): void {
    this.#length = this.#bytes.writeUInt32LE(value, this.#length);
  }

  /** Indexes and terms are integers below 2^53: a double holds them exactly, no BigInt needed. */
  f64(value: number): void {
    this.#length = this.#bytes.writeDoubleLE(value, this.#length);
  }

  bytes(value: Uint8Array): void {
    this.#bytes.set(value, this.#length);
    this.#length += value.byteLength;
  }

  utf8(value: string, byteLength: number): void {
    const written = this.#bytes.write(value, this.#length, byteLength, "utf8");
    assert(written === byteLength, "ByteArena.utf8: byte length mismatch");
    this.#length += written;
  }

  patchU32(offset: number, value: number): void {
    this.#bytes.writeUInt32LE(value, offset);
  }
}
