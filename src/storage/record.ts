/**
 * WAL record framing: [payload length u32][type u8][CRC32C u32 of type+payload][payload],
 * little-endian. The length comes first so a reader knows the extent before trusting the
 * content; the checksum covers the type so a flipped type bit is caught too.
 */
import { assert } from "../util/assert.js";
import { WAL_RECORD_BYTES_MAX } from "../util/limits.js";
import type { ByteArena } from "./byte-arena.js";
import { crc32c } from "./crc32c.js";

export enum RecordType {
  /** First record of every segment: its sequence number and the state as of its start. */
  SegmentHeader = 1,
  /** Consecutive entries; the first index may be ≤ the last one held (a suffix overwrite). */
  Entries = 2,
  HardState = 3,
  /** A snapshot became durable: entries up to its index are covered by the snapshot file. */
  SnapshotMarker = 4,
}

export const RECORD_HEADER_BYTES = 9;
const LENGTH_OFFSET = 0;
const TYPE_OFFSET = 4;
const CRC_OFFSET = 5;

export function isRecordType(value: number): value is RecordType {
  return value >= RecordType.SegmentHeader && value <= RecordType.SnapshotMarker;
}

/** Starts a record of a known payload size in `arena`; returns its offset for finishRecord. */
export function beginRecord(arena: ByteArena, type: RecordType, payloadBytes: number): number {
  assert(payloadBytes <= WAL_RECORD_BYTES_MAX, () => `beginRecord: payload of ${payloadBytes} bytes exceeds WAL_RECORD_BYTES_MAX`);
  arena.reserve(RECORD_HEADER_BYTES + payloadBytes);
  const start = arena.length;
  arena.u32(payloadBytes);
  arena.u8(type);
  arena.u32(0);
  return start;
}

/** Checks that the payload written has the announced size, then fills in the checksum. */
export function finishRecord(arena: ByteArena, start: number): void {
  const bytes = arena.backing;
  const payloadBytes = bytes.readUInt32LE(start + LENGTH_OFFSET);
  const end = start + RECORD_HEADER_BYTES + payloadBytes;
  assert(end === arena.length, () => `finishRecord: announced ${payloadBytes} payload bytes, wrote ${arena.length - start - RECORD_HEADER_BYTES}`);
  arena.patchU32(start + CRC_OFFSET, recordChecksum(bytes, start, end));
}

function recordChecksum(bytes: Uint8Array, start: number, end: number): number {
  const ofType = crc32c(bytes, start + TYPE_OFFSET, start + TYPE_OFFSET + 1);
  return crc32c(bytes, start + RECORD_HEADER_BYTES, end, ofType);
}

export type FrameCheck =
  | { readonly kind: "ok"; readonly type: number; readonly payloadStart: number; readonly end: number }
  /** Fewer bytes left than a record header. */
  | { readonly kind: "short-header" }
  /** The length field is above WAL_RECORD_BYTES_MAX: garbage, not something to allocate. */
  | { readonly kind: "too-long"; readonly length: number }
  /** The record would extend past the end of the file. */
  | { readonly kind: "past-end"; readonly length: number }
  | { readonly kind: "bad-checksum"; readonly end: number };

/** What the bytes at `offset` hold: a whole, checksummed record or why not. */
export function checkFrame(bytes: Buffer, offset: number): FrameCheck {
  if (bytes.length - offset < RECORD_HEADER_BYTES) return { kind: "short-header" };
  const length = bytes.readUInt32LE(offset + LENGTH_OFFSET);
  if (length > WAL_RECORD_BYTES_MAX) return { kind: "too-long", length };
  const end = offset + RECORD_HEADER_BYTES + length;
  if (end > bytes.length) return { kind: "past-end", length };
  if (bytes.readUInt32LE(offset + CRC_OFFSET) !== recordChecksum(bytes, offset, end)) return { kind: "bad-checksum", end };
  return { kind: "ok", type: bytes[offset + TYPE_OFFSET]!, payloadStart: offset + RECORD_HEADER_BYTES, end };
}

export function describeFrameProblem(check: Exclude<FrameCheck, { kind: "ok" }>): string {
  switch (check.kind) {
    case "short-header":
      return "fewer bytes left than a record header";
    case "too-long":
      return `record length ${check.length} exceeds the largest record (${WAL_RECORD_BYTES_MAX} bytes)`;
    case "past-end":
      return `record length ${check.length} runs past the end of the file`;
    case "bad-checksum":
      return "record checksum (CRC32C) mismatch";
  }
}
