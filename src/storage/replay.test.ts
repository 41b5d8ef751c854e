import { describe, expect, it } from "vitest";
import { EMPTY_HARD_STATE } from "../raft/types.js";
import { WalCorruptionError } from "./errors.js";
import { LogReplay } from "./replay.js";
import { entries, summary } from "./testing/fixtures.js";

const at = { file: "0000000000000001-0000000000000001.wal", offset: 123 };

/** A replay whose first segment says: snapshot at baseIndex, log up to lastIndex before it. */
function started(baseIndex = 0, baseTerm = 0, lastIndex = baseIndex): LogReplay {
  const replay = new LogReplay();
  replay.segmentHeader({ seq: 1, hardState: EMPTY_HARD_STATE, baseIndex, baseTerm, lastIndex }, at);
  return replay;
}

describe("LogReplay", () => {
  it("applies suffix overwrites in order", () => {
    const replay = started();
    replay.entries(entries(1, 5, 1), at);
    replay.entries(entries(3, 4, 2), at);
    replay.entries(entries(5, 5, 3), at);
    expect(summary(replay.finish(at).entries)).toEqual(summary([...entries(1, 2, 1), ...entries(3, 4, 2), ...entries(5, 5, 3)]));
  });

  it("refuses a gap, with the record's file and offset", () => {
    const replay = started();
    replay.entries(entries(1, 2, 1), at);
    expect(() => replay.entries(entries(4, 4, 1), at)).toThrow(new WalCorruptionError(at.file, at.offset, "entries from index 4 leave a gap after index 2"));
  });

  it("accepts entries in deleted segments only if a later snapshot marker covers them", () => {
    const covered = started(10, 1, 30);
    covered.entries(entries(31, 40, 2), at);
    covered.snapshotMarker({ index: 20, term: 1, retainsLog: true }, at);
    covered.snapshotMarker({ index: 35, term: 2, retainsLog: true }, at);
    const log = covered.finish(at);
    expect([log.baseIndex, log.entries[0]!.index, log.entries.length]).toEqual([35, 36, 5]);

    const markerInDeleted = started(10, 1, 30);
    markerInDeleted.snapshotMarker({ index: 30, term: 1, retainsLog: true }, at);
    markerInDeleted.entries(entries(31, 31, 2), at);
    expect(markerInDeleted.finish(at).entries.map((e) => e.index)).toEqual([31]);

    const uncovered = started(10, 1, 30);
    uncovered.entries(entries(31, 40, 2), at);
    expect(() => uncovered.finish(at)).toThrow(/entries 11\.\.30 are missing after snapshot 10/);
    expect(() => started(10, 1, 30).entries(entries(32, 32, 1), at)).toThrow(/gap after index 30/);
  });

  it("drops the whole log for a snapshot that replaced it, and checks a retained one's term", () => {
    const replaced = started();
    replaced.entries(entries(1, 9, 1), at);
    replaced.snapshotMarker({ index: 5, term: 4, retainsLog: false }, at);
    expect(replaced.finish(at).entries).toEqual([]);

    const mismatch = started();
    mismatch.entries(entries(1, 9, 1), at);
    expect(() => mismatch.snapshotMarker({ index: 5, term: 4, retainsLog: true }, at)).toThrow(/holds term 1 there/);
    expect(() => mismatch.snapshotMarker({ index: 0, term: 0, retainsLog: true }, at)).toThrow(/not after the current snapshot/);
  });

  it("refuses a segment header that disagrees with the segments before it", () => {
    const replay = started();
    replay.hardState({ term: 3, vote: "n1", commit: 0 });
    expect(() => replay.segmentHeader({ seq: 2, hardState: { term: 2, vote: "n1", commit: 0 }, baseIndex: 0, baseTerm: 0, lastIndex: 0 }, at)).toThrow(WalCorruptionError);
    expect(() => replay.segmentHeader({ seq: 2, hardState: { term: 3, vote: "n1", commit: 0 }, baseIndex: 0, baseTerm: 0, lastIndex: 4 }, at)).toThrow(/last index 4/);
    replay.segmentHeader({ seq: 2, hardState: { term: 3, vote: "n1", commit: 0 }, baseIndex: 0, baseTerm: 0, lastIndex: 0 }, at);
  });
});
