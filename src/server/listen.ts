/** Serving the HTTP API on a socket (tests and embedders that bring their own NodeApi). */
import type { AddressInfo } from "node:net";
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
