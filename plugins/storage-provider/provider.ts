/**
 * A storage provider (docs/protocol.md section 5) as a separate process: it keeps clients' files in its
 * own directory, registers on chain if it is not registered, accepts deals over HTTP, answers its
 * challenges every epoch with storage proofs, and reports what it earned.
 *
 *   GET  /info      {provider, chainId, pricePerMiB, minCollateral, maxDealBytes, freeCapacity, freeCollateral}
 *   POST /deals?client=cc1...&chunkSize=N&pricePerEpoch=UNITS&durationEpochs=N&collateral=UNITS
 *                   body: the file (application/octet-stream), streamed to disk while its root is
 *                   computed. Answers {dealId, terms, signature}: the provider's signed acceptance,
 *                   valid until terms.expiresAtHeight. The client sends storage.deal itself
 *                   (client.ts does). 4xx {code, message} if the terms are refused.
 *   POST /placements/ORDER   {source}: the client of a storage order placed on this provider says
 *                   where to fetch its data (an http(s) URL). 202; 400 for a bad order id or URL.
 *   GET  /status    deals held, placements followed, proofs sent, earnings so far
 *
 * Placements (network deals): every `--poll-ms` it also asks storage_getPlacements for the order
 * replicas the chain drew onto it, fetches each (in the background: proofs do not wait) from a source its client announced, checks the
 * data's root against the order, saves it as the network deal's files and sends storage.accept;
 * one it cannot fetch by `--decline-margin` blocks before its deadline it declines
 * (placements.ts). The accepted deal is then proven like any other.
 *
 * Every `--poll-ms` it asks the node for its challenges (storage_getChallenges) and, for each deal
 * it holds that is not proven for the epoch yet, reads the challenged chunks from disk, builds
 * their audit paths and sends a signed storage.proof with proof_submitStorage. After each epoch
 * ends it reads rewards_getEpoch and its balance, and prints what it earned.
 *
 * Run: node --import tsx plugins/storage-provider/provider.ts --rpc URL --key FILE --dir DIR
 *        [--collateral CLC] [--capacity BYTES] [--multiaddr ADDR] [--host H] [--port P]
 *        [--price-per-mib UNITS] [--poll-ms MS] [--accept-blocks N] [--decline-margin BLOCKS]
 * Prints `READY {"url", "provider"}` once serving, then one JSON line per event (REGISTERED,
 * DEAL, PLACEMENT, SOURCE, FETCHED, FETCH_FAILED, ACCEPT, DECLINE, PLACEMENT_ENDED, PROOF,
 * PROOF_FAILED, EPOCH, DEAL_ENDED); exits on SIGTERM/SIGINT.
 */
import "../../modules/index.ts";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import Fastify, { type FastifyInstance } from "fastify";
import { parseClc } from "../../primitives/amount.ts";
import { fromHex, toHex } from "../../primitives/bytes.ts";
import { CodedError } from "../../primitives/errors.ts";
import { fromAddress, isAddress, toAddress, type KeyPair } from "../../primitives/keys.ts";
import { dealId, ProviderKind, signDealAcceptance, type DealTerms } from "../../modules/storage/storage.ts";
import { networkDealId } from "../../modules/storage/orders.ts";
import { signTx, type Operation } from "../../chain/tx.ts";
import { RpcClient, RpcClientError } from "../../rpc/client.ts";
import { readKeyFile } from "../shared/keyfile.ts";
import { DealStore, DealStoreError, sendAndWait, termsToJson, type StoredDeal } from "./deals.ts";
import { eventReporter, LOG_USAGE, logOptions, pluginLogger, parseOrUsage, standardFlags } from "../shared/cli.ts";
import { fetchPlacement, parseSource, PlacementError, placementAction, type PlacementJob } from "./placements.ts";
import { negativeNumbersAsValues } from "../../common/args.ts";

export interface StorageProviderOptions {
  rpcUrl: string;
  key: KeyPair;
  dir: string;
  /** Collateral to register with (base units) if not registered. */
  collateral: bigint;
  /** Capacity to register with, bytes. */
  capacity: bigint;
  /** Announced on chain; default: this server's HTTP address as a multiaddr. */
  multiaddr?: string;
  host?: string;
  port?: number;
  /** Lowest price per epoch per started MiB a deal must offer (base units). */
  pricePerMiB: bigint;
  pollMs?: number;
  /** Blocks an acceptance stays valid. */
  acceptBlocks?: number;
  /** A placement not fetched this many blocks before its last block is declined (default 3). */
  declineMarginBlocks?: number;
  /** Timeout of one fetch of a placement's data (default 60 s). */
  fetchTimeoutMs?: number;
  fee?: bigint;
  /** One JSON line per event; default: stdout. */
  report?: (kind: string, data: Record<string, unknown>) => void;
}

export interface StorageProvider {
  readonly url: string;
  readonly address: string;
  readonly app: FastifyInstance;
  readonly deals: DealStore;
  status(): ProviderStatusJson;
  close(): Promise<void>;
}

export interface ProviderStatusJson {
  provider: string;
  deals: { id: string; client: string; size: string; ended: boolean; order: string | null }[];
  placements: { order: string; state: string; deadlineHeight: number; sources: number; failures: number }[];
  proofs: { sent: number; failed: number; lastEpoch: number | null };
  earned: { rewards: string; balanceChange: string; epochs: number };
}

const MIB = 1n << 20n;
const DEC = /^(0|[1-9][0-9]{0,19})$/;


let fallbackReport: ((kind: string, data: Record<string, unknown>) => void) | undefined;
/** The report of a provider started without one: the plugin's logger with its defaults. */
export function defaultReport(kind: string, data: Record<string, unknown>): void {
  (fallbackReport ??= eventReporter(pluginLogger("storage-provider")))(kind, data);
}

export async function startStorageProvider(opts: StorageProviderOptions): Promise<StorageProvider> {
  const rpc = new RpcClient(opts.rpcUrl);
  const report = opts.report ?? defaultReport;
  const key = opts.key;
  const address = toAddress(key.publicKey);
  const fee = opts.fee ?? 1000n;
  const acceptBlocks = BigInt(opts.acceptBlocks ?? 30);
  const declineMarginBlocks = opts.declineMarginBlocks ?? 3;
  const status = await rpc.call("node_status", {});
  const chainId = status.chainId;
  const deals = await DealStore.open(opts.dir);
  const { params } = await rpc.call("chain_getParams", {});
  const collateralPerByte = BigInt(params.collateralPerByte!);
  /** Pending placements followed, by order id; sources announced for orders not (yet) placed here. */
  const placements = new Map<string, PlacementJob>();
  const announced = new Map<string, string[]>();
  const MAX_ANNOUNCED_ORDERS = 1024;
  const MAX_SOURCES = 8;
  const app = Fastify({ logger: false });
  app.addContentTypeParser("application/octet-stream", (_req, payload, done) => done(null, payload));

  const stats = { sent: 0, failed: 0, lastEpoch: null as number | null, rewards: 0n, epochs: 0, balanceChange: 0n };
  const ended = new Set<string>();

  app.get("/info", async () => {
    const p = await rpc.call("provider_get", { address });
    return {
      provider: address, chainId, pricePerMiB: opts.pricePerMiB.toString(), maxDealBytes: p ? (BigInt(p.capacity) - BigInt(p.used)).toString() : "0",
      freeCapacity: p ? (BigInt(p.capacity) - BigInt(p.used)).toString() : "0", freeCollateral: p?.freeCollateral ?? "0", status: p?.status ?? null,
    };
  });

  app.post<{ Querystring: Record<string, string | undefined> }>("/deals", async (req, reply) => {
    const q = req.query;
    const refuse = (code: string, message: string, http = 400) => reply.code(http).send({ code, message });
    if (!q.client || !isAddress(q.client)) return refuse("BAD_CLIENT", "client must be a cc1... address");
    for (const name of ["chunkSize", "pricePerEpoch", "durationEpochs", "collateral"]) {
      if (!q[name] || !DEC.test(q[name]!)) return refuse("BAD_TERMS", `${name} must be a non-negative integer`);
    }
    const chunkSize = Number(q.chunkSize);
    const p = await rpc.call("provider_get", { address });
    if (!p || p.status !== "active" || p.banned) return refuse("NOT_ACCEPTING", "this provider takes no deals now", 503);
    const free = BigInt(p.capacity) - BigInt(p.used);
    const collateral = BigInt(q.collateral!);
    if (collateral > BigInt(p.freeCollateral)) return refuse("COLLATERAL_UNAVAILABLE", `at most ${p.freeCollateral} collateral is free`);
    let up;
    try {
      up = await deals.ingest(req.body as AsyncIterable<Uint8Array>, chunkSize, free);
    } catch (e) {
      if (e instanceof DealStoreError) return refuse(e.code, e.message, e.code === "TOO_LARGE" ? 413 : 400);
      throw e;
    }
    const price = BigInt(q.pricePerEpoch!);
    const minPrice = ((up.size + MIB - 1n) / MIB) * opts.pricePerMiB;
    if (price < minPrice) {
      await deals.discard(up.tmp);
      return refuse("PRICE_TOO_LOW", `${up.size} bytes cost at least ${minPrice} per epoch`);
    }
    const head = (await rpc.call("node_status", {})).head.height;
    const terms: DealTerms = {
      provider: key.publicKey, root: up.root, size: up.size, chunkSize: BigInt(chunkSize), pricePerEpoch: price, durationEpochs: BigInt(q.durationEpochs!),
      collateral, expiresAtHeight: BigInt(head) + acceptBlocks,
    };
    const client = fromAddress(q.client);
    const id = toHex(dealId(chainId, client, terms));
    const d: StoredDeal = { id, client: q.client, terms: termsToJson(terms), acceptedAt: head };
    await deals.commit(up.tmp, d);
    report("DEAL", { dealId: id, client: q.client, size: up.size.toString(), root: toHex(up.root), pricePerEpoch: price.toString(), expiresAtHeight: Number(terms.expiresAtHeight) });
    return { dealId: id, terms: d.terms, signature: toHex(signDealAcceptance(chainId, key, client, terms)) };
  });

  app.post<{ Params: { order: string }; Body: { source?: unknown } | undefined }>("/placements/:order", async (req, reply) => {
    const order = req.params.order.toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(order)) return reply.code(400).send({ code: "BAD_ORDER", message: "the order id is 32 bytes of hex" });
    let source: string;
    try {
      source = parseSource(req.body?.source);
    } catch (e) {
      return reply.code(400).send({ code: (e as PlacementError).code, message: (e as Error).message });
    }
    const job = placements.get(order);
    const list = job?.sources ?? announced.get(order) ?? [];
    if (!list.includes(source)) {
      if (list.length >= MAX_SOURCES) list.shift();
      list.push(source);
    }
    if (!job && !announced.has(order)) {
      if (announced.size >= MAX_ANNOUNCED_ORDERS) announced.delete(announced.keys().next().value!);
      announced.set(order, list);
    }
    report("SOURCE", { order, source, placed: job !== undefined });
    return reply.code(202).send({ order, placed: job !== undefined });
  });

  app.get("/status", async () => statusJson());

  // ---- registration ----
  await app.listen({ host: opts.host ?? "127.0.0.1", port: opts.port ?? 0 });
  const addr = app.server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  const url = `http://${opts.host ?? "127.0.0.1"}:${port}/`;
  const existing = await rpc.call("provider_get", { address });
  if (!existing || existing.status === "exited") {
    const r = await sendAndWait(rpc, chainId, key, {
      type: "provider.register", kind: ProviderKind.STORAGE, collateral: opts.collateral, capacity: opts.capacity,
      multiaddr: opts.multiaddr ?? `/ip4/${opts.host ?? "127.0.0.1"}/tcp/${port}/http`,
    }, fee);
    report("REGISTERED", { provider: address, height: r.height, hash: r.hash, collateral: opts.collateral.toString(), capacity: opts.capacity.toString() });
  }

  // ---- proving loop ----
  const startBalance = BigInt((await rpc.call("state_getAccount", { address })).balance);
  let lastEndedSeen = -1;
  const proven = new Set<string>(); // "deal:epoch" sent
  let nonce: bigint | undefined;
  let lastHash: string | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  /** Signs `op` at our next nonce and sends it with tx_send; the hash. */
  async function send(op: Operation): Promise<string> {
    nonce ??= BigInt((await rpc.call("state_getAccount", { address })).nonce);
    const tx = signTx({ chainId, nonce, fee, op }, key);
    try {
      const r = await rpc.call("tx_send", { tx: toHex(tx.bytes) });
      nonce++;
      lastHash = r.hash;
      return r.hash;
    } catch (e) {
      nonce = undefined;
      throw e;
    }
  }

  /** The placements: new ones followed, fetched, accepted or declined; ones that left the list reported. */
  async function follow(): Promise<void> {
    const r = await rpc.call("storage_getPlacements", { provider: address });
    const pending = new Set(r.placements.map((x) => x.order));
    for (const [order, job] of placements) {
      if (pending.has(order)) continue;
      placements.delete(order);
      const id = toHex(networkDealId(chainId, fromHex(order), key.publicKey));
      const deal = await rpc.call("storage_getDeal", { id });
      report("PLACEMENT_ENDED", { order, accepted: deal !== null, dealId: deal ? id : null, state: job.state });
      if (!deal && deals.get(id)) await deals.remove(id);
    }
    for (const info of r.placements) {
      let job = placements.get(info.order);
      if (!job) {
        job = { info, state: "fetching", sources: announced.get(info.order) ?? [], failures: 0 };
        announced.delete(info.order);
        placements.set(info.order, job);
        report("PLACEMENT", { order: info.order, client: info.client, root: info.root, size: info.size, deadline: info.deadline, deadlineHeight: info.deadlineHeight });
        // kept from an earlier run: the data is already here
        if (deals.get(toHex(networkDealId(chainId, fromHex(info.order), key.publicKey)))) job.state = "fetched";
      }
      if (job.state === "accepting" && job.txHash !== undefined) {
        const sent = await rpc.call("tx_get", { hash: job.txHash });
        if (sent.status === "finalized" && sent.receipt && !sent.receipt.ok) {
          job.state = "refused";
          report("ACCEPT_FAILED", { order: info.order, hash: job.txHash, code: sent.receipt.code });
        }
      }
      const action = placementAction(job, r.headHeight, { declineMarginBlocks, resendAfterBlocks: 3 });
      if (action === "fetch") {
        job.fetching = true;
        void fetchInto(job, r.headHeight).finally(() => (job.fetching = false));
      } else if (action === "accept" || action === "decline") {
        try {
          job.txHash = await send({ type: action === "accept" ? "storage.accept" : "storage.decline", order: fromHex(info.order) });
          job.sentAtHeight = r.headHeight;
          job.state = action === "accept" ? "accepting" : "declining";
          report(action === "accept" ? "ACCEPT" : "DECLINE", { order: info.order, hash: job.txHash, headHeight: r.headHeight, deadlineHeight: info.deadlineHeight });
        } catch (e) {
          report("ERROR", { order: info.order, action, code: (e as { code?: string }).code ?? "ERROR", message: (e as Error).message });
        }
      }
    }
  }

  /** Fetches a placement's data from its first source and keeps it as the network deal's files; the next poll accepts. */
  async function fetchInto(job: PlacementJob, head: number): Promise<void> {
    const { info } = job;
    const source = job.sources[0]!;
    const id = toHex(networkDealId(chainId, fromHex(info.order), key.publicKey));
    try {
      const up = await fetchPlacement(deals, info, source, opts.fetchTimeoutMs ?? 60_000);
      const terms: DealTerms = {
        provider: key.publicKey, root: up.root, size: up.size, chunkSize: BigInt(info.chunkSize), pricePerEpoch: BigInt(info.pricePerEpoch),
        durationEpochs: BigInt(info.durationEpochs), collateral: up.size * collateralPerByte, expiresAtHeight: BigInt(info.deadlineHeight),
      };
      await deals.commit(up.tmp, { id, client: info.client, terms: termsToJson(terms), acceptedAt: head, order: info.order });
      if (placements.get(info.order) !== job || job.state !== "fetching") {
        await deals.remove(id); // declined or ended while the data came
        return;
      }
      job.state = "fetched";
      report("FETCHED", { order: info.order, dealId: id, source, size: info.size });
    } catch (e) {
      job.failures++;
      const code = e instanceof PlacementError ? e.code : "FETCH_FAILED";
      // a source that served the wrong bytes is dropped; one that was unreachable is tried again
      if (code !== "FETCH_FAILED" && job.sources[0] === source) job.sources.shift();
      report("FETCH_FAILED", { order: info.order, source, code, message: (e as Error).message });
    }
  }

  async function prove(): Promise<void> {
    // our last transaction left the mempool (in a block, or dropped): the state's nonce is right again
    if (lastHash !== undefined && (await rpc.call("tx_get", { hash: lastHash })).status !== "pending") {
      nonce = undefined;
      lastHash = undefined;
    }
    try {
      await follow();
    } catch (e) {
      // the proofs below must not wait for a placement's trouble
      report("ERROR", { code: (e as { code?: string }).code ?? "ERROR", message: (e as Error).message });
    }
    const ch = await rpc.call("storage_getChallenges", { provider: address });
    if (ch.known) {
      for (const c of ch.challenges) {
        const tag = `${c.dealId}:${ch.epoch}`;
        if (c.proven || proven.has(tag) || !deals.get(c.dealId)) continue;
        const chunks = await deals.prove(c.dealId, c.indices.map(BigInt));
        nonce ??= BigInt((await rpc.call("state_getAccount", { address })).nonce);
        const tx = signTx({ chainId, nonce, fee, op: { type: "storage.proof", deal: fromHex(c.dealId), epoch: BigInt(ch.epoch), chunks } }, key);
        try {
          const r = await rpc.call("proof_submitStorage", { tx: toHex(tx.bytes) });
          nonce++;
          lastHash = r.hash;
          proven.add(tag);
          stats.sent++;
          stats.lastEpoch = ch.epoch;
          report("PROOF", { dealId: c.dealId, epoch: ch.epoch, hash: r.hash, headHeight: ch.headHeight });
        } catch (e) {
          // a nonce taken by a transaction of ours we do not track: read it again next time
          nonce = undefined;
          stats.failed++;
          report("PROOF_FAILED", { dealId: c.dealId, epoch: ch.epoch, code: (e as { code?: string }).code ?? "ERROR", message: (e as Error).message });
          if (e instanceof RpcClientError && e.code.startsWith("STORAGE_")) proven.add(tag); // the chain will not take it: do not retry this epoch
        }
      }
    }
    // epochs that ended since the last look: what was minted to us, and the balance
    const lastEnded = ch.epoch - 1;
    for (let e = lastEndedSeen < 0 ? lastEnded : lastEndedSeen + 1; e <= lastEnded && e >= 0; e++) {
      const r = await rpc.call("rewards_getEpoch", { epoch: e });
      if (!r || r.status !== "ended") break;
      const mine = r.mints.filter((m) => m.to === address);
      const reward = mine.reduce((s, m) => s + BigInt(m.amount), 0n);
      stats.rewards += reward;
      stats.epochs++;
      lastEndedSeen = e;
      const balance = BigInt((await rpc.call("state_getAccount", { address })).balance);
      stats.balanceChange = balance - startBalance;
      report("EPOCH", {
        epoch: e, reward: reward.toString(), basis: mine.map((m) => m.basis), reputationBps: mine[0]?.reputationBps ?? null,
        balance: balance.toString(), balanceChange: (balance - startBalance).toString(), totalRewards: stats.rewards.toString(),
      });
    }
    // deals that ended on chain: drop their data
    for (const d of deals.list()) {
      if (ended.has(d.id)) continue;
      const onChain = await rpc.call("storage_getDeal", { id: d.id });
      if (onChain && onChain.status !== "active") {
        ended.add(d.id);
        report("DEAL_ENDED", { dealId: d.id, status: onChain.status, misses: onChain.misses, challenged: onChain.challenged });
        await deals.remove(d.id);
      } else if (!onChain && BigInt(d.terms.expiresAtHeight) < BigInt(ch.headHeight)) {
        // a direct deal the client never sent before the acceptance expired, or a placement never accepted in its window
        ended.add(d.id);
        report("DEAL_EXPIRED", { dealId: d.id });
        await deals.remove(d.id);
      }
    }
  }

  const loop = (): void => {
    if (stopped) return;
    prove().then(
      () => undefined,
      (e: unknown) => report("ERROR", { code: (e as { code?: string }).code ?? "ERROR", message: (e as Error).message }),
    ).finally(() => {
      if (!stopped) timer = setTimeout(loop, opts.pollMs ?? 1000);
    });
  };
  loop();

  function statusJson(): ProviderStatusJson {
    return {
      provider: address,
      deals: deals.list().map((d) => ({ id: d.id, client: d.client, size: d.terms.size, ended: ended.has(d.id), order: d.order ?? null })),
      placements: [...placements.values()].map((j) => ({
        order: j.info.order, state: j.state, deadlineHeight: j.info.deadlineHeight, sources: j.sources.length, failures: j.failures,
      })),
      proofs: { sent: stats.sent, failed: stats.failed, lastEpoch: stats.lastEpoch },
      earned: { rewards: stats.rewards.toString(), balanceChange: stats.balanceChange.toString(), epochs: stats.epochs },
    };
  }

  return {
    url, address, app, deals,
    status: statusJson,
    close: async () => {
      stopped = true;
      clearTimeout(timer);
      await app.close();
    },
  };
}

async function main(): Promise<void> {
  const usage = `usage: provider.ts --rpc URL --key FILE --dir DIR [--collateral CLC] [--capacity BYTES] [--port P] [--price-per-mib UNITS] [--poll-ms MS] [--decline-margin BLOCKS] ${LOG_USAGE}`;
  standardFlags(process.argv.slice(2), usage);
  const { values: v } = parseOrUsage("storage-provider", usage, () =>
    parseArgs({
      args: negativeNumbersAsValues(process.argv.slice(2)),
      options: {
        rpc: { type: "string", default: process.env.CLOUDCOIN_RPC ?? "http://127.0.0.1:8645/" },
        key: { type: "string" }, dir: { type: "string" },
        collateral: { type: "string", default: "1" }, capacity: { type: "string", default: String(64 * 1024 * 1024) }, multiaddr: { type: "string" },
        host: { type: "string", default: "127.0.0.1" }, port: { type: "string", default: "8710" },
        "price-per-mib": { type: "string", default: "1000" }, "poll-ms": { type: "string", default: "1000" }, "accept-blocks": { type: "string", default: "30" },
        "decline-margin": { type: "string", default: "3" },
        ...logOptions,
      },
    }),
  );
  const log = pluginLogger("storage-provider", v);
  if (!v.key || !v.dir) throw new Error(usage);
  if (!DEC.test(v.capacity) || !DEC.test(v["price-per-mib"])) throw new CodedError("BAD_ARGS", "--capacity and --price-per-mib must be integers");
  const p = await startStorageProvider({
    rpcUrl: v.rpc, key: await readKeyFile(v.key), dir: v.dir, collateral: parseClc(v.collateral), capacity: BigInt(v.capacity),
    ...(v.multiaddr ? { multiaddr: v.multiaddr } : {}), host: v.host, port: Number(v.port), pricePerMiB: BigInt(v["price-per-mib"]),
    pollMs: Number(v["poll-ms"]), acceptBlocks: Number(v["accept-blocks"]), declineMarginBlocks: Number(v["decline-margin"]), report: eventReporter(log),
  });
  log.info({ url: p.url, provider: p.address }, "ready");
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    p.close().then(
      () => {
        log.info({ status: p.status() }, "stopped");
        process.exit(0);
      },
      () => process.exit(1),
    );
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    process.stderr.write(`${(e as { code?: string }).code ?? "ERROR"}: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
