import { Packr } from "msgpackr";
import { describe, expect, it } from "vitest";
import { decodeForwardFrame, encodeForwardFrame, ForwardProtocolError, type ForwardFrame } from "./forwarding.js";

describe("forwarded-write frames", () => {
  it("round-trip every kind", () => {
    const frames: ForwardFrame[] = [
      { kind: "write", requestId: "n2.x.1", timeoutMs: 5000, command: new Uint8Array([1, 2, 3]) },
      { kind: "accepted", requestId: "n2.x.1", index: 42, term: 3 },
      { kind: "refused", requestId: "n2.x.1", code: "overloaded", message: "too many uncommitted writes" },
      { kind: "peers?", requestId: "n3.y.peers" },
      { kind: "peers", requestId: "n3.y.peers", peers: new Map([["n1", "10.0.0.1:7380"], ["n4", "10.0.0.4:7380"]]) },
    ];
    for (const frame of frames) {
      const decoded = decodeForwardFrame(encodeForwardFrame(frame));
      expect({ ...decoded, ...("command" in decoded ? { command: [...decoded.command] } : {}) }).toEqual({ ...frame, ...("command" in frame ? { command: [...frame.command] } : {}) });
    }
  });

  it.each([
    ["garbage", Buffer.from([0xc1, 0xff, 0x00])],
    ["a map", new Packr().pack({ kind: 1 })],
    ["an unknown kind", new Packr().pack([9, "n2.x.1", 1, 1])],
    ["a negative index", new Packr().pack([2, "n2.x.1", -1, 1])],
    ["an empty request id", new Packr().pack([2, "", 1, 1])],
    ["an unknown refusal code", new Packr().pack([3, "n2.x.1", "teapot", "hi"])],
    ["a command that is not bytes", new Packr().pack([1, "n2.x.1", 100, "put k"])],
    ["a peer list that is not a list", new Packr().pack([5, "n3.y.peers", 0, { n1: "a:1" }])],
    ["a peer list with a bad pair", new Packr().pack([5, "n3.y.peers", 0, [["n1"]]])],
    ["a peer list with an empty id", new Packr().pack([5, "n3.y.peers", 0, [["", "a:1"]]])],
    ["a peer list with an address too long", new Packr().pack([5, "n3.y.peers", 0, [["n1", "x".repeat(2000)]]])],
    ["a peer list too long", new Packr().pack([5, "n3.y.peers", 0, Array.from({ length: 1025 }, (_, i) => [`n${i}`, "a:1"])])],
  ])("refuses %s with a ForwardProtocolError", (_name, bytes) => {
    expect(() => decodeForwardFrame(bytes)).toThrow(ForwardProtocolError);
  });
});
