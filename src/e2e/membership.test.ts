/**
 * Membership with real `flotilla start` processes, through the public API only: growing and
 * shrinking under writes (history checked linearizable, no acknowledged write lost), removing
 * the leader, replacing a dead node, a restart that rejoins, a lagging node led by a member it
 * never heard of, the join token, a leader's hand-off
 * on SIGTERM, and discovery by cluster name over mDNS between network namespaces.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { checkKvHistory, type HistoryOp } from "../check/index.js";
import type { Member } from "../client/index.js";
import { CLI_PATH, freePort, ProcessCluster, sleep } from "./cluster.js";
import { namespacesUnavailable, openUniqueHostNetwork, type HostNetwork } from "../torture/netns.js";
import { longestClientPauseMs, longestPauseMs, startWorkload, type WorkloadResult } from "./workload.js";

const run = promisify(execFile);

let cluster: ProcessCluster | undefined;

afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

function addresses(ids: readonly string[]): string[] {
  return ids.map((id) => cluster!.node(id).clientAddress);
}

/** The members list as the leader sees it (any node forwards the request). */
async function members(via: readonly string[]): Promise<Member[]> {
  return cluster!.client(via).members.list();
}

/** Waits until the leader lists `id` as a voter (a joined learner is promoted once caught up). */
async function waitVoter(id: string, via: readonly string[], timeoutMs = 30_000): Promise<number> {
  const started = performance.now();
  for (;;) {
    const member = (await members(via).catch(() => [])).find((m) => m.id === id);
    if (member?.voter) return performance.now() - started;
    if (!cluster!.isRunning(id)) throw new Error(`${id} exited while joining:\n${cluster!.node(id).output}`);
    if (performance.now() - started > timeoutMs) throw new Error(`${id} not a voter within ${timeoutMs} ms: ${JSON.stringify(member)}\n${cluster!.node(id).output}`);
    await sleep(100);
  }
}

async function join(id: string, through: string, extraArgs: readonly string[] = []): Promise<void> {
  await cluster!.addJoiner(id, addresses([through]), extraArgs);
  await cluster!.waitReady([id]);
  await waitVoter(id, [through]);
}

/** Final linearizable reads of every register (a process of their own), then the checker's verdict. */
async function checkHistory(result: WorkloadResult, registerKeys: readonly string[], via: readonly string[]): Promise<void> {
  const client = cluster!.client(via);
  const history: HistoryOp[] = [...result.history];
  for (const key of registerKeys) {
    const call = performance.now();
    const found = await client.find(key);
    history.push({ process: 1_000_000, key, input: { kind: "read" }, call, outcome: "ok", output: { kind: "read", value: found?.text ?? null }, returnTime: performance.now() });
  }
  const verdict = checkKvHistory(history, { timeBudgetMs: 30_000 });
  expect(verdict.explanation ?? "", verdict.explanation).toBe("");
  expect(verdict.verdict).toBe("ok");
  expect(history.filter((op) => op.outcome === "ok" && op.input.kind === "write").length).toBeGreaterThan(20);
}

async function expectNoAcknowledgedWriteLost(result: WorkloadResult, prefix: string, via: readonly string[]): Promise<void> {
  const present = new Set<string>();
  for await (const kv of cluster!.client(via).scan({ prefix })) present.add(kv.key);
  expect(result.acknowledged.length).toBeGreaterThan(20);
  expect(result.acknowledged.filter((key) => !present.has(key))).toEqual([]);
}

describe("membership changes with real processes", () => {
  it("grows 1 → 3 → 5 under continuous writes, joining through different nodes, and shrinks 5 → 3: linearizable, nothing acknowledged lost", async () => {
    cluster = await ProcessCluster.start(1);
    const serving = ["n1"];
    const workload = startWorkload({ endpoints: () => addresses(serving), prefix: "grow/" });
    await sleep(300);
    for (const [id, through] of [["n2", "n1"], ["n3", "n2"], ["n4", "n3"], ["n5", "n1"]] as const) {
      await join(id, through);
      serving.push(id);
    }
    expect((await members(["n1"])).map((m) => [m.id, m.voter])).toEqual([["n1", true], ["n2", true], ["n3", true], ["n4", true], ["n5", true]]);
    // Shrink: clients stop using a node before it leaves; the request goes through another node.
    for (const [id, through] of [["n5", "n4"], ["n4", "n2"]] as const) {
      serving.splice(serving.indexOf(id), 1);
      await cluster.client([through]).members.remove(id);
      await cluster.stop(id, "SIGTERM");
    }
    await sleep(300);
    const result = await workload.stop();
    expect((await members(["n1", "n2", "n3"])).map((m) => [m.id, m.voter])).toEqual([["n1", true], ["n2", true], ["n3", true]]);
    await checkHistory(result, workload.registerKeys, ["n1", "n2", "n3"]);
    await expectNoAcknowledgedWriteLost(result, "grow/log/", ["n1", "n2", "n3"]);
  });

  it("removes the leader: another node leads and serves; the removed node says so in one line and exits", async () => {
    cluster = await ProcessCluster.start(3);
    await cluster.client().put("before", "1");
    const removed = await cluster.leader();
    const rest = ["n1", "n2", "n3"].filter((id) => id !== removed);
    // Asked of a follower, carried to the leader, which removes itself: the answer still arrives.
    await cluster.client([rest[0]!]).members.remove(removed);
    await cluster.client(rest).put("after", "2");
    const list = await members(rest);
    expect(list.map((m) => m.id)).toEqual(rest);
    const leader = list.find((m) => m.role === "leader")?.id;
    expect(rest).toContain(leader);
    expect(await cluster.node(removed).exit).toBe(0);
    expect(cluster.node(removed).output).toMatch(/this node \(n\d\) was removed from the cluster: its removal was applied here; stopped/);
    await cluster.client(rest).put("still", "3");
  });

  it("a member removed while it was down learns it from its peers when it comes back, says so and exits, without disturbing the cluster", async () => {
    cluster = await ProcessCluster.start(3);
    await cluster.client().put("before", "1");
    const leader = await cluster.leader();
    const away = ["n1", "n2", "n3"].find((id) => id !== leader)!;
    const rest = ["n1", "n2", "n3"].filter((id) => id !== away);
    await cluster.stop(away, "SIGKILL");
    await cluster.client(rest).members.remove(away);
    const term = (await cluster.client(rest).status()).term;
    cluster.launch(away);
    expect(await cluster.node(away).exit).toBe(0);
    expect(cluster.node(away).output).toMatch(/was removed from the cluster: n\d refused it as a removed member; stopped/);
    expect((await cluster.client(rest).status()).term).toBe(term);
    await cluster.client(rest).put("after", "2");
  });

  it("a start that cannot take its client port changes no cluster: no ghost member after --join, no cluster founded by --bootstrap", async () => {
    cluster = await ProcessCluster.start(3);
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", () => resolve()));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      const dataDir = path.join(cluster.root, "late");
      const joining = await cli(["start", "--id", "late", "--data", dataDir, "--client", `127.0.0.1:${port}`, "--peer", `127.0.0.1:${await freePort()}`, "--join", addresses(["n1"]).join(",")]);
      expect(joining.code).toBe(1);
      expect(joining.stderr).toMatch(/cannot listen for clients on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
      expect((await members(["n1"])).map((m) => m.id).sort()).toEqual(["n1", "n2", "n3"]);
      expect(fs.existsSync(path.join(dataDir, "identity.json"))).toBe(false);
      const founding = path.join(cluster.root, "founder");
      const peer = `127.0.0.1:${await freePort()}`;
      const bootstrapping = await cli(["start", "--id", "f1", "--data", founding, "--client", `127.0.0.1:${port}`, "--peer", peer, "--bootstrap", `f1=${peer}`]);
      expect(bootstrapping.code).toBe(1);
      expect(fs.existsSync(path.join(founding, "identity.json"))).toBe(false);
      expect(fs.existsSync(path.join(founding, "wal")) && fs.readdirSync(path.join(founding, "wal")).length > 0 ? fs.readdirSync(path.join(founding, "wal")) : []).toEqual([]);
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
  });

  it("replaces a dead node with the CLI, as the README says; a change that would leave no reachable quorum is refused", async () => {
    cluster = await ProcessCluster.start(3);
    for (let i = 0; i < 50; i++) await cluster.client().put(`data/${i}`, `v${i}`);
    await cluster.stop("n3", "SIGKILL");
    const endpoints = `--endpoints=${addresses(["n1", "n2"]).join(",")}`;
    await waitUntil(async () => ((await members(["n1", "n2"])).find((m) => m.id === "n3")?.lastContactMs ?? 0) > 2_500, "the leader notices n3 is gone");
    const refused = await cli(["members", "remove", "n2", endpoints]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/refused: after this change only 1 of 2 voters would be reachable, fewer than a quorum \(2\) \(conflict\)/);
    expect((await cli(["members", "remove", "n3", endpoints])).code).toBe(0);
    await cluster.addJoiner("n4", addresses(["n2"]));
    await waitVoter("n4", ["n1"]);
    const table = (await cli(["members", "list", "--table", endpoints])).stdout.split("\n");
    expect(table[0]).toMatch(/^ID +ROLE +VOTER +PEER +CLIENT +MATCH +LAG +LAST-CONTACT-MS$/);
    expect(table.filter((line) => /^n[124] +(leader|follower) +yes /.test(line))).toHaveLength(3);
    expect(table.some((line) => line.startsWith("n3"))).toBe(false);
    // n4 is a full voter: without n1, n2 and n4 still form a quorum, and n4 has every key.
    await cluster.stop("n1", "SIGKILL");
    await cluster.client(["n2", "n4"]).put("after-replacement", "ok");
    const local = cluster.client(["n4"]);
    await waitUntil(async () => (await local.range({ prefix: "data/", consistency: "stale", limit: 100 })).kvs.length === 50, "n4 holds all the data");
  });

  it("a node that restarts with the same id and --join rejoins: no duplicate member, no error; one that moved updates its addresses", async () => {
    cluster = await ProcessCluster.start(3);
    await join("n4", "n1");
    const before = (await members(["n1"])).find((m) => m.id === "n4")!;
    await cluster.stop("n4", "SIGKILL");
    await cluster.client(["n1", "n2", "n3"]).put("while-down", "1");
    cluster.launch("n4", ["--join", addresses(["n2"]).join(",")]); // the very same command again
    await cluster.waitReady(["n4"]);
    const local = cluster.client(["n4"]);
    await waitUntil(async () => (await local.find("while-down", { consistency: "stale" }))?.text === "1", "n4 catches up");
    const after = await members(["n1"]);
    expect(after.filter((m) => m.id === "n4")).toEqual([expect.objectContaining({ peer: before.peer, client: before.client, voter: true })]);
    expect(after).toHaveLength(4);
    expect(cluster.node("n4").output).not.toMatch(/"level":(50|60)/);

    await cluster.stop("n4", "SIGTERM");
    const moved = cluster.relocate("n4", { clientAddress: `127.0.0.1:${await freePort()}`, peerAddress: `127.0.0.1:${await freePort()}` });
    cluster.launch("n4", ["--join", addresses(["n3"]).join(",")]);
    await waitUntil(async () => (await members(["n1"])).some((m) => m.id === "n4" && m.peer === moved.peerAddress && m.client === `http://${moved.clientAddress}`), "the cluster learns n4's new addresses");
    await cluster.client(["n1"]).put("after-move", "2");
    await waitUntil(async () => (await cluster!.client(["n4"]).find("after-move", { consistency: "stale" }))?.text === "2", "n4 replicates at its new address");
    expect((await members(["n2"])).filter((m) => m.id === "n4")).toHaveLength(1);
  });

  it("a node that was down while a member joined catches up once that member leads: it learns the address from the others", async () => {
    cluster = await ProcessCluster.start(3, { extraArgs: ["--log-level", "info"] });
    await cluster.stop("n3", "SIGKILL");
    await join("n4", "n1");
    await cluster.client(["n1"]).transferLeader("n4");
    await waitUntil(async () => (await cluster!.client(["n1"]).status()).leader === "n4", "n4 leads");
    await cluster.client(["n4"]).put("after-join", "1");
    // n3's log and state machine know n1 and n2 only: without n4's address it could not answer
    // n4's appends, and n4 could never bring it up to the change that adds n4.
    cluster.launch("n3");
    await waitUntil(async () => (await cluster!.client(["n3"]).find("after-join", { consistency: "stale" }))?.text === "1", "n3 catches up", 30_000);
    expect(cluster.node("n3").output).toMatch(/"peer":"n4".*learned the address of a member added while this node lagged/);
    expect(cluster.node("n3").output).not.toMatch(/"level":(50|60)/);
  });

  it("with a join token, a node without it or with another one is refused, and a node with it joins", async () => {
    cluster = await ProcessCluster.start(3, { extraArgs: ["--join-token", "tok-1"] });
    const response = await fetch(`http://${cluster.node("n1").clientAddress}/v1/members`, { method: "POST", body: JSON.stringify({ id: "x1", peer: "127.0.0.1:1" }) });
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ code: "forbidden" });
    await cluster.addJoiner("x2", addresses(["n2"]), ["--join-token", "guessed"]);
    expect(await cluster.node("x2").exit).toBe(1);
    expect(cluster.node("x2").output).toMatch(/refused to let x2 join: .*403.*join token/);
    expect((await members(["n1"])).map((m) => m.id)).toEqual(["n1", "n2", "n3"]);
    await cluster.addJoiner("n4", addresses(["n2"]));
    await waitVoter("n4", ["n3"]);
  });

  it("a leader stopped with SIGTERM hands leadership to a caught-up voter before it exits: no election timeout", async () => {
    cluster = await ProcessCluster.start(3, { extraArgs: ["--log-level", "info"] });
    const old = await cluster.leader();
    const { term } = await cluster.client([old]).status();
    const rest = ["n1", "n2", "n3"].filter((id) => id !== old);
    const workload = startWorkload({ endpoints: () => addresses(["n1", "n2", "n3"]), prefix: "handoff/", workers: 4 });
    await sleep(1_000);
    const stoppedAt = performance.now();
    expect(await cluster.stop(old, "SIGTERM")).toBe(0);
    await sleep(1_500);
    const result = await workload.stop();
    expect(cluster.node(old).output).toContain("handed leadership over before stopping");
    // One term more, elected while the old leader was still there to hand over: no timeout ran out.
    const status = await cluster.client(rest).status();
    expect(rest).toContain(status.leader);
    expect(status.term).toBe(term + 1);
    // Reported, not asserted: timing depends on the machine; what is asserted is that no election timed out.
    const until = performance.now() - 1_000;
    console.log(`hand-off: longest pause between acknowledged writes ${Math.round(longestPauseMs(result.ackTimesMs, stoppedAt, until))} ms (any client), ${Math.round(longestClientPauseMs(result, stoppedAt, until))} ms (one client)`);
    expect(result.acknowledged.length).toBeGreaterThan(10);
  });
});

const lanProblem = namespacesUnavailable({ iptables: false });
if (lanProblem) console.warn(`skipping discovery over mDNS: ${lanProblem}`);

describe.skipIf(lanProblem !== undefined)("discovery by cluster name (mDNS between network namespaces)", () => {
  let lan: HostNetwork | undefined;

  afterEach(async () => {
    await cluster?.close();
    cluster = undefined;
    lan?.destroy();
    lan = undefined;
  });

  it("three nodes given only a cluster name form one cluster; a fourth joins it; a stranger without the token stays out", async () => {
    lan = openUniqueHostNetwork(5);
    cluster = ProcessCluster.empty({ extraArgs: ["--discover", "lab", "--log-level", "info"] });
    const hosts = new Map(["n1", "n2", "n3", "n4", "x9"].map((id, i) => [id, lan!.hosts[i]!]));
    for (const [id, host] of hosts) await cluster.addNode(id, { clientAddress: `${host.address}:7379`, peerAddress: `${host.address}:7380`, wrapper: host.wrapper });
    for (const id of ["n1", "n2", "n3"]) cluster.launch(id, ["--expect", "3", "--join-token", "lab-secret"]);
    await cluster.waitReady(["n1", "n2", "n3"]);
    const statuses = await Promise.all(["n1", "n2", "n3"].map((id) => cluster!.client([id]).status()));
    expect(new Set(statuses.map((status) => status.clusterId)).size).toBe(1);
    expect((await members(["n1"])).map((m) => [m.id, m.voter])).toEqual([["n1", true], ["n2", true], ["n3", true]]);
    await cluster.client(["n2"]).put("found", "by name");

    cluster.launch("x9", ["--join-token", "not-the-secret"]);
    cluster.launch("n4", ["--join-token", "lab-secret"]);
    await waitVoter("n4", ["n3"]);
    expect((await cluster.client(["n4"]).get("found")).text).toBe("by name");
    expect(cluster.isRunning("x9")).toBe(true);
    expect((await members(["n1"])).map((m) => m.id)).toEqual(["n1", "n2", "n3", "n4"]);
    expect(cluster.node("x9").output).toMatch(/"reason":"record not signed with this cluster's join token".*"msg":"ignoring a discovery record"/);
  });
});

async function waitUntil(condition: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(100);
  }
}

async function cli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI_PATH, ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}
