/**
 * Proof of bandwidth, the pure parts (docs/protocol.md section 6): the attestation a witness signs, the
 * witness assignment anyone can recompute from an epoch seed, and the credited throughput. No I/O
 * and no state: the state transition (chain/bandwidth.ts), the probe protocol and the RPC share
 * these rules.
 *
 *   attestation  witness W probed relay R in epoch e: `bytes` downloaded, `throughput` (bytes per
 *                second), `latency` (microseconds). W signs
 *                  H("cloudcoin/attest/v1", cbor[chainId, R, u64 e, u64 bytes, u64 throughput, u64 latency, W])
 *   assignment   weighted sampling without replacement by successive draws, over candidates sorted
 *                by key with positive weights (total T, the relay's own weight included):
 *                  draw i = 0, 1, 2, ...: r_i = (H("cloudcoin/witness/v1", seed || R || u32be(i)) as a
 *                  256-bit big-endian integer) mod T; the candidate whose cumulative-weight interval
 *                  [prefix_{j-1}, prefix_j) holds r_i is drawn, unless it is R itself or already chosen
 *                  (then the draw is skipped).
 *                Stops at w chosen. With at most w eligible candidates (all but R) all of them are
 *                returned in key order without drawing. After 64*w + eligible draws (only reachable
 *                with extreme weight skew) the rest is filled with the remaining eligible candidates
 *                by weight descending, then key ascending. The result is in draw order.
 *   credit       with at least `quorum` attestations: the lower median of their throughputs (sorted
 *                ascending, index floor((n-1)/2)), capped at the relay's capacity; else 0. A minority
 *                of lying witnesses, high or low, cannot move a median.
 */
import { compareBytes } from "../primitives/bytes.ts";
import { DRAWS_PER_SLOT, weightedDraw } from "./draw.ts";
import { encode, u64 } from "../primitives/codec.ts";
import { Tag, taggedHash } from "../primitives/hash.ts";
import { verify, type KeyPair } from "../primitives/keys.ts";

/** A witness's signed measurement of a relay in an epoch. */
export interface Attestation {
  readonly relay: Uint8Array;
  readonly epoch: bigint;
  /** Bytes the probe downloaded. */
  readonly bytes: bigint;
  /** Bytes per second. */
  readonly throughput: bigint;
  /** Microseconds. */
  readonly latency: bigint;
  readonly witness: Uint8Array;
  readonly signature: Uint8Array;
}

/** What a witness measures: an attestation without its signer and signature. */
export type AttestationFields = Pick<Attestation, "relay" | "epoch" | "bytes" | "throughput" | "latency">;

/** What `witness` signs for the measurement; the chain id keeps it worthless on any other chain. */
export function attestSignBytes(chainId: string, a: Omit<Attestation, "signature" | "witness"> & { witness: Uint8Array }): Uint8Array {
  return taggedHash(Tag.ATTESTATION, encode([chainId, a.relay, u64(a.epoch), u64(a.bytes), u64(a.throughput), u64(a.latency), a.witness]));
}

export function signAttestation(chainId: string, witnessKey: KeyPair, fields: AttestationFields): Attestation {
  const unsigned = { relay: fields.relay, epoch: fields.epoch, bytes: fields.bytes, throughput: fields.throughput, latency: fields.latency, witness: witnessKey.publicKey };
  return { ...unsigned, signature: witnessKey.sign(attestSignBytes(chainId, unsigned)) };
}

export function verifyAttestationSignature(chainId: string, a: Attestation): boolean {
  return verify(a.witness, attestSignBytes(chainId, a), a.signature);
}

/** Whether two attestations report different measurements (bytes, throughput or latency). */
export function measurementsDiffer(a: Pick<Attestation, "bytes" | "throughput" | "latency">, b: Pick<Attestation, "bytes" | "throughput" | "latency">): boolean {
  return a.bytes !== b.bytes || a.throughput !== b.throughput || a.latency !== b.latency;
}

/** A possible witness and its weight (stake, collateral). */
export interface WitnessCandidate {
  readonly key: Uint8Array;
  readonly weight: bigint;
}

/** Draws per witness before the fallback (see the module comment). */
export const WITNESS_DRAWS_PER_SLOT = DRAWS_PER_SLOT;

/**
 * The `w` witnesses of `relay` for the epoch of `seed` (see the module comment), in draw order.
 * `candidates` must be sorted by key, without duplicates, with positive weights (RangeError
 * otherwise); the relay may be among them (it is never drawn).
 */
export function assignWitnesses(seed: Uint8Array, relay: Uint8Array, candidates: readonly WitnessCandidate[], w: number): Uint8Array[] {
  return weightedDraw(Tag.WITNESS, seed, relay, candidates, w, relay);
}

/** The lower median: sorted ascending, the element at floor((n-1)/2). RangeError for no value. */
export function lowerMedian(values: readonly bigint[]): bigint {
  if (values.length === 0) throw new RangeError("the median of nothing");
  const sorted = [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

/** The throughput a relay is credited with for an epoch (see the module comment). */
export function creditedThroughput(throughputs: readonly bigint[], quorum: number, capacity: bigint): bigint {
  if (throughputs.length === 0 || throughputs.length < quorum) return 0n;
  const median = lowerMedian(throughputs);
  return median < capacity ? median : capacity;
}

/**
 * The IP group of a relay's registered multiaddr for the per-IP limit (Tor's rule): "ip4:a.b.c.d"
 * for /ip4/a.b.c.d/..., "ip6:" and the first four groups (the /64, which one host gets as easily
 * as one address) for /ip6/.../...; undefined for any other first protocol (dns, unix...) or a
 * malformed address: a relay the chain cannot place behind an IP is not assigned witnesses.
 */
export function relayIpGroup(multiaddr: string): string | undefined {
  const parts = multiaddr.split("/");
  if (parts.length < 3 || parts[0] !== "") return undefined;
  const proto = parts[1];
  const addr = parts[2]!;
  if (proto === "ip4") {
    const octets = addr.split(".");
    if (octets.length !== 4 || !octets.every((o) => /^[0-9]{1,3}$/.test(o) && Number(o) <= 255)) return undefined;
    return `ip4:${octets.map(Number).join(".")}`;
  }
  if (proto === "ip6") {
    if (!/^[0-9a-fA-F:]+$/.test(addr)) return undefined;
    const halves = addr.split("::");
    if (halves.length > 2) return undefined;
    const groups = (s: string): string[] | undefined => {
      if (s === "") return [];
      const g = s.split(":");
      return g.every((x) => /^[0-9a-fA-F]{1,4}$/.test(x)) ? g : undefined;
    };
    const head = groups(halves[0]!);
    const tail = halves.length === 2 ? groups(halves[1]!) : [];
    if (!head || !tail) return undefined;
    const missing = 8 - head.length - tail.length;
    if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
    const full = [...head, ...Array<string>(missing).fill("0"), ...tail].map((x) => parseInt(x, 16).toString(16));
    return `ip6:${full.slice(0, 4).join(":")}::/64`;
  }
  return undefined;
}

/** A relay as the per-IP limit sees it. */
export interface RelayAddress {
  readonly key: Uint8Array;
  readonly collateral: bigint;
  readonly multiaddr: string;
}

/**
 * Tor's rule: of the relays behind one IP group, the `maxPerIp` with the most collateral (then the
 * lowest key) are kept. Returns, for each relay in input order, "ok", "ipLimit" or "noIp".
 */
export function limitRelaysPerIp(relays: readonly RelayAddress[], maxPerIp: number): ("ok" | "ipLimit" | "noIp")[] {
  const order = relays.map((r, i) => ({ r, i, group: relayIpGroup(r.multiaddr) }));
  const out: ("ok" | "ipLimit" | "noIp")[] = order.map((o) => (o.group === undefined ? "noIp" : "ok"));
  const ranked = order
    .filter((o) => o.group !== undefined)
    .sort((a, b) => (a.group! < b.group! ? -1 : a.group! > b.group! ? 1 : a.r.collateral !== b.r.collateral ? (a.r.collateral > b.r.collateral ? -1 : 1) : compareBytes(a.r.key, b.r.key)));
  let group: string | undefined;
  let n = 0;
  for (const o of ranked) {
    if (o.group !== group) {
      group = o.group;
      n = 0;
    }
    if (++n > maxPerIp) out[o.i] = "ipLimit";
  }
  return out;
}

/** Whether an attestation of `throughput` is within `toleranceBps` of the relay's lower `median` (and is paid). */
export function withinTolerance(throughput: bigint, median: bigint, toleranceBps: number): boolean {
  const diff = throughput > median ? throughput - median : median - throughput;
  return diff * 10_000n <= median * BigInt(toleranceBps);
}
