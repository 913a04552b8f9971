/** Test helpers: build valid chains from the devnet genesis (or a variant of it) without a node. */
import "../../modules/index.ts";
import { type Block, type Commit } from "../../chain/block.ts";
import { equalBytes } from "../../primitives/bytes.ts";
import { proposerIndex } from "../../chain/consensus/proposer.ts";
import type { Evidence } from "../../chain/evidence.ts";
import { toAddress, type KeyPair } from "../../primitives/keys.ts";
import { totalHeld, type ChainState, type Validator } from "../../chain/state.ts";
import { applyBlock, buildBlock, type BuiltBlock } from "../../chain/transition.ts";
import { signTx, type Operation, type SignedTx } from "../../chain/tx.ts";
import { VoteType, voteSignBytes } from "../../chain/vote.ts";
import { devnetFaucetKey, devnetGenesisFile, devnetValidatorKey, insecureDevKey } from "../../genesis/devnet.ts";
import { genesisState, validateAndComplete, type Genesis, type GenesisFile } from "../../genesis/schema.ts";
import { eventSchema } from "../../rpc/event-schema.ts";
import { eventJson } from "../../rpc/json.ts";

export interface TestChain {
  genesis: Genesis;
  state: ChainState;
  lastCommit: Commit | null;
  time: bigint;
  /** The devnet validator: the proposer whenever it is the round-0 proposer or no other key is known. */
  validator: KeyPair;
  faucet: KeyPair;
  /** Every validator key the helpers can sign with (genesis validators and any added later). */
  keys: KeyPair[];
}

export interface TestChainOptions {
  /** Genesis validators (default: the devnet validator alone). */
  readonly validators?: readonly { readonly key: KeyPair; readonly power: bigint; readonly name?: string }[];
  /** Overrides of the devnet params. */
  readonly params?: Partial<GenesisFile["params"]>;
  /** Extra genesis balances (validators get 10^15 each, the faucet 10^18). */
  readonly balances?: readonly { readonly key: KeyPair; readonly amount: bigint }[];
}

export function newTestChain(opts: TestChainOptions = {}): TestChain {
  const base = devnetGenesisFile();
  const validators = opts.validators ?? [{ key: devnetValidatorKey(), power: 1_000_000_000_000_000n }];
  const file: GenesisFile = {
    ...base,
    validators: opts.validators ? validators.map((v, i) => ({ name: v.name ?? `test-validator-${i}`, address: toAddress(v.key.publicKey), power: v.power.toString() })) : base.validators,
    balances: opts.validators
      ? [
          { address: toAddress(devnetFaucetKey().publicKey), amount: "1000000000000000000" },
          ...validators.map((v) => ({ address: toAddress(v.key.publicKey), amount: "1000000000000000" })),
          ...(opts.balances ?? []).map((b) => ({ address: toAddress(b.key.publicKey), amount: b.amount.toString() })),
        ]
      : [...base.balances, ...(opts.balances ?? []).map((b) => ({ address: toAddress(b.key.publicKey), amount: b.amount.toString() }))],
    params: { ...base.params, ...opts.params },
  };
  const genesis = validateAndComplete(file);
  return {
    genesis,
    state: genesisState(genesis),
    lastCommit: null,
    time: genesis.genesisTime,
    validator: devnetValidatorKey(),
    faucet: devnetFaucetKey(),
    keys: validators.map((v) => v.key),
  };
}

function keyOf(chain: TestChain, publicKey: Uint8Array): KeyPair | undefined {
  if (equalBytes(chain.validator.publicKey, publicKey)) return chain.validator;
  return chain.keys.find((k) => equalBytes(k.publicKey, publicKey));
}

/**
 * The commit for `block` signed by every member of its set whose key is known, except `absent`.
 * The set is lastValidators if the chain has already advanced to `block`, else the current set.
 */
export function commitFor(chain: TestChain, block: Block, absent: readonly KeyPair[] = []): Commit {
  const h = block.header.height;
  const set: Validator[] = chain.state.meta().height === h ? chain.state.lastValidators() : chain.state.validators();
  const signatures: Commit["signatures"][number][] = [];
  set.forEach((v, validatorIndex) => {
    const key = keyOf(chain, v.publicKey);
    if (!key || absent.some((a) => equalBytes(a.publicKey, v.publicKey))) return;
    signatures.push({ validatorIndex, signature: key.sign(voteSignBytes(chain.genesis.chainId, VoteType.PRECOMMIT, h, 0, block.hash)) });
  });
  return { height: h, round: 0, blockHash: block.hash, signatures };
}

/** The round-0 proposer of the next height if its key is known, else the devnet validator. */
export function nextProposer(chain: TestChain): KeyPair {
  const set = chain.state.validators();
  return keyOf(chain, set[proposerIndex(set, 0)]!.publicKey) ?? chain.validator;
}

export interface BuildOptions {
  readonly evidence?: readonly Evidence[];
  readonly proposer?: KeyPair;
}

/** Builds the next block from `txs` (invalid ones are left out) without advancing the chain. */
export function build(chain: TestChain, txs: SignedTx[], opts: BuildOptions = {}): BuiltBlock {
  return buildBlock(chain.state, txs, {
    chainId: chain.genesis.chainId,
    params: chain.genesis.params,
    proposer: opts.proposer ?? nextProposer(chain),
    time: chain.time + 1000n,
    lastCommit: chain.lastCommit,
    ...(opts.evidence ? { evidence: opts.evidence } : {}),
  });
}

export interface AdvanceOptions extends BuildOptions {
  /** Validators left out of this block's commit (so the next block records them as missing). */
  readonly absent?: readonly KeyPair[];
}

/** Builds the next block and advances the chain to it. */
export function advance(chain: TestChain, txs: SignedTx[], opts: AdvanceOptions = {}): BuiltBlock {
  const built = build(chain, txs, opts);
  chain.state = built.state;
  chain.lastCommit = commitFor(chain, built.block, opts.absent);
  chain.time = built.block.header.time;
  return built;
}

export function tx(chain: TestChain, key: KeyPair, nonce: bigint, op: Operation, fee = 1000n): SignedTx {
  return signTx({ chainId: chain.genesis.chainId, nonce, fee, op }, key);
}

export function transfer(chain: TestChain, key: KeyPair, nonce: bigint, to: KeyPair, amount: bigint, fee = 1000n): SignedTx {
  return tx(chain, key, nonce, { type: "transfer", to: to.publicKey, amount }, fee);
}

/** A transaction from `key` with its next nonce read from the chain's state. */
export function txNext(chain: TestChain, key: KeyPair, op: Operation, fee = 1000n): SignedTx {
  return tx(chain, key, chain.state.account(key.publicKey).nonce, op, fee);
}

export const testKey = (i: number): KeyPair => insecureDevKey(`test-${i}`);

/** The supply invariant: every balance, stake, unbonding amount and escrow (channels, deals,
 * provider collateral) sums to genesis + minted - burned. */
export function supplyHolds(state: ChainState): boolean {
  const m = state.meta();
  return totalHeld(state) === m.genesisSupply + m.minted - m.burned;
}

/**
 * advance(), checking that a follower applying the same block on the pre-state reaches the same
 * root, receipts and events; each problem is passed to `fail`.
 */
export function advanceReplayed(fail: (message: string) => void, chain: TestChain, txs: SignedTx[], opts: AdvanceOptions = {}): BuiltBlock {
  const pre = chain.state;
  const built = advance(chain, txs, opts);
  const replay = applyBlock(pre, built.block, chain.genesis.params, chain.genesis.chainId);
  const h = built.block.header.height;
  if (!equalBytes(replay.state.root(), built.state.root())) fail(`follower root differs at height ${h}`);
  if (replay.events.length !== built.events.length || replay.events.some((e, i) => e.kind !== built.events[i]!.kind)) fail(`follower events differ at height ${h}`);
  return built;
}

/** advanceReplayed(), also checking that every event has its JSON form for the RPC, and that it fits the events schema. */
export function advanceChecked(fail: (message: string) => void, chain: TestChain, txs: SignedTx[], opts: AdvanceOptions = {}): BuiltBlock {
  const built = advanceReplayed(fail, chain, txs, opts);
  for (const e of built.events) {
    const json = eventJson(e);
    if (json?.kind !== e.kind) fail(`event ${e.kind} has no JSON form`);
    const parsed = eventSchema().safeParse(JSON.parse(JSON.stringify(json)));
    if (!parsed.success) fail(`event ${e.kind}: its JSON does not fit the events schema: ${parsed.error.issues.map((i) => `${i.path.join(".")} ${i.message}`).join("; ")}`);
  }
  return built;
}

/** `n` blocks (on a new test chain), each funding `perBlock` new accounts from the faucet, so the state grows. */
export function fundingChain(n: number, perBlock: number): { chain: TestChain; blocks: { block: Block; commit: Commit; built: BuiltBlock }[] } {
  const chain = newTestChain();
  const blocks: { block: Block; commit: Commit; built: BuiltBlock }[] = [];
  for (let i = 0; i < n; i++) {
    const nonce = chain.state.account(chain.faucet.publicKey).nonce;
    const txs = Array.from({ length: perBlock }, (_, j) => tx(chain, chain.faucet, nonce + BigInt(j), { type: "transfer", to: testKey(i * perBlock + j).publicKey, amount: 1000n + BigInt(j) }));
    const built = advance(chain, txs);
    blocks.push({ block: built.block, commit: chain.lastCommit!, built });
  }
  return { chain, blocks };
}
