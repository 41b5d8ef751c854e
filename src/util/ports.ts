/**
 * Ports for tests and fault runs, which must know addresses before the processes
 * that use them start. Port 0 would give a port from the kernel's ephemeral range, which any
 * outgoing connection may take in the meantime (a flaky EADDRINUSE, seen in CI); these come
 * from below that range, are checked free by binding, and are never handed out twice by one
 * process.
 */
import net from "node:net";

/** Below Linux's default ephemeral range (32768-60999), above well-known services. */
const TEST_PORT_MIN = 20_000;
const TEST_PORT_MAX = 32_000;
const TEST_PORT_ATTEMPTS_MAX = 200;

const handedOut = new Set<number>();

export async function freePort(host = "127.0.0.1"): Promise<number> {
  for (let attempt = 0; attempt < TEST_PORT_ATTEMPTS_MAX; attempt++) {
    const port = TEST_PORT_MIN + Math.floor(Math.random() * (TEST_PORT_MAX - TEST_PORT_MIN));
    if (handedOut.has(port)) continue;
    if (await canBind(port, host)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port found in [${TEST_PORT_MIN}, ${TEST_PORT_MAX}) after ${TEST_PORT_ATTEMPTS_MAX} attempts`);
}

function canBind(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}
