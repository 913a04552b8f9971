/**
 * Staking, validator sets, downtime and unjail (chain/staking.ts through the real transition).
 * Every scenario runs through buildBlock, and every block is re-applied with applyBlock on its
 * pre-state by a "follower" that must reach the same root.
 */
import fc from "fast-check";
import t, { type Test } from "tap";
import { makeBlock, type Block } from "../../../../chain/block.ts";
import { compareBytes, equalBytes } from "../../../../primitives/bytes.ts";
import { decode, encode, type CborValue } from "../../../../primitives/codec.ts";
import { incrementPriorities, joiningPriority, proposerIndex } from "../../../../chain/consensus/proposer.ts";
import type { KeyPair } from "../../../../primitives/keys.ts";
import { computeNextValidators, MAX_UNBONDING_ENTRIES } from "../../../../modules/staking/staking.ts";
import { validatorsHash, type ChainState, type Validator } from "../../../../chain/state.ts";
import { applyBlock, ExecErrorCode, txRoot, type BuiltBlock } from "../../../../chain/transition.ts";
import { decodeTx, encodeTxBody, TxErrorCode, validateTxBasic, type Operation, type SignedTx } from "../../../../chain/tx.ts";
import { advance, advanceChecked, build, commitFor, newTestChain, supplyHolds, testKey, transfer, tx, txNext, type TestChain, type TestChainOptions } from "../../../helpers/chain.ts";
import { OpCode } from "../../../../modules/index.ts";
import { StakingErrorCode } from "../../../../modules/staking/staking.ts";
import { StakingKey, decodeValidatorInfo, readCandidates, readValidatorInfo } from "../../../../modules/staking/records.ts";

const CLC = 1_000_000_000n;
const FEE = 1000n;

/** Small numbers so that every rule is reached in a few blocks. */
const PARAMS = {
  // two-block epochs: the genesis wants the unbonding to cover the 4 epochs in which
  // double-attestation evidence is accepted, and these tests want it short
  epochLength: 2,
  minValidatorStake: (1n * CLC).toString(),
  unbondingBlocks: 8,
  evidenceMaxAgeBlocks: 5,
  jailBlocks: 10,
  downtimeWindow: 8,
  downtimeMinSigned: 4,
  downtimeJailBlocks: 6,
  maxValidators: 10,
};
/** The unbonding period, as a height offset. */
const U = BigInt(PARAMS.unbondingBlocks);

const V = [testKey(201), testKey(202), testKey(203), testKey(204)];
function fourValidators(extra: Partial<TestChainOptions> = {}): TestChain {
  return newTestChain({ validators: V.map((key) => ({ key, power: 10n * CLC })), params: PARAMS, ...extra });
}

function step(t: Test, chain: TestChain, txs: SignedTx[], opts: Parameters<typeof advance>[2] = {}): BuiltBlock {
  return advanceChecked((m) => t.fail(m), chain, txs, opts);
}

/** A block at the chain's next height carrying exactly `txs` (valid or not), with a correct tx root. */
function blockWith(chain: TestChain, txs: SignedTx[]): Block {
  const b = build(chain, []).block;
  return makeBlock({ ...b.header, txRoot: txRoot(txs) }, txs, b.lastCommit);
}

const keysOf = (vs: readonly Validator[]) => vs.map((v) => Buffer.from(v.publicKey).toString("hex"));
const hex = (k: KeyPair) => Buffer.from(k.publicKey).toString("hex");
const codes = (b: BuiltBlock) => b.receipts.map((r) => r.code);

t.test("staking operations: effects, events, and a receipt code for each failure", async (t) => {
  const chain = newTestChain({ params: PARAMS });
  const alice = testKey(1);
  const bob = testKey(2);
  step(t, chain, [transfer(chain, chain.faucet, 0n, alice, 100n * CLC), transfer(chain, chain.faucet, 1n, bob, 5n * CLC)]);
  const h = chain.state.meta().height + 1n;
  const a = (n: bigint, op: Operation) => tx(chain, alice, n, op);
  const b = (n: bigint, op: Operation) => tx(chain, bob, n, op);
  const built = step(t, chain, [
    a(0n, { type: "stake", amount: 50n * CLC }),
    a(1n, { type: "stake", amount: 1000n * CLC }),
    a(2n, { type: "unstake", amount: 60n * CLC }),
    a(3n, { type: "unstake", amount: 10n * CLC }),
    a(4n, { type: "unstake", amount: 5n * CLC }),
    a(5n, { type: "validator.register", name: "alice" }),
    a(6n, { type: "validator.register", name: "alice again" }),
    a(7n, { type: "validator.unjail" }),
    b(0n, { type: "validator.register", name: "bob" }),
    b(1n, { type: "validator.unjail" }),
    b(2n, { type: "stake", amount: CLC / 2n }),
    b(3n, { type: "validator.register", name: "bob" }),
  ]);
  t.same(codes(built), [
    "", ExecErrorCode.INSUFFICIENT_BALANCE, StakingErrorCode.INSUFFICIENT_STAKE, "", "", "", StakingErrorCode.ALREADY_REGISTERED, StakingErrorCode.NOT_JAILED,
    StakingErrorCode.BELOW_MIN_STAKE, StakingErrorCode.NOT_A_VALIDATOR, "", StakingErrorCode.BELOW_MIN_STAKE,
  ]);
  const acct = chain.state.account(alice.publicKey);
  t.equal(acct.nonce, 8n, "failed operations consume the nonce");
  t.equal(acct.balance, 100n * CLC - 50n * CLC - 8n * FEE, "and the fee, and move nothing else");
  t.equal(acct.staked, 35n * CLC);
  t.same(acct.unbonding, [{ amount: 15n * CLC, releaseHeight: h + U }], "two unstakes in one block share one entry");
  t.equal(chain.state.account(bob.publicKey).staked, CLC / 2n);
  t.same(readValidatorInfo(chain.state, alice.publicKey), { name: "alice", jailed: false, jailedUntil: 0n, windowIndex: 0n, missed: 0, missedBits: new Uint8Array(1), tombstoned: false });
  t.equal(readValidatorInfo(chain.state, bob.publicKey), undefined, "a failed register writes nothing");
  t.ok(readCandidates(chain.state).some((k) => equalBytes(k, alice.publicKey)), "alice is an eligible candidate");
  const ev = built.events.filter((e) => e.kind !== "fee" && e.kind !== "reward"); // the block may end a (two-block) epoch
  t.same(ev.map((e) => e.kind), ["stake", "unstake", "unstake", "validatorRegister", "stake"]);
  t.match(ev[1], { kind: "unstake", amount: 10n * CLC, releaseHeight: h + U });
  t.match(ev[3], { kind: "validatorRegister", name: "alice" });
  t.ok(supplyHolds(chain.state));
});

t.test("statically invalid staking transactions never enter a block", async (t) => {
  const chain = newTestChain({ params: PARAMS });
  const f = chain.faucet;
  const cases: [string, SignedTx, string][] = [
    ["stake 0", tx(chain, f, 0n, { type: "stake", amount: 0n }), TxErrorCode.INVALID_OPERATION],
    ["unstake 0", tx(chain, f, 0n, { type: "unstake", amount: 0n }), TxErrorCode.INVALID_OPERATION],
    ["empty name", tx(chain, f, 0n, { type: "validator.register", name: "" }), TxErrorCode.INVALID_OPERATION],
    ["name of 129 characters", tx(chain, f, 0n, { type: "validator.register", name: "x".repeat(129) }), TxErrorCode.INVALID_OPERATION],
    ["control character in the name", tx(chain, f, 0n, { type: "validator.register", name: "evil\nname" }), TxErrorCode.INVALID_OPERATION],
    ["an operation code this version does not know", tx(chain, f, 0n, { type: "unknown", code: 200, args: [] }), TxErrorCode.UNKNOWN_OPERATION],
  ];
  for (const [name, bad, code] of cases) {
    t.throws(() => validateTxBasic(bad, chain.genesis.chainId), { code }, `${name}: validateTxBasic`);
    t.throws(() => applyBlock(chain.state, blockWith(chain, [bad]), chain.genesis.params, chain.genesis.chainId), { code, data: { index: 0 } }, `${name}: the block is invalid`);
  }
  // an op code beyond the last one stays unknown, on the wire too; 4..8 are chain/storage.ts's and chain/bandwidth.ts's
  t.throws(() => validateTxBasic(tx(chain, f, 0n, { type: "unknown", code: 8, args: [] }), chain.genesis.chainId), { code: TxErrorCode.UNKNOWN_OPERATION }, "op 8 built as unknown");
  // a name longer than the wire bound, a missing or an extra argument is malformed
  const wire = (op: (string | number)[]) => {
    const body = encode([chain.genesis.chainId, f.publicKey, 0, 1000, op]);
    return encode([body, new Uint8Array(64)]);
  };
  t.throws(() => decodeTx(wire([OpCode.VALIDATOR_REGISTER, "x".repeat(257)])), { code: TxErrorCode.MALFORMED });
  t.throws(() => decodeTx(wire([OpCode.VALIDATOR_UNJAIL, 1])), { code: TxErrorCode.MALFORMED });
  t.throws(() => decodeTx(wire([OpCode.STAKE])), { code: TxErrorCode.MALFORMED });
  t.throws(() => decodeTx(wire([OpCode.UNSTAKE, 1, 2])), { code: TxErrorCode.MALFORMED });
  t.same(decodeTx(wire([200, 1])).op, { type: "unknown", code: 200, args: [1] }, "op 200 decodes as unknown");
  t.throws(() => decodeTx(wire([OpCode.BANDWIDTH_ATTEST, 1])), { code: TxErrorCode.MALFORMED }, "bandwidth.attest without its arguments is malformed, not unknown");
  t.throws(() => decodeTx(wire([OpCode.PROVIDER_REGISTER])), { code: TxErrorCode.MALFORMED }, "provider.register without its arguments is malformed, not unknown");
});

t.test("staking operations round-trip through the wire form", async (t) => {
  const chain = newTestChain();
  const ops: Operation[] = [
    { type: "stake", amount: 123n },
    { type: "unstake", amount: 2n ** 64n - 1n },
    { type: "validator.register", name: "validator ✓ ünïcode" },
    { type: "validator.unjail" },
  ];
  const wireCodes = [1, 2, 3, 14];
  ops.forEach((op, i) => {
    const signed = tx(chain, chain.faucet, 7n, op);
    const back = decodeTx(signed.bytes);
    t.same(back.op, op, op.type);
    t.same(back.hash, signed.hash);
    t.same(encodeTxBody(back), back.bodyBytes, "re-encoding gives the same bytes");
    const body = decode(back.bodyBytes) as CborValue[];
    t.equal((body[4] as CborValue[])[0], wireCodes[i], `${op.type} is op code ${wireCodes[i]}`);
    t.doesNotThrow(() => validateTxBasic(back, chain.genesis.chainId));
  });
});

t.test("unbonding is released at the end of its release height, not before", async (t) => {
  const chain = newTestChain({ params: PARAMS });
  const alice = testKey(1);
  step(t, chain, [transfer(chain, chain.faucet, 0n, alice, 100n * CLC)]);
  step(t, chain, [txNext(chain, alice, { type: "stake", amount: 50n * CLC })]);
  const h = chain.state.meta().height + 1n;
  step(t, chain, [txNext(chain, alice, { type: "unstake", amount: 10n * CLC })]);
  step(t, chain, [txNext(chain, alice, { type: "unstake", amount: 3n * CLC })]); // released at h + U + 1
  const balance = chain.state.account(alice.publicKey).balance;
  t.same(chain.state.account(alice.publicKey).unbonding, [{ amount: 10n * CLC, releaseHeight: h + U }, { amount: 3n * CLC, releaseHeight: h + U + 1n }]);
  t.ok(chain.state.get(StakingKey.unbondingQueue(h + U)), "the release is queued under its height");
  while (chain.state.meta().height < h + U - 1n) {
    const b = step(t, chain, []);
    t.notOk(b.events.some((e) => e.kind === "unbonded"), `nothing released at ${b.block.header.height}`);
  }
  t.equal(chain.state.account(alice.publicKey).balance, balance, "not released before its height");
  const at = step(t, chain, []);
  t.equal(at.block.header.height, h + U);
  t.equal(chain.state.account(alice.publicKey).balance, balance + 10n * CLC, "released at the end of block h + unbondingBlocks");
  t.same(chain.state.account(alice.publicKey).unbonding, [{ amount: 3n * CLC, releaseHeight: h + U + 1n }], "the later entry stays");
  t.same(at.events.filter((e) => e.kind === "unbonded"), [{ kind: "unbonded", account: alice.publicKey, amount: 10n * CLC }]);
  t.equal(chain.state.get(StakingKey.unbondingQueue(h + U)), undefined, "the queue record is consumed");
  step(t, chain, []);
  t.equal(chain.state.account(alice.publicKey).balance, balance + 13n * CLC);
  t.same(chain.state.account(alice.publicKey).unbonding, []);
  t.equal(chain.state.account(alice.publicKey).staked, 37n * CLC);
  t.ok(supplyHolds(chain.state));
});

t.test(`an account holds at most ${MAX_UNBONDING_ENTRIES} pending unbonding entries`, async (t) => {
  const chain = newTestChain({ params: { ...PARAMS, unbondingBlocks: 100, evidenceMaxAgeBlocks: 100 } });
  const alice = testKey(1);
  step(t, chain, [transfer(chain, chain.faucet, 0n, alice, 100n * CLC)]);
  step(t, chain, [txNext(chain, alice, { type: "stake", amount: 50n * CLC })]);
  for (let i = 0; i < MAX_UNBONDING_ENTRIES; i++) {
    const b = advance(chain, [txNext(chain, alice, { type: "unstake", amount: 1n })]);
    if (b.receipts[0]!.code !== "") t.fail(`unstake ${i} failed: ${b.receipts[0]!.code}`);
  }
  t.equal(chain.state.account(alice.publicKey).unbonding.length, MAX_UNBONDING_ENTRIES);
  const full = step(t, chain, [txNext(chain, alice, { type: "unstake", amount: 1n })]);
  t.same(codes(full), [StakingErrorCode.TOO_MANY_UNBONDING]);
  t.equal(chain.state.account(alice.publicKey).unbonding.length, MAX_UNBONDING_ENTRIES);
});

t.test("register, stake and unstake in block h change the set exactly at h+2", async (t) => {
  const newcomer = testKey(210);
  const chain = fourValidators({ balances: [{ key: newcomer, amount: 100n * CLC }] });
  step(t, chain, []);
  step(t, chain, []);
  const before = chain.state.validators();
  t.same(keysOf(before), keysOf([...before].sort((x, y) => compareBytes(x.publicKey, y.publicKey))), "equal powers: set ordered by public key");
  const h = chain.state.meta().height + 1n;
  step(t, chain, [
    txNext(chain, newcomer, { type: "stake", amount: 20n * CLC }),
    tx(chain, newcomer, 1n, { type: "validator.register", name: "newcomer" }),
    txNext(chain, V[2]!, { type: "stake", amount: 5n * CLC }),
    txNext(chain, V[3]!, { type: "unstake", amount: 9n * CLC + 1n }), // below the 1 CLC minimum
  ]);
  chain.keys.push(newcomer);
  t.same(keysOf(chain.state.validators()), keysOf(before), `the set for h+1 (${h + 1n}) is unchanged`);
  const expected = [newcomer.publicKey, V[2]!.publicKey, ...[V[0]!, V[1]!].map((k) => k.publicKey).sort(compareBytes)];
  t.same(keysOf(chain.state.nextValidators()), expected.map((k) => Buffer.from(k).toString("hex")), "the set for h+2: by power, then key; V3 is gone");
  t.same(chain.state.nextValidators().map((v) => v.power), [20n * CLC, 15n * CLC, 10n * CLC, 10n * CLC]);

  const b1 = step(t, chain, []);
  t.same(b1.block.header.validatorsHash, validatorsHash(before), "block h+1 is produced by the old set");
  t.same(keysOf(chain.state.validators()), keysOf(chain.state.nextValidators()), "after h+1 the new set is current");
  t.same(chain.state.validators().find((v) => equalBytes(v.publicKey, V[2]!.publicKey))?.power, 15n * CLC, "a stake change moves power at h+2");
  const b2 = step(t, chain, []);
  t.equal(b2.block.header.height, h + 2n);
  t.same(b2.block.header.validatorsHash, validatorsHash(chain.state.lastValidators()));
  t.not(Buffer.compare(b2.block.header.validatorsHash, validatorsHash(before)), 0, "block h+2's header commits to the new set");
  t.same(keysOf(chain.state.lastValidators()), expected.map((k) => Buffer.from(k).toString("hex")), "the new set signed h+2");
  // the block after verifies h+2's commit, signed by the new set including the newcomer
  const b3 = step(t, chain, []);
  t.ok(b3.block.lastCommit!.signatures.length === 4);
  t.ok(supplyHolds(chain.state));
});

t.test("proposer priorities in the state follow proposer.ts, new members join behind", async (t) => {
  const keys = [testKey(221), testKey(222), testKey(223)];
  const chain = newTestChain({ validators: keys.map((key, i) => ({ key, power: [1n, 2n, 7n][i]! * CLC })), params: PARAMS });
  // an independent run of proposer.ts from the genesis priorities
  let expected = chain.state.validators().map((v) => ({ publicKey: v.publicKey, power: v.power, priority: v.priority }));
  t.same(expected.map((v) => v.priority), [0n, 0n, 0n]);
  const proposed = new Map<string, number>();
  for (let i = 0; i < 10; i++) {
    const set = chain.state.validators();
    const proposerIdx = proposerIndex(set, 0);
    const inc = incrementPriorities(expected);
    t.equal(proposerIdx, inc.selected, `height ${i + 1}: proposer of round 0`);
    const b = step(t, chain, []);
    t.same(b.block.header.proposer, set[proposerIdx]!.publicKey);
    proposed.set(hex({ publicKey: b.block.header.proposer } as KeyPair), (proposed.get(hex({ publicKey: b.block.header.proposer } as KeyPair)) ?? 0) + 1);
    expected = expected.map((v, j) => ({ ...v, priority: inc.priorities[j]! }));
    t.same(chain.state.validators().map((v) => v.priority), expected.map((v) => v.priority), `height ${i + 1}: stored priorities`);
  }
  t.same(keys.map((k) => proposed.get(hex(k)) ?? 0), [1, 2, 7], "ten blocks: proposals in proportion to power");

  // a newcomer: joins at joiningPriority(total of the new set), then one increment with the rest
  const newcomer = testKey(224);
  step(t, chain, [transfer(chain, chain.faucet, 0n, newcomer, 10n * CLC)]);
  step(t, chain, [txNext(chain, newcomer, { type: "stake", amount: 4n * CLC }), tx(chain, newcomer, 1n, { type: "validator.register", name: "n" })]);
  chain.keys.push(newcomer);
  const current = chain.state.validators();
  const next = chain.state.nextValidators();
  step(t, chain, []);
  const total = next.reduce((s, v) => s + v.power, 0n);
  const merged = next.map((v) => ({ ...v, priority: current.find((c) => equalBytes(c.publicKey, v.publicKey))?.priority ?? joiningPriority(total) }));
  t.same(chain.state.validators().map((v) => v.priority), incrementPriorities(merged).priorities);
  t.ok(merged.some((v) => v.priority === joiningPriority(total)), "the newcomer started at the joining priority");
});

t.test("maxValidators keeps the top candidates by stake, ties broken by public key", async (t) => {
  const keys = [testKey(231), testKey(232), testKey(233)];
  const chain = newTestChain({ validators: keys.map((key) => ({ key, power: 5n * CLC })), params: { ...PARAMS, maxValidators: 3 } });
  const challenger = testKey(234);
  step(t, chain, [transfer(chain, chain.faucet, 0n, challenger, 10n * CLC)]);
  step(t, chain, [txNext(chain, challenger, { type: "stake", amount: 5n * CLC }), tx(chain, challenger, 1n, { type: "validator.register", name: "c" })]);
  const all = [...keys, challenger].map((k) => k.publicKey).sort(compareBytes);
  t.same(keysOf(chain.state.nextValidators()), all.slice(0, 3).map((k) => Buffer.from(k).toString("hex")), "four equal stakes: the three lowest keys");
  t.equal(readCandidates(chain.state).length, 4, "all four stay eligible candidates");
  step(t, chain, [txNext(chain, challenger, { type: "stake", amount: 1n })]);
  t.same(chain.state.nextValidators()[0]!.publicKey, challenger.publicKey, "one more unit puts the challenger first");
  t.same(keysOf(chain.state.nextValidators()).slice(1), all.filter((k) => !equalBytes(k, challenger.publicKey)).slice(0, 2).map((k) => Buffer.from(k).toString("hex")));
  t.equal(chain.state.nextValidators().length, 3);
});

t.test("the set never becomes empty: with no eligible candidate the last set stays", async (t) => {
  const chain = newTestChain({ params: PARAMS });
  const v = chain.validator;
  const before = chain.state.validators();
  step(t, chain, [txNext(chain, v, { type: "unstake", amount: chain.state.account(v.publicKey).staked })]);
  t.equal(chain.state.account(v.publicKey).staked, 0n);
  t.equal(readCandidates(chain.state).length, 0, "nobody is eligible");
  t.same(computeNextValidators(chain.state, chain.genesis.params), [], "the computed set is empty");
  t.same(keysOf(chain.state.nextValidators()), keysOf(before), "so the set for h+2 keeps its members");
  for (let i = 0; i < 4; i++) step(t, chain, []);
  t.same(chain.state.validators(), before, "blocks keep coming from the last set");
  step(t, chain, [txNext(chain, v, { type: "stake", amount: 2n * CLC })]);
  t.same(chain.state.nextValidators().map((x) => x.power), [2n * CLC], "an eligible candidate again: the set follows the stake");
});

t.test("downtime: jailed after too many misses in the window, and not before", async (t) => {
  const chain = fourValidators();
  const [, , v2, v3] = V as [KeyPair, KeyPair, KeyPair, KeyPair];
  const window = PARAMS.downtimeWindow;
  const maxMissed = window - PARAMS.downtimeMinSigned; // jailed at maxMissed + 1 misses
  step(t, chain, []); // block 1 carries no commit
  // v2 misses 4, signs 4, misses 4: never more than 4 in any 8-block window
  const pattern = [...Array(maxMissed).fill(true), ...Array(window - maxMissed).fill(false), ...Array(maxMissed).fill(true)] as boolean[];
  for (const miss of pattern) step(t, chain, [], { absent: miss ? [v2] : [] });
  step(t, chain, []); // records the last miss
  t.equal(readValidatorInfo(chain.state, v2.publicKey)!.jailed, false, "a sliding window forgets old misses");
  t.equal(readValidatorInfo(chain.state, v2.publicKey)!.missed, maxMissed);

  // v3 misses maxMissed blocks: still in; one more: jailed
  for (let i = 0; i < maxMissed; i++) step(t, chain, [], { absent: [v3] });
  step(t, chain, [], { absent: [v3] }); // records miss number maxMissed, marks the next absent
  t.equal(readValidatorInfo(chain.state, v3.publicKey)!.missed, maxMissed, `${maxMissed} misses recorded`);
  t.equal(readValidatorInfo(chain.state, v3.publicKey)!.jailed, false, "not jailed at the limit");
  const j = step(t, chain, [], { absent: [v3] });
  const jailHeight = j.block.header.height;
  const info = readValidatorInfo(chain.state, v3.publicKey)!;
  t.equal(info.jailed, true, `jailed at miss ${maxMissed + 1}`);
  t.equal(info.jailedUntil, jailHeight + BigInt(PARAMS.downtimeJailBlocks));
  t.equal(info.missed, 0, "its window is reset");
  t.same(j.events.filter((e) => e.kind === "jail"), [{ kind: "jail", validator: v3.publicKey, until: info.jailedUntil, reason: "downtime" }]);
  t.equal(chain.state.account(v3.publicKey).staked, 10n * CLC, "downtime is not slashed");
  t.notOk(readCandidates(chain.state).some((k) => equalBytes(k, v3.publicKey)), "no longer eligible");
  t.ok(chain.state.validators().some((v) => equalBytes(v.publicKey, v3.publicKey)), "still in the set for h+1");
  t.notOk(chain.state.nextValidators().some((v) => equalBytes(v.publicKey, v3.publicKey)), "out of the set for h+2");
  step(t, chain, [], { absent: [v3] });
  t.notOk(chain.state.validators().some((v) => equalBytes(v.publicKey, v3.publicKey)), "out at h+2");
  t.equal(readValidatorInfo(chain.state, v3.publicKey)!.missed, 0, "a jailed validator's misses are not counted");

  // unjail: too early fails, at jailedUntil succeeds, back in the set two blocks later
  const early = step(t, chain, [txNext(chain, v3, { type: "validator.unjail" })]);
  t.ok(early.block.header.height < info.jailedUntil);
  t.same(codes(early), [StakingErrorCode.STILL_JAILED]);
  while (chain.state.meta().height + 1n < info.jailedUntil) step(t, chain, []);
  const u = step(t, chain, [txNext(chain, v3, { type: "validator.unjail" })]);
  t.equal(u.block.header.height, info.jailedUntil);
  t.same(codes(u), [""]);
  t.match(u.events[1], { kind: "unjail", validator: v3.publicKey });
  t.equal(readValidatorInfo(chain.state, v3.publicKey)!.jailed, false);
  t.notOk(chain.state.validators().some((v) => equalBytes(v.publicKey, v3.publicKey)), "not in the set for h+1");
  t.ok(chain.state.nextValidators().some((v) => equalBytes(v.publicKey, v3.publicKey)), "in the set for h+2");
  const back = step(t, chain, []);
  t.ok(chain.state.validators().some((v) => equalBytes(v.publicKey, v3.publicKey)), "current after one more block");
  const again = step(t, chain, []);
  t.equal(again.block.header.height, back.block.header.height + 1n);
  t.same(again.block.header.validatorsHash, validatorsHash(chain.state.lastValidators()));
  t.ok(chain.state.lastValidators().some((v) => equalBytes(v.publicKey, v3.publicKey)), "and it signs again at h+2");
  t.ok(supplyHolds(chain.state));
});

t.test("validator records round-trip, negative priorities included", async (t) => {
  const chain = fourValidators();
  for (let i = 0; i < 3; i++) step(t, chain, [], { absent: [V[0]!] });
  t.ok(chain.state.validators().some((v) => v.priority < 0n), "some priority is negative");
  const raw = chain.state.get(StakingKey.validator(V[0]!.publicKey))!;
  const info = decodeValidatorInfo(raw);
  t.equal(info.missed, 2);
  t.equal(info.windowIndex, 2n);
  t.equal(info.missedBits[0], 0b11);
});

/** Every registered candidate, from a scan of the whole tree (for checking the eligible list). */
function scanCandidates(state: ChainState, minStake: bigint): string[] {
  const out: string[] = [];
  for (const [key, value] of state.tree.entries()) {
    if (key.length !== 33 || key[0] !== 0x02) continue;
    const pk = key.subarray(1);
    const info = decodeValidatorInfo(value);
    if (!info.jailed && state.account(pk).staked >= minStake) out.push(Buffer.from(pk).toString("hex"));
  }
  return out.sort();
}

t.test("property: random transfers and staking keep the supply invariant, follower roots and non-empty sets", async (t) => {
  const users = [testKey(301), testKey(302), testKey(303), testKey(304)];
  const opArb = fc.record({
    from: fc.integer({ min: 0, max: users.length + V.length - 1 }),
    kind: fc.constantFrom("transfer", "stake", "unstake", "register", "unjail"),
    to: fc.integer({ min: 0, max: users.length - 1 }),
    amount: fc.bigInt({ min: 1n, max: 3n * CLC }),
  });
  const blockArb = fc.record({ ops: fc.array(opArb, { maxLength: 8 }), absent: fc.integer({ min: -1, max: V.length - 1 }) });
  fc.assert(
    fc.property(fc.array(blockArb, { minLength: 1, maxLength: 10 }), (blocks) => {
      const chain = newTestChain({
        validators: V.map((key) => ({ key, power: 10n * CLC })),
        params: { ...PARAMS, unbondingBlocks: 8, evidenceMaxAgeBlocks: 3, downtimeWindow: 4, downtimeMinSigned: 2, downtimeJailBlocks: 2 },
        balances: users.map((key) => ({ key, amount: 10n * CLC })),
      });
      chain.keys.push(...users);
      const senders = [...users, ...V];
      let burned = 0n;
      for (const spec of blocks) {
        const next = new Map<number, bigint>();
        const txs = spec.ops.map((o) => {
          const key = senders[o.from]!;
          const n = next.get(o.from) ?? chain.state.account(key.publicKey).nonce;
          next.set(o.from, n + 1n);
          const op: Operation =
            o.kind === "transfer" ? { type: "transfer", to: users[o.to]!.publicKey, amount: o.amount }
            : o.kind === "stake" ? { type: "stake", amount: o.amount }
            : o.kind === "unstake" ? { type: "unstake", amount: o.amount }
            : o.kind === "register" ? { type: "validator.register", name: `u${o.from}` }
            : { type: "validator.unjail" };
          return tx(chain, key, n, op);
        });
        const pre = chain.state;
        const built = build(chain, txs);
        chain.state = built.state;
        chain.time = built.block.header.time;
        // leave one genesis validator out of the commit when the rest still have +2/3
        const signers = chain.state.lastValidators();
        const total = signers.reduce((s, v) => s + v.power, 0n);
        const out = spec.absent >= 0 ? V[spec.absent]! : undefined;
        const outPower = out ? (signers.find((v) => equalBytes(v.publicKey, out.publicKey))?.power ?? 0n) : 0n;
        chain.lastCommit = commitFor(chain, built.block, out && (total - outPower) * 3n > total * 2n ? [out] : []);
        const replay = applyBlock(pre, built.block, chain.genesis.params, chain.genesis.chainId);
        if (!equalBytes(replay.state.root(), chain.state.root())) return false;
        const s = chain.state;
        if (!supplyHolds(s)) return false;
        if (s.meta().burned < burned) return false;
        burned = s.meta().burned;
        if (s.validators().length === 0 || s.lastValidators().length === 0 || s.nextValidators().length === 0) return false;
        const eligible = scanCandidates(s, chain.genesis.params.minValidatorStake);
        if (JSON.stringify(readCandidates(s).map((k) => Buffer.from(k).toString("hex"))) !== JSON.stringify(eligible)) return false;
        const computed = computeNextValidators(s, chain.genesis.params);
        if (computed.length > 0 && !equalBytes(validatorsHash(computed), validatorsHash(s.nextValidators()))) return false;
      }
      return true;
    }),
    { numRuns: 30 },
  );
  t.pass("property held");
});
