import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type * as ReplicationFloor from "./replication-floor.js";

// The probe forks dist/bench/generator-process.js, which `npm test` builds before the tests.
const { measureReplicationFloor } = (await import(path.resolve(import.meta.dirname, "../../dist/bench/replication-floor.js"))) as typeof ReplicationFloor;

const folder = fs.mkdtempSync(path.join(os.tmpdir(), "flotilla-floor-test-"));
afterAll(() => fs.rmSync(folder, { recursive: true, force: true }));

describe("the bare replicated write (the single-client floor)", () => {
  it("round-trips writes through a leader and two followers that fdatasync, and cleans up its files", async () => {
    const floor = await measureReplicationFloor(folder, 0.3);
    expect(floor.writes).toBeGreaterThan(10);
    expect(floor.medianMs).toBeGreaterThan(0);
    expect(floor.p99Ms).toBeGreaterThanOrEqual(floor.medianMs);
    expect(fs.readdirSync(folder)).toEqual([]);
  });
});
