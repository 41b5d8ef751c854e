import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { PendingReads } from "./waiters.js";

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
