/** The node layer's public surface: open a node, and the interface the server drives. */
export { openNode, FlotillaNode, type NodeOptions, type RunningNode } from "./node.js";
export * from "./api.js";
export { endpointUrl } from "./join.js";
