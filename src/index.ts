/**
 * Flotilla, embedded: `import { startNode } from "flotilla"` runs a node with its HTTP API in
 * the calling process. The typed client is `flotilla/client`.
 */
export { startNode, type StartNodeOptions, type RunningNode } from "./server/start.js";
export { createHttpServer } from "./server/index.js";
export { openNode, NodeError, type NodeApi, type NodeOptions, type NodeStatus, type MemberStatus } from "./node/index.js";
