import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { HistoryError } from "./errors.js";
import { parseJepsenEtcdLog } from "./jepsen.js";
import { checkKvHistory } from "./kv-model.js";

// shared/ lies beside the project's root (the repository), as on every machine and in CI.
const TESTDATA = resolve(dirname(fileURLToPath(import.meta.url)), "../../../shared/testdata/jepsen-etcd");

const line = (process: number, type: string, f: string, value: string): string => `INFO  jepsen.util - ${process}\t:${type}\t:${f}\t${value}`;

describe("parsing", () => {
  test("maps each completion to an outcome", () => {
    const log = [
      line(0, "invoke", "read", "nil"),
      line(0, "ok", "read", "nil"),
      line(1, "invoke", "write", "3"),
      line(1, "ok", "write", "3"),
      line(2, "invoke", "cas", "[3 4]"),
      line(2, "ok", "cas", "[3 4]"),
      line(3, "invoke", "cas", "[1 2]"),
      line(3, "fail", "cas", "[1 2]"),
      line(4, "invoke", "read", "nil"),
      line(4, "fail", "read", ":timed-out"),
      line(0, "invoke", "write", "1"),
      line(0, "info", "write", ":timed-out"),
      line(5, "invoke", "cas", "[0 1]"),
    ].join("\n");
    expect(parseJepsenEtcdLog(log, { key: "r" })).toEqual([
      { process: 0, key: "r", input: { kind: "read" }, call: 1, outcome: "ok", output: { kind: "read", value: null }, returnTime: 2 },
      { process: 1, key: "r", input: { kind: "write", value: "3" }, call: 3, outcome: "ok", output: { kind: "write" }, returnTime: 4 },
      { process: 2, key: "r", input: { kind: "cas", expected: "3", value: "4" }, call: 5, outcome: "ok", output: { kind: "cas", succeeded: true }, returnTime: 6 },
      // A failed cas is an observation: the value was not 1 when it took effect.
      { process: 3, key: "r", input: { kind: "cas", expected: "1", value: "2" }, call: 7, outcome: "ok", output: { kind: "cas", succeeded: false }, returnTime: 8 },
      { process: 4, key: "r", input: { kind: "read" }, call: 9, outcome: "fail", returnTime: 10 },
      { process: 0, key: "r", input: { kind: "write", value: "1" }, call: 11, outcome: "unknown" },
      // Never completed: unknown.
      { process: 5, key: "r", input: { kind: "cas", expected: "0", value: "1" }, call: 13, outcome: "unknown" },
    ]);
  });

  test("accepts spaces instead of tabs, and blank lines", () => {
    const log = "INFO  jepsen.util - 17  :invoke :read   nil\n\nINFO  jepsen.util - 17  :ok     :read   3\n";
    expect(parseJepsenEtcdLog(log)).toMatchObject([{ process: 17, outcome: "ok", output: { kind: "read", value: "3" } }]);
  });

  test.each([
    ["a line that is not an operation", "hello", /line 1: not a Jepsen operation line/],
    ["a completion without an invocation", line(2, "ok", "read", "1"), /line 1: process 2 completes an operation it never invoked/],
    ["two open operations in one process", [line(2, "invoke", "read", "nil"), line(2, "invoke", "read", "nil")].join("\n"), /line 2: process 2 invokes while/],
    ["a completion of another function", [line(2, "invoke", "read", "nil"), line(2, "ok", "write", "1")].join("\n"), /line 2: .*invoked a read but completes a write/],
    ["malformed cas arguments", line(2, "invoke", "cas", "[1]"), /line 1: a cas needs \[expected new\]/],
    ["a write of nil", line(2, "invoke", "write", "nil"), /line 1: a write of nil/],
  ])("refuses %s", (_name, log, message) => {
    expect(() => parseJepsenEtcdLog(log, { source: "test.log" })).toThrow(HistoryError);
    expect(() => parseJepsenEtcdLog(log, { source: "test.log" })).toThrow(message);
  });
});

function readVerdicts(): [file: string, linearizable: boolean][] {
  const lines = readFileSync(join(TESTDATA, "verdicts.tsv"), "utf8").trim().split("\n");
  return lines.map((row) => {
    const [file, verdict] = row.split("\t");
    expect(["linearizable", "not-linearizable"]).toContain(verdict);
    return [file!, verdict === "linearizable"];
  });
}

describe("Jepsen's etcd histories", () => {
  const verdicts = readVerdicts();

  test("cover both verdicts", () => {
    expect(verdicts.length).toBeGreaterThan(60);
    expect(verdicts.filter(([, linearizable]) => linearizable).length).toBeGreaterThan(10);
    expect(verdicts.filter(([, linearizable]) => !linearizable).length).toBeGreaterThan(10);
  });

  test.each(verdicts)("%s: linearizable = %s", (file, linearizable) => {
    const history = parseJepsenEtcdLog(readFileSync(join(TESTDATA, file), "utf8"), { source: file });
    const result = checkKvHistory(history, { timeBudgetMs: 30_000 });
    expect(result.verdict, result.explanation).toBe(linearizable ? "ok" : "illegal");
  });
});
