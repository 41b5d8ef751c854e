/**
 * One server process of a system under test (a `flotilla start` or an `etcd`): started with
 * its output captured, its warning and error log lines counted (both systems log one JSON
 * object a line), and stopped with SIGTERM (so that a CPU profile gets written), then SIGKILL.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { BENCH_PROCESS_OUTPUT_BYTES_MAX, BENCH_STOP_GRACE_MS } from "./limits.js";

/** Distinct messages counted per process; the rest are counted under one "other" entry. */
const LOG_MESSAGES_MAX = 24;
const OTHER_MESSAGES = "(other messages)";

export interface LogSummary {
  readonly warnings: number;
  readonly errors: number;
  /** Lines that are not JSON log records (runtime warnings, stack traces). */
  readonly unstructured: number;
  /** Each distinct message (the record's msg, or the line) at warning level or worse, with its count. */
  readonly messages: Readonly<Record<string, number>>;
}

export class ServerProcess {
  readonly id: string;
  readonly clientAddress: string;
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;
  #output = "";
  #partialLine = "";
  #warnings = 0;
  #errors = 0;
  #unstructured = 0;
  readonly #messages = new Map<string, number>();

  constructor(id: string, clientAddress: string, command: string, args: readonly string[], env?: NodeJS.ProcessEnv) {
    this.id = id;
    this.clientAddress = clientAddress;
    this.#child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], env: env ?? process.env });
    this.#child.stdout!.on("data", (chunk: Buffer) => this.#onOutput(chunk));
    this.#child.stderr!.on("data", (chunk: Buffer) => this.#onOutput(chunk));
    this.#exited = new Promise((resolve) => this.#child.once("exit", () => resolve()));
    // A failure to spawn (no such binary) surfaces as an exit; the error itself is kept as output.
    this.#child.on("error", (error) => this.#onOutput(Buffer.from(`spawn failed: ${error.message}\n`)));
  }

  get pid(): number {
    return this.#child.pid ?? -1;
  }

  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null && this.#child.pid !== undefined;
  }

  /** The tail of what the process printed. */
  get output(): string {
    return this.#output;
  }

  logSummary(): LogSummary {
    return { warnings: this.#warnings, errors: this.#errors, unstructured: this.#unstructured, messages: Object.fromEntries(this.#messages) };
  }

  /** SIGTERM, then SIGKILL if the process has not ended within the grace period. */
  async stop(graceMs = BENCH_STOP_GRACE_MS): Promise<void> {
    if (!this.running) return;
    this.#child.kill("SIGTERM");
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }

  /** Ends the process at once (an interrupted run). */
  kill(): void {
    if (this.running) this.#child.kill("SIGKILL");
  }

  #onOutput(chunk: Buffer): void {
    const text = chunk.toString("utf8");
    this.#output = (this.#output + text).slice(-BENCH_PROCESS_OUTPUT_BYTES_MAX);
    const lines = (this.#partialLine + text).split("\n");
    this.#partialLine = lines.pop()!.slice(-BENCH_PROCESS_OUTPUT_BYTES_MAX);
    for (const line of lines) this.#countLine(line.trim());
  }

  #countLine(line: string): void {
    if (line.length === 0) return;
    const { level, message } = classify(line);
    if (level === "info") return;
    if (level === "warn") this.#warnings += 1;
    else if (level === "error") this.#errors += 1;
    else this.#unstructured += 1;
    const key = this.#messages.has(message) || this.#messages.size < LOG_MESSAGES_MAX ? message : OTHER_MESSAGES;
    this.#messages.set(key, (this.#messages.get(key) ?? 0) + 1);
  }
}

/** pino writes numeric levels (40 warn, 50 error, 60 fatal) and zap (etcd) level names; both put the text in "msg". */
function classify(line: string): { level: "info" | "warn" | "error" | "unstructured"; message: string } {
  const unstructured = { level: "unstructured" as const, message: line.slice(0, 200) };
  if (!line.startsWith("{")) return unstructured;
  let record: { level?: unknown; msg?: unknown };
  try {
    record = JSON.parse(line) as { level?: unknown; msg?: unknown };
  } catch {
    return unstructured;
  }
  const message = typeof record.msg === "string" ? record.msg.slice(0, 200) : line.slice(0, 200);
  const level = record.level;
  if (typeof level === "number") return { level: level >= 50 ? "error" : level >= 40 ? "warn" : "info", message };
  if (typeof level === "string") return { level: ["error", "fatal", "panic", "dpanic"].includes(level) ? "error" : level === "warn" ? "warn" : "info", message };
  return { level: "info", message };
}

/** A control-plane HTTP call (not on the measured path): the status and parsed JSON body, or undefined when unreachable. */
export async function controlRequest(url: string, init: { method?: string; body?: string } = {}): Promise<{ status: number; json: unknown } | undefined> {
  try {
    const response = await fetch(url, { method: init.method ?? "GET", ...(init.body === undefined ? {} : { body: init.body, headers: { "content-type": "application/json" } }), signal: AbortSignal.timeout(2_000) });
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: response.status, json };
  } catch {
    return undefined;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
