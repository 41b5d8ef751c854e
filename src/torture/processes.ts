/**
 * The node processes of a torture run. A slot is a place a node lives in (a namespace, or a
 * set of loopback ports); the node in it is a real `flotilla start` process that the nemesis
 * kills, restarts, pauses and resumes, and that a membership change replaces with a new node.
 * Every process's output goes to a log file in the report folder, all its lives appended.
 *
 * A process that exits when nobody killed it is recorded: a crash is an anomaly, except a
 * joining node that gave up because the cluster was unreachable (it is started again at heal).
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { Client, FlotillaError, type Status } from "../client/index.js";
import { TORTURE_LOG_TAIL_BYTES, TORTURE_MEMBERSHIP_TIMEOUT_MS, TORTURE_NODE_READY_TIMEOUT_MS } from "./limits.js";
import type { Network, SlotAddress } from "./network.js";

/**
 * The nodes run the built CLI, the same `flotilla` this runner is part of. The path goes
 * through the package's dist/ so that it holds from the build (dist/torture) and from the
 * sources the tests run (src/torture) alike.
 */
const CLI_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../dist/cli/main.js");

export type SlotLife = "running" | "killed" | "paused" | "exited";

export interface Slot {
  readonly index: number;
  /** The id of the node living here now (a membership change gives the slot a new one). */
  id: string;
  readonly address: SlotAddress;
  dataDir: string;
  life: SlotLife;
  /** How a (re)start of this node is told to find its cluster: --bootstrap or --join. */
  launchArgs: string[];
  child: ChildProcess | undefined;
  exited: Promise<void> | undefined;
  /** Set while the harness itself ends the process, so its exit is not taken for a crash. */
  exitExpected: boolean;
  joining: boolean;
  /** The id whose removal was asked for with an unknown outcome (see reconcileRemovals). */
  pendingRemoval: string | undefined;
  logTail: string;
}

export interface ProcessEvent {
  readonly atMs: number;
  readonly slot: number;
  readonly id: string;
  readonly what: "crash" | "join-gave-up";
  readonly detail: string;
}

export interface ClusterSettings {
  readonly network: Network;
  readonly nodes: number;
  readonly dataRoot: string;
  readonly logDir: string;
  readonly logLevel: string;
  readonly nodeArgs: readonly string[];
  readonly opTimeoutMs: number;
  /** Milliseconds since the workload started (negative before). */
  readonly clock: () => number;
}

export class TortureCluster {
  readonly slots: Slot[];
  readonly events: ProcessEvent[] = [];
  readonly #settings: ClusterSettings;
  readonly #clients = new Map<string, Client>();
  #nextId: number;

  constructor(settings: ClusterSettings) {
    this.#settings = settings;
    this.slots = Array.from({ length: settings.nodes }, (_, index) => ({
      index,
      id: `n${index + 1}`,
      address: settings.network.address(index),
      dataDir: path.join(settings.dataRoot, `n${index + 1}`),
      life: "exited" as SlotLife,
      launchArgs: [],
      child: undefined,
      exited: undefined,
      exitExpected: false,
      joining: false,
      pendingRemoval: undefined,
      logTail: "",
    }));
    this.#nextId = settings.nodes + 1;
    fs.mkdirSync(settings.logDir, { recursive: true });
  }

  /** Bootstraps every slot's node and waits until all are ready. */
  async start(): Promise<void> {
    const bootstrap = this.slots.map((slot) => `${slot.id}=${slot.address.peerAdvertised}`).join(",");
    for (const slot of this.slots) {
      this.#settings.network.identify(slot.id, slot.index);
      slot.launchArgs = ["--bootstrap", bootstrap];
      this.#launch(slot);
    }
    await Promise.all(this.slots.map((slot) => this.waitReady(slot.index)));
  }

  slotOfId(id: string): number | undefined {
    return this.slots.find((slot) => slot.id === id)?.index;
  }

  /** A client that talks to this slot only, once per request: the workload decides about retries. */
  client(slot: number, timeoutMs = this.#settings.opTimeoutMs): Client {
    const key = `${slot}/${timeoutMs}`;
    let client = this.#clients.get(key);
    if (client === undefined) {
      client = new Client({ endpoints: [this.slots[slot]!.address.client], retries: 0, timeoutMs });
      this.#clients.set(key, client);
    }
    return client;
  }

  async status(slot: number, timeoutMs: number): Promise<Status | undefined> {
    try {
      return await this.client(slot, timeoutMs).status();
    } catch {
      return undefined;
    }
  }

  async waitReady(slot: number, timeoutMs = TORTURE_NODE_READY_TIMEOUT_MS): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const state = this.slots[slot]!;
      if (state.life === "exited") return false;
      if (await this.client(slot, 1_000).ready().catch(() => false)) return true;
      await sleep(200);
    }
    return false;
  }

  async kill(slot: number): Promise<void> {
    const state = this.slots[slot]!;
    if (state.child === undefined || state.life === "exited" || state.life === "killed") return;
    state.exitExpected = true;
    state.child.kill("SIGKILL");
    await state.exited;
    state.life = "killed";
  }

  pause(slot: number): void {
    const state = this.slots[slot]!;
    if (state.life !== "running") return;
    state.child?.kill("SIGSTOP");
    state.life = "paused";
  }

  resume(slot: number): void {
    const state = this.slots[slot]!;
    if (state.life !== "paused") return;
    state.child?.kill("SIGCONT");
    state.life = "running";
  }

  /** Starts the slot's node again (after a kill, or after it exited); a node with data resumes it. */
  restart(slot: number): void {
    const state = this.slots[slot]!;
    if (state.life === "running" || state.life === "paused") return;
    this.#launch(state);
  }

  /**
   * Replaces the slot's node through the public API: remove it from the cluster, end it, wipe
   * its data, and start a new node with a new id that joins as a learner and is promoted once
   * caught up. Resolves with what happened, in one line.
   */
  async replace(slot: number, otherSlots: readonly number[], stop?: AbortSignal): Promise<string> {
    const state = this.slots[slot]!;
    const oldId = state.id;
    const admin = this.#admin(otherSlots);
    const removal = await removeMember(admin, oldId, Date.now() + TORTURE_MEMBERSHIP_TIMEOUT_MS / 2, stop);
    if (removal.startsWith("uncertain")) state.pendingRemoval = oldId;
    if (removal !== "removed") return `${oldId} was not removed (${removal})`;
    const newId = await this.#startReplacement(state, otherSlots);
    const promoted = await waitForVoter(admin, newId, () => state.life === "exited" || stop?.aborted === true);
    return promoted ? `${oldId} removed; ${newId} joined in its place and was promoted` : `${oldId} removed; ${newId} started to join but was not promoted in time`;
  }

  /**
   * A removal whose outcome was unknown may have happened after the nemesis moved on: once the
   * membership is known again (at heal), a node that is no longer a member is replaced as planned.
   */
  async reconcileRemovals(memberIds: ReadonlySet<string>): Promise<void> {
    for (const state of this.slots) {
      if (state.pendingRemoval === undefined || state.pendingRemoval !== state.id) continue;
      state.pendingRemoval = undefined;
      if (memberIds.has(state.id)) continue;
      await this.#startReplacement(
        state,
        this.slots.filter((other) => other !== state).map((other) => other.index),
      );
    }
  }

  async #startReplacement(state: Slot, otherSlots: readonly number[]): Promise<string> {
    await this.kill(state.index);
    fs.rmSync(state.dataDir, { recursive: true, force: true });
    state.id = `n${this.#nextId++}`;
    state.dataDir = path.join(this.#settings.dataRoot, state.id);
    this.#settings.network.identify(state.id, state.index);
    state.launchArgs = ["--join", otherSlots.map((other) => this.slots[other]!.address.client).join(",")];
    state.joining = true;
    this.#launch(state);
    return state.id;
  }

  #admin(slots: readonly number[]): Client {
    return new Client({ endpoints: slots.map((other) => this.slots[other]!.address.client), retries: 2, timeoutMs: this.#settings.opTimeoutMs });
  }

  /** Every node runs again: paused ones resume, killed or exited ones restart. */
  heal(): void {
    for (const slot of this.slots) {
      if (slot.life === "paused") this.resume(slot.index);
      else if (slot.life === "killed" || slot.life === "exited") this.restart(slot.index);
    }
  }

  /** Ends every process (SIGKILL; a paused one too) and waits for them. */
  async close(): Promise<void> {
    await Promise.all(this.slots.map((slot) => this.kill(slot.index)));
  }

  /** The synchronous last resort at process exit. */
  closeNow(): void {
    for (const slot of this.slots) {
      if (slot.child !== undefined && slot.life !== "exited" && slot.life !== "killed") {
        slot.exitExpected = true;
        try {
          slot.child.kill("SIGKILL");
        } catch {
          // already gone
        }
      }
    }
  }

  #launch(slot: Slot): void {
    fs.mkdirSync(path.dirname(slot.dataDir), { recursive: true });
    const args = [
      CLI_PATH,
      "start",
      "--id",
      slot.id,
      "--data",
      slot.dataDir,
      "--client",
      slot.address.client,
      "--peer",
      slot.address.peerListen,
      "--advertise-peer",
      slot.address.peerAdvertised,
      "--log-level",
      this.#settings.logLevel,
      ...this.#settings.nodeArgs,
      ...slot.launchArgs,
    ];
    const { file, args: commandArgs } = this.#settings.network.command(slot.index, args);
    const log = fs.createWriteStream(path.join(this.#settings.logDir, `${slot.id}.log`), { flags: "a" });
    const child = spawn(file, commandArgs, { stdio: ["ignore", "pipe", "pipe"] });
    const keep = (chunk: Buffer): void => {
      log.write(chunk);
      slot.logTail = (slot.logTail + chunk.toString("utf8")).slice(-TORTURE_LOG_TAIL_BYTES);
    };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    slot.child = child;
    slot.life = "running";
    slot.exitExpected = false;
    slot.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        log.end();
        if (slot.child === child) this.#onExit(slot, code, signal);
        resolve();
      });
    });
  }

  #onExit(slot: Slot, code: number | null, signal: NodeJS.Signals | null): void {
    const expected = slot.exitExpected;
    slot.life = "exited";
    slot.child = undefined;
    if (expected) return;
    const how = signal !== null ? `signal ${signal}` : `exit code ${code}`;
    const gaveUpJoining = slot.joining && /could not join/.test(slot.logTail);
    this.events.push({
      atMs: this.#settings.clock(),
      slot: slot.index,
      id: slot.id,
      what: gaveUpJoining ? "join-gave-up" : "crash",
      detail: `${slot.id} (slot ${slot.index}) exited by itself with ${how}; its last output:\n${lastLines(slot.logTail, 15)}`,
    });
  }

  /** Slots whose node has joined and been promoted since: a restart then needs no --join. */
  noteVoters(voters: ReadonlySet<string>): void {
    for (const slot of this.slots) if (slot.joining && voters.has(slot.id)) slot.joining = false;
  }
}

/**
 * Removes a member through the API until it is surely gone ("removed"), surely refused
 * (409: it would leave no quorum), or the deadline passes with the outcome unknown.
 */
async function removeMember(admin: Client, id: string, deadline: number, stop: AbortSignal | undefined): Promise<string> {
  let last = "";
  for (;;) {
    try {
      await admin.members.remove(id);
      return "removed";
    } catch (error) {
      if (!(error instanceof FlotillaError)) return `refused: ${String(error)}`;
      if (error.status === 404) return "removed"; // an earlier attempt took effect
      if (error.status === 409 || error.status === 400) return `refused: ${error.message}`;
      last = `${error.status} ${error.code}: ${error.message}`;
    }
    if (Date.now() > deadline || stop?.aborted === true) return `uncertain: ${last}`;
    await sleep(1_000);
  }
}

async function waitForVoter(admin: Client, id: string, gaveUp: () => boolean): Promise<boolean> {
  const deadline = Date.now() + TORTURE_MEMBERSHIP_TIMEOUT_MS;
  while (Date.now() < deadline && !gaveUp()) {
    const members = await admin.members.list().catch(() => undefined);
    if (members?.some((member) => member.id === id && member.voter)) return true;
    await sleep(500);
  }
  return false;
}

function lastLines(text: string, count: number): string {
  return text.trimEnd().split("\n").slice(-count).join("\n");
}
