/**
 * Proof of storage: how fast validators check storage proofs, how proofs grow with the data, and
 * what a block full of them costs, each next to a ceiling measured in the same run.
 *
 *   node --import tsx test/perf/storage.ts [--reps N] [--json]
 *
 * 1. Verification and size by deal size (4 KiB chunks, k = challengesPerDeal = 4): deals of
 *    1 MiB (2^8 chunks), 1 GiB (2^18) and 1 TiB (2^28). Nobody can hold 1 TiB here, so the
 *    proofs come from a synthetic deal whose chunks are all the same 4 KiB (a deterministic
 *    pseudo-random block): in such a perfect tree every node of a level has the same hash, so
 *    the tree is computed one hash per level (h0 = leaf hash, h(j+1) = node(hj, hj)), the root is
 *    h(d) and the audit path of ANY index is [h0, ..., h(d-1)]. The proof checked is then exactly
 *    as long and as costly as one of real data of that size (verification never looks at other
 *    leaves). The 1 MiB case is cross-checked against a real tree (StorageProver) over the same
 *    bytes: same root, same path. Figures: verifyStorageProof per chunk (µs and per second), a
 *    whole proof (k chunks) per second, and the bytes of the signed storage.proof transaction;
 *    growth is logarithmic: path length d = log2(chunks), so 1 TiB costs 28/8 of 1 MiB in node
 *    hashes, not 2^20 times.
 * 2. A block of 1,000 storage proofs (one per deal, each deal with its own provider since a
 *    provider holds a root once; 1 MiB deals in 4 KiB chunks, so k = 4 chunks with 8-hash paths each) built with buildBlock on a test chain and imported with decodeBlock
 *    + applyBlock on its pre-state (what a follower does). Ceilings, same run: the raw SHA-256
 *    work the proofs need (the k leaf hashes over the chunk bytes and k x d node hashes each,
 *    node:crypto one-shot hash over same-size inputs) and that plus the 1,000 transaction
 *    signature checks (primitives/keys.ts verify, the chain's one rule). Ratio = ceiling / measured.
 *
 * Medians of --reps repetitions (after one warm-up). Timings are never asserted; the run fails
 * only if a proof does not verify or a block is not accepted.
 */
import { hash as oneShotHash } from "node:crypto";
import { availableParallelism } from "node:os";
import { parseArgs } from "node:util";
import { decodeBlock } from "../../chain/block.ts";
import { equalBytes, toHex } from "../../primitives/bytes.ts";
import { epochSeed, firstHeightOfEpoch } from "../../chain/epoch.ts";
import { verify } from "../../primitives/keys.ts";
import { dealCollateralFor, dealId, minPriceFor, signDealAcceptance, type DealTerms } from "../../modules/storage/storage.ts";
import { applyBlock } from "../../chain/transition.ts";
import { clearVerifiedTxCache, signTx, type SignedTx } from "../../chain/tx.ts";
import { leafHash, nodeHash } from "../../proofs/merkle.ts";
import { challengeIndices, StorageProver, verifyStorageProof, type ChunkProof } from "../../proofs/storage.ts";
import { advance, build, newTestChain, testKey, txNext } from "../helpers/chain.ts";
import { applyBlockVerifying } from "../../node/tx-ingest.ts";
import { VerifyPool } from "../../node/verify-pool.ts";
import { fmtInt, fmtMs, fmtRatio, median, spread, table, timeMs } from "./stats.ts";
import { pseudoRandomBytes as prngBytes } from "../helpers/random.ts";

const { values: args } = parseArgs({ options: { reps: { type: "string", default: "5" }, json: { type: "boolean", default: false } } });
const REPS = Math.max(1, Number(args.reps));
const log = (s = ""): void => {
  if (!args.json) console.log(s);
};

const CHUNK = 4096;
const K = 4;
const PROOFS_PER_BLOCK = 1_000;

function fail(message: string): never {
  throw new Error(message);
}

// ---- 1. by deal size ----

interface SizeFigures {
  label: string;
  bytes: bigint;
  chunks: bigint;
  pathLength: number;
  verifyUs: number;
  verifySamples: number[];
  perSecond: number;
  proofsPerSecond: number;
  txBytes: number;
  pathBytesPerProof: number;
  /** The same SHA-256 work (1 leaf hash over the chunk, d node hashes) with node:crypto one-shot hash, per chunk. */
  rawUs: number;
}

/** The synthetic perfect tree of 2^d identical chunks: root and the (shared) audit path. */
function syntheticTree(chunk: Uint8Array, d: number): { root: Uint8Array; path: Uint8Array[] } {
  const path: Uint8Array[] = [];
  let h = leafHash(chunk);
  for (let j = 0; j < d; j++) {
    path.push(h);
    h = nodeHash(h, h);
  }
  return { root: h, path };
}

function bySize(label: string, log2Chunks: number, chunk: Uint8Array): SizeFigures {
  const chunks = 1n << BigInt(log2Chunks);
  const { root, path } = syntheticTree(chunk, log2Chunks);
  const seed = prngBytes(32, 7);
  const id = prngBytes(32, 8);
  const indices = challengeIndices(seed, id, chunks, K);
  const proofs: ChunkProof[] = indices.map((index) => ({ index, chunk, path }));
  for (const p of proofs) if (!verifyStorageProof(root, chunks, p.index, p.chunk, p.path)) fail(`${label}: the synthetic proof does not verify`);
  // a tampered chunk must not verify (guards against a vacuous benchmark)
  const bad = new Uint8Array(chunk);
  bad[0]! ^= 1;
  if (verifyStorageProof(root, chunks, indices[0]!, bad, path)) fail(`${label}: a tampered chunk verified`);
  const tx = signTx({ chainId: "bench", nonce: 0n, fee: 1000n, op: { type: "storage.proof", deal: id, epoch: 1n, chunks: proofs } }, testKey(1));
  const n = Math.max(2_000, Math.round(200_000 / (log2Chunks + 4)));
  const samples: number[] = [];
  const rawSamples: number[] = [];
  const leafInput = Buffer.concat([Buffer.from([0]), chunk]);
  const nodeInput = Buffer.concat([Buffer.from([1]), Buffer.alloc(64, 3)]);
  for (let r = 0; r <= REPS; r++) {
    const ms = timeMs(() => {
      for (let i = 0; i < n; i++) {
        const p = proofs[i & (K - 1)]!;
        if (!verifyStorageProof(root, chunks, p.index, p.chunk, p.path)) fail("verification failed");
      }
    });
    const raw = timeMs(() => {
      for (let i = 0; i < n; i++) {
        oneShotHash("sha256", leafInput, "buffer");
        for (let j = 0; j < log2Chunks; j++) oneShotHash("sha256", nodeInput, "buffer");
      }
    });
    if (r > 0) {
      samples.push((ms * 1000) / n);
      rawSamples.push((raw * 1000) / n);
    }
  }
  const us = median(samples);
  return {
    label, bytes: chunks * BigInt(CHUNK), chunks, pathLength: log2Chunks, verifyUs: us, verifySamples: samples, perSecond: 1e6 / us,
    proofsPerSecond: 1e6 / (us * K), txBytes: tx.size, pathBytesPerProof: K * log2Chunks * 32, rawUs: median(rawSamples),
  };
}

// ---- 2. a block of 1,000 proofs ----

interface BlockFigures {
  proofs: number;
  blockBytes: number;
  buildMs: number;
  decodeMs: number;
  applyMs: number;
  applySamples: number[];
  importMs: number;
  shaMs: number;
  verifyMs: number;
  hashes: number;
  hashedBytes: number;
  shaRatio: number;
  allRatio: number;
  /** As the node imports a proposal: decode, then execute while the verify worker pool checks the signatures. */
  nodeImportMs: number;
  nodeImportSamples: number[];
  nodeAllRatio: number;
  poolSize: number;
}

async function blockOfProofs(): Promise<BlockFigures> {
  // a provider holds a root once: 1,000 providers of the same 1 MiB data, one deal each, as a
  // block's proofs come from many providers
  const PROVIDERS = Array.from({ length: PROOFS_PER_BLOCK }, (_, i) => testKey(20_000 + i));
  const CLIENT = testKey(9002);
  const chain = newTestChain({
    params: { epochLength: 10, challengesPerDeal: K, maxBlockTxs: 5_000, maxBlockBytes: 64 * 1024 * 1024, collateralPerByte: "1", maxDealEpochs: 100 },
    balances: [...PROVIDERS.map((key) => ({ key, amount: 10n ** 13n })), { key: CLIENT, amount: 10n ** 15n }],
  });
  const prover = new StorageProver(prngBytes(1 << 20, 11), CHUNK); // 256 chunks: 8-hash paths
  const mustLand = (b: { rejected: unknown[]; receipts: { ok: boolean; code: string }[] }, what: string) => {
    if (b.rejected.length > 0 || b.receipts.some((r) => !r.ok)) fail(`${what}: ${b.rejected.length} rejected, codes ${[...new Set(b.receipts.map((r) => r.code))].join(",")}`);
  };
  const capacity = 4n * prover.size;
  mustLand(advance(chain, PROVIDERS.map((p) => txNext(chain, p, { type: "provider.register", kind: 0, collateral: capacity * 1n, capacity, multiaddr: "/ip4/127.0.0.1/tcp/1" }))), "register");
  const nonce0 = chain.state.account(CLIENT.publicKey).nonce;
  const ids: Uint8Array[] = [];
  const deals: SignedTx[] = [];
  for (let i = 0; i < PROOFS_PER_BLOCK; i++) {
    const terms: DealTerms = {
      // the chain's minimum price and collateral for the size
      provider: PROVIDERS[i]!.publicKey, root: prover.root, size: prover.size, chunkSize: BigInt(CHUNK), pricePerEpoch: minPriceFor(prover.size, chain.genesis.params), durationEpochs: 10n,
      collateral: dealCollateralFor(prover.size, chain.genesis.params), expiresAtHeight: 100n,
    };
    ids.push(dealId(chain.genesis.chainId, CLIENT.publicKey, terms));
    const op = { type: "storage.deal" as const, terms, providerSignature: signDealAcceptance(chain.genesis.chainId, PROVIDERS[i]!, CLIENT.publicKey, terms) };
    deals.push(signTx({ chainId: chain.genesis.chainId, nonce: nonce0 + BigInt(i), fee: 1000n, op }, CLIENT));
  }
  mustLand(advance(chain, deals), "1,000 deals");
  while (chain.state.meta().height < firstHeightOfEpoch(1n, chain.genesis.params.epochLength)) advance(chain, []);
  const seed = epochSeed(chain.state, 1n) ?? fail("no seed for epoch 1");
  const proofs = ids.map((id, i) =>
    txNext(chain, PROVIDERS[i]!, { type: "storage.proof", deal: id, epoch: 1n, chunks: prover.answer(seed, id, K) }),
  );
  const pre = chain.state;
  let built!: ReturnType<typeof build>;
  const buildMs = timeMs(() => void (built = build(chain, proofs)));
  mustLand(built, "1,000 proofs");
  if (built.events.filter((e) => e.kind === "storageProof").length !== PROOFS_PER_BLOCK) fail("not every proof was accepted");
  const bytes = built.block.bytes;
  const params = chain.genesis.params;
  const chainId = chain.genesis.chainId;

  // the raw work: k leaf hashes over the chunks, k * d node hashes, per proof; and the signatures
  const leafInputs = proofs.flatMap((tx) => (tx.op.type === "storage.proof" ? tx.op.chunks.map((c) => Buffer.concat([Buffer.from([0]), c.chunk])) : []));
  const nodeInput = Buffer.concat([Buffer.from([1]), Buffer.alloc(64, 3)]);
  const nodeHashes = leafInputs.length * 8;
  const sha = (): void => {
    for (const b of leafInputs) oneShotHash("sha256", b, "buffer");
    for (let i = 0; i < nodeHashes; i++) oneShotHash("sha256", nodeInput, "buffer");
  };
  const sigs = (): void => {
    for (const tx of proofs) if (!verify(tx.sender, tx.hash, tx.signature)) fail("a signature does not verify");
  };

  const decodeS: number[] = [];
  const applyS: number[] = [];
  const shaS: number[] = [];
  const verifyS: number[] = [];
  const nodeS: number[] = [];
  const poolSize = Math.max(1, availableParallelism());
  const pool = await VerifyPool.start(poolSize);
  for (let r = 0; r <= REPS; r++) {
    let block!: ReturnType<typeof decodeBlock>;
    const d = timeMs(() => void (block = decodeBlock(bytes)));
    let root!: Uint8Array;
    // a follower that did not see these transactions in gossip checks every signature: no cache
    // hits from the previous repetition (the ceiling counts the 1,000 checks)
    clearVerifiedTxCache();
    const a = timeMs(() => void (root = applyBlock(pre, block, params, chainId).state.root()));
    if (!equalBytes(root, built.state.root())) fail("the follower reached another root");
    const s = timeMs(sha);
    const v = timeMs(sigs);
    // the node's own path for a proposal (ConsensusDriver.prevalidate): executed while the pool checks the signatures
    clearVerifiedTxCache();
    const t0 = performance.now();
    const nodeBlock = decodeBlock(bytes);
    const nodeRoot = (await applyBlockVerifying(pre, nodeBlock, params, chainId, pool)).state.root();
    const n = performance.now() - t0;
    if (!equalBytes(nodeRoot, built.state.root())) fail("the node-style import reached another root");
    if (r === 0) continue; // warm-up
    nodeS.push(n);
    decodeS.push(d);
    applyS.push(a);
    shaS.push(s);
    verifyS.push(v);
  }
  await pool.close();
  const decodeMs = median(decodeS);
  const applyMs = median(applyS);
  const importMs = median(decodeS.map((d, i) => d + applyS[i]!));
  return {
    proofs: PROOFS_PER_BLOCK, blockBytes: bytes.length, buildMs, decodeMs, applyMs, applySamples: applyS, importMs,
    shaMs: median(shaS), verifyMs: median(verifyS), hashes: leafInputs.length + nodeHashes, hashedBytes: leafInputs.reduce((n, b) => n + b.length, 0) + nodeHashes * 65,
    shaRatio: median(shaS.map((s, i) => s / (decodeS[i]! + applyS[i]!))),
    allRatio: median(shaS.map((s, i) => (s + verifyS[i]!) / (decodeS[i]! + applyS[i]!))),
    nodeImportMs: median(nodeS), nodeImportSamples: nodeS, poolSize,
    nodeAllRatio: median(shaS.map((s, i) => (s + verifyS[i]!) / nodeS[i]!)),
  };
}

async function main(): Promise<void> {
  log("Proof of storage benchmark (test/perf/storage.ts)");
  log(`  ${REPS} timed repetitions + 1 warm-up, medians; chunk size ${CHUNK} B, k = ${K} challenged chunks per proof`);
  log();
  log("== 1. Verification cost and proof size by deal size ==");
  log("  (1 GiB and 1 TiB: synthetic deals of identical chunks, see the file comment; 1 MiB cross-checked against a real tree)");
  const chunk = prngBytes(CHUNK, 5);
  // cross-check: the synthetic tree of 2^8 identical chunks is the real tree of those 1 MiB
  const real = new StorageProver(new Uint8Array(256 * CHUNK).map((_, i) => chunk[i % CHUNK]!), CHUNK);
  const synth = syntheticTree(chunk, 8);
  if (!equalBytes(real.root, synth.root) || real.prove(77n).path.some((h, i) => !equalBytes(h, synth.path[i]!))) fail("synthetic tree differs from the real one");
  log(`  cross-check: real 1 MiB tree root ${toHex(real.root).slice(0, 16)}... = synthetic root; audit paths equal`);
  const sizes = [bySize("1 MiB", 8, chunk), bySize("1 GiB", 18, chunk), bySize("1 TiB", 28, chunk)];
  const base = sizes[0]!;
  log(table(
    ["deal", "chunks", "path", "verify/chunk µs", "raw sha µs", "ratio", "chunks/s", "proofs/s (k=4)", "vs 1 MiB", "path B/proof", "proof tx B"],
    sizes.map((s) => [
      s.label, fmtInt(Number(s.chunks)), String(s.pathLength), `${s.verifyUs.toFixed(2)} [${spread(s.verifySamples, (x) => x.toFixed(2))}]`, s.rawUs.toFixed(2),
      fmtRatio(s.rawUs / s.verifyUs), fmtInt(s.perSecond),
      fmtInt(s.proofsPerSecond), `x${fmtRatio(s.verifyUs / base.verifyUs)} (d x${fmtRatio(s.pathLength / base.pathLength)})`, fmtInt(s.pathBytesPerProof), fmtInt(s.txBytes),
    ]),
  ));
  const top = sizes[2]!;
  const perLevel = (top.verifyUs - base.verifyUs) / (top.pathLength - base.pathLength);
  log("  growth: the data grows x2^20 from 1 MiB to 1 TiB; the path (and the node hashes) grow with log2(chunks): 8 -> 18 -> 28.");
  log(`  fit: verify/chunk ~ ${(base.verifyUs - perLevel * base.pathLength).toFixed(1)} µs + ${perLevel.toFixed(2)} µs x path length (linear in d = logarithmic in the data size)`);
  log("  raw sha = the same hashes through node:crypto one-shot hash (the ceiling); ratio = raw / verify");

  log();
  log(`== 2. Importing a block of ${fmtInt(PROOFS_PER_BLOCK)} storage proofs (1 MiB deals, ${K} x 4 KiB chunks with 8-hash paths each) ==`);
  const b = await blockOfProofs();
  log(`  block: ${fmtInt(b.proofs)} storage.proof txs, ${(b.blockBytes / 1024 / 1024).toFixed(1)} MiB; built (buildBlock, proposer side) once in ${fmtMs(b.buildMs)} ms`);
  log(`  import (decodeBlock + applyBlock, state root included): ${fmtMs(b.importMs)} ms  = decode ${fmtMs(b.decodeMs)} + apply ${fmtMs(b.applyMs)} [${spread(b.applySamples, fmtMs)}]`);
  log(`          -> ${fmtInt((b.proofs * 1000) / b.importMs)} storage proofs imported per second`);
  log(`  ceiling raw SHA-256 of the proofs' ${fmtInt(b.hashes)} hashes (${(b.hashedBytes / 1024 / 1024).toFixed(1)} MiB): ${fmtMs(b.shaMs)} ms; ratio ${fmtRatio(b.shaRatio)}`);
  log(`  ceiling SHA-256 + ${fmtInt(b.proofs)} tx signature checks (${fmtMs(b.verifyMs)} ms): ${fmtMs(b.shaMs + b.verifyMs)} ms; ratio ${fmtRatio(b.allRatio)}`);
  log(`  import as the node does a proposal (decode, then execute while its ${b.poolSize}-worker verify pool checks the signatures): ${fmtMs(b.nodeImportMs)} ms [${spread(b.nodeImportSamples, fmtMs)}]; ratio ${fmtRatio(b.nodeAllRatio)} to the same one-core ceiling`);
  log("  (ratio = ceiling / import time, medians of per-repetition pairs; the rest is decoding, chunk-length and index checks, state updates and the state root)");
  if (args.json) console.log(JSON.stringify({ sizes: sizes.map((s) => ({ ...s, bytes: s.bytes.toString(), chunks: s.chunks.toString() })), block: b }));
}

await main();
