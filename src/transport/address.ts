import { TransportError } from "./errors.js";

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** Parses "host:port" or "[ipv6]:port". Port 0 is allowed (listen on an ephemeral port). */
export function parsePeerAddress(address: string): HostPort {
  const match = /^(?:\[([^\]]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(address);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) {
    throw new TransportError("invalid-address", `invalid peer address ${JSON.stringify(address)}: expected host:port`);
  }
  return { host: match[1] ?? match[2]!, port };
}

export function formatPeerAddress(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
