import { describe, expect, it } from "vitest";
import { KvCommandError, KvMachine, decodeCommand, encodeCommand } from "./kv-machine.js";

describe("KvMachine", () => {
  it("applies writes and compare-and-set like a register per key", () => {
    const machine = new KvMachine();
    expect(machine.apply({ op: "0.1", kind: "cas", key: "a", expected: null, value: "x" })).toEqual({ kind: "cas", succeeded: true });
    expect(machine.apply({ op: "0.2", kind: "cas", key: "a", expected: null, value: "y" })).toEqual({ kind: "cas", succeeded: false });
    expect(machine.apply({ op: "0.3", kind: "write", key: "b", value: "z" })).toEqual({ kind: "write" });
    expect(machine.read("a")).toBe("x");
    expect(machine.read("missing")).toBeNull();
  });

  it("restores from its image to an equal state", () => {
    const machine = new KvMachine();
    machine.apply({ op: "0.1", kind: "write", key: "b", value: "2" });
    machine.apply({ op: "0.2", kind: "write", key: "a", value: "1" });
    const copy = KvMachine.restore(machine.image());
    expect(copy.digest()).toBe(machine.digest());
    expect(copy.read("a")).toBe("1");
    expect(KvMachine.restore(new Uint8Array(0)).digest()).toBe(new KvMachine().digest());
  });

  it("round-trips commands and rejects malformed entries and images with a typed error", () => {
    const command = { op: "3.7", kind: "cas", key: "k1", expected: null, value: "v" } as const;
    expect(decodeCommand(encodeCommand(command))).toEqual(command);
    const text = (value: string): Uint8Array => new TextEncoder().encode(value);
    expect(() => decodeCommand(text("not json"))).toThrow(KvCommandError);
    expect(() => decodeCommand(text('{"op":"1","kind":"delete","key":"a","value":"b"}'))).toThrow(/unknown command kind/);
    expect(() => decodeCommand(new Uint8Array([0xff, 0xfe]))).toThrow(KvCommandError);
    expect(() => KvMachine.restore(text('[["a", 1]]'))).toThrow(/list of \[key, value\] string pairs/);
  });
});
