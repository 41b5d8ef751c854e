/** The segment files' writes and syncs, done the way the WAL's hot path needs them. */
import { fdatasync, write, writeSync } from "node:fs";
import { WAL_INLINE_WRITE_BYTES_MAX } from "../util/limits.js";

/**
 * Writes bytes[start, end) at `position`; returns the write() calls made. Up to
 * WAL_INLINE_WRITE_BYTES_MAX on the event loop: the write only copies into the page cache
 * (a few µs for a typical batch), less than a thread-pool round trip costs. Larger ones in
 * the thread pool, where the copy does not hold up the event loop.
 */
export async function writeFully(fd: number, bytes: Buffer, start: number, end: number, position: number): Promise<number> {
  const inline = end - start <= WAL_INLINE_WRITE_BYTES_MAX;
  let calls = 0;
  for (let done = start; done < end; calls++) {
    const at = position + (done - start);
    const written = inline ? writeSync(fd, bytes, done, end - done, at) : await writeInPool(fd, bytes, done, end - done, at);
    if (written <= 0) throw new Error(`write made no progress at byte ${at}`);
    done += written;
  }
  return calls;
}

function writeInPool(fd: number, bytes: Buffer, offset: number, length: number, position: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    write(fd, bytes, offset, length, position, (error, written) => (error === null ? resolve(written) : reject(error)));
  });
}

/** fdatasync in the thread pool, off the event loop (the callback API: lighter than FileHandle's). */
export function datasync(fd: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    fdatasync(fd, (error) => (error === null ? resolve() : reject(error)));
  });
}
