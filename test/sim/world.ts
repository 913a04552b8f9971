/**
 * The deterministic simulation: N validators, each the real consensus engine plus real chain
 * state (buildBlock / applyBlock on real blocks) plus an in-memory "disk" that survives crashes
 * (committed blocks with their commits and states, the durable signer record, the own-proposal
 * record, the evidence pool, the consensus WAL of the height in progress), driven over a
 * simulated network by one seed.
 *
 * The driver half of each node does what node/driver.ts does with effects (build and sign
 * proposals, validate blocks, sign votes durably, commit, timeout_commit, pool evidence and put
 * it in the next block, replay the WAL at restart), plus what the network layer will do: verify
 * every proposal and vote signature before the engine sees it, buffer messages for the next
 * height, gossip what peers lack, re-send own messages at timeouts and stalls, gossip evidence,
 * and sync committed blocks (each commit verified) from a peer that is ahead.
 *
 * Virtual time only: one priority queue of events ordered by (virtual ms, sequence number).
 * Every processed event is folded into the trace hash, so a replay can be compared exactly.
 */
import "../../modules/index.ts";
import { createHash, type Hash } from "node:crypto";
import { equalBytes, toHex } from "../../primitives/bytes.ts";
import { ZERO_HASH, proposalSignBytes, verifyCommit, type Block, type Commit } from "../../chain/block.ts";
import { proposerIndex } from "../../chain/consensus/proposer.ts";
import { defaultTendermintConfig } from "../../chain/consensus/tendermint.ts";
import { MAX_VALUES_PER_VALIDATOR } from "../../chain/consensus/votes.ts";
import { Step, type ConsensusEffect, type ConsensusInput, type Proposal, type Vote } from "../../chain/consensus/types.ts";
import { sha256 } from "../../primitives/hash.ts";
import { verify, type KeyPair } from "../../primitives/keys.ts";
import type { ChainState, Validator } from "../../chain/state.ts";
import { applyBlock, type BlockResult } from "../../chain/transition.ts";
import { signTx, type SignedTx } from "../../chain/tx.ts";
import { VoteType, voteSignBytes } from "../../chain/vote.ts";
import { DEFECTS, buildSimBlock, corruptBlock, validatorSetAfter } from "./chainview.ts";
import { engineByName, type AnyMachine } from "./engine.ts";
import { EvidenceError, EvidenceErrorCode, evidenceHash, evidenceSubject, validateEvidenceBasic, verifyEvidence, type Evidence } from "../../chain/evidence.ts";
import { simFixture, type SimFixture } from "./fixture.ts";
import { Network, type Committed, type Message } from "./network.ts";
import { Prng } from "./prng.ts";
import { EventQueue } from "./queue.ts";
import { drawScenario, type Behaviour, type Scenario, type SimOptions } from "./scenario.ts";
import { SignStep, durableSign, type SignedRecord, type SignerDisk } from "./signer.ts";
import { inputHeight, replayHeight, type WalInput } from "../../node/wal.ts";
import { duplicateVoteEvidence } from "../../modules/staking/evidence.ts";
import { type SignedVote } from "../../chain/vote.ts";

// ---- tunables of the simulated driver (virtual ms) ----
/**
 * Gossip period: like Tendermint's gossip routines (which wake every 100 ms), each node sends
 * every peer at its height the proposal and votes that peer lacks, and pushes committed blocks
 * to peers behind it. What a peer lacks is read from the peer's state, standing in for the
 * NewRoundStep / HasVote messages by which Tendermint peers tell each other what they hold.
 */
const GOSSIP_MS = 250;
/** every this many gossip periods without progress, a node also re-sends its own messages and relays recent votes to a random peer */
const STALL_TICKS = 4;
/** an equivocator waits for a peer to hold a proposal before choosing its vote for it */
const EQUIVOCATE_RETRY_MS = 40;
const EQUIVOCATE_TRIES = 12;
/** votes per catch-up bundle */
const GOSSIP_VOTES_MAX = 64;
/** at most one outstanding block-sync request per node for this long */
const SYNC_RETRY_MS = 400;
/** committed blocks per sync response */
const SYNC_BATCH = 20;
/** messages buffered for the next height, per node */
const PENDING_MAX = 4000;
/** own votes re-sent per re-gossip */
const REGOSSIP_VOTES = 8;
/** the engine's round window, mirrored to decide what an engine could have observed */
const ENGINE_ROUNDS_AHEAD = defaultTendermintConfig.maxRoundsAhead;

export type CheckName = "agreement" | "validity" | "liveness" | "accountability" | "engine" | "budget";

export interface Failure {
  readonly check: CheckName;
  readonly detail: string;
}

export interface SimStats {
  /** messages handed to the network (incl. lost ones) */
  messages: number;
  lost: number;
  duplicated: number;
  /** messages dropped by the receiver: bad signature, unknown validator, bad commit in sync */
  rejected: number;
  stale: number;
  signerRefusals: number;
  syncRequests: number;
  blocksSynced: number;
  commits: number;
  crashes: number;
  evidenceEmitted: number;
  equivocationsObserved: number;
  /** sum of the decision round over the honest engines' commits: rounds beyond the first */
  rounds: number;
  /** messages by kind (proposal, vote, bundle, evidence, syncRequest, syncResponse) */
  byKind: Record<string, number>;
}

export interface SimResult {
  readonly options: SimOptions;
  readonly scenario: Scenario;
  readonly engine: string;
  readonly traceHash: string;
  readonly trace: readonly string[] | null;
  readonly events: number;
  readonly virtualMs: number;
  readonly honestHeights: readonly number[];
  readonly minHeight: number;
  readonly maxHeight: number;
  readonly target: number;
  readonly minHeightAtHeal: number;
  readonly reachedAt: number | null;
  readonly stats: SimStats;
  readonly failures: readonly Failure[];
  /** evidence on the longest honest chain at the end */
  readonly evidenceCount: number;
}

interface ChainEntry extends Committed {
  readonly state: ChainState;
}

interface OwnProposal {
  readonly height: bigint;
  readonly round: number;
  readonly polRound: number;
  readonly block: Block;
  /** null between recording the block and signing it */
  readonly signature: Uint8Array | null;
}

/** What survives a crash. */
interface Disk {
  readonly signer: SignerDisk;
  ownProposal: OwnProposal | null;
  readonly chain: ChainEntry[];
  /** evidence pool: evidence hash (hex) -> evidence (durable, as a real node keeps it in its db) */
  readonly evidence: Map<string, Evidence>;
  /** subjects already punished on this node's chain: a double-signing validator (tombstoned: one infraction whatever the height), a witness's (relay, epoch) */
  readonly punished: Set<string>;
  /** wal "votes": the votes this node signed at its latest height */
  voteLog: SignedRecord[];
  /** wal "inputs": every input fed to the engine at the height in progress (node/wal.ts) */
  wal: { height: bigint; inputs: WalInput[] };
}

type Timer =
  | { readonly kind: "timeout"; readonly height: bigint; readonly round: number; readonly step: Step }
  | { readonly kind: "startHeight"; readonly height: bigint }
  | { readonly kind: "gossip" }
  /** an equivocator's deferred vote to one peer */
  | { readonly kind: "equivocate"; readonly peer: number; readonly voteType: VoteType; readonly height: bigint; readonly round: number; readonly value: Uint8Array | null; readonly tries: number };

type SimEvent =
  | { readonly kind: "deliver"; readonly from: number; readonly to: number; readonly msg: Message }
  | { readonly kind: "timer"; readonly node: number; readonly epoch: number; readonly timer: Timer }
  | { readonly kind: "crash"; readonly node: number; readonly mode: "now" | "afterSign" }
  | { readonly kind: "restart"; readonly node: number };

interface PeerOutbox {
  proposal: Proposal | null;
  votes: Vote[];
}

class SimNode {
  readonly index: number;
  readonly key: KeyPair;
  readonly behaviour: Behaviour | null;
  readonly rng: Prng;
  readonly disk: Disk;
  // ---- memory: lost on a crash ----
  up = false;
  epoch = 0;
  machine: unknown = null;
  engineHeight = 0n;
  halted: string | null = null;
  inbox: ConsensusInput[] = [];
  busy = false;
  pending: { from: number; msg: Message }[] = [];
  validators: readonly Validator[] = [];
  selfIndex: number | null = null;
  proposers = new Map<number, number>();
  /** what this node sent to each peer at the current height, for re-gossip */
  outbox = new Map<number, PeerOutbox>();
  /**
   * Every vote fed at the current height, own ones included, keyed by (round, type, validator,
   * value): what this node relays. An equivocator's conflicting votes are relayed too (up to the
   * engine's MAX_VALUES_PER_VALIDATOR values per validator and set), as the real node serves every
   * vote its engine took (ConsensusDriver.messagesOf) and gossipsub forwards each distinct message:
   * otherwise a node that got only one side of an equivocation never sees the polka the others
   * locked on, and the height stalls (seeds 2914 7/2 and 1135 10/3).
   */
  heard = new Map<string, Vote>();
  /** distinct values in `heard` per (round, type, validator) */
  heardValues = new Map<string, number>();
  /** the same, restricted to what the engine could observe (its height, undecided, in its round window) */
  seenVotes = new Map<string, Vote>();
  /** round -> the first proposal fed at the current height */
  heldProposals = new Map<number, Proposal>();
  syncBusyUntil = -1;
  lastTick: string = "";
  /** an "afterSign" crash is armed */
  crashAtNextSignature = false;
  stalledTicks = 0;
  /** peer -> virtual ms until which no committed blocks are pushed to it again */
  pushedUntil = new Map<number, number>();
  /** Byzantine state for the current height */
  altHash: Uint8Array | null = null;
  invalidHash: Uint8Array | null = null;

  constructor(index: number, key: KeyPair, behaviour: Behaviour | null, rng: Prng) {
    this.index = index;
    this.key = key;
    this.behaviour = behaviour;
    this.rng = rng;
    this.disk = { signer: { lastSigned: null }, ownProposal: null, chain: [], evidence: new Map(), punished: new Set(), voteLog: [], wal: { height: 0n, inputs: [] } };
  }

  get head(): bigint {
    return BigInt(this.disk.chain.length);
  }
}

const bodyIds = new WeakMap<Block, string>();
const hex8 = (b: Uint8Array | null): string => (b === null ? "nil" : toHex(b.subarray(0, 4)));
const valueKey = (b: Uint8Array | null): string => (b === null ? "nil" : toHex(b));
const evidenceId = (e: Evidence): string => toHex(evidenceHash(e));
/** What the ledger punishes once: (validator, height), or (witness, relay, epoch). */
/** A double-sign's subject is the validator: the first evidence tombstones it, later heights are the same infraction (docs/protocol.md section 3). */
const subjectKey = (validator: Uint8Array): string => toHex(validator).slice(0, 16);
const evidenceKey = (e: Evidence): string =>
  e.kind === "duplicateVote" ? subjectKey(e.voteA.validator) : `${toHex(e.a.witness).slice(0, 16)}:${toHex(e.a.relay).slice(0, 16)}@e${e.a.epoch}`;
const voteTag = (v: Vote): string => `V${v.type}.${v.height}.${v.round}.${v.validatorIndex}.${hex8(v.blockHash)}`;
/** `heard` keys: per validator and set (round, type), and per value within it */
const heardSlot = (v: Vote): string => `${v.round}/${v.type}/${v.validatorIndex}`;
const heardKey = (v: Vote): string => `${heardSlot(v)}/${valueKey(v.blockHash)}`;

/** Records a vote fed at the current height for relaying; false if already held (or one value too many). */
function hear(node: SimNode, v: Vote): boolean {
  const k = heardKey(v);
  if (node.heard.has(k)) return false;
  const slot = heardSlot(v);
  const n = node.heardValues.get(slot) ?? 0;
  if (n >= MAX_VALUES_PER_VALIDATOR) return false;
  node.heard.set(k, v);
  node.heardValues.set(slot, n + 1);
  return true;
}

/** Whether `peer` lacks the vote held under `key` and would take it. */
function lacks(peer: SimNode, key: string, v: Vote): boolean {
  return !peer.heard.has(key) && (peer.heardValues.get(heardSlot(v)) ?? 0) < MAX_VALUES_PER_VALIDATOR;
}
const proposalTag = (p: Proposal): string => `P${p.height}.${p.round}.${p.polRound}.${hex8(p.block.hash)}`;

function messageTag(m: Message): string {
  switch (m.kind) {
    case "proposal":
      return proposalTag(m.proposal);
    case "vote":
      return voteTag(m.vote);
    case "bundle":
      return `B[${m.proposal ? proposalTag(m.proposal) : ""};${m.votes.map(voteTag).join(",")}]`;
    case "evidence":
      return `E[${m.evidence.map(evidenceKey).join(",")}]`;
    case "syncRequest":
      return `SQ${m.from}`;
    case "syncResponse":
      return `SR[${m.entries.map((e) => `${e.block.header.height}.${hex8(e.block.hash)}`).join(",")}]`;
  }
}

interface Observation {
  readonly key: string;
  /** (validator, height): what the chain punishes once */
  readonly subject: string;
  readonly validator: number;
  readonly node: number;
  readonly time: number;
}

export class World {
  readonly o: SimOptions;
  readonly scenario: Scenario;
  readonly fx: SimFixture;
  readonly machine: AnyMachine;
  readonly chainId: string;
  readonly nodes: SimNode[];
  readonly #queue = new EventQueue<SimEvent>();
  readonly #net: Network;
  readonly #hash: Hash = createHash("sha256");
  readonly #trace: string[] | null;
  now = 0;
  events = 0;
  readonly stats: SimStats = {
    messages: 0, lost: 0, duplicated: 0, rejected: 0, stale: 0, signerRefusals: 0, syncRequests: 0, blocksSynced: 0,
    commits: 0, crashes: 0, evidenceEmitted: 0, equivocationsObserved: 0, rounds: 0, byKind: {},
  };
  readonly failures: Failure[] = [];
  readonly observations = new Map<string, Observation>();
  /** executed blocks: parent block hash + block hash -> result or the error code (pure, so shared) */
  readonly #applied = new Map<string, BlockResult | string>();
  /** signature checks: pure, so shared by all nodes of the run */
  readonly #verified = new Map<string, boolean>();
  #minHeightAtHeal = -1;
  #target = -1;
  #reachedAt: number | null = null;
  #lastEvidenceCheck = -1;
  /** first block finalized at each height by an honest node, to notice a fork as it happens */
  readonly #finalized = new Map<bigint, { hash: string; node: number }>();
  #forked = false;
  /** every honest signature: node/height/round/step -> hash */
  readonly #signatures = new Map<string, string>();

  constructor(o: SimOptions, machine?: AnyMachine) {
    this.o = o;
    this.scenario = drawScenario(o);
    this.fx = simFixture(o.validators);
    this.machine = machine ?? engineByName(o.engine);
    this.chainId = this.fx.genesis.chainId;
    const root = new Prng(o.seed, "world");
    this.#net = new Network(this.scenario.net, this.scenario.partitions, root.fork("net"));
    this.nodes = this.fx.validatorKeys.map((k, i) => new SimNode(i, k, this.scenario.byzantine.get(i) ?? null, root.fork(`node-${i}`)));
    this.#trace = o.trace ? [] : null;
  }

  // ================================================================ run loop

  run(): SimResult {
    const s = this.scenario;
    for (const n of this.nodes) this.#queue.push(0, { kind: "restart", node: n.index });
    for (const c of s.crashes) {
      this.#queue.push(c.at, { kind: "crash", node: c.node, mode: c.mode });
      this.#queue.push(c.restartAt, { kind: "restart", node: c.node });
    }
    const honest = this.nodes.filter((n) => n.behaviour === null);
    const deadline = s.healAt + this.o.livenessWindowMs;
    for (;;) {
      const ev = this.#queue.pop();
      if (ev === undefined) break;
      this.now = ev.time;
      if (++this.events > this.o.maxEvents) {
        this.#fail("budget", `event budget of ${this.o.maxEvents} exhausted at ${this.now} virtual ms`);
        break;
      }
      if (this.#minHeightAtHeal < 0 && this.now >= s.healAt) {
        this.#minHeightAtHeal = Math.min(...honest.map((n) => n.disk.chain.length));
        this.#target = Math.max(this.o.heights, this.#minHeightAtHeal + this.o.livenessHeights);
      }
      this.#process(ev.seq, ev.item);
      if (this.#target >= 0 && this.#reachedAt === null && honest.every((n) => n.disk.chain.length >= this.#target)) this.#reachedAt = this.now;
      if (this.#reachedAt !== null) {
        if (this.now > this.#reachedAt + this.o.evidenceWindowMs) break;
        if (this.now - this.#lastEvidenceCheck >= 100) {
          this.#lastEvidenceCheck = this.now;
          if (this.#accountabilityGaps(1).length === 0) break;
        }
      }
      if (this.#reachedAt === null && this.now > deadline) break;
      if (this.#forked && this.o.stopOnViolation) break;
      if (honest.length === 0 && this.now > deadline) break;
    }
    return this.#finish();
  }

  #record(line: string): void {
    this.#hash.update(line);
    this.#hash.update("\n");
    this.#trace?.push(line);
  }

  #fail(check: CheckName, detail: string): void {
    this.failures.push({ check, detail });
    this.#record(`FAIL ${check} ${detail}`);
  }

  #process(seq: number, ev: SimEvent): void {
    switch (ev.kind) {
      case "deliver": {
        const node = this.nodes[ev.to]!;
        if (!node.up) return;
        if (this.#net.partitioned(ev.from, ev.to, this.now)) {
          this.stats.lost++;
          return;
        }
        this.#record(`${this.now} ${seq} D ${ev.from}>${ev.to} ${messageTag(ev.msg)}`);
        this.#receive(node, ev.from, ev.msg);
        return;
      }
      case "timer": {
        const node = this.nodes[ev.node]!;
        if (!node.up || node.epoch !== ev.epoch) return;
        const t = ev.timer;
        switch (t.kind) {
          case "timeout":
            this.#record(`${this.now} ${seq} T ${node.index} ${t.height}.${t.round}.${t.step}`);
            this.#feed(node, { type: "timeout", height: t.height, round: t.round, step: t.step });
            // Tendermint's gossip: at each timeout of the current height, re-send what we sent.
            if (t.height === node.engineHeight) this.#regossip(node, false);
            return;
          case "startHeight":
            if (node.head + 1n === t.height && node.engineHeight < t.height) this.#startHeight(node);
            return;
          case "equivocate":
            this.#equivocateTo(node, this.nodes[t.peer]!, t.voteType, t.height, t.round, t.value, t.tries);
            return;
          case "gossip": {
            const d = this.machine.describe(node.machine);
            const at = `${d.height}/${d.round}/${d.step}`;
            node.stalledTicks = at === node.lastTick ? node.stalledTicks + 1 : 0;
            node.lastTick = at;
            if (node.stalledTicks > 0 && node.stalledTicks % STALL_TICKS === 0) this.#regossip(node, true);
            if (this.o.gossip) this.#catchUpGossip(node);
            this.#evidenceGossip(node);
            this.#timer(node, GOSSIP_MS, { kind: "gossip" });
            return;
          }
        }
        return;
      }
      case "crash": {
        const node = this.nodes[ev.node]!;
        if (ev.mode === "afterSign") node.crashAtNextSignature = true;
        else this.#crash(node, `${seq} CRASH`);
        return;
      }
      case "restart": {
        const node = this.nodes[ev.node]!;
        node.crashAtNextSignature = false;
        if (node.up && node.engineHeight > 0n) return; // an afterSign crash that never came
        this.#record(`${this.now} ${seq} START ${node.index} head ${node.head}`);
        // Everything in memory is gone; the disk (chain, signer record, own proposal, evidence) stays.
        node.up = true;
        node.machine = this.machine.initial();
        node.engineHeight = 0n;
        node.halted = null;
        node.inbox = [];
        node.busy = false;
        node.pending = [];
        node.syncBusyUntil = -1;
        node.lastTick = "";
        node.stalledTicks = 0;
        node.pushedUntil = new Map();
        if (this.o.wal === "inputs" && node.disk.wal.height === node.head + 1n && node.disk.wal.inputs.length > 0) {
          this.#restartFromWal(node);
        } else {
          const before = this.o.wal === "votes" ? [...node.disk.voteLog] : [];
          this.#startHeight(node);
          this.#resendOwnVotes(node, before);
        }
        this.#timer(node, 1 + node.rng.int(GOSSIP_MS), { kind: "gossip" });
        return;
      }
    }
  }

  #crash(node: SimNode, what: string): void {
    this.#record(`${this.now} ${what} ${node.index}`);
    this.stats.crashes++;
    node.up = false;
    node.epoch++;
    node.crashAtNextSignature = false;
  }

  /**
   * Every honest signature goes through here, after the signer's rule: a second, different
   * signature at one (height, round, step) would be a double-sign (a harness or signer bug).
   * Returns false if the process dies right now ("afterSign" crash): the record is on disk,
   * the message never leaves.
   */
  #signed(node: SimNode, h: bigint, r: number, step: SignStep, hash: Uint8Array): boolean {
    const k = `${node.index}/${h}/${r}/${step}`;
    const v = toHex(hash);
    const prev = this.#signatures.get(k);
    if (prev === undefined) this.#signatures.set(k, v);
    else if (prev !== v) this.#fail("validity", `honest node ${node.index} signed two values at ${h}/${r}/${step}`);
    const rec = node.disk.signer.lastSigned;
    if (step !== SignStep.PROPOSAL && rec !== null && prev === undefined) {
      if (node.disk.voteLog.length > 0 && node.disk.voteLog[0]!.height !== h) node.disk.voteLog = [];
      node.disk.voteLog.push(rec);
    }
    if (node.crashAtNextSignature) {
      this.#crash(node, "CRASH after signing");
      return false;
    }
    return true;
  }

  #timer(node: SimNode, delayMs: number, timer: Timer): void {
    this.#queue.push(this.now + delayMs, { kind: "timer", node: node.index, epoch: node.epoch, timer });
  }

  // ================================================================ the driver

  #stateOf(node: SimNode): ChainState {
    return node.disk.chain.at(-1)?.state ?? this.fx.state;
  }

  /** Resets the per-height memory for head + 1 and returns the startHeight input for it. */
  #enterHeight(node: SimNode): Extract<ConsensusInput, { type: "startHeight" }> {
    const h = node.head + 1n;
    const state = this.#stateOf(node);
    node.engineHeight = h;
    node.validators = validatorSetAfter(state);
    const self = node.validators.findIndex((v) => equalBytes(v.publicKey, node.key.publicKey));
    node.selfIndex = self >= 0 ? self : null;
    node.proposers = new Map();
    node.outbox = new Map();
    node.heard = new Map();
    node.heardValues = new Map();
    node.seenVotes = new Map();
    node.heldProposals = new Map();
    node.altHash = null;
    node.invalidHash = null;
    if (node.disk.wal.height !== h) node.disk.wal = { height: h, inputs: [] };
    this.#record(`${this.now} H ${node.index} ${h}`);
    return { type: "startHeight", height: h, validators: node.validators, self: node.selfIndex };
  }

  #startHeight(node: SimNode): void {
    this.#feed(node, this.#enterHeight(node));
    this.#replayBuffered(node);
  }

  #replayBuffered(node: SimNode): void {
    const pending = node.pending;
    node.pending = [];
    for (const p of pending) this.#receive(node, p.from, p.msg);
  }

  /**
   * Restart with the consensus WAL (node/wal.ts): the engine is stepped through startHeight and
   * the logged inputs of the height without executing any effect, reaching the state it had
   * (lock included); then the effects the crash left unfinished are executed. What the node
   * had heard is rebuilt from the log, so its gossip can serve it again.
   */
  #restartFromWal(node: SimNode): void {
    const start = this.#enterHeight(node);
    const inputs = node.disk.wal.inputs;
    const replayed = replayHeight(this.machine, start, inputs);
    node.machine = replayed.state;
    this.#record(`${this.now} REPLAY ${node.index} ${inputs.length} inputs, ${replayed.pending.length} pending effects`);
    for (const input of inputs) {
      if (input.type === "proposal" && !node.heldProposals.has(input.proposal.round)) node.heldProposals.set(input.proposal.round, input.proposal);
      if (input.type === "vote") {
        const v = input.vote;
        hear(node, v);
        if (v.validatorIndex === node.selfIndex) for (const peer of this.nodes) if (peer !== node) this.#outbox(node, peer.index).votes.push(v);
      }
    }
    node.busy = true;
    try {
      for (const e of replayed.pending) {
        if (!node.up) break;
        this.#execute(node, e);
      }
    } finally {
      node.busy = false;
    }
    if (node.inbox.length > 0) this.#feed(node, node.inbox.shift()!);
    this.#replayBuffered(node);
  }

  #feed(node: SimNode, input: ConsensusInput): void {
    node.inbox.push(input);
    if (node.busy) return;
    node.busy = true;
    try {
      while (node.inbox.length > 0 && node.up && node.halted === null) {
        const next = node.inbox.shift()!;
        // The WAL records every input of the height in progress before its effects run.
        if (this.o.wal === "inputs" && next.type !== "startHeight" && inputHeight(next) === node.disk.wal.height) node.disk.wal.inputs.push(next);
        let out: { state: unknown; effects: readonly ConsensusEffect[] };
        try {
          out = this.machine.step(node.machine, next);
        } catch (e) {
          node.halted = `engine threw on ${next.type}: ${(e as Error).stack ?? String(e)}`;
          this.#fail("engine", `node ${node.index} at ${this.now}ms: ${node.halted}`);
          break;
        }
        node.machine = out.state;
        for (const effect of out.effects) {
          if (!node.up) break; // died mid-way (a crash right after a signature)
          this.#execute(node, effect);
        }
      }
    } finally {
      node.busy = false;
      if (node.halted !== null) node.inbox = [];
    }
  }

  #execute(node: SimNode, e: ConsensusEffect): void {
    switch (e.type) {
      case "scheduleTimeout":
        this.#timer(node, e.delayMs, { kind: "timeout", height: e.height, round: e.round, step: e.step });
        return;
      case "buildProposal":
        if (e.height !== node.engineHeight) return;
        if (node.behaviour === "equivocate" || node.behaviour === "conflicting-proposals") return this.#proposeConflicting(node, e.height, e.round);
        if (node.behaviour === "invalid") return this.#proposeInvalid(node, e.height, e.round);
        return this.#propose(node, e.height, e.round);
      case "signProposal":
        if (e.height !== node.engineHeight) return;
        if (node.behaviour === "equivocate") return this.#proposeConflicting(node, e.height, e.round, e.block, e.polRound);
        if (node.behaviour === "invalid") return this.#proposeInvalid(node, e.height, e.round);
        return this.#signAndSendProposal(node, e.height, e.round, e.polRound, e.block);
      case "validateBlock": {
        const valid = e.height === node.head + 1n && this.#apply(this.#stateOf(node), e.block) !== null;
        this.#feed(node, { type: "blockValidated", height: e.height, round: e.round, blockHash: e.block.hash, valid });
        return;
      }
      case "castVote":
        if (e.height !== node.engineHeight || node.selfIndex === null) return;
        if (node.behaviour === "equivocate") return this.#voteEquivocating(node, e.voteType, e.height, e.round, e.blockHash);
        if (node.behaviour === "invalid") return this.#voteInvalid(node, e.voteType, e.height, e.round);
        return this.#vote(node, e.voteType, e.height, e.round, e.blockHash);
      case "commit":
        return this.#commit(node, e.block, e.commit);
      case "evidence": {
        this.stats.evidenceEmitted++;
        const signed = (v: Vote): SignedVote | undefined => {
          const val = node.validators[v.validatorIndex];
          return val && { type: v.type, height: v.height, round: v.round, blockHash: v.blockHash, validator: val.publicKey, signature: v.signature };
        };
        const a = signed(e.first);
        const b = signed(e.second);
        if (a && b) this.#addEvidence(node, duplicateVoteEvidence(a, b));
        return;
      }
    }
  }

  /** Transfers between the simulated users, with the right nonces: real transactions in every block. */
  #candidateTxs(node: SimNode, state: ChainState): SignedTx[] {
    const users = this.fx.userKeys;
    const count = node.rng.int(4);
    const next = new Map<number, bigint>();
    const txs: SignedTx[] = [];
    for (let k = 0; k < count; k++) {
      const from = node.rng.int(users.length);
      const to = (from + 1 + node.rng.int(users.length - 1)) % users.length;
      const nonce = next.get(from) ?? state.account(users[from]!.publicKey).nonce;
      next.set(from, nonce + 1n);
      txs.push(signTx({ chainId: this.chainId, nonce, fee: 1000n, op: { type: "transfer", to: users[to]!.publicKey, amount: BigInt(node.rng.range(1, 1_000_000)) } }, users[from]!));
    }
    return txs;
  }

  #build(node: SimNode, timeOffset = 0n): Block {
    const state = this.#stateOf(node);
    // the pool in hash order, as chain/evidence-pool.ts lists it
    const pool = [...node.disk.evidence].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, e]) => e);
    const built = buildSimBlock(state, this.#candidateTxs(node, state), {
      chainId: this.chainId,
      params: this.fx.genesis.params,
      proposer: node.key,
      time: this.fx.genesis.genesisTime + BigInt(this.now) + timeOffset,
      lastCommit: node.disk.chain.at(-1)?.commit ?? null,
      evidence: pool,
    });
    this.#applied.set(this.#applyKey(state, built.block), built);
    return built.block;
  }

  /**
   * Honest proposer, as node/driver.ts: the proposal recorded before a crash at this (h, r) is
   * sent again with its recorded signature; otherwise a new block is built and recorded before
   * it is signed.
   */
  #propose(node: SimNode, h: bigint, r: number): void {
    const saved = node.disk.ownProposal;
    if (saved && saved.height === h && saved.round === r) {
      this.#apply(this.#stateOf(node), saved.block);
      if (saved.signature !== null) return this.#sendProposal(node, { height: h, round: r, polRound: saved.polRound, block: saved.block, signature: saved.signature });
      return this.#signAndSendProposal(node, h, r, saved.polRound, saved.block);
    }
    const block = this.#build(node);
    node.disk.ownProposal = { height: h, round: r, polRound: -1, block, signature: null };
    this.#signAndSendProposal(node, h, r, -1, block);
  }

  #signAndSendProposal(node: SimNode, h: bigint, r: number, polRound: number, block: Block): void {
    const saved = node.disk.ownProposal;
    if (saved && saved.height === h && saved.round === r && saved.signature !== null) {
      // Already signed at this (h, r) before a crash: only that proposal may go out.
      return this.#sendProposal(node, { height: h, round: r, polRound: saved.polRound, block: saved.block, signature: saved.signature });
    }
    const out = durableSign(node.disk.signer, node.key, h, r, SignStep.PROPOSAL, block.hash, proposalSignBytes(this.chainId, h, r, polRound, block.hash));
    if (!out.ok) {
      this.stats.signerRefusals++;
      this.#record(`${this.now} REFUSE ${node.index} proposal ${h}.${r} ${out.code}`);
      return;
    }
    node.disk.ownProposal = { height: h, round: r, polRound, block, signature: out.signature };
    if (!this.#signed(node, h, r, SignStep.PROPOSAL, block.hash)) return;
    this.#sendProposal(node, { height: h, round: r, polRound, block, signature: out.signature });
  }

  #sendProposal(node: SimNode, proposal: Proposal): void {
    if (!node.heldProposals.has(proposal.round)) node.heldProposals.set(proposal.round, proposal);
    this.#broadcast(node, { kind: "proposal", proposal });
    // A re-proposal travels with the prevotes of its POL round, as Tendermint's gossip sends them.
    const pol = this.#polVotes(node, proposal);
    if (pol.length > 0) for (const peer of this.nodes) if (peer !== node) this.#send(node, peer.index, { kind: "bundle", proposal: null, votes: pol });
    this.#feed(node, { type: "proposal", proposal });
  }

  #vote(node: SimNode, type: VoteType, h: bigint, r: number, blockHash: Uint8Array | null): void {
    const hash = blockHash ?? ZERO_HASH;
    const step = type === VoteType.PREVOTE ? SignStep.PREVOTE : SignStep.PRECOMMIT;
    const out = durableSign(node.disk.signer, node.key, h, r, step, hash, voteSignBytes(this.chainId, type, h, r, hash));
    let vote: Vote;
    if (out.ok) {
      if (!this.#signed(node, h, r, step, hash)) return;
      vote = { type, height: h, round: r, blockHash, validatorIndex: node.selfIndex!, signature: out.signature };
    } else {
      this.stats.signerRefusals++;
      this.#record(`${this.now} REFUSE ${node.index} vote ${type} ${h}.${r} ${out.code}`);
      // After a restart the engine begins the height again at round 0 with no memory of its
      // votes. A vote it already signed at this very (h, r, step) is in the record: send that one
      // (no new signature, so no double-sign); anything earlier is simply not sent, and the
      // engine catches up through the round skip.
      const last = node.disk.signer.lastSigned;
      if (out.code !== "CONFLICT" || last === null || last.height !== h || last.round !== r || last.step !== step) return;
      vote = { type, height: h, round: r, blockHash: equalBytes(last.hash, ZERO_HASH) ? null : last.hash, validatorIndex: node.selfIndex!, signature: last.signature };
    }
    this.#sendOwnVote(node, vote);
  }

  /**
   * wal "votes": after a restart, the own votes of the height now running are sent again (no
   * new signature): they may never have left before the crash (or been lost with every copy),
   * and the restarted engine, back at round 0, can sign nothing at the rounds it already voted
   * in: without them the others may wait forever.
   */
  #resendOwnVotes(node: SimNode, before: readonly SignedRecord[]): void {
    if (node.selfIndex === null) return;
    for (const rec of before) {
      if (rec.height !== node.engineHeight || rec.step === SignStep.PROPOSAL) continue;
      const type = rec.step === SignStep.PREVOTE ? VoteType.PREVOTE : VoteType.PRECOMMIT;
      const blockHash = equalBytes(rec.hash, ZERO_HASH) ? null : rec.hash;
      this.#record(`${this.now} RESEND ${node.index} ${type} ${rec.height}.${rec.round}`);
      this.#sendOwnVote(node, { type, height: rec.height, round: rec.round, blockHash, validatorIndex: node.selfIndex, signature: rec.signature });
    }
  }

  #sendOwnVote(node: SimNode, vote: Vote): void {
    hear(node, vote);
    this.#broadcast(node, { kind: "vote", vote });
    this.#feed(node, { type: "vote", vote });
  }

  /** The prevotes of a proposal's proof-of-lock round that this node holds (gossiped along with it). */
  #polVotes(node: SimNode, p: Proposal | null): Vote[] {
    if (p === null || p.polRound < 0) return [];
    const out: Vote[] = [];
    for (const v of node.heard.values()) if (v.type === VoteType.PREVOTE && v.round === p.polRound) out.push(v);
    return out;
  }

  #commit(node: SimNode, block: Block, commit: Commit): void {
    const h = block.header.height;
    if (h !== node.head + 1n) {
      this.#fail("engine", `node ${node.index} committed height ${h} at head ${node.head}`);
      return;
    }
    const parent = this.#stateOf(node);
    const honest = node.behaviour === null;
    const bad = this.#commitProblem(node.validators, h, block.hash, commit);
    if (bad !== null && honest) this.#fail("validity", `node ${node.index} committed height ${h} with a commit that does not verify: ${bad}`);
    const result = this.#apply(parent, block);
    if (result === null) {
      if (honest) this.#fail("validity", `node ${node.index} committed an invalid block at height ${h}: ${this.#applyError(parent, block)}`);
      node.halted = "committed an invalid block";
      return;
    }
    this.#append(node, { block, commit, state: result.state });
    this.stats.commits++;
    if (honest) this.stats.rounds += commit.round;
    this.#record(`${this.now} C ${node.index} ${h} ${hex8(block.hash)} r${commit.round}${block.evidence.length ? ` +${block.evidence.length} evidence` : ""}`);
    // timeout_commit: wait out the block interval before the next height.
    this.#timer(node, this.fx.genesis.params.blockIntervalMs, { kind: "startHeight", height: h + 1n });
  }

  /**
   * Keyed by the parent and the block's full bytes: the block hash covers only the header, and a
   * Byzantine proposer can send a body (e.g. a lastCommit) that does not match its header.
   */
  /** Appends a committed block; the evidence pool drops what it included and what can no longer be included. */
  #append(node: SimNode, entry: ChainEntry): void {
    node.disk.chain.push(entry);
    if (node.behaviour === null) {
      const h = entry.block.header.height;
      const first = this.#finalized.get(h);
      if (first === undefined) this.#finalized.set(h, { hash: toHex(entry.block.hash), node: node.index });
      else if (first.hash !== toHex(entry.block.hash) && !this.#forked) {
        this.#forked = true;
        this.#record(`${this.now} FORK height ${h}: node ${first.node} and node ${node.index}`);
      }
    }
    for (const ev of entry.block.evidence) {
      node.disk.punished.add(evidenceKey(ev));
      node.disk.evidence.delete(evidenceId(ev));
    }
    const head = entry.block.header.height;
    for (const [id, ev] of node.disk.evidence) {
      if (evidenceSubject(ev, this.fx.genesis.params.epochLength).height > head) continue;
      try {
        verifyEvidence(entry.state, ev, this.chainId, this.fx.genesis.params, head + 1n);
      } catch (e) {
        if (!(e instanceof EvidenceError) || e.code !== EvidenceErrorCode.FROM_FUTURE) node.disk.evidence.delete(id);
      }
    }
  }

  #applyKey(parent: ChainState, block: Block): string {
    let id = bodyIds.get(block);
    if (id === undefined) bodyIds.set(block, (id = toHex(sha256(block.bytes))));
    return toHex(parent.lastBlockHash) + id;
  }

  /** applyBlock, memoized by (parent, block): pure, so every node of the run shares the result. */
  #apply(parent: ChainState, block: Block): BlockResult | null {
    const k = this.#applyKey(parent, block);
    let r = this.#applied.get(k);
    if (r === undefined) {
      try {
        r = applyBlock(parent, block, this.fx.genesis.params, this.chainId);
      } catch (e) {
        r = (e as { code?: string }).code ?? (e as Error).message;
      }
      this.#applied.set(k, r);
    }
    return typeof r === "string" ? null : r;
  }

  #applyError(parent: ChainState, block: Block): string {
    const r = this.#applied.get(this.#applyKey(parent, block));
    return typeof r === "string" ? r : "ok";
  }

  /**
   * verifyCommit's rule (chain/block.ts) with the run's signature cache: every node checks the
   * commit its engine produced, and the same precommits would otherwise be verified by every
   * node again. Blocks from sync and the final replay use verifyCommit itself.
   */
  #commitProblem(validators: readonly Validator[], h: bigint, hash: Uint8Array, c: Commit): string | null {
    if (c.height !== h || !equalBytes(c.blockHash, hash)) return "commit is for another height or block";
    const msg = voteSignBytes(this.chainId, VoteType.PRECOMMIT, h, c.round, hash);
    let total = 0n;
    for (const v of validators) total += v.power;
    let signed = 0n;
    const seen = new Set<number>();
    for (const sig of c.signatures) {
      const v = validators[sig.validatorIndex];
      if (v === undefined || seen.has(sig.validatorIndex)) return `bad or repeated validator index ${sig.validatorIndex}`;
      seen.add(sig.validatorIndex);
      if (!this.#verify(v.publicKey, msg, sig.signature)) return `bad signature from validator ${sig.validatorIndex}`;
      signed += v.power;
    }
    return signed * 3n > total * 2n ? null : `${signed} of ${total} voting power`;
  }

  #verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
    const k = toHex(publicKey) + toHex(message) + toHex(signature);
    let ok = this.#verified.get(k);
    if (ok === undefined) {
      ok = verify(publicKey, message, signature);
      this.#verified.set(k, ok);
    }
    return ok;
  }

  // ================================================================ messages in

  #receive(node: SimNode, from: number, msg: Message): void {
    switch (msg.kind) {
      case "proposal":
        return this.#consensusMessage(node, from, msg.proposal.height, msg);
      case "vote":
        return this.#consensusMessage(node, from, msg.vote.height, msg);
      case "bundle": {
        const h = msg.proposal?.height ?? msg.votes[0]?.height;
        if (msg.proposal && msg.votes.some((v) => v.height !== msg.proposal!.height)) return;
        if (h === undefined) return;
        return this.#consensusMessage(node, from, h, msg);
      }
      case "evidence":
        for (const e of msg.evidence) this.#addEvidence(node, e);
        return;
      case "syncRequest":
        return this.#serveSync(node, from, msg.from);
      case "syncResponse":
        return this.#applySync(node, from, msg.entries);
    }
  }

  /** Height gate: old messages are dropped, next-height ones buffered, further ones trigger a sync. */
  #consensusMessage(node: SimNode, from: number, h: bigint, msg: Message): void {
    if (h <= node.head) {
      this.stats.stale++;
      return;
    }
    if (h > node.head + 1n) {
      this.#requestSync(node, from);
      return;
    }
    if (node.engineHeight !== h) {
      if (node.pending.length < PENDING_MAX) node.pending.push({ from, msg });
      return;
    }
    if (msg.kind === "proposal") this.#deliverProposal(node, msg.proposal);
    else if (msg.kind === "vote") this.#deliverVote(node, msg.vote);
    else if (msg.kind === "bundle") {
      if (msg.proposal) this.#deliverProposal(node, msg.proposal);
      for (const v of msg.votes) if (v.height === h) this.#deliverVote(node, v);
    }
  }

  #proposer(node: SimNode, round: number): number {
    let p = node.proposers.get(round);
    if (p === undefined) {
      p = proposerIndex(node.validators, round);
      node.proposers.set(round, p);
    }
    return p;
  }

  #deliverProposal(node: SimNode, p: Proposal): void {
    const round = this.machine.describe(node.machine).round;
    if (p.height !== node.engineHeight || !Number.isSafeInteger(p.round) || p.round < 0 || p.round > round + ENGINE_ROUNDS_AHEAD || !Number.isSafeInteger(p.polRound) || p.polRound < -1) {
      this.stats.rejected++;
      return;
    }
    const signer = node.validators[this.#proposer(node, p.round)]!;
    if (!this.#verify(signer.publicKey, proposalSignBytes(this.chainId, p.height, p.round, p.polRound, p.block.hash), p.signature)) {
      this.stats.rejected++;
      return;
    }
    if (!node.heldProposals.has(p.round)) node.heldProposals.set(p.round, p);
    this.#feed(node, { type: "proposal", proposal: p });
  }

  #deliverVote(node: SimNode, v: Vote): void {
    const val = node.validators[v.validatorIndex];
    if (val === undefined || (v.type !== VoteType.PREVOTE && v.type !== VoteType.PRECOMMIT) || !Number.isSafeInteger(v.round) || v.round < 0) {
      this.stats.rejected++;
      return;
    }
    if (!this.#verify(val.publicKey, voteSignBytes(this.chainId, v.type, v.height, v.round, v.blockHash ?? ZERO_HASH), v.signature)) {
      this.stats.rejected++;
      return;
    }
    hear(node, v);
    // What the engine can observe: votes of its height, before it decides, within its round window.
    const d = this.machine.describe(node.machine);
    if (d.step !== null && d.height === v.height && v.round <= d.round + ENGINE_ROUNDS_AHEAD) {
      const k = `${v.round}/${v.type}/${v.validatorIndex}`;
      const first = node.seenVotes.get(k);
      if (first === undefined) node.seenVotes.set(k, v);
      else if (node.behaviour === null && valueKey(first.blockHash) !== valueKey(v.blockHash)) this.#observe(node, v);
    }
    this.#feed(node, { type: "vote", vote: v });
  }

  #observe(node: SimNode, v: Vote): void {
    const subject = subjectKey(node.validators[v.validatorIndex]!.publicKey);
    const key = `${subject}@${v.height}/${v.round}/${v.type}`;
    if (this.observations.has(key)) return;
    this.stats.equivocationsObserved++;
    this.observations.set(key, { key, subject, validator: v.validatorIndex, node: node.index, time: this.now });
    this.#record(`${this.now} OBSERVE ${node.index} ${key}`);
  }

  /**
   * Pools evidence after the checks chain/evidence-pool.ts makes: about a committed height, it
   * must be includable in the next block (verifyEvidence); about the height in progress, the
   * stateless checks. Invalid evidence from a peer is dropped.
   */
  #addEvidence(node: SimNode, ev: Evidence): void {
    const id = evidenceId(ev);
    if (node.disk.evidence.has(id) || node.disk.punished.has(evidenceKey(ev))) return;
    try {
      if (evidenceSubject(ev, this.fx.genesis.params.epochLength).height > node.head) validateEvidenceBasic(ev, this.chainId);
      else verifyEvidence(this.#stateOf(node), ev, this.chainId, this.fx.genesis.params, node.head + 1n);
    } catch (e) {
      if (!(e instanceof EvidenceError)) throw e;
      this.stats.rejected++;
      return;
    }
    node.disk.evidence.set(id, ev);
    this.#record(`${this.now} EVIDENCE ${node.index} ${evidenceKey(ev)}`);
    this.#evidenceGossip(node);
  }

  /**
   * Evidence gossip: send each peer the pool entries it lacks. Which ones it lacks is read from
   * the peer's pool, standing in for the inventory exchange of a real evidence reactor.
   */
  #evidenceGossip(node: SimNode): void {
    if (node.disk.evidence.size === 0) return;
    for (const peer of this.nodes) {
      if (peer === node) continue;
      const missing = [...node.disk.evidence].filter(([id, e]) => !peer.disk.evidence.has(id) && !peer.disk.punished.has(evidenceKey(e))).map(([, e]) => e);
      if (missing.length > 0) this.#send(node, peer.index, { kind: "evidence", evidence: missing });
    }
  }

  // ================================================================ block sync

  #requestSync(node: SimNode, peer: number): void {
    if (this.now < node.syncBusyUntil) return;
    node.syncBusyUntil = this.now + SYNC_RETRY_MS;
    this.stats.syncRequests++;
    this.#send(node, peer, { kind: "syncRequest", from: node.head + 1n });
  }

  #serveSync(node: SimNode, peer: number, from: bigint): void {
    // Equivocators withhold their chain; everyone else serves it.
    if (node.behaviour === "equivocate" || from < 1n) return;
    const entries = node.disk.chain.slice(Number(from) - 1, Number(from) - 1 + SYNC_BATCH).map((c) => ({ block: c.block, commit: c.commit }));
    if (entries.length > 0) this.#send(node, peer, { kind: "syncResponse", entries });
  }

  /** Applies synced blocks in order, each only after its commit verifies against the set of its height. */
  #applySync(node: SimNode, _peer: number, entries: readonly Committed[]): void {
    let applied = 0;
    for (const e of entries) {
      const h = e.block.header.height;
      if (h <= node.head) continue;
      if (h !== node.head + 1n) break;
      const parent = this.#stateOf(node);
      try {
        verifyCommit(this.chainId, validatorSetAfter(parent), h, e.block.hash, e.commit);
      } catch {
        this.stats.rejected++;
        break;
      }
      const result = this.#apply(parent, e.block);
      if (result === null) {
        this.stats.rejected++;
        break;
      }
      this.#append(node, { block: e.block, commit: e.commit, state: result.state });
      this.stats.blocksSynced++;
      applied++;
      this.#record(`${this.now} S ${node.index} ${h} ${hex8(e.block.hash)}`);
    }
    if (applied > 0) {
      node.syncBusyUntil = -1;
      this.#startHeight(node);
    }
  }

  // ================================================================ messages out

  #send(node: SimNode, to: number, msg: Message): void {
    if (node.behaviour === "silent" || !node.up) return;
    this.stats.messages++;
    this.stats.byKind[msg.kind] = (this.stats.byKind[msg.kind] ?? 0) + 1;
    const times = this.#net.transmit(node.index, to, this.now);
    if (times.length === 0) this.stats.lost++;
    if (times.length > 1) this.stats.duplicated++;
    for (const t of times) this.#queue.push(t, { kind: "deliver", from: node.index, to, msg });
  }

  #outbox(node: SimNode, peer: number): PeerOutbox {
    let o = node.outbox.get(peer);
    if (!o) node.outbox.set(peer, (o = { proposal: null, votes: [] }));
    return o;
  }

  /** Sends to one peer and remembers it for re-gossip at this height. */
  #sendTracked(node: SimNode, peer: number, msg: Message): void {
    const o = this.#outbox(node, peer);
    if (msg.kind === "proposal") o.proposal = msg.proposal;
    if (msg.kind === "vote") o.votes.push(msg.vote);
    this.#send(node, peer, msg);
  }

  #broadcast(node: SimNode, msg: Message): void {
    for (const peer of this.nodes) if (peer !== node) this.#sendTracked(node, peer.index, msg);
  }

  /**
   * Tendermint-style gossip to each peer: at our height, the proposal of its round and the votes
   * of its rounds (and its proposal's POL round) it does not hold yet; behind us, our committed
   * blocks from its height on. Honest nodes only (equivocators withhold; the silent send nothing).
   */
  #catchUpGossip(node: SimNode): void {
    if (node.behaviour !== null || node.engineHeight !== node.head + 1n) return;
    for (const peer of this.nodes) {
      if (peer === node || !peer.up) continue;
      if (peer.head < node.head) {
        if ((node.pushedUntil.get(peer.index) ?? -1) > this.now) continue;
        node.pushedUntil.set(peer.index, this.now + SYNC_RETRY_MS);
        this.#serveSync(node, peer.index, peer.head + 1n);
        continue;
      }
      if (peer.engineHeight !== node.engineHeight) continue;
      const pr = this.machine.describe(peer.machine).round;
      let proposal: Proposal | null = null;
      const mine = node.heldProposals.get(pr);
      if (mine !== undefined && !peer.heldProposals.has(pr)) proposal = mine;
      const pol = peer.heldProposals.get(pr)?.polRound ?? proposal?.polRound ?? -1;
      const votes: Vote[] = [];
      for (const [k, v] of node.heard) {
        if (votes.length >= GOSSIP_VOTES_MAX) break;
        if ((v.round === pr || v.round === pr - 1 || (v.round === pol && v.type === VoteType.PREVOTE) || v.round > pr) && lacks(peer, k, v)) votes.push(v);
      }
      if (proposal !== null || votes.length > 0) this.#send(node, peer.index, { kind: "bundle", proposal, votes });
    }
  }

  /**
   * Re-sends each peer the latest proposal and the last votes this node sent it at this height;
   * `relay` also forwards the votes it has seen this height to one random peer.
   */
  #regossip(node: SimNode, relay: boolean): void {
    if (node.engineHeight !== node.head + 1n) return;
    for (const [peer, o] of node.outbox) {
      if (o.proposal === null && o.votes.length === 0) continue;
      this.#send(node, peer, { kind: "bundle", proposal: o.proposal, votes: [...this.#polVotes(node, o.proposal), ...o.votes.slice(-REGOSSIP_VOTES)] });
    }
    if (relay && node.behaviour === null && this.nodes.length > 1) {
      const d = this.machine.describe(node.machine);
      const proposal = node.heldProposals.get(d.round) ?? null;
      const votes = [...this.#polVotes(node, proposal), ...[...node.heard.values()].filter((v) => v.round >= d.round - 1)];
      let peer = node.rng.int(this.nodes.length - 1);
      if (peer >= node.index) peer++;
      if (votes.length > 0 || proposal !== null) this.#send(node, peer, { kind: "bundle", proposal, votes });
    }
  }

  // ================================================================ Byzantine behaviours

  /**
   * Conflicting proposals: side 0 of the coalition's split gets one valid block, side 1 another
   * (same parent, one millisecond later). Signed outside the signer: a Byzantine node ignores it.
   */
  #proposeConflicting(node: SimNode, h: bigint, r: number, known?: Block, polRound = -1): void {
    const a = known ?? this.#build(node);
    const b = this.#build(node, 1n);
    const sign = (block: Block, pol: number): Proposal => ({
      height: h, round: r, polRound: pol, block,
      signature: node.key.sign(proposalSignBytes(this.chainId, h, r, pol, block.hash)),
    });
    const pa = sign(a, known ? polRound : -1);
    const pb = sign(b, -1);
    this.#record(`${this.now} BYZ ${node.index} conflicting ${h}.${r} ${hex8(a.hash)}|${hex8(b.hash)}`);
    for (const peer of this.nodes) {
      if (peer === node) continue;
      this.#sendTracked(node, peer.index, { kind: "proposal", proposal: this.scenario.sides[peer.index] === 1 ? pb : pa });
    }
    this.#feed(node, { type: "proposal", proposal: pa });
  }

  /** A proposal that fails applyBlock; its hash is what this node then votes for at this height. */
  #proposeInvalid(node: SimNode, h: bigint, r: number): void {
    const parent = this.#stateOf(node);
    const block = corruptBlock(this.#build(node), parent, node.rng.pick(DEFECTS), node.rng);
    node.invalidHash = block.hash;
    const proposal: Proposal = { height: h, round: r, polRound: -1, block, signature: node.key.sign(proposalSignBytes(this.chainId, h, r, -1, block.hash)) };
    this.#record(`${this.now} BYZ ${node.index} invalid ${h}.${r} ${hex8(block.hash)}`);
    this.#broadcast(node, { kind: "proposal", proposal });
    this.#feed(node, { type: "proposal", proposal });
  }

  #signVote(node: SimNode, type: VoteType, h: bigint, r: number, blockHash: Uint8Array | null): Vote {
    const signature = node.key.sign(voteSignBytes(this.chainId, type, h, r, blockHash ?? ZERO_HASH));
    return { type, height: h, round: r, blockHash, validatorIndex: node.selfIndex!, signature };
  }

  /** Prevotes and precommits for an invalid block (its own proposal, or a made-up one), whatever the engine says. */
  #voteInvalid(node: SimNode, type: VoteType, h: bigint, r: number): void {
    node.invalidHash ??= node.rng.bytes(32);
    const vote = this.#signVote(node, type, h, r, node.invalidHash);
    this.#broadcast(node, { kind: "vote", vote });
    this.#feed(node, { type: "vote", vote });
  }

  /**
   * Equivocating votes: a peer already holding a proposal other than the engine's value for this
   * round gets a vote for that proposal; otherwise side 0 gets the engine's value and side 1 a
   * different one (nil for a block, a made-up hash for nil). A peer that holds no proposal yet
   * is served later (every EQUIVOCATE_RETRY_MS, up to EQUIVOCATE_TRIES times): an adaptive
   * adversary waits to see which block it should help each peer to.
   */
  #voteEquivocating(node: SimNode, type: VoteType, h: bigint, r: number, engineValue: Uint8Array | null): void {
    const own = this.#signVote(node, type, h, r, engineValue);
    for (const peer of this.nodes) if (peer !== node) this.#equivocateTo(node, peer, type, h, r, engineValue, 0);
    this.#feed(node, { type: "vote", vote: own });
  }

  #equivocateTo(node: SimNode, peer: SimNode, type: VoteType, h: bigint, r: number, engineValue: Uint8Array | null, tries: number): void {
    if (node.engineHeight !== h) return;
    const heldProposal = peer.engineHeight === h ? peer.heldProposals.get(r) : undefined;
    if (heldProposal === undefined && tries < EQUIVOCATE_TRIES) {
      this.#timer(node, EQUIVOCATE_RETRY_MS, { kind: "equivocate", peer: peer.index, voteType: type, height: h, round: r, value: engineValue, tries: tries + 1 });
      return;
    }
    node.altHash ??= node.rng.bytes(32);
    let value: Uint8Array | null;
    if (heldProposal !== undefined && valueKey(heldProposal.block.hash) !== valueKey(engineValue)) value = heldProposal.block.hash;
    else if (this.scenario.sides[peer.index] === 1) value = engineValue !== null ? null : node.altHash;
    else value = engineValue;
    const vote = this.#signVote(node, type, h, r, value);
    if (valueKey(value) !== valueKey(engineValue)) this.#record(`${this.now} BYZ ${node.index} equivocate ${type} ${h}.${r} to ${peer.index}: ${hex8(value)} not ${hex8(engineValue)}`);
    this.#sendTracked(node, peer.index, { kind: "vote", vote });
  }

  // ================================================================ checks

  /** Observed equivocations (up to the height target) whose evidence is not yet where it must be. */
  #accountabilityGaps(limit: number): string[] {
    const gaps: string[] = [];
    const honest = this.nodes.filter((n) => n.behaviour === null);
    for (const ob of this.observations.values()) {
      if (this.#reachedAt !== null && ob.time > this.#reachedAt) continue;
      if (!honest.some((n) => n.disk.punished.has(ob.subject))) {
        gaps.push(`equivocation ${ob.key} (validator index ${ob.validator}) observed by node ${ob.node} at ${ob.time}ms is not on chain`);
      }
      if (gaps.length >= limit) break;
    }
    return gaps;
  }

  #checkAgreement(honest: SimNode[]): void {
    const max = Math.max(0, ...honest.map((n) => n.disk.chain.length));
    let reported = 0;
    for (let h = 1; h <= max && reported < 3; h++) {
      const byHash = new Map<string, number[]>();
      for (const n of honest) {
        const e = n.disk.chain[h - 1];
        if (!e) continue;
        const k = hex8(e.block.hash);
        byHash.set(k, [...(byHash.get(k) ?? []), n.index]);
      }
      if (byHash.size > 1) {
        reported++;
        this.#fail("agreement", `height ${h}: ${[...byHash].map(([k, ns]) => `nodes ${ns.join(",")} finalized ${k}`).join("; ")}`);
      }
    }
  }

  /** Replays every honest chain from genesis with a fresh applyBlock and verifyCommit (no memo). */
  #checkValidity(honest: SimNode[]): void {
    const done = new Map<string, ChainState>();
    for (const n of honest) {
      let parent = this.fx.state;
      for (const e of n.disk.chain) {
        const h = e.block.header.height;
        const k = this.#applyKey(parent, e.block);
        let next = done.get(k);
        if (next === undefined) {
          try {
            verifyCommit(this.chainId, validatorSetAfter(parent), h, e.block.hash, e.commit);
            next = applyBlock(parent, e.block, this.fx.genesis.params, this.chainId).state;
          } catch (err) {
            this.#fail("validity", `node ${n.index} height ${h} ${hex8(e.block.hash)}: ${(err as { code?: string }).code ?? ""} ${(err as Error).message}`);
            break;
          }
          if (!equalBytes(next.root(), e.state.root())) {
            this.#fail("validity", `node ${n.index} height ${h}: its state root differs from a replay`);
            break;
          }
          done.set(k, next);
        }
        parent = next;
      }
    }
  }

  #finish(): SimResult {
    const honest = this.nodes.filter((n) => n.behaviour === null);
    this.#checkAgreement(honest);
    this.#checkValidity(honest);
    const heights = honest.map((n) => n.disk.chain.length);
    const minHeight = heights.length ? Math.min(...heights) : 0;
    if (honest.length > 0 && this.#reachedAt === null && !this.failures.some((f) => f.check === "budget") && !(this.#forked && this.o.stopOnViolation)) {
      this.#fail(
        "liveness",
        `healed at ${this.scenario.healAt}ms with honest min height ${this.#minHeightAtHeal}; target ${this.#target} not reached by ${this.now}ms (honest heights ${heights.join(",")})`,
      );
    }
    // Evidence needs blocks to land in: without liveness, accountability is not judged.
    if (this.#reachedAt !== null) for (const g of this.#accountabilityGaps(5)) this.#fail("accountability", g);
    let evidenceCount = 0;
    const longest = honest.reduce<SimNode | null>((a, b) => (a === null || b.disk.chain.length > a.disk.chain.length ? b : a), null);
    for (const c of longest?.disk.chain ?? []) evidenceCount += c.block.evidence.length;
    for (const n of this.nodes) this.#record(`END ${n.index} ${n.disk.chain.length} ${hex8(n.disk.chain.at(-1)?.block.hash ?? null)}`);
    return {
      options: this.o,
      scenario: this.scenario,
      engine: this.machine.name,
      traceHash: this.#hash.digest("hex"),
      trace: this.#trace,
      events: this.events,
      virtualMs: this.now,
      honestHeights: heights,
      minHeight,
      maxHeight: heights.length ? Math.max(...heights) : 0,
      target: this.#target,
      minHeightAtHeal: this.#minHeightAtHeal,
      reachedAt: this.#reachedAt,
      stats: this.stats,
      failures: this.failures,
      evidenceCount,
    };
  }
}

export function runSimulation(o: SimOptions, machine?: AnyMachine): SimResult {
  return new World(o, machine).run();
}
