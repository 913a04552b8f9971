/** Test helpers: build valid chains from the devnet genesis without a node. */
import { VoteType, voteSignBytes, type Block, type Commit } from "../../chain/block.ts";
import type { KeyPair } from "../../chain/keys.ts";
import type { ChainState } from "../../chain/state.ts";
import { buildBlock, type BuiltBlock } from "../../chain/transition.ts";
import { signTx, type Operation, type SignedTx } from "../../chain/tx.ts";
import { devnetFaucetKey, devnetGenesis, devnetValidatorKey, insecureDevKey } from "../../genesis/devnet.ts";
import { genesisState, type Genesis } from "../../genesis/schema.ts";

export interface TestChain {
  genesis: Genesis;
  state: ChainState;
  lastCommit: Commit | null;
  time: bigint;
  validator: KeyPair;
  faucet: KeyPair;
}

export function newTestChain(): TestChain {
  const genesis = devnetGenesis();
  return { genesis, state: genesisState(genesis), lastCommit: null, time: genesis.genesisTime, validator: devnetValidatorKey(), faucet: devnetFaucetKey() };
}

export function commitFor(chain: TestChain, block: Block): Commit {
  const h = block.header.height;
  return {
    height: h,
    round: 0,
    blockHash: block.hash,
    signatures: [{ validatorIndex: 0, signature: chain.validator.sign(voteSignBytes(chain.genesis.chainId, VoteType.PRECOMMIT, h, 0, block.hash)) }],
  };
}

/** Builds the next block from `txs` (invalid ones are left out) without advancing the chain. */
export function build(chain: TestChain, txs: SignedTx[]): BuiltBlock {
  return buildBlock(chain.state, txs, {
    chainId: chain.genesis.chainId,
    params: chain.genesis.params,
    proposer: chain.validator,
    time: chain.time + 1000n,
    lastCommit: chain.lastCommit,
  });
}

/** Builds the next block and advances the chain to it. */
export function advance(chain: TestChain, txs: SignedTx[]): BuiltBlock {
  const built = build(chain, txs);
  chain.state = built.state;
  chain.lastCommit = commitFor(chain, built.block);
  chain.time = built.block.header.time;
  return built;
}

export function tx(chain: TestChain, key: KeyPair, nonce: bigint, op: Operation, fee = 1000n): SignedTx {
  return signTx({ chainId: chain.genesis.chainId, nonce, fee, op }, key);
}

export function transfer(chain: TestChain, key: KeyPair, nonce: bigint, to: KeyPair, amount: bigint, fee = 1000n): SignedTx {
  return tx(chain, key, nonce, { type: "transfer", to: to.publicKey, amount }, fee);
}

export const testKey = (i: number): KeyPair => insecureDevKey(`test-${i}`);
