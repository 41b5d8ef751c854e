/**
 * What a node does with its recovered log and state machine before its replica starts, the
 * same whether they come from a data directory (boot.ts) or a simulated disk (src/sim).
 */
import { EntryType, decodeConfChange, type MemoryStorage } from "../raft/index.js";
import { decodeMemberContext } from "../kv/index.js";
import { NodeError } from "./api.js";
import type { NodeLogger, StateMachine } from "./ports.js";

/**
 * The state machine may be behind the log's snapshot (a crash while installing one) and the
 * durable commit index may be behind what the state machine applied (commit-only changes are
 * not fsync'd): bring both in line before the core starts.
 */
export function recoverStateMachine(kv: Pick<StateMachine, "appliedIndex" | "restore">, storage: MemoryStorage, logger: NodeLogger): void {
  const snapshot = storage.snapshot();
  if (snapshot.meta.index > kv.appliedIndex()) {
    logger.warn({ snapshot: snapshot.meta.index, applied: kv.appliedIndex() }, "restoring the state machine from the last snapshot");
    kv.restore(snapshot);
  }
  const applied = kv.appliedIndex();
  const hardState = storage.hardState();
  if (applied > storage.lastIndex()) {
    throw new NodeError("bad_request", `the state machine applied entry ${applied} but the write-ahead log ends at ${storage.lastIndex()}: the log lost acknowledged entries`);
  }
  if (applied > hardState.commit) storage.setHardState({ ...hardState, commit: applied });
}

/**
 * Addresses in membership changes this node logged but has not applied (a crash between the
 * two): the state machine does not know them yet, but the network must, or this node could
 * not answer the leader that is about to send it the commit index.
 */
export function peersInUnappliedLog(storage: MemoryStorage, kv: Pick<StateMachine, "appliedIndex">, self: string): Record<string, string> {
  const peers: Record<string, string> = {};
  for (const entry of storage.allEntries()) {
    if (entry.index <= kv.appliedIndex() || entry.type !== EntryType.ConfChange) continue;
    const change = decodeConfChange(entry.data);
    if (change.node !== self && change.context !== undefined && change.context.byteLength > 0) peers[change.node] = decodeMemberContext(change.context).peer;
  }
  return peers;
}
