import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type * as LoadFloorModule from "./load-floor.js";

// The floor forks bench/dist/generator-process.js, which `npm test` builds before the tests.
const { measureLoadFloor } = (await import(path.resolve(import.meta.dirname, "../dist/load-floor.js"))) as typeof LoadFloorModule;

const folder = fs.mkdtempSync(path.join(os.tmpdir(), "flotilla-load-floor-test-"));
afterAll(() => fs.rmSync(folder, { recursive: true, force: true }));

describe("the service floor under load", () => {
  it("answers every write from clients spread over its three processes, and cleans up its files", async () => {
    const floor = await measureLoadFloor(folder, 0.5, 6);
    // A write answers only once it is durable on two of three and applied: a broken pipeline
    // (no commit, a follower never answering its forwarded writes) shows as errors or no writes.
    expect(floor.errors).toBe(0);
    expect(floor.opsPerSecond).toBeGreaterThan(50);
    expect(floor.cpuUsPerOp).toBeGreaterThan(0);
    expect(floor.answered).toHaveLength(3);
    for (const count of floor.answered) expect(count).toBeGreaterThan(0);
    expect(fs.readdirSync(folder)).toEqual([]);
  }, 30_000);
});
