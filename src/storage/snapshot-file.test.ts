import { describe, expect, test } from "vitest";
import { crc32c } from "./crc32c.js";
import { crc32cInSlices } from "./snapshot-file.js";
import { SNAPSHOT_CHECKSUM_SLICE_BYTES } from "../util/limits.js";

describe("a snapshot's checksum is computed in slices", () => {
  const slice = SNAPSHOT_CHECKSUM_SLICE_BYTES;

  test.each([0, 1, slice - 1, slice, slice + 1, 3 * slice + 5])("it equals the one-piece CRC32C for %d bytes", async (length) => {
    const data = new Uint8Array(length);
    for (let i = 0; i < length; i++) data[i] = (i * 31 + (i >>> 8)) & 0xff;
    expect(await crc32cInSlices(data)).toBe(crc32c(data));
  });

  test("the event loop runs between slices: a large image does not stall the node", async () => {
    const order: string[] = [];
    const checksum = crc32cInSlices(new Uint8Array(4 * slice)).then(() => order.push("checksum done"));
    setImmediate(() => order.push("another task"));
    await checksum;
    expect(order).toEqual(["another task", "checksum done"]);
  });
});
