import { describe, expect, it } from "vitest";
import { Rng } from "../util/rng.js";
import { crc32c } from "./crc32c.js";

/** The one-bit-at-a-time definition, to check the sliced tables against. */
function crc32cBitwise(bytes: Uint8Array): number {
  let crc = ~0;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return ~crc >>> 0;
}

describe("crc32c", () => {
  it("matches the published check value and the RFC 3720 (iSCSI) vectors", () => {
    expect(crc32c(Buffer.from("123456789"))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(0))).toBe(0);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i))).toBe(0x113fdb5c);
  });

  it("agrees with the bitwise definition on random inputs of every small length and offset", () => {
    const rng = new Rng(7);
    for (let length = 0; length < 80; length++) {
      const bytes = Uint8Array.from({ length: length + 5 }, () => rng.int(0, 256));
      const start = rng.int(0, 5);
      const end = start + length;
      expect(crc32c(bytes, start, end)).toBe(crc32cBitwise(bytes.subarray(start, end)));
    }
  });

  it("continues a running checksum across pieces", () => {
    const whole = Buffer.from("the quick brown fox jumps over the lazy dog, twice over");
    for (const split of [0, 1, 7, 8, 9, 30, whole.length]) {
      const first = crc32c(whole, 0, split);
      expect(crc32c(whole, split, whole.length, first)).toBe(crc32c(whole));
    }
  });
});
