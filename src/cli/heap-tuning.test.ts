/**
 * The heap bounds of `flotilla start`: which ones apply given the operator's node flags, and
 * (in a fresh process running the built module, since V8's heap is per process) that the
 * young generation stops growing at its bound under a load that grows it otherwise.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { START_OLD_SPACE_GROWTH_PERCENT, START_SEMI_SPACE_BYTES_MAX } from "../util/limits.js";
import { planHeapTuning } from "./heap-tuning.js";

const MiB = 1024 * 1024;

describe("planHeapTuning", () => {
  it("bounds both generations when the operator set neither", () => {
    expect(planHeapTuning([], undefined)).toEqual({ oldSpaceGrowthPercent: START_OLD_SPACE_GROWTH_PERCENT, semiSpaceBytesMax: START_SEMI_SPACE_BYTES_MAX });
    expect(planHeapTuning(["--enable-source-maps"], "--max-old-space-size=512")).toEqual({ oldSpaceGrowthPercent: START_OLD_SPACE_GROWTH_PERCENT, semiSpaceBytesMax: START_SEMI_SPACE_BYTES_MAX });
  });

  it("leaves the young generation to V8 when a semi-space flag is given, on the command line or in NODE_OPTIONS", () => {
    for (const [execArgv, nodeOptions] of [[["--max-semi-space-size=32"], undefined], [[], "--trace-warnings  --max_semi_space_size=2"], [["--min-semi-space-size=16"], ""]] as const) {
      expect(planHeapTuning(execArgv, nodeOptions)).toEqual({ oldSpaceGrowthPercent: START_OLD_SPACE_GROWTH_PERCENT });
    }
  });

  it("leaves the old generation to V8 when --heap-growing-percent is given (node refuses it in NODE_OPTIONS)", () => {
    expect(planHeapTuning(["--heap-growing-percent=100"], undefined)).toEqual({ semiSpaceBytesMax: START_SEMI_SPACE_BYTES_MAX });
    expect(planHeapTuning(["--heap_growing_percent=10"], "--max-semi-space-size=4")).toEqual({});
  });

  it("does not mistake a longer flag for one of V8's", () => {
    expect(planHeapTuning(["--max-semi-space-sizes=4"], undefined)).toEqual({ oldSpaceGrowthPercent: START_OLD_SPACE_GROWTH_PERCENT, semiSpaceBytesMax: START_SEMI_SPACE_BYTES_MAX });
  });
});

const BUILT = path.resolve("dist/cli/heap-tuning.js");

describe.skipIf(!fs.existsSync(BUILT))("the young generation under load (a fresh process, the built module)", () => {
  /**
   * Keeps a window of 50,000 recent objects alive while allocating, in small tasks as a server
   * does (each request its own task), so survivors pile up and V8 grows the young generation:
   * once before and once after heapTuningServing(). Prints the largest semi-space seen in each
   * phase, in bytes.
   */
  const largestSemiSpaceBytes = async (boundBytes: number | undefined): Promise<{ starting: number; serving: number }> => {
    const script = `
      const { applyHeapTuning, heapTuningServing, semiSpaceCapacityBytes } = await import(${JSON.stringify(BUILT)});
      ${boundBytes === undefined ? "" : `applyHeapTuning({ semiSpaceBytesMax: ${boundBytes} });`}
      const window = new Array(50_000);
      const load = async () => {
        let largest = 0;
        for (let task = 0; task < 400; task++) {
          for (let i = 0; i < 5_000; i++) window[(task * 5_000 + i) % window.length] = { task, i, text: "value " + i };
          await new Promise((resolve) => setImmediate(resolve));
          largest = Math.max(largest, semiSpaceCapacityBytes());
        }
        return largest;
      };
      const starting = await load();
      heapTuningServing();
      console.log(JSON.stringify({ starting, serving: await load() }));`;
    const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script], { timeout: 30_000 });
    return JSON.parse(stdout) as { starting: number; serving: number };
  };

  it("stays at V8's initial size until the node serves, then grows to its bound and no further, where V8 alone grows it past the bound", async () => {
    const bound = 4 * MiB;
    const [tuned, untuned] = await Promise.all([largestSemiSpaceBytes(bound), largestSemiSpaceBytes(undefined)]);
    expect(untuned.starting).toBeGreaterThan(bound);
    expect(tuned.starting).toBeLessThanOrEqual(1 * MiB); // V8's initial semi-space
    expect(tuned.serving).toBeLessThanOrEqual(bound);
    expect(tuned.serving).toBeGreaterThan(bound / 2); // it grew, by doubling, up to the bound
  });
});
