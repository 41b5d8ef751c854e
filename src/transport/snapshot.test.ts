import { afterEach, describe, expect, it } from "vitest";
import { makeMessage, MessageType, type Message } from "../raft/types.js";
import { Rng } from "../util/rng.js";
import { closeAll, freePort, handshakenRawPeer, heartbeat, rawFrame, RawPeer, startCluster, startNode, waitFor } from "./testing/helpers.js";
import { createServer, type Server, type Socket } from "node:net";
import { FrameReader } from "./frame-reader.js";
import { decodeHello, decodeSnapshotAck, decodeSnapshotHeader, encodeFrameHeader, encodeHello, encodeHelloAccepted, encodeSnapshotAck, encodeSnapshotHeader, FrameKind } from "./wire.js";

afterEach(closeAll);

/**
 * A stand-in receiver that accepts handshakes as node "b" and, on a snapshot connection, stops
 * reading until resume() is called, then acknowledges once every announced byte arrived.
 */
class SlowReceiver {
  readonly server: Server;
  snapshotSocket: Socket | null = null;
  receivedBytes = 0;

  constructor() {
    this.server = createServer((socket) => this.#onConnection(socket));
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    const address = this.server.address() as { port: number };
    return `127.0.0.1:${address.port}`;
  }

  resume(): void {
    this.snapshotSocket!.resume();
  }

  close(): void {
    this.snapshotSocket?.destroy();
    this.server.close();
  }

  #onConnection(socket: Socket): void {
    const reader = new FrameReader(64 * MiB);
    let totalBytes = -1;
    socket.on("error", () => {});
    socket.on("data", (chunk: Buffer) =>
      reader.push(chunk, (kind, body) => {
        if (kind === FrameKind.Hello) {
          const hello = decodeHello(body);
          socket.write(encodeHelloAccepted({ clusterId: "test-cluster", nodeId: "b" }));
          if (hello.purpose === "snapshot") {
            this.snapshotSocket = socket;
            socket.pause();
          }
        } else if (kind === FrameKind.SnapshotHeader) {
          totalBytes = decodeSnapshotHeader(body).totalBytes;
        } else if (kind === FrameKind.SnapshotChunk) {
          this.receivedBytes += body.length;
          if (this.receivedBytes === totalBytes) socket.write(encodeSnapshotAck({ ok: true, reason: "" }));
        }
        return true;
      }),
    );
  }
}

const MiB = 1024 * 1024;

function snapshotMessage(from: string, to: string, bytes: number, seed = 7): Message {
  const rng = new Rng(seed);
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i += 4) {
    const word = rng.nextUint32();
    data[i] = word & 0xff;
    data[i + 1] = (word >>> 8) & 0xff;
    data[i + 2] = (word >>> 16) & 0xff;
    data[i + 3] = word >>> 24;
  }
  return makeMessage({
    type: MessageType.Snapshot,
    from,
    to,
    term: 5,
    snapshot: { meta: { index: 12_345, term: 4, confState: { voters: ["a", "b", "c"], learners: ["d"] } }, data },
  });
}

describe("Transport: snapshot streaming", () => {
  it("streams a 20 MiB snapshot in chunks; it arrives intact and the sender hears success", async () => {
    const [a, b] = await startCluster(["a", "b"]);
    const message = snapshotMessage("a", "b", 20 * MiB);
    a!.transport.send([message]);
    // Ordinary messages keep flowing while the snapshot is in transit.
    a!.transport.send([heartbeat("a", "b", 1)]);
    await waitFor(() => a!.snapshotResults.length === 1, "snapshot result reported");
    expect(a!.snapshotResults).toEqual([{ peer: "b", ok: true }]);
    const received = b!.received.find((m) => m.type === MessageType.Snapshot)!;
    expect(received.snapshot!.meta).toEqual(message.snapshot!.meta);
    expect(received.snapshot!.data.constructor).toBe(Uint8Array);
    expect(Buffer.from(received.snapshot!.data).equals(Buffer.from(message.snapshot!.data))).toBe(true);
    expect({ ...received, snapshot: undefined }).toEqual({ ...message, snapshot: undefined });
    expect(b!.received.some((m) => m.type === MessageType.Heartbeat)).toBe(true);
    expect(a!.transport.stats().peers["b"]).toMatchObject({ snapshotsSent: 1, snapshotsFailed: 0, snapshotChunksSent: 20 });
    expect(b!.transport.stats().inboundSnapshots).toBe(0);
  });

  it("stops writing while the receiver is not reading (backpressure), and finishes once it reads", async () => {
    const receiver = new SlowReceiver();
    try {
      const a = await startNode("a", { peers: { b: await receiver.listen() } });
      const message = snapshotMessage("a", "b", 64 * MiB);
      a.transport.send([message]);
      await waitFor(() => receiver.snapshotSocket !== null && a.transport.stats().peers["b"]!.snapshotChunksSent > 0, "streaming started");
      // Socket buffers hold a few MiB at most: a sender that ignored backpressure would have
      // handed all 64 chunks to the socket by now.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(a.transport.stats().peers["b"]!.snapshotChunksSent).toBeLessThan(64);
      expect(receiver.receivedBytes).toBe(0);
      receiver.resume();
      await waitFor(() => a.snapshotResults.length === 1, "snapshot acknowledged");
      expect(a.snapshotResults).toEqual([{ peer: "b", ok: true }]);
      expect(receiver.receivedBytes).toBe(64 * MiB);
      expect(a.transport.stats().peers["b"]!.snapshotChunksSent).toBe(64);
    } finally {
      receiver.close();
    }
  });

  it("sends an empty snapshot", async () => {
    const [a, b] = await startCluster(["a", "b"]);
    a!.transport.send([snapshotMessage("a", "b", 0)]);
    await waitFor(() => a!.snapshotResults.length === 1, "result");
    expect(a!.snapshotResults[0]!.ok).toBe(true);
    expect(b!.received[0]!.snapshot!.data.byteLength).toBe(0);
  });

  it("reports failure for a snapshot to a peer that is down", async () => {
    const port = await freePort();
    const a = await startNode("a", { peers: { b: `127.0.0.1:${port}` } });
    a.transport.send([snapshotMessage("a", "b", MiB)]);
    await waitFor(() => a.snapshotResults.length === 1, "result");
    expect(a.snapshotResults).toEqual([{ peer: "b", ok: false }]);
    expect(a.transport.stats().peers["b"]!.snapshotsFailed).toBe(1);
  });

  it("reports failure for a second snapshot while one to the same peer is in flight, and for an unknown peer", async () => {
    const [a] = await startCluster(["a", "b"]);
    a!.transport.send([snapshotMessage("a", "b", 8 * MiB), snapshotMessage("a", "b", MiB), snapshotMessage("a", "zz", MiB)]);
    await waitFor(() => a!.snapshotResults.length === 3, "results");
    expect(a!.snapshotResults).toContainEqual({ peer: "zz", ok: false });
    expect(a!.snapshotResults.filter((r) => r.peer === "b")).toEqual([
      { peer: "b", ok: false },
      { peer: "b", ok: true },
    ]);
  });

  it("refuses a snapshot larger than the receiver's maximum, and the sender hears failure", async () => {
    const b = await startNode("b", { limits: { snapshotBytesMax: 2 * MiB } });
    const a = await startNode("a", { peers: { b: b.address } });
    b.transport.addPeer("a", a.address);
    a.transport.send([snapshotMessage("a", "b", 3 * MiB)]);
    await waitFor(() => a.snapshotResults.length === 1, "result");
    expect(a.snapshotResults[0]!.ok).toBe(false);
    expect(b.logger.text()).toContain(`snapshot of ${3 * MiB} bytes exceeds the maximum of ${2 * MiB}`);
    expect(b.received).toEqual([]);
    a.transport.send([heartbeat("a", "b", 1)]);
    await waitFor(() => b.received.length === 1, "stream unaffected");
  });

  it("closes a snapshot stream whose chunks overflow the announced size, or that ends early", async () => {
    const b = await startNode("b");
    const announced = snapshotMessage("x", "b", 1000);
    const overflowing = await RawPeer.connect(b.address);
    overflowing.write(encodeHello({ clusterId: "test-cluster", from: "x", to: "b", purpose: "snapshot" }));
    overflowing.write(encodeSnapshotHeader(announced));
    overflowing.write(Buffer.concat([encodeFrameHeader(FrameKind.SnapshotChunk, 1001), Buffer.alloc(1001)]));
    const short = await RawPeer.connect(b.address);
    short.write(encodeHello({ clusterId: "test-cluster", from: "y", to: "b", purpose: "snapshot" }));
    short.write(encodeSnapshotHeader({ ...announced, from: "y" }));
    short.socket.end(Buffer.concat([encodeFrameHeader(FrameKind.SnapshotChunk, 500), Buffer.alloc(500)]));
    await waitFor(() => overflowing.closed && short.closed, "both closed");
    expect(b.logger.text()).toContain("snapshot chunk overflows the announced size of 1000 bytes");
    expect(b.transport.stats().inboundSnapshots).toBe(0);
    expect(b.received).toEqual([]);
    expect(overflowing.frames.some((f) => f.kind === FrameKind.SnapshotAck && decodeSnapshotAck(f.body).ok)).toBe(false);
  });

  it("rejects a snapshot message on a stream connection", async () => {
    const b = await startNode("b");
    const raw = await handshakenRawPeer(b.address, "x", "b");
    raw.write(rawFrame(FrameKind.Message, [MessageType.Snapshot, "x", "b", 1, 0, 0, 0, false, 0, [], null, [1, 1, ["x"], []]]));
    await waitFor(() => raw.closed, "closed");
    expect(b.logger.text()).toContain("a snapshot message must travel on a snapshot connection");
  });
});
