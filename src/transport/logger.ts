/**
 * The structured logger the transport writes to: the subset of pino it uses, so a pino
 * logger (ideally a child bound to the node id) can be passed as is.
 */
export interface TransportLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}
