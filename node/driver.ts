/**
 * Runs a consensus machine: feeds it inputs one at a time (a single queue, so effects are
 * handled in a deterministic order), and turns its effects into I/O: timers, block building
 * from the mempool, durable signing, and committing to the store.
 *
 * Every input of the height in progress is written to the consensus WAL (node/wal.ts) before the
 * engine's new state is adopted and its effects executed: own proposals and votes with sync,
 * the rest without. On start, the WAL of the next height is replayed through the machine so
 * that a node that crashed mid-height resumes with the same state (lock included), and only
 * the effects the crashed process had not seen through are executed again.
 */
import type { Logger } from "pino";
import { toHex } from "../primitives/bytes.ts";
import { BlockError, BlockErrorCode, VoteType, ZERO_HASH, proposalSignBytes, verifyCommit, voteSignBytes, type Block, type Commit } from "../chain/block.ts";
import type { ConsensusEffect, ConsensusInput, ConsensusMachine, Vote } from "../chain/consensus/types.ts";
import type { Evidence } from "../chain/evidence.ts";
import type { SignedVote } from "../chain/vote.ts";
import { duplicateVoteEvidence } from "../modules/staking/evidence.ts";
import type { EvidencePool } from "../chain/evidence-pool.ts";
import { verify, type KeyPair } from "../primitives/keys.ts";
import type { Mempool } from "../chain/mempool.ts";
import type { ChainParams } from "../chain/params.ts";
import type { ChainState, Validator } from "../chain/state.ts";
import type { BlockStore } from "../chain/store.ts";
import { applyBlock, buildBlock, type BlockResult } from "../chain/transition.ts";
import type { SignedTx } from "../chain/tx.ts";
import { SignStep, type DurableSigner } from "./signer.ts";
import { applyBlockVerifying, preverifyTxs } from "./tx-ingest.ts";
import type { BatchVerifier } from "./verify-pool.ts";
import { DEFAULT_WAL_MAX_ENTRIES, decodeWalPrefix, encodeWalInput, replayHeight, walInputProblem, type StartHeightInput, type WalInput } from "./wal.ts";

/** A message from a peer. */
export type PeerInput = Extract<ConsensusInput, { type: "proposal" | "vote" }>;

/**
 * Points of the driver's work where a crash leaves a distinct state on disk. A probe that throws
 * stops consensus right there, as a kill would (tests use it to crash a real driver).
 */
export type DriverProbe =
  /** `input` is in the WAL; the engine has not adopted the state it leads to */
  | { readonly at: "logged"; readonly input: WalInput; readonly origin: InputOrigin }
  /** around an effect; `replayed` for the effects of WAL replay executed at start */
  | { readonly at: "effect"; readonly phase: "before" | "after"; readonly effect: ConsensusEffect; readonly replayed: boolean };

/**
 * Where an input comes from, which decides how it is logged: "own" proposals and votes with
 * sync, always; "local" events (timeouts, blockValidated) without sync, always; "peer" messages
 * without sync, and no longer once the height's WAL holds walMaxEntries entries.
 */
export type InputOrigin = "own" | "local" | "peer";

interface QueuedInput {
  readonly input: ConsensusInput;
  readonly origin: InputOrigin;
}

/**
 * Transactions per own proposal by default, halved for each round past the first: at the 1 s
 * block interval that is far above what a devnet on two shared cores finalizes, while a block of
 * it is built and checked by every validator in a fraction of the propose timeout (a 6,000-
 * transaction block took seconds under load and its rounds failed, stalling the chain for 17 s;
 * at a load average of 20, 2,000-transaction blocks failed round after round).
 */
export const DEFAULT_MAX_PROPOSAL_TXS = 2_000;

/** Transactions an own proposal of `round` may carry: the cap (at most the chain's maxBlockTxs) halved per round past the first, at least 1. */
export function proposalTxCap(cap: number, maxBlockTxs: number, round: number): number {
  return Math.max(1, Math.floor(Math.min(maxBlockTxs, cap) / 2 ** Math.min(round, 16)));
}

/**
 * How long a node waits after committing a height that started `elapsedMs` ago before it starts
 * the next: the block interval counts from the start of the height just decided, so blocks come
 * every `intervalMs` and not every interval plus the time consensus took (a transaction waited
 * that much longer for the next proposal). At least a quarter of the interval, so that precommits
 * still on their way are heard and go into the next block's last commit (a validator left out
 * counts as having missed the block).
 */
export function nextHeightDelay(intervalMs: number, elapsedMs: number): number {
  return Math.max(Math.ceil(intervalMs / 4), Math.round(intervalMs - Math.max(0, elapsedMs)));
}

export interface DriverDeps<S> {
  readonly machine: ConsensusMachine<S>;
  readonly store: BlockStore;
  readonly mempool: Mempool<SignedTx>;
  readonly evidencePool: EvidencePool;
  readonly signer: DurableSigner | null;
  /** key for the seed signature in proposals (the same key the signer holds) */
  readonly key: KeyPair | null;
  readonly chainId: string;
  readonly params: ChainParams;
  readonly log: Logger;
  readonly now: () => number;
  /** Own proposals and votes, once signed: gossiped to peers (p2p/). */
  readonly broadcast?: (input: PeerInput) => void;
  /** A round timed out at the height in progress: the node may ask peers for messages it missed. */
  readonly onTimeout?: (height: bigint, round: number) => void;
  /** Evidence this node detected and pooled: gossiped to peers. */
  readonly onEvidence?: (ev: Evidence) => void;
  /** called after a block is durably committed; `commit` holds the round it was decided in */
  readonly onCommit: (block: Block, result: BlockResult, state: ChainState, commit: Commit) => void;
  /**
   * Most transactions this node puts in a block it proposes at round 0 (default
   * DEFAULT_MAX_PROPOSAL_TXS, never above the chain's maxBlockTxs), halved for each later round. A local policy, not a validity rule: a block every validator can
   * execute well within the propose timeout keeps rounds from failing under a deep mempool.
   */
  readonly maxProposalTxs?: number;
  /** WAL entries per height beyond which peer messages are no longer logged (default DEFAULT_WAL_MAX_ENTRIES) */
  readonly walMaxEntries?: number;
  /** test instrumentation, see DriverProbe */
  readonly probe?: (p: DriverProbe) => void;
}

/** Messages kept per height for peers that missed them (a height has a few per validator and round). */
const MAX_HEIGHT_MESSAGES = 4096;

export class ConsensusDriver<S> {
  readonly #d: DriverDeps<S>;
  #machineState: S;
  #state: ChainState;
  #lastCommit: Commit | null;
  /** The validator set of #lastCommit's height, once this node decided or synced it (null after a restart: no late precommits then). */
  #lastCommitSet: readonly Validator[] | null = null;
  readonly #queue: QueuedInput[] = [];
  #running = false;
  #started = false;
  /** set by start(): the drain loop replays the WAL before anything else */
  #recoverPending = false;
  /** the WAL of the height in progress: next seq, whether unsynced writes may be pending, whether the cap was hit */
  #wal = { height: -1n, next: 0, dirty: false, capped: false };
  #drained: Promise<void> = Promise.resolve();
  #stopped = false;
  readonly #timers = new Set<NodeJS.Timeout>();
  /** executed blocks by hash, so the proposer does not re-execute its own block */
  readonly #executed = new Map<string, BlockResult>();
  /** blocks of the height in progress found invalid by prevalidate, by hash, with the error */
  readonly #invalid = new Map<string, unknown>();
  /** When the height in progress started (performance.now()); null before the first. */
  #heightStartedAt: number | null = null;
  #failure: Error | null = null;
  /**
   * A height at which this node signs nothing more: its WAL was damaged after the node had signed
   * at that height, so the lock it may have taken is lost with the dropped entries. The other
   * validators decide the height (this node still counts their votes and commits); it signs again
   * from the next height. -1: none.
   */
  #abstain = -1n;
  /** Proposals and votes the engine took at the height in progress (peers that missed them ask for them). */
  #heightMessages: { height: bigint; inputs: PeerInput[] } = { height: -1n, inputs: [] };
  /**
   * Peer proposals and votes for the height after the head that arrive while this node waits out
   * the block interval after its commit (or before consensus starts): the engine is still at the
   * decided height and would ignore them. They are fed to the engine when that height starts, so
   * a node that committed a little later than the proposer does not miss its proposal.
   */
  #early: PeerInput[] = [];

  constructor(deps: DriverDeps<S>, state: ChainState, lastCommit: Commit | null) {
    this.#d = deps;
    this.#machineState = deps.machine.initial();
    this.#state = state;
    this.#lastCommit = lastCommit;
  }

  get state(): ChainState {
    return this.#state;
  }

  get machineState(): S {
    return this.#machineState;
  }

  /** The height at which this node signs nothing more after WAL damage (see #abstain), or null. */
  get abstainingAt(): bigint | null {
    return this.#abstain === this.#state.meta().height + 1n ? this.#abstain : null;
  }

  /** The error that stopped consensus, if any (the node reports it in node_status). */
  get failure(): Error | null {
    return this.#failure;
  }

  /**
   * Starts consensus at the height after the head, resuming from its WAL if a previous run
   * logged part of it. Errors (a corrupt WAL: WalError) stop consensus and show in `failure`.
   */
  start(): void {
    if (this.#started) throw new Error("consensus driver already started");
    this.#started = true;
    this.#recoverPending = true;
    this.#kick();
  }

  /**
   * Executes a proposed block of the next height ahead of the engine, its unchecked transaction
   * signatures verified on `verifier` meanwhile (node/tx-ingest.ts applyBlockVerifying), so the
   * engine's validation finds the result or the refusal instead of executing the block and then
   * checking signatures one by one on the event loop. A block of another height only has its
   * signatures checked on `verifier`. Call it before `deliver`; it never throws.
   */
  async prevalidate(block: Block, verifier: BatchVerifier): Promise<void> {
    // not inside the caller's turn: the gossip handler that delivered the proposal returns (and
    // gossipsub forwards it) before this executes it
    await new Promise((resolve) => setImmediate(resolve));
    const state = this.#state;
    const id = toHex(block.hash);
    if (block.header.height !== state.meta().height + 1n) return preverifyTxs(block.txs, verifier);
    if (this.#executed.has(id) || this.#invalid.has(id)) return;
    try {
      const result = await applyBlockVerifying(state, block, this.#d.params, this.#d.chainId, verifier);
      if (this.#state === state) this.#executed.set(id, result);
    } catch (e) {
      // the same refusal the engine's validation would reach: remembered, logged there
      if (this.#state === state) this.#invalid.set(id, e);
    }
  }

  /**
   * A proposal or vote from a peer, whose signature (and, for a proposal, that it comes from the
   * round's proposer) the caller has verified: the engine trusts the driver for that. Returns
   * false if it was dropped as malformed.
   */
  deliver(input: PeerInput): boolean {
    const problem = walInputProblem(input);
    if (problem !== null) {
      this.#d.log.debug({ type: input.type, problem }, "dropped malformed peer message");
      return false;
    }
    this.#enqueue(input, "peer");
    return true;
  }

  /** Stops scheduling and waits for the effect in flight (e.g. a store write) to finish. */
  async stop(): Promise<void> {
    this.#halt();
    await this.#drained;
  }

  #halt(): void {
    this.#stopped = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }

  /** The input that starts the height after the head (the height starts now: see #commitWait). */
  #startHeightInput(): StartHeightInput {
    this.#heightStartedAt = performance.now();
    const validators = this.#state.validators();
    const self = this.#d.key ? validators.findIndex((v) => Buffer.compare(v.publicKey, this.#d.key!.publicKey) === 0) : -1;
    return { type: "startHeight", height: this.#state.meta().height + 1n, validators, self: self >= 0 ? self : null };
  }

  #startHeight(): void {
    this.#enqueue(this.#startHeightInput(), "local");
  }

  /** The wait after a commit before the next height (see nextHeightDelay). */
  #commitWait(): number {
    const interval = this.#d.params.blockIntervalMs;
    return this.#heightStartedAt === null ? interval : nextHeightDelay(interval, performance.now() - this.#heightStartedAt);
  }

  /**
   * Resumes the height after the head from its WAL: replays the logged inputs without executing
   * their effects, then executes, in their original order, the effects no logged input answers
   * (re-arming timeouts, re-signing votes: the signer returns the stored signature for the same
   * vote, re-validating blocks, re-proposing the recorded proposal, committing a decided block).
   */
  async #recover(): Promise<void> {
    const d = this.#d;
    const start = this.#startHeightInput();
    // Entries of committed heights are stale (the clear after a commit is not atomic with it).
    await d.store.clearWal(start.height - 1n);
    let records = await d.store.readWal(start.height);
    const { inputs, damage } = decodeWalPrefix(start.height, records);
    if (damage !== null) {
      // A damaged entry ends the replay: the prefix is a state this node really passed through.
      // The tail is deleted so that new entries continue the prefix with no gap.
      const signed = d.signer?.lastSigned ?? null;
      const abstain = signed !== null && signed.height >= start.height;
      d.log.warn(
        { height: Number(start.height), seq: damage.seq, code: damage.error.code, reason: damage.error.message, replayed: inputs.length, dropped: records.length - inputs.length, abstain },
        abstain
          ? "the WAL of this height is damaged: replayed up to the damaged entry, the rest dropped; this node signed at this height and may have lost its lock with the dropped entries, so it signs nothing more at this height and follows the other validators' decision"
          : "the WAL of this height is damaged: replayed up to the damaged entry, the rest dropped; nothing was signed at this height, the node takes part in it",
      );
      // The decision outlives a restart (the truncated WAL will look whole), so it is stored first.
      if (abstain) await d.store.setWalAbstain(start.height);
      await d.store.truncateWal(start.height, damage.seq);
      records = records.slice(0, damage.seq);
    }
    if ((await d.store.walAbstain()) === start.height) {
      this.#abstain = start.height;
      if (damage === null) d.log.warn({ height: Number(start.height) }, "this height's WAL was damaged in an earlier run after this node signed at it: it still signs nothing more at this height");
    }
    const { state, pending, produced } = replayHeight(d.machine, start, inputs);
    const max = d.walMaxEntries ?? DEFAULT_WAL_MAX_ENTRIES;
    this.#machineState = state;
    this.#wal = { height: start.height, next: records.length, dirty: records.length > 0, capped: records.length >= max };
    // The height starts here, not through the queue: peers that missed its messages ask for them.
    this.#heightMessages = { height: start.height, inputs: inputs.filter((i): i is PeerInput => i.type === "proposal" || i.type === "vote") };
    if (records.length > 0) {
      const at = d.machine.describe(state);
      d.log.info({ height: Number(start.height), entries: records.length, round: at.round, step: at.step, effects: produced, reExecuted: pending.length }, "consensus state recovered from the WAL");
    }
    if (records.length >= max) d.log.warn({ height: Number(start.height), entries: records.length }, "the WAL of this height reached its cap: peer messages after it were not logged, the recovered state may lack them");
    for (const effect of pending) await this.#execute(effect, true);
    this.#releaseEarly(start.height);
  }

  /** Holds a peer message for the height after the head while the engine is not there yet. */
  #holdEarly(input: ConsensusInput): boolean {
    if (input.type !== "proposal" && input.type !== "vote") return false;
    const h = input.type === "proposal" ? input.proposal.height : input.vote.height;
    if (h !== this.#state.meta().height + 1n || this.#d.machine.describe(this.#machineState).height === h) return false;
    if (this.#early.length < MAX_HEIGHT_MESSAGES) this.#early.push(input);
    return true;
  }

  /** Height `height` has started: the messages held for it go to the front of the queue, in arrival order. */
  #releaseEarly(height: bigint): void {
    const held = this.#early.filter((i) => (i.type === "proposal" ? i.proposal.height : i.vote.height) === height);
    this.#early = [];
    this.#queue.unshift(...held.map((input) => ({ input, origin: "peer" as const })));
  }

  /** Writes `input` to the WAL of the height in progress: own messages with sync, others without. */
  async #log(input: WalInput, origin: InputOrigin): Promise<void> {
    const d = this.#d;
    const w = this.#wal;
    const own = origin === "own";
    if (origin === "peer" && w.next >= (d.walMaxEntries ?? DEFAULT_WAL_MAX_ENTRIES)) {
      if (!w.capped) d.log.warn({ height: Number(w.height), entries: w.next }, "WAL cap reached for this height: peer messages are no longer logged");
      w.capped = true;
      return;
    }
    await d.store.appendWal(w.height, w.next, encodeWalInput(input), own);
    w.next++;
    // a synced write makes every earlier one durable too
    w.dirty = !own;
    d.probe?.({ at: "logged", input, origin });
  }

  /**
   * Makes the WAL durable before a signature: after a power loss the inputs that led to a vote
   * or proposal are then on disk, and the restarted node reaches the same state it signed in.
   */
  async #syncWal(): Promise<void> {
    if (!this.#wal.dirty) return;
    await this.#d.store.syncWal();
    this.#wal.dirty = false;
  }

  /**
   * The block this node proposes at (height, round): the one recorded before a crash if there
   * is one (re-proposing it is the only proposal the signer will sign again), else a new one
   * built from the mempool, recorded durably before it is signed.
   */
  async #ownProposal(height: bigint, round: number, polRound: number, validValue?: Block): Promise<{ block: Block; signature: Uint8Array }> {
    const d = this.#d;
    const signProposal = (block: Block) =>
      d.signer!.sign(height, round, SignStep.PROPOSAL, block.hash, proposalSignBytes(d.chainId, height, round, polRound, block.hash));
    const saved = await d.store.getOwnProposal();
    if (saved && saved.height === height && saved.round === round) {
      this.#executed.set(toHex(saved.block.hash), applyBlock(this.#state, saved.block, d.params, d.chainId));
      d.log.info({ height: Number(height), round, hash: toHex(saved.block.hash) }, "re-proposing the block recorded before restart");
      return { block: saved.block, signature: saved.signature ?? (await signProposal(saved.block)) };
    }
    // The engine's valid value (a block this height already saw +2/3 prevotes for) is proposed
    // again as it is; otherwise a new block is built from the mempool and the evidence pool.
    const block = validValue ?? this.#build(round);
    await d.store.putOwnProposal({ height, round, block, signature: null });
    const signature = await signProposal(block);
    await d.store.putOwnProposal({ height, round, block, signature });
    return { block, signature };
  }

  /** A new block for `round`: a round that failed was often one whose block took too long to build and check, so each later round halves the cap. */
  #build(round: number): Block {
    const d = this.#d;
    const maxTxs = proposalTxCap(d.maxProposalTxs ?? DEFAULT_MAX_PROPOSAL_TXS, d.params.maxBlockTxs, round);
    const built = buildBlock(this.#state, d.mempool.select({ maxTxs, maxBytes: d.params.maxBlockBytes }), {
      chainId: d.chainId,
      params: d.params,
      proposer: d.key!,
      time: BigInt(d.now()),
      lastCommit: this.#lastCommit,
      evidence: d.evidencePool.list(),
    });
    for (const r of built.rejected) {
      d.mempool.remove(r.tx.hash);
      d.log.debug({ tx: toHex(r.tx.hash), code: r.error.code }, "dropped tx invalid against state");
    }
    this.#executed.set(toHex(built.block.hash), built);
    return built.block;
  }

  #after(delayMs: number, fn: () => void): void {
    if (this.#stopped) return;
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, delayMs);
    this.#timers.add(t);
  }

  #enqueue(input: ConsensusInput, origin: InputOrigin): void {
    if (this.#stopped) return;
    if (origin === "own" && (input.type === "proposal" || input.type === "vote")) this.#d.broadcast?.(input);
    this.#queue.push({ input, origin });
    this.#kick();
  }

  #kick(): void {
    if (!this.#running && !this.#stopped) this.#drained = this.#drain();
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      if (this.#recoverPending) {
        this.#recoverPending = false;
        await this.#recover();
      }
      while (this.#queue.length > 0 && !this.#stopped) {
        const { input, origin } = this.#queue.shift()!;
        // A start queued before a block sync moved the head is stale: the sync started the next height itself.
        if (input.type === "startHeight" && input.height !== this.#state.meta().height + 1n) continue;
        if (origin === "peer" && this.#holdEarly(input)) continue;
        // The machine is pure: stepping first and logging before the new state is adopted (and
        // any effect executed) is the same as logging before stepping. An input the machine
        // ignored (same state, no effect) is not logged: replaying it would change nothing.
        const before = this.#machineState;
        const { state, effects } = this.#d.machine.step(before, input);
        if (input.type === "startHeight") {
          this.#wal = { height: input.height, next: 0, dirty: false, capped: false };
          this.#heightMessages = { height: input.height, inputs: [] };
          this.#releaseEarly(input.height);
        } else if (state !== before || effects.length > 0) {
          await this.#log(input, origin);
          const m = this.#heightMessages;
          if (input.type === "proposal" || input.type === "vote") {
            const h = input.type === "proposal" ? input.proposal.height : input.vote.height;
            if (h === m.height && m.inputs.length < MAX_HEIGHT_MESSAGES) m.inputs.push(input);
          }
          if (input.type === "timeout") {
            this.#d.log.debug({ height: Number(input.height), round: input.round, step: input.step }, "consensus timeout");
            this.#d.onTimeout?.(input.height, input.round);
          }
        }
        this.#machineState = state;
        for (const effect of effects) await this.#execute(effect, false);
      }
    } catch (e) {
      // A failure here (disk full, signer refusal) must stop block production rather than
      // continue from an unknown state. The node stays up to answer queries.
      this.#failure = e as Error;
      this.#d.log.error({ err: e }, "consensus stopped");
      this.#halt();
    } finally {
      this.#running = false;
    }
  }

  async #execute(effect: ConsensusEffect, replayed: boolean): Promise<void> {
    this.#d.probe?.({ at: "effect", phase: "before", effect, replayed });
    await this.#run(effect);
    this.#d.probe?.({ at: "effect", phase: "after", effect, replayed });
  }

  async #run(effect: ConsensusEffect): Promise<void> {
    const d = this.#d;
    switch (effect.type) {
      case "scheduleTimeout":
        this.#after(effect.delayMs, () => this.#enqueue({ type: "timeout", height: effect.height, round: effect.round, step: effect.step }, "local"));
        return;
      case "buildProposal": {
        if (!d.key || !d.signer) return;
        if (effect.height === this.#abstain) return;
        await this.#syncWal();
        const { block, signature } = await this.#ownProposal(effect.height, effect.round, -1);
        this.#enqueue({ type: "proposal", proposal: { height: effect.height, round: effect.round, polRound: -1, block, signature } }, "own");
        return;
      }
      case "signProposal": {
        if (!d.key || !d.signer) return;
        if (effect.height === this.#abstain) return;
        await this.#syncWal();
        const { block, signature } = await this.#ownProposal(effect.height, effect.round, effect.polRound, effect.block);
        this.#enqueue({ type: "proposal", proposal: { height: effect.height, round: effect.round, polRound: effect.polRound, block, signature } }, "own");
        return;
      }
      case "evidence": {
        const validators = this.#state.validators();
        const signed = (v: Vote): SignedVote | undefined => {
          const val = validators[v.validatorIndex];
          return val && { type: v.type, height: v.height, round: v.round, blockHash: v.blockHash, validator: val.publicKey, signature: v.signature };
        };
        const a = signed(effect.first);
        const b = signed(effect.second);
        if (!a || !b) return;
        try {
          const added = d.evidencePool.add(duplicateVoteEvidence(a, b), this.#state, this.#state.meta().height, d.chainId, d.params);
          if (added) {
            d.log.warn({ validator: toHex(a.validator), height: Number(a.height), round: a.round }, "equivocation: evidence pooled");
            d.onEvidence?.(duplicateVoteEvidence(a, b));
          }
        } catch (e) {
          d.log.warn({ code: (e as { code?: string }).code }, "equivocation report rejected");
        }
        return;
      }
      case "validateBlock": {
        const id = toHex(effect.block.hash);
        let valid = this.#executed.has(id);
        if (!valid) {
          try {
            const t0 = performance.now();
            if (this.#invalid.has(id)) throw this.#invalid.get(id);
            this.#executed.set(id, applyBlock(this.#state, effect.block, d.params, d.chainId));
            d.log.debug({ height: Number(effect.height), round: effect.round, txs: effect.block.txs.length, ms: Math.round(performance.now() - t0) }, "proposal validated");
            valid = true;
          } catch (e) {
            d.log.warn({ height: effect.height.toString(), code: (e as { code?: string }).code }, "invalid proposal");
          }
        }
        this.#enqueue({ type: "blockValidated", height: effect.height, round: effect.round, blockHash: effect.block.hash, valid }, "local");
        return;
      }
      case "castVote": {
        if (!d.signer) return;
        if (effect.height === this.#abstain) return;
        await this.#syncWal();
        const hash = effect.blockHash ?? ZERO_HASH;
        const step = effect.voteType === VoteType.PREVOTE ? SignStep.PREVOTE : SignStep.PRECOMMIT;
        const signature = await d.signer.sign(effect.height, effect.round, step, hash, voteSignBytes(d.chainId, effect.voteType, effect.height, effect.round, hash));
        const validatorIndex = this.#state.validators().findIndex((v) => Buffer.compare(v.publicKey, d.signer!.publicKey) === 0);
        this.#enqueue({ type: "vote", vote: { type: effect.voteType, height: effect.height, round: effect.round, blockHash: effect.blockHash, validatorIndex, signature } }, "own");
        return;
      }
      case "commit": {
        // A block validated before a restart (its blockValidated replayed from the WAL) is
        // executed again here; it was valid against this very state.
        const result = this.#executed.get(toHex(effect.block.hash)) ?? applyBlock(this.#state, effect.block, d.params, d.chainId);
        await this.#adopt(effect.block, effect.commit, result);
        // timeout_commit: the rest of the block interval before the next height.
        this.#after(this.#commitWait(), () => this.#startHeight());
        return;
      }
    }
  }

  /**
   * A precommit for the block just decided that came after the decision (the engine decides on
   * the first +2/3): its signature joins the commit the next block carries as its last commit,
   * as CometBFT's commit timeout gathers them. Without it a validator whose precommits are
   * usually the last to arrive (a slower or busier machine) was left out of every last commit and
   * counted as missing blocks: on a loaded devnet, half of one honest validator's blocks, on its
   * way to a downtime jail. Returns true if the signature was added. Never changes the stored
   * commit of the decided block.
   */
  addLatePrecommit(vote: Vote): boolean {
    const c = this.#lastCommit;
    const set = this.#lastCommitSet;
    if (c === null || set === null || vote.type !== VoteType.PRECOMMIT || vote.height !== c.height || vote.round !== c.round) return false;
    if (vote.blockHash === null || Buffer.compare(vote.blockHash, c.blockHash) !== 0) return false;
    if (c.signatures.some((s) => s.validatorIndex === vote.validatorIndex)) return false;
    const val = set[vote.validatorIndex];
    if (!val || !verify(val.publicKey, voteSignBytes(this.#d.chainId, VoteType.PRECOMMIT, c.height, c.round, c.blockHash), vote.signature)) return false;
    this.#lastCommit = { ...c, signatures: [...c.signatures, { validatorIndex: vote.validatorIndex, signature: vote.signature }].sort((a, b) => a.validatorIndex - b.validatorIndex) };
    return true;
  }

  /** The commit the next block will carry as its last commit (the decision's, and late precommits). */
  get lastCommit(): Commit | null {
    return this.#lastCommit;
  }

  /** Stores a decided block with its commit and makes it the head. */
  async #adopt(block: Block, commit: Commit, result: BlockResult): Promise<void> {
    const d = this.#d;
    const height = block.header.height;
    await d.store.commitBlock(block, commit, result);
    // the set that decided this height: late precommits are checked against it
    this.#lastCommitSet = result.state.lastValidators();
    this.#state = result.state;
    d.evidencePool.prune(block.evidence, this.#state, height, d.chainId, d.params);
    this.#lastCommit = commit;
    this.#executed.clear();
    this.#invalid.clear();
    d.mempool.onBlockCommitted(block.txs.map((t) => t.hash), block.txs.map((t) => t.sender));
    d.onCommit(block, result, this.#state, commit);
    // The height's WAL is done with. Not atomic with the commit: replay reads only the WAL of
    // head + 1, and whatever is left of committed heights is cleared at the next commit or start.
    try {
      await d.store.clearWal(height);
    } catch (e) {
      d.log.warn({ err: e, height: Number(height) }, "could not clear the WAL of a committed height");
    }
  }

  /** The proposals and votes the engine took at `height`, if it is the height in progress. */
  messagesOf(height: bigint): readonly PeerInput[] {
    return this.#heightMessages.height === height ? this.#heightMessages.inputs : [];
  }

  /** The height consensus is deciding and its round. */
  position(): { height: bigint; round: number } {
    const at = this.#d.machine.describe(this.#machineState);
    // After a commit, while the block interval is waited out, the next height is the one to hear about.
    const next = this.#state.meta().height + 1n;
    return at.height < next ? { height: next, round: 0 } : { height: at.height, round: at.round };
  }

  /**
   * A finalized block from a peer (block sync): its commit must carry +2/3 of the set this node
   * knows for its height, and the block must apply on the head. It becomes the head, and
   * consensus restarts at the next height. Runs between consensus steps, never during one.
   * Throws BlockError (or the transition's errors) if the block or its commit is invalid;
   * nothing is written then.
   */
  async applySynced(block: Block, commit: Commit): Promise<void> {
    // Wait for the drain loop (or another synced block) to finish, then hold both off while this
    // block is applied. The work in progress is always what #drained holds: a waiter that awaited
    // an already-settled promise instead would spin in microtasks and starve the very I/O it waits for.
    while (this.#running) await this.#drained;
    if (this.#stopped) return;
    const work = this.#applySyncedNow(block, commit);
    this.#drained = work.then(
      () => undefined,
      () => undefined,
    );
    return work;
  }

  async #applySyncedNow(block: Block, commit: Commit): Promise<void> {
    this.#running = true;
    const d = this.#d;
    try {
      const height = block.header.height;
      const head = this.#state.meta().height;
      if (height <= head) return; // consensus got there first
      if (height !== head + 1n) throw new BlockError(BlockErrorCode.WRONG_HEIGHT, `synced block ${height} does not follow the head ${head}`);
      verifyCommit(d.chainId, this.#state.validators(), height, block.hash, commit);
      const result = applyBlock(this.#state, block, d.params, d.chainId);
      await this.#adopt(block, commit, result);
      // Whatever consensus had of this height is moot: start the next one from a clean engine.
      for (const t of this.#timers) clearTimeout(t);
      this.#timers.clear();
      this.#machineState = d.machine.initial();
      this.#queue.length = 0;
      // Before start() (the initial catch-up) consensus has not begun: start() begins at the new head.
      if (this.#started) this.#queue.push({ input: this.#startHeightInput(), origin: "local" });
    } finally {
      this.#running = false;
      this.#kick();
    }
  }
}
