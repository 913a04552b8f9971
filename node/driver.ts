/**
 * Runs a consensus machine: feeds it inputs one at a time (a single queue, so effects are
 * handled in a deterministic order), and turns its effects into I/O: timers, block building
 * from the mempool, durable signing, and committing to the store.
 */
import type { Logger } from "pino";
import { toHex } from "../chain/bytes.ts";
import { VoteType, ZERO_HASH, proposalSignBytes, voteSignBytes, type Block, type Commit } from "../chain/block.ts";
import type { ConsensusEffect, ConsensusInput, ConsensusMachine, Vote } from "../chain/consensus/types.ts";
import { duplicateVoteEvidence, type SignedVote } from "../chain/evidence.ts";
import type { EvidencePool } from "../chain/evidence-pool.ts";
import type { KeyPair } from "../chain/keys.ts";
import type { Mempool } from "../chain/mempool.ts";
import type { ChainParams } from "../chain/params.ts";
import type { ChainState } from "../chain/state.ts";
import type { BlockStore } from "../chain/store.ts";
import { applyBlock, buildBlock, type BlockResult } from "../chain/transition.ts";
import type { SignedTx } from "../chain/tx.ts";
import { SignStep, type DurableSigner } from "./signer.ts";

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
  /** called after a block is durably committed */
  readonly onCommit: (block: Block, result: BlockResult, state: ChainState) => void;
}

export class ConsensusDriver<S> {
  readonly #d: DriverDeps<S>;
  #machineState: S;
  #state: ChainState;
  #lastCommit: Commit | null;
  readonly #queue: ConsensusInput[] = [];
  #running = false;
  #drained: Promise<void> = Promise.resolve();
  #stopped = false;
  readonly #timers = new Set<NodeJS.Timeout>();
  /** executed blocks by hash, so the proposer does not re-execute its own block */
  readonly #executed = new Map<string, BlockResult>();
  #failure: Error | null = null;

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

  /** The error that stopped consensus, if any (the node reports it in node_status). */
  get failure(): Error | null {
    return this.#failure;
  }

  start(): void {
    this.#startHeight();
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

  #startHeight(): void {
    const validators = this.#state.validators();
    const self = this.#d.key ? validators.findIndex((v) => Buffer.compare(v.publicKey, this.#d.key!.publicKey) === 0) : -1;
    this.#enqueue({ type: "startHeight", height: this.#state.meta().height + 1n, validators, self: self >= 0 ? self : null });
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
    const block = validValue ?? this.#build();
    await d.store.putOwnProposal({ height, round, block, signature: null });
    const signature = await signProposal(block);
    await d.store.putOwnProposal({ height, round, block, signature });
    return { block, signature };
  }

  #build(): Block {
    const d = this.#d;
    const built = buildBlock(this.#state, d.mempool.select({ maxTxs: d.params.maxBlockTxs, maxBytes: d.params.maxBlockBytes }), {
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

  #enqueue(input: ConsensusInput): void {
    if (this.#stopped) return;
    this.#queue.push(input);
    if (!this.#running) this.#drained = this.#drain();
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      while (this.#queue.length > 0 && !this.#stopped) {
        const input = this.#queue.shift()!;
        const { state, effects } = this.#d.machine.step(this.#machineState, input);
        this.#machineState = state;
        for (const effect of effects) await this.#execute(effect);
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

  async #execute(effect: ConsensusEffect): Promise<void> {
    const d = this.#d;
    switch (effect.type) {
      case "scheduleTimeout":
        this.#after(effect.delayMs, () => this.#enqueue({ type: "timeout", height: effect.height, round: effect.round, step: effect.step }));
        return;
      case "buildProposal": {
        if (!d.key || !d.signer) return;
        const { block, signature } = await this.#ownProposal(effect.height, effect.round, -1);
        this.#enqueue({ type: "proposal", proposal: { height: effect.height, round: effect.round, polRound: -1, block, signature } });
        return;
      }
      case "signProposal": {
        if (!d.key || !d.signer) return;
        const { block, signature } = await this.#ownProposal(effect.height, effect.round, effect.polRound, effect.block);
        this.#enqueue({ type: "proposal", proposal: { height: effect.height, round: effect.round, polRound: effect.polRound, block, signature } });
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
          if (added) d.log.warn({ validator: toHex(a.validator), height: Number(a.height), round: a.round }, "equivocation: evidence pooled");
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
            this.#executed.set(id, applyBlock(this.#state, effect.block, d.params, d.chainId));
            valid = true;
          } catch (e) {
            d.log.warn({ height: effect.height.toString(), code: (e as { code?: string }).code }, "invalid proposal");
          }
        }
        this.#enqueue({ type: "blockValidated", height: effect.height, round: effect.round, blockHash: effect.block.hash, valid });
        return;
      }
      case "castVote": {
        if (!d.signer) return;
        const hash = effect.blockHash ?? ZERO_HASH;
        const step = effect.voteType === VoteType.PREVOTE ? SignStep.PREVOTE : SignStep.PRECOMMIT;
        const signature = await d.signer.sign(effect.height, effect.round, step, hash, voteSignBytes(d.chainId, effect.voteType, effect.height, effect.round, hash));
        const validatorIndex = this.#state.validators().findIndex((v) => Buffer.compare(v.publicKey, d.signer!.publicKey) === 0);
        this.#enqueue({ type: "vote", vote: { type: effect.voteType, height: effect.height, round: effect.round, blockHash: effect.blockHash, validatorIndex, signature } });
        return;
      }
      case "commit": {
        const id = toHex(effect.block.hash);
        const result = this.#executed.get(id);
        if (!result) throw new Error(`commit of a block that was never executed (${id})`);
        await d.store.commitBlock(effect.block, effect.commit, result);
        this.#state = result.state;
        d.evidencePool.prune(effect.block.evidence, this.#state, effect.block.header.height, d.chainId, d.params);
        this.#lastCommit = effect.commit;
        this.#executed.clear();
        d.mempool.onBlockCommitted(effect.block.txs.map((t) => t.hash), effect.block.txs.map((t) => t.sender));
        d.onCommit(effect.block, result, this.#state);
        // timeout_commit: wait out the block interval before the next height.
        this.#after(d.params.blockIntervalMs, () => this.#startHeight());
        return;
      }
    }
  }
}
