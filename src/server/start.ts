/**
 * startNode: one Flotilla node with its HTTP API, as `flotilla start` runs it and as an
 * application embeds it (`import { startNode } from "flotilla"`). The node opens first (it may
 * replay its log); clients are let in only once it can serve them. Signals are the caller's
 * business: the CLI maps SIGTERM/SIGINT to close().
 */
import net from "node:net";
import type { FastifyInstance } from "fastify";
import { pino, type Logger } from "pino";
import type { NodeApi } from "../node/api.js";
import { openNode, type NodeOptions } from "../node/index.js";
import { formatHostPort, parseHostPort, toClientUrl, type HostPort } from "./address.js";
import { startServer } from "./listen.js";
import type { HttpServerOptions } from "./app.js";

export interface StartNodeOptions {
  /** Node name, unique in the cluster. */
  readonly id: string;
  readonly dataDir: string;
  /** Client HTTP listen address, HOST:PORT (port 0: a free port is picked). */
  readonly clientListen: string;
  /** Peer listen address, HOST:PORT. */
  readonly peerListen: string;
  /** Client URL other nodes and clients are told; default http://<clientListen>. */
  readonly advertiseClient?: string;
  /** Peer HOST:PORT other nodes are told; default the peer listen address. */
  readonly advertisePeer?: string;
  /** Form a new cluster of exactly these voters: node id → peer HOST:PORT. */
  readonly bootstrap?: Readonly<Record<string, string>>;
  /** Join an existing cluster through any of these client HOST:PORT addresses. */
  readonly join?: readonly string[];
  /** Structured logger for the node and the HTTP server; default pino at "info" on stdout. */
  readonly logger?: Logger;
  readonly http?: Omit<HttpServerOptions, "logger">;
  /** Timing and snapshot knobs of the node (defaults are the node's); requestTimeoutMs also bounds HTTP requests. */
  readonly tuning?: NodeTuning;
}

export type NodeTuning = Partial<
  Pick<NodeOptions, "tickMs" | "electionTimeoutTicks" | "heartbeatIntervalTicks" | "requestTimeoutMs" | "snapshotEntries" | "snapshotCatchupEntries">
>;

export interface RunningNode {
  readonly id: string;
  readonly node: NodeApi;
  readonly app: FastifyInstance;
  /** The advertised client URL. */
  readonly clientUrl: string;
  readonly peerAddress: string;
  /** Stops serving clients, then closes the node (flushes and releases its data directory). */
  close(): Promise<void>;
}

export async function startNode(options: StartNodeOptions): Promise<RunningNode> {
  const logger = options.logger ?? pino({ level: "info" });
  const listen = await resolvePort(parseHostPort(options.clientListen, "client listen address", { portZeroAllowed: true }));
  const clientUrl = advertisedClientUrl(listen, options.advertiseClient);
  const node = await openNode({
    id: options.id,
    dataDir: options.dataDir,
    peerListen: options.peerListen,
    ...(options.advertisePeer === undefined ? {} : { advertisePeer: options.advertisePeer }),
    clientUrl,
    ...(options.bootstrap === undefined ? {} : { bootstrap: { ...options.bootstrap } }),
    ...(options.join === undefined ? {} : { join: [...options.join] }),
    ...options.tuning,
    logger,
  });
  // The node tags its own lines with its id; the HTTP server's lines get the same tag here.
  const httpLogger = logger.child({ node: options.id, component: "http" });
  let server;
  try {
    const requestTimeoutMs = options.http?.requestTimeoutMs ?? options.tuning?.requestTimeoutMs;
    server = await startServer(node, listen, { ...options.http, ...(requestTimeoutMs === undefined ? {} : { requestTimeoutMs }), logger: httpLogger });
  } catch (error) {
    await node.close();
    throw error;
  }
  httpLogger.info({ clientUrl, peer: node.peerAddress }, "serving clients");
  const http = server;
  let closing: Promise<void> | undefined;
  return {
    id: options.id,
    node,
    app: http.app,
    clientUrl,
    peerAddress: node.peerAddress,
    close: () => (closing ??= closeInOrder(http.close, () => node.close())),
  };
}

async function closeInOrder(closeHttp: () => Promise<void>, closeNode: () => Promise<void>): Promise<void> {
  try {
    await closeHttp();
  } finally {
    await closeNode();
  }
}

function advertisedClientUrl(listen: HostPort, advertise: string | undefined): string {
  if (advertise !== undefined) return toClientUrl(advertise, "advertised client URL");
  if (listen.host === "0.0.0.0" || listen.host === "::") {
    throw new Error(`the client address ${formatHostPort(listen)} listens on every interface: give an advertised client URL (--advertise-client) that other nodes and clients can reach`);
  }
  return `http://${formatHostPort(listen)}`;
}

/** Port 0 becomes a free port now, because the node must be told its client URL before it serves. */
async function resolvePort(listen: HostPort): Promise<HostPort> {
  if (listen.port !== 0) return listen;
  const probe = net.createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once("error", reject);
    probe.listen(0, listen.host, () => resolve());
  });
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return { host: listen.host, port };
}
