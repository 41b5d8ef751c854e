import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { HistoryError } from "./errors.js";
import { historyFromJsonl, historyToJsonl, loadHistory, saveHistory } from "./history.js";
import { checkKvHistory, type HistoryOp } from "./kv-model.js";
import { generateLinearizableHistory, op } from "./testing/histories.js";

const sample: HistoryOp[] = [
  op.write(0, "a\nb \"quoted\" ✓", [0, 2]),
  op.cas(1, null, "x", false, [1, 3], "other key"),
  op.unknown(2, { kind: "write", value: "z" }, 4),
  op.failed(3, { kind: "read" }, [5, 6]),
  op.read(0, null, [7, 8]),
];

describe("JSONL", () => {
  test("one operation a line, and back unchanged", () => {
    const text = historyToJsonl(sample);
    expect(text.split("\n")).toHaveLength(sample.length + 1);
    expect(text.endsWith("\n")).toBe(true);
    expect(historyFromJsonl(text)).toEqual(sample);
  });

  test("a replayed history gets the same verdict", () => {
    const history = generateLinearizableHistory(11, { ops: 500, processes: 5, values: 4, unknownRate: 0.05, keys: 3 });
    const replayed = historyFromJsonl(historyToJsonl(history));
    expect(replayed).toEqual(history);
    expect(checkKvHistory(replayed).verdict).toBe("ok");
  });

  test("an empty history is no lines", () => {
    expect(historyToJsonl([])).toBe("");
    expect(historyFromJsonl("\n\n")).toEqual([]);
  });

  test("a line that is not JSON is named", () => {
    const text = `${historyToJsonl(sample.slice(0, 1))}{"process": 1,\n`;
    expect(() => historyFromJsonl(text, "run-7.jsonl")).toThrow(HistoryError);
    expect(() => historyFromJsonl(text, "run-7.jsonl")).toThrow(/run-7.jsonl line 2: not valid JSON/);
  });

  test("a malformed operation is named", () => {
    const text = `${historyToJsonl(sample.slice(0, 2))}{"process":1,"key":"k","input":{"kind":"read"},"call":3,"outcome":"ok"}\n`;
    expect(() => historyFromJsonl(text)).toThrow(/history line 3: an ok read needs an output object/);
  });
});

describe("files", () => {
  const directory = mkdtempSync(join(tmpdir(), "flotilla-check-"));
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  test("save then load", async () => {
    const path = join(directory, "history.jsonl");
    await saveHistory(path, sample);
    expect(await loadHistory(path)).toEqual(sample);
  });

  test("load names the file in errors", async () => {
    await expect(loadHistory(join(directory, "missing.jsonl"))).rejects.toThrow(/ENOENT/);
  });
});
