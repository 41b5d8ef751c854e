import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { openNode, type NodeOptions, type RunningNode } from "./node.js";
import { subscribeTrace, type TraceEvent } from "./trace.js";
import { freePort } from "./testing/ports.js";

const logger = pino({ level: "silent" });
const running: RunningNode[] = [];
const encoder = new TextEncoder();

afterEach(async () => {
  await Promise.all(running.splice(0).map((node) => node.close()));
});

async function cluster(size: number, dir: string, options: Partial<NodeOptions> = {}): Promise<RunningNode[]> {
  const ids = Array.from({ length: size }, (_, i) => `n${i + 1}`);
  const ports = await Promise.all(ids.map(() => freePort()));
  const bootstrap = Object.fromEntries(ids.map((id, i) => [id, `127.0.0.1:${ports[i]}`]));
  const nodes = await Promise.all(
    ids.map((id, i) =>
      openNode({ id, dataDir: path.join(dir, id), peerListen: `127.0.0.1:${ports[i]}`, clientUrl: `http://127.0.0.1:${9000 + i}`, bootstrap, logger, tickMs: 20, ...options }),
    ),
  );
  running.push(...nodes);
  return nodes;
}

async function leaderOf(nodes: RunningNode[]): Promise<RunningNode> {
  for (let i = 0; i < 200; i++) {
    const leader = nodes.find((n) => n.status().role === "leader");
    if (leader) return leader;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error("no leader");
}

describe("node", () => {
  it("replicates writes across three nodes and serves linearizable reads on every node", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "flotilla-node-"));
    const nodes = await cluster(3, dir);
    const leader = await leaderOf(nodes);
    const put = await leader.write({ type: "put", payload: { key: "k", value: encoder.encode("v1") } });
    expect(put).toMatchObject({ kind: "put", key: "k", version: 1 });
    for (const node of nodes) {
      const got = await node.get("k");
      expect(Buffer.from(got.kv!.value).toString()).toBe("v1");
    }
  });

  it("forwards a follower's write to the leader and answers it from the follower's own state", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "flotilla-node-"));
    const nodes = await cluster(3, dir);
    const leader = await leaderOf(nodes);
    await leader.write({ type: "put", payload: { key: "k", value: encoder.encode("v1") } });
    const follower = nodes.find((n) => n !== leader)!;
    const put = await follower.write({ type: "put", payload: { key: "k", value: encoder.encode("v2") } });
    expect(put).toMatchObject({ kind: "put", key: "k", version: 2 });
    // Answered once applied on the follower itself: a stale read there already sees it.
    expect(Buffer.from((await follower.get("k", { consistency: "stale" })).kv!.value).toString()).toBe("v2");
    expect(Buffer.from((await leader.get("k")).kv!.value).toString()).toBe("v2");
    expect(await follower.metrics()).toMatch(/flotilla_forwarded_writes_total\S* 1/);
    // Every node timed its WAL appends and its apply batches.
    for (const node of nodes) {
      const text = await node.metrics();
      expect(Number(/flotilla_wal_append_duration_seconds_count\S* (\d+)/.exec(text)?.[1])).toBeGreaterThan(0);
      expect(Number(/flotilla_apply_duration_seconds_count\S* (\d+)/.exec(text)?.[1])).toBeGreaterThan(0);
    }
    // Without forwarding, a follower names the leader instead.
    await expect(follower.write({ type: "put", payload: { key: "k", value: encoder.encode("x") } }, { forward: false })).rejects.toMatchObject({ code: "not_leader" });
  });

  it("checkpoints each node's SQLite WAL on a background thread, and times it in /metrics", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "flotilla-node-"));
    const nodes = await cluster(3, dir);
    const leader = await leaderOf(nodes);
    for (let i = 0; i < 20; i++) await leader.write({ type: "put", payload: { key: `k${i}`, value: encoder.encode("v") } });
    const checkpoints = async (node: RunningNode): Promise<number> => Number(/flotilla_kv_checkpoint_duration_seconds_count\S* (\d+)/.exec(await node.metrics())?.[1] ?? 0);
    // KV_BACKGROUND_CHECKPOINT_INTERVAL_MS is a second: every node's thread has run within a few.
    for (let i = 0; i < 100 && (await Promise.all(nodes.map(checkpoints))).some((count) => count === 0); i++) await new Promise((r) => setTimeout(r, 50));
    for (const node of nodes) expect(await checkpoints(node)).toBeGreaterThan(0);
  });

  it("without the checkpoint thread (backgroundCheckpoints: false) serves the same, and no thread checkpoints", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "flotilla-node-"));
    const nodes = await cluster(3, dir, { backgroundCheckpoints: false });
    const leader = await leaderOf(nodes);
    for (let i = 0; i < 20; i++) await leader.write({ type: "put", payload: { key: `k${i}`, value: encoder.encode("v") } });
    // Longer than KV_BACKGROUND_CHECKPOINT_INTERVAL_MS: a running thread would have checkpointed.
    await new Promise((r) => setTimeout(r, 1500));
    for (const node of nodes) {
      expect(await node.metrics()).toMatch(/flotilla_kv_checkpoint_duration_seconds_count\S* 0\b/);
      expect((await node.get("k19", { consistency: "stale" })).kv?.version).toBe(1);
    }
  });

  it("answers a follower's writes while leadership moves: refused by the old leader, forwarded again to the new one", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "flotilla-node-"));
    const nodes = await cluster(3, dir);
    const leader = await leaderOf(nodes);
    const [writer, target] = nodes.filter((n) => n !== leader) as [RunningNode, RunningNode];
    await writer.write({ type: "put", payload: { key: "k", value: encoder.encode("0") } });
    // Writes keep arriving at the follower while the leader hands over to the other follower.
    const writes: Promise<unknown>[] = [];
    const moving = leader.transferLeadership(target.id);
    for (let i = 1; i <= 40; i++) {
      writes.push(writer.write({ type: "put", payload: { key: "k", value: encoder.encode(String(i)) } }));
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    expect(await moving).toEqual({ leader: target.id });
    const outcomes = await Promise.allSettled(writes);
    expect(outcomes.filter((o) => o.status === "rejected").map((o) => (o as PromiseRejectedResult).reason.message)).toEqual([]);
    const versions = outcomes.map((o) => (o as PromiseFulfilledResult<{ version: number }>).value.version);
    expect(new Set(versions).size).toBe(40); // each applied exactly once
    expect((await target.get("k")).kv!.version).toBe(41);
  });

  it("publishes the steps of a write on the trace channel while someone listens, and nothing otherwise", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "flotilla-node-"));
    const nodes = await cluster(3, dir);
    const leader = await leaderOf(nodes);
    const seen: TraceEvent[] = [];
    const unsubscribe = subscribeTrace((event) => seen.push(event));
    const put = await leader.write({ type: "put", payload: { key: "traced", value: encoder.encode("v") } });
    unsubscribe();
    expect(put.kind).toBe("put");
    const proposed = seen.find((event) => event.step === "proposed" && event.node === leader.id);
    expect(proposed).toBeDefined();
    const index = proposed!.last!;
    const about = (event: TraceEvent): boolean => (event.first ?? 0) <= index && index <= (event.last ?? 0);
    const steps = new Set(seen.filter(about).map((event) => `${event.node}:${event.step}`));
    for (const step of ["ready", "append-sent", "log-sync-start", "log-sync-end", "committed", "applied"]) expect(steps).toContain(`${leader.id}:${step}`);
    const follower = nodes.find((node) => node !== leader)!;
    for (const step of ["append-received", "log-sync-end"]) expect(steps).toContain(`${follower.id}:${step}`);
    expect(seen.every((event, i) => i === 0 || event.at >= seen[i - 1]!.at - 1)).toBe(true); // one clock for the processes of a machine
    const after = seen.length;
    await leader.write({ type: "put", payload: { key: "traced", value: encoder.encode("w") } });
    expect(seen).toHaveLength(after);
  });

  it("carries membership changes, transfers and the members view from a follower to the leader over the peer connection", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "flotilla-node-"));
    const nodes = await cluster(3, dir);
    const leader = await leaderOf(nodes);
    const [follower, other] = nodes.filter((n) => n !== leader) as [RunningNode, RunningNode];
    // The leader's view, with each member's progress, asked of a follower.
    const view = await follower.leaderMembers();
    expect(view.map((m) => m.id).sort()).toEqual(["n1", "n2", "n3"]);
    expect(view.every((m) => m.matchIndex !== undefined && m.lag !== undefined)).toBe(true);
    expect(follower.members().every((m) => m.matchIndex === undefined)).toBe(true); // its own view has none
    const added = await follower.addMember({ id: "n9", peer: "127.0.0.1:1", learner: true });
    expect(added.find((m) => m.id === "n9")).toMatchObject({ voter: false, role: "learner" });
    await expect(follower.promoteMember("n9")).rejects.toMatchObject({ code: "conflict", message: expect.stringMatching(/n9 is not caught up yet/) });
    expect((await follower.removeMember("n9")).map((m) => m.id)).not.toContain("n9");
    expect(await follower.transferLeadership(other.id)).toEqual({ leader: other.id });
    expect((await leaderOf(nodes)).id).toBe(other.id);
  });

  it("a stopping leader hands leadership to a voter it heard from recently, not to one that is gone", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "flotilla-node-"));
    const lines: Record<string, unknown>[] = [];
    const recorder = pino({ level: "info" }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const nodes = await cluster(3, dir, { logger: recorder });
    const leader = await leaderOf(nodes);
    // Once every member's addresses are recorded, nothing more is written: the followers stay equally caught up.
    for (let i = 0; i < 250 && leader.members().some((m) => m.client === "" || m.lag !== 0); i++) await new Promise((r) => setTimeout(r, 20));
    await leader.write({ type: "put", payload: { key: "k", value: encoder.encode("v") } });
    for (let i = 0; i < 250 && leader.members().some((m) => m.lag !== 0); i++) await new Promise((r) => setTimeout(r, 20));
    expect(leader.members().map((m) => m.lag)).toEqual([0, 0, 0]);
    // Equally caught up, the first follower in id order is the one a choice by lag alone picks: it goes away.
    const [gone, alive] = nodes.filter((n) => n !== leader).sort((a, b) => (a.id < b.id ? -1 : 1)) as [RunningNode, RunningNode];
    await gone.close();
    running.splice(running.indexOf(gone), 1);
    await new Promise((r) => setTimeout(r, 20 * 10 * 3)); // three election timeouts of silence (tick 20 ms, 10 ticks)
    const started = performance.now();
    await leader.close();
    running.splice(running.indexOf(leader), 1);
    expect(lines.find((line) => line.msg === "handed leadership over before stopping" && line.node === leader.id)).toMatchObject({ to: alive.id });
    expect(alive.status().role).toBe("leader");
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});
