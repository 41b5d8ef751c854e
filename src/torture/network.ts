/**
 * The network the nodes live on, as the nemesis sees it: a set of directed links (slot → slot)
 * that are cut, and a loss probability per directed link. Two implementations apply it:
 * network namespaces with iptables (netns.ts, real packets dropped by the kernel) and a
 * loopback relay in front of every peer port (relay.ts). The state itself is plain data.
 */
import type { PartitionShape } from "./schedule.js";

export interface NetworkState {
  /** Directed links `from>to` (slots) that carry nothing. */
  readonly cuts: ReadonlySet<string>;
  /** Directed links `from>to` that lose packets with this probability. */
  readonly loss: ReadonlyMap<string, number>;
}

export const HEALED: NetworkState = { cuts: new Set(), loss: new Map() };

export function linkKey(from: number, to: number): string {
  return `${from}>${to}`;
}

export function parseLinkKey(key: string): [number, number] {
  const [from, to] = key.split(">").map(Number);
  return [from!, to!];
}

/** Where one slot's node listens and what it tells the others. */
export interface SlotAddress {
  /** Client HTTP address, HOST:PORT, reachable from this process. */
  readonly client: string;
  /** What `flotilla start --peer` listens on. */
  readonly peerListen: string;
  /** The peer address the others dial (--advertise-peer, --bootstrap). */
  readonly peerAdvertised: string;
}

export interface Network {
  readonly mode: "netns" | "loopback";
  /** One line for the user: how faults are made real on this network. */
  readonly description: string;
  address(slot: number): SlotAddress;
  /** The program and arguments that run `node <args>` for this slot's node. */
  command(slot: number, nodeArgs: readonly string[]): { file: string; args: string[] };
  /** Tells the network which slot a node id lives in (the relay learns the dialer from its handshake). */
  identify(id: string, slot: number): void;
  apply(state: NetworkState): Promise<void>;
  /** Removes everything the network set up; safe to call twice. */
  close(): Promise<void>;
  /** The synchronous last resort at process exit (Ctrl-C twice): nothing may be left behind. */
  closeNow(): void;
}

/** The directed cuts of a partition, with its targets already resolved to slots. */
export function cutsForShape(shape: ResolvedShape, nodes: number): Set<string> {
  const cuts = new Set<string>();
  const all = Array.from({ length: nodes }, (_, i) => i);
  const cutBetween = (a: readonly number[], b: readonly number[]): void => {
    for (const from of a) for (const to of b) if (from !== to) cuts.add(linkKey(from, to));
  };
  switch (shape.type) {
    case "isolate": {
      const others = all.filter((slot) => slot !== shape.slot);
      cutBetween([shape.slot], others);
      cutBetween(others, [shape.slot]);
      return cuts;
    }
    case "split": {
      const majority = all.filter((slot) => !shape.minority.includes(slot));
      cutBetween(shape.minority, majority);
      cutBetween(majority, shape.minority);
      return cuts;
    }
    case "one-way": {
      const others = all.filter((slot) => slot !== shape.slot);
      if (shape.direction === "out") cutBetween([shape.slot], others);
      else cutBetween(others, [shape.slot]);
      return cuts;
    }
  }
}

export type ResolvedShape =
  | { readonly type: "isolate"; readonly slot: number }
  | { readonly type: "split"; readonly minority: readonly number[] }
  | { readonly type: "one-way"; readonly slot: number; readonly direction: "out" | "in" };

/**
 * Resolves a planned partition against the leader of the moment: "the leader" becomes its
 * slot (or the fallback when none is known), and a split moves the leader to the side drawn.
 */
export function resolveShape(shape: PartitionShape, nodes: number, leader: number | undefined, fallback: number): ResolvedShape {
  const slotOf = (target: { leader: true } | { slot: number }): number => ("leader" in target ? (leader ?? fallback) : target.slot);
  switch (shape.type) {
    case "isolate":
      return { type: "isolate", slot: slotOf(shape.target) };
    case "one-way":
      return { type: "one-way", slot: slotOf(shape.target), direction: shape.direction };
    case "split": {
      if (leader === undefined) return { type: "split", minority: shape.minority };
      const minority = [...shape.minority];
      const inMinority = minority.includes(leader);
      if (shape.leaderSide === "minority" && !inMinority && minority.length > 0) minority[0] = leader;
      if (shape.leaderSide === "majority" && inMinority) {
        const replacement = Array.from({ length: nodes }, (_, i) => i).find((slot) => !minority.includes(slot));
        if (replacement !== undefined) minority[minority.indexOf(leader)] = replacement;
      }
      return { type: "split", minority: minority.sort((a, b) => a - b) };
    }
  }
}

/** Loss on every directed link, from a rates matrix. */
export function lossFromRates(rates: readonly (readonly number[])[]): Map<string, number> {
  const loss = new Map<string, number>();
  rates.forEach((row, from) =>
    row.forEach((rate, to) => {
      if (from !== to && rate > 0) loss.set(linkKey(from, to), rate);
    }),
  );
  return loss;
}

/** Several faults at once: every cut of any, and the highest loss any puts on a link. */
export function mergeStates(states: Iterable<NetworkState>): NetworkState {
  const cuts = new Set<string>();
  const loss = new Map<string, number>();
  for (const state of states) {
    for (const cut of state.cuts) cuts.add(cut);
    for (const [link, rate] of state.loss) loss.set(link, Math.max(rate, loss.get(link) ?? 0));
  }
  return { cuts, loss };
}
