/**
 * Reads Jepsen's logs of etcd tested as one compare-and-set register (testdata/jepsen-etcd/)
 * into Flotilla's history format, so the checker can be held to known verdicts on real data.
 *
 * Each line is `INFO  jepsen.util - PROCESS :TYPE :F VALUE`, separated by tabs or spaces. The
 * line number is the time. How each completion maps:
 * - `:ok`: the operation took effect, with that result.
 * - `:fail :cas`: the compare did not match when the cas took effect. That is an observation
 *   (outcome ok, succeeded=false), not an operation without effect: dropping it would lose it.
 * - `:fail` of a read or write: it had no effect (outcome fail).
 * - `:info`, or no completion at all: the outcome is unknown.
 */
import { HistoryError } from "./errors.js";
import type { HistoryOp, KvInput } from "./kv-model.js";

const LINE = /^INFO\s+jepsen\.util\s+-\s+(\d+)\s+:(invoke|ok|fail|info)\s+:(read|write|cas)\s+(.*?)\s*$/;
const CAS_ARGUMENTS = /^\[(\S+)\s+(\S+)\]$/;
const KEYWORD = /^:[\w-]+$/;

interface Event {
  readonly lineNumber: number;
  readonly process: number;
  readonly type: "invoke" | "ok" | "fail" | "info";
  readonly f: "read" | "write" | "cas";
  readonly value: string;
}

export interface JepsenParseOptions {
  /** The key every operation is on (the log is of a single register). */
  key?: string;
  /** Names the source in error messages, e.g. the file name. */
  source?: string;
}

/** Parses a Jepsen etcd register log; the register starts absent. */
export function parseJepsenEtcdLog(text: string, options: JepsenParseOptions = {}): HistoryOp[] {
  const key = options.key ?? "jepsen";
  const source = options.source ?? "jepsen log";
  const ops: HistoryOp[] = [];
  const pending = new Map<number, HistoryOp>();
  text.split("\n").forEach((line, index) => {
    if (line.trim() === "") return;
    const fail = (why: string): never => {
      throw new HistoryError(`${source} line ${index + 1}: ${why}: ${JSON.stringify(line.slice(0, 120))}`);
    };
    const event = parseLine(line, index + 1, fail);
    if (event.type === "invoke") {
      if (pending.has(event.process)) fail(`process ${event.process} invokes while its previous operation is still open`);
      const op: HistoryOp = { process: event.process, key, input: parseInvocation(event, fail), call: event.lineNumber, outcome: "unknown" };
      pending.set(event.process, op);
      ops.push(op);
      return;
    }
    const op = pending.get(event.process) ?? fail(`process ${event.process} completes an operation it never invoked`);
    if (op.input.kind !== event.f) fail(`process ${event.process} invoked a ${op.input.kind} but completes a ${event.f}`);
    pending.delete(event.process);
    complete(op, event, fail);
  });
  return ops;
}

function parseLine(line: string, lineNumber: number, fail: (why: string) => never): Event {
  const match = LINE.exec(line.trim()) ?? fail("not a Jepsen operation line");
  const process = Number(match[1]);
  if (!Number.isSafeInteger(process)) fail("process id out of range");
  return { lineNumber, process, type: match[2] as Event["type"], f: match[3] as Event["f"], value: match[4]! };
}

function parseValue(token: string, fail: (why: string) => never): string | null {
  if (token === "nil") return null;
  if (token === "" || KEYWORD.test(token) || /[[\]\s]/.test(token)) return fail(`${JSON.stringify(token)} is not a register value`);
  return token;
}

function parseInvocation(event: Event, fail: (why: string) => never): KvInput {
  switch (event.f) {
    case "read":
      return { kind: "read" };
    case "write":
      return { kind: "write", value: parseValue(event.value, fail) ?? fail("a write of nil") };
    case "cas": {
      const args = CAS_ARGUMENTS.exec(event.value) ?? fail("a cas needs [expected new]");
      return { kind: "cas", expected: parseValue(args[1]!, fail), value: parseValue(args[2]!, fail) ?? fail("a cas to nil") };
    }
  }
}

function complete(op: HistoryOp, event: Event, fail: (why: string) => never): void {
  const input = op.input;
  if (event.type === "info") return; // outcome stays unknown
  op.returnTime = event.lineNumber;
  if (event.type === "ok") {
    op.outcome = "ok";
    if (input.kind === "read") op.output = { kind: "read", value: parseValue(event.value, fail) };
    else if (input.kind === "write") op.output = { kind: "write" };
    else op.output = { kind: "cas", succeeded: true };
    return;
  }
  if (input.kind !== "cas") {
    op.outcome = "fail";
    return;
  }
  if (KEYWORD.test(event.value)) fail("a cas that failed with an error rather than a mismatch");
  op.outcome = "ok";
  op.output = { kind: "cas", succeeded: false };
}
