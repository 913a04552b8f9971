/**
 * Consensus first (p2p/inbound.ts): a flood of transaction batches on gossip does not delay
 * proposals or votes. The event loop's turns are stepped by hand, so the test checks the order in
 * which messages are handled, not how long anything takes. Real signed votes and transactions,
 * the real topic handlers, the real admission (node/tx-ingest.ts) into a real mempool.
 */
import t from "tap";
import { encodeInput } from "../../../chain/consensus/messages.ts";
import type { Vote } from "../../../chain/consensus/types.ts";
import { Mempool } from "../../../chain/mempool.ts";
import { signTx, type SignedTx } from "../../../chain/tx.ts";
import { voteSignBytes } from "../../../chain/vote.ts";
import { consensusHandlers, encodeTxBatch, poolHandlers } from "../../../p2p/gossip.ts";
import { InboundQueue } from "../../../p2p/inbound.ts";
import { TxIngest } from "../../../node/tx-ingest.ts";
import { inlineVerifier } from "../../../node/verify-pool.ts";
import { newTestChain, testKey } from "../../helpers/chain.ts";

const keys = [testKey(1), testKey(2), testKey(3), testKey(4)];
const chain = newTestChain({ validators: keys.map((key) => ({ key, power: 1_000_000_000_000_000n })), balances: Array.from({ length: 64 }, (_, i) => ({ key: testKey(100 + i), amount: 10n ** 15n })) });
const chainId = chain.genesis.chainId;
const validators = chain.state.validators();
const keyOf = (i: number) => keys.find((k) => Buffer.compare(k.publicKey, validators[i]!.publicKey) === 0)!;

function vote(round: number, index = 0): Uint8Array {
  const v = { type: 1 as const, height: 1n, round, blockHash: null, validatorIndex: index };
  const signature = keyOf(index).sign(voteSignBytes(chainId, v.type, v.height, v.round, new Uint8Array(32)));
  return encodeInput({ type: "vote", vote: { ...v, signature } satisfies Vote });
}

/** `batches` gossip batches of `per` transfers each, every sender once per batch at its next nonce. */
function txBatches(batches: number, per: number): { data: Uint8Array[]; txs: SignedTx[] } {
  const data: Uint8Array[] = [];
  const txs: SignedTx[] = [];
  for (let b = 0; b < batches; b++) {
    const envs: Uint8Array[] = [];
    for (let i = 0; i < per; i++) {
      const tx = signTx({ chainId, nonce: BigInt(b), fee: 1000n, op: { type: "transfer", to: keys[0]!.publicKey, amount: 1n } }, testKey(100 + i));
      envs.push(tx.bytes);
      txs.push(tx);
    }
    data.push(encodeTxBatch(envs));
  }
  return { data, txs };
}

function world(maxPending = 256) {
  const log: string[] = [];
  const turns: (() => void)[] = [];
  const queue = new InboundQueue({ maxPending, schedule: (fn) => void turns.push(fn) });
  const mempool = new Mempool<SignedTx>({}, { accountNonce: (s) => chain.state.account(s).nonce });
  const ingest = new TxIngest({}, {
    chainId, verifier: inlineVerifier, pooled: () => mempool.size, has: (h) => mempool.has(h),
    admit: (tx) => void mempool.add(tx),
  });
  const consensus = consensusHandlers(
    { chainId, position: () => ({ height: 1n, round: 0 }), validators: () => validators, deliver: (i) => void log.push(`vote r${(i as { vote: Vote }).vote.round}`), peerAt: () => undefined },
    chain.genesis.params.maxBlockBytes,
  );
  const pools = poolHandlers(
    {
      admitTxs: (txs) => {
        log.push(`batch n${txs[0]!.nonce}`);
        return ingest.submit(txs);
      },
      addEvidence: () => false,
    },
    {},
    queue,
  );
  /** Runs one turn of the event loop's check phase: the bulk task scheduled last. */
  const step = (): boolean => {
    const fn = turns.shift();
    fn?.();
    return fn !== undefined;
  };
  return { log, queue, mempool, consensus, pools, step };
}

t.test("a vote arriving behind a flood of transaction batches is handled before any of them", async (t) => {
  const w = world();
  const flood = txBatches(24, 32);
  const verdicts = flood.data.map((d) => w.pools.tx.handle(d, "peer")) as Promise<string>[];
  t.equal(w.queue.pending, 24, "the batches wait in the queue");
  t.equal(w.consensus.vote.handle(vote(0), "peer"), "accept", "the vote is handled the moment it arrives");
  t.same(w.log, ["vote r0"], "before any transaction batch");

  // one bulk task per turn; a vote between two turns still goes first
  t.ok(w.step());
  t.same(w.log, ["vote r0", "batch n0"]);
  t.equal(w.consensus.vote.handle(vote(1), "peer"), "accept");
  t.ok(w.step());
  t.same(w.log, ["vote r0", "batch n0", "vote r1", "batch n1"], "the second vote did not wait for the 22 batches still queued");
  while (w.step()) {
    /* the rest, one turn each */
  }
  t.same(await Promise.all(verdicts), flood.data.map(() => "accept"), "every batch was handled in the end");
  t.equal(w.mempool.size, flood.txs.length, "nothing taken was lost: every transaction is in the mempool");
  t.ok(flood.txs.every((tx) => w.mempool.has(tx.hash)));
});

t.test("a full queue refuses more batches at once, without blame, and keeps what it took", async (t) => {
  const w = world(4);
  const flood = txBatches(6, 8);
  const verdicts = flood.data.map((d) => w.pools.tx.handle(d, "peer"));
  t.equal(verdicts[4], "ignore", "the fifth batch is refused at once (ignore: the peer is not penalized)");
  t.equal(verdicts[5], "ignore");
  t.equal(w.queue.refused, 2);
  while (w.step()) {
    /* drain */
  }
  t.same(await Promise.all(verdicts.slice(0, 4)), ["accept", "accept", "accept", "accept"]);
  t.equal(w.mempool.size, 32, "the four queued batches were admitted");
  t.notOk(flood.txs.slice(32).some((tx) => w.mempool.has(tx.hash)), "the refused ones were not");
});

t.test("a task that throws answers its caller with the error; the queue goes on", async (t) => {
  const turns: (() => void)[] = [];
  const q = new InboundQueue({ maxPending: 8, schedule: (fn) => void turns.push(fn) });
  const bad = q.run(() => {
    throw new Error("boom");
  })!;
  const good = q.run(() => 7)!;
  while (turns.length > 0) turns.shift()!();
  await t.rejects(bad, /boom/);
  t.equal(await good, 7);
  q.close();
  t.equal(q.run(() => 1), null, "a closed queue takes nothing");
  t.throws(() => new InboundQueue({ maxPending: 0 }), RangeError);
});
