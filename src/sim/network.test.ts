import { describe, expect, it } from "vitest";
import { MessageType, makeMessage, type Message } from "../raft/index.js";
import { Rng } from "../util/rng.js";
import { drawFaultRates, type FaultRates } from "./faults.js";
import { SimNetwork, type Delivery } from "./network.js";

const quiet: FaultRates = { ...drawFaultRates(new Set(), new Rng(1)) };
const heartbeat = (from: string, to: string, commit = 0): Message => makeMessage({ type: MessageType.Heartbeat, from, to, term: 1, commit });

function deliverAll(network: SimNetwork, ticks: number): Delivery[] {
  const out: Delivery[] = [];
  for (let tick = 0; tick <= ticks; tick++) out.push(...network.takeDue(tick));
  return out;
}

describe("SimNetwork", () => {
  it("without faults delivers every message once, in order, one tick later", () => {
    const network = new SimNetwork(new Rng(1), quiet);
    for (let i = 0; i < 5; i++) network.send(heartbeat("n1", "n2", i), 0);
    expect(network.takeDue(0)).toEqual([]);
    const due = network.takeDue(1);
    expect(due.map((d) => (d.kind === "message" ? d.message.commit : -1))).toEqual([0, 1, 2, 3, 4]);
    expect(network.inFlight).toBe(0);
  });

  it("loses and duplicates messages at the drawn rates", () => {
    const network = new SimNetwork(new Rng(2), { ...quiet, lossRate: 0.5, duplicateRate: 0.5 });
    for (let i = 0; i < 1000; i++) network.send(heartbeat("n1", "n2", i), 0);
    const delivered = deliverAll(network, 2).length;
    expect(network.counters.lost).toBeGreaterThan(400);
    expect(network.counters.duplicated).toBeGreaterThan(200);
    expect(delivered).toBe(1000 - network.counters.lost + network.counters.duplicated);
  });

  it("reorders messages when jitter is on", () => {
    const network = new SimNetwork(new Rng(3), { ...quiet, jitterTicksMax: 5 });
    for (let i = 0; i < 50; i++) network.send(heartbeat("n1", "n2", i), 0);
    const order = deliverAll(network, 10).map((d) => (d.kind === "message" ? d.message.commit : -1));
    expect(order).toHaveLength(50);
    expect(order).not.toEqual([...order].sort((a, b) => a - b));
  });

  it("blocks links one way and heals them, and never partitions once reliable", () => {
    const network = new SimNetwork(new Rng(4), quiet);
    network.block("n1", "n2");
    expect(network.isBlocked("n1", "n2")).toBe(true);
    expect(network.isBlocked("n2", "n1")).toBe(false);
    network.healPartitions();
    expect(network.isBlocked("n1", "n2")).toBe(false);
    network.makeReliable();
    network.block("n1", "n2");
    expect(network.partitioned).toBe(false);
  });

  it("reports a lost snapshot as failed and a lost append as unreachable to the sender", () => {
    const network = new SimNetwork(new Rng(5), quiet);
    network.reportDropped(makeMessage({ type: MessageType.Snapshot, from: "n1", to: "n2", term: 1 }), 0);
    network.reportDropped(makeMessage({ type: MessageType.Append, from: "n1", to: "n3", term: 1 }), 0);
    expect(network.takeDue(1)).toEqual([
      { kind: "snapshot-status", to: "n1", peer: "n2", ok: false },
      { kind: "unreachable", to: "n1", peer: "n3" },
    ]);
  });

  it("puts deferred deliveries ahead of newer ones", () => {
    const network = new SimNetwork(new Rng(6), quiet);
    network.send(heartbeat("n1", "n2", 2), 1);
    const old: Delivery = { kind: "message", to: "n2", message: heartbeat("n1", "n2", 1) };
    network.defer([old], 1);
    expect(network.takeDue(2).map((d) => (d.kind === "message" ? d.message.commit : -1))).toEqual([1, 2]);
  });
});
