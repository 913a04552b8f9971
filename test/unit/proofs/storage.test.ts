/**
 * proofs/storage.ts: chunking, deal roots (one-shot and streamed), challenge indices against an
 * independent implementation of their definition, and the proof check: every challenged chunk
 * of random data verifies, and any change to the chunk, the path or the index fails.
 */
import fc from "fast-check";
import t from "tap";
import { createHash } from "node:crypto";
import { encode as cborEncode } from "cborg";
import { concatBytes, toHex } from "../../../primitives/bytes.ts";
import { MerkleAccumulator, merkleRoot } from "../../../proofs/merkle.ts";
import {
  ChunkedRootBuilder, StorageProver, challengeIndices, chunkCount, chunkLength, dealRoot, isValidChunkSize, isValidDealShape, MAX_CHUNK_COUNT,
  MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, splitChunks, verifyStorageProof,
} from "../../../proofs/storage.ts";
import { pseudoRandomBytes as bytes } from "../../helpers/random.ts";

t.test("chunk size rule: powers of two in [256, 65536]", async (t) => {
  for (const n of [256, 512, 1024, 4096, 32768, 65536]) t.ok(isValidChunkSize(n), `${n} is valid`);
  for (const n of [0, 1, 128, 255, 257, 384, 1000, 65535, 131072, -256]) t.notOk(isValidChunkSize(n), `${n} is not`);
  t.equal(MIN_CHUNK_SIZE, 256);
  t.equal(MAX_CHUNK_SIZE, 65536);
  t.ok(isValidChunkSize(4096n), "bigints too");
});

t.test("chunk count and chunk lengths", async (t) => {
  t.equal(chunkCount(1n, 256), 1n);
  t.equal(chunkCount(256n, 256), 1n);
  t.equal(chunkCount(257n, 256), 2n);
  t.equal(chunkCount(1000n, 256), 4n);
  t.equal(chunkCount(MAX_CHUNK_COUNT * 65536n, 65536), MAX_CHUNK_COUNT, "2^40 chunks of 64 KiB");
  t.ok(isValidDealShape(MAX_CHUNK_COUNT * 256n, 256), "exactly 2^40 chunks is allowed");
  t.notOk(isValidDealShape(MAX_CHUNK_COUNT * 256n + 1n, 256), "one byte more is 2^40 + 1 chunks");
  t.notOk(isValidDealShape(0n, 256), "size 0");
  t.notOk(isValidDealShape(10n, 300), "bad chunk size");
  t.throws(() => chunkCount(0n, 256), RangeError, "size 0 has no chunk count");
  t.throws(() => chunkCount(10n, 100), RangeError, "nor a bad chunk size");
  t.equal(chunkLength(1000n, 256, 0n), 256);
  t.equal(chunkLength(1000n, 256, 2n), 256);
  t.equal(chunkLength(1000n, 256, 3n), 1000 - 768, "the last chunk holds the rest");
  t.equal(chunkLength(1024n, 256, 3n), 256, "a full last chunk");
  t.throws(() => chunkLength(1000n, 256, 4n), RangeError, "past the end");
});

t.test("splitting: fixed-size views, a short last chunk, nothing lost", async (t) => {
  const data = bytes(1000, 7);
  const chunks = splitChunks(data, 256);
  t.same(chunks.map((c) => c.length), [256, 256, 256, 232]);
  t.equal(toHex(concatBytes(...chunks)), toHex(data), "the chunks concatenate to the data");
  t.same(splitChunks(bytes(512), 256).map((c) => c.length), [256, 256], "no empty last chunk");
  t.throws(() => splitChunks(new Uint8Array(0), 256), RangeError, "empty data");
  t.throws(() => splitChunks(data, 100), RangeError, "bad chunk size");
});

t.test("deal root = RFC 6962 root over the chunks, one-shot and streamed in any pieces", async (t) => {
  const data = bytes(10_000, 3);
  const root = dealRoot(data, 512);
  t.equal(toHex(root), toHex(merkleRoot(splitChunks(data, 512))));
  t.not(toHex(root), toHex(dealRoot(data, 256)), "the chunk size changes the root");
  // streamed, in pieces of awkward sizes
  for (const piece of [1, 7, 511, 512, 513, 3000, 10_000]) {
    const b = new ChunkedRootBuilder(512);
    for (let off = 0; off < data.length; off += piece) b.update(data.subarray(off, off + piece));
    const d = b.digest();
    t.equal(toHex(d.root), toHex(root), `pieces of ${piece} bytes`);
    t.equal(d.size, 10_000n);
    t.equal(d.chunkCount, 20n);
  }
  const b = new ChunkedRootBuilder(256);
  t.throws(() => b.digest(), RangeError, "no data, no root");
  b.update(data.subarray(0, 300));
  const early = b.digest();
  t.equal(toHex(early.root), toHex(dealRoot(data.subarray(0, 300), 256)), "a digest mid-stream is the root of the prefix");
  b.update(data.subarray(300, 1000));
  t.equal(toHex(b.digest().root), toHex(dealRoot(data.subarray(0, 1000), 256)), "and the builder goes on after it");
  t.throws(() => new ChunkedRootBuilder(1000), RangeError, "bad chunk size");
});

t.test("a large file streams in pieces to the same root", async (t) => {
  const data = bytes(4 * 1024 * 1024 + 123, 11);
  const b = new ChunkedRootBuilder(4096);
  for (let off = 0; off < data.length; off += 65_000) b.update(data.subarray(off, off + 65_000));
  t.equal(toHex(b.digest().root), toHex(dealRoot(data, 4096)));
});

t.test("MerkleAccumulator matches merkleRoot for every size 0..130", async (t) => {
  const leaves = Array.from({ length: 130 }, (_, i) => bytes(i % 5, i + 1));
  const acc = new MerkleAccumulator();
  t.equal(toHex(acc.root()), toHex(merkleRoot([])), "empty");
  let bad = 0;
  for (let n = 1; n <= leaves.length; n++) {
    acc.push(leaves[n - 1]!);
    if (toHex(acc.root()) !== toHex(merkleRoot(leaves.slice(0, n)))) bad++;
  }
  t.equal(bad, 0, "every prefix");
  t.equal(acc.size, 130);
  const copy = acc.clone();
  copy.push(bytes(3));
  t.equal(toHex(acc.root()), toHex(merkleRoot(leaves)), "a clone leaves the original alone");
  t.throws(() => acc.pushLeafHash(new Uint8Array(31)), RangeError);
});

/** The challenge rule written out again with node:crypto and cborg directly. */
function referenceIndices(seed: Uint8Array, deal: Uint8Array, count: bigint, k: number): bigint[] {
  const tag = Buffer.from("cloudcoin/challenge/v1");
  const out: bigint[] = [];
  for (let i = 0; i < k; i++) {
    const h = createHash("sha256").update(Buffer.from([tag.length])).update(tag).update(cborEncode([seed, deal, i])).digest();
    out.push(h.readBigUInt64BE(0) % count);
  }
  return out;
}

t.test("challenge indices: the published rule, deterministic, in range", async (t) => {
  const seed = bytes(32, 5);
  const deal = bytes(32, 6);
  t.same(challengeIndices(seed, deal, 1000n, 4), referenceIndices(seed, deal, 1000n, 4), "u64be(H(tag, cbor[seed, deal, i]))[0..8] mod count");
  t.same(challengeIndices(seed, deal, 1000n, 4), challengeIndices(seed, deal, 1000n, 4), "deterministic");
  t.same(challengeIndices(seed, deal, 1000n, 6).slice(0, 4), challengeIndices(seed, deal, 1000n, 4), "k more challenges extend the list");
  t.not(challengeIndices(seed, deal, MAX_CHUNK_COUNT, 4).join(), challengeIndices(bytes(32, 9), deal, MAX_CHUNK_COUNT, 4).join(), "another seed, other indices");
  t.not(challengeIndices(seed, deal, MAX_CHUNK_COUNT, 4).join(), challengeIndices(seed, bytes(32, 9), MAX_CHUNK_COUNT, 4).join(), "another deal, other indices");
  t.same(challengeIndices(seed, deal, 1n, 3), [0n, 0n, 0n], "a one-chunk deal is challenged at 0");
  t.same(challengeIndices(seed, deal, 10n, 0), [], "k = 0");
  t.throws(() => challengeIndices(seed, deal, 0n, 4), RangeError);
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.bigInt({ min: 1n, max: MAX_CHUNK_COUNT }), (s, d, count) => {
      const got = challengeIndices(s, d, count, 4);
      return got.length === 4 && got.every((i) => i >= 0n && i < count) && got.join() === referenceIndices(s, d, count, 4).join();
    }),
    { numRuns: 200 },
  );
  // indices of a large deal use the high bits: they are spread over the whole range
  const big = challengeIndices(seed, deal, MAX_CHUNK_COUNT, 12);
  t.ok(big.some((i) => i > 1n << 36n), "some index above 2^36 among 12 of 2^40");
});

t.test("every challenged chunk proves; a changed chunk, path, index or count does not", async (t) => {
  const sizes = fc.constantFrom(256, 512, 1024, 2048);
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 40_000 }), sizes, fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.integer({ min: 1, max: 1_000_000 }), (size, chunkSize, seed, dataSeed) => {
      const data = bytes(size, dataSeed);
      const prover = new StorageProver(data, chunkSize);
      const count = prover.chunkCount;
      if (toHex(prover.root) !== toHex(dealRoot(data, chunkSize))) return false;
      for (const p of prover.answer(seed, bytes(32, dataSeed + 1), 4)) {
        if (!verifyStorageProof(prover.root, count, p.index, p.chunk, p.path)) return false;
        if (p.chunk.length !== chunkLength(BigInt(size), chunkSize, p.index)) return false;
        // a flipped bit of the chunk
        const chunk = Uint8Array.from(p.chunk);
        chunk[chunk.length >> 1]! ^= 1;
        if (verifyStorageProof(prover.root, count, p.index, chunk, p.path)) return false;
        // a truncated chunk
        if (verifyStorageProof(prover.root, count, p.index, p.chunk.subarray(0, p.chunk.length - 1), p.path)) return false;
        if (p.path.length > 0) {
          // a flipped bit of the path, a dropped or an extra hash
          const path = p.path.map((h) => Uint8Array.from(h));
          path[path.length - 1]![0]! ^= 0x80;
          if (verifyStorageProof(prover.root, count, p.index, p.chunk, path)) return false;
          if (verifyStorageProof(prover.root, count, p.index, p.chunk, p.path.slice(1))) return false;
          if (verifyStorageProof(prover.root, count, p.index, p.chunk, [...p.path, p.path[0]!])) return false;
          // another index, the right chunk and path of this one
          if (verifyStorageProof(prover.root, count, (p.index + 1n) % count, p.chunk, p.path)) return false;
        }
        // another root
        if (verifyStorageProof(bytes(32, 99), count, p.index, p.chunk, p.path)) return false;
      }
      return true;
    }),
    { numRuns: 150 },
  );
  t.pass("property held");
});

t.test("verifyStorageProof rejects out-of-range inputs without throwing", async (t) => {
  const prover = new StorageProver(bytes(3000), 256);
  const p = prover.prove(5n);
  t.ok(verifyStorageProof(prover.root, 12n, 5n, p.chunk, p.path), "the good one");
  t.notOk(verifyStorageProof(prover.root, 12n, 12n, p.chunk, p.path), "index = count");
  t.notOk(verifyStorageProof(prover.root, 12n, -1n, p.chunk, p.path), "negative index");
  t.notOk(verifyStorageProof(prover.root, 0n, 0n, p.chunk, p.path), "count 0");
  t.notOk(verifyStorageProof(prover.root, MAX_CHUNK_COUNT + 1n, 5n, p.chunk, p.path), "count above 2^40");
  t.notOk(verifyStorageProof(prover.root, 12n, 5n, p.chunk, Array.from({ length: 41 }, () => new Uint8Array(32))), "a path of 41 hashes");
  t.notOk(verifyStorageProof(new Uint8Array(31), 12n, 5n, p.chunk, p.path), "a short root");
  t.notOk(verifyStorageProof(prover.root, 12n, 5n, p.chunk, [new Uint8Array(5)]), "a short hash");
  t.notOk(verifyStorageProof(prover.root, 12 as unknown as bigint, 5n, p.chunk, p.path), "a number count");
  t.notOk(verifyStorageProof(prover.root, 12n, 5n, "x" as unknown as Uint8Array, p.path), "garbage chunk");
  t.notOk(verifyStorageProof(prover.root, 12n, 5n, p.chunk, null as unknown as Uint8Array[]), "garbage path");
});
