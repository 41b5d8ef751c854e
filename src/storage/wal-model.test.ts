/**
 * Randomized, seeded: a long mix of appends (with suffix overwrites), hard states, snapshots
 * that keep or replace the log, compactions and reopens, on tiny segments, checked after
 * every reopen against a plain model of what Raft expects the log to be.
 */
import { afterAll, describe, expect, it } from "vitest";
import { Rng } from "../util/rng.js";
import { EMPTY_HARD_STATE, type Entry, type HardState } from "../raft/types.js";
import { Wal } from "./wal.js";
import { entry, makeTempDir, removeDir, summary } from "./testing/fixtures.js";

class LogModel {
  baseIndex = 0;
  baseTerm = 0;
  entries: Entry[] = [];
  hardState: HardState = EMPTY_HARD_STATE;

  get lastIndex(): number {
    return this.baseIndex + this.entries.length;
  }

  termAt(index: number): number | undefined {
    if (index === this.baseIndex) return this.baseTerm;
    return this.entries[index - this.baseIndex - 1]?.term;
  }

  append(added: readonly Entry[]): void {
    this.entries = this.entries.slice(0, added[0]!.index - this.baseIndex - 1).concat(added);
  }

  /** Raft, Figure 13: keep what follows a held entry with the same term, else drop the log. */
  snapshot(index: number, term: number): void {
    this.entries = this.termAt(index) === term ? this.entries.slice(index - this.baseIndex) : [];
    this.baseIndex = index;
    this.baseTerm = term;
  }
}

const SEGMENT_BYTES = 1024;

describe("Wal against a model", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map(removeDir));
  });

  for (const seed of [1, 2, 3, 4]) {
    it(`matches the model after every reopen (seed ${seed})`, async () => {
      const dir = await makeTempDir();
      dirs.push(dir);
      const rng = new Rng(seed);
      const model = new LogModel();
      let term = 1;
      let { wal } = await Wal.open(dir, { segmentBytesMax: SEGMENT_BYTES });

      const randomAppend = (): Promise<void> => {
        const first = rng.int(Math.max(model.baseIndex + 1, model.lastIndex - 3), model.lastIndex + 2);
        if (rng.chance(0.2)) term++;
        const added = Array.from({ length: rng.int(1, 6) }, (_, i) => entry(first + i, term, rng.int(0, 120)));
        model.append(added);
        let hardState: HardState | undefined;
        if (rng.chance(0.5)) {
          const next = { term, vote: rng.chance(0.5) ? "n1" : "", commit: Math.max(model.hardState.commit, first - 1) };
          if (next.term > model.hardState.term || model.hardState.vote === "" || next.vote === model.hardState.vote) hardState = next;
          else hardState = { ...next, vote: model.hardState.vote };
          model.hardState = hardState;
        }
        return wal.append(added, hardState);
      };

      for (let step = 0; step < 250; step++) {
        const roll = rng.float();
        if (roll < 0.55) {
          await randomAppend();
        } else if (roll < 0.7) {
          await Promise.all(Array.from({ length: rng.int(2, 8) }, randomAppend));
        } else if (roll < 0.8 && model.lastIndex > model.baseIndex) {
          const keep = rng.chance(0.7);
          const index = keep ? rng.int(model.baseIndex + 1, model.lastIndex + 1) : rng.int(model.baseIndex + 1, model.lastIndex + 4);
          const snapshotTerm = keep ? model.termAt(index)! : ++term;
          model.snapshot(index, snapshotTerm);
          await wal.saveSnapshot({ meta: { index, term: snapshotTerm, confState: { voters: ["n1"], learners: [] } }, data: new Uint8Array(Buffer.from(`s${index}`)) });
        } else if (roll < 0.9) {
          await wal.compact(rng.int(0, model.baseIndex + 1));
        } else {
          await wal.close();
          const reopened = await Wal.open(dir, { segmentBytesMax: SEGMENT_BYTES });
          wal = reopened.wal;
          const { recovered } = reopened;
          expect(recovered.snapshot?.meta.index ?? 0, `seed ${seed} step ${step}`).toBe(model.baseIndex);
          expect(recovered.snapshot?.meta.term ?? 0).toBe(model.baseTerm);
          expect(summary(recovered.entries), `seed ${seed} step ${step}`).toEqual(summary(model.entries));
          expect(recovered.hardState).toEqual(model.hardState);
          expect(reopened.report.tornTail).toBeUndefined();
        }
        expect(wal.lastIndex()).toBe(model.lastIndex);
      }
      await wal.close();
    });
  }
});
