import assert from "node:assert/strict";
import { createServer } from "node:net";
import { describe, it } from "node:test";
import { canConnect, freePort } from "./ports.ts";

describe("freePort", () => {
  it("never returns the same port twice in one process", async () => {
    const ports = new Set<number>();
    // 1,000 bind(0) calls over ~28,000 ephemeral ports repeat one about 18 times on average.
    for (let i = 0; i < 1000; i++) ports.add(await freePort());
    assert.equal(ports.size, 1000);
  });

  it("returns a port that can be listened on", async () => {
    const port = await freePort();
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", resolve);
    });
    assert.equal(await canConnect("127.0.0.1", port), true);
    await new Promise((resolve) => server.close(resolve));
  });
});
