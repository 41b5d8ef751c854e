/**
 * The transport's part in cluster membership: a listener bound before the node is in a cluster
 * (the cluster id arrives with the join), and members removed from the cluster refused, so that
 * they learn it (etcd's peers answer a removed member the same way).
 */
import { afterEach, describe, expect, it } from "vitest";
import { makeMessage, MessageType, type Message } from "../raft/types.js";
import { InvariantError } from "../util/assert.js";
import { Rng } from "../util/rng.js";
import { closeAll, handshakenRawPeer, heartbeat, RawPeer, startCluster, startNode, waitFor, type TestNode } from "./testing/helpers.js";
import { Transport } from "./transport.js";
import { decodeHelloRefused, encodeHello, FrameKind, REFUSAL_CODE_REMOVED, type ConnectionPurpose } from "./wire.js";

afterEach(closeAll);

const NOT_IN_A_CLUSTER = "this node has not joined a cluster yet";

/** Sends a Hello as `from` and returns the reply frame (the connection is then closed on a refusal). */
async function helloReply(address: string, from: string, to: string, purpose: ConnectionPurpose = "stream"): Promise<{ kind: number; body: Buffer; raw: RawPeer }> {
  const raw = await RawPeer.connect(address);
  raw.write(encodeHello({ clusterId: "test-cluster", from, to, purpose }));
  await waitFor(() => raw.frames.length > 0 || raw.closed, "handshake reply");
  const frame = raw.frames[0];
  if (frame === undefined) throw new Error("closed without a handshake reply");
  return { ...frame, raw };
}

function countOf(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe("Transport: a listener bound before the cluster id is known", () => {
  it("refuses every handshake with a clear reason until setClusterId, then accepts", async () => {
    const a = await startNode("a", { clusterId: null });
    expect(a.transport.clusterId).toBeNull();

    const refused = await helloReply(a.address, "b", "a");
    expect(refused.kind).toBe(FrameKind.HelloRefused);
    expect(decodeHelloRefused(refused.body)).toEqual({ reason: NOT_IN_A_CLUSTER, code: "" });
    await waitFor(() => refused.raw.closed, "refused connection closed");

    // A real peer dialing it keeps failing with that reason, and is not told it was removed.
    const b = await startNode("b", { peers: { a: a.address } });
    b.transport.send([heartbeat("b", "a", 1)]);
    await waitFor(() => b.logger.text().includes(NOT_IN_A_CLUSTER) && b.transport.stats().peers["a"]!.reconnects >= 2, "b refused, and redialing");
    expect(a.received).toEqual([]);
    expect(b.refusedAsRemoved).toEqual([]);

    a.transport.setClusterId("test-cluster");
    expect(a.transport.clusterId).toBe("test-cluster");
    await waitFor(() => a.received.length === 1, "b's queued message delivered once a knows its cluster");
    expect(a.received[0]!.commit).toBe(1);
    expect((await helloReply(a.address, "c", "a")).kind).toBe(FrameKind.HelloAccepted);

    // Peers may be added now, and the handshake's reply is checked against the id set late.
    a.transport.addPeer("b", b.address);
    a.transport.send([heartbeat("a", "b", 2)]);
    await waitFor(() => b.received.length === 1, "a dials b with the cluster id it was given");
  });

  it("dials nothing before the cluster id: addPeer and initial peers are refused as a bug", async () => {
    const a = await startNode("a", { clusterId: null });
    expect(() => a.transport.addPeer("b", "127.0.0.1:1")).toThrow(InvariantError);
    expect(() => a.transport.updatePeer("b", "127.0.0.1:1")).toThrow(/before the cluster id is set/);
    expect(a.transport.peers().size).toBe(0);
    expect(() => new Transport({ nodeId: "x", listenAddress: "127.0.0.1:0", peers: { b: "127.0.0.1:1" }, logger: a.logger, rng: new Rng(1), onMessage: () => {} })).toThrow(/before the cluster id is set/);
  });

  it("sets the cluster id once: the same id again is a no-op, another one or an invalid one is a bug", async () => {
    const a = await startNode("a", { clusterId: null });
    expect(() => a.transport.setClusterId("")).toThrow(InvariantError);
    expect(() => a.transport.setClusterId("x".repeat(129))).toThrow(InvariantError);
    a.transport.setClusterId("one");
    a.transport.setClusterId("one");
    expect(() => a.transport.setClusterId("two")).toThrow(/cluster id is "one" already/);
    expect(a.transport.clusterId).toBe("one");
    const fromTheStart = await startNode("b", { clusterId: "one" });
    expect(() => fromTheStart.transport.setClusterId("two")).toThrow(InvariantError);
  });
});

describe("Transport: refusing members removed from the cluster", () => {
  async function connectedPair(): Promise<[TestNode, TestNode]> {
    const [a, b] = await startCluster(["a", "b"]);
    a!.transport.send([heartbeat("a", "b", 1)]);
    b!.transport.send([heartbeat("b", "a", 1)]);
    await waitFor(() => a!.received.length === 1 && b!.received.length === 1, "both directions up");
    return [a!, b!];
  }

  it("cuts the removed peer off; it learns it was removed; acceptPeer lets it back in", async () => {
    const [a, b] = await connectedPair();
    a.transport.refusePeer("b");
    expect(a.transport.peers().has("b")).toBe(false); // its outbound link too, as removePeer

    // b's stream to a is closed; b redials and is refused as removed.
    await waitFor(() => b.refusedAsRemoved.includes("a"), "b told it was removed");
    expect(b.transport.stats().peers["a"]!.connected).toBe(false);
    const receivedBefore = a.received.length;
    for (let commit = 2; commit < 6; commit++) b.transport.send([heartbeat("b", "a", commit)]);
    await waitFor(() => b.refusedAsRemoved.length >= 3, "b keeps redialing and keeps being told");
    expect(new Set(b.refusedAsRemoved)).toEqual(new Set(["a"]));
    expect(a.received.length).toBe(receivedBefore);
    expect(a.transport.stats().handshakesRefusedRemoved).toBeGreaterThanOrEqual(3);

    // One line on each side, however often b redials.
    expect(countOf(b.logger.text(), "peer refuses this node: it removed this node from the cluster")).toBe(1);
    expect(countOf(a.logger.text(), "refused peer handshake")).toBe(1);
    expect(a.logger.text()).toContain('node \\"b\\" was removed from the cluster');

    a.transport.acceptPeer("b");
    await waitFor(() => a.received.some((m) => m.from === "b" && m.commit >= 2), "b's queued messages delivered once accepted");
    a.transport.addPeer("b", b.address);
    a.transport.send([heartbeat("a", "b", 9)]);
    await waitFor(() => b.received.some((m) => m.commit === 9), "a dials b again");
  });

  it("delivers nothing from the peer after refusePeer, even from the rest of a read already in hand", async () => {
    let a: TestNode | null = null;
    a = await startNode("a", {
      onMessage: (m) => {
        if (m.from === "b" && m.commit === 5) a!.transport.refusePeer("b"); // a conf change applied mid-delivery
      },
    });
    const b = await startNode("b", { peers: { a: a.address } });
    b.transport.send(Array.from({ length: 10 }, (_, i) => heartbeat("b", "a", i + 1)));
    await waitFor(() => b.refusedAsRemoved.includes("a"), "b refused after the cut");
    b.transport.send([heartbeat("b", "a", 11)]);
    await pause(50);
    expect(a.received.map((m) => m.commit)).toEqual([1, 2, 3, 4, 5]);
  });

  it("refuses the removed peer's snapshots too, and the sender hears the snapshot failed", async () => {
    const [a, b] = await connectedPair();
    a.transport.refusePeer("b");
    const snapshot: Message = makeMessage({
      type: MessageType.Snapshot,
      from: "b",
      to: "a",
      term: 2,
      snapshot: { meta: { index: 10, term: 2, confState: { voters: ["a", "b"], learners: [] } }, data: new Uint8Array(1000) },
    });
    b.transport.send([snapshot]);
    await waitFor(() => b.snapshotResults.length === 1, "snapshot outcome");
    expect(b.snapshotResults).toEqual([{ peer: "a", ok: false }]);
    expect(b.refusedAsRemoved).toContain("a");
    expect(a.received.some((m) => m.type === MessageType.Snapshot)).toBe(false);
  });

  it("closes the removed peer's open stream and snapshot connections, and answers its Hello with the removed code", async () => {
    const a = await startNode("a");
    const stream = await handshakenRawPeer(a.address, "x", "a");
    const snapshot = await handshakenRawPeer(a.address, "x", "a", "test-cluster", "snapshot");
    const bystander = await handshakenRawPeer(a.address, "y", "a");
    a.transport.refusePeer("x");
    await waitFor(() => stream.closed && snapshot.closed, "x's connections closed");
    expect(bystander.closed).toBe(false);

    for (const purpose of ["stream", "snapshot"] as const) {
      const reply = await helloReply(a.address, "x", "a", purpose);
      expect(reply.kind).toBe(FrameKind.HelloRefused);
      expect(decodeHelloRefused(reply.body)).toEqual({ reason: expect.stringContaining("was removed from the cluster"), code: REFUSAL_CODE_REMOVED });
    }
    expect((await helloReply(a.address, "y", "a")).kind).toBe(FrameKind.HelloAccepted);
    expect(a.transport.stats().handshakesRefusedRemoved).toBe(2);

    a.transport.acceptPeer("x");
    expect((await helloReply(a.address, "x", "a")).kind).toBe(FrameKind.HelloAccepted);
  });

  it("remembers at most refusedPeersMax refusals, forgetting the oldest", async () => {
    const a = await startNode("a", { limits: { refusedPeersMax: 2 } });
    a.transport.refusePeer("x");
    a.transport.refusePeer("y");
    a.transport.refusePeer("z");
    expect(a.logger.text()).toContain("forgot the oldest refused peer");
    expect((await helloReply(a.address, "x", "a")).kind).toBe(FrameKind.HelloAccepted);
    expect((await helloReply(a.address, "y", "a")).kind).toBe(FrameKind.HelloRefused);
    expect((await helloReply(a.address, "z", "a")).kind).toBe(FrameKind.HelloRefused);
  });

  it("refusing its own id is a bug", async () => {
    const a = await startNode("a");
    expect(() => a.transport.refusePeer("a")).toThrow(InvariantError);
    expect(() => a.transport.refusePeer("")).toThrow(InvariantError);
  });
});
