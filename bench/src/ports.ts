/**
 * Ports for the servers the harness starts, which must know their addresses before they start.
 * Port 0 would give a port from the kernel's ephemeral range, which any outgoing connection
 * (there are up to a thousand here) may take in the meantime; these come from below that
 * range, are checked free by binding, and are never handed out twice by one process. (The
 * product's tests use the same rule, src/util/ports.ts; the harness keeps its own copy so as to
 * import nothing from the product.)
 */
import net from "node:net";

/** Below Linux's default ephemeral range (32768-60999), above well-known services. */
const PORT_MIN = 20_000;
const PORT_MAX = 32_000;
const PORT_ATTEMPTS_MAX = 200;

const handedOut = new Set<number>();

export async function freePort(host = "127.0.0.1"): Promise<number> {
  for (let attempt = 0; attempt < PORT_ATTEMPTS_MAX; attempt++) {
    const port = PORT_MIN + Math.floor(Math.random() * (PORT_MAX - PORT_MIN));
    if (handedOut.has(port)) continue;
    if (await canBind(port, host)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port found in [${PORT_MIN}, ${PORT_MAX}) after ${PORT_ATTEMPTS_MAX} attempts`);
}

function canBind(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}
