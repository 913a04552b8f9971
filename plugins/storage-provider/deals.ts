/**
 * What the storage provider and its client share: deal terms on the wire (JSON), key files,
 * sending a transaction through the node, and the provider's on-disk deal store.
 *
 * Pure chain/ and proofs/ helpers plus the typed RPC client only (docs/architecture.md).
 *
 * On disk, per deal (DIR/deals/):
 *   <id>.data     the client's bytes, as received
 *   <id>.leaves   the RFC 6962 leaf hashes of its chunks, 32 bytes each (so a proof needs no rehash)
 *   <id>.json     {id, client, terms, acceptedAt}
 * The leaf hashes are computed while the upload streams to disk, so memory stays at one chunk
 * plus 32 bytes per chunk; answering a challenge reads k chunks and builds the tree from the
 * leaf hashes (about 64 bytes per chunk, cached per deal).
 */
import { createWriteStream } from "node:fs";
import { mkdir, open, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { once } from "node:events";
import { fromHex, toHex } from "../../primitives/bytes.ts";
import { CodedError } from "../../primitives/errors.ts";
import { fromAddress, toAddress, type KeyPair } from "../../primitives/keys.ts";
import type { DealTerms } from "../../modules/storage/storage.ts";
import { signTx, type Operation } from "../../chain/tx.ts";
import { leafHash, MerkleTree, rootFromLeafHashes } from "../../proofs/merkle.ts";
import { chunkCount, chunkLength, isValidChunkSize, type ChunkProof } from "../../proofs/storage.ts";
import type { ResultOf, RpcClient } from "../../rpc/client.ts";

// ---- terms on the wire ----

export interface TermsJson {
  provider: string;
  root: string;
  size: string;
  chunkSize: number;
  pricePerEpoch: string;
  durationEpochs: string;
  collateral: string;
  expiresAtHeight: string;
}

export function termsToJson(t: DealTerms): TermsJson {
  return {
    provider: toAddress(t.provider), root: toHex(t.root), size: t.size.toString(), chunkSize: Number(t.chunkSize), pricePerEpoch: t.pricePerEpoch.toString(),
    durationEpochs: t.durationEpochs.toString(), collateral: t.collateral.toString(), expiresAtHeight: t.expiresAtHeight.toString(),
  };
}

export function termsFromJson(j: TermsJson): DealTerms {
  return {
    provider: fromAddress(j.provider), root: fromHex(j.root), size: BigInt(j.size), chunkSize: BigInt(j.chunkSize), pricePerEpoch: BigInt(j.pricePerEpoch),
    durationEpochs: BigInt(j.durationEpochs), collateral: BigInt(j.collateral), expiresAtHeight: BigInt(j.expiresAtHeight),
  };
}

/**
 * The HTTP URL of a provider's registered multiaddr (`/ip4/H/tcp/P/http`, also ip6, dns, dns4,
 * dns6 and https), or undefined when it names no HTTP endpoint.
 */
export function httpUrlOfMultiaddr(ma: string): string | undefined {
  const m = /^\/(ip4|ip6|dns|dns4|dns6)\/([^/]+)\/tcp\/(\d{1,5})\/(http|https)\/?$/.exec(ma);
  if (!m || Number(m[3]) > 65535) return undefined;
  const host = m[1] === "ip6" ? `[${m[2]}]` : m[2]!;
  return `${m[4]}://${host}:${m[3]}/`;
}

// ---- keys and transactions ----


/** Waits until `hash` is finalized (or `timeoutMs` passed); the tx_get answer. */
export async function waitFinal(rpc: RpcClient, hash: string, timeoutMs = 30_000): Promise<ResultOf<"tx_get">> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await rpc.call("tx_get", { hash });
    if (r.status === "finalized") return r;
    if (Date.now() > deadline) throw new CodedError("TX_NOT_FINALIZED", `transaction ${hash} not finalized within ${timeoutMs} ms`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

/** Signs `op` at the account's next nonce, sends it with tx_send and waits for finality; throws with the receipt code if it failed. */
export async function sendAndWait(rpc: RpcClient, chainId: string, key: KeyPair, op: Operation, fee = 1000n): Promise<ResultOf<"tx_get">> {
  const account = await rpc.call("state_getAccount", { address: toAddress(key.publicKey) });
  const tx = signTx({ chainId, nonce: BigInt(account.nonce), fee, op }, key);
  const { hash } = await rpc.call("tx_send", { tx: toHex(tx.bytes) });
  const r = await waitFinal(rpc, hash);
  if (!r.receipt?.ok) throw new CodedError(r.receipt?.code ?? "TX_FAILED", `${op.type} failed: ${r.receipt?.code}`);
  return r;
}

// ---- the provider's deal store ----

export interface StoredDeal {
  readonly id: string;
  readonly client: string;
  readonly terms: TermsJson;
  readonly acceptedAt: number;
  /** The storage order of a network deal (its terms: the order's, collateral size x collateralPerByte, expiresAtHeight the placement's last block). */
  readonly order?: string;
}

/** An upload streamed to disk: its size, root and chunk count (the leaf hashes are written next to it). */
export interface Ingested {
  readonly tmp: string;
  readonly size: bigint;
  readonly root: Uint8Array;
  readonly chunkCount: bigint;
}

export class DealStoreError extends CodedError<"TOO_LARGE" | "EMPTY" | "BAD_CHUNK_SIZE" | "UNKNOWN_DEAL"> {}

export class DealStore {
  readonly dir: string;
  readonly #deals = new Map<string, StoredDeal>();
  readonly #trees = new Map<string, MerkleTree>();
  #tmpSeq = 0;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** Opens DIR/deals, loading the deals accepted before (and dropping unfinished uploads). */
  static async open(dir: string): Promise<DealStore> {
    const s = new DealStore(join(dir, "deals"));
    await mkdir(s.dir, { recursive: true });
    for (const f of await readdir(s.dir)) {
      if (f.startsWith("upload-")) await rm(join(s.dir, f), { force: true });
      else if (f.endsWith(".json")) {
        const d = JSON.parse(await readFile(join(s.dir, f), "utf8")) as StoredDeal;
        s.#deals.set(d.id, d);
      }
    }
    return s;
  }

  get(id: string): StoredDeal | undefined {
    return this.#deals.get(id);
  }

  list(): StoredDeal[] {
    return [...this.#deals.values()];
  }

  /**
   * Streams `body` to a temporary file in chunks of `chunkSize`, writing each chunk's leaf hash
   * to a second file; refuses more than `maxSize` bytes. Nothing is a deal until `commit`.
   */
  async ingest(body: AsyncIterable<Uint8Array>, chunkSize: number, maxSize: bigint): Promise<Ingested> {
    if (!isValidChunkSize(chunkSize)) throw new DealStoreError("BAD_CHUNK_SIZE", `chunk size ${chunkSize} is not a power of two in [256, 65536]`);
    const tmp = join(this.dir, `upload-${process.pid}-${this.#tmpSeq++}`);
    const data = createWriteStream(`${tmp}.data`);
    const leaves: Uint8Array[] = [];
    const partial = new Uint8Array(chunkSize);
    let fill = 0;
    let size = 0n;
    try {
      for await (const piece of body) {
        size += BigInt(piece.length);
        if (size > maxSize) throw new DealStoreError("TOO_LARGE", `more than ${maxSize} bytes`);
        if (!data.write(piece)) await once(data, "drain");
        let off = 0;
        while (off < piece.length) {
          const take = Math.min(chunkSize - fill, piece.length - off);
          partial.set(piece.subarray(off, off + take), fill);
          fill += take;
          off += take;
          if (fill === chunkSize) {
            leaves.push(leafHash(partial));
            fill = 0;
          }
        }
      }
      if (fill > 0) leaves.push(leafHash(partial.subarray(0, fill)));
      data.end();
      await once(data, "close");
      if (size === 0n) throw new DealStoreError("EMPTY", "no data");
      const packed = new Uint8Array(leaves.length * 32);
      leaves.forEach((h, i) => packed.set(h, i * 32));
      await writeFile(`${tmp}.leaves`, packed);
      return { tmp, size, root: rootFromLeafHashes(leaves), chunkCount: chunkCount(size, chunkSize) };
    } catch (e) {
      data.destroy();
      await this.discard(tmp);
      throw e;
    }
  }

  async discard(tmp: string): Promise<void> {
    await Promise.all([rm(`${tmp}.data`, { force: true }), rm(`${tmp}.leaves`, { force: true })]);
  }

  /** Keeps an ingested upload as deal `d.id`. */
  async commit(tmp: string, d: StoredDeal): Promise<void> {
    await rename(`${tmp}.data`, join(this.dir, `${d.id}.data`));
    await rename(`${tmp}.leaves`, join(this.dir, `${d.id}.leaves`));
    await writeFile(join(this.dir, `${d.id}.json`), JSON.stringify(d, null, 2) + "\n");
    this.#deals.set(d.id, d);
  }

  /** The answers to `indices` (in that order) for a deal held here: each chunk read from disk with its audit path. */
  async prove(id: string, indices: readonly bigint[]): Promise<ChunkProof[]> {
    const d = this.#deals.get(id);
    if (!d) throw new DealStoreError("UNKNOWN_DEAL", `no data for deal ${id}`);
    let tree = this.#trees.get(id);
    if (!tree) {
      const packed = await readFile(join(this.dir, `${id}.leaves`));
      const hashes = Array.from({ length: packed.length / 32 }, (_, i) => new Uint8Array(packed.subarray(i * 32, i * 32 + 32)));
      tree = MerkleTree.fromLeafHashes(hashes);
      this.#trees.set(id, tree);
    }
    const size = BigInt(d.terms.size);
    const fh = await open(join(this.dir, `${id}.data`), "r");
    try {
      const out: ChunkProof[] = [];
      for (const index of indices) {
        const length = chunkLength(size, d.terms.chunkSize, index);
        const chunk = new Uint8Array(length);
        const { bytesRead } = await fh.read(chunk, 0, length, Number(index) * d.terms.chunkSize);
        if (bytesRead !== length) throw new DealStoreError("UNKNOWN_DEAL", `deal ${id}: the data file is short`);
        out.push({ index, chunk, path: tree.auditPath(Number(index)) });
      }
      return out;
    } finally {
      await fh.close();
    }
  }

  /** Drops a deal's data (after it ended on chain). */
  async remove(id: string): Promise<void> {
    this.#deals.delete(id);
    this.#trees.delete(id);
    await Promise.all(["data", "leaves", "json"].map((ext) => rm(join(this.dir, `${id}.${ext}`), { force: true })));
  }
}
