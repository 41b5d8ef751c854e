/**
 * A service manager (or a person) stops a node by signalling the process it started, and every
 * node must then stop cleanly: `npm start` (npm runs the script through sh), `flotilla dev`, and
 * a dev runner started through npm (npx and `npm run` both put an `sh -c` between npm and the
 * command). Afterwards no process is left and the ports are free. Real processes of the built
 * CLI (npm test builds it first); Linux, since the leftovers are found in /proc.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { freePort } from "../util/ports.js";

const ROOT = path.resolve(".");
const MAIN = path.resolve("dist/cli/main.js");
const STOP_WAIT_MS = 25_000;

interface Started {
  readonly child: ChildProcess;
  readonly exit: Promise<number | null>;
  output(): string;
}

const started: Started[] = [];
const tempDirs: string[] = [];

afterEach(() => {
  for (const { child } of started.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  for (const dir of tempDirs.splice(0)) {
    for (const pid of processesMentioning(dir)) process.kill(pid, "SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** The environment of a command started by hand: no package manager above it. */
function plainEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith("npm_")) delete env[name];
  return env;
}

function startProcess(command: string, args: readonly string[], options: { cwd?: string; detached?: boolean } = {}): Started {
  const child = spawn(command, args, { cwd: options.cwd ?? ROOT, env: plainEnv(), stdio: ["ignore", "pipe", "pipe"], detached: options.detached ?? false });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  // "close", not "exit": every line the process wrote has been read by then.
  const exit = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  const handle = { child, exit, output: () => output };
  started.push(handle);
  return handle;
}

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "flotilla-signals-"));
  tempDirs.push(dir);
  return dir;
}

/** Pids of the processes whose command line mentions `text` (a test's own data directory). */
function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^[0-9]+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(text)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs: number, output: () => string = () => ""): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; output:\n${output().slice(-3000)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function serves(clientPort: number): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${clientPort}/healthz`, { signal: AbortSignal.timeout(1_000) })).ok;
  } catch {
    return false;
  }
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** A first port P such that P..P+count-1 are all free (dev's nodes take consecutive ports). */
async function freePortRun(count: number): Promise<number> {
  for (;;) {
    const base = await freePort();
    let free = true;
    for (let port = base + 1; port < base + count && free; port++) free = await canBind(port);
    if (free) return base;
  }
}

/** Nothing of the test's processes is left, and every port they used can be bound again. */
async function expectAllGone(dataDir: string, ports: readonly number[], output: () => string): Promise<void> {
  await waitFor(`every process using ${dataDir} to end`, () => processesMentioning(dataDir).length === 0, STOP_WAIT_MS, output);
  for (const port of ports) expect(await canBind(port), `port ${port} is free again`).toBe(true);
}

function countOf(text: string, part: string): number {
  return text.split(part).length - 1;
}

describe.skipIf(!fs.existsSync(MAIN) || process.platform !== "linux")("stopping by signal", () => {
  it("SIGTERM to `npm start` stops the node cleanly: it exits, its ports are free, no process is left", async () => {
    const dataDir = tempDir();
    const [client, peer] = [await freePort(), await freePort()];
    const npm = startProcess("npm", ["start", "--", "--data", path.join(dataDir, "n1"), "--client", `127.0.0.1:${client}`, "--peer", `127.0.0.1:${peer}`]);
    await waitFor("the node to serve", () => serves(client), 30_000, npm.output);
    npm.child.kill("SIGTERM");
    await waitFor("npm to exit", () => npm.child.exitCode !== null || npm.child.signalCode !== null, STOP_WAIT_MS, npm.output);
    await expectAllGone(dataDir, [client, peer], npm.output);
    await npm.exit;
    expect(npm.output()).toContain('"msg":"stopped"');
  });

  it("Ctrl-C on `npm start` (SIGINT to the whole process group; npm passes it on too) stops the node cleanly, once", async () => {
    const dataDir = tempDir();
    const [client, peer] = [await freePort(), await freePort()];
    const npm = startProcess("npm", ["start", "--", "--data", path.join(dataDir, "n1"), "--client", `127.0.0.1:${client}`, "--peer", `127.0.0.1:${peer}`], { detached: true });
    await waitFor("the node to serve", () => serves(client), 30_000, npm.output);
    process.kill(-npm.child.pid!, "SIGINT");
    await npm.exit;
    await expectAllGone(dataDir, [client, peer], npm.output);
    expect(countOf(npm.output(), '"msg":"stopping"')).toBe(1);
    expect(npm.output()).toContain('"msg":"stopped"');
  });

  it("SIGTERM to `flotilla dev` stops every node cleanly, then the runner exits 0", async () => {
    const dataDir = tempDir();
    const base = await freePortRun(4);
    const dev = startProcess(process.execPath, [MAIN, "dev", "--nodes", "2", "--base-port", String(base), "--data", dataDir]);
    await waitFor("both nodes to serve", async () => (await serves(base)) && (await serves(base + 2)), 30_000, dev.output);
    dev.child.kill("SIGTERM");
    expect(await dev.exit).toBe(0);
    await expectAllGone(dataDir, [base, base + 1, base + 2, base + 3], dev.output);
    expect(countOf(dev.output(), '"msg":"stopped"')).toBe(2);
  });

  it("SIGTERM to npm running `flotilla dev` through sh (as npx and npm run do) stops the runner and every node", async () => {
    const dataDir = tempDir();
    const base = await freePortRun(4);
    const script = `node ${MAIN} dev --nodes 2 --base-port ${base} --data ${dataDir}`;
    fs.writeFileSync(path.join(dataDir, "package.json"), JSON.stringify({ name: "dev-through-npm", private: true, scripts: { dev: script } }));
    const npm = startProcess("npm", ["run", "dev"], { cwd: dataDir });
    await waitFor("both nodes to serve", async () => (await serves(base)) && (await serves(base + 2)), 30_000, npm.output);
    npm.child.kill("SIGTERM");
    await expectAllGone(dataDir, [base, base + 1, base + 2, base + 3], npm.output);
    expect(npm.output()).toContain("parent exited");
  });

  it("the nodes of `flotilla dev` stop cleanly when the runner is killed (SIGKILL)", async () => {
    const dataDir = tempDir();
    const base = await freePortRun(4);
    const dev = startProcess(process.execPath, [MAIN, "dev", "--nodes", "2", "--base-port", String(base), "--data", dataDir]);
    await waitFor("both nodes to serve", async () => (await serves(base)) && (await serves(base + 2)), 30_000, dev.output);
    dev.child.kill("SIGKILL");
    await expectAllGone(dataDir, [base, base + 1, base + 2, base + 3], dev.output);
  });
});
