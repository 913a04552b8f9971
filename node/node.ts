/**
 * The one place that constructs and wires the node, in four parts that each
 * read alone: openChain (genesis, keys, store, head state), createConsensus (mempool, evidence,
 * signer, driver), startNetwork (gossip, catch-up, block sync), startRpc (verify pool, context,
 * server). Started in that order, stopped in reverse through one Lifecycle (./lifecycle.ts).
 */
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { toHex } from "../primitives/bytes.ts";
import { createTendermintMachine, defaultTendermintConfig, inspect as inspectConsensus, type TendermintState } from "../chain/consensus/tendermint.ts";
import { CodedError, withoutStack } from "../primitives/errors.ts";
import { EvidencePool } from "../chain/evidence-pool.ts";
import type { KeyPair } from "../primitives/keys.ts";
import { toAddress } from "../primitives/keys.ts";
import { checkSenderCovers, Mempool } from "../chain/mempool.ts";
import type { ChainState, Validator } from "../chain/state.ts";
import { BlockStore } from "../chain/store.ts";
import { decodeTx, signTx, validateTxBasic, type SignedTx } from "../chain/tx.ts";
import { devnetGenesis, devnetValidatorKey } from "../genesis/devnet.ts";
import { genesisState, parseGenesisJson, type Genesis } from "../genesis/schema.ts";
import type { RpcContext } from "../rpc/context.ts";
import { RpcAppErrorCode } from "../rpc/methods.ts";
import { methods } from "../modules/rpc.ts";
import { openVoucherStore } from "../modules/paych/vouchers.ts";
import { withDiscover } from "../rpc/openrpc.ts";
import { startRpcServer, type RpcRateLimit, type RpcServer, type RpcToken } from "../rpc/server.ts";
import { subscriptionMethodStubs, Subscriptions } from "../rpc/ws.ts";
import { encodeInput } from "../chain/consensus/messages.ts";
import { encodeEvidence, type Evidence } from "../chain/evidence.ts";
import { registry } from "../modules/index.ts";
import { readValidatorInfo } from "../modules/staking/records.ts";
import { standingAlert } from "./standing.ts";
import type { Block, Commit } from "../chain/block.ts";
import { checkTxFee, type Receipt } from "../chain/transition.ts";
import { P2PHost } from "../p2p/host.ts";
import { consensusHandlers, poolHandlers, topicNames, TxBatcher, txTopic } from "../p2p/gossip.ts";
import { loadOrCreatePeerKey } from "../p2p/peer-key.ts";
import { catchupHandler, catchupProtocol, encodeCatchupRequest, feedCatchup, MAX_CATCHUP_BYTES } from "../p2p/catchup.ts";
import { PeerMisbehaviour } from "../p2p/host.ts";
import { BlockSync, storeBlockSource, syncHandler, syncProtocol } from "../p2p/sync.ts";
import { snapshotHandler, snapshotProtocol, StateSyncClient, type StateSyncOptions } from "../p2p/state-sync.ts";
import { StateSyncError, StateSyncErrorCode, type TrustRoot } from "../chain/snapshot.ts";
import { ConsensusDriver } from "./driver.ts";
import { readKeyFile, writeKeyFile, type PassphraseSource } from "./keyring.ts";
import { createNodeMetrics, proofSamples } from "./metrics.ts";
import { DurableSigner } from "./signer.ts";
import { VerifyPool } from "./verify-pool.ts";
import { IngestError, IngestErrorCode, preverifyTxs, TxIngest, type TxIngestOptions } from "./tx-ingest.ts";
import { InboundQueue } from "../p2p/inbound.ts";
import { RpcError, RpcErrorCode } from "../rpc/errors.ts";
import { Lifecycle } from "./lifecycle.ts";
import { createLogger, logFormatFor, type LogFormat } from "../common/logging.ts";

export { NODE_VERSION, defaultHome } from "./home.ts";
import { NODE_VERSION, defaultHome } from "./home.ts";
export { DEFAULT_RPC_PORT } from "./config.ts";
import { DEFAULT_P2P_LISTEN, DEFAULT_RPC_PORT } from "./config.ts";

export interface NodeOptions {
  /** Home directory: genesis.json, validator.key.json, keys/, data/. */
  home: string;
  rpcHost: string;
  /** 0 for an ephemeral port (tests); the bound port is logged and returned. */
  rpcPort: number;
  logLevel: string;
  /** Validate every RPC result against its schema (on in tests; costs time on hot reads). */
  rpcCheckResults?: boolean;
  /** json (default on a pipe or file) or pretty (default on a terminal). */
  logFormat?: LogFormat;
  /** Write logs here instead of stdout (tests). */
  logDestination?: NodeJS.WritableStream;
  /** Bearer tokens for the RPC tiers beyond read and write (`sign` for paych_redeem, `admin`). */
  rpcTokens?: RpcToken[];
  /** The key paych_redeem signs with: the payee account of the services this node settles for. */
  serviceKey?: KeyPair;
  /** Per-client-IP limit on RPC POSTs, and per-connection on WebSocket messages (default defaultRpcRateLimit); false: none. */
  rpcRateLimit?: RpcRateLimit | false;
  /** libp2p listen multiaddrs (default DEFAULT_P2P_LISTEN); the peer key is <home>/p2p.key. */
  p2pListen?: string[];
  /** Peers to stay connected to: multiaddrs ending in /p2p/<peer id>. */
  bootstrap?: string[];
  /** Asked for the validator key's passphrase if its file is encrypted. */
  passphrase?: PassphraseSource;
  /** Browser origins allowed to call the RPC (CORS); none by default. */
  rpcCors?: string[];
  /** The block store's state cache bound, bytes, and kept heights (chain/store.ts defaults when absent). */
  stateCacheBytes?: number;
  stateHistory?: number;
  /** Stops the node when aborted (as stop() does). */
  signal?: AbortSignal;
  /**
   * On a damaged or rolled-back block store, cut it back to its last good height (or move an
   * unrecognised directory aside) instead of refusing to start; block sync fetches the rest.
   */
  resync?: boolean;
  /** Bounds of transaction admission (node/tx-ingest.ts defaultTxIngestOptions); past them tx_send answers BUSY. */
  txIngest?: Partial<TxIngestOptions>;
  /**
   * With a fresh block store, fetch a recent state snapshot from the bootstrap peers and sync only
   * the blocks after it (p2p/state-sync.ts); a store that holds blocks already starts as usual.
   */
  stateSync?: boolean;
  /** Bounds of the state sync client (p2p/state-sync.ts defaultStateSyncOptions). */
  stateSyncOptions?: Partial<StateSyncOptions>;
  /**
   * A checkpoint the operator trusts (--trust-height, --trust-hash): state sync traces snapshots
   * to its block's set instead of the genesis set's, and the store refuses any other block at its
   * height (chain/store.ts StoreOpenOptions.checkpoint).
   */
  trust?: TrustRoot;
}

export const defaultNodeOptions = (): NodeOptions => ({ home: defaultHome(), rpcHost: "127.0.0.1", rpcPort: DEFAULT_RPC_PORT, logLevel: "info", p2pListen: [DEFAULT_P2P_LISTEN] });

/** Loads `<home>/genesis.json`, or sets the home up for the embedded devnet. */
async function loadGenesisAndKey(home: string, log: Logger, passphrase?: PassphraseSource): Promise<{ genesis: Genesis; key: KeyPair | null }> {
  const genesisPath = join(home, "genesis.json");
  const keyPath = join(home, "validator.key.json");
  if (existsSync(genesisPath)) {
    const genesis = parseGenesisJson(await readFile(genesisPath, "utf8"));
    const key = existsSync(keyPath) ? await readKeyFile(keyPath, passphrase) : null;
    return { genesis, key };
  }
  const genesis = devnetGenesis();
  if (!existsSync(keyPath)) {
    await writeKeyFile(keyPath, "devnet-validator-0", devnetValidatorKey(), true);
    log.warn({ path: keyPath }, "wrote the devnet validator key: it is publicly known and INSECURE, for the local devnet only");
  }
  return { genesis, key: await readKeyFile(keyPath) };
}

/** A listen failure because the address is taken, as a typed error naming the flag that fixes it; anything else unchanged. */
function inUse(e: unknown, code: string, message: string): unknown {
  const text = `${(e as { code?: string }).code ?? ""} ${(e as Error)?.message ?? ""}`;
  return /EADDRINUSE|address already in use|faultTolerance/i.test(text) ? new CodedError(code, message) : e;
}

/** The chain as it is on disk: genesis, keys, store, head state. */
interface ChainParts {
  readonly genesis: Genesis;
  readonly key: KeyPair | null;
  readonly dataDir: string;
  readonly store: BlockStore;
  readonly state: ChainState;
  readonly lastCommit: Commit | null;
}

/**
 * Connections between parts that start later: consensus publishes through the p2p host and asks
 * it for missed messages; metrics count its peers. No-ops until the network part sets them.
 */
interface NetWires {
  publish(topic: string, data: Uint8Array): void;
  askForMissed(height: bigint): void;
  peerCount(): number;
}

/** Consensus and what feeds it: mempool, evidence pool, signer, driver, metrics, subscriptions. */
interface ConsensusParts {
  readonly mempool: Mempool<SignedTx>;
  readonly evidencePool: EvidencePool;
  readonly driver: ConsensusDriver<unknown>;
  readonly machine: ReturnType<typeof createTendermintMachine>;
  readonly signer: DurableSigner | null;
  readonly metrics: ReturnType<typeof createNodeMetrics>;
  readonly subscriptions: Subscriptions;
  readonly txBatcher: TxBatcher;
  /** Signature checks off the event loop: gossiped and submitted transactions, paych vouchers. */
  readonly verifyPool: VerifyPool;
  /** Bounded admission of gossiped and tx_send transactions, signatures on the verify pool. */
  readonly ingest: TxIngest;
  headState(): ChainState;
  /** Stateless checks, the fee rules, then the mempool; throws the reason. */
  admit(tx: SignedTx): SignedTx;
  /** Pools and gossips evidence this node found; throws EvidenceError if invalid. */
  reportEvidence(ev: Evidence): boolean;
}

interface NetworkParts {
  readonly host: P2PHost;
  readonly sync: BlockSync;
}

/** Opens the home, the genesis and keys, the store and the head state. */
export async function openChain(opts: NodeOptions, log: Logger, life: Lifecycle): Promise<ChainParts> {
  await mkdir(opts.home, { recursive: true, mode: 0o700 });
  const { genesis, key } = await loadGenesisAndKey(opts.home, log, opts.passphrase);
  const dataDir = join(opts.home, "data");
  await mkdir(dataDir, { recursive: true });
  const t0 = performance.now();
  const store = await BlockStore.open(join(dataDir, "chain"), { chainId: genesis.chainId, genesisHash: genesis.hash, genesisState: () => genesisState(genesis) }, {
    repair: opts.resync === true,
    stateSync: opts.stateSync === true,
    ...(opts.trust !== undefined ? { checkpoint: opts.trust } : {}),
    ...(opts.stateCacheBytes !== undefined ? { stateCacheBytes: opts.stateCacheBytes } : {}),
    ...(opts.stateHistory !== undefined ? { stateHistory: opts.stateHistory } : {}),
  });
  life.onStop("store", () => store.close());
  const fix = store.repaired;
  if (fix) {
    log.warn(
      { from: Number(fix.from), to: Number(fix.to), reason: fix.reason, ...(fix.movedTo ? { movedTo: fix.movedTo } : {}) },
      "--resync: the block store was cut back to its last good height; block sync fetches the rest from peers",
    );
  }
  log.info({ height: Number(store.head.height), ms: Math.round(performance.now() - t0), mode: opts.resync ? "full" : "rolling" }, "block store checked");
  if (opts.stateSync) await stateSync(store, genesis, opts, log);
  const state = await store.loadState(() => genesisState(genesis).root());
  const lastCommit = store.head.height > 0n ? ((await store.getCommit(store.head.height)) ?? null) : null;
  log.info({ chainId: genesis.chainId, height: Number(store.head.height), stateRoot: toHex(state.root()), home: opts.home }, "loaded chain");
  return { genesis, key, dataDir, store, state, lastCommit };
}

/**
 * `--state-sync`: into a fresh store, a snapshot fetched from the bootstrap peers over a host of its
 * own (dial only, this node's peer id), stopped before the node's own host starts. Consensus and
 * block sync then start from the snapshot's height as from any head. A store with blocks is left
 * as it is. Throws StateSyncError NO_SNAPSHOT when no peer served one in time.
 */
async function stateSync(store: BlockStore, genesis: Genesis, opts: NodeOptions, log: Logger): Promise<void> {
  if (store.head.height > 0n) {
    log.info({ height: Number(store.head.height), base: Number(store.base) }, "state sync skipped: the block store already holds blocks");
    return;
  }
  const bootstrap = opts.bootstrap ?? [];
  if (bootstrap.length === 0) throw new StateSyncError(StateSyncErrorCode.NO_SNAPSHOT, "--state-sync needs peers to fetch the state from: give --bootstrap (or bootstrap in config.json)");
  const { key: peerKey } = await loadOrCreatePeerKey(join(opts.home, "p2p.key"));
  const host = await P2PHost.start({ privateKey: peerKey, listen: [], bootstrap, topics: new Map(), protocols: new Map(), log: log.child({ module: "p2p" }) });
  const client = new StateSyncClient({
    net: {
      connectedPeers: () => host.peers().map((p) => p.peerId),
      request: (peer, protocol, data, max) => host.request(peer, protocol, data, max),
      penalize: (peer, points, reason) => host.penalize(peer, points, reason),
    },
    target: store,
    chainId: genesis.chainId,
    genesisValidators: genesisState(genesis).validators(),
    ...(opts.trust !== undefined ? { trust: opts.trust } : {}),
    log: log.child({ module: "statesync" }),
    ...(opts.stateSyncOptions ? { opts: opts.stateSyncOptions } : {}),
  });
  const stop = (): void => client.stop();
  opts.signal?.addEventListener("abort", stop);
  try {
    if (opts.signal?.aborted) throw new CodedError("NODE_STOPPED", "stopped before state sync");
    await client.run();
  } finally {
    opts.signal?.removeEventListener("abort", stop);
    await host.stop();
  }
}

/**
 * The full check of a stopped node's block store (`cloudcoin verify-store`): every height, and the
 * state replayed from genesis, then the stored head state. Throws StoreError (DAMAGED names the
 * first bad height in data.height; ROLLED_BACK; UNRECOGNISED; CORRUPT).
 */
export async function verifyStore(home: string): Promise<{ height: bigint; base: bigint; ms: number }> {
  const genesisPath = join(home, "genesis.json");
  const genesis = existsSync(genesisPath) ? parseGenesisJson(await readFile(genesisPath, "utf8")) : devnetGenesis();
  const path = join(home, "data", "chain");
  if (!existsSync(path)) throw new CodedError("STORE_MISSING", `no block store at ${path}`);
  const t0 = performance.now();
  const store = await BlockStore.open(path, { chainId: genesis.chainId, genesisHash: genesis.hash, genesisState: () => genesisState(genesis) }, { check: "full" });
  try {
    await store.loadState(() => genesisState(genesis).root(), { full: true });
    return { height: store.head.height, base: store.base, ms: Math.round(performance.now() - t0) };
  } finally {
    await store.close();
  }
}

/** The consensus side: mempool, evidence, signer and driver (not started), fed and observed. */
async function createConsensus(chain: ChainParts, opts: NodeOptions, root: Logger, wires: NetWires, life: Lifecycle): Promise<ConsensusParts> {
  const { genesis, key, store, state } = chain;
  const log = root.child({ module: "node" });
  // The mempool reads nonces from the driver's head state, assigned just below.
  let driver: ConsensusDriver<unknown> | undefined;
  const headState = (): ChainState => driver?.state ?? state;
  const mempool = new Mempool<SignedTx>({}, { accountNonce: (sender) => headState().account(sender).nonce });
  const isValidator = key !== null && state.validators().some((v) => Buffer.compare(v.publicKey, key.publicKey) === 0);
  {
    let total = 0n;
    let own = 0n;
    for (const v of state.validators()) {
      total += v.power;
      if (key && Buffer.compare(v.publicKey, key.publicKey) === 0) own += v.power;
    }
    if (own * 3n <= total * 2n && (opts.bootstrap ?? []).length === 0) {
      log.warn({ own: own.toString(), total: total.toString() }, "no bootstrap peers and this node holds at most 2/3 of the voting power: it cannot finalize until peers connect to it");
    }
  }
  const signer = isValidator ? await DurableSigner.open(key, join(chain.dataDir, "signer-state.json")) : null;
  const blockLog = root.child({ module: "chain" });
  // Scraped at GET /metrics on the RPC listener.
  const metrics = createNodeMetrics({ mempool, now: () => Date.now(), peers: () => wires.peerCount() });
  const machine = createTendermintMachine(defaultTendermintConfig);
  const evidencePool = new EvidencePool();
  const topics = topicNames(genesis.chainId);
  // Transactions admitted here are gossiped in batches (p2p/gossip.ts TxBatcher).
  const txBatcher = new TxBatcher((topic, data) => wires.publish(topic, data));
  const reportEvidence = (ev: Evidence): boolean => {
    const added = evidencePool.add(ev, headState(), store.head.height, genesis.chainId, genesis.params);
    if (added) wires.publish(topics.evidence, encodeEvidence(ev));
    return added;
  };
  // Evidence a committed block reveals (each module's evidenceFrom, e.g. a double attestation).
  const reportBlockEvidence = (block: Block, receipts: readonly Receipt[], after: ChainState): void => {
    for (const m of registry.modules) {
      for (const ev of m.evidenceFrom?.(block, receipts, after, genesis.chainId) ?? []) {
        try {
          if (reportEvidence(ev)) blockLog.warn({ module: m.name, kind: ev.kind }, "misbehaviour found in a finalized block: evidence pooled");
        } catch (e) {
          blockLog.debug({ code: (e as { code?: string }).code }, "found evidence is not valid");
        }
      }
    }
  };
  // The operator hears when its own validator starts missing blocks or is jailed.
  let standing = key ? readValidatorInfo(state, key.publicKey) : undefined;
  const watchOwnValidator = (after: ChainState): void => {
    if (!key) return;
    const now = readValidatorInfo(after, key.publicKey);
    const alert = standingAlert(standing, now, genesis.params);
    if (alert) log[alert.level](alert.fields, alert.message);
    standing = now;
  };
  // WebSocket subscribers (rpc/ws.ts), fed every finalized block from onCommit.
  const subscriptions = new Subscriptions({}, root.child({ module: "ws" }));
  driver = new ConsensusDriver<unknown>(
    {
      machine: machine as never,
      store,
      mempool,
      evidencePool,
      signer,
      key: isValidator ? key : null,
      chainId: genesis.chainId,
      params: genesis.params,
      log: root.child({ module: "consensus" }),
      now: () => Date.now(),
      broadcast: (input) => wires.publish(input.type === "proposal" ? topics.proposal : topics.vote, encodeInput(input)),
      onEvidence: (ev) => wires.publish(topics.evidence, encodeEvidence(ev)),
      onTimeout: (height) => wires.askForMissed(height),
      onCommit: (block, result, after, commit) => {
        reportBlockEvidence(block, result.receipts, after);
        watchOwnValidator(after);
        const failed = result.receipts.filter((r) => !r.ok).length;
        metrics.recordCommit({
          height: block.header.height, timeMs: block.header.time, round: commit.round,
          txsOk: result.receipts.length - failed, txsFailed: failed, evidence: block.evidence.length, proofs: proofSamples(block.txs, result.receipts),
        });
        blockLog.info({ height: Number(block.header.height), hash: toHex(block.hash), txs: block.txs.length, failed, stateRoot: toHex(block.header.stateRoot) }, "finalized block");
        subscriptions.publishBlock(block, result);
      },
    },
    state,
    chain.lastCommit,
  );
  // The stateful admission rules, the same for every way in (admit below, batched ingest): the
  // fee rules, the sender's balance against the op's debit, then the mempool.
  const admitVerified = (tx: SignedTx): void => {
    const head = headState();
    checkTxFee(head, tx, genesis.params);
    checkSenderCovers(head, tx);
    mempool.add(tx);
  };
  const admit = (tx: SignedTx): SignedTx => {
    validateTxBasic(tx, genesis.chainId);
    admitVerified(tx);
    return tx;
  };
  // Signature checks of gossiped and submitted transactions (and paych vouchers) run here, on
  // every core; consensus and block import keep the synchronous check (deterministic order).
  const verifyPool = await VerifyPool.start(Math.max(1, availableParallelism()));
  life.onStop("verify pool", () => verifyPool.close());
  const ingest = new TxIngest(opts.txIngest ?? {}, {
    chainId: genesis.chainId,
    verifier: verifyPool,
    pooled: () => mempool.size,
    has: (hash) => mempool.has(hash),
    admit: admitVerified,
  });
  return { mempool, evidencePool, driver, machine, signer, metrics, subscriptions, txBatcher, verifyPool, ingest, headState, admit, reportEvidence };
}

/** The p2p side: gossip topics, catch-up on stalls, block sync; connects the wires. */
async function startNetwork(chain: ChainParts, c: ConsensusParts, opts: NodeOptions, root: Logger, wires: NetWires, life: Lifecycle): Promise<NetworkParts> {
  const { genesis, store } = chain;
  const d = c.driver;
  const topics = topicNames(genesis.chainId);
  const { key: peerKey, created: peerKeyCreated } = await loadOrCreatePeerKey(join(opts.home, "p2p.key"));
  let sync: BlockSync | undefined;
  const p2pLog = root.child({ module: "p2p" });
  const onVerdict = (topic: string, verdict: "accept" | "ignore" | "reject", reason: string | null): void => {
    c.metrics.recordGossip(topic, verdict);
    if (verdict === "reject") p2pLog.info({ topic, reason }, "rejected a gossip message");
  };
  let setOf: { state: ChainState | null; validators: readonly Validator[] } = { state: null, validators: [] };
  const consensusTopics = consensusHandlers(
    {
      chainId: genesis.chainId,
      position: () => d.position(),
      // Every gossiped vote and proposal is checked against this set: decode it once per head.
      validators: () => {
        if (setOf.state !== d.state) setOf = { state: d.state, validators: d.state.validators() };
        return setOf.validators;
      },
      // a proposal is executed while the worker pool checks its transactions' signatures, so
      // that the event loop does not check them one by one
      deliver: (input) => {
        if (input.type === "vote") return void d.deliver(input);
        void d.prevalidate(input.proposal.block, c.verifyPool).then(() => d.deliver(input));
      },
      peerAt: (peer, height) => sync?.noteHeight(peer, height - 1n),
      latePrecommit: (vote) => d.addLatePrecommit(vote),
    },
    genesis.params.maxBlockBytes,
    { onVerdict },
  );
  // Consensus first: transaction and attestation batches wait here, one per event-loop turn.
  const inbound = new InboundQueue();
  life.onStop("inbound queue", () => inbound.close());
  const poolTopics = poolHandlers(
    {
      admitTxs: (txs) => c.ingest.submit(txs, "peer"),
      addEvidence: (ev) => c.evidencePool.add(ev, c.headState(), store.head.height, genesis.chainId, genesis.params),
    },
    { onVerdict },
    inbound,
  );
  const listen = opts.p2pListen ?? [DEFAULT_P2P_LISTEN];
  const host = await P2PHost.start({
    privateKey: peerKey,
    listen,
    bootstrap: opts.bootstrap ?? [],
    topics: new Map([
      [topics.tx, poolTopics.tx],
      [topics.attestation, poolTopics.attestation],
      [topics.evidence, poolTopics.evidence],
      [topics.proposal, consensusTopics.proposal],
      [topics.vote, consensusTopics.vote],
    ]),
    protocols: new Map([
      [syncProtocol(genesis.chainId), syncHandler(storeBlockSource(store, genesis.hash))],
      [catchupProtocol(genesis.chainId), catchupHandler((height) => d.messagesOf(height).map((m) => encodeInput(m)))],
      [snapshotProtocol(genesis.chainId), snapshotHandler(store)],
    ]),
    log: p2pLog,
    onPeerConnected: () => sync?.peerConnected(),
  }).catch((e: unknown) => {
    throw inUse(e, "P2P_PORT_IN_USE", `cannot listen for peers on ${listen.join(", ")}: the address is in use (another node?); choose another with --p2p-listen /ip4/127.0.0.1/tcp/PORT`);
  });
  life.onStop("p2p", () => host.stop());
  // the driver stops (waiting for an in-flight commit, which may still publish) before the host
  life.onStop("consensus", () => c.driver.stop());
  wires.publish = (topic, data) => void host.publish(topic, data);
  wires.peerCount = () => host.peers().length;
  let lastAsk = 0;
  wires.askForMissed = (height) => {
    const now = Date.now();
    const peers = host.peers();
    if (now - lastAsk < 500 || peers.length === 0) return;
    lastAsk = now;
    // Up to three random peers: which ones only affects how fast a stalled round recovers.
    const picked = peers.map((p) => p.peerId).sort(() => Math.random() - 0.5).slice(0, 3);
    for (const peer of picked) {
      host.request(peer, catchupProtocol(genesis.chainId), encodeCatchupRequest(height), MAX_CATCHUP_BYTES)
        .then((res) => feedCatchup(res, consensusTopics, peer))
        .then(
          (n) => p2pLog.info({ peer, height: Number(height), accepted: n }, "asked a peer for missed consensus messages"),
          (e: Error) => (e instanceof PeerMisbehaviour ? host.penalize(peer, e.points, e.message) : p2pLog.info({ peer, err: e.message }, "catch-up request failed")),
        );
    }
  };
  // A step with no timeout pending (prevote or precommit before +2/3 of any votes) waits on
  // messages alone: if they were gossiped while this node could not take them (another
  // height, not yet connected), it would wait forever. Ask peers when nothing moves for 2 s.
  let lastPosition = "";
  let stillSince = Date.now();
  const stallTimer = setInterval(() => {
    const at = c.machine.describe(d.machineState as TendermintState);
    const key = `${at.height}/${at.round}/${at.step}/${at.votes}`;
    if (key !== lastPosition) {
      lastPosition = key;
      stillSince = Date.now();
    } else if (Date.now() - stillSince >= 2_000) wires.askForMissed(at.height);
  }, 1_000);
  stallTimer.unref();
  life.onStop("stall timer", () => clearInterval(stallTimer));
  root.child({ module: "node" }).info({ peerId: host.peerId, listen: host.listenAddresses(), bootstrap: opts.bootstrap ?? [], newKey: peerKeyCreated }, "p2p listening");
  sync = new BlockSync({
    net: {
      connectedPeers: () => host.peers().map((p) => p.peerId),
      request: (peer, protocol, data, max) => host.request(peer, protocol, data, max),
      penalize: (peer, points, reason) => host.penalize(peer, points, reason),
    },
    target: {
      headHeight: () => store.head.height,
      applySynced: (block, commit) => d.applySynced(block, commit),
      // a fetched batch's signatures are checked on the worker pool, all at once
      prepare: (blocks) => preverifyTxs(blocks.flatMap((b) => b.txs), c.verifyPool),
    },
    chainId: genesis.chainId,
    genesisHash: genesis.hash,
    log: root.child({ module: "sync" }),
  });
  const blockSync = sync;
  life.onStop("block sync", () => blockSync.stop());
  return { host, sync: blockSync };
}

/** The JSON-RPC side: the verify pool, the context handlers see, and the server. */
/** The RPC error of a BUSY refusal; without a stack, as the refusal itself (see withoutStack). */
function busyRpcError(e: IngestError): RpcError {
  return withoutStack(() => new RpcError(RpcErrorCode.BUSY, e.message, { ...e.data, code: e.code }));
}

async function startRpc(chain: ChainParts, c: ConsensusParts, net: NetworkParts, opts: NodeOptions, root: Logger, life: Lifecycle): Promise<{ rpc: RpcServer; verifyPool: VerifyPool }> {
  const { genesis, store } = chain;
  const d = c.driver;
  const topics = topicNames(genesis.chainId);
  const verifyPool = c.verifyPool;
  const vouchers = await openVoucherStore(store);
  const serviceKey = opts.serviceKey ?? null;
  const startedAt = Date.now();
  const gossip = (tx: SignedTx): SignedTx => {
    c.txBatcher.add(txTopic(genesis.chainId, tx), tx.bytes);
    return tx;
  };
  const ctx: RpcContext = {
    verifier: verifyPool,
    chainId: genesis.chainId,
    genesisHash: genesis.hash,
    nodeVersion: NODE_VERSION,
    params: genesis.params,
    store,
    headState: c.headState,
    mempool: c.mempool,
    submitTx: (bytes) => gossip(c.admit(decodeTx(bytes))),
    sendTx: async (bytes) => {
      // a busy node refuses before any work, decoding included (submit checks again)
      const busy = c.ingest.refuse(1);
      if (busy) throw busyRpcError(busy);
      const tx = decodeTx(bytes);
      let results;
      try {
        results = await c.ingest.submit([tx]);
      } catch (e) {
        if (e instanceof IngestError && e.code === IngestErrorCode.BUSY) throw busyRpcError(e);
        throw e;
      }
      if (results[0]) throw results[0];
      return gossip(tx);
    },
    vouchers,
    serviceAccount: serviceKey ? serviceKey.publicKey : null,
    submitServiceTx: (op) => {
      if (!serviceKey) throw new CodedError(RpcAppErrorCode.NO_SERVICE_KEY, "this node has no service key");
      // Synchronous from here to mempool.add: no other submission can take the same nonce.
      let nonce = c.headState().account(serviceKey.publicKey).nonce;
      for (const p of c.mempool.pending(serviceKey.publicKey)) if (p.nonce >= nonce) nonce = p.nonce + 1n;
      return gossip(c.admit(signTx({ chainId: genesis.chainId, nonce, fee: genesis.params.minTxFee, op }, serviceKey)));
    },
    network: {
      info: () => ({ peerId: net.host.peerId, listen: net.host.listenAddresses(), bootstrap: opts.bootstrap ?? [], topics: Object.values(topics) }),
      peers: () => {
        const heights = net.sync.peerHeights();
        return net.host.peers().map((p) => ({ ...p, height: heights.get(p.peerId) ?? null }));
      },
      banned: () => net.host.banned(),
      sync: () => net.sync.status(),
    },
    evidencePool: c.evidencePool,
    reportEvidence: c.reportEvidence,
    consensusState: () => inspectConsensus(d.machineState as TendermintState),
    status: () => {
      const at = c.machine.describe(d.machineState as TendermintState);
      return {
        validator: c.signer ? c.signer.publicKey : null,
        consensus: { engine: c.machine.name, height: at.height, round: at.round, step: at.step },
        failure: d.failure ? d.failure.message : null,
        startedAt,
      };
    },
  };
  let served: RpcServer | undefined;
  const rpc = await startRpcServer(
    {
      host: opts.rpcHost, port: opts.rpcPort, tokens: opts.rpcTokens ?? [], logger: root.child({ module: "rpc" }), checkResults: opts.rpcCheckResults ?? false, explorer: true,
      observe: c.metrics.observeRpc, metrics: c.metrics.registry, cors: opts.rpcCors ?? [], ...(opts.rpcRateLimit !== undefined ? { rateLimit: opts.rpcRateLimit } : {}),
    },
    withDiscover({ ...methods, ...subscriptionMethodStubs<RpcContext>() }, {
      title: "Cloudcoin node", version: NODE_VERSION, servers: () => (served ? [{ name: `${genesis.chainId} node`, url: served.url }] : []),
    }), ctx, c.subscriptions,
  ).catch((e: unknown) => {
    throw inUse(e, "RPC_PORT_IN_USE", `cannot serve JSON-RPC on ${opts.rpcHost}:${opts.rpcPort}: the port is in use (another node?); choose another with --rpc-port PORT`);
  });
  served = rpc;
  life.onStop("rpc", () => rpc.close());
  root.child({ module: "node" }).info({ url: rpc.url, validator: c.signer ? toAddress(c.signer.publicKey) : null }, "JSON-RPC listening");
  return { rpc, verifyPool };
}

export class CloudcoinNode {
  readonly log: Logger;
  readonly genesis: Genesis;
  readonly store: BlockStore;
  readonly mempool: Mempool<SignedTx>;
  readonly driver: ConsensusDriver<unknown>;
  readonly rpc: RpcServer;
  readonly verifyPool: VerifyPool;
  readonly validatorKey: KeyPair | null;
  readonly p2p: P2PHost;
  readonly sync: BlockSync;
  readonly #life: Lifecycle;

  private constructor(parts: {
    log: Logger; chain: ChainParts; consensus: ConsensusParts; rpc: RpcServer; verifyPool: VerifyPool; net: NetworkParts; life: Lifecycle;
  }) {
    this.#life = parts.life;
    this.log = parts.log;
    this.genesis = parts.chain.genesis;
    this.store = parts.chain.store;
    this.validatorKey = parts.chain.key;
    this.mempool = parts.consensus.mempool;
    this.driver = parts.consensus.driver;
    this.p2p = parts.net.host;
    this.sync = parts.net.sync;
    this.rpc = parts.rpc;
    this.verifyPool = parts.verifyPool;
  }

  /**
   * Starts the parts in order (chain, consensus, network, RPC), then catches up from peers and
   * joins consensus. `opts.signal` stops the node when aborted, as `stop()` does. If a part fails
   * to start, the ones already started are stopped in reverse before the error is thrown.
   */
  static async start(opts: NodeOptions): Promise<CloudcoinNode> {
    const root = createLogger(opts.logLevel, logFormatFor(opts.logFormat, opts.logDestination === undefined && process.stdout.isTTY === true), opts.logDestination);
    const log = root.child({ module: "node" });
    const life = new Lifecycle({ ...(opts.signal ? { signal: opts.signal } : {}), onError: (name, e) => log.error({ part: name, err: e }, "error while stopping") });
    try {
      const chain = await openChain(opts, log, life);
      const wires: NetWires = { publish: () => undefined, askForMissed: () => undefined, peerCount: () => 0 };
      const consensus = await createConsensus(chain, opts, root, wires, life);
      const net = await startNetwork(chain, consensus, opts, root, wires, life);
      const { rpc, verifyPool } = await startRpc(chain, consensus, net, opts, root, life);
      // Catch up from peers before joining consensus (a restarted or new node), then keep polling.
      await net.sync.initialSync((opts.bootstrap ?? []).length > 0 ? 3_000 : 0);
      net.sync.start();
      consensus.driver.start();
      return new CloudcoinNode({ log, chain, consensus, rpc, verifyPool, net, life });
    } catch (e) {
      await life.stop();
      throw e;
    }
  }

  /** Stops in reverse order: RPC, verify pool, block sync, stall timer, consensus (waiting for an in-flight commit), p2p, store. */
  async stop(): Promise<void> {
    await this.#life.stop();
    this.log.info({}, "stopped");
  }
}

export async function writeGenesisFile(path: string, genesisJson: unknown): Promise<void> {
  await writeFile(path, JSON.stringify(genesisJson, null, 2) + "\n");
}
