/**
 * Real network faults: every node lives in its own network namespace, attached by a veth pair
 * to one bridge in a private test subnet (10.77.0.0/24) that exists only inside this machine.
 * This process, in the root namespace, reaches the nodes through the bridge's address.
 *
 * Faults are iptables rules in the receiving node's namespace, in a chain of our own:
 * - a cut link from A to B drops, at B, the packets A sends to B's client and peer ports, which
 *   are exactly the connections A opens to B (its Raft stream, its snapshots, its forwarded
 *   requests), while B's own connections to A keep working: one direction only;
 * - loss on the link from A to B drops A's packets at B at random (`-m statistic`).
 * TCP then does what TCP does on a bad network: retransmits, stalls, resets.
 *
 * Everything is named with one prefix, so a run cleans up what a crashed run left behind, and
 * a lock file keeps two runs from sharing the namespaces.
 */
import { execFile, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { linkKey, parseLinkKey, type Network, type NetworkState, type SlotAddress } from "./network.js";
import { isProcessAlive } from "../util/process.js";

const NAMESPACE_PREFIX = "flotilla-t";
const VETH_PREFIX = "vflotilla";
const BRIDGE = "br-flotilla";
/** A private subnet used only between the namespaces this run creates and the bridge. */
const SUBNET = "10.77.0";
const PREFIX_LENGTH = 24;
const BRIDGE_ADDRESS = `${SUBNET}.1`;
const FIRST_HOST = 11;
const CLIENT_PORT = 7379;
const PEER_PORT = 7380;
const CHAIN = "FLOTILLA";
/** Accepting bridged traffic in the root namespace (only when br_netfilter sends bridged packets through iptables). */
const FORWARD_RULE = ["FORWARD", "-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT"];
const COMMAND_TIMEOUT_MS = 10_000;

export class NetnsError extends Error {
  override name = "NetnsError";
}

/** Null when namespaces can be used here, else why not (said to the user on fallback). */
export async function namespacesUnavailableReason(): Promise<string | null> {
  if (process.platform !== "linux") return `this is ${process.platform}, not Linux`;
  if (process.getuid?.() !== 0) return "it does not run as root";
  if ((await run("ip", ["-V"])).code !== 0) return "iproute2 (ip) is not installed";
  if ((await run("iptables", ["--version"])).code !== 0) return "iptables is not installed";
  return null;
}

export class NamespaceNetwork implements Network {
  readonly mode = "netns";
  readonly description = `network namespaces on bridge ${BRIDGE} (${SUBNET}.0/${PREFIX_LENGTH}): partitions and loss are iptables rules`;
  readonly #nodes: number;
  readonly #lockPath: string;
  #closed = false;

  private constructor(nodes: number, lockPath: string) {
    this.#nodes = nodes;
    this.#lockPath = lockPath;
  }

  /** Cleans up what a crashed run left, then builds the bridge and one namespace per slot. */
  static open(nodes: number): NamespaceNetwork {
    const lockPath = takeLock();
    const network = new NamespaceNetwork(nodes, lockPath);
    try {
      removeLeftovers();
      network.#build();
    } catch (error) {
      network.closeNow();
      throw error;
    }
    return network;
  }

  #build(): void {
    must("ip", ["link", "add", BRIDGE, "type", "bridge"]);
    must("ip", ["addr", "add", `${BRIDGE_ADDRESS}/${PREFIX_LENGTH}`, "dev", BRIDGE]);
    must("ip", ["link", "set", BRIDGE, "up"]);
    if (readFileOrEmpty("/proc/sys/net/bridge/bridge-nf-call-iptables").trim() === "1") {
      must("iptables", ["-I", ...FORWARD_RULE]);
    }
    for (let slot = 0; slot < this.#nodes; slot++) {
      const namespace = namespaceName(slot);
      const veth = `${VETH_PREFIX}${slot}`;
      must("ip", ["netns", "add", namespace]);
      must("ip", ["link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", namespace]);
      must("ip", ["link", "set", veth, "master", BRIDGE]);
      must("ip", ["link", "set", veth, "up"]);
      must("ip", ["netns", "exec", namespace, "ip", "addr", "add", `${hostAddress(slot)}/${PREFIX_LENGTH}`, "dev", "eth0"]);
      must("ip", ["netns", "exec", namespace, "ip", "link", "set", "eth0", "up"]);
      must("ip", ["netns", "exec", namespace, "ip", "link", "set", "lo", "up"]);
      must("ip", ["netns", "exec", namespace, "iptables-restore", "--noflush"], `*filter\n:${CHAIN} - [0:0]\n-A INPUT -j ${CHAIN}\nCOMMIT\n`);
    }
  }

  address(slot: number): SlotAddress {
    const host = hostAddress(slot);
    return { client: `${host}:${CLIENT_PORT}`, peerListen: `${host}:${PEER_PORT}`, peerAdvertised: `${host}:${PEER_PORT}` };
  }

  command(slot: number, nodeArgs: readonly string[]): { file: string; args: string[] } {
    return { file: "ip", args: ["netns", "exec", namespaceName(slot), process.execPath, ...nodeArgs] };
  }

  identify(): void {
    // Namespaces know a node by its address; ids do not matter here.
  }

  async apply(state: NetworkState): Promise<void> {
    const rulesFor = Array.from({ length: this.#nodes }, () => [] as string[]);
    for (const link of state.cuts) {
      const [from, to] = parseLinkKey(link);
      rulesFor[to]?.push(`-A ${CHAIN} -s ${hostAddress(from)} -p tcp -m multiport --dports ${CLIENT_PORT},${PEER_PORT} -j DROP`);
    }
    for (const [link, rate] of state.loss) {
      const [from, to] = parseLinkKey(link);
      if (state.cuts.has(linkKey(from, to))) continue;
      rulesFor[to]?.push(`-A ${CHAIN} -s ${hostAddress(from)} -m statistic --mode random --probability ${rate.toFixed(4)} -j DROP`);
    }
    await Promise.all(
      rulesFor.map(async (rules, slot) => {
        const input = `*filter\n:${CHAIN} - [0:0]\n${rules.map((rule) => `${rule}\n`).join("")}COMMIT\n`;
        const result = await run("ip", ["netns", "exec", namespaceName(slot), "iptables-restore", "--noflush"], input);
        if (result.code !== 0) throw new NetnsError(`iptables-restore in ${namespaceName(slot)} failed: ${result.stderr.trim()}`);
      }),
    );
  }

  async close(): Promise<void> {
    this.closeNow();
  }

  closeNow(): void {
    if (this.#closed) return;
    this.#closed = true;
    removeLeftovers();
    fs.rmSync(this.#lockPath, { force: true });
  }
}

function namespaceName(slot: number): string {
  return `${NAMESPACE_PREFIX}${slot}`;
}

function hostAddress(slot: number): string {
  return `${SUBNET}.${FIRST_HOST + slot}`;
}

/** Kills what runs in our namespaces and deletes them, the veths, the bridge and the root rule. */
function removeLeftovers(): void {
  const namespaces = spawnSync("ip", ["netns", "list"], { encoding: "utf8" })
    .stdout.split("\n")
    .map((line) => line.split(" ")[0]!)
    .filter((name) => name.startsWith(NAMESPACE_PREFIX));
  for (const namespace of namespaces) {
    const pids = spawnSync("ip", ["netns", "pids", namespace], { encoding: "utf8" }).stdout.split("\n").filter((line) => /^\d+$/.test(line));
    for (const pid of pids) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        // already gone
      }
    }
    spawnSync("ip", ["netns", "del", namespace]);
  }
  const links = spawnSync("ip", ["-o", "link", "show"], { encoding: "utf8" }).stdout.split("\n");
  for (const line of links) {
    const name = line.split(":")[1]?.trim().split("@")[0];
    if (name !== undefined && name.startsWith(VETH_PREFIX)) spawnSync("ip", ["link", "del", name]);
  }
  spawnSync("ip", ["link", "del", BRIDGE]);
  for (let i = 0; i < 16 && spawnSync("iptables", ["-D", ...FORWARD_RULE], { stdio: "ignore" }).status === 0; i++);
}

/** One run at a time owns the namespaces: a lock file with the owner's pid (a dead owner's lock is taken over). */
function takeLock(): string {
  const directory = fs.existsSync("/run") ? "/run" : os.tmpdir();
  const lockPath = path.join(directory, "flotilla-torture.pid");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(lockPath, `${process.pid}\n`, { flag: "wx" });
      return lockPath;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const owner = Number(readFileOrEmpty(lockPath).trim());
      if (Number.isSafeInteger(owner) && owner > 0 && owner !== process.pid && isProcessAlive(owner)) {
        throw new NetnsError(`another torture run (pid ${owner}) is using the network namespaces (${lockPath})`);
      }
      fs.rmSync(lockPath, { force: true });
    }
  }
  throw new NetnsError(`could not take the lock ${lockPath}`);
}

function readFileOrEmpty(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

function must(file: string, args: readonly string[], input?: string): void {
  const result = spawnSync(file, args, { encoding: "utf8", input, timeout: COMMAND_TIMEOUT_MS });
  if (result.status !== 0) {
    const why = result.error?.message ?? result.stderr.trim();
    throw new NetnsError(`${file} ${args.join(" ")} failed: ${why}`);
  }
}

function run(file: string, args: readonly string[], input?: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { timeout: COMMAND_TIMEOUT_MS, encoding: "utf8" }, (error, _stdout, stderr) => {
      if (error === null) resolve({ code: 0, stderr });
      else resolve({ code: typeof error.code === "number" ? error.code : 127, stderr: stderr || error.message });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}
