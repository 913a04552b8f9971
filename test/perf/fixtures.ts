/**
 * Deterministic benchmark data: a genesis with many funded accounts, signed transfers between
 * them, and chains of real blocks built with the real `buildBlock`.
 *
 * Everything is derived from fixed labels and a seeded PRNG, so every run (and every child
 * process of a run) sees the same accounts, transactions and roots.
 */
import { VoteType, voteSignBytes, type Block, type Commit } from "../../chain/block.ts";
import { utf8 } from "../../primitives/bytes.ts";
import { sha256 } from "../../primitives/hash.ts";
import { toAddress, type KeyPair } from "../../primitives/keys.ts";
import type { ChainParams } from "../../chain/params.ts";
import type { ChainState } from "../../chain/state.ts";
import { buildBlock, type BlockResult } from "../../chain/transition.ts";
import { signTx, type SignedTx } from "../../chain/tx.ts";
import { devnetParams, devnetValidatorKey, insecureDevKey } from "../../genesis/devnet.ts";
import { genesisState, validateAndComplete, type Genesis, type GenesisFile } from "../../genesis/schema.ts";

export const BENCH_CHAIN_ID = "cloudcoin-bench-1";
export const GENESIS_TIME_MS = Date.parse("2026-01-01T00:00:00.000Z");

/** Balances: enough for thousands of transfers per sender, and the total stays far below u64. */
const SENDER_BALANCE = 1_000_000_000_000n; // 1,000 CLC
export const ACCOUNT_BALANCE = 1_000_000_000n; // 1 CLC
const VALIDATOR_POWER = 1_000_000_000_000_000n;
export const TRANSFER_FEE = 1_000n;

/** The devnet's parameters: the benchmark measures the chain as configured by default. */
export const benchParams = devnetParams();

/** mulberry32: a tiny seeded PRNG, so "random" recipients are the same in every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Public key of plain (non-sending) account i. These accounts only receive, so they need no
 * private key: any 32 bytes are a valid account key for the state and for an address.
 */
export function plainAccountKey(i: number): Uint8Array {
  return sha256(utf8.encode(`cloudcoin bench account ${i}`));
}

export const senderKey = (i: number): KeyPair => insecureDevKey(`bench-sender-${i}`);

export interface BenchWorld {
  readonly genesis: Genesis;
  readonly state: ChainState;
  readonly params: ChainParams;
  readonly validator: KeyPair;
  /** Funded accounts with private keys. */
  readonly senders: readonly KeyPair[];
  /** Every funded account's public key (senders first), the pool recipients are drawn from. */
  readonly accounts: readonly Uint8Array[];
}

/**
 * A genesis with `senders` funded key pairs plus plain accounts up to `totalAccounts` in all,
 * built through the real genesis path (`validateAndComplete` + `genesisState`).
 */
export function buildWorld(opts: { senders: number; totalAccounts: number }): BenchWorld {
  const validator = devnetValidatorKey();
  const senders = Array.from({ length: opts.senders }, (_, i) => senderKey(i));
  const accounts: Uint8Array[] = senders.map((k) => k.publicKey);
  for (let i = 0; accounts.length < opts.totalAccounts; i++) accounts.push(plainAccountKey(i));
  const file: GenesisFile = {
    chainId: BENCH_CHAIN_ID,
    genesisTime: new Date(GENESIS_TIME_MS).toISOString(),
    validators: [{ name: "bench-validator-0 (INSECURE key)", address: toAddress(validator.publicKey), power: VALIDATOR_POWER.toString() }],
    balances: accounts.map((pk, i) => ({ address: toAddress(pk), amount: (i < senders.length ? SENDER_BALANCE : ACCOUNT_BALANCE).toString() })),
    params: benchParams,
  };
  const genesis = validateAndComplete(file);
  const state = genesisState(genesis);
  // Hash the whole tree once, as a running node has (it checks the root on load): later roots
  // then hash only what a block changes.
  state.root();
  return { genesis, state, params: genesis.params, validator, senders, accounts };
}

/**
 * Signed transfers, one per item: sender `world.senders[sender]` with that nonce sends a small
 * amount to a recipient drawn from all accounts by `rand` (never itself), so none can fail.
 */
export function signTransfers(world: BenchWorld, items: readonly { sender: number; nonce: bigint }[], rand: () => number): SignedTx[] {
  return items.map(({ sender, nonce }) => {
    const key = world.senders[sender]!;
    let to = world.accounts[Math.floor(rand() * world.accounts.length)]!;
    if (to === key.publicKey) to = world.accounts[(sender + 1) % world.accounts.length]!;
    const amount = 1_000n + BigInt(Math.floor(rand() * 1_000_000));
    return signTx({ chainId: BENCH_CHAIN_ID, nonce, fee: TRANSFER_FEE, op: { type: "transfer", to, amount } }, key);
  });
}

/** The commit a single validator signs for `block` (its +2/3 precommit). */
export function commitFor(world: BenchWorld, block: Block): Commit {
  const msg = voteSignBytes(BENCH_CHAIN_ID, VoteType.PRECOMMIT, block.header.height, 0, block.hash);
  return { height: block.header.height, round: 0, blockHash: block.hash, signatures: [{ validatorIndex: 0, signature: world.validator.sign(msg) }] };
}

export interface BuiltChain {
  readonly blocks: Block[];
  /** commits[i] finalizes blocks[i]. */
  readonly commits: Commit[];
  /** states[0] is the start state; states[i + 1] is the state after blocks[i]. */
  readonly states: ChainState[];
  readonly results: BlockResult[];
}

/**
 * Builds consecutive blocks on `start` with the real `buildBlock`; fails if any transaction is
 * left out (all are valid by construction, so a rejection is a functional bug).
 */
export function buildChain(world: BenchWorld, start: ChainState, txsPerBlock: readonly SignedTx[][]): BuiltChain {
  const blocks: Block[] = [];
  const commits: Commit[] = [];
  const states: ChainState[] = [start];
  const results: BlockResult[] = [];
  let state = start;
  let lastCommit: Commit | null = null;
  for (const txs of txsPerBlock) {
    const height = state.meta().height + 1n;
    const built = buildBlock(state, txs, {
      chainId: BENCH_CHAIN_ID,
      params: world.params,
      proposer: world.validator,
      time: BigInt(GENESIS_TIME_MS) + height * 1000n,
      lastCommit,
    });
    if (built.rejected.length > 0 || built.block.txs.length !== txs.length) {
      const first = built.rejected[0];
      throw new Error(`buildBlock rejected ${built.rejected.length} of ${txs.length} valid transactions${first ? `: ${first.error.code} ${first.error.message}` : ""}`);
    }
    const failed = built.receipts.filter((r) => !r.ok);
    if (failed.length > 0) throw new Error(`${failed.length} transfers failed in block ${height}: ${failed[0]!.code}`);
    const commit = commitFor(world, built.block);
    blocks.push(built.block);
    commits.push(commit);
    results.push(built);
    states.push(built.state);
    state = built.state;
    lastCommit = commit;
  }
  return { blocks, commits, states, results };
}
