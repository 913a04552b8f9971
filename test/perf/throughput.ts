/**
 * Figure 1: transactions imported per second on one core (decode + signature check + execution),
 * against the raw native ed25519 verify rate over the same messages and keys, in the same run.
 *
 * Two measured loops:
 *  - "execute only": per tx decodeTx(bytes) + validateTxBasic (includes the chain's `verify`) +
 *    execution on the block's StateWriter, then the block's net changes. No state root.
 *  - "full applyBlock": decodeBlock(bytes) + applyBlock, i.e. additionally the block envelope
 *    decode, header checks (1 seed signature + 1 commit signature per block), tx and receipts
 *    roots, and the state root (tree update + hashing).
 *
 * THE TARGET (ratio >= 0.7) REFERS TO "execute only": it asks how much the per-transaction
 * pipeline costs on top of the signature check it cannot avoid. The state root is a per-block
 * cost that grows with the number of changed accounts and is measured as figure 2; the full
 * ratio is printed so that the sum is visible too.
 *
 * Ceiling: node:crypto `verify(null, txHash, keyObject, signature)` with a KeyObject parsed once
 * per sender beforehand, over exactly the txs of the measured loops.
 *
 * Each repetition runs every loop over the same blocks, each block on its pre-state from the built
 * chain (ChainState is persistent, so the blocks stay valid for every repetition). The verify,
 * decode, validate and execute-only loops are interleaved block by block; the full import then
 * runs in a second phase, so that its garbage (whole new trees) is not collected on the other
 * loops' clocks. Ratios are taken per repetition (paired, which cancels slow drifts of a shared
 * machine) and the median is reported. One untimed repetition first warms the JIT and the key
 * cache. Also timed, for diagnosis: decodeTx alone, validateTxBasic alone, and the state root
 * alone (tree update + root over the block's changes).
 */
import { createPublicKey, verify as nodeVerify, type KeyObject } from "node:crypto";
import { decodeBlock } from "../../chain/block.ts";
import { equalBytes } from "../../primitives/bytes.ts";
import { applyBlock } from "../../chain/transition.ts";
import { clearVerifiedTxCache, decodeTx, validateTxBasic, type SignedTx } from "../../chain/tx.ts";
import { executeBlockTxs, type ExecutedBlock } from "./execute.ts";
import { BENCH_CHAIN_ID, buildChain, prng, signTransfers, type BenchWorld } from "./fixtures.ts";
import { median, timeMs } from "./stats.ts";

export interface ThroughputOptions {
  /** Distinct funded senders used (each sends blocks * txsPerBlock / senders txs). */
  readonly senders: number;
  readonly blocks: number;
  readonly txsPerBlock: number;
  readonly reps: number;
}

export interface ThroughputFigures {
  readonly reps: number;
  readonly txs: number;
  readonly blocks: number;
  readonly txsPerBlock: number;
  readonly senders: number;
  /** Median rates, tx/s. */
  readonly verifyRate: number;
  readonly execRate: number;
  readonly fullRate: number;
  /** Median of the per-repetition ratios against the verify ceiling. */
  readonly execRatio: number;
  readonly fullRatio: number;
  readonly execRates: number[];
  readonly fullRates: number[];
  readonly verifyRates: number[];
  /** Median µs per tx of the pieces, for diagnosis. */
  readonly perTxUs: { verify: number; decode: number; validate: number; exec: number; full: number; stateRoot: number };
  readonly changesPerBlock: number;
}

const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

function spkiKeyObject(publicKey: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: "der", type: "spki" });
}

function sameChanges(a: ExecutedBlock["changes"], b: ExecutedBlock["changes"]): boolean {
  return a.length === b.length && a.every(([k, v], i) => {
    const [k2, v2] = b[i]!;
    return equalBytes(k, k2) && (v === null ? v2 === null : v2 !== null && equalBytes(v, v2));
  });
}

export function benchTxThroughput(world: BenchWorld, opts: ThroughputOptions, log: (s: string) => void): ThroughputFigures {
  const { senders, blocks, txsPerBlock, reps } = opts;
  if (senders % txsPerBlock !== 0 || senders > world.senders.length) throw new Error("bad throughput options");
  const groups = senders / txsPerBlock;

  // Block b is sent by sender group b % groups, each sender with nonce floor(b / groups).
  const rand = prng(1);
  const txsPerBlockList: SignedTx[][] = [];
  for (let b = 0; b < blocks; b++) {
    const nonce = BigInt(Math.floor(b / groups));
    txsPerBlockList.push(signTransfers(world, Array.from({ length: txsPerBlock }, (_, j) => ({ sender: (b % groups) * txsPerBlock + j, nonce })), rand));
  }
  const chain = buildChain(world, world.state, txsPerBlockList);
  const blockBytes = chain.blocks.map((b) => b.bytes);
  const txBytes = chain.blocks.map((b) => b.txs.map((t) => t.bytes));
  const txs = blocks * txsPerBlock;

  // Ceiling inputs: the same messages (tx ids) and signatures, a KeyObject parsed once per sender.
  const keyObjects = new Map<string, KeyObject>();
  const keyObjectOf = (publicKey: Uint8Array): KeyObject => {
    const id = Buffer.from(publicKey).toString("hex");
    let ko = keyObjects.get(id);
    if (!ko) keyObjects.set(id, (ko = spkiKeyObject(publicKey)));
    return ko;
  };
  const ceiling = chain.blocks.map((block) => ({
    kos: block.txs.map((t) => keyObjectOf(t.sender)),
    msgs: block.txs.map((t) => t.hash),
    sigs: block.txs.map((t) => t.signature),
  }));

  // One function per measured loop, each over one block (b = 0-based index in the chain). Every
  // block is imported on its own pre-state from the built chain, so blocks are independent.
  const execOut: ExecutedBlock[] = [];
  const loops = {
    verify: (b: number) => {
      const { kos, msgs, sigs } = ceiling[b]!;
      for (let i = 0; i < kos.length; i++) if (!nodeVerify(null, msgs[i]!, kos[i]!, sigs[i]!)) throw new Error(`ceiling: signature ${i} of block ${b + 1} does not verify`);
    },
    decode: (b: number) => {
      for (const bytes of txBytes[b]!) decodeTx(bytes);
    },
    // Each loop starts with nothing cached: a node importing a block verifies what its mempool did not see.
    validate: (b: number) => {
      clearVerifiedTxCache();
      for (const t of chain.blocks[b]!.txs) validateTxBasic(t, BENCH_CHAIN_ID);
    },
    exec: (b: number) => {
      clearVerifiedTxCache();
      execOut[b] = executeBlockTxs(chain.states[b]!, chain.blocks[b]!, txBytes[b]!, world.params, BENCH_CHAIN_ID);
    },
    full: (b: number) => {
      clearVerifiedTxCache();
      // applyBlock itself fails unless the header's state root and receipts root come out.
      applyBlock(chain.states[b]!, decodeBlock(blockBytes[b]!), world.params, BENCH_CHAIN_ID);
    },
    stateRoot: (b: number) => {
      chain.states[b]!.tree.update(chain.results[b]!.changes).root();
    },
  };
  type Loop = keyof typeof loops;
  const order = Object.keys(loops) as Loop[];
  // Two phases per repetition. The full import builds whole new trees; its garbage must not be
  // collected on the execute-only loop's clock, so it runs after the first phase is done.
  const phases: Loop[][] = [["verify", "decode", "validate", "exec"], ["full", "stateRoot"]];

  // Functional check of the execute-only copy against the real applyBlock, on every repetition.
  const checkExec = () => {
    chain.results.forEach((real, b) => {
      const e = execOut[b]!;
      if (!sameChanges(e.changes, real.changes)) throw new Error(`execute-only copy diverges from applyBlock: state changes of block ${b + 1} differ`);
      if (e.receipts.length !== real.receipts.length || e.receipts.some((r, i) => r.ok !== real.receipts[i]!.ok || r.code !== real.receipts[i]!.code || !equalBytes(r.txHash, real.receipts[i]!.txHash))) {
        throw new Error(`execute-only copy diverges from applyBlock: receipts of block ${b + 1} differ`);
      }
    });
  };

  // Within a phase, loops are interleaved block by block (~0.1-0.3 s each), in alternating order,
  // so that a noisy moment of the shared machine falls on all of them alike.
  const samples: Record<Loop, number[]> = { verify: [], decode: [], validate: [], exec: [], full: [], stateRoot: [] };
  for (let rep = 0; rep <= reps; rep++) {
    const t: Record<Loop, number> = { verify: 0, decode: 0, validate: 0, exec: 0, full: 0, stateRoot: 0 };
    for (const phase of phases) {
      for (let b = 0; b < blocks; b++) {
        for (const name of b % 2 === 0 ? phase : [...phase].reverse()) t[name] += timeMs(() => loops[name](b));
      }
    }
    checkExec();
    if (rep === 0) {
      log(`  warm-up repetition done (${txs} txs: verify ${t.verify.toFixed(0)} ms, execute-only ${t.exec.toFixed(0)} ms, full ${t.full.toFixed(0)} ms)`);
      continue; // warm-up: JIT, key cache
    }
    for (const name of order) samples[name].push(t[name]);
    log(`  repetition ${rep}/${reps}: verify ${((txs * 1000) / t.verify).toFixed(0)}/s, execute-only ${((txs * 1000) / t.exec).toFixed(0)}/s, full ${((txs * 1000) / t.full).toFixed(0)}/s`);
  }

  const rate = (ms: number) => (txs * 1000) / ms;
  const us = (xs: number[]) => (median(xs) * 1000) / txs;
  return {
    reps,
    txs,
    blocks,
    txsPerBlock,
    senders,
    verifyRate: median(samples.verify.map(rate)),
    execRate: median(samples.exec.map(rate)),
    fullRate: median(samples.full.map(rate)),
    execRatio: median(samples.exec.map((ms, i) => samples.verify[i]! / ms)),
    fullRatio: median(samples.full.map((ms, i) => samples.verify[i]! / ms)),
    verifyRates: samples.verify.map(rate),
    execRates: samples.exec.map(rate),
    fullRates: samples.full.map(rate),
    perTxUs: {
      verify: us(samples.verify),
      decode: us(samples.decode),
      validate: us(samples.validate),
      exec: us(samples.exec),
      full: us(samples.full),
      stateRoot: us(samples.stateRoot),
    },
    changesPerBlock: Math.round(chain.results.reduce((s, r) => s + r.changes.length, 0) / blocks),
  };
}
