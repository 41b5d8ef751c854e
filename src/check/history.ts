/**
 * Histories saved as JSONL, one operation a line, so a failing simulation or fault run can be
 * checked again, read by a person, or cut down by hand. Every line is validated on the way in.
 */
import { readFile, writeFile } from "node:fs/promises";
import { HistoryError } from "./errors.js";
import { validateHistoryOp, type HistoryOp } from "./kv-model.js";

/** One operation as one JSON line, fields in a fixed order so files diff cleanly. */
export function historyOpToJson(op: HistoryOp): string {
  return JSON.stringify({
    process: op.process,
    key: op.key,
    input: op.input,
    call: op.call,
    outcome: op.outcome,
    output: op.output,
    returnTime: op.returnTime,
  });
}

export function historyToJsonl(ops: readonly HistoryOp[]): string {
  return ops.map((op) => `${historyOpToJson(op)}\n`).join("");
}

export function historyFromJsonl(text: string, source = "history"): HistoryOp[] {
  const ops: HistoryOp[] = [];
  text.split("\n").forEach((line, index) => {
    if (line.trim() === "") return;
    const where = `${source} line ${index + 1}`;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (error) {
      throw new HistoryError(`${where}: not valid JSON (${(error as Error).message})`, { cause: error });
    }
    ops.push(validateHistoryOp(parsed, where));
  });
  return ops;
}

export async function saveHistory(path: string, ops: readonly HistoryOp[]): Promise<void> {
  await writeFile(path, historyToJsonl(ops), "utf8");
}

export async function loadHistory(path: string): Promise<HistoryOp[]> {
  return historyFromJsonl(await readFile(path, "utf8"), path);
}
