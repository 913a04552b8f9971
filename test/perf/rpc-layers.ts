/**
 * `npm run bench rpc-layers`: where the CPU of one cheap read goes, layer by layer, in process (no
 * sockets, no load generator: each figure is CPU microseconds per call, the median of alternating
 * repetitions). For `chain_getHead` and `state_getAccount` over RPC_LAYER_ACCOUNTS random addresses:
 *
 *   parse      JSON.parse of the request text (the floor of any JSON-RPC server)
 *   params     the method's strict zod params schema
 *   fast       the method's fastParams (table.ts), where it has one: what the dispatcher tries first
 *   handler    the handler alone, parsed params in hand
 *   dispatch   rpc/dispatch.ts as the node runs it (checkResults off), without metrics
 *   +observe   the same with the node's metrics hook (prom-client histogram by method)
 *
 * and over real HTTP on the real server, fastify's share is left to the HTTP benchmark (rpc.ts).
 *
 * The state above is in memory and its addresses a set of 4,096 (answered from the per-head view cache
 * from their second request).
 * A node reads its state from the block store, and a load over many accounts misses that cache: the
 * last rows run state_getAccount's +observe dispatch over a BlockStore of the same accounts, every
 * record read once before (in the store's cache), over RPC_LAYER_ACCOUNTS random addresses.
 */
import { loadavg } from "node:os";
import { join } from "node:path";
import { BlockStore } from "../../chain/store.ts";
import { benchTempDir } from "./lifecycle.ts";
import { plainAccountKey } from "./fixtures.ts";
import { dispatch, type DispatchOptions } from "../../rpc/dispatch.ts";
import { strictParams } from "../../rpc/table.ts";
import type { RpcContext } from "../../rpc/context.ts";
import { createNodeMetrics } from "../../node/metrics.ts";
import { methods } from "../../modules/rpc.ts";
import { advance, newTestChain } from "../helpers/chain.ts";
import { buildWorld } from "./fixtures.ts";
import { rpcAccountAddress } from "./rpc-shared.ts";
import { fmtRatio, median, table } from "./stats.ts";

const RPC_LAYER_ACCOUNTS = 100_000;
const CALLS = 20_000;
const REPS = 5;

const world = buildWorld({ senders: 0, totalAccounts: RPC_LAYER_ACCOUNTS });
const chain = newTestChain();
const head = advance(chain, []).block;
const ctx = {
  chainId: world.genesis.chainId,
  genesisHash: world.genesis.hash,
  params: world.params,
  headState: () => world.state,
  store: { head: { height: head.header.height, hash: head.hash }, recentBlock: (h: bigint) => (h === head.header.height ? head : undefined) },
} as unknown as RpcContext;
const metrics = createNodeMetrics({ mempool: { size: 0, bytes: 0 }, now: () => Date.now() });
const base: DispatchOptions = { allowedPermissions: new Set(["read", "write"]), maxBatch: 100, checkResults: false };
const observed: DispatchOptions = { ...base, observe: metrics.observeRpc };

// xorshift32: an LCG multiplied in doubles here lost its low bits and cycled through ~2,000 accounts
let seed = 7;
const rand = (): number => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) % RPC_LAYER_ACCOUNTS;
};
const addresses = Array.from({ length: 4096 }, () => rpcAccountAddress(rand()));
const bodyOf = (method: string, i: number): string =>
  method === "chain_getHead" ? `{"jsonrpc":"2.0","id":${i},"method":"chain_getHead","params":{}}` : `{"jsonrpc":"2.0","id":${i},"method":"state_getAccount","params":{"address":"${addresses[i % addresses.length]}"}}`;

/** CPU µs per call of `fn` over CALLS calls. */
function cpuPerCall(fn: (i: number) => unknown): number {
  const t0 = process.cpuUsage();
  for (let i = 0; i < CALLS; i++) fn(i);
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / CALLS;
}

function layers(method: "chain_getHead" | "state_getAccount"): [string, number][] {
  const spec = methods[method]!;
  const schema = strictParams(spec.params);
  const bodies = Array.from({ length: CALLS }, (_, i) => bodyOf(method, i));
  const parsedParams = bodies.map((b) => schema.parse((JSON.parse(b) as { params: unknown }).params));
  const steps: [string, (i: number) => unknown][] = [
    ["parse", (i) => JSON.parse(bodies[i]!)],
    ["params", (i) => schema.parse((JSON.parse(bodies[i]!) as { params: unknown }).params)],
    ...(spec.fastParams ? [["fast", (i: number) => spec.fastParams!((JSON.parse(bodies[i]!) as { params: Record<string, unknown> }).params)] as [string, (i: number) => unknown]] : []),
    ["handler", (i) => spec.handler(parsedParams[i] as never, ctx)],
    ["dispatch", (i) => dispatch(methods, bodies[i]!, ctx, base)],
    ["+observe", (i) => dispatch(methods, bodies[i]!, ctx, observed)],
  ];
  const samples = new Map<string, number[]>(steps.map(([n]) => [n, []]));
  for (const [, fn] of steps) cpuPerCall(fn); // warm-up
  for (let r = 0; r < REPS; r++) for (const [n, fn] of steps) samples.get(n)!.push(cpuPerCall(fn));
  return steps.map(([n]) => [n, median(samples.get(n)!)]);
}

console.log("RPC layers: CPU µs per call, in process (median of " + REPS + " alternating repetitions of " + CALLS + " calls)");
console.log(`  load average ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
const rows: string[][] = [];
for (const method of ["chain_getHead", "state_getAccount"] as const) {
  const l = layers(method);
  const full = l.find(([n]) => n === "+observe")![1];
  const floor = l.find(([n]) => n === "parse")![1];
  for (const [n, us] of l) rows.push([method, n, us.toFixed(2), fmtRatio(us / full)]);
  rows.push([method, "floor/full", "", fmtRatio(floor / full)]);
}

// state_getAccount over the block store, random accounts (see the top of the file)
const dir = await benchTempDir("cloudcoin-rpc-layers-");
const chainId = { chainId: world.genesis.chainId, genesisHash: world.genesis.hash, genesisState: () => world.state };
await (await BlockStore.open(join(dir, "chain"), chainId)).close();
const store = await BlockStore.open(join(dir, "chain"), chainId);
const stored = await store.loadState(() => world.state.root());
for (let a = 0; a < RPC_LAYER_ACCOUNTS; a++) stored.account(plainAccountKey(a));
const storeCtx = { ...ctx, headState: () => stored } as RpcContext;
const randomBodies = Array.from({ length: 8 * CALLS }, (_, i) => `{"jsonrpc":"2.0","id":${i},"method":"state_getAccount","params":{"address":"${rpcAccountAddress(rand())}"}}`);
let next = 0;
const storeRun = () => cpuPerCall(() => dispatch(methods, randomBodies[next++ % randomBodies.length]!, storeCtx, observed));
storeRun(); // warm-up
const storeSamples = Array.from({ length: REPS }, storeRun);
await store.close();
rows.push(["state_getAccount", "+observe, store", median(storeSamples).toFixed(2), "-"]);
console.log(table(["method", "layer", "µs/call", "share of full"], rows));
console.log(`  "+observe, store": over a BlockStore of ${RPC_LAYER_ACCOUNTS.toLocaleString("en-US")} accounts (all in its cache), random addresses`);
