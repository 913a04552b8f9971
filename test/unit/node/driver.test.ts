/**
 * The consensus driver with the real store and signer on disk: block production, and recovery
 * through the consensus WAL after a crash in the middle of a height.
 *
 * Crashes are real: a DriverProbe that throws stops the driver at the chosen point (consensus
 * halts there as a kill -9 would leave it: the store and the signer hold exactly what was written
 * before), the store is closed, and a fresh driver, store and signer are opened on the same files.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import t from "tap";
import { VoteType, ZERO_HASH, proposalSignBytes, verifyCommit, voteSignBytes, type Block } from "../../../chain/block.ts";
import { toHex } from "../../../primitives/bytes.ts";
import { proposerIndex } from "../../../chain/consensus/proposer.ts";
import { createTendermintMachine, defaultTendermintConfig, inspect, type TendermintConfig, type TendermintState } from "../../../chain/consensus/tendermint.ts";
import { Step, type ConsensusEffect } from "../../../chain/consensus/types.ts";
import { EvidencePool } from "../../../chain/evidence-pool.ts";
import type { KeyPair } from "../../../primitives/keys.ts";
import { Mempool } from "../../../chain/mempool.ts";
import { BlockStore } from "../../../chain/store.ts";
import { applyBlock, buildBlock } from "../../../chain/transition.ts";
import { isTxVerified, signTx, TxErrorCode, type SignedTx } from "../../../chain/tx.ts";
import { VerifyPool } from "../../../node/verify-pool.ts";
import { devnetFaucetKey, devnetGenesis, devnetValidatorKey, insecureDevKey } from "../../../genesis/devnet.ts";
import { genesisState, type Genesis } from "../../../genesis/schema.ts";
import { ConsensusDriver, DEFAULT_MAX_PROPOSAL_TXS, nextHeightDelay, proposalTxCap, type DriverProbe } from "../../../node/driver.ts";
import { DurableSigner, SignStep, SignerErrorCode } from "../../../node/signer.ts";
import { WalErrorCode, decodeWalInput, encodeWalInput, inputHeight, type WalInput } from "../../../node/wal.ts";
import { newTestChain } from "../../helpers/chain.ts";

const devnet = devnetGenesis();
const devKey = devnetValidatorKey();

class SimulatedCrash extends Error {}

interface NodeOptions {
  genesis?: Genesis;
  key?: KeyPair;
  engine?: TendermintConfig;
  clock?: { t: number };
  /** the driver throws (crashes) at the first probe point this matches */
  crashWhen?: (p: DriverProbe) => boolean;
  walMaxEntries?: number;
  /** the wait after a commit (default 5 ms) */
  blockIntervalMs?: number;
}

interface WalWrite {
  height: bigint;
  seq: number;
  sync: boolean;
  input: WalInput;
}

interface Running {
  driver: ConsensusDriver<unknown>;
  store: BlockStore;
  signer: DurableSigner;
  genesis: Genesis;
  committed: Block[];
  probes: DriverProbe[];
  /** every WAL append, in order, and the syncWal calls as "sync" */
  walWrites: (WalWrite | "sync")[];
  logs: { level: number; msg: string }[];
  waitFor(what: string, cond: () => boolean | Promise<boolean>): Promise<void>;
  waitHeight(h: bigint): Promise<void>;
  waitCrash(): Promise<void>;
  close(): Promise<void>;
}

const dirs: string[] = [];
t.teardown(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "cloudcoin-driver-"));
  dirs.push(d);
  return d;
}

async function openStore(dir: string, genesis: Genesis): Promise<BlockStore> {
  return BlockStore.open(join(dir, "chain"), { chainId: genesis.chainId, genesisHash: genesis.hash, genesisState: () => genesisState(genesis) });
}

async function run(dir: string, opts: NodeOptions = {}): Promise<Running> {
  const genesis = opts.genesis ?? devnet;
  const key = opts.key ?? devKey;
  const clock = opts.clock ?? { t: Number(genesis.genesisTime) };
  const store = await openStore(dir, genesis);
  const walWrites: (WalWrite | "sync")[] = [];
  const appendWal = store.appendWal.bind(store);
  const syncWal = store.syncWal.bind(store);
  store.appendWal = async (height, seq, bytes, sync) => {
    walWrites.push({ height, seq, sync, input: decodeWalInput(bytes) });
    return appendWal(height, seq, bytes, sync);
  };
  store.syncWal = async () => {
    walWrites.push("sync");
    return syncWal();
  };
  const state = await store.loadState(() => genesisState(genesis).root());
  const lastCommit = store.head.height > 0n ? ((await store.getCommit(store.head.height)) ?? null) : null;
  const signer = await DurableSigner.open(key, join(dir, "signer.json"));
  const committed: Block[] = [];
  const probes: DriverProbe[] = [];
  const logs: { level: number; msg: string }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString("utf8").split("\n")) if (line) logs.push(JSON.parse(line) as { level: number; msg: string });
      cb();
    },
  });
  let crashed = false;
  const driver = new ConsensusDriver<unknown>(
    {
      machine: createTendermintMachine(opts.engine ?? defaultTendermintConfig) as never,
      store, mempool: new Mempool<SignedTx>({}, { accountNonce: () => 0n }), evidencePool: new EvidencePool(), signer, key, chainId: genesis.chainId,
      params: { ...genesis.params, blockIntervalMs: opts.blockIntervalMs ?? 5 },
      log: pino({ level: "info" }, sink),
      now: () => (clock.t += 1000),
      onCommit: (b) => committed.push(b),
      ...(opts.walMaxEntries !== undefined ? { walMaxEntries: opts.walMaxEntries } : {}),
      probe: (p) => {
        probes.push(p);
        if (!crashed && opts.crashWhen?.(p)) {
          crashed = true;
          throw new SimulatedCrash(`simulated crash at ${p.at}`);
        }
      },
    },
    state,
    lastCommit,
  );
  driver.start();
  const waitFor = async (what: string, cond: () => boolean | Promise<boolean>): Promise<void> => {
    const deadline = Date.now() + 10_000;
    while (!(await cond())) {
      if (driver.failure) throw driver.failure;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 2));
    }
  };
  return {
    driver, store, signer, genesis, committed, probes, walWrites, logs, waitFor,
    waitHeight: (h) => waitFor(`height ${h} (head ${store.head.height})`, () => store.head.height >= h),
    waitCrash: async () => {
      const deadline = Date.now() + 10_000;
      while (!(driver.failure instanceof SimulatedCrash)) {
        if (driver.failure) throw driver.failure;
        if (Date.now() > deadline) throw new Error("the crash point was never reached");
        await new Promise((r) => setTimeout(r, 2));
      }
    },
    close: async () => {
      await driver.stop();
      await store.close();
    },
  };
}

// ---- probe predicates ----

function effectHeight(e: ConsensusEffect): bigint {
  return e.type === "commit" ? e.block.header.height : e.type === "evidence" ? e.first.height : e.height;
}
const afterEffect = (h: bigint, type: ConsensusEffect["type"], voteType?: VoteType) => (p: DriverProbe) =>
  p.at === "effect" && p.phase === "after" && p.effect.type === type && effectHeight(p.effect) === h && (voteType === undefined || (p.effect.type === "castVote" && p.effect.voteType === voteType));
const beforeEffect = (h: bigint, type: ConsensusEffect["type"]) => (p: DriverProbe) => p.at === "effect" && p.phase === "before" && p.effect.type === type && effectHeight(p.effect) === h;
const loggedOwn = (h: bigint, type: WalInput["type"], voteType?: VoteType) => (p: DriverProbe) =>
  p.at === "logged" && p.origin === "own" && p.input.type === type && inputHeight(p.input) === h && (voteType === undefined || (p.input.type === "vote" && p.input.vote.type === voteType));

/** The effects a restarted driver executed from its WAL replay, as short names. */
function replayedEffects(r: Running): string[] {
  return r.probes.flatMap((p) => (p.at === "effect" && p.phase === "before" && p.replayed ? [effectName(p.effect)] : []));
}
function effectName(e: ConsensusEffect): string {
  if (e.type === "castVote") return `castVote ${e.voteType === VoteType.PREVOTE ? "prevote" : "precommit"} r${e.round} ${e.blockHash === null ? "nil" : toHex(e.blockHash).slice(0, 8)}`;
  if (e.type === "scheduleTimeout") return `scheduleTimeout r${e.round} step${e.step} ${e.delayMs}ms`;
  return e.type;
}

// ---- one validator: a crash at every point of a height, then a restart on the same files ----

const H = 3n;
const crashPoints: { name: string; when: (p: DriverProbe) => boolean; replayed: string[] }[] = [
  { name: "right after the proposal is recorded and signed, before it is logged", when: afterEffect(H, "buildProposal"), replayed: ["buildProposal"] },
  { name: "right after the own proposal is logged", when: loggedOwn(H, "proposal"), replayed: ["validateBlock"] },
  { name: "right after signing the prevote, before it is logged", when: afterEffect(H, "castVote", VoteType.PREVOTE), replayed: ["castVote prevote r0 BLOCK"] },
  // The case the WAL exists for: without it the restarted engine tries to prevote again at 3/0
  // and the signer refuses ("already signed at 3/0/3; refusing 3/0/2"): consensus halts.
  { name: "right after signing the precommit, before it is logged", when: afterEffect(H, "castVote", VoteType.PRECOMMIT), replayed: ["castVote precommit r0 BLOCK"] },
  { name: "right after the own precommit is logged (decided, nothing stored)", when: loggedOwn(H, "vote", VoteType.PRECOMMIT), replayed: ["commit"] },
  { name: "right before the commit is stored", when: beforeEffect(H, "commit"), replayed: ["commit"] },
];

for (const point of crashPoints) {
  t.test(`one validator, crash ${point.name}: the restart resumes the height and commits the same block`, async (t) => {
    const dir = tempDir();
    const clock = { t: Number(devnet.genesisTime) };
    const first = await run(dir, { clock, crashWhen: point.when });
    await first.waitCrash();
    t.equal(first.store.head.height, H - 1n, "the crash came before the commit of the height");
    const recorded = await first.store.getOwnProposal();
    t.ok(recorded, "the own proposal was recorded before the crash");
    await first.close();

    // The second run stops itself right before it builds the next height's proposal, so the
    // proposal record seen below is the one left by the crash, not a newer one.
    const second = await run(dir, { clock, crashWhen: beforeEffect(H + 1n, "buildProposal") });
    t.teardown(() => second.close());
    await second.waitCrash();
    t.equal(second.store.head.height, H, "the height was committed before the next proposal");
    t.ok(second.driver.failure instanceof SimulatedCrash, "no refusal by the signer, no failure but the planned stop");
    t.equal(second.committed[0]!.header.height, H);
    t.same(second.committed[0]!.hash, recorded!.block.hash, "the block proposed before the crash is the one committed");
    const blockId = toHex(recorded!.block.hash).slice(0, 8);
    t.same(replayedEffects(second), point.replayed.map((e) => e.replace("BLOCK", blockId)), "exactly the unfinished effects were executed again");
    t.same(await second.store.readWal(H), [], "the WAL of the committed height is cleared");
    t.equal(await second.store.getOwnProposal(), undefined, "the proposal record is cleared with the commit");
  });
}

t.test("one validator: the WAL holds the height's inputs in feeding order, own messages synced, and is synced before every signature", async (t) => {
  const dir = tempDir();
  const r = await run(dir, { crashWhen: afterEffect(2n, "commit") });
  await r.waitCrash();
  t.teardown(() => r.close());
  const h2 = r.walWrites.slice(r.walWrites.findIndex((w) => w !== "sync" && w.height === 2n));
  const shape = h2.map((w) => (w === "sync" ? "sync" : `${w.seq}:${w.input.type}${w.input.type === "vote" ? (w.input.vote.type === VoteType.PREVOTE ? "/prevote" : "/precommit") : ""}${w.sync ? " (sync)" : ""}`));
  // blockValidated is not own: written without sync, then synced before the prevote is signed.
  t.same(shape, ["0:proposal (sync)", "1:blockValidated", "sync", "2:vote/prevote (sync)", "3:vote/precommit (sync)"]);
  t.same(await r.store.readWal(2n), [], "cleared after the commit");
});

t.test("without the proposal record the signer refuses a conflicting proposal and production stops safely", async (t) => {
  // What a driver that signed a proposal without recording it would leave behind.
  const dir = tempDir();
  const first = await run(dir);
  await first.waitHeight(1n);
  await first.close();
  const store = await openStore(dir, devnet);
  const state = await store.loadState(() => genesisState(devnet).root());
  const signer = await DurableSigner.open(devKey, join(dir, "signer.json"));
  const h = store.head.height + 1n;
  const built = buildBlock(state, [], { chainId: devnet.chainId, params: devnet.params, proposer: devKey, time: 9_000_000_000_000n, lastCommit: (await store.getCommit(store.head.height)) ?? null });
  await signer.sign(h, 0, SignStep.PROPOSAL, built.block.hash, proposalSignBytes(devnet.chainId, h, 0, -1, built.block.hash));
  await store.close();

  const second = await run(dir);
  t.teardown(() => second.close());
  await t.rejects(second.waitHeight(h), { code: SignerErrorCode.CONFLICT });
  t.equal(second.store.head.height, h - 1n, "nothing conflicting was committed");
});

t.test("WAL entries of committed heights are stale: ignored, even when unreadable, and cleared at start", async (t) => {
  const dir = tempDir();
  const first = await run(dir);
  await first.waitHeight(2n);
  await first.close();
  const store = await openStore(dir, devnet);
  const head = store.head.height;
  await store.appendWal(head - 1n, 0, new Uint8Array([0xff, 0x00]), false);
  await store.appendWal(head, 0, new Uint8Array([0xff]), false);
  await store.appendWal(head, 1, encodeWalInput({ type: "timeout", height: head, round: 0, step: Step.PROPOSE }), false);
  await store.close();

  // Stopped at its first step after recovery, before any commit could clear them too.
  const second = await run(dir, { crashWhen: (p) => p.at === "effect" && p.replayed });
  await second.waitCrash();
  t.same(await second.store.readWal(head - 1n), [], "cleared at start");
  t.same(await second.store.readWal(head), [], "cleared at start");
  t.same(replayedEffects(second), ["buildProposal"], "the stale entries were not replayed");
  await second.close();

  const third = await run(dir);
  t.teardown(() => third.close());
  await third.waitHeight(head + 1n);
  t.equal(third.driver.failure, null);
});

for (const damage of ["garbage", "gap", "other height"] as const) {
  t.test(`a damaged WAL (${damage}) at a height with nothing signed yet: replay ends at the damage, a warning, and the node finishes the height`, async (t) => {
    const dir = tempDir();
    // stopped right before it would sign anything at height 2
    const first = await run(dir, { crashWhen: beforeEffect(2n, "buildProposal") });
    await first.waitCrash();
    await first.close();
    const store = await openStore(dir, devnet);
    const h = store.head.height + 1n;
    t.equal(h, 2n);
    const timeout = (height: bigint) => encodeWalInput({ type: "timeout", height, round: 0, step: Step.PROPOSE });
    if (damage === "garbage") {
      await store.appendWal(h, 0, timeout(h), false);
      await store.appendWal(h, 1, timeout(h).subarray(0, 3), false);
      await store.appendWal(h, 2, timeout(h), false);
    } else if (damage === "gap") {
      await store.appendWal(h, 0, timeout(h), false);
      await store.appendWal(h, 2, timeout(h), false);
    } else {
      await store.appendWal(h, 0, timeout(h + 1n), false);
    }
    await store.close();
    const signedBefore = (await DurableSigner.open(devKey, join(dir, "signer.json"))).lastSigned;
    t.equal(signedBefore?.height, 1n, "nothing signed at height 2");

    const second = await run(dir, { crashWhen: beforeEffect(3n, "buildProposal") });
    t.teardown(() => second.close());
    await second.waitCrash();
    t.equal(second.store.head.height, 2n, "height 2 finalized after the damaged WAL");
    t.equal(second.signer.lastSigned?.height, 2n, "this node signed at height 2: it took part");
    const warn = second.logs.find((l) => /WAL of this height is damaged/.test(l.msg)) as { level: number; msg: string; seq?: number; dropped?: number; code?: string; abstain?: boolean } | undefined;
    t.ok(warn && warn.level === 40, "a warning");
    t.equal(warn?.code, WalErrorCode.CORRUPT);
    t.equal(warn?.seq, damage === "other height" ? 0 : 1, "names the damaged entry");
    t.equal(warn?.dropped, damage === "garbage" ? 2 : 1, "and what was dropped");
    t.equal(warn?.abstain, false);
    t.ok(second.driver.failure instanceof SimulatedCrash, "no failure but the planned stop");
  });
}

// ---- four validators: peers' messages, the lock across a restart, the cap ----

const peerKeys = [0, 1, 2, 3].map((i) => insecureDevKey(`driver-wal-${i}`));
const quad = newTestChain({ validators: peerKeys.map((key) => ({ key, power: 1_000_000_000_000_000n })) });
const quadSet = quad.state.validators();
const p0 = proposerIndex(quadSet, 0);
const p1 = proposerIndex(quadSet, 1);
/** this node: proposes neither round 0 nor round 1 */
const me = [0, 1, 2, 3].find((i) => i !== p0 && i !== p1)!;
const others = [0, 1, 2, 3].filter((i) => i !== me);
const keyOf = (i: number): KeyPair => peerKeys.find((k) => Buffer.compare(k.publicKey, quadSet[i]!.publicKey) === 0)!;
/** proposals wait (propose and prevote timeouts never fire here); a round with +2/3 precommits ends at once */
const quadEngine: TendermintConfig = { ...defaultTendermintConfig, timeoutPropose: 60_000, timeoutPrevote: 60_000, timeoutPrecommit: 5, timeoutPrecommitDelta: 0 };
const quadBlock = (proposer: number, time: bigint): Block =>
  buildBlock(quad.state, [], { chainId: quad.genesis.chainId, params: quad.genesis.params, proposer: keyOf(proposer), time, lastCommit: null }).block;
const B = quadBlock(p0, quad.genesis.genesisTime + 1000n);
const C = quadBlock(p1, quad.genesis.genesisTime + 2000n);

function proposalFrom(proposer: number, round: number, block: Block) {
  const signature = keyOf(proposer).sign(proposalSignBytes(quad.genesis.chainId, 1n, round, -1, block.hash));
  return { type: "proposal" as const, proposal: { height: 1n, round, polRound: -1, block, signature } };
}
function voteFrom(i: number, type: VoteType, round: number, block: Block | null) {
  const signature = keyOf(i).sign(voteSignBytes(quad.genesis.chainId, type, 1n, round, block?.hash ?? ZERO_HASH));
  return { type: "vote" as const, vote: { type, height: 1n, round, blockHash: block?.hash ?? null, validatorIndex: i, signature } };
}
const runQuad = (dir: string, opts: Partial<NodeOptions> = {}) => run(dir, { genesis: quad.genesis, key: keyOf(me), engine: quadEngine, ...opts });
const castVotes = (r: Running) => r.probes.flatMap((p) => (p.at === "effect" && p.phase === "after" && p.effect.type === "castVote" ? [p.effect] : []));
const hex = (b: Block) => toHex(b.hash);

/** Round 0 of height 1: B proposed, this node and two peers prevote B, so it locks B and precommits B. */
async function lockOnB(r: Running): Promise<void> {
  r.driver.deliver(proposalFrom(p0, 0, B));
  for (const i of others.filter((i) => i !== p0).slice(0, 2)) r.driver.deliver(voteFrom(i, VoteType.PREVOTE, 0, B));
}

t.test("four validators: a restart after the precommit keeps the lock, so the next round's other block gets a nil prevote", async (t) => {
  const dir = tempDir();
  const first = await runQuad(dir, { crashWhen: afterEffect(1n, "castVote", VoteType.PRECOMMIT) });
  await lockOnB(first);
  await first.waitCrash();
  t.equal(inspect(first.driver.machineState as TendermintState).lockedBlock, hex(B), "locked on B before the crash");
  t.same(first.walWrites.map((w) => (w === "sync" ? "sync" : `${w.input.type}${w.sync ? " (sync)" : ""}`)), [
    "proposal", "vote", "vote", "blockValidated", "sync", "vote (sync)",
  ], "peer messages unsynced, synced before signing the prevote, the own prevote synced");
  await first.close();

  const second = await runQuad(dir);
  t.teardown(() => second.close());
  await second.waitFor("the re-signed precommit", () => second.probes.some(loggedOwn(1n, "vote", VoteType.PRECOMMIT)));
  t.same(replayedEffects(second), ["scheduleTimeout r0 step1 60000ms", `castVote precommit r0 ${hex(B).slice(0, 8)}`], "the unfinished effects, in order");
  const recovered = inspect(second.driver.machineState as TendermintState);
  t.equal(recovered.lockedBlock, hex(B), "the lock survived the restart");
  t.equal(recovered.lockedRound, 0);
  t.equal(recovered.step, "precommit");

  // Round 0 fails (the others precommit nil), round 1's proposer proposes C.
  for (const i of others) second.driver.deliver(voteFrom(i, VoteType.PRECOMMIT, 0, null));
  await second.waitFor("round 1", () => inspect(second.driver.machineState as TendermintState).round === 1);
  second.driver.deliver(proposalFrom(p1, 1, C));
  await second.waitFor("the round 1 prevote", () => castVotes(second).some((v) => v.round === 1));
  const prevote1 = castVotes(second).find((v) => v.round === 1)!;
  t.equal(prevote1.voteType, VoteType.PREVOTE);
  t.equal(prevote1.blockHash, null, "locked on B: prevotes nil for C, never C");
  t.same(second.signer.lastSigned, { height: 1n, round: 1, step: SignStep.PREVOTE });
  t.equal(second.driver.failure, null);
});

t.test("four validators: peer messages beyond the WAL cap are fed but not logged, own messages always are", async (t) => {
  const dir = tempDir();
  const r = await runQuad(dir, { walMaxEntries: 2 });
  t.teardown(() => r.close());
  await lockOnB(r);
  await r.waitFor("the own precommit logged", () => r.probes.some(loggedOwn(1n, "vote", VoteType.PRECOMMIT)));
  const stored = (await r.store.readWal(1n)).map((e) => decodeWalInput(e.bytes));
  t.same(stored.map((i) => (i.type === "vote" ? `vote ${i.vote.validatorIndex === me ? "own" : "peer"} ${i.vote.type}` : i.type)), [
    "proposal", `vote peer ${VoteType.PREVOTE}`, "blockValidated", `vote own ${VoteType.PREVOTE}`, `vote own ${VoteType.PRECOMMIT}`,
  ], "the peer prevote after the cap is not in the WAL; blockValidated and the own votes are");
  t.equal(inspect(r.driver.machineState as TendermintState).lockedBlock, hex(B), "yet the engine counted the peer prevotes (it locked)");
  t.equal(r.logs.filter((l) => /WAL cap reached/.test(l.msg)).length, 1, "one warning");
});

t.test("deliver drops a peer message no WAL entry could hold; an input the engine ignores is not logged", async (t) => {
  const dir = tempDir();
  const r = await runQuad(dir);
  t.teardown(() => r.close());
  const bad = voteFrom(others[0]!, VoteType.PREVOTE, 0, B);
  t.equal(r.driver.deliver({ type: "vote", vote: { ...bad.vote, signature: bad.vote.signature.subarray(0, 63) } }), false);
  t.equal(r.driver.deliver({ type: "vote", vote: { ...bad.vote, type: 7 as VoteType } }), false);
  t.equal(r.driver.deliver(bad), true);
  t.equal(r.driver.deliver(bad), true, "a duplicate is well-formed: fed, but the engine ignores it");
  t.equal(r.driver.deliver(voteFrom(others[1]!, VoteType.PREVOTE, 0, B)), true);
  await r.waitFor("two inputs logged", () => r.probes.filter((p) => p.at === "logged").length === 2);
  t.same(r.walWrites.map((w) => w !== "sync" && w.input.type === "vote" && w.input.vote.validatorIndex), [others[0], others[1]], "only the inputs that changed the engine's state are logged");
});

t.test("the block interval counts from the start of the decided height, at least a quarter of it after the commit", (t) => {
  t.equal(nextHeightDelay(1_000, 0), 1_000, "decided at once: the whole interval");
  t.equal(nextHeightDelay(1_000, 300), 700, "consensus took 300 ms: the next height starts 1,000 ms after this one started");
  t.equal(nextHeightDelay(1_000, 750), 250);
  t.equal(nextHeightDelay(1_000, 900), 250, "never less than a quarter of the interval after the commit: late precommits still arrive");
  t.equal(nextHeightDelay(1_000, 60_000), 250, "a height that took many rounds");
  t.equal(nextHeightDelay(5, 0), 5);
  t.equal(nextHeightDelay(5, 100), 2, "a quarter rounded up");
  t.equal(nextHeightDelay(1_000, -5), 1_000, "a clock that stepped back counts as no time");
  t.end();
});

t.test("four validators: a proposal prevalidated while the pool checks its signatures is voted as the engine would", async (t) => {
  const pool = await VerifyPool.start(2);
  t.teardown(() => pool.close());
  const faucet = devnetFaucetKey();
  const txsOf = (amount: bigint) =>
    Array.from({ length: 40 }, (_, n) => signTx({ chainId: quad.genesis.chainId, nonce: BigInt(n), fee: 1000n, op: { type: "transfer", to: peerKeys[0]!.publicKey, amount } }, faucet));
  const blockOf = (txs: SignedTx[]) =>
    buildBlock(quad.state, txs, { chainId: quad.genesis.chainId, params: quad.genesis.params, proposer: keyOf(p0), time: quad.genesis.genesisTime + 1000n, lastCommit: null }).block;
  const ownPrevote = (r: Running) => castVotes(r).find((v) => v.round === 0 && v.voteType === VoteType.PREVOTE);

  // a forged signature among 40: refused, as applyBlock refuses it
  const forgedTxs = txsOf(5n);
  const sig = forgedTxs[17]!.signature.slice();
  sig[0]! ^= 1;
  forgedTxs[17] = { ...forgedTxs[17]!, signature: sig };
  const forged = blockOf(forgedTxs);
  const a = await runQuad(tempDir());
  t.teardown(() => a.close());
  await a.driver.prevalidate(forged, pool);
  a.driver.deliver(proposalFrom(p0, 0, forged));
  await a.waitFor("the prevote", () => ownPrevote(a) !== undefined);
  t.equal(ownPrevote(a)!.blockHash, null, "nil for a block with a forged signature");
  const refused = a.logs.find((l) => l.msg === "invalid proposal") as { code?: string } | undefined;
  t.equal(refused?.code, TxErrorCode.BAD_SIGNATURE, "refused for the signature");

  // the same transactions signed properly: executed ahead, every signature checked by the pool
  const validTxs = txsOf(6n);
  const valid = blockOf(validTxs);
  const b = await runQuad(tempDir());
  t.teardown(() => b.close());
  await b.driver.prevalidate(valid, pool);
  t.ok(validTxs.every(isTxVerified), "the pool checked every signature");
  b.driver.deliver(proposalFrom(p0, 0, valid));
  await b.waitFor("the prevote", () => ownPrevote(b) !== undefined);
  t.equal(toHex(ownPrevote(b)!.blockHash ?? new Uint8Array()), hex(valid), "a prevote for the valid block");
  // a block of another height is only preverified, never executed against this head
  const later = { ...valid, header: { ...valid.header, height: 5n } };
  await b.driver.prevalidate(later, pool);
  t.equal(b.driver.failure, null);
});

t.test("four validators: a precommit that arrives after the decision joins the last commit the next block carries", async (t) => {
  const dir = tempDir();
  const r = await runQuad(dir, { blockIntervalMs: 60_000 });
  t.teardown(() => r.close());
  const [a, b, late] = others as [number, number, number];
  r.driver.deliver(proposalFrom(p0, 0, B));
  for (const i of others) r.driver.deliver(voteFrom(i, VoteType.PREVOTE, 0, B));
  // +2/3 with this node's own precommit and two peers': decided before the third peer's arrives
  r.driver.deliver(voteFrom(a, VoteType.PRECOMMIT, 0, B));
  r.driver.deliver(voteFrom(b, VoteType.PRECOMMIT, 0, B));
  await r.waitHeight(1n);
  const decided = r.driver.lastCommit!;
  t.same(decided.signatures.map((s) => s.validatorIndex).sort(), [a, b, me].sort(), "the decision's commit: this node and two peers");
  const forged = voteFrom(late, VoteType.PRECOMMIT, 0, B).vote;
  t.notOk(r.driver.addLatePrecommit({ ...forged, signature: forged.signature.map((x, i) => (i === 7 ? x ^ 1 : x)) }), "a forged signature is refused");
  t.notOk(r.driver.addLatePrecommit(voteFrom(late, VoteType.PRECOMMIT, 0, C).vote), "a precommit for another block is refused");
  t.notOk(r.driver.addLatePrecommit(voteFrom(late, VoteType.PREVOTE, 0, B).vote), "a prevote is refused");
  t.notOk(r.driver.addLatePrecommit(voteFrom(late, VoteType.PRECOMMIT, 1, B).vote), "a precommit of another round is refused");
  t.notOk(r.driver.addLatePrecommit(voteFrom(a, VoteType.PRECOMMIT, 0, B).vote), "a validator already in the commit is not added twice");
  t.ok(r.driver.addLatePrecommit(voteFrom(late, VoteType.PRECOMMIT, 0, B).vote), "the late peer's precommit is taken");
  const extended = r.driver.lastCommit!;
  t.same(extended.signatures.map((s) => s.validatorIndex), [0, 1, 2, 3], "all four, in validator order");
  t.doesNotThrow(() => verifyCommit(quad.genesis.chainId, quadSet, 1n, B.hash, extended), "a valid commit for the block");
  t.same((await r.store.getCommit(1n))!.signatures.length, 3, "the stored commit of the decided block is the decision's");
});

t.test("four validators: the next height's proposal, heard while the block interval is waited out, is not lost", async (t) => {
  const dir = tempDir();
  const r = await runQuad(dir, { blockIntervalMs: 1_500 });
  t.teardown(() => r.close());
  // height 1 decided: B with +2/3 precommits
  r.driver.deliver(proposalFrom(p0, 0, B));
  for (const i of others) r.driver.deliver(voteFrom(i, VoteType.PREVOTE, 0, B));
  for (const i of others) r.driver.deliver(voteFrom(i, VoteType.PRECOMMIT, 0, B));
  await r.waitHeight(1n);
  t.equal(r.driver.position().height, 2n, "waiting out the interval, the node already listens for height 2");
  // the proposer of height 2 started earlier and proposes now, while this node still waits
  const after1 = applyBlock(quad.state, B, quad.genesis.params, quad.genesis.chainId).state;
  const set2 = after1.validators();
  const p2 = proposerIndex(set2, 0);
  const keyOf2 = (i: number): KeyPair => peerKeys.find((k) => Buffer.compare(k.publicKey, set2[i]!.publicKey) === 0)!;
  const commit1 = (await r.store.getCommit(1n))!;
  const D = buildBlock(after1, [], { chainId: quad.genesis.chainId, params: quad.genesis.params, proposer: keyOf2(p2), time: quad.genesis.genesisTime + 5000n, lastCommit: commit1 }).block;
  const signature = keyOf2(p2).sign(proposalSignBytes(quad.genesis.chainId, 2n, 0, -1, D.hash));
  t.ok(r.driver.deliver({ type: "proposal", proposal: { height: 2n, round: 0, polRound: -1, block: D, signature } }));
  t.equal((r.driver.machineState as TendermintState).height, 1n, "the engine is still at height 1");
  // proposals wait 60 s in this engine: only the held proposal can make the node prevote D now
  await r.waitFor("a prevote at height 2", () => castVotes(r).some((v) => v.height === 2n));
  const v = castVotes(r).find((x) => x.height === 2n)!;
  t.equal(v.voteType, VoteType.PREVOTE);
  t.equal(v.blockHash && toHex(v.blockHash), hex(D), "for the proposal heard early");
  t.ok(r.driver.messagesOf(2n).some((m) => m.type === "proposal"), "and it is served to peers that ask for height 2");
});

/** A proposal or vote of `height` from validator `i` of `set` (signed with its key). */
const voteAt = (set: readonly { publicKey: Uint8Array }[], height: bigint, i: number, type: VoteType, round: number, block: Block | null) => {
  const k = peerKeys.find((x) => Buffer.compare(x.publicKey, set[i]!.publicKey) === 0)!;
  const signature = k.sign(voteSignBytes(quad.genesis.chainId, type, height, round, block?.hash ?? ZERO_HASH));
  return { type: "vote" as const, vote: { type, height, round, blockHash: block?.hash ?? null, validatorIndex: i, signature } };
};

for (const damage of ["garbage", "gap", "other height"] as const) {
  t.test(`four validators, a damaged WAL (${damage}) after this node precommitted: it signs nothing more at the height, commits the others' decision, and signs again at the next`, async (t) => {
    const dir = tempDir();
    // locked on B and precommitted it (signed), crashed before the precommit was logged
    const first = await runQuad(dir, { crashWhen: afterEffect(1n, "castVote", VoteType.PRECOMMIT) });
    await lockOnB(first);
    await first.waitCrash();
    await first.close();
    const signer0 = await DurableSigner.open(keyOf(me), join(dir, "signer.json"));
    t.same(signer0.lastSigned, { height: 1n, round: 0, step: SignStep.PRECOMMIT });

    // the WAL loses the entries that made the lock: the second and later entries
    const store = await openStore(dir, quad.genesis);
    const records = await store.readWal(1n);
    t.equal(records.length, 5, "proposal, two peer prevotes, blockValidated, own prevote");
    await store.truncateWal(1n, 1);
    if (damage === "garbage") {
      await store.appendWal(1n, 1, new Uint8Array([0xff, 0x00, 0x13]), false);
      for (let i = 2; i < records.length; i++) await store.appendWal(1n, i, records[i]!.bytes, false);
    } else if (damage === "gap") {
      for (let i = 2; i < records.length; i++) await store.appendWal(1n, i, records[i]!.bytes, false);
    } else {
      await store.appendWal(1n, 1, encodeWalInput({ type: "timeout", height: 2n, round: 0, step: Step.PROPOSE }), false);
      for (let i = 2; i < records.length; i++) await store.appendWal(1n, i, records[i]!.bytes, false);
    }
    await store.close();

    const second = await runQuad(dir);
    t.teardown(() => second.close());
    await second.waitFor("abstaining", () => second.driver.abstainingAt === 1n);
    const warn = second.logs.find((l) => /WAL of this height is damaged/.test(l.msg)) as unknown as { seq: number; abstain: boolean; replayed: number };
    t.same([warn.seq, warn.replayed, warn.abstain], [1, 1, true], "replayed the proposal only; abstains");
    t.equal(inspect(second.driver.machineState as TendermintState).lockedBlock, null, "the lock is gone with the dropped entries: why it must not vote");
    t.same(decodeWalInput((await second.store.readWal(1n))[0]!.bytes).type, "proposal", "the prefix stays");

    // a new round 1 with another block: a node that forgot its lock would prevote C here
    for (const i of others) second.driver.deliver(voteFrom(i, VoteType.PRECOMMIT, 0, null));
    await second.waitFor("round 1", () => inspect(second.driver.machineState as TendermintState).round === 1);
    second.driver.deliver(proposalFrom(p1, 1, C));
    for (const i of others) second.driver.deliver(voteFrom(i, VoteType.PREVOTE, 1, C));
    for (const i of others) second.driver.deliver(voteFrom(i, VoteType.PRECOMMIT, 1, C));
    await second.waitHeight(1n);
    t.equal(hex(second.committed[0]!), hex(C), "the others' decision is committed");
    t.same(second.signer.lastSigned, { height: 1n, round: 0, step: SignStep.PRECOMMIT }, "nothing signed at height 1 after the damage: no conflicting vote");
    t.equal(second.driver.abstainingAt, null);

    // height 2: the node takes part again, and the height is finalized with its signatures
    const after1 = applyBlock(quad.state, C, quad.genesis.params, quad.genesis.chainId).state;
    const set2 = after1.validators();
    const p2 = proposerIndex(set2, 0);
    const self2 = set2.findIndex((v) => Buffer.compare(v.publicKey, keyOf(me).publicKey) === 0);
    let D: Block;
    if (p2 === self2) {
      await second.waitFor("its own proposal at height 2", () => second.probes.some(loggedOwn(2n, "proposal")));
      const own = second.probes.find(loggedOwn(2n, "proposal"))!;
      D = (own as { input: { proposal: { block: Block } } }).input.proposal.block;
    } else {
      const k2 = peerKeys.find((k) => Buffer.compare(k.publicKey, set2[p2]!.publicKey) === 0)!;
      D = buildBlock(after1, [], { chainId: quad.genesis.chainId, params: quad.genesis.params, proposer: k2, time: quad.genesis.genesisTime + 9000n, lastCommit: (await second.store.getCommit(1n))! }).block;
      second.driver.deliver({ type: "proposal", proposal: { height: 2n, round: 0, polRound: -1, block: D, signature: k2.sign(proposalSignBytes(quad.genesis.chainId, 2n, 0, -1, D.hash)) } });
    }
    const others2 = [0, 1, 2, 3].filter((i) => i !== self2);
    for (const i of others2.slice(0, 2)) second.driver.deliver(voteAt(set2, 2n, i, VoteType.PREVOTE, 0, D));
    await second.waitFor("its precommit at height 2", () => second.signer.lastSigned?.height === 2n && second.signer.lastSigned.step === SignStep.PRECOMMIT);
    for (const i of others2.slice(0, 2)) second.driver.deliver(voteAt(set2, 2n, i, VoteType.PRECOMMIT, 0, D));
    await second.waitHeight(2n);
    const commit2 = (await second.store.getCommit(2n))!;
    t.ok(commit2.signatures.some((s) => s.validatorIndex === self2), "height 2 is finalized with this node's precommit in its commit");
    t.equal(second.driver.failure, null);
  });
}

t.test("the decision to abstain survives a restart: the truncated WAL looks whole, the stored mark still says no", async (t) => {
  const dir = tempDir();
  const first = await runQuad(dir, { crashWhen: afterEffect(1n, "castVote", VoteType.PRECOMMIT) });
  await lockOnB(first);
  await first.waitCrash();
  await first.close();
  const store = await openStore(dir, quad.genesis);
  await store.appendWal(1n, 1, new Uint8Array([0xff]), false);
  await store.close();
  const second = await runQuad(dir);
  await second.waitFor("abstaining", () => second.driver.abstainingAt === 1n);
  await second.close();
  const third = await runQuad(dir);
  t.teardown(() => third.close());
  await third.waitFor("abstaining again", () => third.driver.abstainingAt === 1n);
  t.ok(third.logs.some((l) => /earlier run/.test(l.msg)), "says why");
  for (const i of others) third.driver.deliver(voteFrom(i, VoteType.PRECOMMIT, 0, null));
  await third.waitFor("round 1", () => inspect(third.driver.machineState as TendermintState).round === 1);
  third.driver.deliver(proposalFrom(p1, 1, C));
  for (const i of others) third.driver.deliver(voteFrom(i, VoteType.PREVOTE, 1, C));
  await third.waitFor("the prevotes counted", () => inspect(third.driver.machineState as TendermintState).step !== "propose");
  t.same(third.signer.lastSigned, { height: 1n, round: 0, step: SignStep.PRECOMMIT }, "still nothing signed at height 1");
});

t.test("blocks synced concurrently are applied one after another, never spinning while one is written", async (t) => {
  const source = await run(tempDir());
  await source.waitHeight(3n);
  const blocks = [];
  for (let h = 1n; h <= 3n; h++) blocks.push({ block: (await source.store.getBlock(h))!, commit: (await source.store.getCommit(h))! });
  await source.close();
  // a follower that is not in the set: its consensus never moves the head on its own
  const follower = await run(tempDir(), { key: insecureDevKey("sync-follower") });
  // all three at once, as block sync and a newly connected peer can: the second and third wait for
  // the work in progress (awaiting a settled promise in a loop would starve the first one's writes)
  await Promise.all(blocks.map(({ block, commit }) => follower.driver.applySynced(block, commit).catch((e: { code?: string }) => {
    if (e.code !== "BLOCK_WRONG_HEIGHT") throw e;
  })));
  for (const { block, commit } of blocks) await follower.driver.applySynced(block, commit); // the ones that came too early
  t.equal(follower.store.head.height, 3n, "every block applied");
  t.equal(toHex(follower.store.head.hash), toHex(blocks[2]!.block.hash));
  await follower.close();
});

t.test("own proposals: the transaction cap halves with each round past the first (a failed round is often a block too slow to build and check)", async (t) => {
  t.equal(proposalTxCap(2_000, 10_000, 0), 2_000);
  t.equal(proposalTxCap(2_000, 10_000, 1), 1_000);
  t.equal(proposalTxCap(2_000, 10_000, 3), 250);
  t.equal(proposalTxCap(2_000, 500, 0), 500, "never above the chain's maxBlockTxs");
  t.equal(proposalTxCap(2_000, 10_000, 40), 1, "at least one transaction, however late the round");
  t.equal(proposalTxCap(DEFAULT_MAX_PROPOSAL_TXS, 10_000, 0), DEFAULT_MAX_PROPOSAL_TXS);
});
