/**
 * A three-member etcd cluster on loopback, for `--vs etcd`: the same load generator talks to
 * it through etcd's HTTP/JSON gateway (/v3/kv/put, /v3/kv/range). etcd runs with its defaults
 * (100 ms heartbeat, 1 s election timeout, an fsync'd WAL), as Flotilla does. When etcd is
 * missing and we are root, Debian's etcd-server package is installed with apt-get.
 */
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { BENCH_CLUSTER_READY_TIMEOUT_MS } from "./limits.js";
import { freePort } from "./ports.js";
import { controlRequest, ServerProcess, sleep } from "./server-process.js";
import type { ClusterOptions, SystemCluster } from "./system.js";

export type EtcdAvailability = { readonly binary: string } | { readonly skipped: string };

/** Finds etcd, installing Debian's etcd-server when it is missing and we may; else says why not. */
export function ensureEtcd(log: (line: string) => void): EtcdAvailability {
  const found = findEtcd();
  if (found !== undefined) return { binary: found };
  if (process.platform !== "linux" || typeof process.getuid !== "function" || process.getuid() !== 0) {
    return { skipped: "etcd is not installed, and installing it (apt-get install etcd-server) needs root" };
  }
  if (findOnPath("apt-get") === undefined) return { skipped: "etcd is not installed and there is no apt-get to install etcd-server with" };
  log("etcd is not installed: apt-get install etcd-server ...");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  for (const args of [["update"], ["install", "-y", "--no-install-recommends", "etcd-server"]]) {
    const result = spawnSync("apt-get", args, { stdio: ["ignore", "ignore", "inherit"], env });
    if (result.status !== 0) return { skipped: `apt-get ${args.join(" ")} failed (exit ${result.status})` };
  }
  const installed = findEtcd();
  return installed === undefined ? { skipped: "etcd-server was installed but no etcd binary was found" } : { binary: installed };
}

function findEtcd(): string | undefined {
  if (fs.existsSync("/usr/bin/etcd")) return "/usr/bin/etcd";
  return findOnPath("etcd");
}

function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    const candidate = path.join(dir, name);
    if (dir.length > 0 && fs.existsSync(candidate)) return candidate;
  }
  return undefined;
}

export function etcdVersion(binary: string): string {
  try {
    const text = execFileSync(binary, ["--version"], { encoding: "utf8" });
    return /etcd Version:\s*(\S+)/.exec(text)?.[1] ?? "unknown";
  } catch {
    return "unknown";
  }
}

export async function startEtcdCluster(binary: string, options: ClusterOptions): Promise<SystemCluster> {
  const members = [];
  for (let i = 1; i <= options.size; i++) members.push({ id: `e${i}`, client: `127.0.0.1:${await freePort()}`, peer: `127.0.0.1:${await freePort()}` });
  const initialCluster = members.map((m) => `${m.id}=http://${m.peer}`).join(",");
  const nodes = members.map(
    (m) =>
      new ServerProcess(m.id, m.client, binary, [
        ...["--name", m.id, "--data-dir", path.join(options.root, m.id)],
        ...["--listen-client-urls", `http://${m.client}`, "--advertise-client-urls", `http://${m.client}`],
        ...["--listen-peer-urls", `http://${m.peer}`, "--initial-advertise-peer-urls", `http://${m.peer}`],
        ...["--initial-cluster", initialCluster, "--initial-cluster-state", "new", "--initial-cluster-token", "flotilla-bench"],
        ...["--logger", "zap", "--log-level", "warn", ...options.extraArgs],
      ]),
  );
  const cluster: SystemCluster = {
    kind: "etcd",
    version: etcdVersion(binary),
    nodes,
    leader: () => etcdLeader(nodes),
    writeThrough: async (node) => {
      const body = JSON.stringify({ key: Buffer.from("bench-probe").toString("base64"), value: Buffer.from(node.id).toString("base64") });
      return (await controlRequest(`http://${node.clientAddress}/v3/kv/put`, { method: "POST", body }))?.status === 200;
    },
    close: async () => {
      await Promise.all(nodes.map((node) => node.stop()));
    },
  };
  try {
    await waitHealthy(nodes);
  } catch (error) {
    await cluster.close();
    throw error;
  }
  return cluster;
}

async function waitHealthy(nodes: readonly ServerProcess[]): Promise<void> {
  const deadline = Date.now() + BENCH_CLUSTER_READY_TIMEOUT_MS;
  for (const node of nodes) {
    for (;;) {
      const health = await controlRequest(`http://${node.clientAddress}/health`);
      if (health?.status === 200 && (health.json as { health?: string }).health === "true") break;
      if (!node.running) throw new Error(`etcd member ${node.id} exited while starting:\n${node.output}`);
      if (Date.now() > deadline) throw new Error(`etcd member ${node.id} not healthy within ${BENCH_CLUSTER_READY_TIMEOUT_MS} ms:\n${node.output}`);
      await sleep(100);
    }
  }
}

async function etcdLeader(nodes: readonly ServerProcess[]): Promise<string> {
  const deadline = Date.now() + BENCH_CLUSTER_READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    for (const node of nodes) {
      const status = await controlRequest(`http://${node.clientAddress}/v3/maintenance/status`, { method: "POST", body: "{}" });
      const body = status?.json as { header?: { member_id?: string }; leader?: string } | undefined;
      if (body?.leader !== undefined && body.header?.member_id === body.leader) return node.id;
    }
    await sleep(100);
  }
  throw new Error("no etcd member says it leads");
}
