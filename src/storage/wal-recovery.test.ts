import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Rng } from "../util/rng.js";
import { SnapshotCorruptionError, WalCorruptionError } from "./errors.js";
import { checkFrame } from "./record.js";
import { Wal } from "./wal.js";
import { entries, entry, makeTempDir, removeDir, segmentFiles, summary } from "./testing/fixtures.js";

const dirs: string[] = [];
async function freshDir(): Promise<string> {
  const dir = await makeTempDir();
  dirs.push(dir);
  return dir;
}
/** Opens, takes what recovery found, and closes again. */
async function recoverOnce(dir: string, segmentBytesMax?: number) {
  const { wal, recovered, report } = await Wal.open(dir, { segmentBytesMax });
  await wal.close();
  return { recovered, report };
}

afterAll(async () => {
  await Promise.all(dirs.splice(0).map(removeDir));
});

/** Byte offsets where each record of a segment file starts, and the file's end. */
function recordOffsets(bytes: Buffer): number[] {
  const offsets: number[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const check = checkFrame(bytes, offset);
    if (check.kind !== "ok") throw new Error(`test setup: no record at ${offset}`);
    offsets.push(offset);
    offset = check.end;
  }
  return [...offsets, offset];
}

async function expectCorruption(dir: string, file: string, offset: number, segmentBytesMax?: number): Promise<WalCorruptionError> {
  const error = await Wal.open(dir, { segmentBytesMax }).then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(WalCorruptionError);
  const corruption = error as WalCorruptionError;
  expect({ file: corruption.file, offset: corruption.offset }).toEqual({ file, offset });
  expect(corruption.message).toContain(`${file} at byte ${offset}`);
  return corruption;
}

describe("recovery: torn tails", () => {
  it("recovers to the previous record when the last write is cut at every byte, or its end is garbage", async () => {
    const dir = await freshDir();
    const first = await Wal.open(dir);
    await first.wal.append(entries(1, 3, 1), { term: 1, vote: "n1", commit: 2 });
    await first.wal.close();
    const [name] = await segmentFiles(dir);
    const path = join(dir, name!);
    const before = (await readFile(path)).length;
    const second = await Wal.open(dir);
    // The last write: an entries record, then a hard-state record (entries go first).
    await second.wal.append([entry(4, 1)], { term: 1, vote: "n1", commit: 4 });
    await second.wal.close();
    const whole = await readFile(path);
    const offsets = recordOffsets(whole);
    const entriesEnd = offsets[offsets.length - 2]!;
    expect(offsets[offsets.length - 3]).toBe(before);
    const rng = new Rng(42);

    for (let cut = before; cut < whole.length; cut++) {
      const garbage = Buffer.from(Array.from({ length: whole.length - cut }, () => rng.int(0, 256)));
      for (const damaged of [whole.subarray(0, cut), Buffer.concat([whole.subarray(0, cut), garbage])]) {
        await writeFile(path, damaged);
        // Without the zero-fill, so that the file's length shows recovery's own cut.
        const { wal, recovered, report } = await Wal.open(dir, { prefill: false });
        const keptEntries = cut >= entriesEnd ? 4 : 3;
        expect(recovered.entries.map((e) => e.index)).toEqual([1, 2, 3, 4].slice(0, keptEntries));
        expect(recovered.hardState).toEqual({ term: 1, vote: "n1", commit: 2 });
        const validEnd = cut >= entriesEnd ? entriesEnd : before;
        if (damaged.length === validEnd) {
          expect(report.tornTail).toBeUndefined();
        } else {
          expect(report.tornTail).toMatchObject({ file: name, offset: validEnd, bytesTruncated: damaged.length - validEnd });
        }
        expect((await readFile(path)).length).toBe(validEnd);
        await wal.close();
      }
    }
    // After a recovery the WAL appends where the valid records end, and replays cleanly.
    const { wal } = await Wal.open(dir);
    await wal.append([entry(4, 2), entry(5, 2)], { term: 2, vote: "", commit: 3 });
    await wal.close();
    const last = await Wal.open(dir);
    expect(summary(last.recovered.entries)).toEqual(summary([...entries(1, 3, 1), ...entries(4, 5, 2)]));
    expect(last.report.tornTail).toBeUndefined();
    await last.wal.close();
  });

  it("cuts off a zero-filled tail and reports it as such", async () => {
    const dir = await freshDir();
    const { wal } = await Wal.open(dir);
    await wal.append(entries(1, 5, 1));
    await wal.close();
    const [name] = await segmentFiles(dir);
    const path = join(dir, name!);
    const whole = await readFile(path);
    await writeFile(path, Buffer.concat([whole, Buffer.alloc(8192)]));
    const reopened = await Wal.open(dir);
    expect(reopened.recovered.entries.length).toBe(5);
    expect(reopened.report.tornTail).toMatchObject({ kind: "zero-fill", offset: whole.length, bytesTruncated: 8192 });
    await reopened.wal.close();
  });

  it("deletes a last segment whose header never became whole, and keeps appending to the one before", async () => {
    const dir = await freshDir();
    const { wal } = await Wal.open(dir);
    await wal.append(entries(1, 2, 1));
    await wal.close();
    const [name] = await segmentFiles(dir);
    const header = (await readFile(join(dir, name!))).subarray(0, 20);
    await writeFile(join(dir, "0000000000000002-0000000000000003.wal"), header);
    await writeFile(join(dir, "notes.txt"), "an operator's file");
    const reopened = await Wal.open(dir);
    expect(reopened.recovered.entries.length).toBe(2);
    expect(reopened.report.removedFiles).toEqual(["0000000000000002-0000000000000003.wal"]);
    expect(reopened.report.ignoredFiles).toEqual(["notes.txt"]);
    await reopened.wal.append([entry(3, 1)]);
    await reopened.wal.close();
    expect(await segmentFiles(dir)).toEqual([name]);
    expect((await recoverOnce(dir)).recovered.entries.length).toBe(3);
  });
});

describe("recovery: corruption is refused, never skipped", () => {
  it("refuses a flipped byte anywhere in a middle record, naming the file and the record's offset", async () => {
    const dir = await freshDir();
    const { wal } = await Wal.open(dir);
    for (let i = 1; i <= 4; i++) await wal.append([entry(i, 1)]);
    await wal.close();
    const [name] = await segmentFiles(dir);
    const path = join(dir, name!);
    const whole = await readFile(path);
    const offsets = recordOffsets(whole);
    const [start, end] = [offsets[2]!, offsets[3]!];
    for (let at = start; at < end; at++) {
      const damaged = Buffer.from(whole);
      damaged[at] = damaged[at]! ^ 0x5a;
      await writeFile(path, damaged);
      await expectCorruption(dir, name!, start);
    }
    // Refusing changed nothing: the undamaged file still opens with everything in it.
    await writeFile(path, whole);
    expect((await recoverOnce(dir)).recovered.entries.length).toBe(4);
  });

  it("refuses damage in a segment that is not the last, even at its very end", async () => {
    const dir = await freshDir();
    const { wal } = await Wal.open(dir, { segmentBytesMax: 1024 });
    for (let i = 1; i <= 30; i++) await wal.append([entry(i, 1, 100)]);
    await wal.close();
    const files = await segmentFiles(dir);
    expect(files.length).toBeGreaterThan(2);
    const path = join(dir, files[0]!);
    const whole = await readFile(path);
    const offsets = recordOffsets(whole);
    const lastRecord = offsets[offsets.length - 2]!;

    const flipped = Buffer.from(whole);
    flipped[whole.length - 1] = flipped[whole.length - 1]! ^ 1;
    await writeFile(path, flipped);
    const error = await expectCorruption(dir, files[0]!, lastRecord, 1024);
    expect(error.message).toContain("not the last");

    await writeFile(path, whole.subarray(0, whole.length - 3));
    await expectCorruption(dir, files[0]!, lastRecord, 1024);
  });

  it("refuses a record length above the largest record when valid records follow", async () => {
    const dir = await freshDir();
    const { wal } = await Wal.open(dir);
    for (let i = 1; i <= 3; i++) await wal.append([entry(i, 1)]);
    await wal.close();
    const [name] = await segmentFiles(dir);
    const path = join(dir, name!);
    const whole = await readFile(path);
    const offsets = recordOffsets(whole);
    const damaged = Buffer.from(whole);
    damaged.writeUInt32LE(0xfffffff0, offsets[1]!);
    await writeFile(path, damaged);
    const error = await expectCorruption(dir, name!, offsets[1]!);
    expect(error.message).toContain("exceeds the largest record");
  });

  it("refuses a missing segment in the middle of the sequence", async () => {
    const dir = await freshDir();
    const { wal } = await Wal.open(dir, { segmentBytesMax: 1024 });
    for (let i = 1; i <= 30; i++) await wal.append([entry(i, 1, 100)]);
    await wal.close();
    const files = await segmentFiles(dir);
    const { unlink } = await import("node:fs/promises");
    await unlink(join(dir, files[1]!));
    const error = await expectCorruption(dir, files[2]!, 0, 1024);
    expect(error.message).toContain("segment 2 is missing");
  });

  it("refuses snapshot files without any segment: the log is missing, not new", async () => {
    const dir = await freshDir();
    const { wal } = await Wal.open(dir);
    await wal.append(entries(1, 4, 1));
    await wal.saveSnapshot({ meta: { index: 4, term: 1, confState: { voters: ["n1"], learners: [] } }, data: new Uint8Array(0) });
    await wal.close();
    const { unlink } = await import("node:fs/promises");
    for (const name of await segmentFiles(dir)) await unlink(join(dir, name));
    await expect(Wal.open(dir)).rejects.toThrow(/but no WAL segment: the log is missing/);
  });

  it("refuses a damaged or missing snapshot file, naming it", async () => {
    const dir = await freshDir();
    const { wal } = await Wal.open(dir);
    await wal.append(entries(1, 10, 1));
    await wal.saveSnapshot({ meta: { index: 6, term: 1, confState: { voters: ["n1"], learners: [] } }, data: new Uint8Array(Buffer.from("the state at 6")) });
    await wal.close();
    const name = "snap-0000000000000006-0000000000000001.snap";
    const path = join(dir, name);
    const whole = await readFile(path);

    const flipped = Buffer.from(whole);
    flipped[whole.length - 2] = flipped[whole.length - 2]! ^ 0x10;
    await writeFile(path, flipped);
    // A torn tail too: refusing must leave it in place (recovery changes files only on success).
    const [segment] = await segmentFiles(dir);
    const segmentBytes = Buffer.concat([await readFile(join(dir, segment!)), Buffer.from([1, 2, 3])]);
    await writeFile(join(dir, segment!), segmentBytes);
    await expect(Wal.open(dir)).rejects.toThrow(SnapshotCorruptionError);
    await expect(Wal.open(dir)).rejects.toThrow(`${name}: data checksum mismatch`);
    expect(await readFile(join(dir, segment!))).toEqual(segmentBytes);

    await writeFile(path, whole.subarray(0, 40));
    await expect(Wal.open(dir)).rejects.toThrow(/header says/);

    const { unlink } = await import("node:fs/promises");
    await unlink(path);
    await expect(Wal.open(dir)).rejects.toThrow(`${name}: missing, but the WAL continues from this snapshot`);
  });
});
