import { describe, expect, it } from "vitest";
import { MessageType, makeMessage, type Message } from "../raft/index.js";
import type { PeerEvents } from "../node/index.js";
import { Rng } from "../util/rng.js";
import { drawFaultRates, type FaultRates } from "./faults.js";
import { SimNetwork } from "./network.js";
import { Owner, Scheduler } from "./scheduler.js";

const quiet: FaultRates = { ...drawFaultRates(new Set(), new Rng(1)) };
const heartbeat = (from: string, to: string, commit = 0): Message => makeMessage({ type: MessageType.Heartbeat, from, to, term: 1, commit });
const TICK_MS = 10;

/** What one node's transport reported, in order. */
interface Heard {
  readonly messages: Message[];
  readonly apps: string[];
  readonly reports: string[];
}

function attach(network: SimNetwork, id: string, peers: readonly string[]): { heard: Heard; owner: Owner; endpoint: ReturnType<SimNetwork["attach"]> } {
  const heard: Heard = { messages: [], apps: [], reports: [] };
  const events: PeerEvents = {
    message: (message) => heard.messages.push(message),
    app: (from, payload) => heard.apps.push(`${from}:${new TextDecoder().decode(payload)}`),
    unreachable: (peer) => heard.reports.push(`unreachable ${peer}`),
    snapshotSent: (peer, ok) => heard.reports.push(`snapshot to ${peer} ${ok ? "ok" : "failed"}`),
    refusedAsRemoved: (peer) => heard.reports.push(`refused by ${peer}`),
  };
  const owner = new Owner();
  const endpoint = network.attach(id, owner, events);
  for (const peer of peers) endpoint.addPeer(peer, peer);
  return { heard, owner, endpoint };
}

function setUp(rates: FaultRates = quiet, seed = 1) {
  const scheduler = new Scheduler();
  const network = new SimNetwork(scheduler, new Rng(seed), rates, { sending() {}, delivering() {} }, TICK_MS);
  const n1 = attach(network, "n1", ["n2", "n3"]);
  const n2 = attach(network, "n2", ["n1", "n3"]);
  return { scheduler, network, n1, n2 };
}

describe("SimNetwork", () => {
  it("without faults delivers every message once, a few milliseconds later", async () => {
    const { scheduler, n1, n2 } = setUp();
    n1.endpoint.send([0, 1, 2, 3, 4].map((commit) => heartbeat("n1", "n2", commit)));
    await scheduler.runUntil(0);
    expect(n2.heard.messages).toEqual([]);
    await scheduler.runUntil(10);
    expect(n2.heard.messages.map((m) => m.commit).sort()).toEqual([0, 1, 2, 3, 4]);
  });

  it("loses and duplicates messages at the drawn rates", async () => {
    const { scheduler, network, n1, n2 } = setUp({ ...quiet, lossRate: 0.5, duplicateRate: 0.5 }, 2);
    for (let i = 0; i < 1000; i++) n1.endpoint.send([heartbeat("n1", "n2", i)]);
    await scheduler.runUntil(100);
    expect(network.counters.lost).toBeGreaterThan(400);
    expect(network.counters.duplicated).toBeGreaterThan(200);
    expect(n2.heard.messages).toHaveLength(1000 - network.counters.lost + network.counters.duplicated);
  });

  it("reorders messages when jitter is on", async () => {
    const { scheduler, n1, n2 } = setUp({ ...quiet, jitterTicksMax: 5 }, 3);
    for (let i = 0; i < 50; i++) n1.endpoint.send([heartbeat("n1", "n2", i)]);
    await scheduler.runUntil(1000);
    const order = n2.heard.messages.map((m) => m.commit);
    expect(order).toHaveLength(50);
    expect(order).not.toEqual([...order].sort((a, b) => a - b));
  });

  it("blocks links one way and heals them, and never partitions once reliable", async () => {
    const { scheduler, network, n1, n2 } = setUp();
    network.block("n1", "n2");
    n1.endpoint.send([heartbeat("n1", "n2")]);
    n2.endpoint.send([heartbeat("n2", "n1")]);
    await scheduler.runUntil(10);
    expect(n2.heard.messages).toEqual([]);
    expect(n1.heard.messages).toHaveLength(1);
    network.healPartitions();
    n1.endpoint.send([heartbeat("n1", "n2")]);
    await scheduler.runUntil(20);
    expect(n2.heard.messages).toHaveLength(1);
    network.makeReliable();
    network.block("n1", "n2");
    expect(network.partitioned).toBe(false);
  });

  it("reports to the sender what a transport learns: a lost snapshot failed, a lost append unreachable, an unknown peer", async () => {
    const { scheduler, network, n1 } = setUp({ ...quiet, lossRate: 1 });
    n1.endpoint.send([makeMessage({ type: MessageType.Snapshot, from: "n1", to: "n2", term: 1, snapshot: { meta: { index: 1, term: 1, confState: { voters: [], learners: [] } }, data: new Uint8Array(0) } })]);
    n1.endpoint.send([makeMessage({ type: MessageType.Append, from: "n1", to: "n2", term: 1 })]);
    n1.endpoint.send([makeMessage({ type: MessageType.Append, from: "n1", to: "n9", term: 1 })]);
    await scheduler.runUntil(10);
    expect(n1.heard.reports).toEqual(["snapshot to n2 failed", "unreachable n2", "unreachable n9"]);
    n1.endpoint.send([makeMessage({ type: MessageType.AppendResponse, from: "n1", to: "n8", term: 1 })]);
    await scheduler.runUntil(20);
    expect(n1.heard.reports.at(-1)).toBe("unreachable n8"); // any message to an unknown peer, as the TCP transport reports it
    expect(network.counters.lost).toBe(2);
  });

  it("carries app frames as copies, and refuses them to a peer that is down", async () => {
    const { scheduler, network, n1, n2 } = setUp();
    const payload = new TextEncoder().encode("hello");
    expect(n1.endpoint.sendApp("n2", payload)).toBe(true);
    payload[0] = 0x4a; // the sender's buffer changes after the send: the receiver's copy does not
    expect(n1.endpoint.sendApp("n3", payload)).toBe(false); // n3 is not attached: not connected
    expect(n1.endpoint.sendApp("n9", payload)).toBe(false); // not a known peer
    await scheduler.runUntil(10);
    expect(n2.heard.apps).toEqual(["n1:hello"]);
    network.detach("n2");
    expect(n1.endpoint.sendApp("n2", payload)).toBe(false);
  });

  it("tells a refused (removed) sender, and delivers nothing of it", async () => {
    const { scheduler, n1, n2 } = setUp();
    n2.endpoint.refusePeer("n1");
    n1.endpoint.send([heartbeat("n1", "n2")]);
    await scheduler.runUntil(10);
    expect(n2.heard.messages).toEqual([]);
    expect(n1.heard.reports).toEqual(["refused by n2"]);
    n2.endpoint.acceptPeer("n1");
    n1.endpoint.send([heartbeat("n1", "n2")]);
    await scheduler.runUntil(20);
    expect(n2.heard.messages).toHaveLength(1);
  });

  it("drops what a node's old life scheduled once it crashed", async () => {
    const { scheduler, network, n1 } = setUp({ ...quiet, lossRate: 1 });
    n1.endpoint.send([makeMessage({ type: MessageType.Append, from: "n1", to: "n2", term: 1 })]);
    n1.owner.alive = false;
    network.detach("n1");
    await scheduler.runUntil(10);
    expect(n1.heard.reports).toEqual([]);
  });
});

describe("Scheduler", () => {
  it("runs events in time order, ties in the order they were scheduled, and drops a dead owner's", async () => {
    const scheduler = new Scheduler();
    const ran: string[] = [];
    const owner = new Owner();
    scheduler.at(5, () => ran.push("b"));
    scheduler.at(1, () => ran.push("a"));
    scheduler.at(5, () => ran.push("c"));
    scheduler.at(3, () => ran.push("dead"), owner);
    const cancelled = scheduler.at(4, () => ran.push("cancelled"));
    cancelled.cancel();
    owner.alive = false;
    await scheduler.runUntil(10);
    expect(ran).toEqual(["a", "b", "c"]);
    expect(scheduler.now).toBe(10);
  });

  it("lets the promise chains an event starts finish before the next event", async () => {
    const scheduler = new Scheduler();
    const ran: string[] = [];
    scheduler.at(1, () => {
      void Promise.resolve()
        .then(() => Promise.resolve())
        .then(() => ran.push("chain of the first"));
    });
    scheduler.at(1, () => ran.push("second"));
    await scheduler.runUntil(1);
    expect(ran).toEqual(["chain of the first", "second"]);
  });

  it("gives each node a clock whose timers run slower by its rate", async () => {
    const scheduler = new Scheduler();
    const clock = scheduler.clock(new Owner(), 1.5);
    const fired: number[] = [];
    const ticker = clock.setInterval(() => fired.push(scheduler.now), 10);
    await scheduler.runUntil(61);
    ticker.cancel();
    await scheduler.runUntil(200);
    expect(fired).toEqual([15, 30, 45, 60]);
  });
});
