/** HOST:PORT addresses and client URLs, as the CLI, the server and membership requests write them. */

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/**
 * Parses "host:port", "[::1]:port" or ":port" (all interfaces). Throws Error naming `what`.
 * Port 0 is accepted where `portZeroAllowed` (the OS picks one).
 */
export function parseHostPort(text: string, what: string, options: { portZeroAllowed?: boolean } = {}): HostPort {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:/[\]]*)):([0-9]{1,5})$/.exec(text);
  if (match === null) throw new Error(`${what} must be HOST:PORT, not ${JSON.stringify(text)}`);
  const host = match[1] ?? (match[2] === "" ? "0.0.0.0" : match[2]!);
  const port = Number(match[3]);
  const low = options.portZeroAllowed === true ? 0 : 1;
  if (port < low || port > 65_535) throw new Error(`${what} has port ${port}, outside ${low}..65535`);
  return { host, port };
}

export function formatHostPort(address: HostPort): string {
  return address.host.includes(":") ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/** "host:port" becomes "http://host:port"; an http(s) URL is kept as its origin. Throws Error naming `what`. */
export function toClientUrl(text: string, what: string): string {
  if (/^https?:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new Error(`${what} is not a valid URL: ${JSON.stringify(text)}`);
    }
    return url.origin;
  }
  return `http://${formatHostPort(parseHostPort(text, what))}`;
}
