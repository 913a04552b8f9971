/**
 * The gossip topics of one chain and their validators (arbitrary bytes from
 * peers are rejected with a clear reason and the peer penalized, nothing else affected).
 *
 *   /cloudcoin/<chainId>/tx/2           transactions: a batch, CBOR [envelope bytes, ...]
 *   /cloudcoin/<chainId>/proposal/1     consensus proposals  (chain/consensus/messages.ts)
 *   /cloudcoin/<chainId>/vote/1         consensus votes      (chain/consensus/messages.ts)
 *   /cloudcoin/<chainId>/evidence/1     duplicate-vote evidence (chain/evidence.ts)
 *   /cloudcoin/<chainId>/attestation/2  proof transactions (storage.proof, bandwidth.attest), batched the same way
 *
 * Transactions travel in batches (TxBatcher: what a node admitted within BATCH_DELAY_MS, up to
 * MAX_BATCH_TXS): gossip costs per message (validation, noise, yamux, forwarding to every mesh
 * peer) far more than per byte, and one message a transaction starved consensus messages under load.
 *
 * Consensus first: proposals and votes are handled the moment they arrive; transaction and
 * attestation batches wait their turn in a bounded queue (p2p/inbound.ts), one per turn of the
 * event loop, and their signatures are checked off the event loop. So a flood of transactions
 * cannot delay a vote by more than the one batch slice running when it arrives.
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
import { asArray, asBytes, decode as decodeCbor, encode } from "../primitives/codec.ts";
import { CodecError, CodecErrorCode, CodedError } from "../primitives/errors.ts";
import { decodeEvidence, isStatelessEvidenceFailure, MAX_EVIDENCE_BYTES, type Evidence } from "../chain/evidence.ts";
import { latin1 } from "../primitives/bytes.ts";
import { sha256 } from "../primitives/hash.ts";
import { verify } from "../primitives/keys.ts";
import type { Validator } from "../chain/state.ts";
import { decodeTx, MAX_TX_BYTES, TxErrorCode, type SignedTx } from "../chain/tx.ts";
import { registry } from "../chain/registry.ts";
import { voteSignBytes } from "../chain/vote.ts";
import type { TopicHandler, Verdict } from "./host.ts";
import type { InboundQueue } from "./inbound.ts";

export function topicNames(chainId: string) {
  const t = (name: string, version = 1) => `/cloudcoin/${chainId}/${name}/${version}`;
  return { tx: t("tx", 2), proposal: t("proposal"), vote: t("vote"), evidence: t("evidence"), attestation: t("attestation", 2) } as const;
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
  /**
   * A precommit of the height just decided, heard after the decision: true if it joined the
   * last commit the next block carries (checked there against that height's set).
   */
  latePrecommit?(vote: Vote): boolean;
}

/** Submission of transactions and evidence: returns normally when taken, throws CodedError otherwise. */
export interface PoolView {
  /**
   * Admits transactions to the mempool in order (stateless checks, signature, fee and balance):
   * per transaction null when admitted, else the reason. Rejects with a CodedError (e.g. the node
   * is busy) when it takes none of them.
   */
  admitTxs(txs: readonly SignedTx[]): Promise<(CodedError | null)[]>;
  /** Pools evidence after verifying it against the head. */
  addEvidence(ev: Evidence): boolean;
}

/** Transaction errors that are the sender's fault whoever relays them: the relay is penalized. */
const TX_REJECT = new Set<string>([
  TxErrorCode.MALFORMED, TxErrorCode.TOO_LARGE, TxErrorCode.WRONG_CHAIN_ID, TxErrorCode.BAD_SIGNATURE,
  TxErrorCode.UNKNOWN_OPERATION, TxErrorCode.INVALID_OPERATION, TxErrorCode.FEE_TOO_LOW,
]);
/** Messages beyond this many rounds past ours are ignored: proposerIndex costs O(round). */
const MAX_ROUNDS_AHEAD = 100;

export interface GossipObserver {
  onVerdict?(topic: TopicKind, verdict: Verdict, reason: string | null): void;
}

/** Ids of delivered consensus messages remembered (see consensusHandlers); past this the memory starts over. */
const MAX_DELIVERED_IDS = 16_384;

export function consensusHandlers(view: ConsensusView, maxBlockBytes: number, observer: GossipObserver = {}): { proposal: TopicHandler; vote: TopicHandler } {
  const done = (topic: TopicKind, v: Verdict, reason: string | null = null): Verdict => verdict(topic, v, reason, observer);
  // Messages already delivered, by digest of their bytes: gossip hands each message over once,
  // but catch-up responses (p2p/catchup.ts) repeat what a node has, and a stalled node asks up to
  // three peers twice a second. Decoding and checking a proposal of thousands of transactions
  // again for each answer deepened the very stall it was asked for.
  const delivered = new Set<string>();
  const idOf = (topic: TopicKind, data: Uint8Array): string => topic + latin1(sha256(data));
  const remember = (id: string): void => {
    if (delivered.size >= MAX_DELIVERED_IDS) delivered.clear();
    delivered.add(id);
  };
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
        const id = idOf("vote", data);
        if (delivered.has(id)) return done("vote", "ignore", "already delivered");
        const m = decode(data);
        if (m === null || m.type !== "vote") return done("vote", "reject", "not a vote");
        const v = m.vote;
        const at = view.position();
        if (v.height === at.height - 1n && view.latePrecommit?.(v)) {
          remember(id);
          return done("vote", "accept");
        }
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
        remember(id);
        return done("vote", "accept");
      },
    },
    proposal: {
      maxBytes: Math.min(maxBlockBytes * 2 + 64 * 1024, MAX_MESSAGE_BYTES),
      handle(data, from) {
        const id = idOf("proposal", data);
        if (delivered.has(id)) return done("proposal", "ignore", "already delivered");
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
        remember(id);
        return done("proposal", "accept");
      },
    },
  };
}

/** Most transactions in one gossip message, and its size bound (a storage proof alone is up to MAX_TX_BYTES). */
export const MAX_BATCH_TXS = 256;
export const MAX_BATCH_BYTES = Math.min(4 * MAX_TX_BYTES, MAX_MESSAGE_BYTES);
/** How long an admitted transaction waits for others to share its gossip message. */
export const BATCH_DELAY_MS = 20;

export function encodeTxBatch(envelopes: readonly Uint8Array[]): Uint8Array {
  return encode([...envelopes]);
}

/** The envelopes of a batch; throws CodecError if it is not a list of 1..MAX_BATCH_TXS byte strings of at most MAX_TX_BYTES. */
export function decodeTxBatch(data: Uint8Array): Uint8Array[] {
  const items = asArray(decodeCbor(data), "tx batch");
  if (items.length === 0 || items.length > MAX_BATCH_TXS) throw new CodecError(CodecErrorCode.OUT_OF_RANGE, `a tx batch holds 1..${MAX_BATCH_TXS} transactions, not ${items.length}`);
  return items.map((x, i) => {
    const b = asBytes(x, `tx batch item ${i}`);
    if (b.length > MAX_TX_BYTES) throw new CodecError(CodecErrorCode.OUT_OF_RANGE, `tx batch item ${i} is longer than ${MAX_TX_BYTES} bytes`);
    return b;
  });
}

/**
 * A batch is rejected (the forwarding peer penalized) if any transaction in it is malformed,
 * forged or on the wrong topic: a node only gossips what it checked. Transactions that do not fit
 * this node's state (nonce, balance, pool full, already known, node busy) are skipped. Accepted,
 * and forwarded, if at least one transaction was new here.
 *
 * With a queue (p2p/inbound.ts) the batch waits for its turn behind the consensus messages, and is
 * ignored at once when the queue is full. Signatures are checked by `pools.admitTxs` (the node
 * sends them to its verify workers).
 */
function txHandler(topic: TopicKind, pools: PoolView, accepts: (tx: SignedTx) => boolean, observer: GossipObserver, queue: InboundQueue | undefined): TopicHandler {
  const check = (data: Uint8Array): Verdict | Promise<Verdict> => {
    let envelopes: Uint8Array[];
    try {
      envelopes = decodeTxBatch(data);
    } catch (e) {
      return verdict(topic, "reject", (e as CodedError).code ?? "malformed", observer);
    }
    const txs: SignedTx[] = [];
    for (const bytes of envelopes) {
      let tx: SignedTx;
      try {
        tx = decodeTx(bytes);
      } catch (e) {
        return verdict(topic, "reject", (e as CodedError).code ?? "malformed", observer);
      }
      if (!accepts(tx)) return verdict(topic, "reject", "wrong topic for this operation", observer);
      txs.push(tx);
    }
    return pools.admitTxs(txs).then(
      (results) => {
        let admitted = 0;
        let skipped: string | null = null;
        for (const r of results) {
          if (r === null) {
            admitted++;
            continue;
          }
          if (TX_REJECT.has(r.code)) return verdict(topic, "reject", r.code, observer);
          skipped = r.code;
        }
        return admitted > 0 ? verdict(topic, "accept", null, observer) : verdict(topic, "ignore", skipped, observer);
      },
      (e: unknown) => {
        const code = (e as CodedError).code;
        if (typeof code !== "string") throw e;
        return verdict(topic, "ignore", code, observer);
      },
    );
  };
  return {
    maxBytes: MAX_BATCH_BYTES,
    handle(data) {
      if (queue === undefined) return check(data);
      return queue.run(() => check(data)) ?? verdict(topic, "ignore", "inbound queue full", observer);
    },
  };
}

/**
 * Gathers the transactions a node admitted (from RPC) into one gossip message per topic: sent
 * BATCH_DELAY_MS after the first, or at once when MAX_BATCH_TXS or MAX_BATCH_BYTES is reached.
 */
export class TxBatcher {
  readonly #publish: (topic: string, data: Uint8Array) => void;
  readonly #pending = new Map<string, { envelopes: Uint8Array[]; bytes: number; timer: NodeJS.Timeout }>();

  constructor(publish: (topic: string, data: Uint8Array) => void) {
    this.#publish = publish;
  }

  add(topic: string, envelope: Uint8Array): void {
    let p = this.#pending.get(topic);
    // the list encoding adds at most 9 bytes a head and 9 an item
    if (p && (p.envelopes.length >= MAX_BATCH_TXS || p.bytes + envelope.length + 18 > MAX_BATCH_BYTES)) {
      this.flush(topic);
      p = undefined;
    }
    if (!p) {
      p = { envelopes: [], bytes: 9, timer: setTimeout(() => this.flush(topic), BATCH_DELAY_MS) };
      this.#pending.set(topic, p);
    }
    p.envelopes.push(envelope);
    p.bytes += envelope.length + 9;
    if (p.envelopes.length >= MAX_BATCH_TXS) this.flush(topic);
  }

  flush(topic: string): void {
    const p = this.#pending.get(topic);
    if (!p) return;
    clearTimeout(p.timer);
    this.#pending.delete(topic);
    this.#publish(topic, encodeTxBatch(p.envelopes));
  }

  /** Sends whatever waits (on shutdown, before the host stops). */
  flushAll(): void {
    for (const topic of [...this.#pending.keys()]) this.flush(topic);
  }
}

function verdict(topic: TopicKind, v: Verdict, reason: string | null, observer: GossipObserver): Verdict {
  observer.onVerdict?.(topic, v, reason);
  return v;
}

/** Ops whose spec puts them on the attestation topic (storage proofs, bandwidth attestations); everything else, unknown ops too, is `tx`. */
const isProofOp = (tx: SignedTx): boolean => tx.op.type !== "unknown" && registry().op(tx.op.type)?.topic === "attestation";

/**
 * Handlers for the transaction, attestation and evidence topics. With `queue`, transaction and
 * attestation batches wait their turn there (consensus first); evidence is rare and runs at once.
 */
export function poolHandlers(pools: PoolView, observer: GossipObserver = {}, queue?: InboundQueue): { tx: TopicHandler; attestation: TopicHandler; evidence: TopicHandler } {
  return {
    tx: txHandler("tx", pools, (tx) => !isProofOp(tx), observer, queue),
    attestation: txHandler("attestation", pools, isProofOp, observer, queue),
    evidence: {
      maxBytes: MAX_EVIDENCE_BYTES,
      handle(data) {
        try {
          return verdict("evidence", pools.addEvidence(decodeEvidence(data)) ? "accept" : "ignore", null, observer);
        } catch (e) {
          const code = (e as CodedError).code;
          if (typeof code !== "string") throw e;
          return verdict("evidence", isStatelessEvidenceFailure(e) ? "reject" : "ignore", code, observer);
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
