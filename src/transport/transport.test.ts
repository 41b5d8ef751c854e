import { afterEach, describe, expect, it } from "vitest";
import { pino } from "pino";
import { makeMessage, MessageType } from "../raft/types.js";
import { Rng } from "../util/rng.js";
import { TransportError } from "./errors.js";
import type { TransportLogger } from "./logger.js";
import { Transport } from "./transport.js";
import {
  closeAll,
  freePort,
  handshakenRawPeer,
  heartbeat,
  rawFrame,
  RawPeer,
  sampleMessages,
  startCluster,
  startNode,
  waitFor,
  type TestNode,
} from "./testing/helpers.js";
import { decodeHelloRefused, encodeFrameHeader, encodeHello, encodeMessage, FrameKind } from "./wire.js";

afterEach(closeAll);

/** A pino logger satisfies the transport's logger interface as is (checked by tsc). */
const _pinoIsALogger: TransportLogger = pino({ level: "silent" });

describe("Transport: exchanging messages", () => {
  it("delivers every network message type between three nodes, byte for byte", async () => {
    const [a, b, c] = await startCluster(["a", "b", "c"]);
    const toB = sampleMessages("a", "b");
    const toC = sampleMessages("a", "c");
    const bToA = sampleMessages("b", "a");
    a!.transport.send([...toB, ...toC]);
    b!.transport.send(bToA);
    await waitFor(() => b!.received.length === toB.length && c!.received.length === toC.length && a!.received.length === bToA.length, "all messages delivered");
    expect(b!.received).toEqual(toB);
    expect(c!.received).toEqual(toC);
    expect(a!.received).toEqual(bToA);
    const entry = b!.received[0]!.entries[2]!;
    expect(entry.data.constructor).toBe(Uint8Array);
    expect(Buffer.from(entry.data).equals(Buffer.from(toB[0]!.entries[2]!.data))).toBe(true);
    expect(a!.transport.stats().peers["b"]).toMatchObject({ connected: true, sent: toB.length, queuedMessages: 0, queuedBytes: 0, dropped: 0 });
    expect(b!.transport.stats().peers["a"]).toMatchObject({ received: toB.length });
  });

  it("accepts a forwarded TransferLeader whose from names the transferee, not the sender", async () => {
    const [a, b] = await startCluster(["a", "b"]);
    const forwarded = makeMessage({ type: MessageType.TransferLeader, from: "c", to: "b", term: 3 });
    a!.transport.send([forwarded]);
    await waitFor(() => b!.received.length === 1, "forwarded transfer delivered");
    expect(b!.received[0]).toEqual(forwarded);
  });

  it("carries app frames in order with the Raft messages, and says when one certainly was not sent", async () => {
    const [a, b] = await startCluster(["a", "b"]);
    expect(a!.transport.sendApp("nobody", new Uint8Array([1]))).toBe(false);
    await waitFor(() => a!.transport.stats().peers["b"]!.connected, "a connected to b");
    a!.transport.send([heartbeat("a", "b", 1)]);
    expect(a!.transport.sendApp("b", new Uint8Array([7, 8, 9]))).toBe(true);
    a!.transport.send([heartbeat("a", "b", 2)]);
    expect(a!.transport.sendApp("b", new Uint8Array(0))).toBe(true);
    await waitFor(() => b!.received.length === 2 && b!.apps.length === 2, "messages and app frames delivered");
    expect(b!.apps.map(([from, bytes]) => [from, [...bytes]])).toEqual([["a", [7, 8, 9]], ["a", []]]);
    expect(a!.transport.sendApp("b", new Uint8Array(a!.transport.limits.frameBytesMax))).toBe(false);
    a!.transport.setFaults({ partitionedFrom: new Set(["b"]) });
    expect(a!.transport.sendApp("b", new Uint8Array([1]))).toBe(true); // lost in the "network"
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(b!.apps.length).toBe(2);
  });

  it("flush() writes what is queued at once, not at the end of the task", async () => {
    const [a, b] = await startCluster(["a", "b"]);
    await waitFor(() => a!.transport.stats().peers["b"]!.connected, "a connected to b");
    a!.transport.send([heartbeat("a", "b", 1)]);
    expect(a!.transport.stats().peers["b"]!.sent).toBe(0); // queued: it leaves at the end of this task
    a!.transport.flush();
    expect(a!.transport.stats().peers["b"]!.sent).toBe(1); // written, before this task ends
    await waitFor(() => b!.received.length === 1, "the flushed message delivered");
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(b!.received.length).toBe(1); // the end-of-task flush found nothing left to send
  });

  it("keeps the order of a burst sent over several calls", async () => {
    const [a, b] = await startCluster(["a", "b"]);
    const burst = Array.from({ length: 3000 }, (_, i) => heartbeat("a", "b", i));
    a!.transport.send(burst.slice(0, 1000));
    a!.transport.send(burst.slice(1000));
    await waitFor(() => b!.received.length === burst.length, "burst delivered");
    expect(b!.received.map((m) => m.commit)).toEqual(burst.map((m) => m.commit));
  });

  it("connects to a peer that starts later, through reconnection, and delivers what was queued", async () => {
    const port = await freePort();
    const a = await startNode("a", { peers: { b: `127.0.0.1:${port}` } });
    a.transport.send([heartbeat("a", "b", 1), heartbeat("a", "b", 2)]);
    await waitFor(() => a.unreachable.includes("b") && a.transport.stats().peers["b"]!.reconnects >= 2, "failed attempts reported");
    expect(a.transport.stats().peers["b"]!.connected).toBe(false);
    expect(a.logger.text()).toContain("cannot connect to peer");

    const b = await startNode("b", { listenAddress: `127.0.0.1:${port}`, peers: { a: a.address } });
    await waitFor(() => b.received.length === 2, "queued messages delivered after reconnecting");
    expect(b.received.map((m) => m.commit)).toEqual([1, 2]);
    expect(a.transport.stats().peers["b"]!.connected).toBe(true);
    b.transport.send([heartbeat("b", "a", 3)]);
    await waitFor(() => a.received.length === 1, "reply delivered");
  });

  it("reconnects after the peer restarts on the same address", async () => {
    const [a, b] = await startCluster(["a", "b"]);
    a!.transport.send([heartbeat("a", "b", 1)]);
    await waitFor(() => b!.received.length === 1, "first delivery");
    await b!.transport.close();
    await waitFor(() => !a!.transport.stats().peers["b"]!.connected, "loss noticed");
    const b2 = await startNode("b", { listenAddress: b!.address });
    a!.transport.send([heartbeat("a", "b", 2)]);
    await waitFor(() => b2.received.length === 1, "delivery to the restarted peer");
    expect(b2.received[0]!.commit).toBe(2);
    expect(a!.logger.text()).toContain("lost connection to peer");
  });

  it("follows a peer to a new address (updatePeer) and forgets a removed one", async () => {
    const [a, b] = await startCluster(["a", "b"]);
    const b2 = await startNode("b");
    a!.transport.updatePeer("b", b2.address);
    a!.transport.send([heartbeat("a", "b", 7)]);
    await waitFor(() => b2.received.length === 1, "delivered at the new address");
    expect(b!.received).toEqual([]);

    a!.transport.removePeer("b");
    expect(() => a!.transport.send([heartbeat("a", "b", 8)])).not.toThrow();
    await waitFor(() => a!.unreachable.includes("b"), "unknown peer reported unreachable");
    expect(a!.transport.stats().unknownPeerDrops).toBe(1);
    expect(a!.transport.stats().peers["b"]).toBeUndefined();
  });
});

describe("Transport: handshake", () => {
  it("refuses a peer from another cluster, with the reason logged on both sides", async () => {
    const a = await startNode("a");
    const intruder = await startNode("x", { clusterId: "other-cluster", peers: { a: a.address } });
    await waitFor(() => a.logger.text().includes("cluster id mismatch") && intruder.logger.text().includes("cluster id mismatch"), "refusal logged");
    intruder.transport.send([heartbeat("x", "a", 1)]);
    await waitFor(() => intruder.transport.stats().peers["a"]!.reconnects >= 2, "intruder keeps failing");
    expect(a.received).toEqual([]);
    expect(intruder.transport.stats().peers["a"]!.connected).toBe(false);
  });

  it("answers a wrong-cluster handshake with a refusal frame naming the reason, then closes", async () => {
    const a = await startNode("a");
    const raw = await RawPeer.connect(a.address);
    raw.write(encodeHello({ clusterId: "other", from: "x", to: "a", purpose: "stream" }));
    await waitFor(() => raw.closed, "connection closed");
    expect(raw.frames[0]!.kind).toBe(FrameKind.HelloRefused);
    expect(decodeHelloRefused(raw.frames[0]!.body)).toEqual({ reason: expect.stringMatching(/cluster id mismatch.*"other".*"test-cluster"/), code: "" });
  });

  it("refuses a dialer that expected another node at this address", async () => {
    const a = await startNode("a");
    const c = await startNode("c", { peers: { b: a.address } });
    await waitFor(() => c.logger.text().includes('this is node \\"a\\", not \\"b\\"'), "wrong node refused");
    expect(a.received).toEqual([]);
  });

  it("closes a dialer whose first frame is not a handshake", async () => {
    const a = await startNode("a");
    const raw = await RawPeer.connect(a.address);
    raw.write(encodeMessage(heartbeat("x", "a", 1)));
    await waitFor(() => raw.closed, "connection closed");
    expect(a.received).toEqual([]);
    expect(a.logger.text()).toContain("expected a handshake");
  });
});

describe("Transport: bad input closes only the offending connection", () => {
  async function goodPairAnd(): Promise<{ a: TestNode; b: TestNode; stillExchanging: () => Promise<void> }> {
    const [a, b] = await startCluster(["a", "b"]);
    let commit = 0;
    const stillExchanging = async (): Promise<void> => {
      const before = b!.received.length;
      a!.transport.send([heartbeat("a", "b", ++commit)]);
      await waitFor(() => b!.received.length === before + 1, "good peer still delivered");
    };
    await stillExchanging();
    return { a: a!, b: b!, stillExchanging };
  }

  it("random garbage bytes", async () => {
    const { b, stillExchanging } = await goodPairAnd();
    const rng = new Rng(42);
    const raw = await RawPeer.connect(b.address);
    raw.write(Uint8Array.from({ length: 4096 }, () => rng.int(0, 256)));
    await waitFor(() => raw.closed, "garbage connection closed");
    expect(b.transport.stats().inboundProtocolErrors).toBe(1);
    expect(b.logger.text()).toContain("protocol violation");
    await stillExchanging();
  });

  it("garbage after a valid handshake", async () => {
    const { b, stillExchanging } = await goodPairAnd();
    const raw = await handshakenRawPeer(b.address, "x", "b");
    raw.write(Buffer.from([0, 0, 0, 9, FrameKind.Message, 0xc1, 0xc1, 0xff, 0x00, 0x13, 0x37, 0x42, 0x99]));
    await waitFor(() => raw.closed, "connection closed");
    expect(b.logger.text()).toMatch(/message is not valid MessagePack|must be an array/);
    await stillExchanging();
  });

  it("a truncated frame (the peer ends mid-frame)", async () => {
    const { b, stillExchanging } = await goodPairAnd();
    const raw = await handshakenRawPeer(b.address, "x", "b");
    const frame = encodeMessage(heartbeat("x", "b", 1));
    raw.socket.end(frame.subarray(0, frame.length - 3));
    await waitFor(() => raw.closed, "connection closed");
    expect(b.logger.text()).toContain("truncated frame");
    expect(b.received.some((m) => m.from === "x")).toBe(false);
    await stillExchanging();
  });

  it("an oversized length prefix, before and after the handshake", async () => {
    const { b, stillExchanging } = await goodPairAnd();
    const before = await RawPeer.connect(b.address);
    before.write(encodeFrameHeader(FrameKind.Hello, 100_000));
    const after = await handshakenRawPeer(b.address, "x", "b");
    after.write(Buffer.from([0xff, 0xff, 0xff, 0xff, FrameKind.Message]));
    await waitFor(() => before.closed && after.closed, "both closed");
    expect(b.logger.text()).toContain(`frame length 100001 exceeds the maximum of ${b.transport.limits.handshakeBytesMax}`);
    expect(b.logger.text()).toContain(`frame length 4294967295 exceeds the maximum of ${b.transport.limits.frameBytesMax}`);
    await stillExchanging();
  });

  it.each([
    ["a negative term", (t: unknown[]) => (t[3] = -1), "message.term must be a non-negative integer"],
    ["a fractional index", (t: unknown[]) => (t[5] = 1.5), "message.index must be a non-negative integer"],
    ["an unknown type", (t: unknown[]) => (t[0] = "append-everything"), "message.type must be a network message type"],
    ["a local type", (t: unknown[]) => (t[0] = "propose"), "message.type must be a network message type"],
    ["entry data that is not bytes", (t: unknown[]) => (t[9] = [1, 1, 0, "text"]), "message.entries[0].data must be bytes"],
    ["a misaligned entry list", (t: unknown[]) => (t[9] = [1, 1, 0]), "message.entries must be a flat array"],
    ["a wrong sender", (t: unknown[]) => (t[1] = "someone-else"), 'message.from is \\"someone-else\\"'],
    ["a wrong receiver", (t: unknown[]) => (t[2] = "c"), 'message.to is \\"c\\"'],
    ["a missing field", (t: unknown[]) => t.pop(), "message must be an array of 12"],
  ])("a valid frame carrying an invalid message: %s", async (_name, corrupt, reason) => {
    const { b, stillExchanging } = await goodPairAnd();
    const raw = await handshakenRawPeer(b.address, "x", "b");
    const tuple: unknown[] = [MessageType.Heartbeat, "x", "b", 1, 0, 0, 5, false, 0, [], null, null];
    corrupt(tuple);
    raw.write(rawFrame(FrameKind.Message, tuple));
    await waitFor(() => raw.closed, "connection closed");
    expect(b.logger.text()).toContain(reason);
    expect(b.received.some((m) => m.from === "x")).toBe(false);
    expect(b.transport.stats().inboundProtocolErrors).toBe(1);
    await stillExchanging();
  });

  it("delivers valid messages from a raw peer that speaks the protocol correctly", async () => {
    const { b } = await goodPairAnd();
    const raw = await handshakenRawPeer(b.address, "x", "b");
    raw.write(rawFrame(FrameKind.Message, [MessageType.Heartbeat, "x", "b", 1, 0, 0, 5, false, 0, [], null, null]));
    await waitFor(() => b.received.some((m) => m.from === "x"), "raw message delivered");
    expect(b.transport.stats().receivedFromUnknown).toBe(1);
    expect(raw.closed).toBe(false);
  });
});

describe("Transport: bounded queues", () => {
  it("drops the oldest messages beyond the count limit while a peer is down, and counts them", async () => {
    const port = await freePort();
    const a = await startNode("a", { peers: { b: `127.0.0.1:${port}` } });
    const limit = a.transport.limits.queueMessagesMax;
    const messages = Array.from({ length: limit + 500 }, (_, i) => heartbeat("a", "b", i));
    a.transport.send(messages);
    expect(a.transport.stats().peers["b"]).toMatchObject({ queuedMessages: limit, dropped: 500, sent: 0 });
    await waitFor(() => a.unreachable.includes("b"), "overflow reported as unreachable");

    const b = await startNode("b", { listenAddress: `127.0.0.1:${port}` });
    await waitFor(() => b.received.length === limit, "the newest messages delivered");
    expect(b.received[0]!.commit).toBe(500);
    expect(b.received.at(-1)!.commit).toBe(limit + 499);
  });

  it("drops by bytes too", async () => {
    const port = await freePort();
    const a = await startNode("a", { peers: { b: `127.0.0.1:${port}` }, limits: { queueBytesMax: 1024 * 1024 } });
    const entryOf = (i: number) => ({ term: 1, index: i + 1, type: 0, data: new Uint8Array(100 * 1024) });
    const appends = Array.from({ length: 20 }, (_, i) => makeMessage({ type: MessageType.Append, from: "a", to: "b", term: 1, index: i, entries: [entryOf(i)] }));
    a.transport.send(appends);
    const stats = a.transport.stats().peers["b"]!;
    expect(stats.queuedBytes).toBeLessThanOrEqual(1024 * 1024);
    // Each append counts its 100 KiB of data plus framing: ten fit in 1 MiB.
    expect(stats.queuedMessages).toBe(10);
    expect(stats.dropped).toBe(10);
  });
});

describe("Transport: lifecycle", () => {
  it("rejects a malformed peer address with a typed error", async () => {
    const a = await startNode("a");
    expect(() => a.transport.addPeer("b", "no-port")).toThrow(TransportError);
    expect(() => a.transport.addPeer("b", "host:99999")).toThrow(/invalid peer address/);
  });

  it("fails start() with a typed error when the port is taken", async () => {
    const a = await startNode("a");
    const clash = new Transport({ nodeId: "b", clusterId: "c", listenAddress: a.address, logger: a.logger, rng: new Rng(1), onMessage: () => {} });
    await expect(clash.start()).rejects.toMatchObject({ code: "listen-failed" });
    await clash.close();
  });

  it("close() stops listening, drops pending sends and ignores later sends", async () => {
    const port = await freePort();
    const a = await startNode("a", { peers: { b: `127.0.0.1:${port}` } });
    a.transport.send([heartbeat("a", "b", 1)]);
    await a.transport.close();
    expect(() => a.transport.send([heartbeat("a", "b", 2)])).not.toThrow();
    const probe = RawPeer.connect(a.address);
    await expect(probe).rejects.toThrow(/ECONNREFUSED/);
    const b = await startNode("b", { listenAddress: `127.0.0.1:${port}` });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(b.received).toEqual([]);
  });
});
