/** Helpers shared by the storage tests: temporary directories and entries that describe themselves. */
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EntryType, type Entry } from "../../raft/types.js";

export async function makeTempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), "flotilla-storage-"));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** An entry whose data names its index and term, so a mix-up shows in a diff. */
export function entry(index: number, term: number, padBytes = 0): Entry {
  return { index, term, type: EntryType.Normal, data: new Uint8Array(Buffer.from(`e${index}t${term}${".".repeat(padBytes)}`)) };
}

export function entries(first: number, last: number, term: number, padBytes = 0): Entry[] {
  const made: Entry[] = [];
  for (let index = first; index <= last; index++) made.push(entry(index, term, padBytes));
  return made;
}

/** Index/term pairs: enough to compare logs without comparing byte arrays one by one. */
export function summary(log: readonly Entry[]): string[] {
  return log.map((e) => `${e.index}/${e.term}/${Buffer.from(e.data).toString()}`);
}

export async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => name.endsWith(".wal")).sort();
}

export async function snapshotFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => name.endsWith(".snap")).sort();
}
