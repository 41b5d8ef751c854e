/**
 * startNode: one Flotilla node with its HTTP API, as `flotilla start` runs it and as an
 * application embeds it (`import { startNode } from "flotilla"`). The node opens first (it may
 * replay its log); clients are let in only once it can serve them. Signals are the caller's
 * business: the CLI maps SIGTERM/SIGINT to close().
 */
import type { FastifyInstance } from "fastify";
import { pino, type Logger } from "pino";
import type { NodeApi } from "../node/api.js";
import { checkClusterName, Discovery, openNode, readIdentity, rejoinCluster, type DiscoveryPlan, type NodeOptions, type RunningNode as OpenNode } from "../node/index.js";
import { NODE_JOIN_TOKEN_BYTES_MAX } from "../util/limits.js";
import { formatHostPort, parseHostPort, toClientUrl, type HostPort } from "./address.js";
import { holdClientPort, startServer } from "./listen.js";
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
  /** Join an existing cluster through any of these client HOST:PORT addresses (tried in turn: a static seed list). */
  readonly join?: readonly string[];
  /**
   * The cluster's shared secret for admission: adding a member (POST /v1/members) requires it,
   * this node sends it when it joins, and discovery records are signed with it.
   */
  readonly joinToken?: string;
  /**
   * Find the cluster on the local network by name (mDNS) instead of addresses: with no data,
   * bootstrap with the first `expect` nodes seen, or join the running cluster; always answer
   * later nodes. Needs concrete advertised addresses (not port 0, not 0.0.0.0).
   */
  readonly discover?: { readonly clusterName: string; readonly expect?: number };
  /** Structured logger for the node and the HTTP server; default pino at "info" on stdout. */
  readonly logger?: Logger;
  readonly http?: Omit<HttpServerOptions, "logger">;
  /** Timing and snapshot knobs of the node (defaults are the node's); requestTimeoutMs also bounds HTTP requests. */
  readonly tuning?: NodeTuning;
  /**
   * The node stopped on a failed fsync or a broken invariant: it has closed (HTTP server too).
   * The library never exits the process; `flotilla start` logs and exits 70.
   */
  readonly onFatal?: (error: Error) => void;
  /** The node learned it was removed from the cluster: it has closed (HTTP server too). `flotilla start` exits. */
  readonly onRemoved?: (detail: string) => void;
}

export type NodeTuning = Partial<
  Pick<NodeOptions, "tickMs" | "electionTimeoutTicks" | "heartbeatIntervalTicks" | "requestTimeoutMs" | "snapshotEntries" | "snapshotCatchupEntries" | "backgroundCheckpoints">
>;

export interface RunningNode {
  readonly id: string;
  readonly node: NodeApi;
  readonly app: FastifyInstance;
  /** The advertised client URL. */
  readonly clientUrl: string;
  readonly peerAddress: string;
  /**
   * Hands leadership to a caught-up voter when this node leads (while it still forwards what
   * clients send), stops serving clients, then closes the node (flushes, releases its data).
   */
  close(): Promise<void>;
}

export async function startNode(options: StartNodeOptions): Promise<RunningNode> {
  const logger = options.logger ?? pino({ level: "info" });
  const requested = parseHostPort(options.clientListen, "client listen address", { portZeroAllowed: true });
  checkJoinToken(options.joinToken);
  if (options.discover !== undefined) checkDiscoverable(options);
  advertisedClientUrl(requested, options.advertiseClient); // checked before anything is bound
  // Both ports are bound before this node joins or founds a cluster (the peer port by the node):
  // a start that cannot serve fails here, leaving no cluster changed.
  const held = await holdClientPort(requested);
  const listen = held.address;
  const clientUrl = advertisedClientUrl(listen, options.advertiseClient);
  // Only a node with no data looks for its cluster; one with data announces once it serves.
  const fresh = readIdentity(options.dataDir) === undefined;
  let discovery = options.discover !== undefined && fresh ? startDiscovery(options, clientUrl, logger) : undefined;
  let node;
  // The handlers close everything this function opened; `close` is known once it returns.
  const opened: { close?: () => Promise<void> } = {};
  const ended = (notify: () => void) => () => void (opened.close?.() ?? Promise.resolve()).finally(notify);
  try {
    const plan = discovery === undefined ? undefined : await discovery.find(options.discover?.expect);
    node = await openNode({
      id: options.id,
      dataDir: options.dataDir,
      peerListen: options.peerListen,
      ...(options.advertisePeer === undefined ? {} : { advertisePeer: options.advertisePeer }),
      clientUrl,
      ...startingPoint(options, plan),
      ...(options.joinToken === undefined ? {} : { joinToken: options.joinToken }),
      ...options.tuning,
      logger,
      onFatal: (error) => ended(() => options.onFatal?.(error))(),
      onRemoved: (detail) => ended(() => options.onRemoved?.(detail))(),
    });
  } catch (error) {
    await discovery?.close();
    await held.release();
    throw error;
  }
  // The node tags its own lines with its id; the HTTP server's lines get the same tag here.
  const httpLogger = logger.child({ node: options.id, component: "http" });
  let server;
  try {
    const requestTimeoutMs = options.http?.requestTimeoutMs ?? options.tuning?.requestTimeoutMs;
    await held.release();
    server = await startServer(node, listen, {
      ...options.http,
      ...(requestTimeoutMs === undefined ? {} : { requestTimeoutMs }),
      ...(options.joinToken === undefined ? {} : { joinToken: options.joinToken }),
      logger: httpLogger,
    });
  } catch (error) {
    await discovery?.close();
    await node.close();
    throw error;
  }
  httpLogger.info({ clientUrl, peer: node.peerAddress }, "serving clients");
  const http = server;
  if (options.discover !== undefined) {
    // Later nodes may join through this one from now on: it serves.
    try {
      discovery ??= startDiscovery(options, clientUrl, logger);
      discovery.setRunning(node.clusterId);
    } catch (error) {
      await closeInOrder(http.close, () => node.close());
      throw error;
    }
  }
  const announcer = discovery;
  const rejoining = new AbortController();
  if (!fresh && options.join !== undefined) rejoin(options, node, logger, rejoining.signal);
  let closing: Promise<void> | undefined;
  const closeAll = (): Promise<void> => {
    rejoining.abort();
    // Hands leadership over before the HTTP server closes: once another node leads, this one
    // still forwards what clients send it, so a rolling restart costs clients one short pause.
    return (closing ??= node.handOff().then(() =>
      closeInOrder(async () => void (await Promise.all([http.close(), announcer?.close()])), () => node.close()),
    ));
  };
  opened.close = closeAll;
  return {
    id: options.id,
    node,
    app: http.app,
    clientUrl,
    peerAddress: node.peerAddress,
    close: closeAll,
  };
}

/** A node with data given --join again: in the background, tell the cluster if its addresses changed. */
function rejoin(options: StartNodeOptions, node: OpenNode, logger: Logger, signal: AbortSignal): void {
  const log = logger.child({ node: options.id });
  rejoinCluster({
    endpoints: options.join!,
    id: options.id,
    peer: node.peerAddress,
    client: node.clientUrl,
    clusterId: node.clusterId,
    logger: log,
    signal,
    ...(options.joinToken === undefined ? {} : { joinToken: options.joinToken }),
  }).then(
    (outcome) => {
      if (outcome === "not_a_member") log.warn({}, "this node is not a member of the cluster (it was removed): it stays out until an operator adds it again");
    },
    (error: Error) => {
      if (!signal.aborted) log.warn({ err: error.message }, "could not check this node's addresses with the cluster");
    },
  );
}

function checkJoinToken(token: string | undefined): void {
  if (token === undefined) return;
  if (!/^[\x21-\x7e]+$/.test(token) || token.length > NODE_JOIN_TOKEN_BYTES_MAX) {
    throw new RangeError(`a join token is 1..${NODE_JOIN_TOKEN_BYTES_MAX} printable ASCII characters without spaces (it travels in an HTTP header)`);
  }
}

function checkDiscoverable(options: StartNodeOptions): void {
  const peer = options.advertisePeer ?? options.peerListen;
  const peerAddress = parseHostPort(peer, "advertised peer address");
  if (peerAddress.port === 0 || peerAddress.host === "0.0.0.0" || peerAddress.host === "::") {
    throw new Error(`--discover announces this node's peer address, so it must be one other nodes can reach, not ${peer}: give --peer HOST:PORT or --advertise-peer`);
  }
  checkClusterName(options.discover!.clusterName);
}

function startDiscovery(options: StartNodeOptions, clientUrl: string, logger: Logger): Discovery {
  const peer = options.advertisePeer ?? options.peerListen;
  return new Discovery({
    clusterName: options.discover!.clusterName,
    self: { id: options.id, peer, client: clientUrl, state: "forming" },
    ...(options.joinToken === undefined ? {} : { joinToken: options.joinToken }),
    logger,
  });
}

/** Where a node with no data starts: what discovery decided, or the options' bootstrap / join. */
function startingPoint(options: StartNodeOptions, plan: DiscoveryPlan | undefined): Pick<NodeOptions, "bootstrap" | "join"> {
  if (plan?.kind === "bootstrap") return { bootstrap: { ...plan.members } };
  if (plan?.kind === "join") return { join: [...plan.endpoints] };
  return {
    ...(options.bootstrap === undefined ? {} : { bootstrap: { ...options.bootstrap } }),
    ...(options.join === undefined ? {} : { join: [...options.join] }),
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
