/**
 * The zeros the WAL writes ahead of its records: there while it runs, never inside a record,
 * gone from every segment that is closed, and cut by recovery after a crash.
 */
import { cp, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { WAL_PREFILL_CHUNK_BYTES } from "../util/limits.js";
import { checkFrame } from "./record.js";
import { Wal } from "./wal.js";
import { entries, entry, makeTempDir, removeDir, segmentFiles, summary } from "./testing/fixtures.js";

const dirs: string[] = [];
async function freshDir(): Promise<string> {
  const dir = await makeTempDir();
  dirs.push(dir);
  return dir;
}

afterEach(async () => {
  await Promise.all(dirs.splice(0).map(removeDir));
});

/** Where a segment's whole, checksummed records end, and whether only zeros follow. */
function scan(bytes: Buffer): { recordsEnd: number; zerosAfter: boolean } {
  let offset = 0;
  for (let check = checkFrame(bytes, 0); offset < bytes.length && check.kind === "ok"; check = checkFrame(bytes, offset)) offset = check.end;
  return { recordsEnd: offset, zerosAfter: bytes.subarray(offset).every((byte) => byte === 0) };
}

describe("WAL zero-fill ahead of the records", () => {
  it("keeps zeros ahead of the records while open, and cuts them off at close", async () => {
    const dir = await freshDir();
    const { wal } = await Wal.open(dir);
    await wal.append(entries(1, 20, 1, 100), { term: 1, vote: "n1", commit: 10 });
    await vi.waitFor(() => expect(wal.stats().prefills).toBeGreaterThan(0));
    const [name] = await segmentFiles(dir);
    const path = join(dir, name!);
    const open = scan(await readFile(path));
    expect(open.zerosAfter).toBe(true);
    expect((await stat(path)).size - open.recordsEnd).toBeGreaterThanOrEqual(WAL_PREFILL_CHUNK_BYTES / 2);
    expect(wal.stats().prefillFailures).toBe(0);

    await wal.append([entry(21, 1)], { term: 1, vote: "n1", commit: 21 });
    await wal.close();
    const closed = await readFile(path);
    expect(scan(closed).recordsEnd).toBe(closed.length);

    const reopened = await Wal.open(dir);
    expect(reopened.report.tornTail).toBeUndefined();
    expect(summary(reopened.recovered.entries)).toEqual(summary([...entries(1, 20, 1, 100), entry(21, 1)]));
    await reopened.wal.close();
  });

  it("tops the zeros up to one chunk ahead, never more, as the records use them", async () => {
    const dir = await freshDir();
    const { wal } = await Wal.open(dir);
    await vi.waitFor(() => expect(wal.stats().prefills).toBe(1));
    // More than half the first chunk: the next fill tops it up.
    await wal.append(entries(1, 12, 1, 50_000));
    await vi.waitFor(() => expect(wal.stats().prefills).toBe(2));
    const [name] = await segmentFiles(dir);
    const path = join(dir, name!);
    const ahead = (await stat(path)).size - scan(await readFile(path)).recordsEnd;
    expect(ahead).toBeGreaterThanOrEqual(WAL_PREFILL_CHUNK_BYTES / 2);
    expect(ahead).toBeLessThanOrEqual(WAL_PREFILL_CHUNK_BYTES);
    await wal.close();
  });

  it("ends every segment but the last at its last record while the WAL runs", async () => {
    const dir = await freshDir();
    const { wal } = await Wal.open(dir, { segmentBytesMax: 1024 });
    for (let i = 1; i <= 60; i++) await wal.append([entry(i, 1, 50)], { term: 1, vote: "n1", commit: i - 1 });
    const files = await segmentFiles(dir);
    expect(files.length).toBeGreaterThan(4);
    for (const name of files.slice(0, -1)) {
      const bytes = await readFile(join(dir, name));
      expect(scan(bytes).recordsEnd, name).toBe(bytes.length);
    }
    await wal.close();
  });

  it("recovers a copy taken while open (as a crash leaves it): the zeros are cut and reported, no entry lost", async () => {
    const dir = await freshDir();
    const { wal } = await Wal.open(dir);
    await wal.append(entries(1, 50, 1, 20), { term: 1, vote: "n1", commit: 50 });
    await vi.waitFor(() => expect(wal.stats().prefills).toBeGreaterThan(0));
    const crashed = await freshDir();
    await cp(dir, crashed, { recursive: true });
    await wal.close();

    const recovered = await Wal.open(crashed);
    expect(recovered.report.tornTail).toMatchObject({ kind: "zero-fill" });
    expect(summary(recovered.recovered.entries)).toEqual(summary(entries(1, 50, 1, 20)));
    expect(recovered.recovered.hardState).toEqual({ term: 1, vote: "n1", commit: 50 });
    await recovered.wal.append([entry(51, 1)]);
    await recovered.wal.close();
    expect((await Wal.open(crashed).then(async (again) => (await again.wal.close(), again.recovered.entries.length)))).toBe(51);
  });

  it("writes an append that reaches into the chunk being filled only after the fill, intact", async () => {
    const dir = await freshDir();
    const { wal } = await Wal.open(dir);
    // Opening started the first chunk; an entry nearly its size lands inside it at once.
    const big = { ...entry(1, 1), data: new Uint8Array(WAL_PREFILL_CHUNK_BYTES - 4096).fill(7) };
    await wal.append([big, entry(2, 1)]);
    await wal.close();
    const reopened = await Wal.open(dir);
    expect(reopened.recovered.entries.map((e) => e.index)).toEqual([1, 2]);
    expect(Buffer.from(reopened.recovered.entries[0]!.data).equals(Buffer.from(big.data))).toBe(true);
    await reopened.wal.close();
  });

  it("leaves the file to grow with its records when switched off", async () => {
    const dir = await freshDir();
    const { wal } = await Wal.open(dir, { prefill: false });
    await wal.append(entries(1, 5, 1));
    const [name] = await segmentFiles(dir);
    const bytes = await readFile(join(dir, name!));
    expect(scan(bytes).recordsEnd).toBe(bytes.length);
    expect(wal.stats().prefills).toBe(0);
    await wal.close();
  });
});
