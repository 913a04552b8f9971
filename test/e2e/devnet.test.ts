/**
 * `npm run devnet` (node/devnet.ts) as a user runs it, with one validator: it prints the endpoints,
 * then each node's finalized height every 5 s (it printed nothing for a minute before), and
 * SIGTERM stops the nodes and removes the network's directory.
 */
import { existsSync } from "node:fs";
import t from "tap";
import { rpc, startProcess, waitFor } from "../helpers/process.ts";

t.test("devnet: the endpoints, then each node's finalized height as the chain runs; SIGTERM cleans up", async (t) => {
  const devnet = await startProcess("node/devnet.ts", ["--validators", "1"], (line) => /^\s+node0\s+validator\s+rpc (\S+)/.exec(line)?.[1], { timeoutMs: 60_000 });
  t.teardown(() => devnet.stop("SIGKILL"));
  const dir = /data in (\S+) \(removed on exit\)/.exec(devnet.logs.join("\n"))?.[1];
  t.ok(dir && existsSync(dir), `the network's directory is named (${dir})`);
  const statusLines = () => devnet.logs.filter((l) => l.startsWith("[devnet] finalized heights:"));
  // the first line after 5 s, a second (with the rate) after 10 s
  const second = await waitFor("two status lines", async () => (statusLines().length >= 2 ? statusLines()[1]! : undefined), 40_000, 250);
  const height = Number(/node0 (\d+)/.exec(second)?.[1]);
  t.ok(height >= 1, `the status line shows node0's finalized height (${second})`);
  t.match(second, /\(\d+\.\d\d blocks\/s\)$/, "and the rate since the last line");
  const head = (await rpc(devnet.url, "chain_getHead")).result.height as number;
  t.ok(head >= height, `the node's head (${head}) is at least what the line showed`);
  t.equal(await devnet.stop("SIGTERM"), 0, "SIGTERM stops the network and exits 0");
  t.notOk(existsSync(dir!), "and removes its directory");
});
