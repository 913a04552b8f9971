/**
 * `npm run bench rpc-layers`: where the CPU of one cheap read goes, layer by layer, in process (no
 * sockets, no load generator: each figure is CPU microseconds per call, the median of alternating
 * repetitions). For `chain_getHead` and `state_getAccount` over RPC_LAYER_ACCOUNTS random addresses:
 *
 *   parse      JSON.parse of the request text (the floor of any JSON-RPC server)
 *   params     the method's strict zod params schema
 *   handler    the handler alone, parsed params in hand
 *   dispatch   rpc/dispatch.ts as the node runs it (checkResults off), without metrics
 *   +observe   the same with the node's metrics hook (prom-client histogram by method)
 *
 * and over real HTTP on the real server, fastify's share is left to the HTTP benchmark (rpc.ts).
 */
import { loadavg } from "node:os";
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

let seed = 7;
const rand = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) % RPC_LAYER_ACCOUNTS);
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
console.log(table(["method", "layer", "µs/call", "share of full"], rows));
