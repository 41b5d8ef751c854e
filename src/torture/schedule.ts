/**
 * The nemesis's plan: every fault of a run, drawn from the seed before the run starts, so a
 * seed names one exact adversary. Only "the leader" is left to the moment: which node leads
 * is the one thing a plan cannot know in advance.
 *
 * Faults run in lanes. The process lane holds kills, pauses and membership changes, one at a
 * time; the network lane holds partitions and bursts of loss, one at a time; the two overlap
 * freely, and a membership change is placed in the middle of a network fault when there is one.
 * The lossy profile adds a third lane: loss on every link for the whole fault window.
 */
import { Rng } from "../util/rng.js";
import type { NemesisKind, Pacing } from "./options.js";

/** A node picked by the seed (a slot: the place a node lives in), or whoever leads at the time. */
export type TargetPick = { readonly leader: true } | { readonly slot: number };

export type PartitionShape =
  /** One node cut off from all others, both ways. */
  | { readonly type: "isolate"; readonly target: TargetPick }
  /** A minority cut off from the majority, both ways; the leader is moved to the side drawn. */
  | { readonly type: "split"; readonly minority: readonly number[]; readonly leaderSide: "minority" | "majority" }
  /** One direction only: the node's messages reach nobody (out), or nobody's reach it (in). */
  | { readonly type: "one-way"; readonly target: TargetPick; readonly direction: "out" | "in" };

export type Lane = "process" | "network" | "loss";

interface Timed {
  /** Milliseconds after the workload starts. */
  readonly atMs: number;
  /** How long the fault holds (a membership change: how long it may take at most). */
  readonly durationMs: number;
  readonly lane: Lane;
}

export type FaultPlan =
  | (Timed & { readonly kind: "kill" | "pause"; readonly targets: readonly TargetPick[] })
  | (Timed & { readonly kind: "partition"; readonly shape: PartitionShape })
  /** rates[from][to]: the probability that a packet from one slot to another is lost. */
  | (Timed & { readonly kind: "loss"; readonly rates: readonly (readonly number[])[] })
  /** The node in this slot is removed from the cluster, and a new node joins in its place. */
  | (Timed & { readonly kind: "membership"; readonly target: TargetPick });

export interface ScheduleInput {
  readonly seed: number;
  readonly nodes: number;
  readonly durationS: number;
  readonly nemesis: ReadonlySet<NemesisKind>;
  readonly pacing: Pacing;
}

/** Shortest fault worth starting at the end of the window. */
const FAULT_MS_MIN = 300;
/** Chance that a kill, pause or isolation goes for the leader rather than a node drawn at random. */
const LEADER_TARGET_CHANCE = 0.4;
/** Chance that a kill or pause takes down as many nodes as the cluster can lose (f) rather than one. */
const MULTI_TARGET_CHANCE = 0.25;
/** A membership change starts this long into the network fault it is placed in. */
const MEMBERSHIP_OFFSET_MS = 1_000;

export function planSchedule(input: ScheduleInput): FaultPlan[] {
  const root = new Rng(input.seed);
  // Each lane draws from its own generator: turning one kind off never moves another's faults.
  const networkRng = root.fork();
  const processRng = root.fork();
  const lossRng = root.fork();
  const window = { startMs: input.pacing.warmupMs, endMs: input.durationS * 1000 - input.pacing.cooldownMs };
  if (window.endMs - window.startMs < FAULT_MS_MIN) return [];
  const steadyLoss = input.pacing.steadyLoss && input.nemesis.has("loss");
  const networkKinds = (["partition", "loss"] as const).filter((kind) => input.nemesis.has(kind) && !(kind === "loss" && steadyLoss));
  const processKinds = (["kill", "pause", "membership"] as const).filter((kind) => input.nemesis.has(kind));
  const network = planLane(networkRng, window, input.pacing, networkKinds, (kind, atMs, durationMs) => networkFault(networkRng, input, kind, atMs, durationMs));
  const processes = planLane(processRng, window, input.pacing, processKinds, (kind, atMs, durationMs) => {
    if (kind !== "membership") return processFault(processRng, input, kind, atMs, durationMs);
    const startMs = membershipStart(network, atMs, window.endMs);
    return processFault(processRng, input, kind, startMs, Math.min(durationMs, window.endMs - startMs));
  });
  const loss: FaultPlan[] = steadyLoss
    ? [{ kind: "loss", lane: "loss", atMs: window.startMs, durationMs: window.endMs - window.startMs, rates: lossRates(lossRng, input.nodes, input.pacing) }]
    : [];
  return [...network, ...processes, ...loss].sort((a, b) => a.atMs - b.atMs || a.lane.localeCompare(b.lane));
}

function planLane<K extends NemesisKind>(
  rng: Rng,
  window: { startMs: number; endMs: number },
  pacing: Pacing,
  kinds: readonly K[],
  make: (kind: K, atMs: number, durationMs: number) => FaultPlan,
): FaultPlan[] {
  const faults: FaultPlan[] = [];
  if (kinds.length === 0) return faults;
  let atMs = window.startMs + rng.int(0, pacing.gapMsMax);
  while (atMs + FAULT_MS_MIN <= window.endMs) {
    const kind = pickWeighted(rng, kinds);
    const durationMs = Math.min(rng.int(pacing.faultMsMin, pacing.faultMsMax), window.endMs - atMs);
    const fault = make(kind, atMs, durationMs);
    if (fault.atMs + FAULT_MS_MIN > window.endMs) break;
    faults.push(fault);
    atMs = fault.atMs + fault.durationMs + rng.int(pacing.gapMsMin, pacing.gapMsMax);
  }
  return faults;
}

/**
 * How often each kind comes up, relative to the others of its lane: a membership change
 * replaces a whole node and holds its slot until the newcomer is promoted, so it comes less often.
 */
const KIND_WEIGHTS: Record<NemesisKind, number> = { kill: 2, pause: 2, membership: 1, partition: 3, loss: 2 };

function pickWeighted<K extends NemesisKind>(rng: Rng, kinds: readonly K[]): K {
  const total = kinds.reduce((sum, kind) => sum + KIND_WEIGHTS[kind], 0);
  let draw = rng.float() * total;
  for (const kind of kinds) {
    draw -= KIND_WEIGHTS[kind];
    if (draw < 0) return kind;
  }
  return kinds.at(-1)!;
}

/** A membership change goes into the next network fault that starts soon enough, if any. */
function membershipStart(network: readonly FaultPlan[], atMs: number, endMs: number): number {
  const next = network.find((fault) => fault.atMs + MEMBERSHIP_OFFSET_MS >= atMs && fault.durationMs > MEMBERSHIP_OFFSET_MS);
  if (next === undefined || next.atMs + MEMBERSHIP_OFFSET_MS + FAULT_MS_MIN > endMs) return atMs;
  return next.atMs + MEMBERSHIP_OFFSET_MS;
}

function networkFault(rng: Rng, input: ScheduleInput, kind: "partition" | "loss", atMs: number, durationMs: number): FaultPlan {
  if (kind === "loss") return { kind, lane: "network", atMs, durationMs, rates: lossRates(rng, input.nodes, input.pacing) };
  return { kind, lane: "network", atMs, durationMs, shape: partitionShape(rng, input.nodes) };
}

function processFault(rng: Rng, input: ScheduleInput, kind: "kill" | "pause" | "membership", atMs: number, durationMs: number): FaultPlan {
  if (kind === "membership") return { kind, lane: "process", atMs, durationMs, target: pickTarget(rng, input.nodes) };
  const tolerable = Math.floor((input.nodes - 1) / 2);
  const count = rng.chance(MULTI_TARGET_CHANCE) ? tolerable : 1;
  const slots = distinctSlots(rng, input.nodes, count);
  const targets: TargetPick[] = slots.map((slot) => ({ slot }));
  if (rng.chance(LEADER_TARGET_CHANCE)) targets[0] = { leader: true };
  return { kind, lane: "process", atMs, durationMs, targets };
}

function partitionShape(rng: Rng, nodes: number): PartitionShape {
  switch (rng.pick(["isolate", "isolate-leader", "split", "one-way"] as const)) {
    case "isolate":
      return { type: "isolate", target: { slot: rng.int(0, nodes) } };
    case "isolate-leader":
      return { type: "isolate", target: { leader: true } };
    case "split":
      return { type: "split", minority: distinctSlots(rng, nodes, Math.floor((nodes - 1) / 2)), leaderSide: rng.chance(0.5) ? "minority" : "majority" };
    case "one-way":
      return { type: "one-way", target: pickTarget(rng, nodes), direction: rng.chance(0.5) ? "out" : "in" };
  }
}

function pickTarget(rng: Rng, nodes: number): TargetPick {
  return rng.chance(LEADER_TARGET_CHANCE) ? { leader: true } : { slot: rng.int(0, nodes) };
}

function distinctSlots(rng: Rng, nodes: number, count: number): number[] {
  const slots = Array.from({ length: nodes }, (_, i) => i);
  for (let i = nodes - 1; i > 0; i--) {
    const j = rng.int(0, i + 1);
    [slots[i], slots[j]] = [slots[j]!, slots[i]!];
  }
  return slots.slice(0, count).sort((a, b) => a - b);
}

function lossRates(rng: Rng, nodes: number, pacing: Pacing): number[][] {
  return Array.from({ length: nodes }, (_, from) =>
    Array.from({ length: nodes }, (_, to) => (from === to ? 0 : Math.round((pacing.lossMin + rng.float() * (pacing.lossMax - pacing.lossMin)) * 1000) / 1000)),
  );
}

/** One line per fault, for the run's log and the report. */
export function describePlan(fault: FaultPlan): string {
  const at = `${(fault.atMs / 1000).toFixed(1)}s+${(fault.durationMs / 1000).toFixed(1)}s`;
  switch (fault.kind) {
    case "kill":
    case "pause":
      return `${at} ${fault.kind} ${fault.targets.map(describeTarget).join(",")}`;
    case "membership":
      return `${at} membership replace ${describeTarget(fault.target)}`;
    case "loss": {
      const rates = fault.rates.flat().filter((_, i) => i % (fault.rates.length + 1) !== 0);
      return `${at} loss ${Math.min(...rates).toFixed(2)}..${Math.max(...rates).toFixed(2)} on every link`;
    }
    case "partition":
      return `${at} partition ${describeShape(fault.shape)}`;
  }
}

export function describeShape(shape: PartitionShape): string {
  switch (shape.type) {
    case "isolate":
      return `isolate ${describeTarget(shape.target)}`;
    case "split":
      return `split minority ${shape.minority.map((s) => `slot ${s}`).join("+")} (leader in the ${shape.leaderSide})`;
    case "one-way":
      return shape.direction === "out" ? `one-way: nothing from ${describeTarget(shape.target)} arrives` : `one-way: nothing reaches ${describeTarget(shape.target)}`;
  }
}

export function describeTarget(target: TargetPick): string {
  return "leader" in target ? "the leader" : `slot ${target.slot}`;
}
