import { describe, expect, it } from "vitest";
import { sweep, total } from "./testing/sweep.js";

// Seeds of the default test run for 3-node clusters with every fault. A failure prints the
// command that replays the seed.
const NODES = 3;
const TICKS = 2_500;
const CHUNKS = [
  [1, 35],
  [36, 35],
] as const;

describe(`${NODES} nodes, all faults`, () => {
  for (const [first, count] of CHUNKS) {
    it(`seeds ${first}..${first + count - 1}: every invariant holds, the history is linearizable, the cluster heals`, () => {
      const { results, failures } = sweep(NODES, first, count, TICKS);
      expect(failures).toEqual([]);
      expect(results.every((result) => result.healedTicks !== undefined)).toBe(true);
      // The adversary really acted: a run without faults would prove nothing.
      for (const counter of ["crashes", "partitions", "snapshotsInstalled", "membershipChanges", "transfers"] as const) {
        expect(total(results, (result) => result[counter]), counter).toBeGreaterThan(count);
      }
      expect(total(results, (result) => result.messages.lost + result.messages.duplicated)).toBeGreaterThan(0);
      expect(total(results, (result) => result.ops.ok)).toBeGreaterThan(count * 50);
      expect(results.filter((result) => result.checker.verdict === "ok").length).toBeGreaterThanOrEqual(count - 1);
    });
  }
});
