/**
 * The clients of a torture run. Each one issues reads, writes and compare-and-sets (a txn with
 * a value compare) against a random node, one request at a time, and records every operation
 * with its start and end. Written values are distinct (`c<client>-<n>`), so a read names the
 * write it saw and the checker stays fast; a compare-and-set expects a value this client read
 * or wrote on that key before.
 *
 * Outcomes follow api.md: 200 is ok (a 404 read saw the key absent, a txn that did not
 * succeed is an ok cas that failed its compare); 503 and a refused connection are `fail` (the
 * request was not applied); 504, a timeout and a broken connection are `unknown`. Anything
 * else (400, 500, an answer that is not api.md's) is unexpected, and an anomaly.
 */
import { FlotillaError, type Client } from "../client/index.js";
import type { HistoryOp, KvInput, KvOutput } from "../check/index.js";
import { Rng } from "../util/rng.js";

export interface OpRecord {
  readonly op: HistoryOp;
  /** The slot whose node was asked, and that node's id at the time. */
  readonly slot: number;
  readonly node: string;
  /** When the client stopped waiting (for unknown outcomes too; the history leaves it out). */
  readonly endMs: number;
  /** The error code, for operations that did not succeed. */
  readonly error?: string;
  /** A cas that failed its compare: what the key held (the txn's failure branch read it). */
  readonly current?: string | null;
}

export interface WorkloadSettings {
  readonly clients: number;
  readonly keys: number;
  readonly nodes: number;
  readonly seed: number;
  readonly historyMax: number;
  readonly clientFor: (slot: number) => Client;
  readonly nodeOf: (slot: number) => string;
  readonly clock: () => number;
  /** Process ids of the workload's clients start here (final reads use other ids). */
  readonly firstProcess?: number;
}

export interface OpCounts {
  total: number;
  ok: number;
  failed: number;
  unknown: number;
}

/** A client that was refused (its node is down) waits this long before its next request, instead of spinning. */
const FAILED_PAUSE_MS = 50;

/** Mix of operations: reads below the first bound, writes below the second, cas above. */
const READ_SHARE = 0.4;
const WRITE_SHARE = 0.35;

export class Workload {
  readonly records: OpRecord[] = [];
  readonly counts: OpCounts = { total: 0, ok: 0, failed: 0, unknown: 0 };
  /** Answers that api.md does not allow, one line each (bounded: the first few are enough). */
  readonly unexpected: string[] = [];
  readonly #settings: WorkloadSettings;
  #stopped = false;
  #running: Promise<void>[] = [];

  constructor(settings: WorkloadSettings) {
    this.#settings = settings;
  }

  start(): void {
    const root = new Rng(this.#settings.seed ^ 0x5a5a5a5a);
    this.#running = Array.from({ length: this.#settings.clients }, (_, i) => this.#clientLoop((this.#settings.firstProcess ?? 0) + i, root.fork()));
  }

  /** Stops issuing and waits for the operations in flight (each ends by its timeout). */
  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#running);
  }

  get history(): HistoryOp[] {
    return this.records.map((record) => record.op);
  }

  async #clientLoop(process: number, rng: Rng): Promise<void> {
    const seen = new Map<string, string | null>();
    let counter = 0;
    while (!this.#stopped && this.records.length < this.#settings.historyMax) {
      const key = `k${rng.int(0, this.#settings.keys)}`;
      const slot = rng.int(0, this.#settings.nodes);
      const draw = rng.float();
      const input: KvInput =
        draw < READ_SHARE
          ? { kind: "read" }
          : draw < READ_SHARE + WRITE_SHARE
            ? { kind: "write", value: `c${process}-${++counter}` }
            : { kind: "cas", expected: seen.get(key) ?? null, value: `c${process}-${++counter}` };
      const record = await this.run(process, slot, key, input);
      if (record.op.outcome === "ok") rememberOutcome(seen, key, input, record);
      else if (record.op.outcome === "fail") await new Promise((resolve) => setTimeout(resolve, FAILED_PAUSE_MS));
    }
  }

  /** Runs one operation and records it. */
  async run(process: number, slot: number, key: string, input: KvInput): Promise<OpRecord> {
    const client = this.#settings.clientFor(slot);
    const node = this.#settings.nodeOf(slot);
    const call = this.#settings.clock();
    let record: OpRecord;
    try {
      const { output, current } = await perform(client, key, input);
      const end = this.#settings.clock();
      record = { op: { process, key, input, call, outcome: "ok", output, returnTime: end }, slot, node, endMs: end, ...(current === undefined ? {} : { current }) };
    } catch (error) {
      const end = this.#settings.clock();
      const { outcome, code, unexpected } = classify(error);
      if (unexpected && this.unexpected.length < 20) this.unexpected.push(`${describeInput(key, input)} on slot ${slot}: ${(error as Error).message}`);
      const op: HistoryOp = outcome === "fail" ? { process, key, input, call, outcome, returnTime: end } : { process, key, input, call, outcome };
      record = { op, slot, node, endMs: end, error: code };
    }
    this.#count(record.op.outcome);
    this.records.push(record);
    return record;
  }

  #count(outcome: HistoryOp["outcome"]): void {
    this.counts.total++;
    if (outcome === "ok") this.counts.ok++;
    else if (outcome === "fail") this.counts.failed++;
    else this.counts.unknown++;
  }
}

/** The operation's output, and for a cas whose compare failed, what the key held instead. */
interface Performed {
  readonly output: KvOutput;
  readonly current?: string | null;
}

async function perform(client: Client, key: string, input: KvInput): Promise<Performed> {
  switch (input.kind) {
    case "read": {
      const found = await client.find(key);
      return { output: { kind: "read", value: found === null ? null : found.text } };
    }
    case "write":
      await client.put(key, input.value);
      return { output: { kind: "write" } };
    case "cas": {
      const compare =
        input.expected === null
          ? ({ key, target: "version", op: "==", value: 0 } as const)
          : ({ key, target: "value", op: "==", value: input.expected } as const);
      // The failure branch reads the key, so the next cas of this client can expect what is there.
      const answer = await client.txn({ compare: [compare], success: [{ put: { key, value: input.value } }], failure: [{ get: { key } }] });
      const output: KvOutput = { kind: "cas", succeeded: answer.succeeded };
      const read = answer.results[0];
      if (answer.succeeded || read === undefined || !("get" in read)) return { output };
      return { output, current: read.get.kvs[0]?.text ?? null };
    }
  }
}

export interface Classified {
  readonly outcome: "fail" | "unknown";
  readonly code: string;
  /** An answer api.md does not allow here: reported as an anomaly. */
  readonly unexpected: boolean;
}

/** What a failed request tells about whether it took effect (api.md's statuses). */
export function classify(error: unknown): Classified {
  if (!(error instanceof FlotillaError)) return { outcome: "unknown", code: "harness_error", unexpected: true };
  if (error.status === 503) return { outcome: "fail", code: error.code, unexpected: false };
  if (error.status === 504) return { outcome: "unknown", code: error.code, unexpected: false };
  if (error.status === 0) {
    // A refused connection never carried the request; anything else (a timeout, a reset) may have.
    const refused = error.code === "unavailable" && /ECONNREFUSED/.test(error.message);
    return { outcome: refused ? "fail" : "unknown", code: refused ? "connection_refused" : error.code, unexpected: error.code === "invalid_response" };
  }
  return { outcome: "unknown", code: error.code, unexpected: true };
}

function rememberOutcome(seen: Map<string, string | null>, key: string, input: KvInput, record: OpRecord): void {
  const output = record.op.output!;
  if (output.kind === "read") seen.set(key, output.value);
  else if (input.kind === "write") seen.set(key, input.value);
  else if (input.kind === "cas" && output.kind === "cas" && output.succeeded) seen.set(key, input.value);
  else if (record.current !== undefined) seen.set(key, record.current);
  else seen.delete(key);
}

export function describeInput(key: string, input: KvInput): string {
  switch (input.kind) {
    case "read":
      return `read ${key}`;
    case "write":
      return `write ${key}=${input.value}`;
    case "cas":
      return `cas ${key} ${input.expected ?? "(absent)"}→${input.value}`;
  }
}
