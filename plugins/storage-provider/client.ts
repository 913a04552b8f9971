/**
 * The storage client, in two modes.
 *
 * A direct deal with a provider it picks (provider.ts): computes the file's deal root locally,
 * uploads the file with the proposed terms, checks the provider's answer (same root, size, chunk
 * size, price, duration and collateral; its signature over the terms for this client and chain),
 * then signs and sends storage.deal itself, which locks price x duration in escrow. A direct deal
 * is paid its price only.
 *
 * A storage order (`order`): the network picks the providers. It sends storage.order (escrow:
 * price x duration x replicas, and a placement bond the chain sets, of which each placed provider
 * that declines burns a share: so it serves every provider drawn), serves the file over HTTP (GET /data/ROOT), and watches
 * storage_getOrder: each provider drawn is told where to fetch (POST PROVIDER/placements/ORDER
 * {source}, at the HTTP address of its registered multiaddr); the provider checks the root and
 * accepts. It serves until every replica is accepted (the order is filled) or the order closes.
 * With --order ID it serves an order sent before (by `cloudcoin storage order`, say).
 *
 * Run: node --import tsx plugins/storage-provider/client.ts --rpc URL --key FILE --provider URL --file FILE
 *        [--chunk-size 4096] [--price-per-epoch UNITS] [--duration EPOCHS] [--collateral UNITS]
 *      node --import tsx plugins/storage-provider/client.ts order --rpc URL --key FILE --file FILE
 *        (--replicas N [--price-per-epoch UNITS] [--duration EPOCHS] | --order ID) [--chunk-size 4096]
 *        [--host H] [--port P] [--public-url URL] [--poll-ms MS] [--timeout-ms MS] [--log-format json|pretty]
 * A deal prints one JSON line {ok, dealId, hash, height, root, size, escrow, ...}; an order logs each
 * event like every plugin (common/logging.ts; `event`: ORDER, PLACED, ANNOUNCED, ACCEPTED, REPLACED,
 * SERVED) and prints {ok, order, status, accepted, deals, ...} as its last line (ok: filled). Exits 1
 * on failure.
 */
import "../../modules/index.ts";
import { createReadStream } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { stat } from "node:fs/promises";
import { Readable } from "node:stream";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { fromHex, toHex } from "../../primitives/bytes.ts";
import { CodedError } from "../../primitives/errors.ts";
import { toAddress, verify, type KeyPair } from "../../primitives/keys.ts";
import { dealId, dealSignBytes, type DealTerms } from "../../modules/storage/storage.ts";
import { ChunkedRootBuilder } from "../../proofs/storage.ts";
import { RpcClient } from "../../rpc/client.ts";
import { readKeyFile } from "../shared/keyfile.ts";
import { httpUrlOfMultiaddr, sendAndWait, termsFromJson, type TermsJson } from "./deals.ts";
import { eventReporter, LOG_USAGE, logOptions, pluginLogger, parseOrUsage, standardFlags } from "../shared/cli.ts";
import { negativeNumbersAsValues } from "../../common/args.ts";

export interface DealRequest {
  rpcUrl: string;
  key: KeyPair;
  providerUrl: string;
  file: string;
  chunkSize: number;
  pricePerEpoch: bigint;
  durationEpochs: bigint;
  collateral: bigint;
  fee?: bigint;
}

export interface DealMade {
  dealId: string;
  hash: string;
  height: number;
  root: string;
  size: string;
  escrow: string;
  provider: string;
  terms: TermsJson;
}

/** The deal root of a file, read as a stream (the same chunking as deals). */
export async function fileRoot(file: string, chunkSize: number): Promise<{ root: Uint8Array; size: bigint; chunkCount: bigint }> {
  const b = new ChunkedRootBuilder(chunkSize);
  for await (const piece of createReadStream(file, { highWaterMark: 1 << 20 })) b.update(piece as Buffer);
  return b.digest();
}

export async function makeDeal(r: DealRequest): Promise<DealMade> {
  const rpc = new RpcClient(r.rpcUrl);
  const client = r.key.publicKey;
  const [{ chainId }, local, size] = await Promise.all([rpc.call("node_status", {}), fileRoot(r.file, r.chunkSize), stat(r.file).then((s) => BigInt(s.size))]);
  const q = new URLSearchParams({
    client: toAddress(client), chunkSize: String(r.chunkSize), pricePerEpoch: r.pricePerEpoch.toString(), durationEpochs: r.durationEpochs.toString(), collateral: r.collateral.toString(),
  });
  const res = await fetch(new URL(`deals?${q}`, r.providerUrl), {
    method: "POST",
    headers: { "content-type": "application/octet-stream", "content-length": size.toString() },
    body: Readable.toWeb(createReadStream(r.file)) as ReadableStream,
    duplex: "half",
  } as RequestInit);
  const body = (await res.json()) as { dealId?: string; terms?: TermsJson; signature?: string; code?: string; message?: string };
  if (!res.ok || !body.terms || !body.signature) throw new CodedError(body.code ?? `HTTP_${res.status}`, `the provider refused the deal: ${body.message ?? res.status}`);
  // trust nothing the provider says: the terms must be ours, the signature its own
  const terms: DealTerms = termsFromJson(body.terms);
  const mismatch =
    toHex(terms.root) !== toHex(local.root) ? "root" : terms.size !== local.size ? "size" : terms.chunkSize !== BigInt(r.chunkSize) ? "chunkSize"
      : terms.pricePerEpoch !== r.pricePerEpoch ? "pricePerEpoch" : terms.durationEpochs !== r.durationEpochs ? "durationEpochs" : terms.collateral !== r.collateral ? "collateral" : undefined;
  if (mismatch) throw new CodedError("TERMS_MISMATCH", `the provider's terms differ in ${mismatch}`);
  const signature = fromHex(body.signature);
  if (!verify(terms.provider, dealSignBytes(chainId, client, terms), signature)) throw new CodedError("BAD_ACCEPTANCE", "the acceptance is not the provider's signature over these terms");
  const id = toHex(dealId(chainId, client, terms));
  const sent = await sendAndWait(rpc, chainId, r.key, { type: "storage.deal", terms, providerSignature: signature }, r.fee ?? 1000n);
  return {
    dealId: id, hash: sent.hash, height: sent.height!, root: toHex(local.root), size: local.size.toString(),
    escrow: (terms.pricePerEpoch * terms.durationEpochs).toString(), provider: body.terms.provider, terms: body.terms,
  };
}

// ---- storage orders ----

export interface OrderRequest {
  rpcUrl: string;
  key: KeyPair;
  file: string;
  chunkSize: number;
  /** A new order's terms; or `order`: serve an order already on chain. */
  replicas?: number;
  pricePerEpoch?: bigint;
  durationEpochs?: bigint;
  order?: string;
  /** Where the data server listens (default 127.0.0.1, a free port) and the URL providers are given (default its own). */
  host?: string;
  port?: number;
  publicUrl?: string;
  pollMs?: number;
  /** Give up (code ORDER_TIMEOUT) after this long; default: until the order closes. */
  timeoutMs?: number;
  fee?: bigint;
  report?: (kind: string, data: Record<string, unknown>) => void;
}

export interface OrderOutcome {
  /** Every replica accepted. */
  ok: boolean;
  order: string;
  status: "open" | "filled" | "expired";
  root: string;
  size: string;
  replicas: number;
  accepted: number;
  escrow: string;
  /** The placement bond left (refunded when the order closes) and what declines burned of it. */
  bond: string;
  burned: string;
  deals: string[];
  /** Every placement: provider, status, epoch drawn. */
  placements: { provider: string; status: string; epoch: number }[];
  /** Complete downloads of the file served. */
  served: number;
  /** The storage.order sent (not when following an order given). */
  hash?: string;
  height?: number;
}

/** Serves `file` at GET /data/ROOT (only that path); counts the complete downloads. */
export async function serveFile(file: string, root: string, host: string, port: number): Promise<{ server: Server; url: string; served: () => number }> {
  const { size } = await stat(file);
  let served = 0;
  const server = createServer((req, res) => {
    if (req.method !== "GET" || req.url !== `/data/${root}`) {
      res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ code: "NOT_FOUND", message: "only GET /data/ROOT of this file" }));
      return;
    }
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(size) });
    const stream = createReadStream(file);
    stream.on("end", () => served++);
    stream.pipe(res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  return { server, url: `http://${host.includes(":") ? `[${host}]` : host}:${a.port}/`, served: () => served };
}

/**
 * Posts a storage order for a file (or follows `r.order`), serves the file and tells each placed
 * provider where to fetch it, until the order is filled or closed (see the module comment).
 */
export async function postOrder(r: OrderRequest): Promise<OrderOutcome> {
  const report = r.report ?? eventReporter(pluginLogger("storage-client"));
  const rpc = new RpcClient(r.rpcUrl);
  const [{ chainId }, local] = await Promise.all([rpc.call("node_status", {}), fileRoot(r.file, r.chunkSize)]);
  const root = toHex(local.root);
  const data = await serveFile(r.file, root, r.host ?? "127.0.0.1", r.port ?? 0);
  const source = new URL(`data/${root}`, r.publicUrl ?? data.url).href;
  try {
    let order = r.order?.toLowerCase();
    let sent: { hash: string; height: number } | undefined;
    if (order === undefined) {
      if (!r.replicas || r.pricePerEpoch === undefined || r.durationEpochs === undefined) throw new CodedError("USAGE", "a new order needs replicas, pricePerEpoch and durationEpochs");
      const tx = await sendAndWait(rpc, chainId, r.key, {
        type: "storage.order", root: local.root, size: local.size, chunkSize: BigInt(r.chunkSize), pricePerEpoch: r.pricePerEpoch, durationEpochs: r.durationEpochs,
        replicas: r.replicas,
      }, r.fee ?? 1000n);
      order = tx.hash;
      sent = { hash: tx.hash, height: tx.height! };
    }
    let o = await rpc.call("storage_getOrder", { id: order });
    if (!o) throw new CodedError("UNKNOWN_ORDER", `no storage order ${order}`);
    if (o.root !== root || o.size !== local.size.toString() || o.chunkSize !== r.chunkSize) {
      throw new CodedError("NOT_THIS_FILE", `order ${order} is for root ${o.root} (${o.size} bytes, chunk size ${o.chunkSize}), not this file with chunk size ${r.chunkSize}`);
    }
    report("ORDER", { order, root, size: o.size, replicas: o.replicas, escrow: o.escrow, bond: o.bond, failureCharge: o.failureCharge, firstPlacementEpoch: o.firstPlacementEpoch, closeEpoch: o.closeEpoch, source });
    const announced = new Set<string>(); // provider:epoch told where to fetch
    const seen = new Map<string, string>(); // provider:epoch -> status reported
    const giveUp = r.timeoutMs !== undefined ? Date.now() + r.timeoutMs : Infinity;
    for (;;) {
      for (const p of o.placements) {
        const tag = `${p.provider}:${p.epoch}`;
        if (seen.get(tag) !== p.status) {
          seen.set(tag, p.status);
          const kind = p.status === "pending" ? "PLACED" : p.status === "accepted" ? "ACCEPTED" : "REPLACED";
          report(kind, { order, provider: p.provider, epoch: p.epoch, deadline: p.deadline, status: p.status, deal: p.deal });
        }
        if (p.status !== "pending" || announced.has(tag)) continue;
        const pr = await rpc.call("provider_get", { address: p.provider });
        const url = pr ? httpUrlOfMultiaddr(pr.multiaddr) : undefined;
        if (!url) {
          announced.add(tag); // nothing to tell: the provider has to find the data some other way
          report("NO_ENDPOINT", { order, provider: p.provider, multiaddr: pr?.multiaddr ?? null });
          continue;
        }
        try {
          const res = await fetch(new URL(`placements/${order}`, url), {
            method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ source }), signal: AbortSignal.timeout(10_000),
          });
          if (res.ok) {
            announced.add(tag);
            report("ANNOUNCED", { order, provider: p.provider, url, source });
          } else report("ANNOUNCE_FAILED", { order, provider: p.provider, url, status: res.status });
        } catch (e) {
          report("ANNOUNCE_FAILED", { order, provider: p.provider, url, message: (e as Error).message }); // tried again at the next poll
        }
      }
      if (o.status !== "open" || Date.now() > giveUp) break;
      await new Promise((res) => setTimeout(res, r.pollMs ?? 1000));
      o = (await rpc.call("storage_getOrder", { id: order }))!;
    }
    report("SERVED", { order, status: o.status, downloads: data.served() });
    return {
      ok: o.status === "filled", order, status: o.status, root, size: o.size, replicas: o.replicas, accepted: o.accepted, escrow: o.escrow, bond: o.bond, burned: o.burned, deals: o.deals,
      placements: o.placements.map((p) => ({ provider: p.provider, status: p.status, epoch: p.epoch })), served: data.served(), ...(sent ?? {}),
    };
  } finally {
    await new Promise<void>((resolve) => data.server.close(() => resolve()));
  }
}

const USAGE =
  "usage: client.ts --rpc URL --key FILE --provider URL --file FILE [--chunk-size N] [--price-per-epoch UNITS] [--duration EPOCHS] [--collateral UNITS]\n" +
  "       client.ts order --rpc URL --key FILE --file FILE (--replicas N [--price-per-epoch UNITS] [--duration EPOCHS] | --order ID) [--chunk-size N]\n" +
  `         [--host H] [--port P] [--public-url URL] [--poll-ms MS] [--timeout-ms MS] ${LOG_USAGE}`;

async function main(): Promise<void> {
  standardFlags(process.argv.slice(2), USAGE);
  if (process.argv[2] === "order") return mainOrder(process.argv.slice(3));
  return mainDeal();
}

async function mainOrder(args: string[]): Promise<void> {
  const { values: v } = parseOrUsage("storage-client", USAGE, () =>
    parseArgs({
      args: negativeNumbersAsValues(args),
      options: {
        rpc: { type: "string", default: process.env.CLOUDCOIN_RPC ?? "http://127.0.0.1:8645/" }, key: { type: "string" }, file: { type: "string" },
        "chunk-size": { type: "string", default: "4096" }, replicas: { type: "string" }, "price-per-epoch": { type: "string", default: "1000" },
        duration: { type: "string", default: "10" }, order: { type: "string" }, host: { type: "string", default: "127.0.0.1" }, port: { type: "string", default: "0" },
        "public-url": { type: "string" }, "poll-ms": { type: "string", default: "1000" }, "timeout-ms": { type: "string" },
        ...logOptions,
      },
    }),
  );
  const log = pluginLogger("storage-client", v);
  if (!v.key || !v.file || (v.replicas === undefined) === (v.order === undefined)) throw new CodedError("USAGE", USAGE);
  if (v.order !== undefined && !/^[0-9a-fA-F]{64}$/.test(v.order)) throw new CodedError("USAGE", "--order is the order id: 32 bytes of hex");
  for (const [name, val] of [["replicas", v.replicas], ["price-per-epoch", v["price-per-epoch"]], ["duration", v.duration], ["chunk-size", v["chunk-size"]], ["port", v.port]] as const) {
    if (val !== undefined && !/^(0|[1-9][0-9]{0,19})$/.test(val)) throw new CodedError("USAGE", `--${name} must be a non-negative integer`);
  }
  const outcome = await postOrder({
    rpcUrl: v.rpc, key: await readKeyFile(v.key), file: v.file, chunkSize: Number(v["chunk-size"]),
    ...(v.order !== undefined ? { order: v.order } : { replicas: Number(v.replicas), pricePerEpoch: BigInt(v["price-per-epoch"]), durationEpochs: BigInt(v.duration) }),
    host: v.host, port: Number(v.port), ...(v["public-url"] ? { publicUrl: v["public-url"] } : {}), pollMs: Number(v["poll-ms"]),
    ...(v["timeout-ms"] ? { timeoutMs: Number(v["timeout-ms"]) } : {}), report: eventReporter(log),
  });
  process.stdout.write(JSON.stringify(outcome) + "\n");
  if (!outcome.ok) process.exit(1);
}

async function mainDeal(): Promise<void> {
  const { values: v } = parseOrUsage("storage-client", USAGE, () =>
    parseArgs({
      args: negativeNumbersAsValues(process.argv.slice(2)),
      options: {
        rpc: { type: "string", default: process.env.CLOUDCOIN_RPC ?? "http://127.0.0.1:8645/" },
        key: { type: "string" }, provider: { type: "string", default: "http://127.0.0.1:8710/" }, file: { type: "string" },
        "chunk-size": { type: "string", default: "4096" }, "price-per-epoch": { type: "string", default: "1000" },
        duration: { type: "string", default: "10" }, collateral: { type: "string", default: "1000" },
      },
    }),
  );
  if (!v.key || !v.file) throw new CodedError("USAGE", "usage: client.ts --rpc URL --key FILE --provider URL --file FILE [--chunk-size N] [--price-per-epoch UNITS] [--duration EPOCHS] [--collateral UNITS]");
  for (const [name, val] of [["chunk-size", v["chunk-size"]], ["price-per-epoch", v["price-per-epoch"]], ["duration", v.duration], ["collateral", v.collateral]] as const) {
    if (!/^(0|[1-9][0-9]{0,19})$/.test(val)) throw new CodedError("USAGE", `--${name} must be a non-negative integer`);
  }
  const made = await makeDeal({
    rpcUrl: v.rpc, key: await readKeyFile(v.key), providerUrl: v.provider, file: v.file, chunkSize: Number(v["chunk-size"]),
    pricePerEpoch: BigInt(v["price-per-epoch"]), durationEpochs: BigInt(v.duration), collateral: BigInt(v.collateral),
  });
  process.stdout.write(JSON.stringify({ ok: true, ...made }) + "\n");
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    process.stdout.write(JSON.stringify({ ok: false, code: (e as { code?: string }).code ?? "ERROR", message: (e as Error).message }) + "\n");
    process.exit(1);
  });
}
