/**
 * The encoder of Message frames, the hot path of replication. It writes the same MessagePack
 * bytes msgpackr would for the message tuple (wire.test.ts checks this byte for byte), but
 * sizes the frame first and writes it in one pass into one exact buffer: msgpackr's generic
 * packer spends most of an append's encoding time on per-entry byte arrays (an extension
 * lookup and allocations for each), this writer only copies them. Decoding stays msgpackr's.
 */
import { MessageType, type Entry, type Message } from "../raft/types.js";
import { assert, InvariantError } from "../util/assert.js";

const TWO_POW_32 = 2 ** 32;
/** Message tuple length: type, from, to, term, logTerm, index, commit, reject, rejectHint, entries, context, snapshot meta. */
export const MESSAGE_TUPLE_LENGTH = 12;
const ENTRY_FIELDS = 4;

/** Also the check that every number written is one the receiver accepts (no silent garbage). */
function uintBytes(n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new InvariantError(`a message field must be a non-negative integer, got ${n}`);
  if (n < 0x80) return 1;
  if (n < 0x100) return 2;
  if (n < 0x10000) return 3;
  return n < TWO_POW_32 ? 5 : 9;
}

function strHeaderBytes(byteLength: number): number {
  if (byteLength < 0x20) return 1;
  if (byteLength < 0x100) return 2;
  return byteLength < 0x10000 ? 3 : 5;
}

function binHeaderBytes(byteLength: number): number {
  if (byteLength < 0x100) return 2;
  return byteLength < 0x10000 ? 3 : 5;
}

function arrayHeaderBytes(length: number): number {
  if (length < 0x10) return 1;
  return length < 0x10000 ? 3 : 5;
}

class Writer {
  readonly buffer: Buffer;
  position: number;

  constructor(buffer: Buffer, position: number) {
    this.buffer = buffer;
    this.position = position;
  }

  uint(n: number): void {
    const b = this.buffer;
    if (n < 0x80) {
      b[this.position++] = n;
    } else if (n < 0x100) {
      b[this.position++] = 0xcc;
      b[this.position++] = n;
    } else if (n < 0x10000) {
      b[this.position++] = 0xcd;
      b.writeUInt16BE(n, this.position);
      this.position += 2;
    } else if (n < TWO_POW_32) {
      b[this.position++] = 0xce;
      b.writeUInt32BE(n, this.position);
      this.position += 4;
    } else {
      // As msgpackr does: a float64 holds every safe integer exactly.
      b[this.position++] = 0xcb;
      b.writeDoubleBE(n, this.position);
      this.position += 8;
    }
  }

  str(s: string, byteLength: number): void {
    const b = this.buffer;
    if (byteLength < 0x20) {
      b[this.position++] = 0xa0 | byteLength;
    } else if (byteLength < 0x100) {
      b[this.position++] = 0xd9;
      b[this.position++] = byteLength;
    } else if (byteLength < 0x10000) {
      b[this.position++] = 0xda;
      b.writeUInt16BE(byteLength, this.position);
      this.position += 2;
    } else {
      b[this.position++] = 0xdb;
      b.writeUInt32BE(byteLength, this.position);
      this.position += 4;
    }
    if (byteLength === s.length && byteLength < 0x40) {
      // Short ASCII (types, node ids): a loop beats a call into the UTF-8 encoder.
      for (let i = 0; i < byteLength; i++) b[this.position++] = s.charCodeAt(i);
    } else {
      this.position += b.write(s, this.position, byteLength, "utf8");
    }
  }

  bin(data: Uint8Array): void {
    const b = this.buffer;
    const n = data.byteLength;
    if (n < 0x100) {
      b[this.position++] = 0xc4;
      b[this.position++] = n;
    } else if (n < 0x10000) {
      b[this.position++] = 0xc5;
      b.writeUInt16BE(n, this.position);
      this.position += 2;
    } else {
      b[this.position++] = 0xc6;
      b.writeUInt32BE(n, this.position);
      this.position += 4;
    }
    b.set(data, this.position);
    this.position += n;
  }

  arrayHeader(length: number): void {
    const b = this.buffer;
    if (length < 0x10) {
      b[this.position++] = 0x90 | length;
    } else if (length < 0x10000) {
      b[this.position++] = 0xdc;
      b.writeUInt16BE(length, this.position);
      this.position += 2;
    } else {
      b[this.position++] = 0xdd;
      b.writeUInt32BE(length, this.position);
      this.position += 4;
    }
  }

  bool(value: boolean): void {
    this.buffer[this.position++] = value ? 0xc3 : 0xc2;
  }

  nil(): void {
    this.buffer[this.position++] = 0xc0;
  }
}

function entriesBytes(entries: readonly Entry[]): number {
  let bytes = arrayHeaderBytes(entries.length * ENTRY_FIELDS);
  for (const e of entries) {
    bytes += uintBytes(e.term) + uintBytes(e.index) + 1 + binHeaderBytes(e.data.byteLength) + e.data.byteLength;
  }
  return bytes;
}

/**
 * Encodes `m` (not a snapshot: those stream separately) as a complete frame: `headerBytes`
 * reserved at the start for the caller's frame header, then the MessagePack tuple.
 */
export function writeMessageFrame(m: Message, headerBytes: number): Buffer {
  assert(m.type !== MessageType.Snapshot, "snapshot messages are streamed, not framed whole");
  const fromBytes = Buffer.byteLength(m.from, "utf8");
  const toBytes = Buffer.byteLength(m.to, "utf8");
  const typeBytes = m.type.length; // the MessageType values are ASCII
  const contextBytes = m.context === undefined ? -1 : Buffer.byteLength(m.context, "utf8");
  const size =
    headerBytes +
    1 +
    strHeaderBytes(typeBytes) + typeBytes +
    strHeaderBytes(fromBytes) + fromBytes +
    strHeaderBytes(toBytes) + toBytes +
    uintBytes(m.term) + uintBytes(m.logTerm) + uintBytes(m.index) + uintBytes(m.commit) +
    1 +
    uintBytes(m.rejectHint) +
    entriesBytes(m.entries) +
    (contextBytes < 0 ? 1 : strHeaderBytes(contextBytes) + contextBytes) +
    1;
  const w = new Writer(Buffer.allocUnsafe(size), headerBytes);
  w.arrayHeader(MESSAGE_TUPLE_LENGTH);
  w.str(m.type, typeBytes);
  w.str(m.from, fromBytes);
  w.str(m.to, toBytes);
  w.uint(m.term);
  w.uint(m.logTerm);
  w.uint(m.index);
  w.uint(m.commit);
  w.bool(m.reject);
  w.uint(m.rejectHint);
  w.arrayHeader(m.entries.length * ENTRY_FIELDS);
  for (const e of m.entries) {
    w.uint(e.term);
    w.uint(e.index);
    w.uint(e.type);
    w.bin(e.data);
  }
  if (m.context === undefined) w.nil();
  else w.str(m.context, contextBytes);
  w.nil();
  assert(w.position === size, () => `message frame size mismatch: computed ${size}, wrote ${w.position}`);
  return w.buffer;
}
