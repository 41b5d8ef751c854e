import { describe, expect, it } from "vitest";
// The one import of the product's source in the harness: the load floor must batch the way a
// node does, and this is where a change to the node's settings shows.
import { KV_DEFERRED_COMMIT_ENTRIES_MAX, NODE_TICK_MS_DEFAULT } from "../../src/util/limits.js";
import { FLOOR_COMMIT_INTERVAL_MS, FLOOR_COMMIT_WRITES_MAX } from "./limits.js";

describe("the load floor's settings", () => {
  it("commit SQLite as often as a node's state machine does", () => {
    expect(FLOOR_COMMIT_INTERVAL_MS).toBe(NODE_TICK_MS_DEFAULT);
    expect(FLOOR_COMMIT_WRITES_MAX).toBe(KV_DEFERRED_COMMIT_ENTRIES_MAX);
  });
});
