/**
 * The entry point of the benchmark's helper processes (forked by the harness, never run by
 * hand), so that the load and the probes never share an event loop with the harness:
 *
 *   generator-process.js generator        a LoadGenerator driven over IPC (generator-pool.ts)
 *   generator-process.js echo-server      a TCP echo server (loopback round trip)
 *   generator-process.js trivial-server   an HTTP server answering 200 "{}" (the generator's ceiling)
 *   generator-process.js floor-follower DIR N / floor-leader DIR PORT PORT / floor-service-leader DIR PORT PORT
 *                                         the bare replicated write, and with HTTP and SQLite (replication-floor.ts)
 *   generator-process.js load-floor-follower DIR ORIGIN / load-floor-leader DIR PORT PORT
 *                                         the service floor under load (load-floor.ts)
 */
import http from "node:http";
import net from "node:net";
import { LoadGenerator, type GeneratorResult, type GeneratorSpec } from "./generator.js";
import { runLoadFloorFollower, runLoadFloorLeader } from "./load-floor.js";
import { runFloorFollower, runFloorLeader, runServiceFloorLeader } from "./replication-floor.js";
import { BENCH_PROGRESS_INTERVAL_MS } from "./limits.js";

export type ToGenerator =
  | { readonly type: "start"; readonly spec: GeneratorSpec; readonly fill?: readonly [number, number] }
  | { readonly type: "measure" }
  | { readonly type: "stop" };

export type FromGenerator =
  | { readonly type: "ready" }
  | { readonly type: "progress"; readonly ops: number; readonly errors: number }
  | { readonly type: "result"; readonly result: GeneratorResult }
  | { readonly type: "failed"; readonly message: string }
  | { readonly type: "listening"; readonly port: number; readonly clientPort?: number };

/** The helper processes that listen on a port (startHelper in generator-pool.ts). */
export type HelperMode = "echo-server" | "trivial-server" | FloorMode;
type FloorMode = "floor-follower" | "floor-leader" | "floor-service-leader" | "load-floor-follower" | "load-floor-leader";

function send(message: FromGenerator): void {
  process.send!(message);
}

function runGenerator(): void {
  let generator: LoadGenerator | undefined;
  let progressTimer: NodeJS.Timeout | undefined;
  const finish = (result: GeneratorResult): void => {
    clearInterval(progressTimer);
    send({ type: "result", result });
  };
  const fail = (error: unknown): void => send({ type: "failed", message: error instanceof Error ? error.message : String(error) });
  process.on("message", (message: ToGenerator) => {
    if (message.type === "start") {
      generator = new LoadGenerator(message.spec);
      const running = generator;
      running
        .open()
        .then(async () => {
          send({ type: "ready" });
          progressTimer = setInterval(() => send({ type: "progress", ...running.progress() }), BENCH_PROGRESS_INTERVAL_MS);
          if (message.fill) finish(await running.fill(message.fill[0], message.fill[1]));
          else running.start();
        })
        .catch(fail);
    } else if (message.type === "measure") {
      generator?.measure();
    } else {
      generator?.stop().then(finish, fail);
    }
  });
  // The harness going away (even killed) ends this process too.
  process.on("disconnect", () => process.exit(0));
}

function runEchoServer(): void {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    socket.on("data", (chunk) => socket.write(chunk));
    socket.on("error", () => socket.destroy());
  });
  server.listen(0, "127.0.0.1", () => send({ type: "listening", port: (server.address() as net.AddressInfo).port }));
  process.on("disconnect", () => process.exit(0));
}

function runTrivialServer(): void {
  const body = Buffer.from("{}");
  const server = http.createServer((_request, response) => {
    response.writeHead(200, { "content-type": "application/json", "content-length": body.length });
    response.end(body);
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, "127.0.0.1", () => send({ type: "listening", port: (server.address() as net.AddressInfo).port }));
  process.on("disconnect", () => process.exit(0));
}

function runFloorHelper(mode: FloorMode, args: readonly string[]): void {
  const listening = (port: number, clientPort?: number): void => send({ type: "listening", port, ...(clientPort === undefined ? {} : { clientPort }) });
  // Each runs until the harness kills the process.
  if (mode === "floor-follower") runFloorFollower(args[0]!, listening);
  else if (mode === "floor-leader") runFloorLeader(args[0]!, args.slice(1).map(Number), listening);
  else if (mode === "floor-service-leader") runServiceFloorLeader(args[0]!, args.slice(1).map(Number), listening);
  else if (mode === "load-floor-follower") runLoadFloorFollower(args[0]!, Number(args[1]), listening);
  else runLoadFloorLeader(args[0]!, args.slice(1).map(Number), listening);
  process.on("disconnect", () => process.exit(0));
}

const mode = process.argv[2];
if (process.send === undefined) {
  process.stderr.write("generator-process.js is started by the benchmark harness (npm run bench), not by hand\n");
  process.exit(2);
} else if (mode === "generator") runGenerator();
else if (mode === "echo-server") runEchoServer();
else if (mode === "trivial-server") runTrivialServer();
else if (mode === "floor-follower" || mode === "floor-leader" || mode === "floor-service-leader" || mode === "load-floor-follower" || mode === "load-floor-leader") {
  runFloorHelper(mode, process.argv.slice(3));
}
else {
  process.stderr.write(`generator-process.js: unknown mode ${JSON.stringify(mode)}\n`);
  process.exit(2);
}
