/**
 * Network namespaces on a private bridge: the one place Flotilla builds real networks inside
 * this machine, for the fault runner and for the process tests that need hosts with addresses
 * of their own (mDNS discovery, src/e2e).
 *
 * A host network is a bridge in this process's namespace with the address `<subnet>.1`, and one
 * namespace per host, attached to the bridge by a veth pair (`eth0` inside, `<subnet>.11`,
 * `.12`, ...). This process reaches the hosts through the bridge; a command runs on a host
 * under `ip netns exec <namespace>`.
 *
 * The fault runner's network (`NamespaceNetwork`) adds faults as iptables rules in the
 * receiving node's namespace, in a chain of our own:
 * - a cut link from A to B drops, at B, the packets A sends to B's client and peer ports, which
 *   are exactly the connections A opens to B (its Raft stream, its snapshots, its forwarded
 *   requests), while B's own connections to A keep working: one direction only;
 * - loss on the link from A to B drops A's packets at B at random (`-m statistic`).
 * TCP then does what TCP does on a bad network: retransmits, stalls, resets. Its names carry
 * one prefix, so a run cleans up what a crashed run left behind, and a lock file keeps two runs
 * from sharing the namespaces.
 */
import { execFile, spawnSync } from "node:child_process";
import { randomInt } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { linkKey, parseLinkKey, type Network, type NetworkState, type SlotAddress } from "./network.js";
import { isProcessAlive } from "../util/process.js";

const COMMAND_TIMEOUT_MS = 10_000;
const PREFIX_LENGTH = 24;
/** The first host's last octet; .1 is the bridge, the rest of the low addresses stay free. */
const FIRST_HOST = 11;
/** Where br_netfilter says whether bridged packets go through iptables (then the FORWARD chain's policy applies to them). */
const BRIDGE_NETFILTER = "/proc/sys/net/bridge/bridge-nf-call-iptables";

export class NetnsError extends Error {
  override name = "NetnsError";
}

/**
 * Why network namespaces cannot be made here, or undefined when they can. Root in a container
 * may still lack CAP_NET_ADMIN, so it tries one namespace.
 */
export function namespacesUnavailable(needs: { readonly iptables: boolean }): string | undefined {
  if (process.platform !== "linux") return `this is ${process.platform}, not Linux`;
  if (process.getuid?.() !== 0) return "not running as root";
  if (!commandRuns("ip", ["-V"])) return "the ip command (iproute2) is not installed";
  if (needs.iptables && !commandRuns("iptables", ["--version"])) return "iptables is not installed";
  const probe = `flprobe${process.pid}`;
  const made = spawnSync("ip", ["netns", "add", probe], { encoding: "utf8", timeout: COMMAND_TIMEOUT_MS });
  if (made.status !== 0) return `cannot create a network namespace here (${made.error?.message ?? made.stderr.trim()})`;
  spawnSync("ip", ["netns", "del", probe]);
  return undefined;
}

export interface NamespaceHost {
  readonly namespace: string;
  /** The host's address on the bridge's subnet. */
  readonly address: string;
  /** Prefix a command with this to run it on the host. */
  readonly wrapper: readonly string[];
}

export interface HostNetworkSpec {
  /** The bridge's interface name (at most 15 characters, as every interface name). */
  readonly bridge: string;
  /** The first three octets of a private /24, e.g. "10.77.0". */
  readonly subnet: string;
  /** One namespace per host, and the name of its veth end on the bridge (at most 15 characters). */
  readonly hosts: readonly { readonly namespace: string; readonly veth: string }[];
}

export interface HostNetwork {
  readonly hosts: readonly NamespaceHost[];
  /** The bridge's own address: this process reaches the hosts through it. */
  readonly gateway: string;
  /** Kills what still runs in the namespaces, then removes them, the bridge and its rule; safe to call twice. */
  destroy(): void;
}

/** Builds the bridge and the hosts' namespaces; on failure removes what it made and throws NetnsError. */
export function openHostNetwork(spec: HostNetworkSpec): HostNetwork {
  const gateway = `${spec.subnet}.1`;
  const hosts: NamespaceHost[] = [];
  let forwardRule: readonly string[] | undefined;
  let destroyed = false;
  const destroy = (): void => {
    if (destroyed) return;
    destroyed = true;
    for (const host of hosts) removeNamespace(host.namespace);
    // Deleting a namespace deletes its veth pair; the bridge goes explicitly.
    spawnSync("ip", ["link", "del", spec.bridge]);
    if (forwardRule !== undefined) spawnSync("iptables", ["-D", ...forwardRule], { stdio: "ignore" });
  };
  try {
    must("ip", ["link", "add", spec.bridge, "type", "bridge"]);
    must("ip", ["addr", "add", `${gateway}/${PREFIX_LENGTH}`, "dev", spec.bridge]);
    must("ip", ["link", "set", spec.bridge, "up"]);
    // With br_netfilter loaded, packets between two ports of the bridge meet the root
    // namespace's FORWARD policy (DROP where Docker runs): let ours through. Without iptables
    // nothing filters them, so there is nothing to allow.
    if (readFileOrEmpty(BRIDGE_NETFILTER).trim() === "1" && commandRuns("iptables", ["--version"])) {
      const rule = forwardAcceptRule(spec.bridge);
      must("iptables", ["-I", ...rule]);
      forwardRule = rule;
    }
    spec.hosts.forEach(({ namespace, veth }, i) => {
      const address = `${spec.subnet}.${FIRST_HOST + i}`;
      must("ip", ["netns", "add", namespace]);
      hosts.push({ namespace, address, wrapper: ["ip", "netns", "exec", namespace] });
      must("ip", ["link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", namespace]);
      must("ip", ["link", "set", veth, "master", spec.bridge]);
      must("ip", ["link", "set", veth, "up"]);
      must("ip", ["-n", namespace, "addr", "add", `${address}/${PREFIX_LENGTH}`, "dev", "eth0"]);
      // Multicast for mDNS discovery between the hosts.
      must("ip", ["-n", namespace, "link", "set", "eth0", "multicast", "on", "up"]);
      must("ip", ["-n", namespace, "link", "set", "lo", "up"]);
    });
  } catch (error) {
    destroy();
    throw error;
  }
  return { hosts, gateway, destroy };
}

/**
 * A host network with names and a subnet (10.78.N.0/24) of its own, so that several can exist
 * at once (test files running side by side); nothing is left to clean up but what destroy() removes.
 */
export function openUniqueHostNetwork(count: number): HostNetwork {
  const tag = randomInt(36 ** 4).toString(36).padStart(4, "0");
  return openHostNetwork({
    bridge: `fl${tag}br`,
    subnet: freeSubnet("10.78"),
    hosts: Array.from({ length: count }, (_, i) => ({ namespace: `fl${tag}-${i + 1}`, veth: `fl${tag}h${i + 1}` })),
  });
}

/** A subnet `<prefix>.N` (a /24) that no interface of this machine uses yet. */
function freeSubnet(prefix: string): string {
  const used = Object.values(os.networkInterfaces()).flatMap((addresses) => (addresses ?? []).map((a) => a.address));
  for (let attempt = 0; attempt < 50; attempt++) {
    const subnet = `${prefix}.${randomInt(256)}`;
    if (!used.some((address) => address.startsWith(`${subnet}.`))) return subnet;
  }
  throw new NetnsError(`no free ${prefix}.N.0/24 subnet for a host network`);
}

// ---------------------------------------------------------------------------------------
// The fault runner's network

const NAMESPACE_PREFIX = "flotilla-t";
const VETH_PREFIX = "vflotilla";
const BRIDGE = "br-flotilla";
/** A private subnet used only between the namespaces this run creates and the bridge. */
const SUBNET = "10.77.0";
const CLIENT_PORT = 7379;
const PEER_PORT = 7380;
const CHAIN = "FLOTILLA";

export class NamespaceNetwork implements Network {
  readonly mode = "netns";
  readonly description = `network namespaces on bridge ${BRIDGE} (${SUBNET}.0/${PREFIX_LENGTH}): partitions and loss are iptables rules`;
  readonly #hosts: HostNetwork;
  readonly #lockPath: string;
  #closed = false;

  private constructor(hosts: HostNetwork, lockPath: string) {
    this.#hosts = hosts;
    this.#lockPath = lockPath;
  }

  /** Cleans up what a crashed run left, then builds the bridge and one namespace per slot, each with our empty chain. */
  static open(nodes: number): NamespaceNetwork {
    const lockPath = takeLock();
    let hosts: HostNetwork | undefined;
    try {
      removeLeftovers();
      hosts = openHostNetwork({ bridge: BRIDGE, subnet: SUBNET, hosts: Array.from({ length: nodes }, (_, slot) => ({ namespace: namespaceName(slot), veth: `${VETH_PREFIX}${slot}` })) });
      for (const host of hosts.hosts) must("ip", ["netns", "exec", host.namespace, "iptables-restore", "--noflush"], `*filter\n:${CHAIN} - [0:0]\n-A INPUT -j ${CHAIN}\nCOMMIT\n`);
      return new NamespaceNetwork(hosts, lockPath);
    } catch (error) {
      hosts?.destroy();
      fs.rmSync(lockPath, { force: true });
      throw error;
    }
  }

  address(slot: number): SlotAddress {
    const host = this.#host(slot).address;
    return { client: `${host}:${CLIENT_PORT}`, peerListen: `${host}:${PEER_PORT}`, peerAdvertised: `${host}:${PEER_PORT}` };
  }

  command(slot: number, nodeArgs: readonly string[]): { file: string; args: string[] } {
    const [file, ...args] = this.#host(slot).wrapper as [string, ...string[]];
    return { file, args: [...args, process.execPath, ...nodeArgs] };
  }

  identify(): void {
    // Namespaces know a node by its address; ids do not matter here.
  }

  async apply(state: NetworkState): Promise<void> {
    const hosts = this.#hosts.hosts;
    const rulesFor = hosts.map(() => [] as string[]);
    for (const link of state.cuts) {
      const [from, to] = parseLinkKey(link);
      rulesFor[to]?.push(`-A ${CHAIN} -s ${this.#host(from).address} -p tcp -m multiport --dports ${CLIENT_PORT},${PEER_PORT} -j DROP`);
    }
    for (const [link, rate] of state.loss) {
      const [from, to] = parseLinkKey(link);
      if (state.cuts.has(linkKey(from, to))) continue;
      rulesFor[to]?.push(`-A ${CHAIN} -s ${this.#host(from).address} -m statistic --mode random --probability ${rate.toFixed(4)} -j DROP`);
    }
    await Promise.all(
      rulesFor.map(async (rules, slot) => {
        const namespace = hosts[slot]!.namespace;
        const input = `*filter\n:${CHAIN} - [0:0]\n${rules.map((rule) => `${rule}\n`).join("")}COMMIT\n`;
        const result = await run("ip", ["netns", "exec", namespace, "iptables-restore", "--noflush"], input);
        if (result.code !== 0) throw new NetnsError(`iptables-restore in ${namespace} failed: ${result.stderr.trim()}`);
      }),
    );
  }

  async close(): Promise<void> {
    this.closeNow();
  }

  closeNow(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#hosts.destroy();
    fs.rmSync(this.#lockPath, { force: true });
  }

  #host(slot: number): NamespaceHost {
    const host = this.#hosts.hosts[slot];
    if (host === undefined) throw new NetnsError(`no slot ${slot} in a network of ${this.#hosts.hosts.length}`);
    return host;
  }
}

function namespaceName(slot: number): string {
  return `${NAMESPACE_PREFIX}${slot}`;
}

function forwardAcceptRule(bridge: string): readonly string[] {
  return ["FORWARD", "-i", bridge, "-o", bridge, "-j", "ACCEPT"];
}

/** What a crashed run left: our namespaces (and what runs in them), veths, the bridge and its root rule. */
function removeLeftovers(): void {
  const namespaces = spawnSync("ip", ["netns", "list"], { encoding: "utf8" })
    .stdout.split("\n")
    .map((line) => line.split(" ")[0]!)
    .filter((name) => name.startsWith(NAMESPACE_PREFIX));
  for (const namespace of namespaces) removeNamespace(namespace);
  const links = spawnSync("ip", ["-o", "link", "show"], { encoding: "utf8" }).stdout.split("\n");
  for (const line of links) {
    const name = line.split(":")[1]?.trim().split("@")[0];
    if (name !== undefined && name.startsWith(VETH_PREFIX)) spawnSync("ip", ["link", "del", name]);
  }
  spawnSync("ip", ["link", "del", BRIDGE]);
  for (let i = 0; i < 16 && spawnSync("iptables", ["-D", ...forwardAcceptRule(BRIDGE)], { stdio: "ignore" }).status === 0; i++);
}

/** Kills what runs in a namespace (a node left behind) and deletes it, with its end of the veth pair. */
function removeNamespace(namespace: string): void {
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

function commandRuns(file: string, args: readonly string[]): boolean {
  return spawnSync(file, args, { stdio: "ignore", timeout: COMMAND_TIMEOUT_MS }).status === 0;
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
