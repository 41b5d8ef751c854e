/**
 * Discovery's decision and its records, without a network: which nodes found a cluster, when a
 * node joins instead, and that records of strangers (no valid join token) do not count.
 * The real thing, over mDNS between network namespaces, is in src/e2e/membership.test.ts.
 */
import { describe, expect, it } from "vitest";
import { DISCOVERY_SETTLE_MS } from "../util/limits.js";
import { decidePlan, decodeRecord, encodeRecord, type DiscoveryState, type NodeRecord, type SeenRecord } from "./discovery.js";
import { bootstrapClusterId } from "./identity.js";

function record(id: string, state: DiscoveryState = "forming", clusterId?: string): NodeRecord {
  const n = Number(id.replace(/\D/g, "")) || 9;
  return { id, peer: `10.0.0.${n}:7380`, client: `http://10.0.0.${n}:7379`, state, ...(clusterId === undefined ? {} : { clusterId }) };
}

function seen(...records: NodeRecord[]): Map<string, SeenRecord> {
  return new Map(records.map((r) => [r.id, { record: r, lastSeenMs: 0 }]));
}

const settled = DISCOVERY_SETTLE_MS;

describe("decidePlan", () => {
  it("waits until the expected number of nodes has been seen", () => {
    expect(decidePlan({ self: record("n1"), seen: seen(record("n2")), expect: 3, stableForMs: settled })).toBeUndefined();
  });

  it("waits until the set of nodes seen has settled", () => {
    expect(decidePlan({ self: record("n1"), seen: seen(record("n2"), record("n3")), expect: 3, stableForMs: settled - 1 })).toBeUndefined();
  });

  it("bootstraps every founder with the same members, whichever node decides", () => {
    const all = [record("n1"), record("n2"), record("n3")];
    const plans = all.map((self) => decidePlan({ self, seen: seen(...all.filter((r) => r !== self)), expect: 3, stableForMs: settled }));
    const members = { n1: "10.0.0.1:7380", n2: "10.0.0.2:7380", n3: "10.0.0.3:7380" };
    for (const plan of plans) expect(plan).toEqual({ kind: "bootstrap", members });
  });

  it("with more nodes than expected, the smallest ids found the cluster and the others wait, then join", () => {
    const all = [record("n1"), record("n2"), record("n3"), record("n4")];
    const others = (self: NodeRecord) => seen(...all.filter((r) => r !== self));
    expect(decidePlan({ self: all[0]!, seen: others(all[0]!), expect: 3, stableForMs: settled })).toMatchObject({ kind: "bootstrap", members: { n1: "10.0.0.1:7380", n2: "10.0.0.2:7380", n3: "10.0.0.3:7380" } });
    expect(decidePlan({ self: all[3]!, seen: others(all[3]!), expect: 3, stableForMs: settled })).toBeUndefined();
    const clusterId = bootstrapClusterId({ n1: "10.0.0.1:7380", n2: "10.0.0.2:7380", n3: "10.0.0.3:7380" });
    const later = seen(record("n1", "running", clusterId), record("n2", "running", clusterId), record("n3"));
    expect(decidePlan({ self: all[3]!, seen: later, expect: 3, stableForMs: 0 })).toEqual({ kind: "join", endpoints: ["http://10.0.0.1:7379", "http://10.0.0.2:7379"] });
  });

  it("a founder that is late bootstraps at once when the founders already run exactly its cluster", () => {
    const clusterId = bootstrapClusterId({ n1: "10.0.0.1:7380", n2: "10.0.0.2:7380", n3: "10.0.0.3:7380" });
    const plan = decidePlan({ self: record("n3"), seen: seen(record("n1", "running", clusterId), record("n2", "running", clusterId)), expect: 3, stableForMs: 0 });
    expect(plan).toMatchObject({ kind: "bootstrap" });
  });

  it("joins a cluster that already runs under the name instead of founding another", () => {
    const existing = seen(record("n7", "running", "another-cluster"), record("n8", "running", "another-cluster"), record("n2"), record("n3"));
    expect(decidePlan({ self: record("n1"), seen: existing, expect: 3, stableForMs: settled })).toEqual({ kind: "join", endpoints: ["http://10.0.0.7:7379", "http://10.0.0.8:7379"] });
  });

  it("without --expect it never bootstraps: it waits for a running cluster and joins it", () => {
    expect(decidePlan({ self: record("n1"), seen: seen(record("n2"), record("n3")), expect: undefined, stableForMs: settled })).toBeUndefined();
    expect(decidePlan({ self: record("n1"), seen: seen(record("n2", "running", "c")), expect: undefined, stableForMs: 0 })).toEqual({ kind: "join", endpoints: ["http://10.0.0.2:7379"] });
  });

  it("--expect 1 bootstraps a node alone once nothing else answers", () => {
    expect(decidePlan({ self: record("n1"), seen: seen(), expect: 1, stableForMs: settled })).toEqual({ kind: "bootstrap", members: { n1: "10.0.0.1:7380" } });
  });
});

describe("records", () => {
  it("round-trip through their TXT strings", () => {
    const running = record("n1", "running", "abc123");
    expect(decodeRecord("prod", encodeRecord("prod", running, undefined), undefined)).toEqual(running);
    expect(decodeRecord("prod", encodeRecord("prod", record("n2"), "tok"), "tok")).toEqual(record("n2"));
  });

  it("of another cluster name, or malformed, are refused with a reason", () => {
    expect(decodeRecord("prod", encodeRecord("staging", record("n1"), undefined), undefined)).toMatch(/another cluster name/);
    const strings = encodeRecord("prod", record("n1"), undefined);
    expect(decodeRecord("prod", strings.map((s) => (s.startsWith("peer=") ? "peer=nowhere" : s)), undefined)).toMatch(/bad peer address/);
    expect(decodeRecord("prod", strings.map((s) => (s.startsWith("client=") ? "client=ftp://x" : s)), undefined)).toMatch(/bad client URL/);
    expect(decodeRecord("prod", strings.map((s) => (s.startsWith("state=") ? "state=leading" : s)), undefined)).toMatch(/bad state/);
    expect(decodeRecord("prod", ["garbage", "=", ""], undefined)).toMatch(/record version/);
  });

  it("with a join token, only records signed with it count: a stranger knowing the name is ignored", () => {
    expect(decodeRecord("prod", encodeRecord("prod", record("n9"), undefined), "tok")).toMatch(/join token/);
    expect(decodeRecord("prod", encodeRecord("prod", record("n9"), "other"), "tok")).toMatch(/join token/);
    const forged = encodeRecord("prod", record("n9"), "tok").map((s) => (s.startsWith("peer=") ? "peer=10.6.6.6:7380" : s));
    expect(decodeRecord("prod", forged, "tok")).toMatch(/join token/);
  });
});
