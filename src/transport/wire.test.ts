import { describe, expect, it } from "vitest";
import { makeMessage, MessageType } from "../raft/types.js";
import { Packr, Unpackr } from "msgpackr";
import { InvariantError } from "../util/assert.js";
import { Rng } from "../util/rng.js";
import { parsePeerAddress } from "./address.js";
import { TransportError } from "./errors.js";
import { FrameReader } from "./frame-reader.js";
import { rawFrame, sampleMessages } from "./testing/helpers.js";
import {
  decodeHello,
  decodeHelloRefused,
  decodeMessage,
  decodeSnapshotHeader,
  encodeHello,
  encodeHelloRefused,
  encodeMessage,
  encodeSnapshotHeader,
  estimateMessageBytes,
  FrameKind,
  messageTuple,
  PROTOCOL_MAGIC,
  PROTOCOL_VERSION,
  REFUSAL_CODE_LENGTH_MAX,
  REFUSAL_CODE_NONE,
  REFUSAL_CODE_REMOVED,
} from "./wire.js";

/** Reads every frame out of `bytes`, fed in chunks of the given sizes (cycled). */
function readFrames(bytes: Buffer, chunkSizes: readonly number[], frameBytesMax = 1 << 20): Array<{ kind: number; body: Buffer }> {
  const reader = new FrameReader(frameBytesMax);
  const frames: Array<{ kind: number; body: Buffer }> = [];
  for (let offset = 0, i = 0; offset < bytes.length; i++) {
    const size = chunkSizes[i % chunkSizes.length]!;
    reader.push(bytes.subarray(offset, offset + size), (kind, body) => {
      frames.push({ kind, body: Buffer.from(body) });
      return true;
    });
    offset += size;
  }
  expect(reader.midFrame).toBe(false);
  return frames;
}

describe("wire: message codec", () => {
  it("round-trips every network message type, with numbers, enums and bytes intact", () => {
    for (const message of sampleMessages("n1", "n2")) {
      const frame = encodeMessage(message);
      expect(frame.readUInt32BE(0)).toBe(frame.length - 4);
      expect(frame[4]).toBe(FrameKind.Message);
      const decoded = decodeMessage(frame.subarray(5));
      expect(decoded).toEqual(message);
      for (const entry of decoded.entries) expect(entry.data.constructor).toBe(Uint8Array);
    }
  });

  it("writes exactly the bytes msgpackr packs for the message tuple", () => {
    const packr = new Packr({ useRecords: false });
    const messages = [...sampleMessages("n1", "n2"), makeMessage({ type: MessageType.Vote, from: "ü".repeat(40), to: "n".repeat(128), term: 2 ** 32, index: 2 ** 53 - 1, context: "x".repeat(70_000) })];
    for (const message of messages) {
      expect(encodeMessage(message).subarray(5).equals(packr.pack(messageTuple(message)))).toBe(true);
    }
    const many = makeMessage({ type: MessageType.Append, from: "a", to: "b", index: 0, entries: Array.from({ length: 20_000 }, (_, i) => ({ term: 1, index: i + 1, type: 0, data: new Uint8Array(i % 300) })) });
    expect(encodeMessage(many).subarray(5).equals(packr.pack(messageTuple(many)))).toBe(true);
  });

  it("refuses to encode a number the receiver would reject", () => {
    expect(() => encodeMessage(makeMessage({ type: MessageType.Heartbeat, from: "a", to: "b", commit: -1 }))).toThrow(InvariantError);
    expect(() => encodeMessage(makeMessage({ type: MessageType.Heartbeat, from: "a", to: "b", term: 1.5 }))).toThrow(InvariantError);
  });

  it("round-trips a snapshot header (meta and membership), without the data", () => {
    const message = makeMessage({
      type: MessageType.Snapshot,
      from: "n1",
      to: "n2",
      term: 3,
      snapshot: { meta: { index: 90, term: 2, confState: { voters: ["n1", "n2"], learners: ["n3"] } }, data: new Uint8Array(5000) },
    });
    const frame = encodeSnapshotHeader(message);
    expect(frame.length).toBeLessThan(200);
    const header = decodeSnapshotHeader(frame.subarray(5));
    expect(header.totalBytes).toBe(5000);
    expect(header.message.snapshot!.meta).toEqual(message.snapshot!.meta);
  });

  it("counts at least the encoded size of a message in its queue estimate", () => {
    for (const message of sampleMessages("a-long-node-name", "another-long-node-name")) {
      expect(estimateMessageBytes(message)).toBeGreaterThanOrEqual(encodeMessage(message).length);
    }
  });

  it("names what is wrong in an invalid message", () => {
    const valid: unknown[] = [MessageType.Append, "a", "b", 2, 1, 10, 9, false, 0, [2, 11, 0, new Uint8Array(1), 2, 12, 1, new Uint8Array(2)], null, null];
    const decode = (mutate: (t: unknown[]) => void): unknown => {
      const t = [...valid];
      mutate(t);
      return () => decodeMessage(rawFrame(FrameKind.Message, t).subarray(5));
    };
    expect(decode(() => {})).not.toThrow();
    expect(decode((t) => (t[9] = [2, 12, 0, new Uint8Array(1)]))).toThrow("message.entries[0].index must be 11");
    expect(decode((t) => (t[9] = [2, 11, 0, new Uint8Array(1), 2, 13, 0, new Uint8Array(1)]))).toThrow("message.entries[1].index must be 12");
    expect(decode((t) => (t[9] = [2, 11, 7, new Uint8Array(1)]))).toThrow("message.entries[0].type must be an EntryType");
    expect(decode((t) => (t[4] = 2 ** 60))).toThrow("message.logTerm must be a non-negative integer");
    expect(decode((t) => (t[7] = 0))).toThrow("message.reject must be a boolean");
    expect(decode((t) => (t[1] = ""))).toThrow("message.from must be a non-empty string");
    expect(decode((t) => (t[2] = "x".repeat(1000)))).toThrow("message.to must be a non-empty string of at most 128");
    expect(decode((t) => (t[10] = 5))).toThrow("message.context must be a string");
    expect(decode((t) => (t[11] = [1, 1, [], []]))).toThrow("message.snapshot must be present exactly on snapshot messages");
    expect(decode((t) => (t[0] = "hup"))).toThrow("message.type must be a network message type");
    const extra = Buffer.concat([rawFrame(FrameKind.Message, valid).subarray(5), Buffer.from([1])]);
    expect(() => decodeMessage(extra)).toThrow(/not valid MessagePack/);
  });

  it("never throws anything but a TransportError on random bytes", () => {
    const rng = new Rng(3);
    for (let i = 0; i < 2000; i++) {
      const body = Uint8Array.from({ length: rng.int(0, 64) }, () => rng.int(0, 256));
      if (i % 2 === 0 && body.length > 0) body[0] = 0x9c; // fixarray of 12: get past the first check
      try {
        decodeMessage(body);
      } catch (error) {
        expect(error).toBeInstanceOf(TransportError);
      }
    }
  });
});

describe("wire: handshake", () => {
  it("round-trips a hello", () => {
    const hello = { clusterId: "c1", from: "n1", to: "n2", purpose: "snapshot" as const };
    expect(decodeHello(encodeHello(hello).subarray(5))).toEqual(hello);
  });

  it("tells a foreign protocol from an unsupported version", () => {
    expect(() => decodeHello(rawFrame(FrameKind.Hello, ["GET / HTTP/1.1"]).subarray(5))).toThrow(expect.objectContaining({ code: "bad-frame" }));
    const future = rawFrame(FrameKind.Hello, [PROTOCOL_MAGIC, PROTOCOL_VERSION + 1, "c", "a", "b", "stream"]).subarray(5);
    expect(() => decodeHello(future)).toThrow(expect.objectContaining({ code: "handshake-refused", message: expect.stringContaining("unsupported protocol version 2") }));
  });

  it("round-trips a refusal with the removed code as [reason, code]", () => {
    const refused = { reason: 'node "b" was removed from the cluster', code: REFUSAL_CODE_REMOVED };
    const frame = encodeHelloRefused(refused);
    expect(frame[4]).toBe(FrameKind.HelloRefused);
    expect(new Unpackr({ useRecords: false }).unpack(frame.subarray(5))).toEqual([refused.reason, "removed"]);
    expect(decodeHelloRefused(frame.subarray(5))).toEqual(refused);
  });

  it("writes a refusal without a code as the 1-tuple older peers decode, and decodes their 1-tuple", () => {
    const frame = encodeHelloRefused({ reason: "cluster id mismatch", code: REFUSAL_CODE_NONE });
    expect(new Unpackr({ useRecords: false }).unpack(frame.subarray(5))).toEqual(["cluster id mismatch"]);
    expect(decodeHelloRefused(frame.subarray(5))).toEqual({ reason: "cluster id mismatch", code: "" });
    expect(decodeHelloRefused(rawFrame(FrameKind.HelloRefused, ["from an older peer"]).subarray(5))).toEqual({ reason: "from an older peer", code: "" });
    expect(decodeHelloRefused(rawFrame(FrameKind.HelloRefused, ["explicitly none", ""]).subarray(5))).toEqual({ reason: "explicitly none", code: "" });
    // A code this node does not know (a newer peer's) decodes; it is simply not "removed".
    expect(decodeHelloRefused(rawFrame(FrameKind.HelloRefused, ["why", "newer-code"]).subarray(5)).code).toBe("newer-code");
  });

  it("cuts a long reason, refuses to encode a long code, and names what is wrong in a bad refusal", () => {
    expect(decodeHelloRefused(encodeHelloRefused({ reason: "r".repeat(10_000), code: "" }).subarray(5)).reason.length).toBe(512);
    expect(() => encodeHelloRefused({ reason: "r", code: "c".repeat(REFUSAL_CODE_LENGTH_MAX + 1) })).toThrow(InvariantError);
    const decode = (value: unknown) => () => decodeHelloRefused(rawFrame(FrameKind.HelloRefused, value).subarray(5));
    expect(decode([])).toThrow("hello-refused must be an array of 1 or 2, got an array of 0");
    expect(decode(["a", "b", "c"])).toThrow("hello-refused must be an array of 1 or 2, got an array of 3");
    expect(decode("just a string")).toThrow("hello-refused must be an array of 1 or 2");
    expect(decode([7])).toThrow("hello-refused.reason must be a string");
    expect(decode(["why", 1])).toThrow("hello-refused.code must be a string of at most 32 characters");
    expect(decode(["why", "c".repeat(REFUSAL_CODE_LENGTH_MAX + 1)])).toThrow("hello-refused.code must be a string of at most 32 characters");
    expect(decode(["why", "removed"])).not.toThrow();
    for (const value of [[], [7], ["a", 1], ["a", "b", "c"]]) expect(decode(value)).toThrow(TransportError);
  });
});

describe("wire: frame reader", () => {
  const frames = Buffer.concat([...sampleMessages("a", "b").map(encodeMessage), encodeHello({ clusterId: "c", from: "a", to: "b", purpose: "stream" })]);
  const expected = readFrames(frames, [frames.length]);

  it.each([[[1]], [[2, 3, 5, 7]], [[4]], [[1000, 1, 1, 1]], [[65_536]]])("reassembles frames split into chunks of %j bytes", (sizes) => {
    expect(readFrames(frames, sizes)).toEqual(expected);
  });

  it("hands out frames inside one chunk without copying them", () => {
    const reader = new FrameReader(1 << 20);
    const chunk = Buffer.concat([encodeMessage(sampleMessages("a", "b")[2]!), encodeMessage(sampleMessages("a", "b")[3]!)]);
    const bodies: Buffer[] = [];
    reader.push(chunk, (_kind, body) => bodies.push(body) > 0);
    expect(bodies.map((b) => b.buffer === chunk.buffer)).toEqual([true, true]);
  });

  it("rejects an oversized or empty frame as soon as its length is read", () => {
    const push = (bytes: number[], max = 100): (() => void) => () => new FrameReader(max).push(Buffer.from(bytes), () => true);
    expect(push([0, 0, 0, 101])).toThrow("frame length 101 exceeds the maximum of 100 bytes");
    expect(push([0, 0, 0, 0])).toThrow("empty frame");
    expect(push([0, 0, 0, 100, 1])).not.toThrow();
  });

  it("stops at the frame where the handler says stop", () => {
    const reader = new FrameReader(1 << 20);
    let seen = 0;
    reader.push(frames, () => ++seen < 2);
    expect(seen).toBe(2);
  });
});

describe("address", () => {
  it("parses host:port and [ipv6]:port", () => {
    expect(parsePeerAddress("127.0.0.1:7380")).toEqual({ host: "127.0.0.1", port: 7380 });
    expect(parsePeerAddress("node-1.example:0")).toEqual({ host: "node-1.example", port: 0 });
    expect(parsePeerAddress("[::1]:9")).toEqual({ host: "::1", port: 9 });
    for (const bad of ["", "host", "host:", ":80", "host:65536", "::1:80", "a b:1"]) {
      expect(() => parsePeerAddress(bad)).toThrow(TransportError);
    }
  });
});
