/**
 * The consensus driver with the real store and signer on disk: block production, and
 * recovery after a crash between signing a proposal (or a precommit) and committing it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import t from "tap";
import { VoteType, proposalSignBytes, voteSignBytes, type Block } from "../../chain/block.ts";
import { createTendermintMachine } from "../../chain/consensus/tendermint.ts";
import { EvidencePool } from "../../chain/evidence-pool.ts";
import { Mempool } from "../../chain/mempool.ts";
import { BlockStore } from "../../chain/store.ts";
import { buildBlock } from "../../chain/transition.ts";
import type { SignedTx } from "../../chain/tx.ts";
import { devnetGenesis, devnetValidatorKey } from "../../genesis/devnet.ts";
import { genesisState } from "../../genesis/schema.ts";
import { ConsensusDriver } from "../../node/driver.ts";
import { DurableSigner, SignStep, SignerErrorCode } from "../../node/signer.ts";

const genesis = devnetGenesis();
const params = { ...genesis.params, blockIntervalMs: 5 };
const key = devnetValidatorKey();

interface Running {
  driver: ConsensusDriver<unknown>;
  store: BlockStore;
  committed: Block[];
  waitHeight(h: bigint): Promise<void>;
  close(): Promise<void>;
}

async function run(dir: string, clock: { t: number }): Promise<Running> {
  const store = await BlockStore.open(join(dir, "chain"), { chainId: genesis.chainId, genesisHash: genesis.hash, genesisState: () => genesisState(genesis) });
  const state = await store.loadState(() => genesisState(genesis).root());
  const lastCommit = store.head.height > 0n ? ((await store.getCommit(store.head.height)) ?? null) : null;
  const signer = await DurableSigner.open(key, join(dir, "signer.json"));
  const mempool = new Mempool<SignedTx>({}, { accountNonce: () => 0n });
  const committed: Block[] = [];
  const waiters: Array<() => void> = [];
  const driver = new ConsensusDriver<unknown>(
    {
      machine: createTendermintMachine() as never, store, mempool, evidencePool: new EvidencePool(), signer, key, chainId: genesis.chainId, params,
      log: pino({ level: "silent" }), now: () => (clock.t += 1000),
      onCommit: (b) => {
        committed.push(b);
        for (const w of waiters.splice(0)) w();
      },
    },
    state,
    lastCommit,
  );
  driver.start();
  return {
    driver, store, committed,
    waitHeight: async (h) => {
      const deadline = Date.now() + 10_000;
      while (store.head.height < h) {
        if (driver.failure) throw driver.failure;
        if (Date.now() > deadline) throw new Error(`height ${h} not reached (head ${store.head.height})`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 50);
        });
      }
    },
    close: async () => {
      await driver.stop();
      await store.close();
    },
  };
}

/** Simulates a crash in the middle of height head+1: what the driver had done before dying. */
async function crashAfterSigning(dir: string, opts: { recordProposal: boolean; precommit: boolean }): Promise<Block> {
  const store = await BlockStore.open(join(dir, "chain"), { chainId: genesis.chainId, genesisHash: genesis.hash, genesisState: () => genesisState(genesis) });
  const state = await store.loadState(() => genesisState(genesis).root());
  const lastCommit = (await store.getCommit(store.head.height)) ?? null;
  const signer = await DurableSigner.open(key, join(dir, "signer.json"));
  const h = store.head.height + 1n;
  const built = buildBlock(state, [], { chainId: genesis.chainId, params, proposer: key, time: 9_000_000_000_000n, lastCommit });
  if (opts.recordProposal) await store.putOwnProposal({ height: h, round: 0, block: built.block, signature: null });
  const sig = await signer.sign(h, 0, SignStep.PROPOSAL, built.block.hash, proposalSignBytes(genesis.chainId, h, 0, -1, built.block.hash));
  if (opts.recordProposal) await store.putOwnProposal({ height: h, round: 0, block: built.block, signature: sig });
  if (opts.precommit) {
    await signer.sign(h, 0, SignStep.PREVOTE, built.block.hash, voteSignBytes(genesis.chainId, VoteType.PREVOTE, h, 0, built.block.hash));
    await signer.sign(h, 0, SignStep.PRECOMMIT, built.block.hash, voteSignBytes(genesis.chainId, VoteType.PRECOMMIT, h, 0, built.block.hash));
  }
  await store.close();
  return built.block;
}

for (const precommit of [false, true]) {
  // The precommit case needs the engine's lock to survive the restart: the consensus WAL
  // (replaying the height's inputs) is being built; until then the signer refuses the re-vote.
  const todo = precommit ? "needs the consensus WAL that replays the height's inputs after a restart" : false;
  t.test(`after a crash that follows signing a proposal${precommit ? ", a prevote and a precommit" : ""}, the same block is committed`, { todo }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "cloudcoin-driver-"));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const clock = { t: Number(genesis.genesisTime) };
    const first = await run(dir, clock);
    await first.waitHeight(2n);
    await first.close();
    const pending = await crashAfterSigning(dir, { recordProposal: true, precommit });
    const second = await run(dir, clock);
    t.teardown(() => second.close());
    await second.waitHeight(pending.header.height + 1n);
    t.same(second.committed[0]!.hash, pending.hash, "the recorded proposal is the block committed at that height");
    t.equal(second.driver.failure, null);
    t.equal(await second.store.getOwnProposal(), undefined, "the record is cleared with the commit");
  });
}

t.test("without the proposal record the signer refuses a conflicting proposal and production stops safely", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "cloudcoin-driver-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const clock = { t: Number(genesis.genesisTime) };
  const first = await run(dir, clock);
  await first.waitHeight(1n);
  await first.close();
  await crashAfterSigning(dir, { recordProposal: false, precommit: false });
  const second = await run(dir, clock);
  t.teardown(() => second.close());
  await t.rejects(second.waitHeight(2n), { code: SignerErrorCode.CONFLICT });
  t.equal(second.store.head.height, 1n, "nothing conflicting was committed");
});
