/**
 * A port in use stops the node at start with a typed error naming the flag that fixes it (not
 * libp2p's internal advice or a bare EADDRINUSE), and what had started is stopped again: the same
 * home starts cleanly right after on free ports.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import t from "tap";
import { CloudcoinNode, type NodeOptions } from "../../../node/node.ts";

const quiet = new Writable({ write: (_c, _e, cb) => cb() });

async function occupy(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as { port: number }).port };
}

function options(home: string, over: Partial<NodeOptions>): NodeOptions {
  return { home, rpcHost: "127.0.0.1", rpcPort: 0, logLevel: "silent", logDestination: quiet, p2pListen: ["/ip4/127.0.0.1/tcp/0"], ...over };
}

t.test("ports in use get typed errors that name the flag", async (t) => {
  const home = mkdtempSync(join(tmpdir(), "cloudcoin-ports-"));
  const taken = await occupy();
  t.teardown(() => {
    taken.server.close();
    rmSync(home, { recursive: true, force: true });
  });

  await t.rejects(CloudcoinNode.start(options(home, { p2pListen: [`/ip4/127.0.0.1/tcp/${taken.port}`] })), { code: "P2P_PORT_IN_USE", message: /--p2p-listen/ });
  await t.rejects(CloudcoinNode.start(options(home, { rpcPort: taken.port })), { code: "RPC_PORT_IN_USE", message: /--rpc-port/ });

  // the failed starts closed the store, the signer lock and the p2p host they had opened
  const node = await CloudcoinNode.start(options(home, {}));
  t.ok(node.rpc.url.startsWith("http://127.0.0.1:"), "the same home starts on free ports afterwards");
  await node.stop();
});
