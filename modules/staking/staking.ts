/**
 * Staking and the validator sets (docs/protocol.md sections 2 and 3), run by the state transition.
 * Pure and deterministic: bigint arithmetic, sorted key lists; maps are iterated only where the
 * order cannot change the result (their output is sorted).
 *
 * Three sets live in the state. After block h:
 *   lastValidators  signed block h; block h+1's lastCommit is checked against it, and downtime
 *                   is counted over it;
 *   validators      the set for h+1, with proposer priorities (chain/consensus/proposer.ts);
 *   nextValidators  the set for h+2.
 * At the end of block h: lastValidators := validators; validators := nextValidators, each
 * continuing member keeping its priority and each new one getting joiningPriority(total), then
 * advanced by one increment; and, if a candidate's stake or status changed in the block,
 * nextValidators := the top params.maxValidators eligible candidates by stake (ties: lower
 * public key first). So a change made in block h takes effect at height h+2. A set never
 * becomes empty: when no candidate is eligible, nextValidators keeps its previous members.
 *
 * A candidate is eligible when registered, not jailed, and staked >= params.minValidatorStake;
 * `StakingKey.candidates` lists the eligible ones, so computing the set reads only them. Both the
 * list and the set are settled once, at the end of a block, for the validators it touched.
 *
 * Unbonding: `unstake` in block h moves stake into an unbonding entry released to the balance
 * at the end of block h + params.unbondingBlocks; the per-height queue record
 * `StakingKey.unbondingQueue(h)` lists the accounts to release, so no block scans all accounts.
 */
import { AmountError, addU64 } from "../../primitives/amount.ts";
import { compareBytes, toHex } from "../../primitives/bytes.ts";
import type { Commit } from "../../chain/block.ts";
import { ExecError, ExecErrorCode, OpError, type BlockContext } from "../../chain/exec.ts";
import { incrementPriorities, joiningPriority } from "../../chain/consensus/proposer.ts";
import type { ChainParams } from "../../chain/params.ts";
import { encodeKeyList, encodeValidators, readKeyList, readValidatorSet, StateKey, type Account, type StateReader, type StateWriter, type Validator } from "../../chain/state.ts";
import type { SignedTx } from "../../chain/tx.ts";
import { encodeHeights, encodeValidatorInfo, newValidatorInfo, readHeights, readValidatorInfo, StakingKey, type ValidatorInfo } from "./records.ts";
import type { DuplicateVoteEvidence } from "./evidence.ts";

export const StakingErrorCode = {
  /** unstake of more than the account has staked */
  INSUFFICIENT_STAKE: "INSUFFICIENT_STAKE",
  /** validator.register with staked below params.minValidatorStake */
  BELOW_MIN_STAKE: "BELOW_MIN_STAKE",
  ALREADY_REGISTERED: "ALREADY_REGISTERED",
  /** validator.unjail from an account that never registered */
  NOT_A_VALIDATOR: "NOT_A_VALIDATOR",
  NOT_JAILED: "NOT_JAILED",
  /** validator.unjail before the jail time is over */
  STILL_JAILED: "STILL_JAILED",
  /** validator.unjail by a validator tombstoned for double-signing: never accepted */
  TOMBSTONED: "TOMBSTONED",
  /** unstake when the account already has MAX_UNBONDING_ENTRIES pending release heights */
  TOO_MANY_UNBONDING: "TOO_MANY_UNBONDING",
} as const;
export type StakingErrorCode = (typeof StakingErrorCode)[keyof typeof StakingErrorCode];
/** A staking operation that failed (its fee and nonce stay consumed). */
export class StakingError extends OpError<StakingErrorCode> {}

/**
 * What a block remembers for its end (chain/exec.ts BlockContext.scratch): the registered
 * validators whose stake or status changed (by hex key; at the end of the block their eligibility
 * is settled and the set for h+2 recomputed; both are pure functions of the final state, so an
 * entry left by a rolled-back op costs time, never a different result), and the accounts that
 * unstaked (all their entries release at one height, so its queue record is written once; an
 * entry left by a rolled-back unstake is harmless).
 */
interface StakingScratch {
  readonly touched: Map<string, Uint8Array>;
  readonly unbondingQueued: Map<string, Uint8Array>;
}
function scratch(ctx: BlockContext): StakingScratch {
  let s = ctx.scratch.get("staking") as StakingScratch | undefined;
  if (s === undefined) ctx.scratch.set("staking", (s = { touched: new Map(), unbondingQueued: new Map() }));
  return s;
}

/** Most pending release heights per account (two unstakes in one block share one entry). */
export const MAX_UNBONDING_ENTRIES = 32;

export type StakingOp = Extract<SignedTx["op"], { type: "stake" | "unstake" | "validator.register" | "validator.unjail" }>;

// ---- sorted key lists ----

/** Adds `keys` to the sorted key list at `recordKey`, writing it once if anything is new. */
function addToKeyList(w: StateWriter, recordKey: Uint8Array, keys: readonly Uint8Array[]): void {
  const list = readKeyList(w, recordKey);
  const present = new Set(list.map(toHex));
  const added = keys.filter((k) => !present.has(toHex(k)));
  if (added.length === 0) return;
  w.set(recordKey, encodeKeyList([...list, ...added].sort(compareBytes)));
}

// ---- candidates ----

function writeInfo(w: StateWriter, publicKey: Uint8Array, info: ValidatorInfo): void {
  w.set(StakingKey.validator(publicKey), encodeValidatorInfo(info));
}

function isEligible(info: ValidatorInfo, account: Account, params: ChainParams): boolean {
  return !info.jailed && !info.tombstoned && account.staked >= params.minValidatorStake;
}

/**
 * After a change to `publicKey`'s stake or candidate record: remembers it for the end of the
 * block, which settles its eligibility and recomputes the set. Nothing for accounts that never
 * registered.
 */
export function candidateChanged(w: StateWriter, ctx: BlockContext, publicKey: Uint8Array): void {
  if (readValidatorInfo(w, publicKey)) scratch(ctx).touched.set(toHex(publicKey), publicKey);
}

/** Brings the eligible list up to date for the validators touched in this block (one write). */
function settleCandidates(w: StateWriter, ctx: BlockContext): void {
  const list = readKeyList(w, StakingKey.candidates);
  const eligible = new Map<string, Uint8Array>();
  for (const k of list) eligible.set(toHex(k), k);
  let changed = false;
  for (const [id, pk] of scratch(ctx).touched) {
    const info = readValidatorInfo(w, pk);
    const now = info !== undefined && isEligible(info, w.account(pk), ctx.params);
    if (now === eligible.has(id)) continue;
    changed = true;
    if (now) eligible.set(id, pk);
    else eligible.delete(id);
  }
  if (!changed) return;
  const next = [...eligible.values()].sort(compareBytes);
  w.set(StakingKey.candidates, next.length === 0 ? null : encodeKeyList(next));
}

/**
 * The set for h+2 from the state: the top params.maxValidators eligible candidates by staked
 * (ties: the lower public key first), in that order, priorities 0. Empty if none is eligible.
 */
export function computeNextValidators(r: StateReader, params: ChainParams): Validator[] {
  const members: Validator[] = [];
  for (const pk of readKeyList(r, StakingKey.candidates)) {
    const info = readValidatorInfo(r, pk);
    const account = r.account(pk);
    // settleCandidates keeps the list exact; the check is a cheap guard.
    if (info && isEligible(info, account, params)) members.push({ publicKey: pk, power: account.staked, name: info.name, priority: 0n });
  }
  return sortValidators(members).slice(0, params.maxValidators);
}

/**
 * The current set's successor: `next`'s members in `next`'s order, continuing members keeping
 * their priority from `current`, new ones joining at joiningPriority(total power of `next`), then
 * one increment (the priorities the new height starts from).
 */
export function promoteValidators(current: readonly Validator[], next: readonly Validator[]): Validator[] {
  const previous = new Map<string, bigint>();
  for (const v of current) previous.set(toHex(v.publicKey), v.priority);
  let total = 0n;
  for (const v of next) total += v.power;
  const merged = next.map((v) => ({ ...v, priority: previous.get(toHex(v.publicKey)) ?? joiningPriority(total) }));
  const { priorities } = incrementPriorities(merged);
  return merged.map((v, i) => ({ ...v, priority: priorities[i]! }));
}

// ---- operations ----

function overflowAsExec<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof AmountError) throw new ExecError(ExecErrorCode.AMOUNT_OVERFLOW, "amount would overflow");
    throw e;
  }
}

/** Executes a staking operation for `tx.sender`; throws ExecError for a failure (rolled back by the caller). */
export function executeStakingOp(w: StateWriter, ctx: BlockContext, tx: SignedTx, op: StakingOp): void {
  const sender = tx.sender;
  const { params, height, events } = ctx;
  switch (op.type) {
    case "stake": {
      const a = w.account(sender);
      if (a.balance < op.amount) throw new ExecError(ExecErrorCode.INSUFFICIENT_BALANCE, `balance ${a.balance} < amount ${op.amount}`);
      const staked = overflowAsExec(() => addU64(a.staked, op.amount));
      w.setAccount(sender, { ...a, balance: a.balance - op.amount, staked });
      events.push({ kind: "stake", txHash: tx.hash, account: sender, amount: op.amount });
      candidateChanged(w, ctx, sender);
      return;
    }
    case "unstake": {
      const a = w.account(sender);
      if (a.staked < op.amount) throw new StakingError(StakingErrorCode.INSUFFICIENT_STAKE, `staked ${a.staked} < amount ${op.amount}`);
      const releaseHeight = height + BigInt(params.unbondingBlocks);
      const at = a.unbonding.findIndex((u) => u.releaseHeight === releaseHeight);
      let unbonding;
      if (at >= 0) {
        const merged = overflowAsExec(() => addU64(a.unbonding[at]!.amount, op.amount));
        unbonding = a.unbonding.map((u, i) => (i === at ? { amount: merged, releaseHeight } : u));
      } else {
        if (a.unbonding.length >= MAX_UNBONDING_ENTRIES) {
          throw new StakingError(StakingErrorCode.TOO_MANY_UNBONDING, `the account already has ${MAX_UNBONDING_ENTRIES} pending unbonding entries`);
        }
        unbonding = [...a.unbonding, { amount: op.amount, releaseHeight }];
      }
      w.setAccount(sender, { ...a, staked: a.staked - op.amount, unbonding });
      scratch(ctx).unbondingQueued.set(toHex(sender), sender);
      events.push({ kind: "unstake", txHash: tx.hash, account: sender, amount: op.amount, releaseHeight });
      candidateChanged(w, ctx, sender);
      return;
    }
    case "validator.register": {
      if (readValidatorInfo(w, sender)) throw new StakingError(StakingErrorCode.ALREADY_REGISTERED, "the sender is already a registered validator");
      const staked = w.account(sender).staked;
      if (staked < params.minValidatorStake) {
        throw new StakingError(StakingErrorCode.BELOW_MIN_STAKE, `staked ${staked} is below the minimum ${params.minValidatorStake}`);
      }
      writeInfo(w, sender, newValidatorInfo(op.name, params.downtimeWindow));
      events.push({ kind: "validatorRegister", txHash: tx.hash, validator: sender, name: op.name });
      candidateChanged(w, ctx, sender);
      return;
    }
    case "validator.unjail": {
      const info = readValidatorInfo(w, sender);
      if (!info) throw new StakingError(StakingErrorCode.NOT_A_VALIDATOR, "the sender is not a registered validator");
      if (info.tombstoned) throw new StakingError(StakingErrorCode.TOMBSTONED, "the validator double-signed: it is tombstoned and can never unjail");
      if (!info.jailed) throw new StakingError(StakingErrorCode.NOT_JAILED, "the validator is not jailed");
      if (info.jailedUntil > height) throw new StakingError(StakingErrorCode.STILL_JAILED, `jailed until height ${info.jailedUntil}`);
      writeInfo(w, sender, { ...info, jailed: false, jailedUntil: 0n });
      events.push({ kind: "unjail", txHash: tx.hash, validator: sender });
      candidateChanged(w, ctx, sender);
      return;
    }
  }
}

// ---- punishment ----

function jail(ctx: BlockContext, publicKey: Uint8Array, info: ValidatorInfo, blocks: number, reason: "doubleSign" | "downtime"): ValidatorInfo {
  const until = ctx.height + BigInt(blocks);
  const jailedUntil = info.jailed && info.jailedUntil > until ? info.jailedUntil : until;
  const next = { ...info, jailed: true, jailedUntil };
  ctx.events.push({ kind: "jail", validator: publicKey, until: jailedUntil, reason });
  return next;
}

/**
 * Punishes a verified double-sign, once per validator (docs/protocol.md section 3: one double-sign fault
 * is slashed once): params.slashDoubleSignBps of the validator's stake is burned (of `staked`, and
 * of every unbonding entry begun at or after the infraction height, so unstaking after
 * double-signing does not escape), it is jailed and tombstoned (validator.unjail is refused
 * forever, and evidence against it is refused as already punished: double-signing at several
 * heights is one infraction), and it leaves the set at h+2.
 */
export function punishDoubleSign(w: StateWriter, ctx: BlockContext, ev: DuplicateVoteEvidence): void {
  const validator = ev.voteA.validator;
  const e = ev.voteA.height;
  const bps = BigInt(ctx.params.slashDoubleSignBps);
  const unbondingBlocks = BigInt(ctx.params.unbondingBlocks);
  const a = w.account(validator);
  let slashed = (a.staked * bps) / 10_000n;
  const staked = a.staked - slashed;
  const unbonding = a.unbonding
    .map((u) => {
      // an entry released at r was begun at r - unbondingBlocks: bonded at e if begun at or after e
      if (u.releaseHeight - unbondingBlocks < e) return u;
      const cut = (u.amount * bps) / 10_000n;
      slashed += cut;
      return { amount: u.amount - cut, releaseHeight: u.releaseHeight };
    })
    .filter((u) => u.amount > 0n);
  w.setAccount(validator, { ...a, staked, unbonding });
  ctx.burned += slashed;
  ctx.events.push({ kind: "slash", validator, amount: slashed, evidenceHeight: e });
  const jailed = jail(ctx, validator, readValidatorInfo(w, validator)!, ctx.params.jailBlocks, "doubleSign");
  writeInfo(w, validator, { ...jailed, tombstoned: true });
  candidateChanged(w, ctx, validator);
}

function getBit(bits: Uint8Array, i: number): boolean {
  return ((bits[i >> 3]! >> (i & 7)) & 1) === 1;
}
function withBit(bits: Uint8Array, i: number, on: boolean): Uint8Array {
  const out = Uint8Array.from(bits);
  if (on) out[i >> 3] = out[i >> 3]! | (1 << (i & 7));
  else out[i >> 3] = out[i >> 3]! & ~(1 << (i & 7));
  return out;
}

/**
 * Downtime: for the block carrying `commit` (of the previous height, signed by `signers` =
 * lastValidators), records signed / missed in each unjailed signer's window of
 * params.downtimeWindow blocks; a validator with more than downtimeWindow - downtimeMinSigned
 * misses in its window is jailed for params.downtimeJailBlocks (no slash) and its window reset.
 * (The same commit's signatures, jailed signers' too, are tallied for the epoch's validator reward
 * by the rewards module's own beginBlock hook.)
 */
export function trackDowntime(w: StateWriter, ctx: BlockContext, signers: readonly Validator[], commit: Commit): void {
  const window = ctx.params.downtimeWindow;
  const maxMissed = window - ctx.params.downtimeMinSigned;
  const signed = new Set<number>();
  for (const s of commit.signatures) signed.add(s.validatorIndex);
  signers.forEach((v, index) => {
    const info = readValidatorInfo(w, v.publicKey);
    if (!info || info.jailed) return;
    const missed = !signed.has(index);
    const slot = Number(info.windowIndex % BigInt(window));
    const bits = info.missedBits.length * 8 >= window ? info.missedBits : new Uint8Array(Math.ceil(window / 8));
    const was = getBit(bits, slot);
    let next: ValidatorInfo = info;
    if (was !== missed) {
      next = { ...next, missedBits: withBit(bits, slot, missed), missed: next.missed + (missed ? 1 : -1) };
    }
    next = { ...next, windowIndex: next.windowIndex + 1n };
    if (next.missed > maxMissed) {
      next = jail(ctx, v.publicKey, { ...newValidatorInfo(next.name, window), tombstoned: info.tombstoned }, ctx.params.downtimeJailBlocks, "downtime");
      writeInfo(w, v.publicKey, next);
      candidateChanged(w, ctx, v.publicKey);
      return;
    }
    writeInfo(w, v.publicKey, next);
  });
}

// ---- end of block ----

/** Writes the queue record for this block's unstakes (all release at height + unbondingBlocks). */
export function queueUnbonding(w: StateWriter, ctx: BlockContext): void {
  if (scratch(ctx).unbondingQueued.size === 0) return;
  addToKeyList(w, StakingKey.unbondingQueue(ctx.height + BigInt(ctx.params.unbondingBlocks)), [...scratch(ctx).unbondingQueued.values()]);
}

/** Releases the unbonding entries due at ctx.height to their accounts' balances. */
export function releaseUnbonding(w: StateWriter, ctx: BlockContext): void {
  const queueKey = StakingKey.unbondingQueue(ctx.height);
  const due = readKeyList(w, queueKey);
  if (due.length === 0) return;
  for (const pk of due) {
    const a = w.account(pk);
    let amount = 0n;
    const keep = a.unbonding.filter((u) => {
      if (u.releaseHeight > ctx.height) return true;
      amount += u.amount;
      return false;
    });
    // nothing due: the entry was slashed away, or queued by an unstake that was rolled back
    if (keep.length === a.unbonding.length) continue;
    w.setAccount(pk, { ...a, balance: addU64(a.balance, amount), unbonding: keep });
    if (amount > 0n) ctx.events.push({ kind: "unbonded", account: pk, amount });
  }
  w.set(queueKey, null);
}

/** The member keys of a set, sorted. */
function memberKeys(set: readonly Validator[]): Uint8Array[] {
  return set.map((v) => v.publicKey).sort(compareBytes);
}

/**
 * The set history evidence is judged by (docs/protocol.md section 3: duplicate votes are evidence against
 * the set that was active at that height): when the set for `from` has other members than the set
 * before it, its members are recorded under StakingKey.setAt(from). Records no evidence can refer
 * to any more (evidence in the next block names heights >= from - evidenceMaxAgeBlocks) are dropped,
 * all but the latest at or below that height.
 */
function recordSetHistory(w: StateWriter, ctx: BlockContext, before: readonly Validator[], after: readonly Validator[], from: bigint): void {
  const a = memberKeys(before);
  const b = memberKeys(after);
  const changed = a.length !== b.length || a.some((k, i) => compareBytes(k, b[i]!) !== 0);
  let heights = readHeights(w, StakingKey.setChanges);
  const original = heights.length;
  if (changed) {
    w.set(StakingKey.setAt(from), encodeKeyList(b));
    heights = [...heights, from];
  }
  const oldest = from - BigInt(ctx.params.evidenceMaxAgeBlocks);
  let drop = 0;
  while (drop + 1 < heights.length && heights[drop + 1]! <= oldest) {
    w.set(StakingKey.setAt(heights[drop]!), null);
    drop++;
  }
  if (changed || drop > 0 || heights.length !== original) w.set(StakingKey.setChanges, encodeHeights(heights.slice(drop)));
}

/** The end-of-block rotation of the three sets (see the module comment). */
export function rotateValidatorSets(w: StateWriter, ctx: BlockContext): void {
  const current = readValidatorSet(w, StateKey.validators);
  const next = readValidatorSet(w, StateKey.nextValidators);
  const promoted = promoteValidators(current, next);
  w.set(StateKey.lastValidators, encodeValidators(current));
  w.set(StateKey.validators, encodeValidators(promoted));
  recordSetHistory(w, ctx, current, promoted, ctx.height + 1n);
  if (scratch(ctx).touched.size > 0) {
    settleCandidates(w, ctx);
    const computed = computeNextValidators(w, ctx.params);
    // Never empty: with no eligible candidate the chain keeps its last set rather than halt.
    if (computed.length > 0) w.set(StateKey.nextValidators, encodeValidators(computed));
  }
}

/** Genesis records for the staking module: every genesis validator is a registered, eligible candidate. */
export function genesisValidatorRecords(validators: readonly Validator[], params: ChainParams): [Uint8Array, Uint8Array][] {
  const sorted = sortValidators(validators);
  const records: [Uint8Array, Uint8Array][] = [];
  for (const v of validators) records.push([StakingKey.validator(v.publicKey), encodeValidatorInfo(newValidatorInfo(v.name, params.downtimeWindow))]);
  records.push([StakingKey.candidates, encodeKeyList([...validators.map((v) => v.publicKey)].sort(compareBytes))]);
  records.push([StakingKey.setAt(1n), encodeKeyList(memberKeys(validators))], [StakingKey.setChanges, encodeHeights([1n])]);
  const set = encodeValidators(sorted.map((v) => ({ ...v, priority: 0n })));
  records.push([StateKey.validators, set], [StateKey.lastValidators, set], [StateKey.nextValidators, set]);
  return records;
}

/** Set order: power descending, then public key ascending. */
export function sortValidators(vs: readonly Validator[]): Validator[] {
  return [...vs].sort((a, b) => (a.power !== b.power ? (a.power > b.power ? -1 : 1) : compareBytes(a.publicKey, b.publicKey)));
}
