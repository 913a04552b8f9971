/**
 * The few places where the simulator touches the ledger's API beyond applyBlock/buildBlock, kept
 * together so that a ledger change is absorbed here: the validator set for the next height,
 * building a block (with evidence once blocks carry it), the evidence a block carries, and the
 * ways a Byzantine proposer makes a block that fails applyBlock.
 */
import { makeBlock, type Block, type BlockHeader, type Commit } from "../../chain/block.ts";
import type { KeyPair } from "../../primitives/keys.ts";
import type { ChainParams } from "../../chain/params.ts";
import type { ChainState, Validator } from "../../chain/state.ts";
import { buildBlock, type BuiltBlock } from "../../chain/transition.ts";
import type { SignedTx } from "../../chain/tx.ts";
import type { Evidence } from "../../chain/evidence.ts";
import type { Prng } from "./prng.ts";

/** The validator set (with proposer priorities) of the height after `state`. */
export function validatorSetAfter(state: ChainState): readonly Validator[] {
  return state.validators();
}

export interface BuildArgs {
  readonly chainId: string;
  readonly params: ChainParams;
  readonly proposer: KeyPair;
  readonly time: bigint;
  readonly lastCommit: Commit | null;
  readonly evidence: readonly Evidence[];
}

export function buildSimBlock(state: ChainState, txs: readonly SignedTx[], a: BuildArgs): BuiltBlock {
  return buildBlock(state, txs, { chainId: a.chainId, params: a.params, proposer: a.proposer, time: a.time, lastCommit: a.lastCommit, evidence: a.evidence });
}

export const DEFECTS = ["stateRoot", "parentHash", "time", "txRoot", "evidenceRoot", "lastCommit"] as const;
export type Defect = (typeof DEFECTS)[number];

/**
 * A block that fails applyBlock on `parent`, from a valid one: one header field is wrong (the
 * seed signature stays valid, so the defect is found only by executing or checking the header).
 */
export function corruptBlock(valid: Block, parent: ChainState, defect: Defect, rng: Prng): Block {
  const h: BlockHeader = valid.header;
  const make = (header: BlockHeader, lastCommit = valid.lastCommit): Block => makeBlock(header, valid.txs, lastCommit, valid.evidence);
  switch (defect) {
    case "stateRoot":
      return make({ ...h, stateRoot: rng.bytes(32) });
    case "parentHash":
      return make({ ...h, parentHash: rng.bytes(32) });
    case "time":
      return make({ ...h, time: parent.meta().time });
    case "txRoot":
      return make({ ...h, txRoot: rng.bytes(32) });
    case "evidenceRoot":
      return make({ ...h, evidenceRoot: rng.bytes(32) });
    case "lastCommit":
      // drop the parent's commit (at height 1, invent one): the commit hash no longer matches
      return valid.lastCommit === null
        ? make({ ...h, lastCommitHash: rng.bytes(32) }, null)
        : make(h, { ...valid.lastCommit, signatures: valid.lastCommit.signatures.slice(0, 1) });
  }
}
