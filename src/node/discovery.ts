/**
 * Finding the other nodes of a cluster on the local network by its name alone (mDNS, RFC 6762):
 * every node answers queries for `_flotilla-<name>._tcp.local` with a TXT record that says who
 * it is (id, peer address, client URL) and whether it is still forming a cluster or already
 * running one. A node with no data asks until it can decide (decidePlan):
 *
 * - once `expect` nodes have been seen (itself included), the `expect` smallest ids are the
 *   founders: each computes the same sorted list, hence the same members and cluster id. A
 *   founder bootstraps once that set has stayed the same for DISCOVERY_SETTLE_MS, or at once
 *   when the founders already running run exactly that cluster (it was a little late);
 * - every other node, and a founder that sees nodes running another cluster of that name,
 *   joins through the running nodes (the normal --join path).
 *
 * A cluster name is not a secret. With a join token, every record carries an HMAC of its
 * fields under the token and records without a valid one are ignored, so a stranger can
 * neither be counted into a new cluster nor lure a node into its own; joining a running
 * cluster needs the token anyway (POST /v1/members), and every peer handshake carries the
 * cluster id.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { createRequire } from "node:module";
import { isIPv4 } from "node:net";
import os from "node:os";
import type makeMdns from "multicast-dns";
import type { Logger } from "pino";
import {
  DISCOVERY_ANSWER_INTERVAL_MS_MIN,
  DISCOVERY_CLUSTER_NAME_LENGTH_MAX,
  DISCOVERY_NODES_MAX,
  DISCOVERY_PROGRESS_INTERVAL_MS,
  DISCOVERY_QUERY_INTERVAL_MS,
  DISCOVERY_RECORD_TTL_MS,
  DISCOVERY_SETTLE_MS,
  DISCOVERY_WAIT_MS_MAX,
  MEMBER_ADDRESS_BYTES_MAX,
  PEER_ID_LENGTH_MAX,
} from "../util/limits.js";
import { NodeError } from "./api.js";
import { bootstrapClusterId } from "./identity.js";

export type DiscoveryState = "forming" | "running";

/** What one node announces about itself. */
export interface NodeRecord {
  readonly id: string;
  /** Peer address, host:port. */
  readonly peer: string;
  /** Client URL, http://host:port. */
  readonly client: string;
  readonly state: DiscoveryState;
  /** The cluster id, once running. */
  readonly clusterId?: string;
}

/** A record as seen by this node, and when it was last seen. */
export interface SeenRecord {
  readonly record: NodeRecord;
  readonly lastSeenMs: number;
}

export type DiscoveryPlan =
  | { readonly kind: "bootstrap"; readonly members: Readonly<Record<string, string>> }
  | { readonly kind: "join"; readonly endpoints: readonly string[] };

const RECORD_VERSION = "1";
const AUTH_HEX_LENGTH = 32;
const TXT_STRING_BYTES_MAX = 255;
const CLUSTER_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9-]*$/;

export function checkClusterName(name: string): void {
  if (name.length > DISCOVERY_CLUSTER_NAME_LENGTH_MAX || !CLUSTER_NAME_PATTERN.test(name)) {
    throw new NodeError("bad_request", `a cluster name for discovery is 1..${DISCOVERY_CLUSTER_NAME_LENGTH_MAX} letters, digits or '-', starting with a letter or digit, not ${JSON.stringify(name)}`);
  }
}

export function serviceName(clusterName: string): string {
  return `_flotilla-${clusterName.toLowerCase()}._tcp.local`;
}

// ---------------------------------------------------------------------------------------
// Records: TXT strings "key=value", authenticated with the join token when there is one

function authOf(clusterName: string, record: NodeRecord, joinToken: string): string {
  const canonical = [clusterName, record.id, record.peer, record.client, record.state, record.clusterId ?? ""].join("\n");
  return createHmac("sha256", joinToken).update(canonical).digest("hex").slice(0, AUTH_HEX_LENGTH);
}

export function encodeRecord(clusterName: string, record: NodeRecord, joinToken: string | undefined): string[] {
  const fields = [`v=${RECORD_VERSION}`, `cluster=${clusterName}`, `id=${record.id}`, `peer=${record.peer}`, `client=${record.client}`, `state=${record.state}`];
  if (record.clusterId !== undefined) fields.push(`cid=${record.clusterId}`);
  if (joinToken !== undefined) fields.push(`auth=${authOf(clusterName, record, joinToken)}`);
  for (const field of fields) {
    if (Buffer.byteLength(field) > TXT_STRING_BYTES_MAX) throw new NodeError("bad_request", `cannot announce ${JSON.stringify(field.slice(0, 40))}...: a discovery field is at most ${TXT_STRING_BYTES_MAX} bytes`);
  }
  return fields;
}

/** A TXT record's strings back into a record of this cluster; a reason string when it is not one. */
export function decodeRecord(clusterName: string, strings: readonly string[], joinToken: string | undefined): NodeRecord | string {
  const fields = new Map<string, string>();
  for (const text of strings) {
    const equals = text.indexOf("=");
    if (equals > 0) fields.set(text.slice(0, equals), text.slice(equals + 1));
  }
  if (fields.get("v") !== RECORD_VERSION) return `record version ${JSON.stringify(fields.get("v"))} is not ${RECORD_VERSION}`;
  if (fields.get("cluster") !== clusterName) return "record of another cluster name";
  const id = fields.get("id") ?? "";
  const peer = fields.get("peer") ?? "";
  const client = fields.get("client") ?? "";
  const state = fields.get("state");
  if (id.length === 0 || id.length > PEER_ID_LENGTH_MAX) return `bad node id ${JSON.stringify(id.slice(0, 80))}`;
  if (!isHostPort(peer)) return `bad peer address ${JSON.stringify(peer.slice(0, 80))}`;
  if (!isHttpUrl(client)) return `bad client URL ${JSON.stringify(client.slice(0, 80))}`;
  if (state !== "forming" && state !== "running") return `bad state ${JSON.stringify(state)}`;
  const cid = fields.get("cid");
  const record: NodeRecord = { id, peer, client, state, ...(cid === undefined ? {} : { clusterId: cid }) };
  if (joinToken !== undefined) {
    const auth = fields.get("auth") ?? "";
    const expected = authOf(clusterName, record, joinToken);
    if (auth.length !== expected.length || !timingSafeEqual(Buffer.from(auth), Buffer.from(expected))) return "record not signed with this cluster's join token";
  }
  return record;
}

function isHostPort(text: string): boolean {
  if (text.length > MEMBER_ADDRESS_BYTES_MAX) return false;
  const colon = text.lastIndexOf(":");
  const port = Number(text.slice(colon + 1));
  return colon > 0 && Number.isInteger(port) && port > 0 && port < 65536;
}

function isHttpUrl(text: string): boolean {
  if (text.length > MEMBER_ADDRESS_BYTES_MAX) return false;
  try {
    const url = new URL(text);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------
// The decision, pure: what this node should do given what it has seen

export interface DecideInput {
  readonly self: NodeRecord;
  /** Other nodes' records, fresh ones only (the caller forgets records older than the TTL). */
  readonly seen: ReadonlyMap<string, SeenRecord>;
  /** How many nodes bootstrap together; undefined: never bootstrap, only join. */
  readonly expect: number | undefined;
  /** Milliseconds since the set of nodes seen last changed. */
  readonly stableForMs: number;
}

/** What to do now, or undefined: keep asking. */
export function decidePlan(input: DecideInput): DiscoveryPlan | undefined {
  const others = [...input.seen.values()].map((seen) => seen.record).filter((record) => record.id !== input.self.id);
  const running = others.filter((record) => record.state === "running").sort(byId);
  const founders = foundersWithSelf(input, others);
  if (founders !== undefined) {
    const clusterId = bootstrapClusterId(founders);
    if (running.length === 0) return input.stableForMs >= DISCOVERY_SETTLE_MS ? { kind: "bootstrap", members: founders } : undefined;
    if (running.every((record) => record.clusterId === clusterId)) return { kind: "bootstrap", members: founders };
  }
  return running.length === 0 ? undefined : { kind: "join", endpoints: running.map((record) => record.client) };
}

/** The `expect` smallest ids seen, as id → peer, when they include this node. */
function foundersWithSelf(input: DecideInput, others: readonly NodeRecord[]): Record<string, string> | undefined {
  if (input.expect === undefined) return undefined;
  const all = [input.self, ...others].sort((a, b) => compareIds(a.id, b.id));
  if (all.length < input.expect) return undefined;
  const chosen = all.slice(0, input.expect);
  if (!chosen.some((record) => record.id === input.self.id)) return undefined;
  return Object.fromEntries(chosen.map((record) => [record.id, record.peer]));
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function byId(a: NodeRecord, b: NodeRecord): number {
  return compareIds(a.id, b.id);
}

// ---------------------------------------------------------------------------------------
// The responder and browser on the network

export interface DiscoveryOptions {
  readonly clusterName: string;
  readonly self: NodeRecord;
  readonly joinToken?: string;
  readonly logger: Logger;
  /** UDP port (default 5353, mDNS's). */
  readonly port?: number;
}

/**
 * multicast-dns (and its DNS packet codec) is loaded by the first Discovery, not with this
 * module: most nodes start with --bootstrap or --join and never need it.
 */
function loadMulticastDns(): typeof makeMdns {
  return createRequire(import.meta.url)("multicast-dns") as typeof makeMdns;
}

/**
 * One mDNS socket: answers queries for the cluster's service name with this node's record for
 * as long as it is open, and, while `find` runs, asks every DISCOVERY_QUERY_INTERVAL_MS.
 */
export class Discovery {
  readonly #options: DiscoveryOptions;
  readonly #service: string;
  readonly #instance: string;
  readonly #log: Logger;
  readonly #mdns: makeMdns.MulticastDNS;
  readonly #seen = new Map<string, SeenRecord>();
  readonly #ignored = new Set<string>();
  #self: NodeRecord;
  #membershipChangedAt = Date.now();
  #failure: Error | undefined;
  #closed = false;
  #lastAnswerMs = 0;

  constructor(options: DiscoveryOptions) {
    checkClusterName(options.clusterName);
    this.#options = options;
    this.#self = options.self;
    this.#service = serviceName(options.clusterName);
    this.#instance = `node-${createHash("sha256").update(options.self.id).digest("hex").slice(0, 16)}.${this.#service}`;
    this.#log = options.logger.child({ component: "discovery", cluster: options.clusterName });
    encodeRecord(options.clusterName, options.self, options.joinToken); // fails now on fields too long to announce
    const networkInterface = multicastInterfaceFor(hostOf(options.self.peer));
    this.#mdns = loadMulticastDns()({
      ...(options.port === undefined ? {} : { port: options.port }),
      // On the interface the peers reach us on: a host without a default route (a private
      // network) has no route for multicast otherwise. Bound to any address, since a socket
      // bound to a unicast address does not receive multicast on Linux.
      ...(networkInterface === undefined ? {} : { interface: networkInterface, bind: "0.0.0.0" }),
    });
    this.#mdns.on("error", (error: Error) => {
      this.#failure = error;
      this.#log.error({ err: error.message }, "mDNS socket failed");
    });
    this.#mdns.on("warning", (error: Error) => this.#log.debug({ err: error.message }, "mDNS warning"));
    this.#mdns.on("query", (query) => this.#onQuery(query));
    this.#mdns.on("response", (response) => this.#onResponse(response));
    this.#log.info({ service: this.#service, interface: networkInterface ?? "default" }, "announcing this node on the local network");
  }

  /** From now on this node answers that it runs the cluster `clusterId`: later nodes join it. */
  setRunning(clusterId: string): void {
    this.#self = { ...this.#self, state: "running", clusterId };
    this.#announce();
  }

  /** Asks until decidePlan decides, or fails after DISCOVERY_WAIT_MS_MAX. */
  async find(expect: number | undefined, waitMsMax = DISCOVERY_WAIT_MS_MAX): Promise<DiscoveryPlan> {
    const started = Date.now();
    let lastProgress = started;
    for (;;) {
      if (this.#closed) throw new NodeError("shutting_down", "discovery was stopped");
      if (this.#failure) throw new NodeError("bad_request", `discovery on the local network failed: ${this.#failure.message}`);
      this.#forgetStale();
      const plan = decidePlan({ self: this.#self, seen: this.#seen, expect, stableForMs: Date.now() - this.#membershipChangedAt });
      if (plan) {
        this.#log.info({ plan }, plan.kind === "bootstrap" ? "discovered the founding members: bootstrapping" : "discovered a running cluster: joining");
        return plan;
      }
      const now = Date.now();
      if (now - started > waitMsMax) throw new NodeError("no_leader", `discovery found ${this.#describeSeen()} within ${waitMsMax} ms, not ${expect ?? "a running cluster"}`);
      if (now - lastProgress >= DISCOVERY_PROGRESS_INTERVAL_MS) {
        lastProgress = now;
        this.#log.info({ seen: this.#describeSeen(), expect: expect ?? "a running cluster" }, "discovering the cluster's nodes");
      }
      this.#mdns.query({ questions: [{ name: this.#service, type: "PTR" }] });
      await new Promise((resolve) => setTimeout(resolve, DISCOVERY_QUERY_INTERVAL_MS));
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await new Promise<void>((resolve) => this.#mdns.destroy(() => resolve()));
  }

  #describeSeen(): string {
    const ids = [...this.#seen.values()].map((seen) => `${seen.record.id} (${seen.record.state})`);
    return ids.length === 0 ? "no other node" : ids.join(", ");
  }

  #onQuery(query: makeMdns.QueryPacket): void {
    if (this.#closed) return;
    if (!query.questions.some((question) => question.name.toLowerCase() === this.#service && ["PTR", "TXT", "ANY"].includes(question.type))) return;
    // Answers are multicast, so one serves every node asking at the time; a flood of queries
    // (a stranger's) gets at most one answer per interval.
    const now = Date.now();
    if (now - this.#lastAnswerMs < DISCOVERY_ANSWER_INTERVAL_MS_MIN) return;
    this.#lastAnswerMs = now;
    this.#announce();
  }

  #announce(): void {
    if (this.#closed) return;
    const txt = encodeRecord(this.#options.clusterName, this.#self, this.#options.joinToken);
    this.#mdns.respond({
      answers: [{ name: this.#service, type: "PTR", ttl: 120, data: this.#instance }],
      additionals: [{ name: this.#instance, type: "TXT", ttl: 120, data: txt }],
    });
  }

  #onResponse(response: makeMdns.ResponsePacket): void {
    if (this.#closed) return;
    for (const answer of [...response.answers, ...response.additionals]) {
      if (answer.type !== "TXT" || !answer.name.toLowerCase().endsWith(`.${this.#service}`)) continue;
      const strings = (Array.isArray(answer.data) ? answer.data : [answer.data]).map((part) => (typeof part === "string" ? part : part.toString("utf8")));
      const decoded = decodeRecord(this.#options.clusterName, strings, this.#options.joinToken);
      if (typeof decoded === "string") {
        this.#ignore(decoded);
        continue;
      }
      this.#remember(decoded);
    }
  }

  #remember(record: NodeRecord): void {
    if (record.id === this.#self.id) {
      if (record.peer !== this.#self.peer) this.#ignore(`another node announces this node's id ${record.id} from ${record.peer}: give every node its own --id`);
      return;
    }
    const previous = this.#seen.get(record.id);
    if (!previous && this.#seen.size >= DISCOVERY_NODES_MAX) return this.#ignore(`more than ${DISCOVERY_NODES_MAX} nodes announce this cluster name`);
    if (!previous || previous.record.peer !== record.peer) this.#membershipChangedAt = Date.now();
    this.#seen.set(record.id, { record, lastSeenMs: Date.now() });
  }

  #forgetStale(): void {
    const now = Date.now();
    for (const [id, seen] of this.#seen) {
      if (now - seen.lastSeenMs <= DISCOVERY_RECORD_TTL_MS) continue;
      this.#seen.delete(id);
      this.#membershipChangedAt = now;
    }
  }

  /** Each distinct reason is logged once (a stranger's announcements must not flood the log). */
  #ignore(reason: string): void {
    if (this.#ignored.has(reason) || this.#ignored.size >= DISCOVERY_NODES_MAX) return;
    this.#ignored.add(reason);
    this.#log.warn({ reason }, "ignoring a discovery record");
  }
}

function hostOf(hostPort: string): string {
  const host = hostPort.slice(0, hostPort.lastIndexOf(":"));
  return host.startsWith("[") ? host.slice(1, -1) : host;
}

/** The IPv4 address to multicast on: the advertised peer host when it is one of this machine's non-loopback addresses. */
export function multicastInterfaceFor(host: string): string | undefined {
  if (!isIPv4(host) || host.startsWith("127.") || host === "0.0.0.0") return undefined;
  for (const addresses of Object.values(os.networkInterfaces())) {
    if (addresses?.some((address) => address.family === "IPv4" && address.address === host)) return host;
  }
  return undefined;
}
