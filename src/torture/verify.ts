/**
 * After the faults: the cluster must come back together and tell one consistent story.
 *
 * 1. Convergence: every node answers, all agree on one leader and term, the membership is
 *    exactly the nodes in the slots (all voters), and every node has applied the same index.
 * 2. Final reads: every key is read through every node (linearizable reads, added to the
 *    history), so the check below covers the end state too.
 * 3. Same data at the same applied index: each node's whole store, read locally (stale) between
 *    two status calls that show the same applied index, is compared key by key.
 * 4. Nothing acknowledged is missing: the final value of a key must come from a write that was
 *    not superseded by an acknowledged one that began after it ended.
 * 5. The history, final reads included, is linearizable, key by key.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { checkKvHistory, type HistoryOp, type Verdict } from "../check/index.js";
import type { KeyValue, Status } from "../client/index.js";
import { TORTURE_CONVERGENCE_TIMEOUT_MS } from "./limits.js";
import type { TortureCluster } from "./processes.js";
import type { OpRecord, Workload } from "./workload.js";

/** Process ids of the final reads: one per slot, far above any client's. */
export const FINAL_READ_PROCESS_BASE = 1_000_000;
/** A node that exited during convergence is started again at most this often. */
const RESTART_INTERVAL_MS = 5_000;
/** Attempts at reading every node's store at one applied index before giving up. */
const SNAPSHOT_ATTEMPTS_MAX = 20;

export interface VerifyResult {
  converged: boolean;
  convergenceDetail: string;
  appliedIndex: number | undefined;
  /** Nodes whose data differs from the first node's at the same applied index, one line each. */
  divergence: string[];
  /** Acknowledged writes missing from the final state, one line each. */
  lostWrites: string[];
  /** Reads that saw a value whose write was answered as not applied (503), one line each. */
  failedWritesSeen: string[];
  linearizable: Verdict;
  checkExplanation: string | undefined;
  checkMs: number;
  opsChecked: number;
}

export async function verify(cluster: TortureCluster, workload: Workload, keys: number, checkBudgetMs: number): Promise<VerifyResult> {
  const convergence = await waitForConvergence(cluster);
  await finalReads(cluster, workload, keys);
  const snapshot = convergence.converged ? await readStores(cluster) : undefined;
  const divergence = snapshot === undefined ? [] : compareStores(cluster, snapshot);
  if (convergence.converged && snapshot === undefined) divergence.push("the nodes never held still at one applied index long enough to compare their data");
  const finalValues = snapshot?.stores[0] ?? finalValuesFromReads(workload.records);
  const lostWrites = findLostWrites(workload.records, finalValues, keys);
  const failedWritesSeen = findFailedWritesSeen(workload.records);
  const check = checkKvHistory(workload.history, { timeBudgetMs: checkBudgetMs });
  return {
    converged: convergence.converged,
    convergenceDetail: convergence.detail,
    appliedIndex: snapshot?.appliedIndex ?? convergence.appliedIndex,
    divergence,
    lostWrites,
    failedWritesSeen,
    linearizable: check.verdict,
    checkExplanation: check.explanation,
    checkMs: Math.round(check.elapsedMs),
    opsChecked: check.opsChecked,
  };
}

interface Convergence {
  converged: boolean;
  detail: string;
  appliedIndex: number | undefined;
}

export async function waitForConvergence(cluster: TortureCluster, timeoutMs = TORTURE_CONVERGENCE_TIMEOUT_MS): Promise<Convergence> {
  const deadline = Date.now() + timeoutMs;
  let lastRestartMs = Date.now();
  let detail = "no status yet";
  while (Date.now() < deadline) {
    if (Date.now() - lastRestartMs > RESTART_INTERVAL_MS) {
      cluster.heal();
      lastRestartMs = Date.now();
    }
    const statuses = await Promise.all(cluster.slots.map((slot) => cluster.status(slot.index, 2_000)));
    const verdict = judgeConvergence(cluster.slots.map((slot) => slot.id), statuses);
    if (verdict.leaderMembers !== undefined) {
      cluster.noteVoters(new Set(verdict.leaderMembers.filter((m) => m.voter).map((m) => m.id)));
      await cluster.reconcileRemovals(new Set(verdict.leaderMembers.map((m) => m.id)));
    }
    if (verdict.problem === undefined) return { converged: true, detail: `all ${statuses.length} nodes applied ${verdict.applied}`, appliedIndex: verdict.applied };
    detail = verdict.problem;
    await sleep(300);
  }
  return { converged: false, detail: `not converged within ${timeoutMs / 1000} s: ${detail}`, appliedIndex: undefined };
}

/** Why the cluster has not converged yet (undefined when it has), from every slot's status. */
export function judgeConvergence(
  ids: readonly string[],
  statuses: readonly (Status | undefined)[],
): { problem: string | undefined; applied: number | undefined; leaderMembers: Status["members"] | undefined } {
  const missing = ids.filter((_, i) => statuses[i] === undefined);
  const answered = statuses.filter((status): status is Status => status !== undefined);
  const leaderStatus = answered.find((status) => status.role === "leader");
  const leaderMembers = leaderStatus?.members;
  const fail = (problem: string): { problem: string; applied: undefined; leaderMembers: Status["members"] | undefined } => ({ problem, applied: undefined, leaderMembers });
  if (missing.length > 0) return fail(`${missing.join(", ")} not answering`);
  if (leaderStatus === undefined) return fail("no leader");
  const disagreeing = answered.filter((status) => status.leader !== leaderStatus.id || status.term !== leaderStatus.term);
  if (disagreeing.length > 0) return fail(`${disagreeing.map((s) => `${s.id} follows ${s.leader || "nobody"} in term ${s.term}`).join(", ")}; ${leaderStatus.id} leads term ${leaderStatus.term}`);
  const memberIds = leaderStatus.members.map((member) => member.id).sort();
  const expected = [...ids].sort();
  if (memberIds.join(",") !== expected.join(",")) return fail(`members are ${memberIds.join(",")}, expected ${expected.join(",")}`);
  const learners = leaderStatus.members.filter((member) => !member.voter).map((member) => member.id);
  if (learners.length > 0) return fail(`${learners.join(", ")} still learner(s)`);
  const applied = new Set(answered.map((status) => status.appliedIndex));
  const commits = new Set(answered.map((status) => status.commitIndex));
  if (applied.size !== 1 || commits.size !== 1 || answered[0]!.appliedIndex !== answered[0]!.commitIndex) {
    return fail(`applied ${answered.map((s) => `${s.id}=${s.appliedIndex}/${s.commitIndex}`).join(" ")}`);
  }
  return { problem: undefined, applied: answered[0]!.appliedIndex, leaderMembers };
}

async function finalReads(cluster: TortureCluster, workload: Workload, keys: number): Promise<void> {
  await Promise.all(
    cluster.slots.map(async (slot) => {
      for (let key = 0; key < keys; key++) await workload.run(FINAL_READ_PROCESS_BASE + slot.index, slot.index, `k${key}`, { kind: "read" });
    }),
  );
}

interface StoreSnapshot {
  appliedIndex: number;
  /** Per slot: key → kv, read locally at appliedIndex. */
  stores: Map<string, KeyValue>[];
}

async function readStores(cluster: TortureCluster): Promise<StoreSnapshot | undefined> {
  for (let attempt = 0; attempt < SNAPSHOT_ATTEMPTS_MAX; attempt++) {
    const snapshot = await readStoresOnce(cluster);
    if (snapshot !== undefined) return snapshot;
    await sleep(300);
  }
  return undefined;
}

async function readStoresOnce(cluster: TortureCluster): Promise<StoreSnapshot | undefined> {
  const before = await Promise.all(cluster.slots.map((slot) => cluster.status(slot.index, 2_000)));
  const stores = await Promise.all(cluster.slots.map((slot) => readStore(cluster, slot.index).catch(() => undefined)));
  const after = await Promise.all(cluster.slots.map((slot) => cluster.status(slot.index, 2_000)));
  const indexes = new Set([...before, ...after].map((status) => status?.appliedIndex));
  if (indexes.size !== 1 || indexes.has(undefined) || stores.some((store) => store === undefined)) return undefined;
  return { appliedIndex: before[0]!.appliedIndex, stores: stores as Map<string, KeyValue>[] };
}

async function readStore(cluster: TortureCluster, slot: number): Promise<Map<string, KeyValue>> {
  const store = new Map<string, KeyValue>();
  for await (const kv of cluster.client(slot).scan({ consistency: "stale" })) store.set(kv.key, kv);
  return store;
}

function compareStores(cluster: TortureCluster, snapshot: StoreSnapshot): string[] {
  const [reference, ...others] = snapshot.stores;
  const problems: string[] = [];
  others.forEach((store, i) => {
    const difference = firstDifference(reference!, store);
    if (difference !== undefined) {
      problems.push(`${cluster.slots[i + 1]!.id} differs from ${cluster.slots[0]!.id} at applied index ${snapshot.appliedIndex}: ${difference}`);
    }
  });
  return problems;
}

function firstDifference(a: Map<string, KeyValue>, b: Map<string, KeyValue>): string | undefined {
  const keys = [...new Set([...a.keys(), ...b.keys()])].sort();
  for (const key of keys) {
    const left = describeKv(a.get(key));
    const right = describeKv(b.get(key));
    if (left !== right) return `key ${JSON.stringify(key)} is ${right} there, ${left} here`;
  }
  return undefined;
}

function describeKv(kv: KeyValue | undefined): string {
  if (kv === undefined) return "absent";
  return `${JSON.stringify(kv.text)} (createRevision ${kv.createRevision}, modRevision ${kv.modRevision}, version ${kv.version})`;
}

/** The end state from the final reads, when the stores could not be compared. */
function finalValuesFromReads(records: readonly OpRecord[]): Map<string, KeyValue> | undefined {
  const values = new Map<string, string | null>();
  for (const record of records) {
    const { op } = record;
    if (op.process < FINAL_READ_PROCESS_BASE || op.outcome !== "ok" || op.output?.kind !== "read") continue;
    values.set(op.key, op.output.value);
  }
  if (values.size === 0) return undefined;
  const store = new Map<string, KeyValue>();
  for (const [key, value] of values) if (value !== null) store.set(key, { key, value: Buffer.from(value), createRevision: 0, modRevision: 0, version: 0, lease: 0, text: value });
  return store;
}

/**
 * Acknowledged writes the end state lost. For each key, the final value names the write that
 * made it (values are distinct). Every acknowledged write that began after that write had ended
 * must have been ordered after it, so it cannot have been overwritten by it: it is lost.
 */
export function findLostWrites(records: readonly OpRecord[], finalValues: ReadonlyMap<string, KeyValue> | undefined, keys: number): string[] {
  if (finalValues === undefined) return [];
  const writers = new Map<string, HistoryOp>();
  const acknowledged = new Map<string, HistoryOp[]>();
  for (const { op } of records) {
    if (op.input.kind === "read") continue;
    writers.set(op.input.value, op);
    const succeeded = op.outcome === "ok" && (op.output?.kind === "write" || (op.output?.kind === "cas" && op.output.succeeded));
    if (succeeded) acknowledged.set(op.key, [...(acknowledged.get(op.key) ?? []), op]);
  }
  const lost: string[] = [];
  for (let i = 0; i < keys; i++) {
    const key = `k${i}`;
    const acked = acknowledged.get(key) ?? [];
    const final = finalValues.get(key);
    if (final === undefined) {
      if (acked.length > 0) lost.push(`${key} is absent at the end, but ${acked.length} write(s) to it were acknowledged (the last: ${acked.at(-1)!.input.kind} ${valueOf(acked.at(-1)!)} at ${seconds(acked.at(-1)!.returnTime!)})`);
      continue;
    }
    const writer = writers.get(final.text);
    if (writer === undefined || writer.key !== key) {
      lost.push(`${key} ends as ${JSON.stringify(final.text)}, which no client wrote to it`);
      continue;
    }
    if (writer.outcome === "unknown") continue; // it may take effect at any time after its call
    if (writer.outcome === "fail" || (writer.output?.kind === "cas" && !writer.output.succeeded)) {
      lost.push(`${key} ends as ${JSON.stringify(final.text)}, but its ${writer.input.kind} was answered as not applied`);
      continue;
    }
    const later = acked.filter((op) => op.call > writer.returnTime!);
    if (later.length > 0) {
      lost.push(
        `${key} ends as ${JSON.stringify(final.text)} (written ${seconds(writer.call)}..${seconds(writer.returnTime!)}), so ${later.length} acknowledged write(s) that began after it are missing, the first: ${valueOf(later[0]!)} (${seconds(later[0]!.call)}..${seconds(later[0]!.returnTime!)})`,
      );
    }
  }
  return lost;
}

/** Reads that returned a value whose write was answered 503 or refused (api.md: not applied). */
export function findFailedWritesSeen(records: readonly OpRecord[]): string[] {
  const failed = new Map<string, OpRecord>();
  for (const record of records) if (record.op.outcome === "fail" && record.op.input.kind !== "read") failed.set(record.op.input.value, record);
  const seen: string[] = [];
  for (const { op, slot } of records) {
    if (op.outcome !== "ok" || op.output?.kind !== "read" || op.output.value === null) continue;
    const write = failed.get(op.output.value);
    if (write === undefined || seen.length >= 20) continue;
    seen.push(
      `a read of ${op.key} through slot ${slot} at ${seconds(op.call)} saw ${JSON.stringify(op.output.value)}, whose write was answered ${write.error} (not applied) at ${seconds(write.endMs)} through slot ${write.slot}`,
    );
    failed.delete(op.output.value);
  }
  return seen;
}

function valueOf(op: HistoryOp): string {
  return op.input.kind === "read" ? "" : JSON.stringify(op.input.value);
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(3)}s`;
}
