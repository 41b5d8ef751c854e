/**
 * A private local network inside this machine for tests that need multicast (mDNS discovery):
 * network namespaces, each with one veth link to a bridge in the test's own namespace, on a
 * private /24 of 10.78.0.0/16. Needs root and iproute2; `lanUnavailable()` says why not.
 */
import { execFileSync } from "node:child_process";
import { randomInt } from "node:crypto";
import os from "node:os";

export interface LanHost {
  readonly namespace: string;
  readonly address: string;
  /** Runs a command inside this host's namespace. */
  readonly wrapper: readonly string[];
}

export interface Lan {
  readonly hosts: readonly LanHost[];
  /** The bridge's own address: the test process reaches the hosts through it. */
  readonly gateway: string;
  destroy(): void;
}

/** Why a private network cannot be made here, or undefined when it can. */
export function lanUnavailable(): string | undefined {
  if (process.platform !== "linux") return `network namespaces need Linux, not ${process.platform}`;
  if (process.getuid?.() !== 0) return "network namespaces need root (run the tests as root, as CI can)";
  try {
    execFileSync("ip", ["-V"], { stdio: "ignore" });
  } catch {
    return "the ip command (iproute2) is not installed";
  }
  // Root in a container may still lack CAP_NET_ADMIN: try one namespace.
  const probe = `flprobe${process.pid}`;
  try {
    ip("netns", "add", probe);
    ip("netns", "del", probe);
  } catch (error) {
    return `cannot create a network namespace here (${(error as { stderr?: Buffer }).stderr?.toString().trim() || (error as Error).message})`;
  }
  return undefined;
}

function ip(...args: string[]): void {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
}

/** A subnet 10.78.N.0/24 that no interface of this machine uses yet. */
function freeSubnet(): string {
  const used = Object.values(os.networkInterfaces()).flatMap((addresses) => (addresses ?? []).map((a) => a.address));
  for (let attempt = 0; attempt < 50; attempt++) {
    const subnet = `10.78.${randomInt(256)}`;
    if (!used.some((address) => address.startsWith(`${subnet}.`))) return subnet;
  }
  throw new Error("no free 10.78.N.0/24 subnet for the test network");
}

/** Creates `count` hosts on one bridge. Call destroy() when done (it removes everything). */
export function createLan(count: number): Lan {
  const tag = randomInt(36 ** 4).toString(36).padStart(4, "0");
  const bridge = `fl${tag}br`;
  const subnet = freeSubnet();
  const hosts: LanHost[] = [];
  const destroy = (): void => {
    for (const host of hosts) tryIp("netns", "del", host.namespace);
    tryIp("link", "del", bridge);
  };
  try {
    ip("link", "add", bridge, "type", "bridge");
    ip("addr", "add", `${subnet}.1/24`, "dev", bridge);
    ip("link", "set", bridge, "up");
    for (let i = 1; i <= count; i++) {
      const namespace = `fl${tag}-${i}`;
      const outside = `fl${tag}h${i}`;
      const inside = `fl${tag}n${i}`;
      ip("netns", "add", namespace);
      hosts.push({ namespace, address: `${subnet}.${10 + i}`, wrapper: ["ip", "netns", "exec", namespace] });
      ip("link", "add", outside, "type", "veth", "peer", "name", inside);
      ip("link", "set", inside, "netns", namespace);
      ip("link", "set", outside, "master", bridge);
      ip("link", "set", outside, "up");
      ip("-n", namespace, "addr", "add", `${subnet}.${10 + i}/24`, "dev", inside);
      ip("-n", namespace, "link", "set", inside, "multicast", "on", "up");
      ip("-n", namespace, "link", "set", "lo", "up");
    }
  } catch (error) {
    destroy();
    throw new Error(`could not create the test network: ${(error as { stderr?: Buffer }).stderr?.toString().trim() ?? (error as Error).message}`);
  }
  return { hosts, gateway: `${subnet}.1`, destroy };
}

function tryIp(...args: string[]): void {
  try {
    ip(...args);
  } catch {
    // already gone
  }
}
