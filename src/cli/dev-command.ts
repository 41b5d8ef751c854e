/**
 * `flotilla dev --nodes N`: a whole cluster on loopback for development. Each node is a real
 * `flotilla start` child process (so a crash or SIGKILL of one is a real crash); their logs are
 * streamed with a `[id]` prefix; Ctrl-C stops them all, with SIGTERM first, and they stop with
 * the runner however it ends.
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { DEV_NODES_MAX, DEV_STOP_GRACE_MS } from "../util/limits.js";
import { EXIT_FAILED, EXIT_OK, integerOption, parse, positionals, stringOption, UsageError, type Io, type OutputStream } from "./io.js";
import { logFormatFor, logFormatOption } from "./start-command.js";

export interface DevNode {
  readonly id: string;
  readonly client: string;
  readonly peer: string;
  readonly dataDir: string;
  /** `flotilla start` arguments for this node. */
  readonly args: readonly string[];
}

/** `stdoutIsTTY`: the runner writes to a terminal, so its nodes' logs are for people by default. */
export function planDev(argv: readonly string[], stdoutIsTTY = false): DevNode[] {
  const parsed = parse(argv, { nodes: { type: "string" }, "base-port": { type: "string" }, data: { type: "string" }, "log-level": { type: "string" }, "log-format": { type: "string" } });
  positionals(parsed, [], 0);
  const count = integerOption(parsed, "nodes", 1) ?? 3;
  if (count > DEV_NODES_MAX) throw new UsageError(`--nodes must be 1..${DEV_NODES_MAX}, not ${count}`);
  const basePort = integerOption(parsed, "base-port", 1) ?? 7379;
  if (basePort + 2 * count - 1 > 65_535) throw new UsageError(`--base-port ${basePort} leaves no room for ${count} nodes (two ports each)`);
  const dataRoot = stringOption(parsed, "data") ?? path.join("flotilla-data", "dev");
  const logLevel = stringOption(parsed, "log-level") ?? "info";
  const logFormat = logFormatFor(logFormatOption(parsed), stdoutIsTTY);
  const ids = Array.from({ length: count }, (_, i) => `n${i + 1}`);
  const peerOf = (i: number): string => `127.0.0.1:${basePort + 2 * i + 1}`;
  const bootstrap = ids.map((id, i) => `${id}=${peerOf(i)}`).join(",");
  return ids.map((id, i) => {
    const client = `127.0.0.1:${basePort + 2 * i}`;
    const dataDir = path.join(dataRoot, id);
    const args = ["start", "--id", id, "--data", dataDir, "--client", client, "--peer", peerOf(i), "--bootstrap", bootstrap, "--log-level", logLevel, "--log-format", logFormat];
    return { id, client, peer: peerOf(i), dataDir, args };
  });
}

export async function runDev(argv: readonly string[], io: Io): Promise<number> {
  const nodes = planDev(argv, io.stdout.isTTY === true);
  const stop = io.waitForStop();
  const main = fileURLToPath(new URL("./main.js", import.meta.url));
  io.stdout.write(`flotilla dev: ${nodes.length} node(s); Ctrl-C stops them all\n`);
  for (const node of nodes) io.stdout.write(`  ${node.id}  client http://${node.client}  peer ${node.peer}  data ${node.dataDir}\n`);
  io.stdout.write(`  try: flotilla status --endpoints ${nodes.map((n) => n.client).join(",")}\n`);
  // The nodes write to a pipe; in colour all the same when the runner writes to a terminal.
  const env = io.stdout.isTTY === true && !process.env.NO_COLOR ? { ...process.env, FORCE_COLOR: process.env.FORCE_COLOR ?? "1" } : process.env;
  const children = nodes.map((node) => startChild(main, node, env, io));
  const allExited = Promise.all(children.map((child) => child.exited));
  const outcome = await Promise.race([stop, allExited.then(() => undefined)]);
  if (outcome === undefined) {
    io.stderr.write("flotilla dev: every node has exited\n");
    return EXIT_FAILED;
  }
  io.stdout.write(`flotilla dev: stopping every node (${outcome})\n`);
  await stopAll(children);
  return EXIT_OK;
}

interface Child {
  readonly id: string;
  readonly process: ChildProcess;
  readonly exited: Promise<void>;
}

/**
 * Each node in its own process group, so a Ctrl-C in the terminal reaches the runner alone,
 * which stops the nodes in order; and with an IPC channel that nothing is sent on: when the
 * runner ends, even by SIGKILL, the channel closes and the node stops cleanly (stop-request.ts).
 */
function startChild(main: string, node: DevNode, env: NodeJS.ProcessEnv, io: Io): Child {
  const child = spawn(process.execPath, [main, ...node.args], { env, stdio: ["ignore", "pipe", "pipe", "ipc"], detached: true });
  prefixLines(child.stdout!, `[${node.id}] `, io.stdout);
  prefixLines(child.stderr!, `[${node.id}] `, io.stderr);
  const exited = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      io.stderr.write(`[${node.id}] exited (${signal ?? `code ${code}`})\n`);
      resolve();
    });
    child.once("error", (error) => {
      io.stderr.write(`[${node.id}] could not start: ${error.message}\n`);
      resolve();
    });
  });
  return { id: node.id, process: child, exited };
}

function prefixLines(stream: NodeJS.ReadableStream, prefix: string, out: OutputStream): void {
  readline.createInterface({ input: stream, crlfDelay: Infinity }).on("line", (line) => out.write(`${prefix}${line}\n`));
}

/** SIGTERM to every node, SIGKILL to any still running after DEV_STOP_GRACE_MS. */
async function stopAll(children: readonly Child[]): Promise<void> {
  const running = children.filter((child) => child.process.exitCode === null && child.process.signalCode === null);
  for (const child of running) child.process.kill("SIGTERM");
  const timer = setTimeout(() => {
    for (const child of running) if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill("SIGKILL");
  }, DEV_STOP_GRACE_MS);
  await Promise.all(running.map((child) => child.exited));
  clearTimeout(timer);
}
