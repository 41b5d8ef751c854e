/** Serving the HTTP API on a socket (tests and embedders that bring their own NodeApi). */
import net, { type AddressInfo } from "node:net";
import type { FastifyInstance } from "fastify";
import type { NodeApi } from "../node/api.js";
import { formatHostPort, parseHostPort, type HostPort } from "./address.js";
import { createHttpServer, type HttpServerOptions } from "./app.js";

export interface ServingServer {
  readonly app: FastifyInstance;
  /** http://host:port actually bound (port 0 resolved). */
  readonly url: string;
  /** Stops accepting, lets in-flight requests finish, closes the socket. The node stays open. */
  close(): Promise<void>;
}

/** Creates the HTTP server for `node` and listens on `listen` ("host:port", port 0 = any free port). */
export async function startServer(node: NodeApi, listen: string | HostPort, options: HttpServerOptions = {}): Promise<ServingServer> {
  const address = typeof listen === "string" ? parseHostPort(listen, "client listen address", { portZeroAllowed: true }) : listen;
  const app = createHttpServer(node, options);
  try {
    await app.listen({ host: address.host, port: address.port });
  } catch (error) {
    await app.close();
    throw new Error(`cannot listen for clients on ${formatHostPort(address)}: ${(error as Error).message}`, { cause: error });
  }
  const bound = app.server.address() as AddressInfo;
  const url = `http://${formatHostPort({ host: address.host, port: bound.port })}`;
  return { app, url, close: async () => void (await app.close()) };
}

/** The client port, held while the node starts, so a start that cannot serve fails before it changes any cluster. */
export interface HeldPort {
  readonly address: HostPort;
  /** Lets the port go, for the HTTP server to listen on it at once. */
  release(): Promise<void>;
}

/** The answer to a request that comes while the node is still starting (it may be joining). */
const STARTING_ANSWER = [
  "HTTP/1.1 503 Service Unavailable",
  "content-type: application/json; charset=utf-8",
  "retry-after: 1",
  "connection: close",
  "",
  JSON.stringify({ error: "this node is starting: retry shortly", code: "starting" }),
].join("\r\n");

/**
 * Binds the client listen address now (port 0: a free one), answering 503 "starting" to anyone
 * who connects meanwhile: a taken port fails the start here, before the node joins or founds a
 * cluster. Released just before the HTTP server listens there.
 */
export async function holdClientPort(listen: HostPort): Promise<HeldPort> {
  const connections = new Set<net.Socket>();
  const holder = net.createServer((socket) => {
    connections.add(socket);
    socket.on("close", () => connections.delete(socket));
    socket.on("error", () => socket.destroy());
    socket.end(STARTING_ANSWER, () => socket.destroy());
  });
  try {
    await new Promise<void>((resolve, reject) => {
      holder.once("error", reject);
      holder.listen(listen.port, listen.host, () => resolve());
    });
  } catch (error) {
    throw new Error(`cannot listen for clients on ${formatHostPort(listen)}: ${(error as Error).message}`, { cause: error });
  }
  const port = (holder.address() as AddressInfo).port;
  return {
    address: { host: listen.host, port },
    release: () => {
      const closed = new Promise<void>((resolve) => holder.close(() => resolve()));
      for (const socket of connections) socket.destroy(); // the close waits for them otherwise
      return closed;
    },
  };
}
