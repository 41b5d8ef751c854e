/**
 * A fresh three-node Flotilla cluster of real `flotilla start` processes on loopback, with its
 * data in a temporary folder removed on close. Each node runs the built CLI (dist/cli/main.js)
 * with the node's defaults (100 ms ticks, as etcd's heartbeat), logging warnings and worse.
 * With cpuProfileDir, each node writes a V8 CPU profile there when it stops.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { BENCH_CLUSTER_READY_TIMEOUT_MS } from "./limits.js";
import { CLI_PATH, PRODUCT_DIST, REPO_ROOT } from "./paths.js";
import { freePort } from "./ports.js";
import { controlRequest, ServerProcess, sleep } from "./server-process.js";
import type { ClusterOptions, SystemCluster } from "./system.js";


export async function startFlotillaCluster(options: ClusterOptions): Promise<SystemCluster> {
  if (!fs.existsSync(CLI_PATH)) throw new Error(`${CLI_PATH} is missing: run npm run build first`);
  const ids = Array.from({ length: options.size }, (_, i) => `n${i + 1}`);
  const addresses = [];
  for (const id of ids) addresses.push({ id, client: `127.0.0.1:${await freePort()}`, peer: `127.0.0.1:${await freePort()}` });
  const bootstrap = addresses.map((a) => `${a.id}=${a.peer}`).join(",");
  const profileArgs = options.cpuProfileDir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${options.cpuProfileDir}`];
  const nodes = addresses.map(
    (a) =>
      new ServerProcess(a.id, a.client, process.execPath, [
        ...profileArgs,
        CLI_PATH,
        "start",
        ...["--id", a.id, "--data", path.join(options.root, a.id), "--client", a.client, "--peer", a.peer],
        ...["--bootstrap", bootstrap, "--log-level", "warn", ...options.extraArgs],
        ...(options.traceDir === undefined ? [] : ["--trace", path.join(options.traceDir, `${a.id}.jsonl`)]),
      ]),
  );
  const cluster: SystemCluster = {
    kind: "flotilla",
    version: flotillaVersion(),
    nodes,
    leader: () => flotillaLeader(nodes),
    writeThrough: async (node) => (await controlRequest(`http://${node.clientAddress}/v1/kv/bench-probe`, { method: "PUT", body: node.id }))?.status === 200,
    close: async () => {
      await Promise.all(nodes.map((node) => node.stop()));
    },
  };
  try {
    await waitReady(nodes);
  } catch (error) {
    await cluster.close();
    throw error;
  }
  return cluster;
}

async function waitReady(nodes: readonly ServerProcess[]): Promise<void> {
  const deadline = Date.now() + BENCH_CLUSTER_READY_TIMEOUT_MS;
  for (const node of nodes) {
    for (;;) {
      const ready = await controlRequest(`http://${node.clientAddress}/readyz`);
      if (ready?.status === 200) break;
      if (!node.running) throw new Error(`flotilla node ${node.id} exited while starting:\n${node.output}`);
      if (Date.now() > deadline) throw new Error(`flotilla node ${node.id} not ready within ${BENCH_CLUSTER_READY_TIMEOUT_MS} ms:\n${node.output}`);
      await sleep(100);
    }
  }
}

async function flotillaLeader(nodes: readonly ServerProcess[]): Promise<string> {
  const deadline = Date.now() + BENCH_CLUSTER_READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    for (const node of nodes) {
      const status = await controlRequest(`http://${node.clientAddress}/v1/status`);
      const body = status?.json as { role?: string } | undefined;
      if (body?.role === "leader") return node.id;
    }
    await sleep(100);
  }
  throw new Error("no flotilla node says it leads");
}

/** The package version, and the commit of the checkout the harness runs from (marked when it has uncommitted changes). */
function flotillaVersion(): string {
  let version = "unknown";
  try {
    version = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as { version?: string }).version ?? version;
  } catch {
    // not in a checkout or package: the version stays unknown
  }
  try {
    const git = (args: string[]): string => execFileSync("git", args, { cwd: PRODUCT_DIST, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    // Only a checkout's own dist/ is described by its commit (not a copy built elsewhere inside it).
    if (path.relative(git(["rev-parse", "--show-toplevel"]), PRODUCT_DIST) !== "dist") return version;
    const dirty = git(["status", "--porcelain", "--untracked-files=no"]).length > 0;
    return `${version} (${git(["rev-parse", "--short", "HEAD"])}${dirty ? "+changes" : ""})`;
  } catch {
    return version;
  }
}
