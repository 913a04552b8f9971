/**
 * p2p/: the gossip topic validators (every kind of bad message gets reject or ignore, and only
 * valid ones are delivered) and block sync between real libp2p hosts on 127.0.0.1 (a peer that
 * serves a forged block is banned, and the blocks come from an honest peer instead), and gossip
 * message ids that cover the topic (bytes seen on one topic do not shadow another).
 */
import t from "tap";
import pino from "pino";
import { generateKeyPair } from "@libp2p/crypto/keys";
import { encodeCommit, proposalSignBytes, type Block, type Commit } from "../../../chain/block.ts";
import { encodeInput } from "../../../chain/consensus/messages.ts";
import { proposerIndex } from "../../../chain/consensus/proposer.ts";
import type { Proposal, Vote } from "../../../chain/consensus/types.ts";
import { applyBlock } from "../../../chain/transition.ts";
import { signTx, validateTxBasic, type SignedTx } from "../../../chain/tx.ts";
import { CodedError } from "../../../primitives/errors.ts";
import { voteSignBytes } from "../../../chain/vote.ts";
import { verifyCommit } from "../../../chain/block.ts";
import { consensusHandlers, decodeTxBatch, encodeTxBatch, MAX_BATCH_TXS, poolHandlers, topicNames, TxBatcher, MAX_VOTE_MESSAGE_BYTES } from "../../../p2p/gossip.ts";
import { encode } from "../../../primitives/codec.ts";
import { P2PHost } from "../../../p2p/host.ts";
import { feedCatchup } from "../../../p2p/catchup.ts";
import { BlockSync, syncHandler, syncProtocol, type BlockSource } from "../../../p2p/sync.ts";
import { advance, commitFor, newTestChain, testKey } from "../../helpers/chain.ts";
import { waitFor } from "../../helpers/process.ts";

const log = pino({ level: "silent" });
const keys = [testKey(1), testKey(2), testKey(3), testKey(4)];
const chain = newTestChain({ validators: keys.map((key) => ({ key, power: 1_000_000_000_000_000n })) });
const chainId = chain.genesis.chainId;

t.test("consensus topic validators: stateless then stateful checks, delivery only when valid", async (t) => {
  const delivered: unknown[] = [];
  const peerHeights: bigint[] = [];
  const validators = chain.state.validators();
  const h = consensusHandlers(
    { chainId, position: () => ({ height: 1n, round: 0 }), validators: () => validators, deliver: (i) => delivered.push(i), peerAt: (_p, height) => peerHeights.push(height) },
    chain.genesis.params.maxBlockBytes,
  );
  const keyOf = (i: number) => keys.find((k) => Buffer.compare(k.publicKey, validators[i]!.publicKey) === 0)!;
  const vote = (over: Partial<Vote> = {}, signer = 0): Uint8Array => {
    const v = { type: 1 as const, height: 1n, round: 0, blockHash: null, validatorIndex: 0, ...over };
    const sig = keyOf(signer).sign(voteSignBytes(chainId, v.type, v.height, v.round, v.blockHash ?? new Uint8Array(32)));
    return encodeInput({ type: "vote", vote: { ...v, signature: over.signature ?? sig } });
  };
  t.equal(h.vote.handle(vote(), "p"), "accept");
  t.equal(delivered.length, 1);
  t.equal(h.vote.handle(new Uint8Array([1, 2, 3]), "p"), "reject", "garbage");
  t.equal(h.vote.handle(vote({ validatorIndex: 1 }, 0), "p"), "reject", "signed by another validator than its index");
  t.equal(h.vote.handle(vote({ validatorIndex: 9 }), "p"), "reject", "unknown validator index");
  t.equal(h.vote.handle(vote({ signature: new Uint8Array(64).fill(1) }), "p"), "reject", "forged signature");
  t.equal(h.vote.handle(vote({ height: 0n }), "p"), "ignore", "an old height is nobody's fault");
  t.equal(h.vote.handle(vote({ height: 5n }), "p"), "ignore", "a future height cannot be checked yet");
  t.same(peerHeights, [5n], "but it shows the peer is ahead");
  t.equal(h.vote.handle(vote({ round: 1000 }), "p"), "ignore", "rounds far ahead are not worth the proposer computation");
  t.equal(delivered.length, 1, "nothing else was delivered");
  t.equal(h.vote.maxBytes, MAX_VOTE_MESSAGE_BYTES);

  // proposals: signed by the round's proposer, for the height they claim
  const p = proposerIndex(validators, 0);
  const proposer = keyOf(p);
  const built = advance(newTestChain({ validators: keys.map((key) => ({ key, power: 1_000_000_000_000_000n })) }), []);
  const proposal = (block: Block, signer = proposer, round = 0): Uint8Array => {
    const signature = signer.sign(proposalSignBytes(chainId, 1n, round, -1, block.hash));
    return encodeInput({ type: "proposal", proposal: { height: 1n, round, polRound: -1, block, signature } satisfies Proposal });
  };
  t.equal(h.proposal.handle(proposal(built.block), "p"), "accept");
  const other = keys.find((k) => k !== proposer)!;
  t.equal(h.proposal.handle(proposal(built.block, other), "p"), "reject", "not the round's proposer");
  t.equal(h.proposal.handle(vote(), "p"), "reject", "a vote on the proposal topic");
  t.equal(delivered.length, 2);

  // the same bytes again (a catch-up answer repeats what gossip brought) are not decoded, checked or delivered twice
  const verdicts: string[] = [];
  let at = { height: 1n, round: 0 };
  const h2 = consensusHandlers(
    { chainId, position: () => at, validators: () => validators, deliver: (i) => delivered.push(i), peerAt: () => {} },
    chain.genesis.params.maxBlockBytes,
    { onVerdict: (topic, v, reason) => verdicts.push(`${topic} ${v} ${reason ?? ""}`.trim()) },
  );
  const prop = proposal(built.block);
  const v1 = vote({ round: 2 });
  t.equal(h2.proposal.handle(prop, "p"), "accept");
  t.equal(h2.vote.handle(v1, "p"), "accept");
  t.equal(h2.proposal.handle(prop, "q"), "ignore", "a proposal already delivered");
  t.equal(h2.vote.handle(v1, "q"), "ignore", "a vote already delivered");
  t.same(verdicts.slice(2), ["proposal ignore already delivered", "vote ignore already delivered"]);
  t.equal(delivered.length, 4, "each delivered once");
  const early = vote({ height: 2n });
  t.equal(h2.vote.handle(early, "p"), "ignore", "a vote of the next height, not checkable yet");
  t.equal(await feedCatchup(encode([prop, v1]), h2, "q"), 0, "a catch-up answer of messages already delivered adds nothing");
  t.equal(delivered.length, 4);
  at = { height: 2n, round: 0 };
  t.equal(h2.vote.handle(early, "p"), "accept", "only delivered messages are remembered: one ignored for its height is taken once it is checkable");
  t.equal(delivered.length, 5);

  // a vote of the height just decided goes to the late-precommit hook, which checks and takes it or not
  const offered: bigint[] = [];
  let take = false;
  const h3 = consensusHandlers(
    { chainId, position: () => ({ height: 2n, round: 0 }), validators: () => validators, deliver: (i) => delivered.push(i), peerAt: () => {}, latePrecommit: (v) => (offered.push(v.height), take) },
    chain.genesis.params.maxBlockBytes,
  );
  t.equal(h3.vote.handle(vote({ type: 2, round: 3 }), "p"), "ignore", "refused by the hook: another height, ignored");
  take = true;
  t.equal(h3.vote.handle(vote({ type: 2, round: 4 }), "p"), "accept", "taken into the last commit: accepted and forwarded");
  t.equal(h3.vote.handle(vote({ type: 2, round: 4 }), "q"), "ignore", "and remembered");
  t.same(offered, [1n, 1n], "only votes of the decided height reach the hook");
  t.equal(delivered.length, 5, "none of them goes to the engine");
});

t.test("transaction and evidence topic validators", async (t) => {
  const admitted: string[] = [];
  const admitOne = (tx: SignedTx): CodedError | null => {
    try {
      validateTxBasic(tx, chainId); // as the node's admission does, before the pool
      if (tx.fee < 1000n) throw new CodedError("TX_FEE_TOO_LOW", "low");
      if (tx.nonce > 5n) throw new CodedError("MEMPOOL_NONCE_TOO_HIGH", "gap");
      admitted.push(tx.nonce.toString());
      return null;
    } catch (e) {
      return e as CodedError;
    }
  };
  let busy = false;
  const h = poolHandlers({
    admitTxs: async (txs) => {
      if (busy) throw new CodedError("TX_INGEST_BUSY", "busy");
      return txs.map(admitOne);
    },
    addEvidence: () => true,
  });
  const tx = (nonce: bigint, fee = 1000n) => signTx({ chainId, nonce, fee, op: { type: "transfer", to: keys[1]!.publicKey, amount: 1n } }, chain.faucet);
  const batch = (...envelopes: Uint8Array[]) => encodeTxBatch(envelopes);
  t.equal(await h.tx.handle(batch(tx(0n).bytes), "p"), "accept");
  t.equal(await h.tx.handle(batch(tx(9n).bytes), "p"), "ignore", "stateful misfit: not the relay's fault");
  t.equal(await h.tx.handle(batch(tx(1n, 1n).bytes), "p"), "reject", "fee below the chain's minimum");
  const forged = tx(2n).bytes.slice();
  forged[forged.length - 1]! ^= 1;
  t.equal(await h.tx.handle(batch(forged), "p"), "reject", "bad signature");
  t.equal(await h.tx.handle(batch(new Uint8Array([0x82, 0x40])), "p"), "reject", "malformed envelope");
  t.equal(await h.attestation.handle(batch(tx(3n).bytes), "p"), "reject", "a transfer on the attestation topic");
  t.same(admitted, ["0"]);
  // batches: one new transaction among known or misfit ones is worth forwarding; one forged one spoils the batch
  t.equal(await h.tx.handle(batch(tx(9n).bytes, tx(1n).bytes, tx(8n).bytes), "p"), "accept", "a batch with one new transaction");
  t.equal(await h.tx.handle(batch(tx(9n).bytes, tx(8n).bytes), "p"), "ignore", "nothing new in it");
  t.equal(await h.tx.handle(batch(tx(2n).bytes, forged), "p"), "reject", "a forged transaction in a batch");
  t.same(admitted, ["0", "1", "2"], "the valid one beside the forged one was admitted (each is valid on its own)");
  busy = true;
  t.equal(await h.tx.handle(batch(tx(3n).bytes), "p"), "ignore", "a busy node drops the batch without blame");
  busy = false;
  t.equal(await h.tx.handle(tx(3n).bytes, "p"), "reject", "a bare envelope is not a batch");
  t.equal(await h.tx.handle(encodeTxBatch([]), "p"), "reject", "an empty batch");
  t.equal(await h.tx.handle(encodeTxBatch(Array.from({ length: MAX_BATCH_TXS + 1 }, () => tx(3n).bytes)), "p"), "reject", "more than MAX_BATCH_TXS");
  t.equal(await h.tx.handle(encode([1, 2]), "p"), "reject", "items that are not byte strings");

  // the batcher: one message per topic for what arrives within BATCH_DELAY_MS, at once when full
  const sent: { topic: string; n: number }[] = [];
  let onSent = (): void => undefined;
  const b = new TxBatcher((topic, data) => {
    sent.push({ topic, n: decodeTxBatch(data).length });
    onSent();
  });
  b.add("a", tx(3n).bytes);
  b.add("a", tx(4n).bytes);
  b.add("b", tx(5n).bytes);
  t.same(sent, [], "nothing sent before the delay");
  // the timer of each topic fires after BATCH_DELAY_MS: wait for both sends, not for a guessed time
  await new Promise<void>((resolve) => (onSent = () => void (sent.length === 2 && resolve())));
  t.same(sent.sort((x, y) => x.topic.localeCompare(y.topic)), [{ topic: "a", n: 2 }, { topic: "b", n: 1 }], "one batch per topic");
  sent.length = 0;
  for (let i = 0; i < MAX_BATCH_TXS + 1; i++) b.add("a", tx(3n).bytes);
  t.same(sent, [{ topic: "a", n: MAX_BATCH_TXS }], "a full batch goes at once");
  b.flushAll();
  t.same(sent.map((x) => x.n), [MAX_BATCH_TXS, 1], "flushAll sends the rest");
  t.equal(h.evidence.handle(new Uint8Array([9, 9]), "p"), "reject", "malformed evidence");
  t.same(Object.keys(topicNames("x")), ["tx", "proposal", "vote", "evidence", "attestation"]);
});

t.test("block sync over real libp2p hosts: catches up in bounded batches; a peer serving a forged block is banned", async (t) => {
  // an honest chain of 300 blocks
  const src = newTestChain({ validators: keys.map((key) => ({ key, power: 1_000_000_000_000_000n })) });
  const blocks: { block: Block; commit: Commit }[] = [];
  const genesisState = src.state;
  for (let i = 0; i < 300; i++) {
    const b = advance(src, i % 7 === 0 ? [signTx({ chainId, nonce: BigInt(i / 7), fee: 1000n, op: { type: "transfer", to: keys[0]!.publicKey, amount: 5n } }, src.faucet)] : []);
    blocks.push({ block: b.block, commit: commitFor(src, b.block) });
  }
  const source = (tamperAt?: number): BlockSource => ({
    genesisHash: src.genesis.hash,
    // the liar claims a higher head, so that it is asked first
    head: () => ({ height: tamperAt === undefined ? 300n : 301n, hash: blocks[299]!.block.hash }),
    async blockWithCommit(h) {
      const e = blocks[Number(h) - 1];
      if (!e) return undefined;
      let bytes = e.block.bytes;
      if (Number(h) === tamperAt) {
        // another block at the same height with the honest commit: the commit does not verify for it
        bytes = advance(newTestChain({ validators: keys.map((key) => ({ key, power: 1_000_000_000_000_000n })), params: { minTxFee: "2000" } }), []).block.bytes;
      }
      return { block: bytes, commit: encodeCommit(e.commit) };
    },
  });
  const start = async (s: BlockSource, bootstrap: string[] = []) =>
    P2PHost.start({ privateKey: await generateKeyPair("Ed25519"), listen: ["/ip4/127.0.0.1/tcp/0"], bootstrap, log, topics: new Map(), protocols: new Map([[syncProtocol(chainId), syncHandler(s)]]) });
  const liar = await start(source(1));
  const honest = await start(source());
  t.teardown(() => Promise.all([liar.stop(), honest.stop()]));
  const me = await start(source(), [liar.listenAddresses()[0]!, honest.listenAddresses()[0]!]);
  t.teardown(() => me.stop());
  await waitFor("connected to both", async () => (me.peers().length === 2 ? true : undefined), 10_000);

  let state = genesisState;
  // the sync's log lines, parsed: its progress reports are checked below
  const lines: Record<string, unknown>[] = [];
  const syncLog = pino({ level: "info" }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
  let maxBatch = 0;
  let batch = 0;
  const prepared = new Set<bigint>();
  let appliedUnprepared = 0;
  const sync = new BlockSync({
    net: { connectedPeers: () => me.peers().map((p) => p.peerId), request: (p, proto, d, m) => me.request(p, proto, d, m), penalize: (p, pts, r) => me.penalize(p, pts, r) },
    target: {
      headHeight: () => state.meta().height,
      async prepare(blocks) {
        for (const b of blocks) prepared.add(b.header.height);
      },
      async applySynced(block, commit) {
        if (!prepared.has(block.header.height)) appliedUnprepared++;
        verifyCommit(chainId, state.validators(), block.header.height, block.hash, commit);
        state = applyBlock(state, block, src.genesis.params, chainId).state;
        batch++;
      },
    },
    chainId, genesisHash: src.genesis.hash, log: syncLog, progressMs: 0,
  });
  const origRequest = me.request.bind(me);
  me.request = async (p, proto, d, m) => {
    maxBatch = Math.max(maxBatch, batch);
    batch = 0;
    return origRequest(p, proto, d, m);
  };
  await sync.initialSync(5_000);
  t.equal(state.meta().height, 300n, "caught up to the head");
  t.equal(Buffer.compare(state.root(), src.state.root()), 0, "to the same state");
  t.ok(maxBatch <= 128, `at most one batch (${maxBatch} blocks) applied per request`);
  t.ok(me.isBanned(liar.peerId), "the peer that served a forged block is banned");
  t.notOk(me.isBanned(honest.peerId));
  t.equal(sync.status().blocksSynced, 300);
  t.equal(appliedUnprepared, 0, "every block's batch went through prepare (the node's signature checks on its pool) before the block was applied");
  // a long catch-up says where it is: height, target, rate and time left (every batch here, progressMs 0)
  const progress = lines.filter((l) => l.msg === "syncing blocks from peers");
  t.ok(progress.length >= 2, `progress was reported batch by batch (${progress.length} lines)`);
  const heights = progress.map((p) => p.height as number);
  t.same(heights, [...heights].sort((a, b) => a - b), "at rising heights");
  const mid = progress.find((p) => (p.height as number) < 300)!;
  t.ok(mid, "before the end");
  t.match(mid, { target: 300, blocksPerSecond: Number }, "toward the peer's head, with the rate");
  t.ok(typeof mid.etaSeconds === "number" && mid.etaSeconds >= 0, `and the time left (${mid.etaSeconds} s)`);
  t.match(lines.find((l) => l.msg === "caught up from peers"), { from: 0, to: 300, blocks: 300 }, "and the end");
});

t.test("block sync asks peers for their head only now and then while its own head advances, and every round once it stands still", async (t) => {
  const handler = syncHandler({ genesisHash: chain.genesis.hash, head: () => ({ height: 0n, hash: chain.genesis.hash }), blockWithCommit: async () => undefined });
  let asked = 0;
  let rounds = 0;
  let head = 0n;
  let advancing = true;
  const sync = new BlockSync({
    net: { connectedPeers: () => ["a", "b"], request: async (_p, _proto, d) => (asked++, handler.respond(d, "me")), penalize: () => {} },
    // every round reads the head first: it advances by one per round while `advancing`
    target: { headHeight: () => (rounds++, advancing ? ++head : head), applySynced: async () => {} },
    chainId, genesisHash: chain.genesis.hash, log, pollMs: 5,
  });
  t.teardown(() => sync.stop());
  sync.start();
  await waitFor("40 rounds with an advancing head", async () => (rounds >= 40 ? true : undefined), 10_000, 5);
  advancing = false;
  const whileLive = asked;
  t.ok(whileLive >= 2 && whileLive <= 2 * Math.ceil(rounds / 10) + 2, `peers asked ${whileLive / 2} time(s) in ${rounds} rounds: at least once, at most every tenth round`);
  await waitFor("the head standing still for 20 more status requests", async () => (asked >= whileLive + 40 ? true : undefined), 10_000, 5);
  t.pass("with the head standing still, both peers are asked every round");
});

t.test("gossip message ids cover the topic: a vote's bytes relayed first on another topic do not get the real vote dropped", async (t) => {
  const topics = topicNames(chainId);
  const validators = chain.state.validators();
  const signer = keys.find((k) => Buffer.compare(k.publicKey, validators[0]!.publicKey) === 0)!;
  const v = { type: 1 as const, height: 1n, round: 0, blockHash: null, validatorIndex: 0 };
  const voteBytes = encodeInput({ type: "vote", vote: { ...v, signature: signer.sign(voteSignBytes(chainId, v.type, v.height, v.round, new Uint8Array(32))) } });

  // B validates with the real consensus handlers; M (the attacker) and V (the vote's origin) only relay.
  const delivered: unknown[] = [];
  const verdicts: string[] = [];
  const b = consensusHandlers(
    { chainId, position: () => ({ height: 1n, round: 0 }), validators: () => validators, deliver: (i) => delivered.push(i), peerAt: () => {} },
    chain.genesis.params.maxBlockBytes,
    { onVerdict: (topic, verdict, reason) => verdicts.push(`${topic} ${verdict} ${reason ?? ""}`.trim()) },
  );
  const B = await P2PHost.start({
    privateKey: await generateKeyPair("Ed25519"), listen: ["/ip4/127.0.0.1/tcp/0"], bootstrap: [], log,
    topics: new Map([[topics.vote, b.vote], [topics.proposal, b.proposal]]), protocols: new Map(),
  });
  t.teardown(() => B.stop());
  const relay = { maxBytes: 1 << 20, handle: () => "ignore" as const };
  const peer = async () =>
    P2PHost.start({
      privateKey: await generateKeyPair("Ed25519"), listen: ["/ip4/127.0.0.1/tcp/0"], bootstrap: [B.listenAddresses()[0]!], log,
      topics: new Map([[topics.vote, relay], [topics.proposal, relay]]), protocols: new Map(),
    });
  const M = await peer();
  const V = await peer();
  t.teardown(() => Promise.all([M.stop(), V.stop()]));
  await waitFor("B subscribed as seen from M and V", async () =>
    M.topicPeers(topics.proposal).includes(B.peerId) && V.topicPeers(topics.vote).includes(B.peerId) ? true : undefined, 10_000, 50);

  t.ok(await M.publish(topics.proposal, voteBytes), "M relays the vote's bytes on the proposal topic");
  await waitFor("B to judge M's message", async () => (verdicts.length > 0 ? true : undefined), 5_000, 20);
  t.same(verdicts, ["proposal reject not a proposal"], "B rejects them there");
  t.ok(await V.publish(topics.vote, voteBytes), "V publishes the vote on the vote topic");
  const got = await waitFor("B to deliver the vote", async () => (delivered.length > 0 ? true : undefined), 5_000, 20).catch(() => false);
  t.ok(got, "B validates and delivers the vote: the same bytes on another topic are another message");
  t.same(verdicts, ["proposal reject not a proposal", "vote accept"]);
});
