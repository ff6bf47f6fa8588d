/**
 * Free TCP ports on loopback for test servers that need a fixed port (across restarts, or for
 * programs like smtp-sink that take one on the command line).
 */
import { connect, createServer } from "node:net";

/**
 * Ports this test process has handed out. The kernel may give the same ephemeral port to two
 * bind(0) calls in a row once the first socket is closed, and a test that asks for an SMTP port
 * and then an admin port would get one port twice (CI saw EADDRINUSE from exactly that).
 */
const handedOut = new Set<number>();

/** A loopback port that is free now and that no earlier call in this process has returned. */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await bindAndRelease(host);
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error("no fresh free port after 50 tries");
}

function bindAndRelease(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** True when something accepts TCP connections on host:port right now. */
export function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on("error", () => resolve(false));
  });
}
