/**
 * State sync (issue #20): a new node fetches a recent state snapshot from peers in verified
 * chunks, installs it, and block-syncs the rest (p2p/sync.ts), instead of replaying every block
 * from genesis. The checks are chain/snapshot.ts, the install chain/store.ts.
 *
 *   protocol  /cloudcoin/<chainId>/snapshot/1, one length-prefixed request and one response a stream
 *   request   [0]                          offer
 *             [1, H]                       manifest of the state at H
 *             [2, H, index, after | null]  chunk `index`: the records under that prefix, after
 *                                          keyHash `after` (paging)
 *             [3, h]                       light block h (bisection, when the genesis set does not
 *                                          vouch for H directly)
 *   response  null | [H, blockBytes, commitBytes, validatorsBytes, depth]
 *                                          the snapshot the peer serves: block H, its commit, the
 *                                          set that signed it, the manifest's cut depth
 *             null | [kinds, hashes]       2^depth summaries: a kind byte each, 32-byte hashes
 *             null | [[[key, value], ...], more]
 *                                          records in keyHash order, at most CHUNK_PAGE_BYTES of
 *                                          keys and values (at least one); `more` if some are left
 *             null | [headerBytes, commitBytes, validatorsBytes]
 *                                          block h's header, its commit, the set that signed it
 *   null: the peer does not keep (or no longer keeps) that state; not its fault.
 *
 * The server offers a height that is a multiple of `interval` (so that peers offer the same one
 * and chunks can come from several), the latest one it still keeps the state of, else its head.
 * The client takes the highest offer whose block, commit and set check (chain/snapshot.ts
 * verifyOffer), gets the manifest from a peer and checks that it folds to the block's state root,
 * then fetches the non-empty chunks from every peer offering that block, a few at a time,
 * checking each against its manifest entry before writing it. A peer that sends anything that
 * fails a check is penalized past the ban threshold and its chunk asked of another peer.
 */
import type { Logger } from "pino";
import { asArray, asBool, asBytes, asU64, asUint, decode, encode, u64, type CborValue } from "../primitives/codec.ts";
import { CodedError } from "../primitives/errors.ts";
import { hashStateKey, MAX_CUT_DEPTH } from "../chain/smt.ts";
import {
  bisectTrust, checkLightBlock, checkOffer, checkpointTrust, genesisTrust, StateSyncError, StateSyncErrorCode, trustOffer, verifyChunk, verifyManifest,
  type LightBlock, type Manifest, type TrustedSet, type TrustRoot, type VerifiedOffer,
} from "../chain/snapshot.ts";
import { encodeValidators, type Validator } from "../chain/state.ts";
import { decodeBlock, MAX_BLOCK_BYTES } from "../chain/block.ts";
import type { BlockStore, SnapshotBase } from "../chain/store.ts";
import { StoreErrorCode } from "../chain/store.ts";
import { PENALTY, PeerMisbehaviour, type RequestHandler } from "./host.ts";
import type { SyncNetwork } from "./sync.ts";

export const snapshotProtocol = (chainId: string): string => `/cloudcoin/${chainId}/snapshot/1`;
/** The cut depth a server uses: 1024 chunks (a 1,000,000-record state gives ~1,000 records a chunk). */
export const DEFAULT_SNAPSHOT_DEPTH = 10;
/** Offered heights are multiples of this (or the head when none is kept). */
export const DEFAULT_SNAPSHOT_INTERVAL = 10;
/** Keys and values in one chunk page (a page holds at least one record). */
export const CHUNK_PAGE_BYTES = 1024 * 1024;
/** Largest chunk (all its pages) a client accepts. */
export const MAX_CHUNK_BYTES = 256 * 1024 * 1024;
const MAX_REQUEST_BYTES = 64;
const MAX_PAGE_RESPONSE_BYTES = 16 * 1024 * 1024;
const MAX_OFFER_BYTES = MAX_BLOCK_BYTES + 2 * 1024 * 1024;
const manifestBytes = (depth: number): number => (1 << depth) * 33 + 64;

// ---- requests ----

export const encodeOfferRequest = (): Uint8Array => encode([0]);
export const encodeManifestRequest = (height: bigint): Uint8Array => encode([1, u64(height)]);
export const encodeChunkRequest = (height: bigint, index: number, after: Uint8Array | null): Uint8Array => encode([2, u64(height), index, after]);
export const encodeLightBlockRequest = (height: bigint): Uint8Array => encode([3, u64(height)]);
const MAX_LIGHT_BLOCK_BYTES = 4 * 1024 * 1024;

// ---- the server side ----

/** What the server side reads: the committed chain and the recent states (BlockStore). */
export interface SnapshotSource {
  readonly head: { readonly height: bigint };
  readonly stateFrom: bigint;
  readonly base: bigint;
  getBlockBytes(height: bigint): Promise<Uint8Array | undefined>;
  getCommitBytes(height: bigint): Promise<Uint8Array | undefined>;
  getValidators(height: bigint): Promise<Validator[] | undefined>;
  snapshotManifest(height: bigint, depth: number): { kinds: Uint8Array; hashes: Uint8Array };
  snapshotChunk(height: bigint, depth: number, index: number, after: Uint8Array | undefined, maxBytes: number): { records: [Uint8Array, Uint8Array][]; more: boolean };
  /** Keeps the state at `height` readable until `untilMs` (a lease renewed by each request for it). */
  pinState?(height: bigint, untilMs: number): void;
}

export interface SnapshotServerOptions {
  readonly depth: number;
  readonly interval: number;
  readonly pageBytes: number;
  /** How long a request keeps its height's state readable past stateHistory, ms. */
  readonly leaseMs: number;
}
export const defaultSnapshotServerOptions: SnapshotServerOptions = { depth: DEFAULT_SNAPSHOT_DEPTH, interval: DEFAULT_SNAPSHOT_INTERVAL, pageBytes: CHUNK_PAGE_BYTES, leaseMs: 120_000 };

/** The height the source offers now (see the module comment), or undefined (nothing past genesis). */
export function offerHeight(source: Pick<SnapshotSource, "head" | "stateFrom" | "base">, interval: number): bigint | undefined {
  const head = source.head.height;
  if (head < 1n) return undefined;
  const oldest = [source.stateFrom, source.base, 1n].reduce((a, b) => (a > b ? a : b));
  const aligned = head - (head % BigInt(Math.max(1, interval)));
  return aligned >= oldest ? aligned : head;
}

const pruned = (e: unknown): boolean => (e as CodedError).code === StoreErrorCode.STATE_PRUNED;

/** The server side of the protocol. */
export function snapshotHandler(source: SnapshotSource, opts: Partial<SnapshotServerOptions> = {}): RequestHandler {
  const o = { ...defaultSnapshotServerOptions, ...opts };
  return {
    maxRequestBytes: MAX_REQUEST_BYTES,
    async respond(request) {
      let req: CborValue[];
      try {
        req = asArray(decode(request, MAX_REQUEST_BYTES), "request");
      } catch (e) {
        throw new PeerMisbehaviour(`malformed snapshot request: ${(e as Error).message}`, PENALTY.MALFORMED);
      }
      if (req[0] === 0 && req.length === 1) {
        const h = offerHeight(source, o.interval);
        if (h === undefined) return encode(null);
        // the state offered stays readable while the client fetches it (each request renews this)
        source.pinState?.(h, Date.now() + o.leaseMs);
        const [block, commit, validators] = await Promise.all([source.getBlockBytes(h), source.getCommitBytes(h), source.getValidators(h)]);
        if (!block || !commit || !validators) return encode(null);
        return encode([u64(h), block, commit, encodeValidators(validators), o.depth]);
      }
      let height: bigint, index = 0, after: Uint8Array | undefined;
      try {
        height = asU64(req[1], "height");
        if (req[0] === 2 && req.length === 4) {
          index = asUint(req[2], "index");
          after = req[3] === null ? undefined : asBytes(req[3], "after", 32);
        } else if (!((req[0] === 1 || req[0] === 3) && req.length === 2)) throw new Error("unknown request");
      } catch (e) {
        throw new PeerMisbehaviour(`malformed snapshot request: ${(e as Error).message}`, PENALTY.MALFORMED);
      }
      if (index >= 1 << o.depth) throw new PeerMisbehaviour(`chunk ${index} out of range`, PENALTY.MALFORMED);
      if (req[0] === 3) {
        if (height < source.base || height > source.head.height) return encode(null);
        const [block, commit, validators] = await Promise.all([source.getBlockBytes(height), source.getCommitBytes(height), source.getValidators(height)]);
        if (!block || !commit || !validators) return encode(null);
        return encode([decodeBlock(block).headerBytes, commit, encodeValidators(validators)]);
      }
      try {
        source.pinState?.(height, Date.now() + o.leaseMs);
        if (req[0] === 1) {
          const m = source.snapshotManifest(height, o.depth);
          return encode([m.kinds, m.hashes]);
        }
        const page = source.snapshotChunk(height, o.depth, index, after, o.pageBytes);
        return encode([page.records, page.more]);
      } catch (e) {
        if (pruned(e)) return encode(null);
        throw e;
      }
    },
  };
}

// ---- response decoding (the client side; every defect is a StateSyncError) ----

function malformed(what: string, e: unknown): StateSyncError {
  return new StateSyncError(StateSyncErrorCode.MALFORMED, `malformed ${what}: ${(e as Error).message}`);
}

/** Offer response: null (no snapshot) or its raw parts. */
export function decodeOffer(bytes: Uint8Array): { height: bigint; block: Uint8Array; commit: Uint8Array; validators: Uint8Array; depth: number } | null {
  try {
    const v = decode(bytes, MAX_OFFER_BYTES, { share: true });
    if (v === null) return null;
    const a = asArray(v, "offer", 5);
    return { height: asU64(a[0], "height"), block: asBytes(a[1], "block"), commit: asBytes(a[2], "commit"), validators: asBytes(a[3], "validators"), depth: asUint(a[4], "depth", MAX_CUT_DEPTH) };
  } catch (e) {
    throw malformed("snapshot offer", e);
  }
}

/** Manifest response: null (state not kept) or the manifest. */
export function decodeManifest(bytes: Uint8Array, depth: number): Manifest | null {
  try {
    const v = decode(bytes, manifestBytes(depth));
    if (v === null) return null;
    const a = asArray(v, "manifest", 2);
    return { depth, kinds: asBytes(a[0], "kinds", 1 << depth), hashes: asBytes(a[1], "hashes", (1 << depth) * 32) };
  } catch (e) {
    throw malformed("manifest", e);
  }
}

/** Light block response: null (not stored there) or its raw parts. */
export function decodeLightBlock(bytes: Uint8Array): { header: Uint8Array; commit: Uint8Array; validators: Uint8Array } | null {
  try {
    const v = decode(bytes, MAX_LIGHT_BLOCK_BYTES);
    if (v === null) return null;
    const a = asArray(v, "lightBlock", 3);
    return { header: asBytes(a[0], "header"), commit: asBytes(a[1], "commit"), validators: asBytes(a[2], "validators") };
  } catch (e) {
    throw malformed("light block", e);
  }
}

/** Chunk page response: null (state not kept) or the records and whether more follow. */
export function decodeChunkPage(bytes: Uint8Array): { records: [Uint8Array, Uint8Array][]; more: boolean } | null {
  try {
    const v = decode(bytes, MAX_PAGE_RESPONSE_BYTES);
    if (v === null) return null;
    const a = asArray(v, "chunk", 2);
    const records = asArray(a[0], "records").map((r) => {
      const p = asArray(r, "record", 2);
      return [asBytes(p[0], "key"), asBytes(p[1], "value")] as [Uint8Array, Uint8Array];
    });
    const more = asBool(a[1], "more");
    if (more && records.length === 0) throw new Error("an empty page with more to follow");
    return { records, more };
  } catch (e) {
    throw malformed("chunk page", e);
  }
}

// ---- the client side ----

/** Where the client installs the snapshot (BlockStore). */
export type SnapshotTarget = Pick<BlockStore, "beginStateSync" | "putSnapshotRecords" | "finishStateSync">;

export interface StateSyncOptions {
  /** Give up (STATE_SYNC_NO_SNAPSHOT) when no snapshot is installed by then (ms from start). */
  readonly timeoutMs: number;
  /** Chunk requests in flight at once. */
  readonly concurrency: number;
  /** How often progress is logged, ms. */
  readonly reportMs: number;
}
export const defaultStateSyncOptions: StateSyncOptions = { timeoutMs: 300_000, concurrency: 8, reportMs: 5_000 };

export interface StateSyncResult {
  readonly height: bigint;
  readonly chunks: number;
  readonly records: number;
  readonly bytes: number;
  readonly ms: number;
}

/** Codes that are the serving peer's fault. */
const PEER_FAULTS: ReadonlySet<string> = new Set([
  StateSyncErrorCode.MALFORMED, StateSyncErrorCode.BAD_OFFER, StateSyncErrorCode.MANIFEST_MISMATCH,
  StateSyncErrorCode.CHUNK_OUT_OF_RANGE, StateSyncErrorCode.CHUNK_UNORDERED, StateSyncErrorCode.CHUNK_MISMATCH,
  StateSyncErrorCode.TRUST_MISMATCH,
]);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Fetches, verifies and installs a snapshot from peers (see the module comment). */
export class StateSyncClient {
  readonly #net: SyncNetwork;
  readonly #target: SnapshotTarget;
  readonly #chainId: string;
  /** The checkpoint the operator trusts, if any (else the genesis set is the trusted one). */
  readonly #root: TrustRoot | undefined;
  /** The set offers are traced to: the genesis set, or the checkpoint's once a peer served its block. */
  #trusted: TrustedSet | undefined;
  readonly #protocol: string;
  readonly #log: Logger;
  readonly #opts: StateSyncOptions;
  /** Blocks (hex hash) whose signing set was traced to the trusted set by bisection: not traced again each round. */
  readonly #traced = new Set<string>();
  #stopped = false;

  /** `trust`: a checkpoint (height >= 1 and its block hash) to trace offers to instead of the genesis set. */
  constructor(o: { net: SyncNetwork; target: SnapshotTarget; chainId: string; genesisValidators: readonly Validator[]; trust?: TrustRoot; log: Logger; opts?: Partial<StateSyncOptions> }) {
    this.#net = o.net;
    this.#target = o.target;
    this.#chainId = o.chainId;
    this.#root = o.trust !== undefined && o.trust.height > 0n ? o.trust : undefined;
    this.#trusted = this.#root === undefined ? genesisTrust(o.genesisValidators) : undefined;
    this.#protocol = snapshotProtocol(o.chainId);
    this.#log = o.log;
    this.#opts = { ...defaultStateSyncOptions, ...o.opts };
  }

  stop(): void {
    this.#stopped = true;
  }

  /** Runs until a snapshot is installed; StateSyncError NO_SNAPSHOT past the timeout. */
  async run(): Promise<StateSyncResult> {
    const deadline = Date.now() + this.#opts.timeoutMs;
    let lastNote = 0;
    while (!this.#stopped && Date.now() < deadline) {
      const offers = await this.#collectOffers();
      if (offers.length === 0) {
        if (Date.now() - lastNote >= this.#opts.reportMs) {
          lastNote = Date.now();
          this.#log.info({ peers: this.#net.connectedPeers().length }, "state sync: waiting for a peer to offer a snapshot");
        }
        await sleep(500);
        continue;
      }
      let best = offers[0]!;
      for (const o of offers) if (o.offer.height > best.offer.height) best = o;
      const sources = offers.filter((o) => o.offer.height === best.offer.height && Buffer.compare(o.offer.block.hash, best.offer.block.hash) === 0).map((o) => o.peer);
      try {
        return await this.#fetch(best.offer, sources);
      } catch (e) {
        if ((e as CodedError).code !== StateSyncErrorCode.UNAVAILABLE) throw e;
        this.#log.info({ height: Number(best.offer.height), reason: (e as Error).message }, "state sync: the snapshot is no longer served; asking for a newer one");
        await sleep(500);
      }
    }
    throw new StateSyncError(StateSyncErrorCode.NO_SNAPSHOT, `no snapshot could be fetched from peers within ${this.#opts.timeoutMs} ms`);
  }

  #penalize(peer: string, e: unknown): void {
    const code = (e as CodedError).code;
    this.#log.debug({ peer, err: (e as Error).message }, "state sync: invalid snapshot part");
    const points = code === StateSyncErrorCode.MALFORMED ? PENALTY.MALFORMED : PENALTY.BAD_BLOCKS;
    this.#log.warn({ peer, code }, "state sync: peer sent an invalid snapshot part");
    this.#net.penalize(peer, points, `state sync: ${code}`);
  }

  /** Asks every connected peer for its offer; returns the ones that check. */
  async #collectOffers(): Promise<{ peer: string; offer: VerifiedOffer }[]> {
    const out: { peer: string; offer: VerifiedOffer }[] = [];
    await Promise.all(
      this.#net.connectedPeers().map(async (peer) => {
        let raw;
        try {
          raw = decodeOffer(await this.#net.request(peer, this.#protocol, encodeOfferRequest(), MAX_OFFER_BYTES));
        } catch (e) {
          if (PEER_FAULTS.has((e as CodedError).code)) this.#penalize(peer, e);
          else this.#log.debug({ peer, err: (e as Error).message }, "state sync: offer request failed");
          return;
        }
        if (raw === null) return;
        try {
          const offer = checkOffer(this.#chainId, raw);
          const trusted = await this.#trustedSet(peer);
          if (trusted === undefined) return;
          let trust: VerifiedOffer["trust"];
          const id = Buffer.from(offer.block.hash).toString("hex");
          try {
            trust = this.#traced.has(id) ? "bisection" : trustOffer(trusted, offer);
          } catch (e) {
            if ((e as CodedError).code !== StateSyncErrorCode.UNTRUSTED || offer.height <= trusted.height) throw e;
            // the set changed since the trusted one: verify the headers between, from this peer
            const { fetched } = await bisectTrust(trusted, { height: offer.height, hash: offer.block.hash, commit: offer.commit, validators: offer.validators }, (h) => this.#lightBlock(peer, h));
            this.#log.info({ peer, height: Number(offer.height), headers: fetched, from: Number(trusted.height) }, "state sync: the offer's validator set traced to the trusted set by bisection");
            this.#traced.add(id);
            trust = "bisection";
          }
          out.push({ peer, offer: { ...offer, trust } });
        } catch (e) {
          // the reason's text carries what the peer sent: debug only, never at a level an operator reads
          this.#log.debug({ peer, err: (e as Error).message }, "state sync: offer refused");
          if (PEER_FAULTS.has((e as CodedError).code)) this.#penalize(peer, e);
          else this.#log.warn({ peer, height: Number(raw.height), code: (e as CodedError).code }, "state sync: offer refused");
        }
      }),
    );
    return out;
  }

  /**
   * The set offers are traced to: the genesis set, or (with a checkpoint) the set of the
   * checkpoint's block, asked of `peer` until one serves it; undefined while none has. A peer whose
   * block there is another (validly signed: a fork, or keys that left) throws TRUST_MISMATCH.
   */
  async #trustedSet(peer: string): Promise<TrustedSet | undefined> {
    if (this.#trusted !== undefined || this.#root === undefined) return this.#trusted;
    const root = this.#root;
    let lb: LightBlock | null;
    try {
      lb = await this.#lightBlock(peer, root.height);
    } catch (e) {
      if (PEER_FAULTS.has((e as CodedError).code)) throw e;
      this.#log.debug({ peer, err: (e as Error).message }, "state sync: checkpoint request failed");
      return undefined;
    }
    if (lb === null) {
      this.#log.info({ peer, height: Number(root.height) }, "state sync: the peer does not keep the checkpoint's block");
      return undefined;
    }
    // checked whichever peer answers first: a peer with another block there is refused either way
    const trusted = checkpointTrust(root, lb);
    if (this.#trusted === undefined) {
      this.#trusted = trusted;
      this.#log.info({ height: Number(root.height), validators: lb.validators.length }, "state sync: the checkpoint's block and set verified");
    }
    return this.#trusted;
  }

  async #lightBlock(peer: string, height: bigint): Promise<LightBlock | null> {
    const raw = decodeLightBlock(await this.#net.request(peer, this.#protocol, encodeLightBlockRequest(height), MAX_LIGHT_BLOCK_BYTES));
    return raw === null ? null : checkLightBlock(this.#chainId, height, raw);
  }

  async #manifest(offer: VerifiedOffer, sources: string[]): Promise<Manifest> {
    for (const peer of [...sources]) {
      try {
        const m = decodeManifest(await this.#net.request(peer, this.#protocol, encodeManifestRequest(offer.height), manifestBytes(offer.depth)), offer.depth);
        if (m === null) throw new StateSyncError(StateSyncErrorCode.UNAVAILABLE, `peer no longer keeps the state at ${offer.height}`);
        verifyManifest(m, offer.block.header.stateRoot);
        return m;
      } catch (e) {
        if (PEER_FAULTS.has((e as CodedError).code)) this.#penalize(peer, e);
        sources.splice(sources.indexOf(peer), 1);
      }
    }
    throw new StateSyncError(StateSyncErrorCode.UNAVAILABLE, `no peer served a valid manifest of height ${offer.height}`);
  }

  /** Every page of chunk `index` from `peer`, checked against the manifest. */
  async #chunk(peer: string, m: Manifest, height: bigint, index: number): Promise<{ records: [Uint8Array, Uint8Array][]; bytes: number }> {
    const records: [Uint8Array, Uint8Array][] = [];
    let after: Uint8Array | null = null;
    let bytes = 0;
    for (;;) {
      const page = decodeChunkPage(await this.#net.request(peer, this.#protocol, encodeChunkRequest(height, index, after), MAX_PAGE_RESPONSE_BYTES));
      if (page === null) throw new StateSyncError(StateSyncErrorCode.UNAVAILABLE, `peer no longer keeps the state at ${height}`);
      for (const r of page.records) {
        records.push(r);
        bytes += r[0].length + r[1].length;
      }
      if (bytes > MAX_CHUNK_BYTES) throw new StateSyncError(StateSyncErrorCode.CHUNK_TOO_LARGE, `chunk ${index} exceeds ${MAX_CHUNK_BYTES} bytes`);
      if (!page.more) break;
      // the next page starts after the last keyHash received (verifyChunk checks the order of all)
      after = hashStateKey(records[records.length - 1]![0]);
    }
    verifyChunk(m, index, records);
    return { records, bytes };
  }

  async #fetch(offer: VerifiedOffer, peers: string[]): Promise<StateSyncResult> {
    const started = Date.now();
    const sources = [...peers];
    const log = this.#log;
    log.info({ height: Number(offer.height), peers: sources.length, trust: offer.trust }, "state sync: fetching a snapshot");
    const m = await this.#manifest(offer, sources);
    const queue: number[] = [];
    for (let i = 0; i < m.kinds.length; i++) if (m.kinds[i] !== 0) queue.push(i);
    const total = queue.length;
    await this.#target.beginStateSync(offer.height);
    let done = 0;
    let records = 0;
    let bytes = 0;
    let lastReport = started;
    const failures = new Map<string, number>();
    let turn = 0;
    let fatal: unknown;
    let inflight = 0;
    const worker = async (): Promise<void> => {
      while (fatal === undefined && !this.#stopped && sources.length > 0) {
        const index = queue.shift();
        if (index === undefined) {
          // a chunk in flight elsewhere may fail and come back to the queue
          if (inflight === 0) return;
          await sleep(20);
          continue;
        }
        inflight++;
        try {
          await fetchOne(index);
        } finally {
          inflight--;
        }
      }
    };
    const fetchOne = async (index: number): Promise<void> => {
      const peer = sources[turn++ % sources.length]!;
      let chunk;
      try {
        chunk = await this.#chunk(peer, m, offer.height, index);
      } catch (e) {
        queue.push(index);
        const code = (e as CodedError).code;
        if (PEER_FAULTS.has(code)) this.#penalize(peer, e);
        const n = (failures.get(peer) ?? 0) + 1;
        failures.set(peer, n);
        // a peer at fault, one that lost the state, or one failing again and again is dropped
        if (PEER_FAULTS.has(code) || code === StateSyncErrorCode.UNAVAILABLE || code === StateSyncErrorCode.CHUNK_TOO_LARGE || n >= 3) {
          const at = sources.indexOf(peer);
          if (at >= 0) sources.splice(at, 1);
        } else log.debug({ peer, index, err: (e as Error).message }, "state sync: chunk request failed");
        return;
      }
      try {
        await this.#target.putSnapshotRecords(chunk.records);
      } catch (e) {
        fatal = e;
        return;
      }
      done++;
      records += chunk.records.length;
      bytes += chunk.bytes;
      const now = Date.now();
      if (now - lastReport >= this.#opts.reportMs) {
        lastReport = now;
        const rate = (done * 1000) / Math.max(1, now - started);
        log.info({ height: Number(offer.height), chunks: done, total, records, chunksPerSecond: Math.round(rate * 10) / 10, etaSeconds: rate > 0 ? Math.ceil((total - done) / rate) : null }, "state sync: fetching chunks");
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(this.#opts.concurrency, total)) }, worker));
    if (fatal !== undefined) throw fatal;
    if (done < total) throw new StateSyncError(StateSyncErrorCode.UNAVAILABLE, `${total - done} of ${total} chunks could not be fetched from any peer`);
    const base: SnapshotBase = { block: offer.block, commit: offer.commit, validators: offer.validators };
    await this.#target.finishStateSync(base);
    const ms = Date.now() - started;
    log.info({ height: Number(offer.height), chunks: total, records, bytes, ms }, "state sync: snapshot installed");
    return { height: offer.height, chunks: total, records, bytes, ms };
  }
}
