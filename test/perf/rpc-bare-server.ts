/**
 * Figure 3, ceiling server: bare node:http doing the minimum a JSON-RPC method must do — read
 * the body as text, JSON.parse it, validate one param with zod, answer a constant-shaped
 * result. The same transport as the real server's POST / (rpc/server.ts answers it on node:http,
 * past fastify), nothing else.
 * For chain_getBlock (figure 3b) it answers a block-shaped result of the real answer's size, so
 * the ratio measures the node's work, not the size of its answer: made per request (as a plain
 * method would), or, for `bench_blockText`, the same answer's text made once per height and
 * written as it is (the framework alone: the ceiling of a server that answers from text).
 *
 * Run by test/perf/rpc.ts as a child process: node --import tsx test/perf/rpc-bare-server.ts
 */
import type { AddressInfo } from "node:net";
import { createServer } from "node:http";
import { z } from "zod";
import { serveForParent } from "./child.ts";
import { RPC_BLOCK_TXS } from "./rpc-shared.ts";

const params = z.object({ address: z.string().min(1).max(128) });
const blockParams = z.object({ height: z.int().min(1), full: z.boolean().optional() });
const ZERO_ROOT = "0".repeat(64);
const hex64 = (n: number): string => n.toString(16).padStart(64, "0");
/** Figure 3b's ceiling: a block-shaped answer of the real one's size (header, RPC_BLOCK_TXS tx hashes, a commit), made per request. */
function blockResult(height: number) {
  return {
    header: {
      hash: hex64(height), height, time: 1_767_225_600_000 + height * 1000, timeIso: new Date(1_767_225_600_000 + height * 1000).toISOString(), chainId: "cloudcoin-bench-1",
      version: 1, parentHash: hex64(height - 1), proposer: "cc1" + "q".repeat(58), txRoot: ZERO_ROOT, evidenceRoot: ZERO_ROOT, receiptsRoot: ZERO_ROOT,
      stateRoot: ZERO_ROOT, lastCommitHash: ZERO_ROOT, validatorsHash: ZERO_ROOT, seedSig: ZERO_ROOT + ZERO_ROOT,
    },
    txs: Array.from({ length: RPC_BLOCK_TXS }, (_, i) => hex64(height * 1000 + i)),
    lastCommit: { height: height - 1, round: 0, blockHash: hex64(height - 1), signatures: [{ validatorIndex: 0, signature: ZERO_ROOT + ZERO_ROOT }] },
    evidence: [],
    size: 4000,
  };
}

const blockTexts = new Map<number, string>();

/** The answer text of one request body (JSON.parse, one zod check, a result of the real one's shape). */
function answer(text: string): string {
  const body = JSON.parse(text) as { id?: unknown; method?: unknown; params?: unknown };
  if (body.method === "bench_blockText") {
    const b = blockParams.parse(body.params);
    let block = blockTexts.get(b.height);
    if (block === undefined) blockTexts.set(b.height, (block = JSON.stringify(blockResult(b.height))));
    return `{"jsonrpc":"2.0","result":${block},"id":${JSON.stringify(body.id ?? null)}}`;
  }
  if (body.method === "chain_getBlock") {
    const b = blockParams.parse(body.params);
    return JSON.stringify({ jsonrpc: "2.0", result: blockResult(b.height), id: body.id ?? null });
  }
  const p = params.parse(body.params);
  const result = { address: p.address, balance: "0", nonce: "0", staked: "0", unbonding: [], height: 0, stateRoot: ZERO_ROOT };
  return JSON.stringify({ jsonrpc: "2.0", result, id: body.id ?? null });
}

serveForParent(async () => {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const out = answer(Buffer.concat(chunks).toString("utf8"));
      res.writeHead(200, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(out) });
      res.end(out);
    });
  });
  server.keepAliveTimeout = 72_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as AddressInfo).port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
});
