import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import { describe, expect, it } from "vitest";
import { namespacesUnavailable, openUniqueHostNetwork, type NamespaceHost } from "./netns.js";

// The fault runner's own network (NamespaceNetwork: fixed names, a lock) runs in CI as
// `flotilla torture --profile ci --network netns`; this checks the host network under it.
const unavailable = namespacesUnavailable({ iptables: false });
if (unavailable !== undefined) console.warn(`skipping the host network test: ${unavailable}`);

const PORT = 7000;

describe.skipIf(unavailable !== undefined)("a host network", () => {
  it("puts each host at its own address, reachable from this process and from the other hosts, and destroy() removes everything", async () => {
    const network = openUniqueHostNetwork(2);
    const [first, second] = network.hosts as [NamespaceHost, NamespaceHost];
    let server: ChildProcess | undefined;
    try {
      expect(network.gateway).toMatch(/^10\.78\.\d+\.1$/);
      expect(first.address).toBe(network.gateway.replace(/\.1$/, ".11"));
      expect(second.address).toBe(network.gateway.replace(/\.1$/, ".12"));

      server = runOn(first, `require("node:net").createServer((s) => s.end("hello from ${first.address}")).listen(${PORT}, "${first.address}", () => console.log("listening"))`);
      await outputContains(server, "listening");
      expect(await readFrom(first.address)).toBe(`hello from ${first.address}`);
      const fromSecond = runOn(second, `require("node:net").connect(${PORT}, "${first.address}").on("data", (d) => process.stdout.write(d))`);
      await outputContains(fromSecond, `hello from ${first.address}`);
    } finally {
      network.destroy();
    }
    const exited = server.exitCode !== null || server.signalCode !== null ? Promise.resolve() : new Promise((resolve) => server!.once("exit", resolve));
    await exited;
    expect(server.signalCode).toBe("SIGKILL");
    const namespaces = execFileSync("ip", ["netns", "list"], { encoding: "utf8" });
    expect(namespaces).not.toContain(first.namespace);
    expect(namespaces).not.toContain(second.namespace);
    expect(execFileSync("ip", ["-o", "addr", "show"], { encoding: "utf8" })).not.toContain(`${network.gateway}/24`);
    network.destroy();
  }, 20_000);
});

function runOn(host: NamespaceHost, script: string): ChildProcess {
  const [file, ...args] = host.wrapper as [string, ...string[]];
  return spawn(file, [...args, process.execPath, "-e", script], { stdio: ["ignore", "pipe", "pipe"] });
}

function outputContains(child: ChildProcess, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => reject(new Error(`no "${text}" within 10 s; output: ${output}`)), 10_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString("utf8");
      if (output.includes(text)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
  });
}

function readFrom(address: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const socket = net.connect(PORT, address);
    socket.setTimeout(5_000, () => socket.destroy(new Error(`no answer from ${address}:${PORT}`)));
    socket.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
    socket.on("end", () => resolve(text));
    socket.on("error", reject);
  });
}
