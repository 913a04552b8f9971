/**
 * WeTube-style ad slot: the advertiser pays the site that shows its ad, per impression, over a
 * payment channel from the advertiser to the site.
 *
 * Two small HTTP services:
 * - the ADVERTISER (`startAdvertiser`): GET /bid answers {creative, voucher} where the voucher pays
 *   one more impression (cumulative amount + price, nonce + 1) on its channel to the site, up to a
 *   budget; it is signed locally with the advertiser's key;
 * - the SITE (`startAdSlot`): GET /watch/:video renders a page; for its ad slot it asks the
 *   advertiser for a bid and shows the creative only if the voucher passes the same checks as a
 *   paid chunk (VoucherGate: paych_checkVoucher, payee is the site, at least the ad price more than
 *   the last one, then paych_submitVoucher); otherwise it shows its house ad. POST /admin/settle
 *   redeems through the node (paych_redeem, the site's service key).
 *
 * Run the site:       node --import tsx plugins/paid-content/ad-slot.ts site --payee cc1... --price CLC --advertiser URL [--rpc URL] [--token T] [--port P]
 * Run the advertiser: node --import tsx plugins/paid-content/ad-slot.ts advertiser --key-file PATH --channel HEX --price CLC [--budget CLC] [--creative TEXT] [--rpc URL] [--port P]
 */
import "../../modules/index.ts";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import Fastify, { type FastifyInstance } from "fastify";
import { parseClc } from "../../primitives/amount.ts";
import { fromHex } from "../../primitives/bytes.ts";
import type { KeyPair } from "../../primitives/keys.ts";
import { RpcClient } from "../../rpc/client.ts";
import { readKeyFile } from "../shared/keyfile.ts";
import { channelStart, VoucherWallet } from "./client.ts";
import { checkAdmin } from "./server.ts";
import { VoucherGate, watchCloses, type SettleEntry } from "./vouchers.ts";
import { LOG_USAGE, logOptions, pluginLogger, parseOrUsage, standardFlags } from "../shared/cli.ts";
import { negativeNumbersAsValues } from "../../common/args.ts";

export interface AdvertiserOptions {
  chainId: string;
  key: KeyPair;
  channel: Uint8Array;
  /** Where the advertiser's vouchers stand on the channel (cumulative amount, nonce). */
  start: { amount: bigint; nonce: bigint };
  /** Per impression, base units. */
  price: bigint;
  /** Most the advertiser pays in total (cumulative on the channel, base units). */
  budget: bigint;
  creative: string;
  host?: string;
  port?: number;
}

export interface Service {
  readonly url: string;
  readonly app: FastifyInstance;
  close(): Promise<unknown>;
}

export async function startAdvertiser(opts: AdvertiserOptions): Promise<Service & { readonly wallet: VoucherWallet }> {
  const wallet = new VoucherWallet(opts.chainId, opts.key, opts.channel, opts.start);
  const app = Fastify({ logger: false });
  // A bid is a promise to pay: the advertiser counts it as spent (the site may redeem it).
  app.get("/bid", async (_req, reply) => {
    if (wallet.amount + opts.price > opts.budget) return reply.code(409).send({ code: "BUDGET_EXHAUSTED", message: "no budget left" });
    const v = wallet.next(opts.price);
    wallet.commit(v);
    return { creative: opts.creative, voucher: v.hex, amount: v.amount.toString(), nonce: v.nonce.toString() };
  });
  return listen(app, opts.host, opts.port, { wallet });
}

export interface AdSlotOptions {
  /** The site's address (the node's service key): payee of the advertiser's channel. */
  payee: string;
  /** Price of one impression, base units. */
  price: bigint;
  /** The advertiser's bid endpoint base URL. */
  advertiserUrl: string;
  rpcUrl: string;
  token?: string;
  adminToken?: string;
  /** Refuse channels with a shorter settle delay, blocks (default DEFAULT_MIN_SETTLE_DELAY, 20). */
  minSettleDelay?: number;
  /** How often to look for closed channels to redeem, ms (default 2000). */
  closePollMs?: number;
  houseAd?: string;
  host?: string;
  port?: number;
}

export async function startAdSlot(opts: AdSlotOptions): Promise<Service & { readonly gate: VoucherGate; readonly impressions: () => number; settle(): Promise<SettleEntry[]> }> {
  const gate = new VoucherGate({
    rpcUrl: opts.rpcUrl, payee: opts.payee, ...(opts.token ? { token: opts.token } : {}), ...(opts.minSettleDelay !== undefined ? { minSettleDelay: opts.minSettleDelay } : {}),
  });
  // redeem on our own as soon as a payer closes a channel we hold vouchers for
  const watch = watchCloses(gate, opts.closePollMs ?? 2000);
  let impressions = 0;
  const app = Fastify({ logger: false });
  const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

  app.get<{ Params: { video: string } }>("/watch/:video", async (req, reply) => {
    let ad = { paid: false, creative: opts.houseAd ?? "Your ad here", code: null as string | null };
    try {
      const bidRes = await fetch(new URL("bid", opts.advertiserUrl), { signal: AbortSignal.timeout(2000) });
      const bid = (await bidRes.json()) as { creative?: string; voucher?: string; code?: string };
      if (bidRes.ok && typeof bid.creative === "string") {
        const r = await gate.accept(bid.voucher, opts.price);
        if (r.ok) {
          impressions++;
          ad = { paid: true, creative: bid.creative.slice(0, 1000), code: null };
        } else ad.code = r.code;
      } else ad.code = bid.code ?? `HTTP_${bidRes.status}`;
    } catch (e) {
      ad.code = (e as { code?: string }).code ?? "ADVERTISER_UNREACHABLE";
    }
    reply.header("x-ad-paid", String(ad.paid)).header("x-ad-code", ad.code ?? "");
    return reply
      .type("text/html")
      .send(`<!doctype html><title>WeTube</title><main><video src="/videos/${escape(req.params.video)}.mp4"></video><aside class="ad" data-paid="${ad.paid}">${escape(ad.creative)}</aside></main>`);
  });

  app.post("/admin/settle", async (req, reply) => {
    if (!checkAdmin(opts.adminToken, req.headers.authorization)) return reply.code(401).send({ code: "UNAUTHORIZED", message: "admin token required" });
    return { settled: await gate.settle() };
  });

  const svc = await listen(app, opts.host, opts.port, { gate, impressions: () => impressions, settle: () => gate.settle() });
  return { ...svc, close: () => app.close().then(() => (watch.stop(), gate.settle())) };
}

async function listen<T extends object>(app: FastifyInstance, host = "127.0.0.1", port = 0, extra: T): Promise<Service & T> {
  await app.listen({ host, port });
  const addr = app.server.address();
  return { url: `http://${host}:${typeof addr === "object" && addr ? addr.port : 0}/`, app, close: () => app.close(), ...extra };
}

async function main(): Promise<void> {
  const role = process.argv[2];
  const usage = `usage: ad-slot.ts site --price CLC ... | ad-slot.ts advertiser ... ${LOG_USAGE}`;
  standardFlags(process.argv.slice(2), usage);
  const { values: v } = parseOrUsage("ad-slot", usage, () =>
    parseArgs({
      args: negativeNumbersAsValues(process.argv.slice(3)),
      options: {
        payee: { type: "string" }, price: { type: "string" }, advertiser: { type: "string" }, budget: { type: "string" },
        "key-file": { type: "string" }, channel: { type: "string" }, creative: { type: "string", default: "Cloudcoin: get paid for your spare disk" },
        rpc: { type: "string", default: process.env.CLOUDCOIN_RPC ?? "http://127.0.0.1:8645/" },
        token: { type: "string", default: process.env.CLOUDCOIN_RPC_TOKEN ?? "" },
        "admin-token": { type: "string", default: process.env.PAID_CONTENT_ADMIN_TOKEN ?? "" },
        host: { type: "string", default: "127.0.0.1" }, port: { type: "string" },
        ...logOptions,
      },
    }),
  );
  const log = pluginLogger(`ad-slot-${role === "site" || role === "advertiser" ? role : "?"}`, v);
  if (!v.price) throw new Error("--price CLC is required");
  const price = parseClc(v.price);
  let svc: Service;
  if (role === "site") {
    if (!v.payee || !v.advertiser) throw new Error("site needs --payee cc1... and --advertiser URL");
    svc = await startAdSlot({
      payee: v.payee, price, advertiserUrl: v.advertiser, rpcUrl: v.rpc, host: v.host, port: Number(v.port ?? 8710),
      ...(v.token ? { token: v.token } : {}), ...(v["admin-token"] ? { adminToken: v["admin-token"] } : {}),
    });
  } else if (role === "advertiser") {
    if (!v["key-file"] || !v.channel || !/^[0-9a-fA-F]{64}$/.test(v.channel)) throw new Error("advertiser needs --key-file PATH and --channel HEX");
    const rpc = new RpcClient(v.rpc);
    const channel = v.channel.toLowerCase();
    const [status, start] = await Promise.all([rpc.call("node_status", {}), channelStart(rpc, channel)]);
    svc = await startAdvertiser({
      chainId: status.chainId, key: await readKeyFile(v["key-file"]), channel: fromHex(channel), start, price,
      budget: v.budget ? parseClc(v.budget) : 1n << 62n, creative: v.creative, host: v.host, port: Number(v.port ?? 8711),
    });
  } else throw new Error("usage: ad-slot.ts site|advertiser ...");
  log.info({ url: svc.url }, "ready");
  const stop = () => void svc.close().then((r) => { log.info({ result: r ?? null }, "closed"); process.exit(0); });
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    // as every long-running plugin ends (plugins/shared/bandwidth.ts runMain): its code, then why
    process.stderr.write(`${(e as { code?: string }).code ?? "ERROR"}: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
