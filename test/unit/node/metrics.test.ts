// Prometheus metrics (node/metrics.ts) scraped over HTTP from a real RPC server on 127.0.0.1
// that feeds the dispatcher's observe hook into them.
import { register as globalRegistry } from "prom-client";
import t from "tap";
import { z } from "zod";
import { createNodeMetrics, proofSamples } from "../../../node/metrics.ts";
import { startRpcServer } from "../../../rpc/server.ts";
import { defineMethod, type MethodTable } from "../../../rpc/table.ts";

const table: MethodTable<unknown> = {
  test_echo: defineMethod({ description: "echo", params: z.object({ v: z.number() }), result: z.number(), permission: "read", handler: ({ v }) => v }),
};

/** The value of one sample line (`name{labels} value`), or undefined when absent. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith(series + " ")) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

async function post(url: string, body: unknown): Promise<unknown> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return res.json();
}

t.test("metrics over GET /metrics", async (t) => {
  const mempool = { size: 0, bytes: 0 };
  let now = 1_000_000;
  const m = createNodeMetrics({ mempool, now: () => now });
  const server = await startRpcServer({ host: "127.0.0.1", port: 0, metrics: m.registry, observe: m.observeRpc }, table, undefined);
  t.teardown(() => server.close());
  const scrape = async (): Promise<string> => {
    const res = await fetch(new URL("/metrics", server.url));
    t.equal(res.status, 200);
    t.match(res.headers.get("content-type") ?? "", /^text\/plain/);
    return res.text();
  };

  t.test("fresh node: zero height, no peers, both tx series present", async (t) => {
    const text = await scrape();
    t.equal(sample(text, "cloudcoin_chain_height"), 0);
    t.equal(sample(text, "cloudcoin_peers"), 0);
    t.equal(sample(text, 'cloudcoin_txs_total{result="ok"}'), 0);
    t.equal(sample(text, 'cloudcoin_txs_total{result="failed"}'), 0);
    t.equal(sample(text, "cloudcoin_consensus_rounds_total"), 0);
    t.equal(sample(text, "cloudcoin_evidence_total"), 0);
    t.equal(sample(text, "cloudcoin_finality_latency_seconds_count"), 0);
  });

  t.test("commits move height, latency, rounds, txs and evidence", async (t) => {
    m.recordCommit({ height: 1n, timeMs: BigInt(now - 1500), round: 0, txsOk: 3, txsFailed: 1, evidence: 0 });
    now += 2000;
    m.recordCommit({ height: 2n, timeMs: BigInt(now - 300), round: 2, txsOk: 0, txsFailed: 0, evidence: 1 });
    const text = await scrape();
    t.equal(sample(text, "cloudcoin_chain_height"), 2);
    t.equal(sample(text, "cloudcoin_finality_latency_seconds_count"), 2);
    t.ok(Math.abs(sample(text, "cloudcoin_finality_latency_seconds_sum")! - 1.8) < 1e-9, "latency sum 1.5 + 0.3 s");
    t.equal(sample(text, 'cloudcoin_finality_latency_seconds_bucket{le="0.5"}'), 1);
    t.equal(sample(text, 'cloudcoin_finality_latency_seconds_bucket{le="2"}'), 2);
    t.equal(sample(text, "cloudcoin_consensus_rounds_total"), 2, "a block decided at round 2 adds 2 rounds");
    t.equal(sample(text, 'cloudcoin_txs_total{result="ok"}'), 3);
    t.equal(sample(text, 'cloudcoin_txs_total{result="failed"}'), 1);
    t.equal(sample(text, "cloudcoin_evidence_total"), 1);
  });

  t.test("proof transactions of finalized blocks are counted by kind and outcome", async (t) => {
    let text = await scrape();
    t.equal(sample(text, 'cloudcoin_proofs_total{kind="storage",outcome="ok"}'), 0, "the ok series exist from the start");
    t.equal(sample(text, 'cloudcoin_proofs_total{kind="bandwidth",outcome="ok"}'), 0);
    // a block's transactions and receipts, index for index; only the proof operations count
    const txs = [{ op: { type: "transfer" } }, { op: { type: "storage.proof" } }, { op: { type: "storage.proof" } }, { op: { type: "bandwidth.attest" } }, { op: { type: "storage.proof" } }];
    const receipts = [
      { ok: true, code: "" },
      { ok: true, code: "" },
      { ok: false, code: "STORAGE_PROOF_LATE" },
      { ok: true, code: "" },
      { ok: true, code: "" },
    ];
    const proofs = proofSamples(txs, receipts);
    t.same(proofs, [
      { kind: "storage", outcome: "ok" },
      { kind: "storage", outcome: "STORAGE_PROOF_LATE" },
      { kind: "bandwidth", outcome: "ok" },
      { kind: "storage", outcome: "ok" },
    ]);
    m.recordCommit({ height: 3n, timeMs: BigInt(now), round: 0, txsOk: 4, txsFailed: 1, evidence: 0, proofs });
    m.recordCommit({ height: 4n, timeMs: BigInt(now), round: 0, txsOk: 1, txsFailed: 0, evidence: 0, proofs: proofSamples([{ op: { type: "storage.proof" } }], [{ ok: true, code: "" }]) });
    text = await scrape();
    t.equal(sample(text, 'cloudcoin_proofs_total{kind="storage",outcome="ok"}'), 3);
    t.equal(sample(text, 'cloudcoin_proofs_total{kind="storage",outcome="STORAGE_PROOF_LATE"}'), 1);
    t.equal(sample(text, 'cloudcoin_proofs_total{kind="bandwidth",outcome="ok"}'), 1);
  });

  t.test("mempool gauges are read at scrape time", async (t) => {
    mempool.size = 7;
    mempool.bytes = 1234;
    let text = await scrape();
    t.equal(sample(text, "cloudcoin_mempool_txs"), 7);
    t.equal(sample(text, "cloudcoin_mempool_bytes"), 1234);
    mempool.size = 0;
    text = await scrape();
    t.equal(sample(text, "cloudcoin_mempool_txs"), 0);
  });

  t.test("RPC calls are timed by method; errors counted by code; made-up names collapse", async (t) => {
    t.same(await post(server.url, { jsonrpc: "2.0", id: 1, method: "test_echo", params: { v: 4 } }), { jsonrpc: "2.0", result: 4, id: 1 });
    await post(server.url, [
      { jsonrpc: "2.0", id: 2, method: "test_echo", params: { v: "x" } },
      { jsonrpc: "2.0", id: 3, method: "no_suchMethod1" },
      { jsonrpc: "2.0", id: 4, method: "no_suchMethod2" },
      { jsonrpc: "2.0", id: 5 },
    ]);
    const text = await scrape();
    t.equal(sample(text, 'cloudcoin_rpc_request_duration_seconds_count{method="test_echo"}'), 2);
    t.equal(sample(text, 'cloudcoin_rpc_request_duration_seconds_count{method="(unknown)"}'), 2);
    t.equal(sample(text, 'cloudcoin_rpc_request_duration_seconds_count{method="(invalid)"}'), 1);
    t.notMatch(text, /no_suchMethod/, "unknown method names never become labels");
    t.equal(sample(text, 'cloudcoin_rpc_errors_total{code="-32602"}'), 1);
    t.equal(sample(text, 'cloudcoin_rpc_errors_total{code="-32601"}'), 2);
    t.equal(sample(text, 'cloudcoin_rpc_errors_total{code="-32600"}'), 1);
  });

  t.test("each node has its own registry; nothing lands in prom-client's global one", async (t) => {
    const other = createNodeMetrics({ mempool: { size: 0, bytes: 0 }, now: () => 0 });
    t.equal(sample(await other.registry.metrics(), "cloudcoin_chain_height"), 0);
    t.notMatch(await globalRegistry.metrics(), /cloudcoin_/);
  });
});

t.test("no metrics option: no /metrics route", async (t) => {
  const server = await startRpcServer({ host: "127.0.0.1", port: 0 }, table, undefined);
  t.teardown(() => server.close());
  t.equal((await fetch(new URL("/metrics", server.url))).status, 404);
});
