/**
 * Makes a storage deal for a file with a provider (provider.ts): computes the file's deal root
 * locally, uploads the file with the proposed terms, checks the provider's answer (same root,
 * size, chunk size, price, duration and collateral; its signature over the terms for this client
 * and chain), then signs and sends storage.deal itself, which locks price x duration in escrow.
 *
 * Run: node --import tsx plugins/storage-provider/client.ts --rpc URL --key FILE --provider URL --file FILE
 *        [--chunk-size 4096] [--price-per-epoch UNITS] [--duration EPOCHS] [--collateral UNITS]
 * Prints one JSON line {ok, dealId, hash, height, root, size, escrow, ...}; exits 1 on failure.
 */
import "../../modules/index.ts";
import { createReadStream } from "node:fs";
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
import { readSeedFile, sendAndWait, termsFromJson, type TermsJson } from "./deals.ts";
import { standardFlags } from "../shared/cli.ts";

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

async function main(): Promise<void> {
  standardFlags(process.argv.slice(2), "usage: client.ts --rpc URL --key FILE --provider URL --file FILE [--chunk-size N] [--price-per-epoch UNITS] [--duration EPOCHS] [--collateral UNITS]");
  const { values: v } = parseArgs({
    options: {
      rpc: { type: "string", default: process.env.CLOUDCOIN_RPC ?? "http://127.0.0.1:8645/" },
      key: { type: "string" }, provider: { type: "string", default: "http://127.0.0.1:8710/" }, file: { type: "string" },
      "chunk-size": { type: "string", default: "4096" }, "price-per-epoch": { type: "string", default: "1000" },
      duration: { type: "string", default: "10" }, collateral: { type: "string", default: "1000" },
    },
  });
  if (!v.key || !v.file) throw new CodedError("USAGE", "usage: client.ts --rpc URL --key FILE --provider URL --file FILE [--chunk-size N] [--price-per-epoch UNITS] [--duration EPOCHS] [--collateral UNITS]");
  const made = await makeDeal({
    rpcUrl: v.rpc, key: await readSeedFile(v.key), providerUrl: v.provider, file: v.file, chunkSize: Number(v["chunk-size"]),
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
