/**
 * The HTTP API of api.md (design.md, "server"): a thin translation of HTTP onto NodeApi.
 */
export { createHttpServer, type HttpServerOptions } from "./app.js";
export { startServer, type ServingServer } from "./listen.js";
export { startNode, type StartNodeOptions, type RunningNode, type NodeTuning } from "./start.js";
export { HttpError, errorResponse, type ErrorCode, type ErrorResponse } from "./errors.js";
export { parseHostPort, formatHostPort, toClientUrl, type HostPort } from "./address.js";
