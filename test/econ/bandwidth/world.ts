/**
 * A small bandwidth economy on real blocks for the adversarial tests of test/econ/bandwidth
 * (docs/protocol.md section 7, issue #16): validators, witness providers and relays, each relay behind
 * its own IP unless told otherwise; every block is built by the real transition, replayed by a
 * follower (advanceChecked) and the supply invariant is checked after it. Rewards are tallied per
 * key so strategies can be compared per unit of capital (collateral + stake).
 */
import type { Test } from "tap";
import { toHex } from "../../../primitives/bytes.ts";
import type { KeyPair } from "../../../primitives/keys.ts";
import { firstHeightOfEpoch, lastHeightOfEpoch } from "../../../chain/epoch.ts";
import type { Evidence } from "../../../chain/evidence.ts";
import type { BuiltBlock, ChainEvent } from "../../../chain/transition.ts";
import type { Operation, SignedTx } from "../../../chain/tx.ts";
import type { GenesisFile } from "../../../genesis/schema.ts";
import { listAssignments, signAttestation, type Attestation } from "../../../modules/bandwidth/bandwidth.ts";
import { ProviderKind } from "../../../modules/storage/storage.ts";
import { advanceChecked, newTestChain, supplyHolds, testKey, tx, type TestChain } from "../../helpers/chain.ts";

export const L = 4;
export const COLLATERAL = 1_000_000n;
/** Relay capacity (bytes per second) a COLLATERAL buys at 1 unit per byte. */
export const CAPACITY = 1_000_000n;
export const FUNDS = 1_000_000_000_000n;

export const PARAMS: Partial<GenesisFile["params"]> = {
  epochLength: L, minValidatorStake: "100000", collateralPerByte: "1", emissionPerEpoch: "10000000", emissionDecayBps: 0,
  storageShareBps: 0, bandwidthShareBps: 10_000, validatorShareBps: 0, reputationWindowEpochs: 4, minProbeBytes: 1000,
  witnessesPerRelay: 7, attestQuorum: 4, witnessShareBps: 1000, witnessToleranceBps: 2000, maxRelaysPerIp: 2, attestSlashBps: 1000,
};

export interface RelaySpec {
  readonly key: KeyPair;
  readonly collateral?: bigint;
  /** Defaults to a distinct IPv4 address per relay. */
  readonly ip?: string;
}

export interface World {
  readonly t: Test;
  readonly chain: TestChain;
  /** Pays the fees of attestations, so that the earnings of witnesses are their rewards only. */
  readonly carrier: KeyPair;
  /** Rewards minted per key (hex) and pool. */
  readonly earned: Map<string, { bandwidth: bigint; witness: bigint }>;
  readonly events: ChainEvent[];
}

export const hex = (k: KeyPair | Uint8Array) => toHex(k instanceof Uint8Array ? k : k.publicKey);
export const height = (w: World) => w.chain.state.meta().height;

export function earnedBy(w: World, k: KeyPair | Uint8Array): bigint {
  const e = w.earned.get(hex(k));
  return e ? e.bandwidth + e.witness : 0n;
}

export function earnedFrom(w: World, k: KeyPair | Uint8Array, pool: "bandwidth" | "witness"): bigint {
  return w.earned.get(hex(k))?.[pool] ?? 0n;
}

/** One block; fails the test on a follower mismatch, a broken supply invariant, or (unless allowed) a left-out transaction. */
export function step(w: World, txs: SignedTx[] = [], opts: { evidence?: Evidence[]; proposer?: KeyPair } = {}): BuiltBlock {
  const built = advanceChecked((m) => w.t.fail(m), w.chain, txs, opts);
  if (built.rejected.length > 0) w.t.fail(`rejected at height ${built.block.header.height}: ${built.rejected[0]!.error.code}`);
  if (!supplyHolds(w.chain.state)) w.t.fail(`supply invariant broken at height ${height(w)}`);
  for (const e of built.events) {
    w.events.push(e);
    if (e.kind !== "reward" || (e.pool !== "bandwidth" && e.pool !== "witness")) continue;
    const k = hex(e.to);
    const cur = w.earned.get(k) ?? { bandwidth: 0n, witness: 0n };
    w.earned.set(k, { ...cur, [e.pool]: cur[e.pool] + e.amount });
  }
  return built;
}

export function toHeight(w: World, h: bigint): BuiltBlock[] {
  const out: BuiltBlock[] = [];
  while (height(w) < h) out.push(step(w));
  return out;
}
/** Until the next block is the second of `epoch` (its witnesses are assigned). */
export const toWindow = (w: World, epoch: bigint) => toHeight(w, firstHeightOfEpoch(epoch, L));
/** Through the last block of `epoch` (settled and paid). */
export const toEpochEnd = (w: World, epoch: bigint) => toHeight(w, lastHeightOfEpoch(epoch, L));

/** Transactions from several senders in one block, each sender's nonces in order. */
export function txs(w: World, list: readonly [KeyPair, Operation][]): SignedTx[] {
  const nonces = new Map<string, bigint>();
  return list.map(([key, op]) => {
    const n = nonces.get(hex(key)) ?? w.chain.state.account(key.publicKey).nonce;
    nonces.set(hex(key), n + 1n);
    return tx(w.chain, key, n, op);
  });
}

export const attestation = (w: World, witness: KeyPair, relay: Uint8Array, epoch: bigint, throughput: bigint): Attestation =>
  signAttestation(w.chain.genesis.chainId, witness, { relay, epoch, bytes: 1_000_000n, throughput, latency: 1_000n });

export interface Setup {
  readonly validators: readonly { readonly key: KeyPair; readonly power: bigint }[];
  /** Witness providers (storage kind) and their collateral. */
  readonly witnesses: readonly { readonly key: KeyPair; readonly collateral?: bigint }[];
  readonly relays: readonly RelaySpec[];
  readonly params?: Partial<GenesisFile["params"]>;
}

/** A chain with everyone registered in block 1 (epoch 0): first assigned in epoch 3 (the lookback). */
export function newWorld(t: Test, s: Setup): World {
  const carrier = testKey(4999);
  const others = [...s.witnesses.map((x) => x.key), ...s.relays.map((r) => r.key), carrier];
  const chain = newTestChain({ validators: s.validators, params: { ...PARAMS, ...s.params }, balances: others.map((key) => ({ key, amount: FUNDS })) });
  chain.keys.push(...others);
  const w: World = { t, chain, carrier, earned: new Map(), events: [] };
  step(w, txs(w, [
    ...s.witnesses.map((x): [KeyPair, Operation] => [x.key, { type: "provider.register", kind: ProviderKind.STORAGE, collateral: x.collateral ?? COLLATERAL, capacity: 1n, multiaddr: "/dns4/w/tcp/1" }]),
    ...s.relays.map((r, i): [KeyPair, Operation] => {
      const collateral = r.collateral ?? COLLATERAL;
      return [r.key, { type: "provider.register", kind: ProviderKind.BANDWIDTH, collateral, capacity: collateral, multiaddr: `/ip4/${r.ip ?? `10.0.${i >> 8}.${i & 255}`}/tcp/4001` }];
    }),
  ]));
  return w;
}

/** The first epoch relays registered in block 1 are assigned in. */
export const FIRST_EPOCH = 3n;

/**
 * Epoch `epoch` from its window to its end: every assigned witness of every relay attests what
 * `behave(relay, witness)` says (a throughput, or null to stay silent), all in the epoch's second
 * block, carried by the carrier. Returns the attestation block's receipts codes.
 */
export function playEpoch(w: World, epoch: bigint, behave: (relay: Uint8Array, witness: Uint8Array) => bigint | null, keyOf: (pub: Uint8Array) => KeyPair): string[] {
  toWindow(w, epoch);
  const ops: [KeyPair, Operation][] = [];
  for (const a of listAssignments(w.chain.state, epoch)) {
    for (const wit of a.witnesses) {
      const tp = behave(a.relay, wit);
      if (tp !== null) ops.push([w.carrier, { type: "bandwidth.attest", attestation: attestation(w, keyOf(wit), a.relay, epoch, tp) }]);
    }
  }
  const b = advanceChecked((m) => w.t.fail(m), w.chain, txs(w, ops));
  if (!supplyHolds(w.chain.state)) w.t.fail(`supply invariant broken at height ${height(w)}`);
  for (const e of b.events) w.events.push(e);
  toEpochEnd(w, epoch);
  return b.receipts.map((r) => r.code);
}

/** Hypergeometric P(X >= k) for n draws without replacement from N of which K are colluders. */
export function hypergeometricAtLeast(N: number, K: number, n: number, k: number): number {
  const C = (a: number, b: number): number => {
    if (b < 0 || b > a) return 0;
    let r = 1;
    for (let i = 1; i <= b; i++) r = (r * (a - b + i)) / i;
    return r;
  };
  let p = 0;
  for (let x = k; x <= n; x++) p += (C(K, x) * C(N - K, n - x)) / C(N, n);
  return p;
}

/** Binomial P(X >= k) for n draws with success probability f. */
export function binomialAtLeast(n: number, f: number, k: number): number {
  let p = 0;
  let c = 1;
  for (let x = 0; x <= n; x++) {
    if (x > 0) c = (c * (n - x + 1)) / x;
    if (x >= k) p += c * f ** x * (1 - f) ** (n - x);
  }
  return p;
}
