/**
 * Names and directory housekeeping. Segment files are "<seq>-<firstIndex>.wal", both numbers
 * zero-padded to 16 digits (2^53 has 16) so that a plain sort is the sequence order. The
 * first index is the log's next index when the segment began: a hint for people; readers
 * trust only the records.
 */
import { open } from "node:fs/promises";

const DIGITS = 16;
const SEGMENT_NAME = /^(\d{16})-(\d{16})\.wal$/;
export const TEMP_SUFFIX = ".tmp";

export interface SegmentName {
  readonly name: string;
  readonly seq: number;
  readonly firstIndex: number;
}

function pad(value: number): string {
  return String(value).padStart(DIGITS, "0");
}

export function segmentFileName(seq: number, firstIndex: number): string {
  return `${pad(seq)}-${pad(firstIndex)}.wal`;
}

export function parseSegmentFileName(name: string): SegmentName | undefined {
  const match = SEGMENT_NAME.exec(name);
  if (match === null) return undefined;
  return { name, seq: Number(match[1]), firstIndex: Number(match[2]) };
}

export function padIndex(value: number): string {
  return pad(value);
}

/** A file's creation, rename or removal is durable only once its directory is fsync'd. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
