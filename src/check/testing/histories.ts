/**
 * Histories for the checker's own tests: builders that keep hand-written cases short, a
 * generator of histories that really happened (a register applied at random points inside
 * each operation's interval), and a brute-force reference checker to hold the real one to.
 */
import { Rng } from "../../util/rng.js";
import type { HistoryOp, KvInput, KvOutput } from "../kv-model.js";

// ---------------------------------------------------------------------------------------
// Builders: `[call, returnTime]` intervals, one key unless given.

type Interval = readonly [call: number, returnTime: number];

function done(process: number, input: KvInput, output: KvOutput, [call, returnTime]: Interval, key: string): HistoryOp {
  return { process, key, input, call, outcome: "ok", output, returnTime };
}

export const op = {
  read: (process: number, value: string | null, interval: Interval, key = "x"): HistoryOp => done(process, { kind: "read" }, { kind: "read", value }, interval, key),
  write: (process: number, value: string, interval: Interval, key = "x"): HistoryOp => done(process, { kind: "write", value }, { kind: "write" }, interval, key),
  cas: (process: number, expected: string | null, value: string, succeeded: boolean, interval: Interval, key = "x"): HistoryOp =>
    done(process, { kind: "cas", expected, value }, { kind: "cas", succeeded }, interval, key),
  unknown: (process: number, input: KvInput, call: number, key = "x"): HistoryOp => ({ process, key, input, call, outcome: "unknown" }),
  failed: (process: number, input: KvInput, [call, returnTime]: Interval, key = "x"): HistoryOp => ({ process, key, input, call, outcome: "fail", returnTime }),
};

// ---------------------------------------------------------------------------------------
// Histories that happened.

export interface GeneratedHistoryOptions {
  ops: number;
  processes: number;
  /** Distinct values written; few values make histories ambiguous and the search harder. */
  values: number;
  /** Share of operations whose outcome is unknown (half of those took effect). */
  unknownRate: number;
  keys?: number;
}

/**
 * A history of registers that really behaved atomically: every operation takes effect at a
 * random instant inside its interval (unknown ones maybe never, maybe after they gave up), so
 * the history is linearizable by construction.
 */
export function generateLinearizableHistory(seed: number, options: GeneratedHistoryOptions): HistoryOp[] {
  const rng = new Rng(seed);
  const freeAt = new Array<number>(options.processes).fill(0);
  const planned: { op: HistoryOp; effectAt: number; takesEffect: boolean }[] = [];
  for (let i = 0; i < options.ops; i++) {
    const process = rng.int(0, options.processes);
    const call = freeAt[process]! + rng.int(0, 5);
    const returnTime = call + rng.int(1, 30);
    freeAt[process] = returnTime + 1;
    const unknown = rng.chance(options.unknownRate);
    const key = `k${rng.int(0, options.keys ?? 1)}`;
    const op: HistoryOp = { process, key, input: randomInput(rng, options.values), call, outcome: unknown ? "unknown" : "ok" };
    if (!unknown) op.returnTime = returnTime;
    planned.push({ op, effectAt: call + rng.float() * (returnTime - call) * (unknown ? 3 : 1), takesEffect: !unknown || rng.chance(0.5) });
  }
  planned.sort((a, b) => a.effectAt - b.effectAt);
  const values = new Map<string, string | null>();
  for (const { op, takesEffect } of planned) {
    if (!takesEffect) continue;
    const [output, next] = apply(op.input, values.get(op.key) ?? null);
    values.set(op.key, next);
    if (op.outcome === "ok") op.output = output;
  }
  return planned.map(({ op }) => op).sort((a, b) => a.call - b.call);
}

function randomInput(rng: Rng, values: number): KvInput {
  const value = (): string => String(rng.int(0, values));
  const roll = rng.float();
  if (roll < 0.5) return { kind: "read" };
  if (roll < 0.8) return { kind: "write", value: value() };
  return { kind: "cas", expected: rng.chance(0.1) ? null : value(), value: value() };
}

function apply(input: KvInput, current: string | null): [KvOutput, string | null] {
  switch (input.kind) {
    case "read":
      return [{ kind: "read", value: current }, current];
    case "write":
      return [{ kind: "write" }, input.value];
    case "cas":
      return current === input.expected ? [{ kind: "cas", succeeded: true }, input.value] : [{ kind: "cas", succeeded: false }, current];
  }
}

/**
 * A small history with arbitrary outputs (so about half are not linearizable), on one key:
 * the input of a differential test against bruteForceLinearizable.
 */
export function generateArbitraryHistory(rng: Rng, opsMax: number, unknownRate: number): HistoryOp[] {
  const count = rng.int(1, opsMax + 1);
  const processes = rng.int(1, 4);
  const freeAt = new Array<number>(processes).fill(0);
  const ops: HistoryOp[] = [];
  for (let i = 0; i < count; i++) {
    const process = rng.int(0, processes);
    const call = freeAt[process]! + rng.int(0, 3);
    const returnTime = call + rng.int(0, 6);
    freeAt[process] = returnTime + 1;
    const input = randomInput(rng, 2);
    if (rng.chance(unknownRate)) {
      ops.push({ process, key: "x", input, call, outcome: "unknown" });
    } else {
      const value = rng.chance(0.3) ? null : String(rng.int(0, 2));
      const output: KvOutput =
        input.kind === "read" ? { kind: "read", value } : input.kind === "write" ? { kind: "write" } : { kind: "cas", succeeded: rng.chance(0.5) };
      ops.push({ process, key: "x", input, call, outcome: "ok", output, returnTime });
    }
  }
  return ops;
}

// ---------------------------------------------------------------------------------------
// The reference: try every order that respects real time, with no cleverness at all.

/** Whether the single-key history is linearizable, by exhaustive enumeration (small histories only). */
export function bruteForceLinearizable(ops: readonly HistoryOp[]): boolean {
  const relevant = ops.filter((op) => op.outcome === "ok" || (op.outcome === "unknown" && op.input.kind !== "read"));
  const end = (op: HistoryOp): number => (op.outcome === "ok" ? op.returnTime! : Infinity);
  const placed = new Array<boolean>(relevant.length).fill(false);
  const explore = (value: string | null): boolean => {
    if (relevant.every((op, i) => placed[i] || op.outcome === "unknown")) return true;
    for (let i = 0; i < relevant.length; i++) {
      if (placed[i]) continue;
      const candidate = relevant[i]!;
      // Real time: nothing unplaced may have returned before this one was called.
      if (relevant.some((other, j) => !placed[j] && j !== i && end(other) < candidate.call)) continue;
      const [output, next] = apply(candidate.input, value);
      if (candidate.outcome === "ok" && JSON.stringify(output) !== JSON.stringify(candidate.output)) continue;
      placed[i] = true;
      const found = explore(next);
      placed[i] = false;
      if (found) return true;
    }
    return false;
  };
  return explore(null);
}
