import { describe, expect, test } from "vitest";
import { Packr } from "msgpackr";
import { decodeCommand, encodeCommand, MalformedCommandError, parseCommand, requestHash, type Command } from "./index.js";
import { KEY_BYTES_MAX, TXN_OPS_MAX, VALUE_BYTES_MAX } from "../util/limits.js";
import { bytes } from "./testing/entries.js";

const packr = new Packr({ useRecords: false });

function envelope(fields: Record<string, unknown>): Uint8Array {
  return packr.pack({ v: 1, requestId: "r1", ...fields });
}

/** Buffers (what MessagePack decodes bytes into) compared as plain byte arrays. */
function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return [...value];
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === "object" && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

function decodeError(data: Uint8Array): MalformedCommandError {
  try {
    decodeCommand(data);
  } catch (error) {
    expect(error).toBeInstanceOf(MalformedCommandError);
    return error as MalformedCommandError;
  }
  throw new Error("decodeCommand accepted malformed data");
}

describe("round trip", () => {
  const commands: Command[] = [
    { type: "put", payload: { key: "a", value: bytes("1") }, requestId: "r1" },
    { type: "put", payload: { key: "ключ/🚀", value: new Uint8Array([0, 255, 7]), lease: 42, ifModRevision: 0 }, requestId: "r2", idempotencyKey: "tok" },
    { type: "delete", payload: { key: "a", ifModRevision: 9 }, requestId: "r3" },
    { type: "deleteRange", payload: { prefix: "dir/" }, requestId: "r4" },
    { type: "noop", payload: {}, requestId: "r5" },
    {
      type: "txn",
      payload: {
        compare: [
          { key: "a", target: "value", op: "==", value: bytes("1") },
          { key: "a", target: "version", op: ">", value: 0 },
          { key: "b", target: "modRevision", op: "<", value: 5 },
          { key: "b", target: "createRevision", op: "!=", value: 3 },
        ],
        success: [{ put: { key: "a", value: bytes("2"), lease: 1 } }, { get: { key: "a" } }, { get: { prefix: "" } }, { delete: { prefix: "x/" } }],
        failure: [{ delete: { key: "a" } }],
      },
      requestId: "r6",
    },
  ];

  test.each(commands.map((command) => [command.type, command] as const))("%s decodes to what was encoded", (_type, command) => {
    const withHash = command.idempotencyKey === undefined ? command : { ...command, requestHash: requestHash(command) };
    expect(plain(decodeCommand(encodeCommand(command)))).toEqual(plain(withHash));
  });

  test("a command with an idempotency key carries the digest of what it asks: equal for a retry, different for another request", () => {
    const put = (value: string, requestId: string) => decodeCommand(encodeCommand({ type: "put", payload: { key: "k", value: new TextEncoder().encode(value) }, requestId, idempotencyKey: "t" }));
    expect(put("a", "r1").requestHash).toHaveLength(22);
    expect(put("a", "r1").requestHash).toBe(put("a", "r2").requestHash);
    expect(put("a", "r1").requestHash).not.toBe(put("b", "r1").requestHash);
    expect(() => parseCommand({ type: "noop", payload: {}, requestId: "r", requestHash: "x" })).toThrow(/requestHash is only meaningful with an idempotencyKey/);
  });

  test("values stay binary: an encoded put is barely larger than its value", () => {
    const value = new Uint8Array(1000).fill(0xab);
    const encoded = encodeCommand({ type: "put", payload: { key: "k", value }, requestId: "r" });
    expect(encoded.byteLength).toBeLessThan(1000 + 64);
  });
});

describe("malformed data from the log is a typed error that names the problem", () => {
  test("bytes that are not MessagePack", () => {
    expect(decodeError(new Uint8Array([0x81, 0xa1])).message).toMatch(/not valid MessagePack/);
  });

  test("trailing garbage after a valid command", () => {
    const good = encodeCommand({ type: "noop", payload: {}, requestId: "r" });
    expect(decodeError(new Uint8Array([...good, 1, 2, 3])).message).toMatch(/not valid MessagePack/);
  });

  test("not an object", () => {
    expect(decodeError(packr.pack([1, 2])).message).toMatch(/command must be an object/);
  });

  test("unknown format version", () => {
    expect(decodeError(envelope({ v: 2, type: "noop", payload: {} })).message).toMatch(/unsupported command format version 2/);
  });

  test("unknown command type", () => {
    expect(decodeError(envelope({ type: "increment", payload: {} })).message).toMatch(/unknown command type "increment"/);
  });

  test("missing request id", () => {
    expect(decodeError(packr.pack({ v: 1, type: "noop", payload: {} })).message).toMatch(/requestId must be a non-empty string/);
  });

  test("unknown field", () => {
    expect(decodeError(envelope({ type: "put", payload: { key: "a", value: bytes("v"), ttl: 5 } })).message).toMatch(/unknown field "ttl"/);
  });

  test("a key that is empty, too long, or not valid Unicode", () => {
    expect(decodeError(envelope({ type: "put", payload: { key: "", value: bytes("v") } })).message).toMatch(/put key must not be empty/);
    const long = "k".repeat(KEY_BYTES_MAX + 1);
    expect(decodeError(envelope({ type: "delete", payload: { key: long } })).message).toMatch(/delete key is 4097 bytes/);
    const loneSurrogate: Command = { type: "delete", payload: { key: "a\uD800b" }, requestId: "r" };
    expect(() => encodeCommand(loneSurrogate)).toThrow(/lone surrogate/);
  });

  test("a value that is a string instead of bytes, or too large", () => {
    expect(decodeError(envelope({ type: "put", payload: { key: "a", value: "text" } })).message).toMatch(/put value must be bytes/);
    expect(() => encodeCommand({ type: "put", payload: { key: "a", value: new Uint8Array(VALUE_BYTES_MAX + 1) }, requestId: "r" })).toThrow(
      /put value is 1048577 bytes/,
    );
  });

  test("revisions that are negative, fractional or beyond 2^53", () => {
    expect(decodeError(envelope({ type: "put", payload: { key: "a", value: bytes("v"), ifModRevision: -1 } })).message).toMatch(/ifModRevision must be a non-negative integer/);
    expect(decodeError(envelope({ type: "put", payload: { key: "a", value: bytes("v"), lease: 1.5 } })).message).toMatch(/lease must be a non-negative integer/);
    expect(decodeError(envelope({ type: "delete", payload: { key: "a", ifModRevision: 2n ** 60n } })).message).toMatch(/ifModRevision/);
  });

  test("txn: bad target, bad op, a value compare with a number", () => {
    const txn = (compare: unknown) => envelope({ type: "txn", payload: { compare: [compare], success: [], failure: [] } });
    expect(decodeError(txn({ key: "a", target: "lease", op: "==", value: 1 })).message).toMatch(/txn compare\[0\] target must be/);
    expect(decodeError(txn({ key: "a", target: "version", op: ">=", value: 1 })).message).toMatch(/txn compare\[0\] op must be one of/);
    expect(decodeError(txn({ key: "a", target: "value", op: "==", value: 1 })).message).toMatch(/txn compare\[0\] value must be bytes/);
  });

  test("txn: an op with two kinds, or neither key nor prefix", () => {
    const txn = (op: unknown) => envelope({ type: "txn", payload: { compare: [], success: [op], failure: [] } });
    expect(decodeError(txn({ get: { key: "a" }, delete: { key: "a" } })).message).toMatch(/exactly one of put, get, delete/);
    expect(decodeError(txn({ get: { key: "a", prefix: "a" } })).message).toMatch(/exactly one of key, prefix/);
    expect(decodeError(txn({ delete: { prefix: "" } })).message).toMatch(/delete prefix must not be empty/);
  });

  test("txn: writes of one branch may not touch the same key (etcd's rule)", () => {
    const txn = (ops: unknown[]) => envelope({ type: "txn", payload: { compare: [], success: ops, failure: [] } });
    expect(decodeError(txn([{ put: { key: "a", value: bytes("1") } }, { put: { key: "a", value: bytes("2") } }])).message).toMatch(/puts key "a" twice/);
    expect(decodeError(txn([{ put: { key: "d/a", value: bytes("1") } }, { delete: { prefix: "d/" } }])).message).toMatch(/both puts and deletes key "d\/a"/);
  });

  test("txn: too many operations", () => {
    const ops = Array.from({ length: TXN_OPS_MAX + 1 }, (_, i) => ({ get: { key: `k${i}` } }));
    expect(decodeError(envelope({ type: "txn", payload: { compare: [], success: ops, failure: [] } })).message).toMatch(/129 items, more than the 128 allowed/);
  });

  test("encode refuses what decode would refuse", () => {
    expect(() => encodeCommand({ type: "put", payload: { key: "", value: bytes("v") }, requestId: "r" })).toThrow(MalformedCommandError);
  });
});
