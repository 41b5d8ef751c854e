/**
 * What a torture run is asked to do: the command-line options, and the profiles that set their
 * defaults. Parsing is strict (an unknown flag or a bad number is a usage error, exit 2), and
 * every number is bounded by a named limit, so a typo cannot start a run that never ends.
 */
import { randomInt } from "node:crypto";
import {
  TORTURE_CHECK_BUDGET_MS_DEFAULT,
  TORTURE_CLIENTS_MAX,
  TORTURE_DURATION_S_MAX,
  TORTURE_KEYS_MAX,
  TORTURE_NODES_MAX,
  TORTURE_NODES_MIN,
  TORTURE_OP_TIMEOUT_MS_DEFAULT,
} from "./limits.js";

export const NEMESIS_KINDS = ["kill", "pause", "partition", "loss", "membership"] as const;
export type NemesisKind = (typeof NEMESIS_KINDS)[number];

export const PROFILES = ["default", "lossy", "ci"] as const;
export type ProfileName = (typeof PROFILES)[number];

/** auto: namespaces when root with ip and iptables, else loopback (and it says so). */
export type NetworkMode = "auto" | "netns" | "loopback";

export class TortureUsageError extends Error {
  override name = "TortureUsageError";
}

/** How the nemesis paces itself; a profile picks these, the seed draws within them. */
export interface Pacing {
  /** Quiet time after the cluster is up, before the first fault. */
  readonly warmupMs: number;
  /** Healthy time at the end of the workload, after everything healed: recovery shows here. */
  readonly cooldownMs: number;
  /** Each fault lasts a random time in [min, max). */
  readonly faultMsMin: number;
  readonly faultMsMax: number;
  /** Quiet time between two faults of one lane, in [min, max). */
  readonly gapMsMin: number;
  readonly gapMsMax: number;
  /** Loss probability of a directed link while loss is on, drawn in [min, max). */
  readonly lossMin: number;
  readonly lossMax: number;
  /** lossy: loss stays on every link for the whole fault window instead of coming and going. */
  readonly steadyLoss: boolean;
}

export interface TortureOptions {
  readonly profile: ProfileName;
  readonly nodes: number;
  readonly clients: number;
  readonly keys: number;
  readonly durationS: number;
  readonly seed: number;
  readonly nemesis: ReadonlySet<NemesisKind>;
  readonly network: NetworkMode;
  /** The report folder; default ./torture-reports/<time>-seed<S>. */
  readonly reportDir: string | undefined;
  readonly opTimeoutMs: number;
  readonly checkBudgetMs: number;
  readonly logLevel: string;
  /** Keep the nodes' data directories after a clean run (they are always kept after an anomaly). */
  readonly keepData: boolean;
  readonly pacing: Pacing;
  /** Arguments every `flotilla start` gets (tuning: small snapshots, so catch-up by snapshot happens). */
  readonly nodeArgs: readonly string[];
}

interface Profile {
  readonly nodes: number;
  readonly clients: number;
  readonly keys: number;
  readonly durationS: number;
  readonly nemesis: readonly NemesisKind[];
  readonly pacing: Pacing;
}

const DEFAULT_PACING: Pacing = {
  warmupMs: 2_000,
  cooldownMs: 8_000,
  faultMsMin: 2_000,
  faultMsMax: 9_000,
  gapMsMin: 1_000,
  gapMsMax: 5_000,
  lossMin: 0.05,
  lossMax: 0.35,
  steadyLoss: false,
};

const PROFILE_TABLE: Record<ProfileName, Profile> = {
  default: { nodes: 5, clients: 10, keys: 8, durationS: 60, nemesis: NEMESIS_KINDS, pacing: DEFAULT_PACING },
  // A poor radio network: every link loses 20-30% of its packets for the whole run, and nodes
  // stall for moments at a time; it runs long, so that rare interleavings get their chance.
  lossy: {
    nodes: 5,
    clients: 10,
    keys: 8,
    durationS: 300,
    nemesis: ["loss", "pause"],
    pacing: { ...DEFAULT_PACING, faultMsMin: 300, faultMsMax: 2_000, gapMsMin: 1_000, gapMsMax: 6_000, lossMin: 0.2, lossMax: 0.3, steadyLoss: true },
  },
  // What CI runs on every change: all nemeses, short faults close together, about two minutes in all.
  ci: {
    nodes: 5,
    clients: 8,
    keys: 8,
    durationS: 80,
    nemesis: NEMESIS_KINDS,
    pacing: { ...DEFAULT_PACING, faultMsMin: 2_000, faultMsMax: 6_000, gapMsMin: 500, gapMsMax: 2_500 },
  },
};

/**
 * Node tuning for torture: small snapshots (so restarted and joining nodes catch up by
 * snapshot as well as by log), and a request deadline well under the clients' timeout (so the
 * node's own 503/504 usually decides an operation's outcome, not the client giving up).
 */
export const TORTURE_NODE_ARGS: readonly string[] = ["--snapshot-entries", "400", "--snapshot-catchup-entries", "100", "--request-timeout-ms", "2000"];

export const TORTURE_USAGE = `usage: flotilla torture [options]
  --nodes N            cluster size, ${TORTURE_NODES_MIN}..${TORTURE_NODES_MAX}          (default 5)
  --clients N          concurrent clients, one request at a time each   (default 10)
  --keys N             keys the clients share                          (default 8)
  --duration S         seconds of workload                             (default 60; lossy 300; ci 80)
  --seed S             draws the faults and the workload               (default: random, printed)
  --nemesis LIST       all | none | kill,pause,partition,loss,membership (default all; lossy: loss,pause)
  --profile NAME       default | lossy (20-30% loss on every link, short pauses, long) | ci (short)
  --network MODE       auto | netns | loopback  (auto: network namespaces when root with ip and
                       iptables, else loopback with a fault-injecting relay; it says which)
  --report DIR         report folder                                   (default ./torture-reports/<time>-seed<S>)
  --op-timeout-ms N    a client's wait for one answer                  (default ${TORTURE_OP_TIMEOUT_MS_DEFAULT})
  --check-budget-ms N  the linearizability checker's time budget       (default ${TORTURE_CHECK_BUDGET_MS_DEFAULT})
  --log-level LEVEL    the nodes' log level (their logs go to the report) (default info)
  --keep-data          keep the nodes' data directories after a clean run
Exit status: 0 no anomaly, 1 an anomaly (or the run could not be carried out), 2 bad usage.`;

const FLAGS = ["nodes", "clients", "keys", "duration", "seed", "nemesis", "profile", "network", "report", "op-timeout-ms", "check-budget-ms", "log-level"];
const BOOLEAN_FLAGS = ["keep-data"];
const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace"];
const SEED_MAX = 2 ** 32 - 1;

export function parseTortureArgs(argv: readonly string[]): TortureOptions {
  const values = readFlags(argv);
  const profileName = (values.get("profile") ?? "default") as ProfileName;
  if (!PROFILES.includes(profileName)) throw new TortureUsageError(`--profile must be one of ${PROFILES.join(", ")}, not "${profileName}"`);
  const profile = PROFILE_TABLE[profileName];
  const integer = (flag: string, low: number, high: number): number | undefined => {
    const text = values.get(flag);
    if (text === undefined) return undefined;
    const value = /^\d{1,16}$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(value) || value < low || value > high) throw new TortureUsageError(`--${flag} must be an integer in ${low}..${high}, not "${text}"`);
    return value;
  };
  const network = (values.get("network") ?? "auto") as NetworkMode;
  if (!["auto", "netns", "loopback"].includes(network)) throw new TortureUsageError(`--network must be auto, netns or loopback, not "${network}"`);
  const logLevel = values.get("log-level") ?? "info";
  if (!LOG_LEVELS.includes(logLevel)) throw new TortureUsageError(`--log-level must be one of ${LOG_LEVELS.join(", ")}, not "${logLevel}"`);
  return {
    profile: profileName,
    nodes: integer("nodes", TORTURE_NODES_MIN, TORTURE_NODES_MAX) ?? profile.nodes,
    clients: integer("clients", 1, TORTURE_CLIENTS_MAX) ?? profile.clients,
    keys: integer("keys", 1, TORTURE_KEYS_MAX) ?? profile.keys,
    durationS: integer("duration", 1, TORTURE_DURATION_S_MAX) ?? profile.durationS,
    seed: integer("seed", 0, SEED_MAX) ?? randomInt(0, 2 ** 31),
    nemesis: values.has("nemesis") ? parseNemesis(values.get("nemesis")!) : new Set(profile.nemesis),
    network,
    reportDir: values.get("report"),
    opTimeoutMs: integer("op-timeout-ms", 100, 600_000) ?? TORTURE_OP_TIMEOUT_MS_DEFAULT,
    checkBudgetMs: integer("check-budget-ms", 100, 3_600_000) ?? TORTURE_CHECK_BUDGET_MS_DEFAULT,
    logLevel,
    keepData: values.has("keep-data"),
    pacing: profile.pacing,
    nodeArgs: TORTURE_NODE_ARGS,
  };
}

function readFlags(argv: readonly string[]): Map<string, string> {
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith("--")) throw new TortureUsageError(`unexpected argument "${arg}"`);
    const equals = arg.indexOf("=");
    const name = equals === -1 ? arg.slice(2) : arg.slice(2, equals);
    if (BOOLEAN_FLAGS.includes(name)) {
      if (equals !== -1) throw new TortureUsageError(`--${name} takes no value`);
      values.set(name, "");
      continue;
    }
    if (!FLAGS.includes(name)) throw new TortureUsageError(`unknown option "--${name}"`);
    const value = equals === -1 ? argv[++i] : arg.slice(equals + 1);
    if (value === undefined) throw new TortureUsageError(`--${name} needs a value`);
    if (values.has(name)) throw new TortureUsageError(`--${name} is given twice`);
    values.set(name, value);
  }
  return values;
}

/** "all", "none", or a comma-separated list of nemesis kinds. */
export function parseNemesis(text: string): Set<NemesisKind> {
  const trimmed = text.trim();
  if (trimmed === "all") return new Set(NEMESIS_KINDS);
  if (trimmed === "none" || trimmed === "") return new Set();
  const kinds = new Set<NemesisKind>();
  for (const part of trimmed.split(",")) {
    const name = part.trim() as NemesisKind;
    if (!NEMESIS_KINDS.includes(name)) throw new TortureUsageError(`unknown nemesis "${name}": expected all, none, or a list of ${NEMESIS_KINDS.join(",")}`);
    kinds.add(name);
  }
  return kinds;
}

export function formatNemesis(kinds: ReadonlySet<NemesisKind>): string {
  if (kinds.size === 0) return "none";
  return NEMESIS_KINDS.filter((kind) => kinds.has(kind)).join(",");
}

/** The command that runs the same seed and settings again. */
export function replayCommand(options: TortureOptions): string {
  return [
    "npx flotilla torture",
    `--profile ${options.profile}`,
    `--seed ${options.seed}`,
    `--nodes ${options.nodes}`,
    `--clients ${options.clients}`,
    `--keys ${options.keys}`,
    `--duration ${options.durationS}`,
    `--nemesis ${formatNemesis(options.nemesis)}`,
  ].join(" ");
}
