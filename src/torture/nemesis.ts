/**
 * Carries out the plan (schedule.ts) against the real cluster, lane by lane, and records each
 * fault as an interval with what it did. A fault is always undone (restart, resume, rules
 * removed), also when the run is cut short. "The leader" is resolved when the fault starts.
 */
import { cutsForShape, lossFromRates, mergeStates, resolveShape, type NetworkState } from "./network.js";
import type { NemesisKind } from "./options.js";
import { describeShape, type FaultPlan, type Lane, type TargetPick } from "./schedule.js";

export interface FaultRecord {
  readonly kind: NemesisKind;
  readonly lane: Lane;
  /** partition: isolate | isolate-leader | split | one-way; others: the kind. */
  readonly variant: string;
  readonly startMs: number;
  endMs: number | undefined;
  /** Node ids it touched (at the time). */
  readonly nodes: readonly string[];
  detail: string;
}

/** What the nemesis may do; run.ts binds it to the cluster, the network and the monitor. */
export interface NemesisControl {
  readonly nodes: number;
  clock(): number;
  leaderSlot(): number | undefined;
  idOf(slot: number): string;
  kill(slot: number): Promise<void>;
  restart(slot: number): void;
  pause(slot: number): void;
  resume(slot: number): void;
  /** Replaces the slot's node with a new one; `stop` cuts the waiting short. */
  replace(slot: number, stop: AbortSignal): Promise<string>;
  applyNetwork(state: NetworkState): Promise<void>;
}

export class Nemesis {
  readonly faults: FaultRecord[] = [];
  readonly #control: NemesisControl;
  readonly #network = new Map<FaultPlan, NetworkState>();
  readonly #stop = new AbortController();
  /** Slots a fault of another lane holds (a membership change must not pick a paused node's slot). */
  readonly #busy = new Set<number>();
  /** Membership changes still under way (each ends by its own deadline, or soon after stop()). */
  readonly #background = new Set<Promise<void>>();
  #applying: Promise<void> = Promise.resolve();

  constructor(control: NemesisControl) {
    this.#control = control;
  }

  /** Runs every lane of the plan; resolves when all are done or stop() was called. */
  async run(plan: readonly FaultPlan[]): Promise<void> {
    const lanes = new Map<Lane, FaultPlan[]>();
    for (const fault of plan) lanes.set(fault.lane, [...(lanes.get(fault.lane) ?? []), fault]);
    await Promise.all([...lanes.values()].map((faults) => this.#runLane(faults)));
    while (this.#background.size > 0) await Promise.all([...this.#background]);
  }

  stop(): void {
    this.#stop.abort();
  }

  get stopped(): boolean {
    return this.#stop.signal.aborted;
  }

  /** The faults active now, one line each (for the progress line). */
  active(): string[] {
    return this.faults.filter((fault) => fault.endMs === undefined).map((fault) => `${fault.variant} ${fault.nodes.join(",")}`.trim());
  }

  async #runLane(faults: readonly FaultPlan[]): Promise<void> {
    for (const fault of faults) {
      await this.#wait(fault.atMs - this.#control.clock());
      if (this.stopped) return;
      await this.#perform(fault);
    }
  }

  async #perform(fault: FaultPlan): Promise<void> {
    switch (fault.kind) {
      case "kill":
        return this.#processFault(fault, fault.targets, async (slot) => this.#control.kill(slot), async (slot) => this.#control.restart(slot));
      case "pause":
        return this.#processFault(fault, fault.targets, async (slot) => this.#control.pause(slot), async (slot) => this.#control.resume(slot));
      case "partition": {
        const resolved = resolveShape(fault.shape, this.#control.nodes, this.#control.leaderSlot(), this.#fallbackSlot(fault.atMs));
        const involved = resolved.type === "split" ? resolved.minority : [resolved.slot];
        const variant = fault.shape.type === "isolate" && "leader" in fault.shape.target ? "isolate-leader" : fault.shape.type;
        const record = this.#begin(fault, variant, involved, describeShape(fault.shape));
        return this.#networkFault(fault, record, { cuts: cutsForShape(resolved, this.#control.nodes), loss: new Map() });
      }
      case "loss": {
        const record = this.#begin(fault, "loss", [], "loss on every link");
        return this.#networkFault(fault, record, { cuts: new Set(), loss: lossFromRates(fault.rates) });
      }
      case "membership":
        return this.#membership(fault);
    }
  }

  async #processFault(fault: FaultPlan, targets: readonly TargetPick[], apply: (slot: number) => Promise<void>, undo: (slot: number) => Promise<void>): Promise<void> {
    const slots = this.#resolveTargets(targets, fault.atMs);
    if (slots.length === 0) return;
    const record = this.#begin(fault, fault.kind, slots, `${fault.kind} ${slots.map((slot) => this.#control.idOf(slot)).join(",")}`);
    for (const slot of slots) this.#busy.add(slot);
    try {
      for (const slot of slots) await apply(slot);
      await this.#wait(fault.durationMs);
    } finally {
      for (const slot of slots) await undo(slot);
      for (const slot of slots) this.#busy.delete(slot);
      record.endMs = this.#control.clock();
    }
  }

  async #networkFault(fault: FaultPlan, record: FaultRecord, state: NetworkState): Promise<void> {
    this.#network.set(fault, state);
    try {
      await this.#applyNetwork();
      await this.#wait(fault.durationMs);
    } finally {
      this.#network.delete(fault);
      await this.#applyNetwork();
      record.endMs = this.#control.clock();
    }
  }

  /**
   * Lanes change the network independently; applying is serialized, and each application takes
   * the state of that moment, so the last one always leaves the current state in place.
   */
  #applyNetwork(): Promise<void> {
    const next = this.#applying.then(() => this.#control.applyNetwork(mergeStates(this.#network.values())));
    this.#applying = next.catch(() => undefined);
    return next;
  }

  /**
   * The change runs on its own: the lane moves on at the planned end (so kills and pauses may
   * hit other nodes while a newcomer catches up), and the slot stays held until it is done.
   */
  async #membership(fault: Extract<FaultPlan, { kind: "membership" }>): Promise<void> {
    const [slot] = this.#resolveTargets([fault.target], fault.atMs);
    if (slot === undefined) return;
    const record = this.#begin(fault, "membership", [slot], `replace ${this.#control.idOf(slot)}`);
    this.#busy.add(slot);
    const change = this.#control
      .replace(slot, this.#stop.signal)
      .then((detail) => {
        record.detail = detail;
      })
      .catch((error: Error) => {
        record.detail = `the change failed: ${error.message}`;
      })
      .finally(() => {
        this.#busy.delete(slot);
        record.endMs = this.#control.clock();
      });
    this.#background.add(change);
    void change.finally(() => this.#background.delete(change));
    await this.#wait(fault.atMs + fault.durationMs - this.#control.clock());
  }

  /** Distinct slots; "the leader" is whoever leads now, and a busy slot gives way to the next free one. */
  #resolveTargets(targets: readonly TargetPick[], salt: number): number[] {
    const slots: number[] = [];
    for (const target of targets) {
      let slot = "leader" in target ? (this.#control.leaderSlot() ?? this.#fallbackSlot(salt)) : target.slot;
      for (let step = 0; step < this.#control.nodes && (slots.includes(slot) || this.#busy.has(slot)); step++) slot = (slot + 1) % this.#control.nodes;
      if (!slots.includes(slot) && !this.#busy.has(slot)) slots.push(slot);
    }
    return slots;
  }

  /** When no leader is known, a slot that depends only on the plan. */
  #fallbackSlot(salt: number): number {
    return Math.floor(salt) % this.#control.nodes;
  }

  #begin(fault: FaultPlan, variant: string, slots: readonly number[], detail: string): FaultRecord {
    const record: FaultRecord = {
      kind: fault.kind,
      lane: fault.lane,
      variant,
      startMs: this.#control.clock(),
      endMs: undefined,
      nodes: slots.map((slot) => this.#control.idOf(slot)),
      detail,
    };
    this.faults.push(record);
    return record;
  }

  /** Sleeps, cut short by stop(). */
  async #wait(ms: number): Promise<void> {
    if (ms <= 0 || this.stopped) return;
    const signal = this.#stop.signal;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
    });
  }
}
