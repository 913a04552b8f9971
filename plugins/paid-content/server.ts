/**
 * Paid content over HTTP: serves one file in fixed-size chunks, each paid for with a payment-channel
 * voucher (docs/protocol.md section 8).
 *
 *   GET  /info           {payee, price, chunkSize, chunks, size, sha256}
 *   GET  /chunk/:i       needs `x-voucher: <hex>` on a channel paying this server, whose cumulative
 *                        amount covers (i + 1) x price and adds at least the price over the last
 *                        voucher accepted on the channel; else 402 {code, message}
 *   POST /admin/settle   redeems the best vouchers through the node (paych_redeem); needs
 *                        `authorization: Bearer <admin token>` when one is set
 *
 * Run: node --import tsx plugins/paid-content/server.ts --file FILE --payee cc1... --price CLC
 *        [--chunk-size BYTES] [--rpc URL] [--token TOKEN] [--host H] [--port P] [--admin-token T]
 * It prints one line `READY {"url": ...}` once listening, and on SIGTERM/SIGINT settles, prints
 * `SETTLED [...]` and exits.
 */
import "../../modules/index.ts";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import Fastify, { type FastifyInstance, type FastifyReply } from "fastify";
import { parseClc } from "../../primitives/amount.ts";
import { isAddress } from "../../primitives/keys.ts";
import { GateErrorCode, VoucherGate, watchCloses, type GateResult, type SettleEntry } from "./vouchers.ts";
import { LOG_USAGE, logOptions, pluginLogger, parseOrUsage, standardFlags } from "../shared/cli.ts";
import { negativeNumbersAsValues } from "../../common/args.ts";

export interface PaidContentOptions {
  content: Uint8Array;
  chunkSize: number;
  /** Price of one chunk, in base units. */
  price: bigint;
  /** This server's address: the payee of the channels it accepts (the node's service key). */
  payee: string;
  rpcUrl: string;
  /** Node token with the `sign` permission (paych_redeem). */
  token?: string;
  /** If set, POST /admin/settle needs `authorization: Bearer <adminToken>`. */
  adminToken?: string;
  /** Refuse channels with a shorter settle delay, blocks (default DEFAULT_MIN_SETTLE_DELAY, 20). */
  minSettleDelay?: number;
  /** How often to look for closed channels to redeem, ms (default 2000). */
  closePollMs?: number;
  host?: string;
  port?: number;
}

export interface PaidContentServer {
  readonly url: string;
  readonly port: number;
  readonly gate: VoucherGate;
  readonly app: FastifyInstance;
  settle(): Promise<SettleEntry[]>;
  /** Stops serving, then settles; resolves with the settlement. */
  close(): Promise<SettleEntry[]>;
}

/** 402 for a payment problem, 503 when the node cannot be asked. */
export function sendRejection(reply: FastifyReply, r: Extract<GateResult, { ok: false }>): FastifyReply {
  return reply.code(r.code === GateErrorCode.NODE_UNAVAILABLE ? 503 : 402).send({ code: r.code, message: r.message });
}

export function checkAdmin(adminToken: string | undefined, header: string | undefined): boolean {
  return adminToken === undefined || header === `Bearer ${adminToken}`;
}

export async function startPaidContentServer(opts: PaidContentOptions): Promise<PaidContentServer> {
  if (!Number.isInteger(opts.chunkSize) || opts.chunkSize < 1) throw new TypeError("chunkSize must be a positive integer");
  if (opts.price <= 0n) throw new TypeError("price must be positive");
  if (!isAddress(opts.payee)) throw new TypeError("payee must be a cc1... address");
  const content = opts.content;
  const chunks = Math.max(1, Math.ceil(content.length / opts.chunkSize));
  const sha256 = createHash("sha256").update(content).digest("hex");
  const gate = new VoucherGate({
    rpcUrl: opts.rpcUrl, payee: opts.payee, ...(opts.token ? { token: opts.token } : {}), ...(opts.minSettleDelay !== undefined ? { minSettleDelay: opts.minSettleDelay } : {}),
  });
  // redeem on our own as soon as a payer closes a channel we hold vouchers for
  const watch = watchCloses(gate, opts.closePollMs ?? 2000);
  const app = Fastify({ logger: false });

  app.get("/info", async () => ({ payee: opts.payee, price: opts.price.toString(), chunkSize: opts.chunkSize, chunks, size: content.length, sha256 }));

  app.get<{ Params: { i: string } }>("/chunk/:i", async (req, reply) => {
    const i = /^(0|[1-9][0-9]{0,9})$/.test(req.params.i) ? Number(req.params.i) : -1;
    if (i < 0 || i >= chunks) return reply.code(404).send({ code: "NO_SUCH_CHUNK", message: `chunks are 0..${chunks - 1}` });
    const header = req.headers["x-voucher"];
    const r = await gate.accept(typeof header === "string" ? header : undefined, opts.price, BigInt(i + 1) * opts.price);
    if (!r.ok) return sendRejection(reply, r);
    const body = Buffer.from(content.buffer, content.byteOffset + i * opts.chunkSize, Math.min(opts.chunkSize, content.length - i * opts.chunkSize));
    return reply
      .header("content-type", "application/octet-stream")
      .header("x-paid-amount", r.amount.toString())
      .header("x-paid-channel", r.channel)
      .send(body);
  });

  app.post("/admin/settle", async (req, reply) => {
    if (!checkAdmin(opts.adminToken, req.headers.authorization)) return reply.code(401).send({ code: "UNAUTHORIZED", message: "admin token required" });
    return { settled: await gate.settle() };
  });

  await app.listen({ host: opts.host ?? "127.0.0.1", port: opts.port ?? 0 });
  const addr = app.server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  let closed: Promise<SettleEntry[]> | undefined;
  return {
    url: `http://${opts.host ?? "127.0.0.1"}:${port}/`,
    port,
    gate,
    app,
    settle: () => gate.settle(),
    close: () => (closed ??= app.close().then(() => (watch.stop(), gate.settle()))),
  };
}

async function main(): Promise<void> {
  const usage = `usage: server.ts --file FILE --payee cc1... --price CLC [--chunk-size N] [--rpc URL] [--token T] [--port P] [--min-settle-delay BLOCKS] ${LOG_USAGE}`;
  standardFlags(process.argv.slice(2), usage);
  const { values: v } = parseOrUsage("paid-content", usage, () =>
    parseArgs({
      args: negativeNumbersAsValues(process.argv.slice(2)),
      options: {
        file: { type: "string" }, payee: { type: "string" }, price: { type: "string" }, "chunk-size": { type: "string", default: "65536" },
        rpc: { type: "string", default: process.env.CLOUDCOIN_RPC ?? "http://127.0.0.1:8645/" },
        token: { type: "string", default: process.env.CLOUDCOIN_RPC_TOKEN ?? "" },
        "admin-token": { type: "string", default: process.env.PAID_CONTENT_ADMIN_TOKEN ?? "" },
        host: { type: "string", default: "127.0.0.1" }, port: { type: "string", default: "8700" },
        "min-settle-delay": { type: "string" },
        ...logOptions,
      },
    }),
  );
  const log = pluginLogger("paid-content", v);
  if (!v.file || !v.payee || !v.price) throw new Error(usage);
  const server = await startPaidContentServer({
    content: new Uint8Array(await readFile(v.file)),
    chunkSize: Number(v["chunk-size"]),
    price: parseClc(v.price),
    payee: v.payee,
    rpcUrl: v.rpc,
    ...(v.token ? { token: v.token } : {}),
    ...(v["admin-token"] ? { adminToken: v["admin-token"] } : {}),
    ...(v["min-settle-delay"] ? { minSettleDelay: Number(v["min-settle-delay"]) } : {}),
    host: v.host,
    port: Number(v.port),
  });
  log.info({ url: server.url, port: server.port }, "ready");
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    server.close().then(
      (settled) => {
        const ok = settled.every((s) => s.status !== "failed");
        log[ok ? "info" : "error"]({ settled }, "settled");
        process.exit(ok ? 0 : 1);
      },
      (e: unknown) => {
        log.error({ code: (e as { code?: string }).code ?? "ERROR", error: (e as Error).message }, "settle failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    // as every long-running plugin ends (plugins/shared/bandwidth.ts runMain): its code, then why
    process.stderr.write(`${(e as { code?: string }).code ?? "ERROR"}: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
