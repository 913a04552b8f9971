/**
 * e2e: a real node process; Prometheus metrics scraped from GET /metrics on its RPC listener,
 * and the OpenRPC document from rpc_discover.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { rpc, startNode, waitFor } from "../helpers/process.ts";

const home = mkdtempSync(join(tmpdir(), "cloudcoin-e2e-metrics-"));
t.teardown(() => rmSync(home, { recursive: true, force: true }));

function sample(text: string, series: string): number | undefined {
  for (const line of text.split("\n")) if (line.startsWith(series + " ")) return Number(line.slice(series.length + 1));
  return undefined;
}

t.test("the node's /metrics: height grows, RPC calls are timed by method", async (t) => {
  const node = await startNode(home);
  t.teardown(() => node.stop("SIGKILL"));
  const scrape = async (): Promise<string> => {
    const res = await fetch(new URL("/metrics", node.url));
    t.equal(res.status, 200);
    return res.text();
  };

  const first = await waitFor("height > 0 in /metrics", async () => {
    const text = await scrape();
    return (sample(text, "cloudcoin_chain_height") ?? 0) > 0 ? text : undefined;
  });
  const h1 = sample(first, "cloudcoin_chain_height")!;
  t.ok(h1 > 0, "height above 0");
  t.ok(sample(first, "cloudcoin_finality_latency_seconds_count")! >= 1, "finality latency observed");
  t.equal(sample(first, "cloudcoin_peers"), 0);
  t.ok(sample(first, "cloudcoin_mempool_txs") !== undefined && sample(first, "cloudcoin_mempool_bytes") !== undefined, "mempool gauges");

  const h2 = await waitFor("height grows", async () => {
    const h = sample(await scrape(), "cloudcoin_chain_height")!;
    return h > h1 ? h : undefined;
  });
  t.ok(h2 > h1);

  const status = (await rpc(node.url, "node_status")).result;
  t.ok(status.head.height >= h2, "the metric agrees with node_status");
  const after = await scrape();
  t.ok(sample(after, 'cloudcoin_rpc_request_duration_seconds_count{method="node_status"}')! >= 1, "the rpc histogram has the method label");

  const doc = (await rpc(node.url, "rpc_discover")).result;
  t.equal(doc.info.version, status.nodeVersion, "rpc_discover carries the node version");
  t.ok(doc.methods.some((m: { name: string }) => m.name === "node_status"));
});
