/**
 * A small storage economy on real blocks for the adversarial tests of test/econ/storage (issue #15):
 * validators, storage providers and clients, each playing a strategy. Every block is built by the
 * real transition, replayed by a follower (advanceChecked: same root and events, every event fits
 * its JSON schema) and the supply invariant is checked after it.
 *
 * An epoch is played in its second block (the first of its proof window, after the placements of
 * its first block): every provider proves its active deals for the epoch and answers its pending
 * placements (accept, decline or stay silent), and clients post their orders. The other blocks are
 * empty.
 *
 * Data is real: an honest provider fetches the bytes from the client, checks their root and proves
 * with a StorageProver over them. A fake-storage provider keeps nothing: its data is regenerable
 * (all zeros, or a PRG of the chunk index) and it answers each challenge by regenerating the chunk
 * and the audit path (./regenerable.ts).
 *
 * Accounting per key: wealth = balance + provider collateral (free and locked) + escrow held in its
 * open orders (with their placement bond left) and active deals as a client; capital = the collateral
 * it registers + the most escrow and bond it had locked at once. Return = (final wealth - initial wealth) / capital. Fees, prices paid and
 * slashes are all in the wealth difference. Nothing here is consensus code, so reports use floats.
 */
import type { Test } from "tap";
import { toHex } from "../../../primitives/bytes.ts";
import type { KeyPair } from "../../../primitives/keys.ts";
import { epochOfHeight, epochSeed, firstHeightOfEpoch, lastHeightOfEpoch } from "../../../chain/epoch.ts";
import type { BuiltBlock, ChainEvent } from "../../../chain/transition.ts";
import type { Operation, SignedTx } from "../../../chain/tx.ts";
import type { GenesisFile } from "../../../genesis/schema.ts";
import { listOpenOrders, networkDealId, pendingPlacementsOf, readStorageSnapshot } from "../../../modules/storage/orders.ts";
import type { StorageOrder } from "../../../modules/storage/records.ts";
import { listActiveDeals, ProviderKind, ProviderStatus, readProvider } from "../../../modules/storage/storage.ts";
import { dealRoot, StorageProver, type ChunkProof } from "../../../proofs/storage.ts";
import { pseudoRandomBytes } from "../../helpers/random.ts";
import { advanceChecked, newTestChain, supplyHolds, tx, type TestChain } from "../../helpers/chain.ts";

export const L = 2;
export const K = 2;
export const FEE = 1000n;
export const FUNDS = 1_000_000_000_000n;
/** 1 base unit of collateral per byte of capacity. */
export const COLLATERAL = 512n * 1024n;
/** 1,000,000 base units an epoch to the storage pool (80%), the rest to validators. */
export const EMISSION = 1_250_000n;
/** The lowest price: 1/64 base unit per byte and epoch (16,777,216 per GiB). */
export const MIN_PRICE_PER_GIB = 16_777_216n;

export const PARAMS: Partial<GenesisFile["params"]> = {
  epochLength: L, minValidatorStake: "100000", collateralPerByte: "1", emissionPerEpoch: EMISSION.toString(), emissionDecayBps: 0,
  storageShareBps: 8_000, bandwidthShareBps: 0, validatorShareBps: 2_000, challengesPerDeal: K, maxMissedProofs: 3, missSlashBps: 1_000,
  reputationWindowEpochs: 4, maxDealEpochs: 1_000, minStoragePrice: MIN_PRICE_PER_GIB.toString(), placementWindowEpochs: 1, orderPlacementEpochs: 4,
};

export const hex = (k: KeyPair | Uint8Array): string => toHex(k instanceof Uint8Array ? k : k.publicKey);

/** What answers the challenges of one deal: real data (StorageProver) or regenerated data. */
export interface Prover {
  answer(seed: Uint8Array, dealId: Uint8Array, k: number): ChunkProof[];
}

/** Data a client orders: its root and size, and the bytes it hands to a provider (undefined: it does not serve that provider). */
export interface Dataset {
  readonly root: Uint8Array;
  readonly size: bigint;
  readonly chunkSize: number;
  /** The bytes, fetched by `provider`, or undefined if the client does not serve it. */
  serve(provider: Uint8Array): Uint8Array | undefined;
  /** A prover that stores nothing (the fake-storage attacker's), if the data is regenerable. */
  regenerate?(): Prover;
}

/** Real data (pseudo-random bytes) served to every provider, or to those `serves` allows. */
export function realDataset(seed: number, size: number, chunkSize: number, serves: (provider: Uint8Array) => boolean = () => true): Dataset {
  const bytes = pseudoRandomBytes(size, seed);
  return { root: dealRoot(bytes, chunkSize), size: BigInt(size), chunkSize, serve: (p) => (serves(p) ? bytes : undefined) };
}

export type ProviderBehaviour =
  /** Fetches the data and accepts (declines if not served); proves every epoch. */
  | "honest"
  /** Like honest, but stays silent on a placement it cannot fetch. */
  | "silent"
  /** Accepts every placement without fetching anything; never proves. */
  | "neverProve"
  /** Regenerable data: accepts and proves it by regenerating, storing nothing; other data: as honest. */
  | "fake";

export interface ProviderSpec {
  readonly name: string;
  readonly key: KeyPair;
  readonly collateral: bigint;
  readonly behaviour: ProviderBehaviour;
}

export interface OrderPlan {
  readonly data: Dataset;
  readonly replicas: number;
  readonly durationEpochs: bigint;
  /** Per epoch per byte, in base units per GiB (default the minimum). */
  readonly pricePerGiB?: bigint;
}

export interface ClientSpec {
  readonly name: string;
  readonly key: KeyPair;
  /** The orders it posts in the playing block of `epoch`. */
  orders(epoch: bigint): OrderPlan[];
}

export interface Account {
  readonly name: string;
  readonly key: KeyPair;
  start: bigint;
  capital: bigint;
  registered: bigint;
  peakEscrow: bigint;
  storageReward: bigint;
  pricesReceived: bigint;
  pricesPaid: bigint;
  slashed: bigint;
  slashReceived: bigint;
  fees: bigint;
  placements: number;
  accepted: number;
  declined: number;
  expired: number;
}

export interface World {
  readonly t: Test;
  readonly chain: TestChain;
  readonly providers: ProviderSpec[];
  readonly clients: ClientSpec[];
  /** Per key: the accounting above. */
  readonly accounts: Map<string, Account>;
  /** Per network deal id: its prover. */
  readonly provers: Map<string, Prover>;
  /** Per order id: the dataset. */
  readonly datasets: Map<string, Dataset>;
  /** Deal id -> client, for the prices paid. */
  readonly dealClient: Map<string, string>;
  readonly events: { height: bigint; event: ChainEvent }[];
  /** Storage rewards above the cap (the pool times the provider's share of the snapshot's collateral), as found. */
  readonly overCap: string[];
  /** The proposer of the next block, if not the round-0 one (declining to propose). */
  proposer?: KeyPair;
}

export const height = (w: World): bigint => w.chain.state.meta().height;

/** The storage pool of an epoch (the tests' params have no decay). */
export function storagePool(w: World): bigint {
  const p = w.chain.genesis.params;
  return (p.emissionPerEpoch * BigInt(p.storageShareBps)) / 10_000n;
}

function price(size: bigint, perGiB: bigint): bigint {
  return (size * perGiB + (1n << 30n) - 1n) / (1n << 30n);
}

/** Everything `key` holds (see the module comment). */
export function wealthOf(w: World, key: Uint8Array): bigint {
  const s = w.chain.state;
  const a = s.account(key);
  let total = a.balance + a.staked;
  for (const u of a.unbonding) total += u.amount;
  const p = readProvider(s, key);
  if (p && p.status !== ProviderStatus.EXITED) total += p.collateral;
  const k = hex(key);
  for (const o of listOpenOrders(s)) if (hex(o.client) === k) total += o.escrow + o.bond;
  for (const d of listActiveDeals(s)) if (hex(d.client) === k) total += d.escrow;
  return total;
}

function escrowOf(w: World, key: Uint8Array): bigint {
  const k = hex(key);
  let e = 0n;
  for (const o of listOpenOrders(w.chain.state)) if (hex(o.client) === k) e += o.escrow + o.bond;
  for (const d of listActiveDeals(w.chain.state)) if (hex(d.client) === k) e += d.escrow;
  return e;
}

function newAccount(name: string, key: KeyPair): Account {
  return {
    name, key, start: 0n, capital: 0n, registered: 0n, peakEscrow: 0n, storageReward: 0n, pricesReceived: 0n, pricesPaid: 0n, slashed: 0n, slashReceived: 0n,
    fees: 0n, placements: 0, accepted: 0, declined: 0, expired: 0,
  };
}

/** Where the events of keys outside the world are tallied (and ignored). */
const NOBODY: Account = newAccount("nobody", { publicKey: new Uint8Array(32) } as KeyPair);

function account(w: World, name: string, key: KeyPair): Account {
  const a = newAccount(name, key);
  w.accounts.set(hex(key), a);
  return a;
}

export interface Setup {
  readonly validators: readonly { readonly key: KeyPair; readonly power: bigint }[];
  readonly providers: readonly ProviderSpec[];
  readonly clients: readonly ClientSpec[];
  readonly params?: Partial<GenesisFile["params"]>;
}

/** A chain with every provider registered in block 1 (epoch 0): first in the snapshot of epoch 1, placed from epoch 3. */
export function newWorld(t: Test, s: Setup): World {
  const others = [...s.providers.map((p) => p.key), ...s.clients.map((c) => c.key)];
  const chain = newTestChain({ validators: s.validators, params: { ...PARAMS, ...s.params }, balances: others.map((key) => ({ key, amount: FUNDS })) });
  const w: World = {
    t, chain, providers: [...s.providers], clients: [...s.clients], accounts: new Map(), provers: new Map(), datasets: new Map(), dealClient: new Map(), events: [], overCap: [],
  };
  for (const p of s.providers) account(w, p.name, p.key);
  for (const c of s.clients) if (!w.accounts.has(hex(c.key))) account(w, c.name, c.key);
  for (const v of s.validators) if (!w.accounts.has(hex(v.key))) account(w, `validator ${hex(v.key).slice(0, 6)}`, v.key);
  for (const a of w.accounts.values()) a.start = wealthOf(w, a.key.publicKey);
  step(w, sign(w, s.providers.map((p): [KeyPair, Operation] => [p.key, {
    type: "provider.register", kind: ProviderKind.STORAGE, collateral: p.collateral, capacity: p.collateral, multiaddr: "/dns4/p/tcp/1",
  }])));
  for (const p of s.providers) w.accounts.get(hex(p.key))!.registered = p.collateral;
  return w;
}

/** Transactions from several senders in one block, each sender's nonces in order; fees are counted. */
export function sign(w: World, list: readonly [KeyPair, Operation][], chain: TestChain = w.chain): SignedTx[] {
  const nonces = new Map<string, bigint>();
  return list.map(([key, op]) => {
    const n = nonces.get(hex(key)) ?? chain.state.account(key.publicKey).nonce;
    nonces.set(hex(key), n + 1n);
    return tx(chain, key, n, op, FEE);
  });
}

/** One block; fails the test on a follower mismatch or a broken supply invariant. Returns the block; `allowRejected` keeps refused txs quiet. */
export function step(w: World, txs: SignedTx[] = [], opts: { allowRejected?: boolean } = {}): BuiltBlock {
  const proposer = w.proposer;
  w.proposer = undefined;
  const built = advanceChecked((m) => w.t.fail(m), w.chain, txs, proposer ? { proposer } : {});
  const h = built.block.header.height;
  if (built.rejected.length > 0 && !opts.allowRejected) w.t.fail(`rejected at height ${h}: ${built.rejected[0]!.error.code}`);
  if (!supplyHolds(w.chain.state)) w.t.fail(`supply invariant broken at height ${h}`);
  for (const x of built.block.txs) {
    const a = w.accounts.get(hex(x.sender));
    if (a) a.fees += x.fee;
  }
  for (const e of built.events) {
    w.events.push({ height: h, event: e });
    const acc = (k: Uint8Array): Account => w.accounts.get(hex(k)) ?? NOBODY;
    switch (e.kind) {
      case "reward":
        if (e.pool !== "storage") break;
        acc(e.to).storageReward += e.amount;
        {
          // the cap of epoch e: the snapshot frozen at the end of e - 1 (still kept at the end of e)
          const snap = readStorageSnapshot(w.chain.state, e.epoch - 1n);
          const total = snap?.providers.reduce((a, x) => a + x.collateral, 0n) ?? 0n;
          const mine = snap?.providers.find((x) => hex(x.key) === hex(e.to))?.collateral ?? 0n;
          const cap = total === 0n ? 0n : (storagePool(w) * mine) / total;
          if (!snap || e.amount > cap) w.overCap.push(`epoch ${e.epoch}: ${hex(e.to).slice(0, 8)} got ${e.amount}, cap ${cap}`);
        }
        break;
      case "storageDeal":
        w.dealClient.set(hex(e.deal), hex(e.client));
        acc(e.provider).accepted++;
        break;
      case "storagePayment": {
        acc(e.provider).pricesReceived += e.amount;
        const c = w.dealClient.get(hex(e.deal));
        (c ? (w.accounts.get(c) ?? NOBODY) : NOBODY).pricesPaid += e.amount;
        break;
      }
      case "storageSlash":
        acc(e.provider).slashed += e.amount;
        acc(e.client).slashReceived += e.amount;
        break;
      case "storagePlacement":
        acc(e.provider).placements++;
        break;
      case "storagePlacementEnd":
        if (e.reason === "declined") acc(e.provider).declined++;
        else acc(e.provider).expired++;
        break;
      default:
        break;
    }
  }
  for (const a of w.accounts.values()) {
    const e = escrowOf(w, a.key.publicKey);
    if (e > a.peakEscrow) a.peakEscrow = e;
  }
  return built;
}

export function toHeight(w: World, h: bigint): void {
  while (height(w) < h) step(w);
}

/**
 * What each provider sends in the playing block of `epoch`: proofs of its active deals and answers
 * to its placements, on `chain` (the world's, or a fork of it: a look-ahead).
 */
export function providerTxs(w: World, epoch: bigint, chain: TestChain = w.chain): [KeyPair, Operation][] {
  const s = chain.state;
  const seed = epochSeed(s, epoch);
  if (!seed) throw new Error(`no seed for epoch ${epoch}`);
  const out: [KeyPair, Operation][] = [];
  const deals = listActiveDeals(s);
  for (const p of w.providers) {
    const k = hex(p.key);
    // proofs
    if (p.behaviour !== "neverProve") {
      for (const d of deals) {
        if (hex(d.provider) !== k || d.startEpoch > epoch) continue;
        const prover = w.provers.get(hex(d.id));
        if (!prover) continue;
        out.push([p.key, { type: "storage.proof", deal: d.id, epoch, chunks: prover.answer(seed, d.id, K) }]);
      }
    }
    // placements drawn at this epoch's first block
    for (const { order } of pendingPlacementsOf(s, p.key.publicKey)) {
      const data = w.datasets.get(hex(order.id));
      const id = networkDealId(chain.genesis.chainId, order.id, p.key.publicKey);
      const answer = decide(p, order, data);
      if (answer === "silent") continue;
      if (answer === "decline") {
        out.push([p.key, { type: "storage.decline", order: order.id }]);
        continue;
      }
      w.provers.set(hex(id), answer);
      out.push([p.key, { type: "storage.accept", order: order.id }]);
    }
  }
  return out;
}

function decide(p: ProviderSpec, order: StorageOrder, data: Dataset | undefined): Prover | "decline" | "silent" {
  if (p.behaviour === "neverProve") return { answer: () => [] };
  if (p.behaviour === "fake" && data?.regenerate) return data.regenerate();
  const bytes = data?.serve(p.key.publicKey);
  // fetched: the provider checks the root before it accepts
  if (bytes && BigInt(bytes.length) === order.size && hex(dealRoot(bytes, order.chunkSize)) === hex(order.root)) return new StorageProver(bytes, order.chunkSize);
  return p.behaviour === "silent" ? "silent" : "decline";
}

/** The orders the clients post in `epoch`. */
function clientTxs(w: World, epoch: bigint): { ops: [KeyPair, Operation][]; data: Dataset[] } {
  const ops: [KeyPair, Operation][] = [];
  const data: Dataset[] = [];
  for (const c of w.clients) {
    for (const plan of c.orders(epoch)) {
      ops.push([c.key, {
        type: "storage.order", root: plan.data.root, size: plan.data.size, chunkSize: BigInt(plan.data.chunkSize),
        pricePerEpoch: price(plan.data.size, plan.pricePerGiB ?? MIN_PRICE_PER_GIB), durationEpochs: plan.durationEpochs, replicas: plan.replicas,
      }]);
      data.push(plan.data);
    }
  }
  return { ops, data };
}

/** Plays `epoch` (the chain must be at the end of epoch - 1 or earlier): its playing block, then empty blocks to its end. */
export function playEpoch(w: World, epoch: bigint): BuiltBlock {
  toHeight(w, firstHeightOfEpoch(epoch, L));
  const prov = providerTxs(w, epoch);
  const cli = clientTxs(w, epoch);
  const txs = sign(w, [...prov, ...cli.ops]);
  const built = step(w, txs);
  // the order ids are the hashes of the storage.order transactions
  const orders = txs.filter((x) => x.op.type === "storage.order");
  orders.forEach((x, i) => w.datasets.set(hex(x.hash), cli.data[i]!));
  toHeight(w, lastHeightOfEpoch(epoch, L));
  return built;
}

/** Plays epochs `from` .. `to` inclusive. */
export function playEpochs(w: World, from: bigint, to: bigint): void {
  for (let e = from; e <= to; e++) playEpoch(w, e);
}

export const epochNow = (w: World): bigint => epochOfHeight(height(w), L);

export interface Outcome {
  readonly name: string;
  readonly capital: bigint;
  readonly gain: bigint;
  /** gain / capital, parts per million. */
  readonly returnPpm: number;
}

/** The outcome of the accounts named `names` taken together (one person with several keys). */
export function outcome(w: World, label: string, names: readonly string[]): Outcome {
  const accs = [...w.accounts.values()].filter((a) => names.includes(a.name));
  if (accs.length !== names.length) throw new Error(`unknown account among ${names.join(", ")}`);
  let capital = 0n;
  let gain = 0n;
  for (const a of accs) {
    capital += a.registered + a.peakEscrow;
    gain += wealthOf(w, a.key.publicKey) - a.start;
  }
  return { name: label, capital, gain, returnPpm: capital === 0n ? 0 : Number((gain * 1_000_000_000n) / capital) / 1000 };
}

export function byName(w: World, name: string): Account {
  const a = [...w.accounts.values()].find((x) => x.name === name);
  if (!a) throw new Error(`no account ${name}`);
  return a;
}

/** The storage pool minted over the run. */
export function storagePoolMinted(w: World): bigint {
  let m = 0n;
  for (const { event } of w.events) if (event.kind === "reward" && event.pool === "storage") m += event.amount;
  return m;
}

export function formatOutcomes(title: string, list: readonly Outcome[]): string {
  return [title, ...list.map((o) => `  ${o.name.padEnd(34)} capital ${String(o.capital).padStart(9)}  gain ${String(o.gain).padStart(9)}  return ${o.returnPpm.toFixed(0).padStart(7)} ppm`)].join("\n");
}

export function formatAccount(a: Account): string {
  return `  ${a.name.padEnd(20)} reward ${a.storageReward}  prices in ${a.pricesReceived}  out ${a.pricesPaid}  slashed ${a.slashed}  fees ${a.fees}  placements ${a.placements} (accepted ${a.accepted}, declined ${a.declined}, expired ${a.expired})`;
}

