/**
 * The replica on hand-made ports (a disk that fails, a network with no peers, an in-memory
 * state machine, real time): what it does when a port misbehaves, checked without processes.
 */
import { describe, expect, it } from "vitest";
import { MemoryStorage, bootstrapStorage } from "../raft/index.js";
import { KvStore, MEMORY_PATH } from "../kv/index.js";
import { Rng } from "../util/rng.js";
import { NodeError } from "./api.js";
import { realClock, type DurableLog, type NodeLogger, type PeerNetwork } from "./ports.js";
import { Replica } from "./replica.js";

const silent: NodeLogger = { debug() {}, info() {}, warn() {}, error() {}, fatal() {} };
const noPeers: PeerNetwork = {
  send() {},
  flush() {},
  sendApp: () => false,
  addPeer() {},
  removePeer() {},
  peers: () => new Map(),
  refusePeer() {},
  acceptPeer() {},
};

function singleNode(log: DurableLog, handlers: { onFatal?: (error: Error) => void; onRemoved?: (detail: string) => void } = {}) {
  const storage = new MemoryStorage();
  bootstrapStorage(storage, ["n1"]);
  const machine = KvStore.open({ path: MEMORY_PATH });
  const replica = new Replica({
    id: "n1",
    bootId: "test",
    storage,
    log,
    machine,
    network: noPeers,
    clock: realClock,
    rng: new Rng(1),
    logger: silent,
    peerAddress: "n1",
    clientUrl: "",
    tickMs: 10,
    requestTimeoutMs: 2_000,
    snapshotEntries: 1_000,
    snapshotCatchupEntries: 10,
    onFatal: handlers.onFatal ?? (() => {}),
    onRemoved: handlers.onRemoved ?? (() => {}),
  });
  replica.start();
  return { replica, machine };
}

const put = (value: string) => ({ type: "put" as const, payload: { key: "k", value: new TextEncoder().encode(value) } });

describe("Replica", () => {
  it("stops on a failed save and tells its owner, without acknowledging the write or exiting the process", async () => {
    let broken = false;
    const failing: DurableLog = {
      append: async () => {
        if (broken) throw new Error("EIO: the disk failed");
      },
      saveSnapshot: async () => {},
      compact: async () => {},
    };
    let fatal: Error | undefined;
    const { replica, machine } = singleNode(failing, { onFatal: (error) => void (fatal = error) });
    await replica.write(put("first"));
    broken = true;
    const lost = replica.write(put("second"));
    await expect(lost).rejects.toBeInstanceOf(NodeError);
    await expect(lost).rejects.toMatchObject({ code: "unknown_outcome" });
    expect(fatal?.message).toMatch(/EIO: the disk failed/);
    expect(replica.fatal).toBe(fatal);
    expect(replica.isReady()).toBe(false);
    await expect(replica.write(put("third"))).rejects.toMatchObject({ code: "shutting_down" });
    expect(new TextDecoder().decode(machine.get("k")?.value)).not.toBe("second");
    machine.close();
  });

  it("waits for a leader without polling: a write made before the election is answered once one leads", async () => {
    const durable: DurableLog = { append: async () => {}, saveSnapshot: async () => {}, compact: async () => {} };
    const { replica, machine } = singleNode(durable);
    // Asked at once, before the single node has elected itself.
    const result = await replica.write(put("early"));
    expect(result).toMatchObject({ kind: "put", key: "k", version: 1 });
    await replica.stop();
    machine.close();
  });
});
