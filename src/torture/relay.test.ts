import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { Packr } from "msgpackr";
import { afterEach, describe, expect, it } from "vitest";
import { HEALED, linkKey } from "./network.js";
import { FrameSplitter, helloSender, PeerRelay } from "./relay.js";

// The peer protocol's encoder settings (src/transport/wire.ts), so the relay reads real handshakes.
const packr = new Packr({ useRecords: false, moreTypes: false });

function frame(kind: number, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(body.length + 1, 0);
  header[4] = kind;
  return Buffer.concat([header, body]);
}

const hello = (from: string, to: string): Buffer => frame(1, packr.pack(["flotilla-peer", 1, "cluster-1", from, to, "stream"]));
const message = (n: number): Buffer => frame(4, Buffer.from(`message ${n}`));
const snapshotChunk = (n: number): Buffer => frame(6, Buffer.alloc(1000, n));

describe("reading the peer protocol", () => {
  it("splits a byte stream into frames wherever the chunks break", () => {
    const stream = Buffer.concat([hello("n2", "n1"), message(1), snapshotChunk(2), message(3)]);
    for (const size of [1, 3, 7, 64, stream.length]) {
      const splitter = new FrameSplitter();
      const frames: Buffer[] = [];
      for (let at = 0; at < stream.length; at += size) frames.push(...(splitter.push(stream.subarray(at, at + size)) as Buffer[]));
      expect(frames.map((f) => f[4])).toEqual([1, 4, 6, 4]);
      expect(Buffer.concat(frames)).toEqual(stream);
    }
  });

  it("says garbage when a length prefix is not a frame's", () => {
    expect(new FrameSplitter().push(Buffer.from([0xff, 0xff, 0xff, 0xff, 1]))).toEqual(["garbage"]);
    expect(new FrameSplitter().push(Buffer.from([0, 0, 0, 0]))).toEqual(["garbage"]);
  });

  it("learns the dialer from the handshake, long ids too", () => {
    const slots = new Map([["n2", 1], ["a-node-with-a-rather-long-name-to-need-str8", 4]]);
    expect(helloSender(hello("n2", "n1"), (id) => slots.get(id))).toBe(1);
    expect(helloSender(hello("a-node-with-a-rather-long-name-to-need-str8", "n1"), (id) => slots.get(id))).toBe(4);
    expect(helloSender(hello("stranger", "n1"), (id) => slots.get(id))).toBeUndefined();
    expect(helloSender(frame(1, Buffer.from([0xc1])), (id) => slots.get(id))).toBeUndefined();
  });
});

describe("the relay in front of a peer port", () => {
  let node: net.Server | undefined;
  let relay: PeerRelay | undefined;
  const sockets: net.Socket[] = [];

  afterEach(async () => {
    for (const socket of sockets) socket.destroy();
    sockets.length = 0;
    await relay?.close();
    await new Promise((resolve) => (node ? node.close(resolve) : resolve(undefined)));
  });

  /** A stand-in node that records the frame kinds it receives; returns the relay's port. */
  async function setUp(): Promise<{ port: number; received: number[] }> {
    const received: number[] = [];
    node = net.createServer((socket) => {
      sockets.push(socket);
      const splitter = new FrameSplitter();
      socket.on("data", (chunk) => received.push(...(splitter.push(chunk) as Buffer[]).map((f) => f[4]!)));
    });
    await new Promise<void>((resolve) => node!.listen(0, "127.0.0.1", resolve));
    const nodePort = (node.address() as net.AddressInfo).port;
    relay = new PeerRelay(0, `127.0.0.1:${nodePort}`, (id) => (id === "n2" ? 1 : undefined), () => 0.5);
    return { port: await relay.listen(), received };
  }

  /** Sends frames through the relay, then waits until `done` says everything was handled. */
  async function dial(port: number, frames: readonly Buffer[], done: () => boolean): Promise<void> {
    const socket = net.connect(port, "127.0.0.1");
    sockets.push(socket);
    await new Promise((resolve) => socket.once("connect", resolve));
    for (const f of frames) socket.write(f);
    for (let waited = 0; !done() && waited < 10_000; waited += 10) await sleep(10);
  }

  it("passes everything on a healthy link", async () => {
    const { port, received } = await setUp();
    await dial(port, [hello("n2", "n1"), message(1), snapshotChunk(2), message(3)], () => received.length >= 4);
    expect(received).toEqual([1, 4, 6, 4]);
  });

  it("drops Raft messages on a lossy link but never tears a snapshot", async () => {
    const { port, received } = await setUp();
    relay!.state = { cuts: new Set(), loss: new Map([[linkKey(1, 0), 0.9]]) };
    // The last chunk arrives after everything before it was decided: the connection keeps order.
    await dial(port, [hello("n2", "n1"), message(1), snapshotChunk(2), message(3), snapshotChunk(4)], () => received.length >= 3);
    expect(received).toEqual([1, 6, 6]);
    expect(relay!.droppedLoss).toBe(2);
  });

  it("carries nothing on a cut link, and carries again once healed", async () => {
    const { port, received } = await setUp();
    relay!.state = { cuts: new Set([linkKey(1, 0)]), loss: new Map() };
    await dial(port, [hello("n2", "n1"), message(1)], () => relay!.droppedCut >= 2);
    expect(received).toEqual([]);
    expect(relay!.droppedCut).toBe(2);
    relay!.state = HEALED;
    await dial(port, [hello("n2", "n1"), message(2)], () => received.length >= 2);
    expect(received).toEqual([1, 4]);
  });

  it("cuts one direction only: another sender's link is untouched", async () => {
    const { port, received } = await setUp();
    relay!.state = { cuts: new Set([linkKey(0, 1)]), loss: new Map() };
    await dial(port, [hello("n2", "n1"), message(1)], () => received.length >= 2);
    expect(received).toEqual([1, 4]);
    expect(relay!.droppedCut).toBe(0);
  });
});
