/**
 * Real `flotilla start` processes on loopback, driven only through the public surface: the
 * CLI's arguments, signals, the HTTP API (through the typed client) and the data directory.
 * The processes run the built CLI (dist/), which `npm test` builds before the tests.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "../client/index.js";
import { freePort } from "../util/ports.js";

export { freePort };

export const CLI_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../dist/cli/main.js");

/** Output kept per process for diagnostics (the tail of it). */
const OUTPUT_BYTES_MAX = 64 * 1024;


export interface ProcessNode {
  readonly id: string;
  readonly dataDir: string;
  readonly clientAddress: string;
  readonly peerAddress: string;
  process: ChildProcess | undefined;
  output: string;
  exit: Promise<number | null> | undefined;
  /** A command the node runs under, e.g. ["ip", "netns", "exec", "ns1"] (none: run directly). */
  readonly wrapper?: readonly string[];
}

/** Where a node added by hand listens, and what it runs under. */
export interface NodeSpec {
  readonly clientAddress?: string;
  readonly peerAddress?: string;
  readonly wrapper?: readonly string[];
}

export interface ClusterOptions {
  /** Extra arguments for every `flotilla start` (tuning extensions such as --snapshot-entries). */
  readonly extraArgs?: readonly string[];
}

export class ProcessCluster {
  readonly root: string;
  readonly nodes = new Map<string, ProcessNode>();
  readonly #extraArgs: readonly string[];
  #bootstrap = "";

  private constructor(root: string, options: ClusterOptions) {
    this.root = root;
    this.#extraArgs = options.extraArgs ?? [];
  }

  /** Allocates addresses and starts `size` bootstrapped nodes; resolves when all are ready. */
  static async start(size: number, options: ClusterOptions = {}): Promise<ProcessCluster> {
    const cluster = ProcessCluster.empty(options);
    const ids = Array.from({ length: size }, (_, i) => `n${i + 1}`);
    for (const id of ids) await cluster.#allocate(id);
    cluster.#bootstrap = ids.map((id) => `${id}=${cluster.node(id).peerAddress}`).join(",");
    for (const id of ids) cluster.launch(id, ["--bootstrap", cluster.#bootstrap]);
    await cluster.waitReady(ids);
    return cluster;
  }

  /** A cluster with no node yet: add them with addNode / addJoiner. */
  static empty(options: ClusterOptions = {}): ProcessCluster {
    if (!fs.existsSync(CLI_PATH)) throw new Error(`${CLI_PATH} is missing: run npm run build first`);
    return new ProcessCluster(fs.mkdtempSync(path.join(os.tmpdir(), "flotilla-e2e-")), options);
  }

  async #allocate(id: string, spec: NodeSpec = {}): Promise<ProcessNode> {
    if (this.nodes.has(id)) throw new Error(`node ${id} exists already`);
    const node: ProcessNode = {
      id,
      dataDir: path.join(this.root, id),
      clientAddress: spec.clientAddress ?? `127.0.0.1:${await freePort()}`,
      peerAddress: spec.peerAddress ?? `127.0.0.1:${await freePort()}`,
      process: undefined,
      output: "",
      exit: undefined,
      ...(spec.wrapper === undefined ? {} : { wrapper: spec.wrapper }),
    };
    this.nodes.set(id, node);
    return node;
  }

  /** Registers a node (addresses, data directory) without starting it: launch it with its own arguments. */
  async addNode(id: string, spec: NodeSpec = {}): Promise<ProcessNode> {
    return this.#allocate(id, spec);
  }

  /** Adds a node that joins through the given endpoints (not started as part of bootstrap). */
  async addJoiner(id: string, joinThrough: readonly string[], extraArgs: readonly string[] = []): Promise<ProcessNode> {
    const node = await this.#allocate(id);
    this.launch(id, ["--join", joinThrough.join(","), ...extraArgs]);
    return node;
  }

  /** Gives a stopped node new addresses (same id and data): it moved. */
  relocate(id: string, spec: Omit<NodeSpec, "wrapper">): ProcessNode {
    if (this.isRunning(id)) throw new Error(`node ${id} is still running`);
    const node = { ...this.node(id), ...spec, process: undefined, exit: undefined };
    this.nodes.set(id, node);
    return node;
  }

  /** Forgets a stopped node (a replaced node whose id is not reused); its data directory stays until close. */
  forget(id: string): void {
    if (this.isRunning(id)) throw new Error(`node ${id} is still running`);
    this.nodes.delete(id);
  }

  node(id: string): ProcessNode {
    const node = this.nodes.get(id);
    if (!node) throw new Error(`no node ${id}`);
    return node;
  }

  /** Starts (or restarts) a node's process; a node with data ignores --bootstrap/--join. */
  launch(id: string, args: readonly string[] = ["--bootstrap", this.#bootstrap]): void {
    const node = this.node(id);
    const command = [process.execPath, CLI_PATH, "start", "--id", id, "--data", node.dataDir, "--client", node.clientAddress, "--peer", node.peerAddress, "--log-level", "warn", ...this.#extraArgs, ...args];
    const [program, ...programArgs] = [...(node.wrapper ?? []), ...command] as [string, ...string[]];
    const child = spawn(program, programArgs, { stdio: ["ignore", "pipe", "pipe"] });
    node.process = child;
    const keep = (chunk: Buffer): void => {
      node.output = (node.output + chunk.toString("utf8")).slice(-OUTPUT_BYTES_MAX);
    };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    node.exit = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
  }

  /** Sends a signal and waits for the process to end. */
  async stop(id: string, signal: NodeJS.Signals = "SIGKILL"): Promise<number | null> {
    const node = this.node(id);
    if (!node.process || node.process.exitCode !== null || node.process.signalCode !== null) return node.process?.exitCode ?? null;
    node.process.kill(signal);
    const code = await node.exit!;
    node.process = undefined;
    return code;
  }

  isRunning(id: string): boolean {
    const child = this.node(id).process;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  client(ids: readonly string[] = [...this.nodes.keys()], options: { timeoutMs?: number } = {}): Client {
    return new Client({ endpoints: ids.map((id) => this.node(id).clientAddress), ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}) });
  }

  async waitReady(ids: readonly string[], timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const id of ids) {
      for (;;) {
        if (await this.#isReady(id)) break;
        if (!this.isRunning(id)) throw new Error(`${id} exited while starting:\n${this.node(id).output}`);
        if (Date.now() > deadline) throw new Error(`${id} not ready within ${timeoutMs} ms:\n${this.node(id).output}`);
        await sleep(100);
      }
    }
  }

  async #isReady(id: string): Promise<boolean> {
    try {
      const response = await fetch(`http://${this.node(id).clientAddress}/readyz`, { signal: AbortSignal.timeout(1000) });
      await response.arrayBuffer();
      return response.status === 200;
    } catch {
      return false;
    }
  }

  /** The id of the node that says it leads (asking each running node in turn). */
  async leader(timeoutMs = 20_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      for (const id of this.nodes.keys()) {
        if (!this.isRunning(id)) continue;
        try {
          const response = await fetch(`http://${this.node(id).clientAddress}/v1/status`, { signal: AbortSignal.timeout(1000) });
          const status = (await response.json()) as { role: string; leader: string };
          if (status.role === "leader") return id;
        } catch {
          // not answering: try the next one
        }
      }
      await sleep(100);
    }
    throw new Error("no leader within the deadline");
  }

  async close(): Promise<void> {
    await Promise.all([...this.nodes.keys()].map((id) => this.stop(id, "SIGKILL")));
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
