/**
 * Two figures for the membership work, measured on real processes on loopback:
 *
 *   (a) the time from `flotilla start --join` to "voter" for a node that has to catch up
 *       100,000 keys of 100 bytes (it receives a snapshot and the log after it);
 *   (b) the longest pause between acknowledged writes that clients see while a leader stopped
 *       with SIGTERM hands leadership over (several rounds, concurrent writers).
 *
 *   npm run build && node dist/e2e/measure-membership.js [--keys 100000] [--rounds 5] [--puts-per-write 128]
 *
 * Keys are loaded by concurrent transactions of --puts-per-write puts each (one log entry
 * each); --puts-per-write 1 writes one entry a key, so the log is compacted behind snapshots
 * and the joining node receives a snapshot first.
 *
 * Prints progress on stderr and one JSON object on stdout.
 */
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { ProcessCluster, sleep } from "./cluster.js";
import { longestClientPauseMs, longestPauseMs, startWorkload } from "./workload.js";

const LOADERS = 16;
const VALUE = "v".repeat(100);

const { values } = parseArgs({
  options: { keys: { type: "string", default: "100000" }, rounds: { type: "string", default: "5" }, "puts-per-write": { type: "string", default: "128" } },
});
const keys = Number(values.keys);
const rounds = Number(values.rounds);
const putsPerWrite = Number(values["puts-per-write"]);

function progress(message: string): void {
  process.stderr.write(`${new Date().toISOString()} ${message}\n`);
}

async function loadKeys(cluster: ProcessCluster, count: number): Promise<number> {
  const started = performance.now();
  let next = 0;
  let reported = 0;
  const loader = async (): Promise<void> => {
    const client = cluster.client(["n1", "n2", "n3"], { timeoutMs: 30_000 });
    for (;;) {
      const first = next;
      if (first >= count) return;
      next = Math.min(count, first + putsPerWrite);
      const success = [];
      for (let i = first; i < next; i++) success.push({ put: { key: `load/${String(i).padStart(7, "0")}`, value: VALUE } });
      if (success.length === 1) await client.put(success[0]!.put.key, VALUE);
      else await client.txn({ success });
      if (next - reported >= 10_000) {
        reported = next;
        progress(`loaded ${next} keys`);
      }
    }
  };
  await Promise.all(Array.from({ length: LOADERS }, loader));
  return performance.now() - started;
}

async function joinToVoter(cluster: ProcessCluster): Promise<{ readyMs: number; voterMs: number }> {
  const started = performance.now();
  await cluster.addJoiner("n4", [cluster.node("n1").clientAddress]);
  let readyMs = 0;
  const client = cluster.client(["n1", "n2", "n3"]);
  for (;;) {
    if (readyMs === 0 && (await fetch(`http://${cluster.node("n4").clientAddress}/readyz`).then((r) => r.status === 200, () => false))) readyMs = performance.now() - started;
    const member = (await client.members.list()).find((m) => m.id === "n4");
    if (member?.voter) return { readyMs, voterMs: performance.now() - started };
    if (!cluster.isRunning("n4")) throw new Error(`n4 exited:\n${cluster.node("n4").output}`);
    await sleep(20);
  }
}

/** Every member's client URL known (a cluster just bootstrapped records them within seconds). */
async function waitClientUrls(cluster: ProcessCluster): Promise<void> {
  for (;;) {
    const members = await cluster.client(["n1", "n2", "n3"]).members.list();
    if (members.every((m) => m.client !== "")) return;
    await sleep(100);
  }
}

async function handOffPause(cluster: ProcessCluster, ids: readonly string[]): Promise<{ pauseMs: number; clientPauseMs: number; writes: number }> {
  const workload = startWorkload({ endpoints: () => ids.map((id) => cluster.node(id).clientAddress), prefix: `handoff-${Date.now()}/`, workers: 8 });
  await sleep(1_500);
  const leader = await cluster.leader();
  const stoppedAt = performance.now();
  await cluster.stop(leader, "SIGTERM");
  await sleep(2_000);
  const endedAt = performance.now();
  const result = await workload.stop();
  // The same command again (a node with data ignores --bootstrap/--join, but n4 was never in the bootstrap list).
  cluster.launch(leader, leader === "n4" ? ["--join", cluster.node("n1").clientAddress] : undefined);
  await cluster.waitReady([leader]);
  return {
    pauseMs: Math.round(longestPauseMs(result.ackTimesMs, stoppedAt, endedAt)),
    clientPauseMs: Math.round(longestClientPauseMs(result, stoppedAt, endedAt)),
    writes: result.ackTimesMs.length,
  };
}

const cluster = await ProcessCluster.start(3);
try {
  await waitClientUrls(cluster);
  progress(`loading ${keys} keys of ${VALUE.length} bytes`);
  const loadMs = await loadKeys(cluster, keys);
  progress(`loaded in ${Math.round(loadMs)} ms; starting n4 with --join`);
  const join = await joinToVoter(cluster);
  progress(`n4 ready after ${Math.round(join.readyMs)} ms, voter after ${Math.round(join.voterMs)} ms`);
  const metrics = await cluster.client(["n4"]).metrics();
  const snapshotsInstalled = Number(/flotilla_snapshots_installed_total\{[^}]*\} (\d+)/.exec(metrics)?.[1] ?? "0");
  progress(`n4 installed ${snapshotsInstalled} snapshot(s)`);
  const last = await cluster.client(["n4"]).find(`load/${String(keys - 1).padStart(7, "0")}`, { consistency: "stale" });
  if (last === null) throw new Error("n4 is a voter but does not hold the last key loaded");
  const pauses = [];
  for (let round = 0; round < rounds; round++) {
    pauses.push(await handOffPause(cluster, ["n1", "n2", "n3", "n4"]));
    progress(`hand-off round ${round + 1}: longest pause between acknowledged writes ${pauses.at(-1)!.pauseMs} ms (any client), ${pauses.at(-1)!.clientPauseMs} ms (one client)`);
  }
  const sorted = pauses.map((p) => p.clientPauseMs).sort((a, b) => a - b);
  process.stdout.write(
    `${JSON.stringify({
      keys,
      valueBytes: VALUE.length,
      putsPerWrite,
      loadMs: Math.round(loadMs),
      joinToReadyMs: Math.round(join.readyMs),
      joinToVoterMs: Math.round(join.voterMs),
      snapshotsInstalled,
      handOffPausesAnyClientMs: pauses.map((p) => p.pauseMs),
      handOffPausesOneClientMs: pauses.map((p) => p.clientPauseMs),
      handOffPauseOneClientMaxMs: sorted.at(-1),
      handOffPauseOneClientMedianMs: sorted[Math.floor(sorted.length / 2)],
    })}\n`,
  );
} finally {
  await cluster.close();
}
