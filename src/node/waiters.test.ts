import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { NodeError } from "./api.js";
import { PendingReads, PendingWrites } from "./waiters.js";

/** A write this follower forwarded: settles when `writes` settles or refuses `requestId`. */
function forwarded(writes: PendingWrites, requestId: string): Promise<unknown> {
  return new Promise((resolve, reject) => writes.addForwarded(requestId, { resolve, reject, deadline: Date.now() + 60_000 }));
}

describe("pending linearizable reads", () => {
  it("never reuse a read context across restarts, so a late answer to an earlier life is ignored", async () => {
    const before = new PendingReads(10, randomUUID());
    const { context: old } = before.add(Date.now() + 60_000);
    // The node restarts: a new PendingReads, a new read, and the leader's late answer to `old`.
    const after = new PendingReads(10, randomUUID());
    const { context, ready } = after.add(Date.now() + 60_000);
    expect(context).not.toBe(old);
    after.confirm(old, 5, 5);
    let served = false;
    void ready.then(() => (served = true));
    await Promise.resolve();
    expect(served).toBe(false);
    after.confirm(context, 7, 7);
    await ready;
  });

  it("serves a read once its confirmed index is applied", async () => {
    const reads = new PendingReads(10, "boot");
    const { context, ready } = reads.add(Date.now() + 60_000);
    reads.confirm(context, 9, 3);
    let served = false;
    void ready.then(() => (served = true));
    reads.applied(8);
    await Promise.resolve();
    expect(served).toBe(false);
    reads.applied(9);
    await ready;
    expect(reads.size).toBe(0);
  });
});

describe("pending writes forwarded to the leader", () => {
  const put = { kind: "put", revision: 7, key: "k", modRevision: 7, version: 1 } as const;
  const settled = async (promise: Promise<unknown>): Promise<string> => {
    const outcome = await Promise.race([promise.then(() => "resolved", (error: { code: string }) => error.code), Promise.resolve().then(() => Promise.resolve("pending"))]);
    return outcome;
  };

  it("settles by request id when the entry applies, even before the leader's answer", async () => {
    const writes = new PendingWrites(10);
    const done = forwarded(writes, "n2.a.1");
    writes.settle(5, 2, "n2.a.1", () => put);
    await expect(done).resolves.toEqual(put);
    writes.bind("n2.a.1", 5, 2, 5, 0); // the late answer changes nothing
    expect(writes.size).toBe(0);
  });

  it("is certainly not applied when another entry applies at the position the leader gave it", async () => {
    const writes = new PendingWrites(10);
    const done = forwarded(writes, "n2.a.1");
    writes.bind("n2.a.1", 5, 2, 3, 0);
    expect(await settled(done)).toBe("pending");
    writes.settle(5, 3, "n3.b.9", () => put);
    expect(await settled(done)).toBe("no_leader");
    expect(writes.size).toBe(0);
  });

  it("is unknown when its position was covered by a snapshot this node installed", async () => {
    const writes = new PendingWrites(10);
    const done = forwarded(writes, "n2.a.1");
    writes.bind("n2.a.1", 5, 2, 9, 9);
    expect(await settled(done)).toBe("unknown_outcome");
  });

  it("rejects with the leader's refusal and counts every write once", async () => {
    const writes = new PendingWrites(2);
    const refused = forwarded(writes, "n2.a.1");
    const bound = forwarded(writes, "n2.a.2");
    writes.bind("n2.a.2", 6, 2, 3, 0);
    expect(writes.hasRoom()).toBe(false);
    writes.refuse("n2.a.1", new NodeError("overloaded", "full"));
    expect(await settled(refused)).toBe("overloaded");
    expect(writes.size).toBe(1);
    writes.expire(Date.now() + 120_000);
    expect(await settled(bound)).toBe("unknown_outcome");
    expect(writes.size).toBe(0);
  });
});
