/**
 * The gossip topics of one chain and their validators (DESIGN.md section 11: arbitrary bytes
 * from peers are rejected with a clear reason and the peer penalized, nothing else affected).
 *
 *   /cloudcoin/<chainId>/tx/1           transactions (tx envelope bytes)
 *   /cloudcoin/<chainId>/proposal/1     consensus proposals  (chain/consensus/messages.ts)
 *   /cloudcoin/<chainId>/vote/1         consensus votes      (chain/consensus/messages.ts)
 *   /cloudcoin/<chainId>/evidence/1     duplicate-vote evidence (chain/evidence.ts)
 *   /cloudcoin/<chainId>/attestation/1  proof transactions: storage.proof, bandwidth.attest
 *
 * Each validator runs the stateless checks first (size, decoding, shape, chain id), then the
 * stateful ones (height, membership, signature) and delivers what passes. Verdicts:
 *   reject  the message is invalid whoever forwards it (malformed, bad signature, unknown
 *           signer at a height we can check): the forwarding peer is penalized
 *   ignore  not checkable or not useful now (another height, already known, pool full)
 *   accept  delivered and forwarded
 */
import { proposalSignBytes } from "../chain/block.ts";
import { decodeInput, MAX_MESSAGE_BYTES, MessageError } from "../chain/consensus/messages.ts";
import { proposerIndex } from "../chain/consensus/proposer.ts";
import type { Proposal, Vote } from "../chain/consensus/types.ts";
import { CodedError } from "../chain/errors.ts";
import { decodeEvidence, EvidenceErrorCode, MAX_EVIDENCE_BYTES, type Evidence } from "../chain/evidence.ts";
import { verify } from "../chain/keys.ts";
import type { Validator } from "../chain/state.ts";
import { decodeTx, MAX_TX_BYTES, OpCode, TxErrorCode, type SignedTx } from "../chain/tx.ts";
import { voteSignBytes } from "../chain/vote.ts";
import type { TopicHandler, Verdict } from "./host.ts";

export function topicNames(chainId: string) {
  const t = (name: string) => `/cloudcoin/${chainId}/${name}/1`;
  return { tx: t("tx"), proposal: t("proposal"), vote: t("vote"), evidence: t("evidence"), attestation: t("attestation") } as const;
}
export type TopicKind = keyof ReturnType<typeof topicNames>;

/** A vote is a fixed handful of fields; anything larger is not one. */
export const MAX_VOTE_MESSAGE_BYTES = 256;

/** What the consensus topics need from the node. */
export interface ConsensusView {
  readonly chainId: string;
  /** The height consensus is deciding and its round. */
  position(): { height: bigint; round: number };
  /** The validator set of that height. */
  validators(): readonly Validator[];
  /** Hands a verified proposal or vote to the consensus driver. */
  deliver(input: { type: "proposal"; proposal: Proposal } | { type: "vote"; vote: Vote }): void;
  /** A peer sent a message of `height`: it has decided at least height - 1. */
  peerAt(peer: string, height: bigint): void;
}

/** Submission of transactions and evidence: returns normally when taken, throws CodedError otherwise. */
export interface PoolView {
  /** Admits a transaction to the mempool (stateless checks, then fee and balance). */
  admitTx(tx: SignedTx): void;
  /** Pools evidence after verifying it against the head. */
  addEvidence(ev: Evidence): boolean;
}

/** Transaction errors that are the sender's fault whoever relays them: the relay is penalized. */
const TX_REJECT = new Set<string>([
  TxErrorCode.MALFORMED, TxErrorCode.TOO_LARGE, TxErrorCode.WRONG_CHAIN_ID, TxErrorCode.BAD_SIGNATURE,
  TxErrorCode.UNKNOWN_OPERATION, TxErrorCode.INVALID_OPERATION, TxErrorCode.FEE_TOO_LOW,
]);
const EVIDENCE_REJECT = new Set<string>([
  EvidenceErrorCode.MALFORMED, EvidenceErrorCode.BAD_SIGNATURE, EvidenceErrorCode.DIFFERENT_VALIDATORS, EvidenceErrorCode.DIFFERENT_HEIGHTS,
  EvidenceErrorCode.DIFFERENT_ROUNDS, EvidenceErrorCode.DIFFERENT_TYPES, EvidenceErrorCode.SAME_BLOCK, EvidenceErrorCode.NOT_CANONICAL,
  EvidenceErrorCode.DIFFERENT_WITNESSES, EvidenceErrorCode.DIFFERENT_RELAYS, EvidenceErrorCode.DIFFERENT_EPOCHS, EvidenceErrorCode.SAME_ATTESTATION,
]);

/** Messages beyond this many rounds past ours are ignored: proposerIndex costs O(round). */
const MAX_ROUNDS_AHEAD = 100;

export interface GossipObserver {
  onVerdict?(topic: TopicKind, verdict: Verdict, reason: string | null): void;
}

export function consensusHandlers(view: ConsensusView, maxBlockBytes: number, observer: GossipObserver = {}): { proposal: TopicHandler; vote: TopicHandler } {
  const done = (topic: TopicKind, v: Verdict, reason: string | null = null): Verdict => verdict(topic, v, reason, observer);
  const decode = (data: Uint8Array) => {
    try {
      return decodeInput(data);
    } catch (e) {
      if (e instanceof MessageError || e instanceof CodedError) return null;
      throw e;
    }
  };
  return {
    vote: {
      maxBytes: MAX_VOTE_MESSAGE_BYTES,
      handle(data, from) {
        const m = decode(data);
        if (m === null || m.type !== "vote") return done("vote", "reject", "not a vote");
        const v = m.vote;
        const at = view.position();
        if (v.height !== at.height) {
          if (v.height > at.height) view.peerAt(from, v.height);
          return done("vote", "ignore", "other height");
        }
        if (v.round > at.round + MAX_ROUNDS_AHEAD) return done("vote", "ignore", "round too far ahead");
        const val = view.validators()[v.validatorIndex];
        if (!val) return done("vote", "reject", "unknown validator index");
        const hash = v.blockHash ?? new Uint8Array(32);
        if (!verify(val.publicKey, voteSignBytes(view.chainId, v.type, v.height, v.round, hash), v.signature)) return done("vote", "reject", "bad signature");
        view.deliver({ type: "vote", vote: v });
        return done("vote", "accept");
      },
    },
    proposal: {
      maxBytes: Math.min(maxBlockBytes * 2 + 64 * 1024, MAX_MESSAGE_BYTES),
      handle(data, from) {
        const m = decode(data);
        if (m === null || m.type !== "proposal") return done("proposal", "reject", "not a proposal");
        const p = m.proposal;
        const at = view.position();
        if (p.height !== at.height) {
          if (p.height > at.height) view.peerAt(from, p.height);
          return done("proposal", "ignore", "other height");
        }
        if (p.block.header.height !== p.height) return done("proposal", "reject", "block height differs from the proposal's");
        if (p.round > at.round + MAX_ROUNDS_AHEAD) return done("proposal", "ignore", "round too far ahead");
        const vs = view.validators();
        if (vs.length === 0) return done("proposal", "ignore", "no validator set");
        const proposer = vs[proposerIndex(vs, p.round)]!;
        if (!verify(proposer.publicKey, proposalSignBytes(view.chainId, p.height, p.round, p.polRound, p.block.hash), p.signature)) {
          return done("proposal", "reject", "not signed by the round's proposer");
        }
        view.deliver({ type: "proposal", proposal: p });
        return done("proposal", "accept");
      },
    },
  };
}

function txHandler(topic: TopicKind, pools: PoolView, accepts: (tx: SignedTx) => boolean, observer: GossipObserver): TopicHandler {
  return {
    maxBytes: MAX_TX_BYTES,
    handle(data) {
      let tx: SignedTx;
      try {
        tx = decodeTx(data);
      } catch (e) {
        return verdict(topic, "reject", (e as CodedError).code ?? "malformed", observer);
      }
      if (!accepts(tx)) return verdict(topic, "reject", "wrong topic for this operation", observer);
      try {
        pools.admitTx(tx);
        return verdict(topic, "accept", null, observer);
      } catch (e) {
        const code = (e as CodedError).code;
        if (typeof code !== "string") throw e;
        return verdict(topic, TX_REJECT.has(code) ? "reject" : "ignore", code, observer);
      }
    },
  };
}

function verdict(topic: TopicKind, v: Verdict, reason: string | null, observer: GossipObserver): Verdict {
  observer.onVerdict?.(topic, v, reason);
  return v;
}

const PROOF_OPS: ReadonlySet<string> = new Set(["storage.proof", "bandwidth.attest"]);
const isProofOp = (tx: SignedTx): boolean =>
  PROOF_OPS.has(tx.op.type) || (tx.op.type === "unknown" && (tx.op.code === OpCode.STORAGE_PROOF || tx.op.code === OpCode.BANDWIDTH_ATTEST));

/** Handlers for the transaction, attestation and evidence topics. */
export function poolHandlers(pools: PoolView, observer: GossipObserver = {}): { tx: TopicHandler; attestation: TopicHandler; evidence: TopicHandler } {
  return {
    tx: txHandler("tx", pools, (tx) => !isProofOp(tx), observer),
    attestation: txHandler("attestation", pools, isProofOp, observer),
    evidence: {
      maxBytes: MAX_EVIDENCE_BYTES,
      handle(data) {
        try {
          return verdict("evidence", pools.addEvidence(decodeEvidence(data)) ? "accept" : "ignore", null, observer);
        } catch (e) {
          const code = (e as CodedError).code;
          if (typeof code !== "string") throw e;
          return verdict("evidence", EVIDENCE_REJECT.has(code) ? "reject" : "ignore", code, observer);
        }
      },
    },
  };
}

/** The topic a transaction is gossiped on. */
export function txTopic(chainId: string, tx: SignedTx): string {
  const t = topicNames(chainId);
  return isProofOp(tx) ? t.attestation : t.tx;
}
