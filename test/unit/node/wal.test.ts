/**
 * The consensus WAL (node/wal.ts): the entry codec, strict rejection of damaged entries, the
 * WAL section of the store, and replay: a 4-validator engine fed a scripted height (a lock in
 * round 0, a precommit timeout into round 1) is reconstructed exactly from its log at every
 * point, with exactly the unfinished effects left to execute, and keeps its lock.
 */
import fc from "fast-check";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import t from "tap";
import { VoteType, type Block } from "../../../chain/block.ts";
import { fromHex, toHex } from "../../../primitives/bytes.ts";
import { encode } from "../../../primitives/codec.ts";
import { proposerIndex } from "../../../chain/consensus/proposer.ts";
import { createTendermintMachine, defaultTendermintConfig, inspect, type TendermintState } from "../../../chain/consensus/tendermint.ts";
import { Step, type ConsensusEffect, type Vote } from "../../../chain/consensus/types.ts";
import type { KeyPair } from "../../../primitives/keys.ts";
import { BlockStore } from "../../../chain/store.ts";
import { buildBlock } from "../../../chain/transition.ts";
import { insecureDevKey } from "../../../genesis/devnet.ts";
import { genesisState } from "../../../genesis/schema.ts";
import {
  WalError, WalErrorCode, decodeWalInput, decodeWalPrefix, decodeWalRecords, encodeWalInput, replayHeight, walInputProblem, type StartHeightInput, type WalInput,
} from "../../../node/wal.ts";
import { newTestChain } from "../../helpers/chain.ts";

const machine = createTendermintMachine(defaultTendermintConfig);
const keys = [0, 1, 2, 3].map((i) => insecureDevKey(`wal-test-${i}`));
const chain = newTestChain({ validators: keys.map((key) => ({ key, power: 1_000_000_000_000_000n })) });
const set = chain.state.validators();
const H = 1n;
const keyOf = (i: number): KeyPair => keys.find((k) => Buffer.compare(k.publicKey, set[i]!.publicKey) === 0)!;
const P0 = proposerIndex(set, 0);
const P1 = proposerIndex(set, 1);
const block = (proposer: number, dt: bigint): Block =>
  buildBlock(chain.state, [], { chainId: chain.genesis.chainId, params: chain.genesis.params, proposer: keyOf(proposer), time: chain.genesis.genesisTime + dt, lastCommit: null }).block;
const B = block(P0, 1000n);
const C = block(P1, 2000n);

const sig = (...parts: number[]): Uint8Array => {
  const s = new Uint8Array(64);
  parts.forEach((p, i) => (s[i] = p & 0xff));
  return s;
};
const mkVote = (type: VoteType, round: number, b: Block | null, i: number): Vote => ({ type, height: H, round, blockHash: b?.hash ?? null, validatorIndex: i, signature: sig(i, round, type, b?.hash[0] ?? 0) });
const pv = (round: number, b: Block | null, i: number): WalInput => ({ type: "vote", vote: mkVote(VoteType.PREVOTE, round, b, i) });
const pc = (round: number, b: Block | null, i: number): WalInput => ({ type: "vote", vote: mkVote(VoteType.PRECOMMIT, round, b, i) });
const proposal = (round: number, b: Block, polRound = -1): WalInput => ({ type: "proposal", proposal: { height: H, round, polRound, block: b, signature: sig(0xee, round, polRound + 1) } });
const validated = (b: Block, round = 0, valid = true): WalInput => ({ type: "blockValidated", height: H, round, blockHash: b.hash, valid });
const timeout = (round: number, step: Step): WalInput => ({ type: "timeout", height: H, round, step });
const start = (self: number | null): StartHeightInput => ({ type: "startHeight", height: H, validators: set, self });

// ---- the codec ----

t.test("every input kind survives encode and decode, and re-encodes to the same bytes", async (t) => {
  const inputs: WalInput[] = [
    proposal(0, B),
    proposal(3, C, 2),
    { type: "proposal", proposal: { height: (1n << 64n) - 1n, round: 0xffff_ffff, polRound: 7, block: B, signature: sig(1) } },
    pv(0, B, 2),
    pc(5, null, 3),
    { type: "vote", vote: { ...mkVote(VoteType.PRECOMMIT, 1, C, 0), height: 1n << 60n, validatorIndex: 70_000 } },
    validated(B),
    validated(C, 4, false),
    timeout(0, Step.PROPOSE),
    timeout(9, Step.PREVOTE),
    timeout(2, Step.PRECOMMIT),
  ];
  for (const input of inputs) {
    const bytes = encodeWalInput(input);
    const back = decodeWalInput(bytes);
    t.same(back, input, `${input.type} round trip`);
    t.same(encodeWalInput(back), bytes, `${input.type} re-encodes identically`);
  }
  const p = decodeWalInput(encodeWalInput(proposal(0, B)));
  t.same(p.type === "proposal" && p.proposal.block.bytes, B.bytes, "the full block bytes are in the entry");
  t.same(p.type === "proposal" && p.proposal.block.hash, B.hash);
});

t.test("pinned encodings", async (t) => {
  t.equal(toHex(encodeWalInput({ type: "timeout", height: 7n, round: 2, step: Step.PRECOMMIT })), "8404070203");
  t.equal(
    toHex(encodeWalInput({ type: "vote", vote: { type: VoteType.PREVOTE, height: 1n, round: 0, blockHash: null, validatorIndex: 3, signature: new Uint8Array(64) } })),
    "87020101" + "00" + "f6" + "03" + "5840" + "00".repeat(64),
  );
  t.equal(toHex(encodeWalInput({ type: "blockValidated", height: 1n, round: 1, blockHash: new Uint8Array(32).fill(0xab), valid: true })), "8503010158" + "20" + "ab".repeat(32) + "f5");
});

t.test("damaged entries are rejected with WalError(WAL_CORRUPT)", async (t) => {
  const good = (input: WalInput) => encodeWalInput(input);
  const cbor = (...v: Parameters<typeof encode>[0][]) => encode(v);
  const hash = new Uint8Array(32);
  const cases: [string, Uint8Array][] = [
    ["empty", new Uint8Array(0)],
    ["truncated", good(pv(0, B, 1)).subarray(0, 20)],
    ["trailing byte", Uint8Array.from([...good(timeout(0, Step.PROPOSE)), 0x00])],
    ["non-canonical integer", fromHex("84" + "1804" + "010001")],
    ["not an array", encode(4)],
    ["a map", fromHex("a10102")],
    ["unknown kind 0", cbor(0, 1, 0, 1)],
    ["unknown kind 5", cbor(5, 1, 0, 1)],
    ["timeout with an extra field", cbor(4, 1, 0, 1, 0)],
    ["timeout step 0", cbor(4, 1, 0, 0)],
    ["timeout step 4", cbor(4, 1, 0, 4)],
    ["negative round", cbor(4, 1, -1, 1)],
    ["round above u32", cbor(4, 1, 2 ** 32, 1)],
    ["negative height", cbor(4, -1, 0, 1)],
    ["height as a bignum tag", fromHex("84" + "04" + "c249010000000000000000" + "0001")],
    ["vote type 3", cbor(2, 3, 1, 0, null, 0, new Uint8Array(64))],
    ["vote hash of 31 bytes", cbor(2, 1, 1, 0, new Uint8Array(31), 0, new Uint8Array(64))],
    ["vote signature of 63 bytes", cbor(2, 1, 1, 0, hash, 0, new Uint8Array(63))],
    ["vote validator index as text", cbor(2, 1, 1, 0, hash, "0", new Uint8Array(64))],
    ["blockValidated valid as 1", cbor(3, 1, 0, hash, 1)],
    ["blockValidated without hash", cbor(3, 1, 0, null, true)],
    ["proposal polRound + 1 negative", cbor(1, 1, 0, -1, B.bytes, new Uint8Array(64))],
    ["proposal with garbage block bytes", cbor(1, 1, 0, 0, new Uint8Array([1, 2, 3]), new Uint8Array(64))],
    ["proposal with a block of a trailing byte", cbor(1, 1, 0, 0, Uint8Array.from([...B.bytes, 0]), new Uint8Array(64))],
    ["proposal missing its signature", cbor(1, 1, 0, 0, B.bytes)],
  ];
  for (const [name, bytes] of cases) {
    t.throws(() => decodeWalInput(bytes), { name: "WalError", code: WalErrorCode.CORRUPT }, name);
  }
  const e = (() => {
    try {
      decodeWalRecords(H, [{ seq: 0, bytes: good(timeout(0, Step.PROPOSE)) }, { seq: 1, bytes: new Uint8Array([0xff]) }]);
    } catch (err) {
      return err;
    }
  })();
  t.ok(e instanceof WalError, "a damaged entry among good ones");
  t.match((e as WalError).data, { height: "1", seq: 1 }, "names the entry");
  t.throws(() => decodeWalRecords(H, [{ seq: 0, bytes: good(timeout(0, Step.PROPOSE)) }, { seq: 2, bytes: good(timeout(0, Step.PROPOSE)) }]), { code: WalErrorCode.CORRUPT }, "a gap");
  t.throws(() => decodeWalRecords(H, [{ seq: 1, bytes: good(timeout(0, Step.PROPOSE)) }]), { code: WalErrorCode.CORRUPT }, "not starting at 0");
  t.throws(() => decodeWalRecords(2n, [{ seq: 0, bytes: good(timeout(0, Step.PROPOSE)) }]), { code: WalErrorCode.CORRUPT }, "an input of another height");
  t.same(decodeWalRecords(H, [{ seq: 0, bytes: good(pv(0, B, 1)) }]), [pv(0, B, 1)]);
});

t.test("decodeWalPrefix: the entries before the first damaged one, and where and why it stopped", async (t) => {
  const good = (input: WalInput) => encodeWalInput(input);
  const tp = good(timeout(0, Step.PROPOSE));
  const ok = decodeWalPrefix(H, [{ seq: 0, bytes: tp }, { seq: 1, bytes: good(pv(0, B, 1)) }]);
  t.same(ok, { inputs: [timeout(0, Step.PROPOSE), pv(0, B, 1)], damage: null }, "a whole WAL");
  const cases: [string, { seq: number; bytes: Uint8Array }[], number][] = [
    ["garbage", [{ seq: 0, bytes: tp }, { seq: 1, bytes: new Uint8Array([0xff]) }, { seq: 2, bytes: tp }], 1],
    ["a gap", [{ seq: 0, bytes: tp }, { seq: 2, bytes: tp }], 1],
    ["not starting at 0", [{ seq: 1, bytes: tp }], 0],
    ["an input of another height", [{ seq: 0, bytes: tp }, { seq: 1, bytes: good({ type: "timeout", height: H + 1n, round: 0, step: Step.PROPOSE }) }], 1],
  ];
  for (const [name, records, at] of cases) {
    const r = decodeWalPrefix(H, records);
    t.equal(r.inputs.length, at, `${name}: the prefix`);
    t.equal(r.damage?.seq, at, `${name}: where`);
    t.equal(r.damage?.error.code, WalErrorCode.CORRUPT, `${name}: why`);
  }
});

t.test("an input no entry could hold is refused by the encoder (and named by walInputProblem)", async (t) => {
  const bad: WalInput[] = [
    { type: "vote", vote: { ...mkVote(VoteType.PREVOTE, 0, B, 1), signature: new Uint8Array(10) } },
    { type: "vote", vote: { ...mkVote(VoteType.PREVOTE, 0, B, 1), blockHash: new Uint8Array(5) } },
    { type: "vote", vote: { ...mkVote(VoteType.PREVOTE, 0, B, 1), type: 9 as VoteType } },
    { type: "vote", vote: { ...mkVote(VoteType.PREVOTE, -1, B, 1) } },
    { type: "proposal", proposal: { height: H, round: 0, polRound: -2, block: B, signature: sig(1) } },
    { type: "timeout", height: -1n, round: 0, step: Step.PROPOSE },
    { type: "timeout", height: H, round: 0.5, step: Step.PROPOSE },
    { type: "timeout", height: H, round: 0, step: 7 as Step },
  ];
  for (const input of bad) {
    t.not(walInputProblem(input), null);
    t.throws(() => encodeWalInput(input), RangeError);
  }
  t.equal(walInputProblem(pv(0, B, 1)), null);
});

// ---- the store's WAL section ----

t.test("the store keeps WAL entries by height in seq order and clears committed heights", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "cloudcoin-wal-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = await BlockStore.open(join(dir, "chain"), { chainId: chain.genesis.chainId, genesisHash: chain.genesis.hash, genesisState: () => genesisState(chain.genesis) });
  t.teardown(() => store.close());
  const entry = (n: number) => new Uint8Array([n & 0xff, n >> 8]);
  const seqs = [0, 256, 1, 255, 300, 2];
  for (const s of seqs) await store.appendWal(5n, s, entry(s), s % 2 === 0);
  await store.appendWal(4n, 0, entry(9), false);
  await store.appendWal(6n, 0, entry(7), true);
  await store.syncWal();
  t.same((await store.readWal(5n)).map((r) => r.seq), [...seqs].sort((a, b) => a - b), "numeric order, not insertion order");
  t.same((await store.readWal(5n)).find((r) => r.seq === 256)!.bytes, entry(256));
  await store.clearWal(5n);
  t.same(await store.readWal(4n), []);
  t.same(await store.readWal(5n), []);
  t.same((await store.readWal(6n)).map((r) => r.seq), [0], "the next height is kept");
  await t.rejects(store.appendWal(6n, -1, entry(0), false), RangeError);
});

// ---- replay ----

/** A node run as the driver runs it: every input the engine does not ignore is logged first. */
function original(self: number, script: readonly WalInput[]) {
  let r = machine.step(machine.initial(), start(self));
  const states: TendermintState[] = [r.state];
  const log: Uint8Array[] = [];
  const effects: ConsensusEffect[][] = [r.effects];
  for (const input of script) {
    const next = machine.step(r.state, input);
    if (next.state !== r.state || next.effects.length > 0) log.push(encodeWalInput(input));
    r = next;
    states.push(r.state);
    effects.push(r.effects);
  }
  return { states, log, effects };
}

const SELF = [0, 1, 2, 3].find((i) => i !== P0 && i !== P1)!;
const others = [0, 1, 2, 3].filter((i) => i !== SELF);
const [o1, o2, o3] = others as [number, number, number];
/**
 * Height 1 as SELF (a proposer of neither round 0 nor 1) sees it, own votes fed back as the driver
 * feeds them: lock on B in round 0, the others precommit nil, precommit timeout into round 1,
 * where C is proposed and SELF, locked, prevotes nil.
 */
const script: WalInput[] = [
  /* 0 */ proposal(0, B),
  /* 1 */ pv(0, B, o1),
  /* 2 */ validated(B),
  /* 3 */ pv(0, B, SELF),
  /* 4 */ pv(0, B, o2), // polka: lock B, precommit B
  /* 5 */ pv(0, B, o2), // a duplicate: ignored, not logged
  /* 6 */ pc(0, B, SELF),
  /* 7 */ pc(0, null, o1),
  /* 8 */ pc(0, null, o3), // +2/3 precommits of anything: precommit timeout scheduled
  /* 9 */ timeout(0, Step.PROPOSE), // stale: ignored
  /* 10 */ timeout(0, Step.PRECOMMIT), // round 1
  /* 11 */ proposal(1, C),
  /* 12 */ pv(1, null, SELF),
  /* 13 */ validated(C, 1),
  /* 14 */ pv(1, C, o1),
];

const replayAfter = (n: number) => {
  const run = original(SELF, script.slice(0, n));
  const logged = decodeWalRecords(H, run.log.map((bytes, seq) => ({ seq, bytes })));
  return { run, replayed: replayHeight(machine, start(SELF), logged) };
};

t.test("replay reconstructs the exact engine state after every input of the script", async (t) => {
  for (let n = 0; n <= script.length; n++) {
    const { run, replayed } = replayAfter(n);
    const before = run.states[n]!;
    t.same(inspect(replayed.state), inspect(before), `after ${n} inputs: same inspect()`);
    t.same(replayed.state, before, `after ${n} inputs: same state, vote sets and all`);
  }
  const { run } = replayAfter(script.length);
  t.equal(run.log.length, script.length - 2, "the duplicate prevote and the stale timeout were not logged");
  const end = inspect(run.states[script.length]!);
  t.equal(end.lockedBlock, toHex(B.hash), "the script does lock B in round 0");
  t.equal(end.lockedRound, 0);
  t.equal(end.round, 1, "and times out into round 1");
});

t.test("without the log a restarted engine is back at round 0 with no lock (the replay test can fail)", async (t) => {
  const { run } = replayAfter(7);
  const lost = replayHeight(machine, start(SELF), []);
  t.notSame(inspect(lost.state), inspect(run.states[7]!));
  t.equal(inspect(lost.state).lockedBlock, null);
});

const eff = {
  proposeTimeout: (round: number): ConsensusEffect => ({ type: "scheduleTimeout", height: H, round, step: Step.PROPOSE, delayMs: 1000 + 500 * round }),
  precommitTimeout: (round: number): ConsensusEffect => ({ type: "scheduleTimeout", height: H, round, step: Step.PRECOMMIT, delayMs: 500 + 250 * round }),
  vote: (voteType: VoteType, round: number, b: Block | null): ConsensusEffect => ({ type: "castVote", voteType, height: H, round, blockHash: b?.hash ?? null }),
  validate: (round: number, b: Block): ConsensusEffect => ({ type: "validateBlock", height: H, round, block: b }),
};

t.test("the unsatisfied effects are exactly those the crash left unfinished, in the order produced", async (t) => {
  const expected: [number, string, ConsensusEffect[]][] = [
    [0, "just started", [eff.proposeTimeout(0)]],
    [1, "proposal received, validation asked", [eff.proposeTimeout(0), eff.validate(0, B)]],
    [2, "validation outstanding while a prevote arrives", [eff.proposeTimeout(0), eff.validate(0, B)]],
    [3, "validated: the prevote for B is signed but not fed", [eff.proposeTimeout(0), eff.vote(VoteType.PREVOTE, 0, B)]],
    [4, "own prevote fed", [eff.proposeTimeout(0)]],
    [5, "polka: the precommit for B is signed but not fed", [eff.proposeTimeout(0), eff.vote(VoteType.PRECOMMIT, 0, B)]],
    [9, "precommit timeout armed, not fired", [eff.proposeTimeout(0), eff.precommitTimeout(0)]],
    [11, "round 1 begun: its propose timeout armed", [eff.proposeTimeout(0), eff.proposeTimeout(1)]],
    [12, "C proposed: validated later, prevoted nil at once (locked)", [eff.proposeTimeout(0), eff.proposeTimeout(1), eff.validate(1, C), eff.vote(VoteType.PREVOTE, 1, null)]],
    [13, "own nil prevote fed", [eff.proposeTimeout(0), eff.proposeTimeout(1), eff.validate(1, C)]],
    [15, "everything answered but the timeouts still running", [eff.proposeTimeout(0), eff.proposeTimeout(1)]],
  ];
  for (const [n, what, pending] of expected) {
    t.same(replayAfter(n).replayed.pending, pending, `after ${n} inputs (${what})`);
  }
});

t.test("a decision in the log replays to a commit effect; evidence is handed back again", async (t) => {
  const decided: WalInput[] = [proposal(0, B), validated(B), pv(0, B, o1), pv(0, B, o2), pv(0, B, SELF), pc(0, B, SELF), pc(0, B, o1), pc(0, B, o2)];
  const { pending } = replayHeight(machine, start(SELF), decided);
  t.same(pending.map((e) => e.type), ["scheduleTimeout", "commit"], "the commit the crashed node never stored");
  const equivocation: WalInput[] = [pv(0, B, o1), pv(0, C, o1)];
  t.same(replayHeight(machine, start(SELF), equivocation).pending.map((e) => e.type), ["scheduleTimeout", "evidence"]);
});

t.test("a vote of another validator, or our own for another value, does not satisfy a castVote", async (t) => {
  const upTo3 = script.slice(0, 3);
  t.same(replayHeight(machine, start(SELF), [...upTo3, pv(0, B, o3)]).pending.slice(-1), [eff.vote(VoteType.PREVOTE, 0, B)], "a peer's prevote");
  const own = replayHeight(machine, start(SELF), [...upTo3, pv(0, null, SELF)]);
  t.same(own.pending.slice(-1), [eff.vote(VoteType.PREVOTE, 0, B)], "our own nil prevote answers no prevote for B: re-signing it makes the signer refuse");
});

t.test("a restart after the precommit keeps the lock: the next round gets nil for another block, B re-proposed gets B", async (t) => {
  const crashAt = 7; // the own precommit for B is logged
  const after: WalInput[] = [pc(0, null, o1), pc(0, null, o3), timeout(0, Step.PRECOMMIT)];
  const votesOf = (fx: ConsensusEffect[]) => fx.filter((e): e is Extract<ConsensusEffect, { type: "castVote" }> => e.type === "castVote");
  const feed = (s0: TendermintState, inputs: readonly WalInput[]) => {
    let s = s0;
    const fx: ConsensusEffect[] = [];
    for (const i of inputs) {
      const r = machine.step(s, i);
      s = r.state;
      fx.push(...r.effects);
    }
    return { s, fx };
  };
  const { replayed } = replayAfter(crashAt);
  t.equal(inspect(replayed.state).lockedBlock, toHex(B.hash));

  // C proposed in round 1 without a proof of lock: nil.
  const c = feed(replayed.state, [...after, proposal(1, C), validated(C, 1)]);
  t.same(votesOf(c.fx), [eff.vote(VoteType.PREVOTE, 1, null)], "prevotes nil, not C");
  // B re-proposed in round 1 with its round-0 polka: B.
  const b = feed(replayed.state, [...after, proposal(1, B, 0)]);
  t.same(votesOf(b.fx), [eff.vote(VoteType.PREVOTE, 1, B)], "prevotes its locked block");

  // The same inputs to an engine that lost its state (the bug): it prevotes C.
  const fresh = feed(replayHeight(machine, start(SELF), []).state, [pc(0, null, o1), pc(0, null, o3), pc(0, B, SELF), timeout(0, Step.PRECOMMIT), proposal(1, C), validated(C, 1)]);
  t.same(votesOf(fresh.fx), [eff.vote(VoteType.PREVOTE, 1, C)], "without the WAL the lock is gone and C is prevoted");
});

t.test("replay equals the original run for random interleavings of a 4-validator height", async (t) => {
  const pool: WalInput[] = [
    proposal(0, B), proposal(1, C), proposal(1, B, 0), validated(B), validated(C, 1), validated(B, 0, false),
    ...[0, 1].flatMap((r) => [0, 1, 2, 3].flatMap((i) => [pv(r, B, i), pv(r, C, i), pv(r, null, i), pc(r, B, i), pc(r, null, i)])),
    ...[0, 1].flatMap((r) => [timeout(r, Step.PROPOSE), timeout(r, Step.PREVOTE), timeout(r, Step.PRECOMMIT)]),
  ];
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 3 }), fc.array(fc.integer({ min: 0, max: pool.length - 1 }), { maxLength: 60 }), (self, picks) => {
      const inputs = picks.map((i) => pool[i]!);
      const run = original(self, inputs);
      const replayed = replayHeight(machine, start(self), run.log.map(decodeWalInput));
      return isDeepStrictEqual(replayed.state, run.states[inputs.length]!);
    }),
    { numRuns: 200, seed: 7 },
  );
  t.pass("200 random heights replayed to the very same state");
});
