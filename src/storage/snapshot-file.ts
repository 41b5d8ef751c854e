/**
 * Snapshot files: "snap-<index>-<term>.snap", written whole to a temporary name, fsync'd,
 * renamed, and the directory fsync'd, so a crash leaves either the old set of files or the
 * new one, never half a snapshot under a real name. Layout (little-endian):
 *   0  magic "FLSNAP01"        8 bytes
 *   8  metadata length         u32      12 metadata CRC32C   u32
 *   16 data length             f64      24 data CRC32C       u32
 *   28 CRC32C of bytes 0..28   u32
 *   32 metadata (JSON: index, term, confState), then the data.
 * Loading checks every field; a damaged file is a SnapshotCorruptionError naming it.
 */
import { open, readdir, rename, unlink, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { setImmediate } from "node:timers/promises";
import { SNAPSHOT_BYTES_MAX, SNAPSHOT_CHECKSUM_SLICE_BYTES, SNAPSHOT_FILES_RETAINED, SNAPSHOT_META_BYTES_MAX } from "../util/limits.js";
import type { ConfState, Snapshot, SnapshotMeta } from "../raft/types.js";
import { crc32c } from "./crc32c.js";
import { SnapshotCorruptionError, StorageError } from "./errors.js";
import { padIndex, syncDirectory, TEMP_SUFFIX } from "./segment-files.js";

const MAGIC = Buffer.from("FLSNAP01", "latin1");
const HEADER_BYTES = 32;
const SNAPSHOT_NAME = /^snap-(\d{16})-(\d{16})\.snap$/;

export function snapshotFileName(index: number, term: number): string {
  return `snap-${padIndex(index)}-${padIndex(term)}.snap`;
}

export function parseSnapshotFileName(name: string): { index: number; term: number } | undefined {
  const match = SNAPSHOT_NAME.exec(name);
  return match === null ? undefined : { index: Number(match[1]), term: Number(match[2]) };
}

function encodeHeader(meta: Buffer, data: Uint8Array, dataCrc: number): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt32LE(meta.length, 8);
  header.writeUInt32LE(crc32c(meta), 12);
  header.writeDoubleLE(data.byteLength, 16);
  header.writeUInt32LE(dataCrc, 24);
  header.writeUInt32LE(crc32c(header, 0, 28), 28);
  return header;
}

/**
 * CRC32C of `data`, SNAPSHOT_CHECKSUM_SLICE_BYTES at a time with a turn of the event loop
 * between slices: a snapshot is saved in the background while the node goes on serving.
 */
export async function crc32cInSlices(data: Uint8Array): Promise<number> {
  let crc = 0;
  for (let start = 0; start < data.byteLength; start += SNAPSHOT_CHECKSUM_SLICE_BYTES) {
    if (start > 0) await setImmediate();
    crc = crc32c(data, start, Math.min(data.byteLength, start + SNAPSHOT_CHECKSUM_SLICE_BYTES), crc);
  }
  return crc;
}

/** Writes the snapshot durably; returns the file name. Two fsyncs: the file, then the directory. */
export async function writeSnapshotFile(dir: string, snapshot: Snapshot): Promise<string> {
  if (snapshot.data.byteLength > SNAPSHOT_BYTES_MAX) {
    throw new StorageError("too-large", `snapshot of ${snapshot.data.byteLength} bytes exceeds SNAPSHOT_BYTES_MAX (${SNAPSHOT_BYTES_MAX})`);
  }
  const { index, term, confState } = snapshot.meta;
  const meta = Buffer.from(JSON.stringify({ index, term, confState: { voters: confState.voters, learners: confState.learners } }), "utf8");
  if (meta.length > SNAPSHOT_META_BYTES_MAX) throw new StorageError("too-large", `snapshot metadata of ${meta.length} bytes exceeds SNAPSHOT_META_BYTES_MAX`);
  const name = snapshotFileName(index, term);
  const temp = join(dir, name + TEMP_SUFFIX);
  const handle = await open(temp, "w");
  try {
    const buffers = [encodeHeader(meta, snapshot.data, await crc32cInSlices(snapshot.data)), meta, snapshot.data];
    const total = HEADER_BYTES + meta.length + snapshot.data.byteLength;
    const { bytesWritten } = await handle.writev(buffers, 0);
    if (bytesWritten !== total) throw new StorageError("wal-failed", `short write of ${temp}: ${bytesWritten} of ${total} bytes`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, join(dir, name));
  await syncDirectory(dir);
  return name;
}

async function readExactly(path: string, bytes: number, position: number, handle: FileHandle): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(bytes);
  let done = 0;
  while (done < bytes) {
    const { bytesRead } = await handle.read(buffer, done, bytes - done, position + done);
    if (bytesRead === 0) throw new SnapshotCorruptionError(path, `file ends after ${position + done} bytes`);
    done += bytesRead;
  }
  return buffer;
}

/** Loads and verifies the snapshot in `path`, which must be named after `expected`. */
export async function readSnapshotFile(path: string, expected: { index: number; term: number }): Promise<Snapshot> {
  const handle = await open(path, "r");
  try {
    const { size } = await handle.stat();
    if (size < HEADER_BYTES) throw new SnapshotCorruptionError(path, `${size} bytes is shorter than the ${HEADER_BYTES}-byte header`);
    const header = await readExactly(path, HEADER_BYTES, 0, handle);
    const layout = checkHeader(path, header, size);
    const body = await readExactly(path, layout.metaBytes + layout.dataBytes, HEADER_BYTES, handle);
    if (crc32c(body, 0, layout.metaBytes) !== layout.metaCrc) throw new SnapshotCorruptionError(path, "metadata checksum mismatch");
    if (crc32c(body, layout.metaBytes) !== layout.dataCrc) throw new SnapshotCorruptionError(path, "data checksum mismatch");
    const meta = parseMeta(path, body.toString("utf8", 0, layout.metaBytes));
    if (meta.index !== expected.index || meta.term !== expected.term) {
      throw new SnapshotCorruptionError(path, `holds snapshot ${meta.index}/${meta.term}, expected ${expected.index}/${expected.term}`);
    }
    return { meta, data: body.subarray(layout.metaBytes) };
  } finally {
    await handle.close();
  }
}

function checkHeader(path: string, header: Buffer, size: number): { metaBytes: number; metaCrc: number; dataBytes: number; dataCrc: number } {
  if (!header.subarray(0, 8).equals(MAGIC)) throw new SnapshotCorruptionError(path, "not a Flotilla snapshot file (bad magic)");
  if (header.readUInt32LE(28) !== crc32c(header, 0, 28)) throw new SnapshotCorruptionError(path, "header checksum mismatch");
  const metaBytes = header.readUInt32LE(8);
  const dataBytes = header.readDoubleLE(16);
  if (metaBytes > SNAPSHOT_META_BYTES_MAX) throw new SnapshotCorruptionError(path, `metadata length ${metaBytes} exceeds SNAPSHOT_META_BYTES_MAX`);
  if (!Number.isSafeInteger(dataBytes) || dataBytes < 0 || dataBytes > SNAPSHOT_BYTES_MAX) throw new SnapshotCorruptionError(path, `data length ${dataBytes} is not in 0..SNAPSHOT_BYTES_MAX`);
  if (HEADER_BYTES + metaBytes + dataBytes !== size) throw new SnapshotCorruptionError(path, `file is ${size} bytes, header says ${HEADER_BYTES + metaBytes + dataBytes}`);
  return { metaBytes, metaCrc: header.readUInt32LE(12), dataBytes, dataCrc: header.readUInt32LE(24) };
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function isIdList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((id) => typeof id === "string");
}

function parseMeta(path: string, text: string): SnapshotMeta {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new SnapshotCorruptionError(path, `metadata is not JSON: ${(error as Error).message}`);
  }
  const meta = value as { index?: unknown; term?: unknown; confState?: { voters?: unknown; learners?: unknown } };
  if (typeof meta !== "object" || meta === null || !isCount(meta.index) || !isCount(meta.term) || typeof meta.confState !== "object" || meta.confState === null) {
    throw new SnapshotCorruptionError(path, "metadata lacks index, term or confState");
  }
  const { voters, learners } = meta.confState;
  if (!isIdList(voters) || !isIdList(learners)) throw new SnapshotCorruptionError(path, "metadata confState voters/learners are not lists of node ids");
  const confState: ConfState = { voters, learners };
  return { index: meta.index, term: meta.term, confState };
}

/**
 * Keeps `current` (the snapshot the WAL now points to) and the newest file before it; deletes
 * the rest, including leftovers newer than `current` that no marker ever referenced.
 */
export async function pruneSnapshotFiles(dir: string, current: { index: number; term: number }): Promise<string[]> {
  const found = (await readdir(dir)).flatMap((name) => {
    const parsed = parseSnapshotFileName(name);
    return parsed === undefined ? [] : [{ name, ...parsed }];
  });
  const older = found.filter((file) => file.index < current.index).sort((a, b) => b.index - a.index);
  const keep = new Set([snapshotFileName(current.index, current.term), ...older.slice(0, SNAPSHOT_FILES_RETAINED - 1).map((file) => file.name)]);
  const removed = found.filter((file) => !keep.has(file.name)).map((file) => file.name);
  for (const name of removed) await unlink(join(dir, name));
  if (removed.length > 0) await syncDirectory(dir);
  return removed;
}
