/**
 * Watches who leads: every node is asked for its status a few times a second (a node that does
 * not answer quickly is skipped), and the leader of the highest term seen is the leader. The
 * nemesis asks it whom "the leader" is; the report draws its timeline; the summary counts its
 * changes.
 */
import { TORTURE_MONITOR_INTERVAL_MS, TORTURE_MONITOR_SAMPLES_MAX } from "./limits.js";
import type { TortureCluster } from "./processes.js";

export interface LeaderSample {
  readonly atMs: number;
  /** "" while no node says it leads. */
  readonly leader: string;
  readonly term: number;
}

const STATUS_TIMEOUT_MS = 400;

export class LeaderMonitor {
  readonly samples: LeaderSample[] = [];
  readonly #cluster: TortureCluster;
  readonly #clock: () => number;
  #timer: NodeJS.Timeout | undefined;
  #polling = false;
  #current: LeaderSample = { atMs: 0, leader: "", term: 0 };
  #lastLeader = "";
  #changes = 0;

  constructor(cluster: TortureCluster, clock: () => number) {
    this.#cluster = cluster;
    this.#clock = clock;
  }

  start(): void {
    this.#timer = setInterval(() => void this.poll(), TORTURE_MONITOR_INTERVAL_MS);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** The slot of the latest known leader, if it is still believed to lead. */
  leaderSlot(): number | undefined {
    return this.#current.leader === "" ? undefined : this.#cluster.slotOfId(this.#current.leader);
  }

  get current(): LeaderSample {
    return this.#current;
  }

  /** How often a new (term, leader) pair was seen after the first: how often leadership moved. */
  get leaderChanges(): number {
    return this.#changes;
  }

  async poll(): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    try {
      const statuses = await Promise.all(this.#cluster.slots.map((slot) => (slot.life === "running" ? this.#cluster.status(slot.index, STATUS_TIMEOUT_MS) : undefined)));
      let best: { leader: string; term: number } | undefined;
      for (const status of statuses) {
        if (status === undefined || status.role !== "leader") continue;
        if (best === undefined || status.term > best.term) best = { leader: status.id, term: status.term };
      }
      const highestTerm = Math.max(0, ...statuses.map((status) => status?.term ?? 0));
      // A node that knows a higher term than the leader it heard of says the old leader is gone.
      const next = best !== undefined && best.term >= highestTerm ? best : { leader: "", term: highestTerm };
      this.#record(next);
    } finally {
      this.#polling = false;
    }
  }

  #record(next: { leader: string; term: number }): void {
    const leaderKey = next.leader === "" ? "" : `${next.term}/${next.leader}`;
    if (leaderKey !== "" && leaderKey !== this.#lastLeader) {
      if (this.#lastLeader !== "") this.#changes++;
      this.#lastLeader = leaderKey;
    }
    if (next.leader === this.#current.leader && next.term === this.#current.term) return;
    this.#current = { atMs: this.#clock(), ...next };
    this.samples.push(this.#current);
    if (this.samples.length > TORTURE_MONITOR_SAMPLES_MAX) this.samples.shift();
  }
}
