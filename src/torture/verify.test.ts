import { describe, expect, it } from "vitest";
import type { HistoryOp } from "../check/index.js";
import type { KeyValue, Status } from "../client/index.js";
import { findFailedWritesSeen, findLostWrites, judgeConvergence } from "./verify.js";
import type { OpRecord } from "./workload.js";

function record(op: HistoryOp, slot = 0, error?: string): OpRecord {
  return { op, slot, node: `n${slot + 1}`, endMs: op.returnTime ?? op.call + 5_000, ...(error === undefined ? {} : { error }) };
}

const write = (process: number, key: string, value: string, call: number, returnTime: number): OpRecord =>
  record({ process, key, input: { kind: "write", value }, call, outcome: "ok", output: { kind: "write" }, returnTime });

function kv(key: string, text: string): KeyValue {
  return { key, value: Buffer.from(text), createRevision: 1, modRevision: 1, version: 1, lease: 0, text };
}

describe("nothing acknowledged is missing", () => {
  it("an acknowledged write that began after the final value's write ended is lost", () => {
    const records = [write(0, "k0", "c0-1", 0, 10), write(1, "k0", "c1-1", 20, 30)];
    const lost = findLostWrites(records, new Map([["k0", kv("k0", "c0-1")]]), 1);
    expect(lost).toHaveLength(1);
    expect(lost[0]).toMatch(/k0 ends as "c0-1".*"c1-1"/);
  });

  it("concurrent writes may end either way, and an unknown write may take effect late", () => {
    const concurrent = [write(0, "k0", "c0-1", 0, 25), write(1, "k0", "c1-1", 20, 30)];
    expect(findLostWrites(concurrent, new Map([["k0", kv("k0", "c0-1")]]), 1)).toEqual([]);
    const late = [record({ process: 0, key: "k0", input: { kind: "write", value: "c0-1" }, call: 0, outcome: "unknown" }), write(1, "k0", "c1-1", 20, 30)];
    expect(findLostWrites(late, new Map([["k0", kv("k0", "c0-1")]]), 1)).toEqual([]);
  });

  it("a key absent at the end after an acknowledged write, a value nobody wrote, a failed write that took effect", () => {
    expect(findLostWrites([write(0, "k0", "c0-1", 0, 10)], new Map(), 1)[0]).toMatch(/k0 is absent at the end/);
    expect(findLostWrites([], new Map([["k0", kv("k0", "zzz")]]), 1)[0]).toMatch(/which no client wrote/);
    const failed = record({ process: 0, key: "k0", input: { kind: "write", value: "c0-1" }, call: 0, outcome: "fail", returnTime: 3 }, 0, "no_leader");
    expect(findLostWrites([failed], new Map([["k0", kv("k0", "c0-1")]]), 1)[0]).toMatch(/answered as not applied/);
  });

  it("finds reads that saw the value of a write answered 503", () => {
    const failed = record({ process: 0, key: "k0", input: { kind: "write", value: "c0-1" }, call: 0, outcome: "fail", returnTime: 3 }, 2, "no_leader");
    const read = record({ process: 1, key: "k0", input: { kind: "read" }, call: 10, outcome: "ok", output: { kind: "read", value: "c0-1" }, returnTime: 12 }, 1);
    const seen = findFailedWritesSeen([failed, read]);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatch(/saw "c0-1", whose write was answered no_leader/);
    expect(findFailedWritesSeen([failed])).toEqual([]);
  });
});

describe("convergence", () => {
  const member = (id: string, voter = true): Status["members"][number] => ({ id, peer: "p", client: "c", voter });
  const status = (id: string, role: Status["role"], applied: number, overrides: Partial<Status> = {}): Status => ({
    id,
    role,
    term: 3,
    leader: "n1",
    commitIndex: applied,
    appliedIndex: applied,
    members: [member("n1"), member("n2"), member("n3")],
    ...overrides,
  });

  it("holds when all answer, follow one leader, are the expected voters and applied the same index", () => {
    const verdict = judgeConvergence(["n1", "n2", "n3"], [status("n1", "leader", 9), status("n2", "follower", 9), status("n3", "follower", 9)]);
    expect(verdict).toMatchObject({ problem: undefined, applied: 9 });
  });

  it("names what is still missing", () => {
    const ids = ["n1", "n2", "n3"];
    expect(judgeConvergence(ids, [status("n1", "leader", 9), undefined, status("n3", "follower", 9)]).problem).toBe("n2 not answering");
    expect(judgeConvergence(ids, [status("n1", "follower", 9), status("n2", "follower", 9), status("n3", "follower", 9)]).problem).toBe("no leader");
    expect(judgeConvergence(ids, [status("n1", "leader", 9), status("n2", "follower", 8), status("n3", "follower", 9)]).problem).toMatch(/applied n1=9\/9 n2=8\/8/);
    const learner = { members: [member("n1"), member("n2"), member("n3", false)] };
    expect(judgeConvergence(ids, [status("n1", "leader", 9, learner), status("n2", "follower", 9), status("n3", "follower", 9)]).problem).toBe("n3 still learner(s)");
    const stale = { members: [member("n1"), member("n2"), member("n4")] };
    expect(judgeConvergence(ids, [status("n1", "leader", 9, stale), status("n2", "follower", 9), status("n3", "follower", 9)]).problem).toMatch(/members are n1,n2,n4, expected n1,n2,n3/);
    expect(judgeConvergence(ids, [status("n1", "leader", 9), status("n2", "follower", 9, { leader: "n3", term: 2 }), status("n3", "follower", 9)]).problem).toMatch(/n2 follows n3 in term 2/);
  });
});
