/**
 * Duplicate-vote evidence (chain/evidence.ts): its codec, each rejection with its own code, and
 * its effect through the real transition: slash (burned), jail, out of the set at h+2, once.
 */
import t, { type Test } from "tap";
import { BlockErrorCode, decodeBlock, makeBlock, MAX_BLOCK_EVIDENCE, type Block } from "../../../../chain/block.ts";
import { compareBytes, equalBytes } from "../../../../primitives/bytes.ts";
import { decode, encode, type CborValue } from "../../../../primitives/codec.ts";
import { decodeEvidence, encodeEvidence, EvidenceErrorCode, evidenceHash, evidenceRoot, validateEvidenceBasic, verifyEvidence, type Evidence } from "../../../../chain/evidence.ts";
import { sha256 } from "../../../../primitives/hash.ts";
import type { KeyPair } from "../../../../primitives/keys.ts";
import { applyBlock, type BuiltBlock } from "../../../../chain/transition.ts";
import { VoteType } from "../../../../chain/vote.ts";
import { advance, advanceChecked, build, newTestChain, supplyHolds, testKey, txNext, type TestChain } from "../../../helpers/chain.ts";
import { DuplicateVoteErrorCode, duplicateVoteEvidence } from "../../../../modules/staking/evidence.ts";
import { signVote, type SignedVote } from "../../../../chain/vote.ts";
import { StakingKey, readValidatorInfo } from "../../../../modules/staking/records.ts";

const CLC = 1_000_000_000n;
const PARAMS = {
  // two-block epochs: the genesis wants the unbonding to cover the 4 epochs in which
  // double-attestation evidence is accepted, and these tests want it short
  epochLength: 2,
  minValidatorStake: CLC.toString(),
  unbondingBlocks: 10,
  evidenceMaxAgeBlocks: 5,
  jailBlocks: 10,
  slashDoubleSignBps: 1000, // 10%
  downtimeWindow: 8,
  downtimeMinSigned: 4,
  downtimeJailBlocks: 6,
};
const V = [testKey(401), testKey(402), testKey(403), testKey(404)];
const { PREVOTE, PRECOMMIT } = VoteType;

function fourValidators(): TestChain {
  return newTestChain({ validators: V.map((key) => ({ key, power: 10n * CLC })), params: PARAMS });
}

const hashOf = (label: string): Uint8Array => sha256(new TextEncoder().encode(label));
/** Two block hashes, A sorting before B (canonical evidence order). */
const [A, B] = [hashOf("block A"), hashOf("block B")].sort(compareBytes) as [Uint8Array, Uint8Array];

interface VoteSpec {
  key?: KeyPair;
  type?: VoteType;
  height: bigint;
  round?: number;
  blockHash: Uint8Array | null;
}
function vote(chain: TestChain, s: VoteSpec): SignedVote {
  return signVote(chain.genesis.chainId, s.key ?? V[1]!, { type: s.type ?? PRECOMMIT, height: s.height, round: s.round ?? 0, blockHash: s.blockHash });
}
/** Canonical evidence that V1 (by default) voted for A and for B at `height`. */
function doubleSign(chain: TestChain, height: bigint, key: KeyPair = V[1]!, round = 0): Evidence {
  return duplicateVoteEvidence(vote(chain, { key, height, round, blockHash: A }), vote(chain, { key, height, round, blockHash: B }));
}
/** Evidence exactly as given (no reordering). */
function raw(voteA: SignedVote, voteB: SignedVote): Evidence {
  return { kind: "duplicateVote", voteA, voteB };
}

function step(t: Test, chain: TestChain, opts: Parameters<typeof advance>[2] = {}, txs: Parameters<typeof advance>[1] = []): BuiltBlock {
  return advanceChecked((m) => t.fail(m), chain, txs, opts);
}

/** The chain's next block with `evidence` forced in (roots other than the evidence root are left as built without it). */
function blockWithEvidence(chain: TestChain, evidence: Evidence[]): Block {
  const b = build(chain, []).block;
  return makeBlock({ ...b.header, evidenceRoot: evidenceRoot(evidence) }, b.txs, b.lastCommit, evidence);
}
function apply(chain: TestChain, block: Block) {
  return applyBlock(chain.state, block, chain.genesis.params, chain.genesis.chainId);
}

t.test("evidence codec: canonical round trip, committed to by the header", async (t) => {
  const chain = fourValidators();
  const ev = duplicateVoteEvidence(vote(chain, { height: 3n, blockHash: B }), vote(chain, { height: 3n, blockHash: null }));
  t.equal(ev.voteA.blockHash, null, "nil (the zero hash) sorts first");
  const bytes = encodeEvidence(ev);
  t.same(decodeEvidence(bytes), ev);
  t.same(encodeEvidence(decodeEvidence(bytes)), bytes);
  t.same(evidenceHash(ev), evidenceHash(decodeEvidence(bytes)));
  const mutations: [string, CborValue][] = [
    ["unknown kind", [2, ...(decode(bytes) as CborValue[]).slice(1)]],
    ["vote type 3", [1, [3, ...((decode(bytes) as CborValue[])[1] as CborValue[]).slice(1)], (decode(bytes) as CborValue[])[2]!]],
    ["missing vote", (decode(bytes) as CborValue[]).slice(0, 2)],
    ["short signature", [1, ((decode(bytes) as CborValue[])[1] as CborValue[]).map((x, i) => (i === 5 ? new Uint8Array(63) : x)), (decode(bytes) as CborValue[])[2]!]],
  ];
  for (const [name, v] of mutations) t.throws(() => decodeEvidence(encode(v)), { code: EvidenceErrorCode.MALFORMED }, name);
  t.throws(() => decodeEvidence(new Uint8Array([...bytes, 0])), { code: EvidenceErrorCode.MALFORMED }, "trailing bytes");

  // a block carries evidence; its header commits to it
  for (let i = 0; i < 3; i++) advance(chain, []);
  const built = build(chain, [], { evidence: [doubleSign(chain, 2n)] });
  t.equal(built.block.evidence.length, 1);
  t.same(built.block.header.evidenceRoot, evidenceRoot(built.block.evidence));
  t.not(Buffer.compare(built.block.header.evidenceRoot, evidenceRoot([])), 0);
  const back = decodeBlock(built.block.bytes);
  t.same(back.evidence, built.block.evidence);
  t.same(back.hash, built.block.hash);
  t.same(makeBlock(back.header, back.txs, back.lastCommit, back.evidence).bytes, built.block.bytes, "re-encoding gives the same bytes");
});

t.test("valid evidence slashes (burned), jails, and removes the validator from the set at h+2", async (t) => {
  const chain = fourValidators();
  const culprit = V[1]!;
  step(t, chain); // 1
  step(t, chain, {}, [txNext(chain, culprit, { type: "unstake", amount: 1n * CLC })]); // 2: begun before the infraction
  step(t, chain); // 3: the infraction height
  step(t, chain, {}, [txNext(chain, culprit, { type: "unstake", amount: 2n * CLC + 5n })]); // 4: begun after it
  const before = chain.state;
  const burnedBefore = before.meta().burned;
  const ev = duplicateVoteEvidence(vote(chain, { height: 3n, type: PREVOTE, round: 2, blockHash: A }), vote(chain, { height: 3n, type: PREVOTE, round: 2, blockHash: null }));
  t.doesNotThrow(() => verifyEvidence(chain.state, ev, chain.genesis.chainId, chain.genesis.params, 5n), "the node would pool it");
  const built = step(t, chain, { evidence: [ev] }); // 5
  t.equal(built.block.header.height, 5n);
  t.same(built.block.evidence, [ev]);
  const a = chain.state.account(culprit.publicKey);
  t.equal(a.staked, 7n * CLC - 5n - (7n * CLC - 5n) / 10n, "10% of staked is slashed (rounded down)");
  const slashedStake = (7n * CLC - 5n) / 10n;
  const slashedEntry = (2n * CLC + 5n) / 10n;
  t.same(a.unbonding, [
    { amount: 1n * CLC, releaseHeight: 12n },
    { amount: 2n * CLC + 5n - slashedEntry, releaseHeight: 14n },
  ], "unbonding begun at or after the infraction is slashed too, older unbonding is not");
  const slashed = slashedStake + slashedEntry;
  t.same(built.events.slice(0, 2), [
    { kind: "slash", validator: culprit.publicKey, amount: slashed, evidenceHeight: 3n },
    { kind: "jail", validator: culprit.publicKey, until: 15n, reason: "doubleSign" },
  ], "slash and jail events come first");
  t.equal(chain.state.meta().burned - burnedBefore, slashed, "the slashed stake is burned (no fees in this block)");
  t.ok(supplyHolds(chain.state), "the supply invariant holds");
  const info = readValidatorInfo(chain.state, culprit.publicKey)!;
  t.equal(info.jailed, true);
  t.equal(info.jailedUntil, 15n);
  t.equal(info.tombstoned, true, "tombstoned");
  t.ok(chain.state.validators().some((v) => equalBytes(v.publicKey, culprit.publicKey)), "still in the set for h+1");
  t.notOk(chain.state.nextValidators().some((v) => equalBytes(v.publicKey, culprit.publicKey)), "out of the set for h+2");
  step(t, chain);
  t.notOk(chain.state.validators().some((v) => equalBytes(v.publicKey, culprit.publicKey)), "out at h+2");
  // unjail is refused, before the jail time is over and forever after it
  const early = step(t, chain, {}, [txNext(chain, culprit, { type: "validator.unjail" })]);
  t.equal(early.receipts[0]!.code, "TOMBSTONED");
  while (chain.state.meta().height < 16n) step(t, chain);
  const late = step(t, chain, {}, [txNext(chain, culprit, { type: "validator.unjail" })]);
  t.equal(late.receipts[0]!.code, "TOMBSTONED", "after jailBlocks: still refused");
  t.equal(readValidatorInfo(chain.state, culprit.publicKey)!.jailed, true);
  t.notOk(chain.state.nextValidators().some((v) => equalBytes(v.publicKey, culprit.publicKey)), "never back in the set");
});

t.test("invalid evidence is rejected, each with its own code", async (t) => {
  const chain = fourValidators();
  for (let i = 0; i < 8; i++) step(t, chain);
  const H = chain.state.meta().height + 1n; // 9: evidence heights 4..8 are acceptable
  const id = chain.genesis.chainId;
  const outsider = testKey(499);
  const v = (s: VoteSpec) => vote(chain, s);
  const otherChain = signVote("another-chain", V[1]!, { type: PRECOMMIT, height: 6n, round: 0, blockHash: B });
  const forged = { ...v({ height: 6n, blockHash: B }), signature: V[2]!.sign(new Uint8Array(32)) };
  const zeroHash = { ...v({ height: 6n, blockHash: B }), blockHash: new Uint8Array(32) };
  const cases: [string, Evidence, string][] = [
    ["forged signature", raw(v({ height: 6n, blockHash: A }), forged), EvidenceErrorCode.BAD_SIGNATURE],
    ["signed for another chain", raw(v({ height: 6n, blockHash: A }), otherChain), EvidenceErrorCode.BAD_SIGNATURE],
    ["same block hash", raw(v({ height: 6n, blockHash: A }), v({ height: 6n, blockHash: A })), DuplicateVoteErrorCode.SAME_BLOCK],
    ["both nil", raw(v({ height: 6n, blockHash: null }), v({ height: 6n, blockHash: null })), DuplicateVoteErrorCode.SAME_BLOCK],
    ["different heights", raw(v({ height: 6n, blockHash: A }), v({ height: 7n, blockHash: B })), DuplicateVoteErrorCode.DIFFERENT_HEIGHTS],
    ["different rounds", raw(v({ height: 6n, blockHash: A }), v({ height: 6n, round: 1, blockHash: B })), DuplicateVoteErrorCode.DIFFERENT_ROUNDS],
    ["different types", raw(v({ height: 6n, type: PREVOTE, blockHash: A }), v({ height: 6n, type: PRECOMMIT, blockHash: B })), DuplicateVoteErrorCode.DIFFERENT_TYPES],
    ["different validators", raw(v({ height: 6n, blockHash: A }), v({ key: V[2]!, height: 6n, blockHash: B })), DuplicateVoteErrorCode.DIFFERENT_VALIDATORS],
    ["votes out of order", raw(v({ height: 6n, blockHash: B }), v({ height: 6n, blockHash: A })), EvidenceErrorCode.NOT_CANONICAL],
    ["explicit zero hash", raw(v({ height: 6n, blockHash: A }), zeroHash), EvidenceErrorCode.MALFORMED],
    ["height 0", doubleSign(chain, 0n), EvidenceErrorCode.MALFORMED],
    ["too old", doubleSign(chain, H - 6n), EvidenceErrorCode.TOO_OLD],
    ["the block's own height", doubleSign(chain, H), EvidenceErrorCode.FROM_FUTURE],
    ["a future height", doubleSign(chain, H + 3n), EvidenceErrorCode.FROM_FUTURE],
    ["unknown validator", doubleSign(chain, 6n, outsider), DuplicateVoteErrorCode.UNKNOWN_VALIDATOR],
  ];
  for (const [name, ev, code] of cases) {
    t.throws(() => verifyEvidence(chain.state, ev, id, chain.genesis.params, H), { code }, `${name}: verifyEvidence`);
    t.throws(() => apply(chain, blockWithEvidence(chain, [ev])), { code, data: { index: 0 } }, `${name}: the block is invalid`);
    const built = build(chain, [], { evidence: [ev] });
    t.same([built.block.evidence.length, built.rejectedEvidence[0]?.error.code], [0, code], `${name}: the builder leaves it out`);
  }
  // the stateless stage alone catches the stateless defects and passes the rest
  t.throws(() => validateEvidenceBasic(cases[0]![1], id), { code: EvidenceErrorCode.BAD_SIGNATURE });
  t.doesNotThrow(() => validateEvidenceBasic(doubleSign(chain, H - 6n), id), "age is a stateful check");
  // boundaries: the oldest and the newest acceptable heights
  t.doesNotThrow(() => verifyEvidence(chain.state, doubleSign(chain, H - 5n), id, chain.genesis.params, H), "exactly evidenceMaxAgeBlocks old");
  t.doesNotThrow(() => verifyEvidence(chain.state, doubleSign(chain, H - 1n), id, chain.genesis.params, H), "the previous height");
});

t.test("evidence is included once: a second inclusion makes the block invalid", async (t) => {
  const chain = fourValidators();
  for (let i = 0; i < 4; i++) step(t, chain);
  const ev = doubleSign(chain, 3n);
  const sameHeightOtherRound = doubleSign(chain, 3n, V[1]!, 1);
  // twice in one block
  t.throws(() => apply(chain, blockWithEvidence(chain, [ev, ev])), { code: EvidenceErrorCode.ALREADY_PUNISHED, data: { index: 1 } });
  const twice = build(chain, [], { evidence: [ev, ev, sameHeightOtherRound] });
  t.equal(twice.block.evidence.length, 1, "the builder keeps one");
  t.same(twice.rejectedEvidence.map((r) => r.error.code), [EvidenceErrorCode.ALREADY_PUNISHED, EvidenceErrorCode.ALREADY_PUNISHED]);
  step(t, chain, { evidence: [ev] });
  const staked = chain.state.account(V[1]!.publicKey).staked;
  // again in a later block, or another round at the same height
  for (const [name, e] of [["the same evidence", ev], ["another round at the same height", sameHeightOtherRound]] as const) {
    t.throws(() => verifyEvidence(chain.state, e, chain.genesis.chainId, chain.genesis.params, chain.state.meta().height + 1n), { code: EvidenceErrorCode.ALREADY_PUNISHED }, name);
    t.throws(() => apply(chain, blockWithEvidence(chain, [e])), { code: EvidenceErrorCode.ALREADY_PUNISHED, data: { index: 0 } }, `${name}: block invalid`);
  }
  // a different height is the same infraction: the validator is tombstoned, nothing more is taken
  const other = doubleSign(chain, 4n);
  t.throws(() => verifyEvidence(chain.state, other, chain.genesis.chainId, chain.genesis.params, chain.state.meta().height + 1n), { code: EvidenceErrorCode.ALREADY_PUNISHED }, "another height");
  const later = step(t, chain, { evidence: [other] });
  t.same([later.block.evidence.length, later.rejectedEvidence[0]?.error.code], [0, EvidenceErrorCode.ALREADY_PUNISHED], "the builder leaves it out");
  t.equal(chain.state.account(V[1]!.publicKey).staked, staked, "slashed once");
  t.equal(readValidatorInfo(chain.state, V[1]!.publicKey)!.jailedUntil, 5n + 10n, "the jail is not extended");
});

t.test("evidence names the set active at its height: a registered validator outside it is refused", async (t) => {
  // V[3] leaves the set by unstaking below the minimum; the set history remembers when
  const chain = fourValidators();
  step(t, chain); // 1
  step(t, chain, {}, [txNext(chain, V[3]!, { type: "unstake", amount: 10n * CLC })]); // 2: out of the set from 4 on
  step(t, chain); // 3
  step(t, chain); // 4
  t.notOk(chain.state.validators().some((v) => equalBytes(v.publicKey, V[3]!.publicKey)), "V3 is out of the set for 5");
  const H = chain.state.meta().height + 1n;
  const id = chain.genesis.chainId;
  t.doesNotThrow(() => verifyEvidence(chain.state, doubleSign(chain, 3n, V[3]!), id, chain.genesis.params, H), "height 3: V3 signed it");
  t.throws(() => verifyEvidence(chain.state, doubleSign(chain, 4n, V[3]!), id, chain.genesis.params, H), { code: DuplicateVoteErrorCode.NOT_IN_SET }, "height 4: V3 was no longer in the set");
  t.throws(() => apply(chain, blockWithEvidence(chain, [doubleSign(chain, 4n, V[3]!)])), { code: DuplicateVoteErrorCode.NOT_IN_SET, data: { index: 0 } }, "a block with it is invalid");
  t.ok(chain.state.get(StakingKey.setAt(4n)), "the new set is recorded from height 4");
});

t.test("the set history is pruned once no evidence can refer to it", async (t) => {
  const chain = fourValidators();
  step(t, chain); // 1
  step(t, chain, {}, [txNext(chain, V[3]!, { type: "unstake", amount: 10n * CLC })]); // 2: the set changes at 4
  step(t, chain);
  t.ok(chain.state.get(StakingKey.setAt(1n)), "genesis set");
  t.ok(chain.state.get(StakingKey.setAt(4n)), "the changed set");
  // evidence in block h names heights >= h - 5: the genesis record serves heights 1..3, needed until block 8
  while (chain.state.meta().height < 7n) step(t, chain);
  t.ok(chain.state.get(StakingKey.setAt(1n)), "kept while evidence for height 3 is acceptable");
  t.doesNotThrow(() => verifyEvidence(chain.state, doubleSign(chain, 3n, V[3]!), chain.genesis.chainId, chain.genesis.params, 8n));
  step(t, chain); // 8
  t.equal(chain.state.get(StakingKey.setAt(1n)), undefined, "dropped when no evidence can name heights 1..3");
  t.ok(chain.state.get(StakingKey.setAt(4n)), "the latest record stays");
  t.throws(() => verifyEvidence(chain.state, doubleSign(chain, 3n), chain.genesis.chainId, chain.genesis.params, 9n), { code: EvidenceErrorCode.TOO_OLD }, "and the evidence is too old by then");
});

t.test("block-level evidence checks: root and count", async (t) => {
  const chain = fourValidators();
  for (let i = 0; i < 3; i++) step(t, chain);
  const ev = doubleSign(chain, 2n);
  const b = build(chain, [], { evidence: [ev] }).block;
  const noRoot = makeBlock({ ...b.header, evidenceRoot: evidenceRoot([]) }, b.txs, b.lastCommit, b.evidence);
  t.throws(() => apply(chain, noRoot), { code: BlockErrorCode.WRONG_EVIDENCE_ROOT }, "evidence the header does not commit to");
  const dropped = makeBlock(b.header, b.txs, b.lastCommit, []);
  t.throws(() => apply(chain, dropped), { code: BlockErrorCode.WRONG_EVIDENCE_ROOT }, "evidence removed from a block");
  t.doesNotThrow(() => apply(chain, b));
  const many = Array.from({ length: MAX_BLOCK_EVIDENCE + 1 }, () => ev);
  const tooMany = makeBlock({ ...b.header, evidenceRoot: evidenceRoot(many) }, b.txs, b.lastCommit, many);
  t.throws(() => apply(chain, tooMany), { code: BlockErrorCode.TOO_MUCH_EVIDENCE });
  t.throws(() => decodeBlock(tooMany.bytes), { code: BlockErrorCode.TOO_MUCH_EVIDENCE });
  const built = build(chain, [], { evidence: many });
  t.equal(built.block.evidence.length, 1, "the builder keeps one and drops the duplicates");
});

t.test("slashing the only validator leaves the set in place", async (t) => {
  const chain = newTestChain({ params: PARAMS });
  for (let i = 0; i < 2; i++) step(t, chain);
  const v = chain.validator;
  const ev = duplicateVoteEvidence(
    signVote(chain.genesis.chainId, v, { type: PRECOMMIT, height: 2n, round: 0, blockHash: A }),
    signVote(chain.genesis.chainId, v, { type: PRECOMMIT, height: 2n, round: 0, blockHash: B }),
  );
  const before = chain.state.validators();
  const staked = chain.state.account(v.publicKey).staked;
  step(t, chain, { evidence: [ev] });
  t.equal(chain.state.account(v.publicKey).staked, staked - staked / 10n);
  t.equal(readValidatorInfo(chain.state, v.publicKey)!.jailed, true);
  t.same(chain.state.nextValidators(), before, "no eligible candidate: the set is kept");
  for (let i = 0; i < 3; i++) step(t, chain);
  t.same(chain.state.validators(), before, "and the chain goes on");
  t.ok(supplyHolds(chain.state));
});
