/**
 * Downloads a file from the paid-content server (server.ts) chunk by chunk, paying each chunk
 * with a new voucher signed locally by the payer: cumulative amount (previous + price), nonce
 * previous + 1. Reassembles the file and checks its SHA-256 against the server's /info.
 *
 * Run: node --import tsx plugins/paid-content/client.ts --url http://127.0.0.1:8700/ --channel HEX
 *        --key-file PATH [--rpc URL] [--out FILE] [--start-amount UNITS --start-nonce N]
 * The key file is a `cloudcoin keys` file (JSON with the hex `seed`). Without --start-*, the
 * client continues from the channel's state on the node (its best submitted voucher, else what
 * was redeemed). Prints one JSON line with the outcome; exits 1 on any failure.
 */
import "../../modules/index.ts";
import { createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { fromHex, toHex } from "../../primitives/bytes.ts";
import { CodedError } from "../../primitives/errors.ts";
import type { KeyPair } from "../../primitives/keys.ts";
import { encodeVoucher, signVoucher } from "../../modules/paych/paych.ts";
import { RpcClient } from "../../rpc/client.ts";
import { parseOrUsage, standardFlags } from "../shared/cli.ts";
import { readKeyFile } from "../shared/keyfile.ts";
import { negativeNumbersAsValues } from "../../common/args.ts";

export interface ContentInfo {
  payee: string;
  price: string;
  chunkSize: number;
  chunks: number;
  size: number;
  sha256: string;
}

/** The payer's side of a channel: signs the next voucher (cumulative amount, increasing nonce). */
export class VoucherWallet {
  readonly #chainId: string;
  readonly #key: KeyPair;
  readonly channel: Uint8Array;
  amount: bigint;
  nonce: bigint;

  constructor(chainId: string, key: KeyPair, channel: Uint8Array, start: { amount: bigint; nonce: bigint }) {
    this.#chainId = chainId;
    this.#key = key;
    this.channel = channel;
    this.amount = start.amount;
    this.nonce = start.nonce;
  }

  /** A voucher paying `price` more than the last one, as hex. Committed only by `commit`. */
  next(price: bigint): { hex: string; amount: bigint; nonce: bigint } {
    const amount = this.amount + price;
    const nonce = this.nonce + 1n;
    return { hex: toHex(encodeVoucher(signVoucher(this.#chainId, this.#key, { channel: this.channel, amount, nonce }))), amount, nonce };
  }

  commit(v: { amount: bigint; nonce: bigint }): void {
    this.amount = v.amount;
    this.nonce = v.nonce;
  }
}

export class PaymentRefused extends CodedError<string> {}

export async function fetchInfo(baseUrl: string): Promise<ContentInfo> {
  const res = await fetch(new URL("info", baseUrl));
  if (!res.ok) throw new Error(`GET /info: HTTP ${res.status}`);
  return (await res.json()) as ContentInfo;
}

/** Downloads every chunk, one voucher each; throws PaymentRefused with the server's code on a 402. */
export async function downloadPaid(baseUrl: string, wallet: VoucherWallet, info: ContentInfo): Promise<{ content: Uint8Array; sha256: string; paid: bigint }> {
  const price = BigInt(info.price);
  const parts: Uint8Array[] = [];
  const startAmount = wallet.amount;
  for (let i = 0; i < info.chunks; i++) {
    const v = wallet.next(price);
    const res = await fetch(new URL(`chunk/${i}`, baseUrl), { headers: { "x-voucher": v.hex } });
    if (res.status !== 200) {
      const body = (await res.json().catch(() => ({}))) as { code?: string; message?: string };
      throw new PaymentRefused(body.code ?? `HTTP_${res.status}`, `chunk ${i}: HTTP ${res.status} ${body.message ?? ""}`.trim());
    }
    wallet.commit(v);
    parts.push(new Uint8Array(await res.arrayBuffer()));
  }
  const content = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    content.set(p, off);
    off += p.length;
  }
  const sha256 = createHash("sha256").update(content).digest("hex");
  if (content.length !== info.size || sha256 !== info.sha256) {
    throw new CodedError("CONTENT_MISMATCH", `reassembled ${content.length} bytes with sha256 ${sha256}; the server announced ${info.size} bytes, ${info.sha256}`);
  }
  return { content, sha256, paid: wallet.amount - startAmount };
}


/** Where the payer's vouchers on `channel` stand according to the node. */
export async function channelStart(rpc: RpcClient, channel: string): Promise<{ amount: bigint; nonce: bigint }> {
  const c = await rpc.call("paych_get", { channel });
  if (!c) throw new CodedError("PAYCH_UNKNOWN_CHANNEL", `no channel ${channel}`);
  // The payer's last voucher is at least the best one the payee's node holds, and at least what was redeemed.
  const best = c.bestVoucher;
  if (best && BigInt(best.nonce) >= BigInt(c.nonce)) return { amount: BigInt(best.amount), nonce: BigInt(best.nonce) };
  return { amount: BigInt(c.redeemed), nonce: BigInt(c.nonce) };
}

async function main(): Promise<void> {
  const usage = "usage: client.ts --url URL --channel HEX --key-file PATH [--rpc URL] [--out FILE]";
  standardFlags(process.argv.slice(2), usage);
  const { values: v } = parseOrUsage("paid-content-client", usage, () =>
    parseArgs({
      args: negativeNumbersAsValues(process.argv.slice(2)),
      options: {
        url: { type: "string", default: "http://127.0.0.1:8700/" },
        rpc: { type: "string", default: process.env.CLOUDCOIN_RPC ?? "http://127.0.0.1:8645/" },
        channel: { type: "string" }, "key-file": { type: "string" }, out: { type: "string" },
        "start-amount": { type: "string" }, "start-nonce": { type: "string" },
      },
    }),
  );
  if (!v.channel || !/^[0-9a-fA-F]{64}$/.test(v.channel) || !v["key-file"]) throw new Error(usage);
  const rpc = new RpcClient(v.rpc);
  const key = await readKeyFile(v["key-file"]);
  const [status, info] = await Promise.all([rpc.call("node_status", {}), fetchInfo(v.url)]);
  const start =
    v["start-amount"] !== undefined && v["start-nonce"] !== undefined
      ? { amount: BigInt(v["start-amount"]), nonce: BigInt(v["start-nonce"]) }
      : await channelStart(rpc, v.channel.toLowerCase());
  const wallet = new VoucherWallet(status.chainId, key, fromHex(v.channel), start);
  const t0 = performance.now();
  const got = await downloadPaid(v.url, wallet, info);
  if (v.out) await writeFile(v.out, got.content);
  process.stdout.write(
    JSON.stringify({ ok: true, chunks: info.chunks, bytes: got.content.length, sha256: got.sha256, paid: got.paid.toString(), amount: wallet.amount.toString(), nonce: wallet.nonce.toString(), ms: Math.round(performance.now() - t0) }) + "\n",
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    process.stdout.write(JSON.stringify({ ok: false, code: (e as { code?: string }).code ?? "ERROR", message: (e as Error).message }) + "\n");
    process.exit(1);
  });
}
