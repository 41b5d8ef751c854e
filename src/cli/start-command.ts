/** `flotilla start`: one node in the foreground until SIGTERM/SIGINT, then a clean close. */
import path from "node:path";
import type { Logger } from "pino";
import type { NodeTuning, StartNodeOptions } from "../server/start.js";
import { parseHostPort } from "../server/address.js";
import { heapTuningServing } from "./heap-tuning.js";
import { START_TRACE_BUFFER_EVENTS } from "../util/limits.js";
import { EXIT_FAILED, EXIT_OK, integerOption, parse, positionals, stringOption, UsageError, type Io, type Parsed } from "./io.js";

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

/** The exit status of a node that stopped on a failed fsync or a broken invariant (sysexits' EX_SOFTWARE). */
export const EXIT_FATAL = 70;

export const START_OPTIONS = {
  id: { type: "string" },
  data: { type: "string" },
  client: { type: "string" },
  peer: { type: "string" },
  "advertise-client": { type: "string" },
  "advertise-peer": { type: "string" },
  bootstrap: { type: "string" },
  join: { type: "string" },
  "join-token": { type: "string" },
  discover: { type: "string" },
  expect: { type: "string" },
  "log-level": { type: "string" },
  "log-format": { type: "string" },
  // Extensions for tests and tuning (the node's defaults otherwise):
  "tick-ms": { type: "string" },
  "election-timeout-ticks": { type: "string" },
  "heartbeat-interval-ticks": { type: "string" },
  "request-timeout-ms": { type: "string" },
  "snapshot-entries": { type: "string" },
  "snapshot-catchup-entries": { type: "string" },
  // For small devices: ~12 MiB less per node, SQLite's checkpoints back on the event loop.
  "no-background-checkpoints": { type: "boolean" },
  // The steps of every write, as JSON lines (src/node/trace.ts; `npm run bench -- --timeline` reads them).
  trace: { type: "string" },
} as const;

/** Option name → NodeTuning field. */
const TUNING_OPTIONS = {
  "tick-ms": "tickMs",
  "election-timeout-ticks": "electionTimeoutTicks",
  "heartbeat-interval-ticks": "heartbeatIntervalTicks",
  "request-timeout-ms": "requestTimeoutMs",
  "snapshot-entries": "snapshotEntries",
  "snapshot-catchup-entries": "snapshotCatchupEntries",
} as const satisfies Record<string, keyof NodeTuning>;

export type LogFormat = "json" | "pretty";

export interface StartPlan {
  readonly node: Omit<StartNodeOptions, "logger">;
  readonly logLevel: string;
  /** As asked for; absent: pretty when stdout is a terminal, json otherwise. */
  readonly logFormat?: LogFormat;
  /** --trace: where the steps of every write go, as JSON lines. */
  readonly traceFile?: string;
}

/** The environment variable read when --join-token is not given (keeps the secret out of `ps`). */
export const JOIN_TOKEN_ENV = "FLOTILLA_JOIN_TOKEN";

/** Checks every option (usage errors, exit 2) before anything is opened. */
export function planStart(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = process.env): StartPlan {
  const parsed = parse(argv, START_OPTIONS);
  positionals(parsed, [], 0);
  const id = stringOption(parsed, "id") ?? "n1";
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(id)) throw new UsageError(`--id must be 1..64 letters, digits, '.', '_' or '-', starting with a letter or digit, not ${JSON.stringify(id)}`);
  const clientListen = address(parsed, "client", "127.0.0.1:7379", true);
  const peerListen = address(parsed, "peer", "127.0.0.1:7380", true);
  const advertisePeer = stringOption(parsed, "advertise-peer");
  if (advertisePeer !== undefined) address(parsed, "advertise-peer", "", false);
  const bootstrapText = stringOption(parsed, "bootstrap");
  const joinText = stringOption(parsed, "join");
  const discoverName = stringOption(parsed, "discover");
  const starts = [bootstrapText && "--bootstrap", joinText && "--join", discoverName && "--discover"].filter((given) => typeof given === "string");
  if (starts.length > 1) throw new UsageError(`give one of --bootstrap (a new cluster), --join (an existing one) or --discover (find it by name), not ${starts.join(" and ")} together`);
  const expect = integerOption(parsed, "expect", 1);
  if (expect !== undefined && discoverName === undefined) throw new UsageError("--expect goes with --discover");
  if (discoverName !== undefined && !/^[A-Za-z0-9][A-Za-z0-9-]{0,39}$/.test(discoverName)) {
    throw new UsageError(`--discover takes a cluster name of 1..40 letters, digits or '-', starting with a letter or digit, not ${JSON.stringify(discoverName)}`);
  }
  const joinToken = stringOption(parsed, "join-token") ?? emptyToUndefined(env[JOIN_TOKEN_ENV]);
  if (joinToken !== undefined && !/^[\x21-\x7e]{1,1024}$/.test(joinToken)) throw new UsageError("--join-token must be 1..1024 printable ASCII characters without spaces");
  const logLevel = stringOption(parsed, "log-level") ?? "info";
  if (!LOG_LEVELS.includes(logLevel)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(", ")}, not ${JSON.stringify(logLevel)}`);
  const logFormat = logFormatOption(parsed);
  const advertiseClient = stringOption(parsed, "advertise-client");
  const node: Omit<StartNodeOptions, "logger"> = {
    id,
    dataDir: stringOption(parsed, "data") ?? path.join("flotilla-data", id),
    clientListen,
    peerListen,
    ...(advertiseClient === undefined ? {} : { advertiseClient }),
    ...(advertisePeer === undefined ? {} : { advertisePeer }),
    ...(bootstrapText === undefined ? {} : { bootstrap: parseBootstrap(bootstrapText, id) }),
    ...(joinText === undefined ? {} : { join: parseJoin(joinText) }),
    ...(joinToken === undefined ? {} : { joinToken }),
    ...(discoverName === undefined ? {} : { discover: { clusterName: discoverName, ...(expect === undefined ? {} : { expect }) } }),
    ...tuning(parsed),
  };
  const traceFile = stringOption(parsed, "trace");
  if (traceFile === "") throw new UsageError("--trace needs a file to write the steps to");
  return { node, logLevel, ...(logFormat === undefined ? {} : { logFormat }), ...(traceFile === undefined ? {} : { traceFile }) };
}

/** --log-format json|pretty (start and dev). */
export function logFormatOption(parsed: Parsed): LogFormat | undefined {
  const format = stringOption(parsed, "log-format");
  if (format === undefined || format === "json" || format === "pretty") return format;
  throw new UsageError(`--log-format must be json or pretty, not ${JSON.stringify(format)}`);
}

function tuning(parsed: Parsed): { tuning?: NodeTuning } {
  const out: { -readonly [K in keyof NodeTuning]: NodeTuning[K] } = {};
  for (const [option, field] of Object.entries(TUNING_OPTIONS)) {
    const value = integerOption(parsed, option, 1);
    if (value !== undefined) out[field] = value;
  }
  if (parsed.values["no-background-checkpoints"] === true) out.backgroundCheckpoints = false;
  return Object.keys(out).length === 0 ? {} : { tuning: out };
}

export async function runStart(argv: readonly string[], io: Io): Promise<number> {
  const plan = planStart(argv);
  const stopTracing = plan.traceFile === undefined ? undefined : await traceTo(plan.traceFile);
  try {
    return await runPlanned(plan, io);
  } finally {
    await stopTracing?.();
  }
}

/**
 * Appends every trace event (src/node/trace.ts) to `file` as one JSON line. Lines gather in
 * memory and go to the file in one synchronous write every START_TRACE_BUFFER_EVENTS events and
 * at the end: an asynchronous write per event would queue in libuv's thread pool ahead of the
 * log's fdatasync, and slow down the very thing the trace measures.
 */
async function traceTo(file: string): Promise<() => Promise<void>> {
  const [{ appendFileSync }, { subscribeTrace }] = await Promise.all([import("node:fs"), import("../node/trace.js")]);
  let lines: string[] = [];
  const flush = (): void => {
    if (lines.length === 0) return;
    appendFileSync(file, `${lines.join("\n")}\n`);
    lines = [];
  };
  const unsubscribe = subscribeTrace((event) => {
    lines.push(JSON.stringify(event));
    if (lines.length >= START_TRACE_BUFFER_EVENTS) flush();
  });
  return async () => {
    unsubscribe();
    flush();
  };
}

async function runPlanned(plan: StartPlan, io: Io): Promise<number> {
  const stop = io.waitForStop(); // armed now: a signal during startup stops the node as soon as it is up
  const [{ startNode }, logger] = await Promise.all([import("../server/start.js"), makeLogger(plan, io)]);
  // The node may end on its own: a fatal error (it must not go on) or its removal from the cluster.
  let endedOnItsOwn!: (outcome: { readonly exitCode: number; readonly line: string }) => void;
  const ended = new Promise<{ readonly exitCode: number; readonly line: string }>((resolve) => (endedOnItsOwn = resolve));
  let running;
  try {
    running = await startNode({
      ...plan.node,
      logger,
      onFatal: (error) => endedOnItsOwn({ exitCode: EXIT_FATAL, line: `stopped on a durability or invariant failure: ${oneLine(error.message)}` }),
      onRemoved: (detail) => endedOnItsOwn({ exitCode: EXIT_OK, line: `${detail}; stopped` }),
    });
  } catch (error) {
    io.stderr.write(`flotilla start: ${oneLine((error as Error).message)}\n`);
    return EXIT_FAILED;
  }
  heapTuningServing();
  const outcome = await Promise.race([stop.then((reason) => ({ reason })), ended]);
  if ("exitCode" in outcome) {
    io.stderr.write(`flotilla start: ${outcome.line}\n`);
    return outcome.exitCode;
  }
  const { reason } = outcome;
  const log = logger.child({ node: plan.node.id });
  log.info({ reason }, "stopping");
  try {
    await running.close();
  } catch (error) {
    io.stderr.write(`flotilla start: stopping failed: ${oneLine((error as Error).message)}\n`);
    return EXIT_FAILED;
  }
  log.info("stopped");
  return EXIT_OK;
}

/** The format asked for, or the default: lines for people on a terminal, JSON lines for machines. */
export function logFormatFor(asked: LogFormat | undefined, stdoutIsTTY: boolean): LogFormat {
  return asked ?? (stdoutIsTTY ? "pretty" : "json");
}

/**
 * pino, writing JSON lines (for machines: the default when stdout is not a terminal), or
 * pino-pretty's lines for people: `12:00:01.234 INFO (n1): became leader {"term":2}`, in colour
 * on a terminal unless NO_COLOR is set (FORCE_COLOR asks for colour elsewhere: `flotilla dev`
 * sets it for its nodes when it writes to a terminal itself).
 */
async function makeLogger(plan: StartPlan, io: Io, env: Readonly<Record<string, string | undefined>> = process.env): Promise<Logger> {
  const { pino } = await import("pino");
  const format = logFormatFor(plan.logFormat, io.stdout.isTTY === true);
  if (format === "json") return pino({ level: plan.logLevel });
  const { default: pretty } = await import("pino-pretty");
  const colorize = env.NO_COLOR !== undefined && env.NO_COLOR !== "" ? false : env.FORCE_COLOR !== undefined ? env.FORCE_COLOR !== "0" : io.stdout.isTTY === true;
  return pino({ level: plan.logLevel }, pretty({ colorize, singleLine: true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname,node", messageKey: "msg", messageFormat: "{if node}({node}) {end}{msg}" }));
}

function address(parsed: Parsed, name: string, fallback: string, portZeroAllowed: boolean): string {
  const text = stringOption(parsed, name) ?? fallback;
  try {
    parseHostPort(text, `--${name}`, { portZeroAllowed });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  return text;
}

/** "n1=127.0.0.1:7380,n2=127.0.0.1:7382" → { n1: "127.0.0.1:7380", ... }; must name this node. */
export function parseBootstrap(text: string, self: string): Record<string, string> {
  const voters: Record<string, string> = {};
  for (const part of text.split(",").map((p) => p.trim()).filter((p) => p.length > 0)) {
    const equals = part.indexOf("=");
    if (equals <= 0) throw new UsageError(`--bootstrap entries are NAME=HOST:PEERPORT, not ${JSON.stringify(part)}`);
    const id = part.slice(0, equals);
    const peer = part.slice(equals + 1);
    if (Object.hasOwn(voters, id)) throw new UsageError(`--bootstrap names ${id} twice`);
    try {
      parseHostPort(peer, `--bootstrap peer address of ${id}`);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    voters[id] = peer;
  }
  if (!Object.hasOwn(voters, self)) throw new UsageError(`--bootstrap must include this node (${self})`);
  return voters;
}

function parseJoin(text: string): string[] {
  const endpoints = text.split(",").map((p) => p.trim()).filter((p) => p.length > 0);
  if (endpoints.length === 0) throw new UsageError("--join needs at least one HOST:CLIENTPORT");
  return endpoints;
}

function emptyToUndefined(text: string | undefined): string | undefined {
  return text === undefined || text === "" ? undefined : text;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ");
}
