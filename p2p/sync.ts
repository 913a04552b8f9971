/**
 * Block sync (docs/architecture.md): a request/response protocol over which a node that is behind
 * fetches finalized blocks with their commits, verifies each commit against the validator set it
 * knows, applies the block, and then joins consensus at the head.
 *
 *   protocol  /cloudcoin/<chainId>/sync/1, one length-prefixed request and one response a stream
 *   request   [0]                       status
 *             [1, from, count]          blocks from..from+count-1 (count <= MAX_BLOCKS_PER_REQUEST)
 *   response  [height, headHash, genesisHash]                 status
 *             [[blockBytes, commitBytes], ...]                blocks, consecutive from `from`,
 *                                                             at most MAX_RESPONSE_BYTES in all
 *                                                             (at least one block if it has it)
 *
 * Memory stays bounded however far behind a node is: at most two batches of MAX_RESPONSE_BYTES,
 * the one being applied and the next one, asked for from the same peer as soon as the current one
 * arrived, so the network and the verification overlap. A peer whose blocks fail verification is
 * penalized past the ban threshold (dropped and refused) and the batch is asked of another peer.
 */
import { decodeBlock, decodeCommit, type Block, type Commit } from "../chain/block.ts";
import { equalBytes } from "../primitives/bytes.ts";
import { asArray, asBytes, asU64, asUint, decode, encode, u64 } from "../primitives/codec.ts";
import { CodedError } from "../primitives/errors.ts";
import type { Logger } from "pino";
import { PENALTY, PeerMisbehaviour, type RequestHandler } from "./host.ts";

export const syncProtocol = (chainId: string): string => `/cloudcoin/${chainId}/sync/1`;
export const MAX_BLOCKS_PER_REQUEST = 128;
export const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;
const MAX_REQUEST_BYTES = 64;

/** What the server side reads: the committed chain. */
export interface BlockSource {
  readonly genesisHash: Uint8Array;
  head(): { height: bigint; hash: Uint8Array };
  /** The stored block and the commit that finalized it (raw bytes). */
  blockWithCommit(height: bigint): Promise<{ block: Uint8Array; commit: Uint8Array } | undefined>;
}

export interface PeerStatus {
  readonly height: bigint;
  readonly hash: Uint8Array;
}

export function encodeStatusRequest(): Uint8Array {
  return encode([0]);
}
export function encodeBlocksRequest(from: bigint, count: number): Uint8Array {
  return encode([1, u64(from), count]);
}

/** The server side of the protocol. */
export function syncHandler(source: BlockSource): RequestHandler {
  return {
    maxRequestBytes: MAX_REQUEST_BYTES,
    async respond(request) {
      let req;
      try {
        req = asArray(decode(request, MAX_REQUEST_BYTES), "request");
      } catch (e) {
        throw new PeerMisbehaviour(`malformed sync request: ${(e as Error).message}`, PENALTY.MALFORMED);
      }
      const kind = req[0];
      if (kind === 0 && req.length === 1) {
        const h = source.head();
        return encode([u64(h.height), h.hash, source.genesisHash]);
      }
      if (kind === 1 && req.length === 3) {
        let from: bigint, count: number;
        try {
          from = asU64(req[1], "from");
          count = asUint(req[2], "count");
        } catch (e) {
          throw new PeerMisbehaviour(`malformed blocks request: ${(e as Error).message}`, PENALTY.MALFORMED);
        }
        if (from < 1n || count < 1 || count > MAX_BLOCKS_PER_REQUEST) throw new PeerMisbehaviour(`blocks request out of range (from ${from}, count ${count})`, PENALTY.MALFORMED);
        const out: [Uint8Array, Uint8Array][] = [];
        let bytes = 0;
        for (let h = from; h < from + BigInt(count); h++) {
          const b = await source.blockWithCommit(h);
          if (!b) break;
          if (out.length > 0 && bytes + b.block.length + b.commit.length > MAX_RESPONSE_BYTES - 1024) break;
          out.push([b.block, b.commit]);
          bytes += b.block.length + b.commit.length;
        }
        return encode(out);
      }
      throw new PeerMisbehaviour("unknown sync request", PENALTY.MALFORMED);
    },
  };
}

export function decodeStatus(bytes: Uint8Array, genesisHash: Uint8Array): PeerStatus {
  const v = asArray(decode(bytes, 256), "status", 3);
  if (!equalBytes(asBytes(v[2], "genesisHash", 32), genesisHash)) throw new SyncError(SyncErrorCode.OTHER_CHAIN, "the peer is on another genesis");
  return { height: asU64(v[0], "height"), hash: asBytes(v[1], "hash", 32) };
}

export function decodeBlocks(bytes: Uint8Array): { block: Block; commit: Commit }[] {
  return asArray(decode(bytes, MAX_RESPONSE_BYTES), "blocks").map((e) => {
    const pair = asArray(e, "entry", 2);
    return { block: decodeBlock(asBytes(pair[0], "block")), commit: decodeCommit(asBytes(pair[1], "commit")) };
  });
}

export const SyncErrorCode = {
  OTHER_CHAIN: "SYNC_OTHER_CHAIN",
  /** a response that does not decode, or blocks out of order */
  BAD_RESPONSE: "SYNC_BAD_RESPONSE",
} as const;
export type SyncErrorCode = (typeof SyncErrorCode)[keyof typeof SyncErrorCode];
export class SyncError extends CodedError<SyncErrorCode> {}

/** The network as the syncer sees it (p2p/host.ts P2PHost). */
export interface SyncNetwork {
  connectedPeers(): string[];
  request(peer: string, protocol: string, data: Uint8Array, maxResponseBytes: number): Promise<Uint8Array>;
  penalize(peer: string, points: number, reason: string): void;
}

/** The chain as the syncer sees it (the node's consensus driver). */
export interface SyncTarget {
  /** Height of the last committed block. */
  headHeight(): bigint;
  /** Verifies `commit` against the validators it knows for the block's height, applies and stores the block. Throws if invalid. */
  applySynced(block: Block, commit: Commit): Promise<void>;
  /**
   * Called with each fetched batch before its blocks are applied one by one: the node checks the
   * batch's transaction signatures on its worker pool there (all cores, one round trip) so that
   * applying them finds them verified. Must not throw; anything it skips is checked on apply.
   */
  prepare?(blocks: readonly Block[]): Promise<void>;
}

export interface SyncStatus {
  readonly syncing: boolean;
  readonly headHeight: bigint;
  /** The highest head a connected peer reported (our own if none is higher). */
  readonly highestPeerHeight: bigint;
  readonly blocksSynced: number;
}

/** Status rounds skipped in a row at most while the head advances (see #round). */
const MAX_QUIET_ROUNDS = 9;

/**
 * Polls connected peers' heads and catches up with the highest. A gap of one block is left to
 * consensus for `graceMs` (peers commit a few milliseconds apart); a larger gap, or one that
 * lasts, is fetched.
 */
export class BlockSync {
  readonly #net: SyncNetwork;
  readonly #target: SyncTarget;
  readonly #protocol: string;
  readonly #genesisHash: Uint8Array;
  readonly #log: Logger;
  readonly #peerHeights = new Map<string, bigint>();
  readonly #pollMs: number;
  readonly #graceMs: number;
  readonly #progressMs: number;
  #gapSince: number | null = null;
  /** The head when peers were last asked (or a round skipped), and rounds skipped since they were. */
  #polledAt: bigint | null = null;
  #quietRounds = 0;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | null = null;
  #syncing = false;
  #stopped = false;
  #blocksSynced = 0;

  constructor(opts: { net: SyncNetwork; target: SyncTarget; chainId: string; genesisHash: Uint8Array; log: Logger; pollMs?: number; graceMs?: number; progressMs?: number }) {
    this.#net = opts.net;
    this.#target = opts.target;
    this.#protocol = syncProtocol(opts.chainId);
    this.#genesisHash = opts.genesisHash;
    this.#log = opts.log;
    this.#pollMs = opts.pollMs ?? 1000;
    this.#graceMs = opts.graceMs ?? 2000;
    /** How often a long catch-up logs its progress (height, target, rate, time left). */
    this.#progressMs = opts.progressMs ?? 5_000;
  }

  start(): void {
    this.#schedule(this.#pollMs);
  }

  /**
   * The catch-up before consensus starts: waits up to `waitForPeersMs` for a first peer, asks
   * every connected peer for its head, and fetches up to the highest.
   */
  async initialSync(waitForPeersMs: number): Promise<void> {
    const deadline = Date.now() + waitForPeersMs;
    while (this.#net.connectedPeers().length === 0 && Date.now() < deadline && !this.#stopped) await new Promise((r) => setTimeout(r, 100));
    this.#syncing = true;
    const run = this.#round(true);
    this.#running = run.finally(() => (this.#running = null));
    try {
      await run;
    } finally {
      this.#syncing = false;
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  status(): SyncStatus {
    const head = this.#target.headHeight();
    let highest = head;
    for (const h of this.#peerHeights.values()) if (h > highest) highest = h;
    return { syncing: this.#syncing, headHeight: head, highestPeerHeight: highest, blocksSynced: this.#blocksSynced };
  }

  /** The last head each connected peer reported. */
  peerHeights(): ReadonlyMap<string, bigint> {
    return this.#peerHeights;
  }

  /** A peer showed it has decided at least `height` (e.g. it sent a vote for height + 1). */
  noteHeight(peer: string, height: bigint): void {
    if ((this.#peerHeights.get(peer) ?? -1n) < height) this.#peerHeights.set(peer, height);
    if (height >= this.#target.headHeight() + 2n) this.#schedule(0);
  }

  /** Asks a newly connected peer for its head right away. */
  peerConnected(): void {
    this.#schedule(0);
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      if (this.#running) return this.#schedule(this.#pollMs);
      this.#running = this.#round().finally(() => {
        this.#running = null;
        this.#schedule(this.#pollMs);
      });
    }, ms);
  }

  async #round(immediate = false): Promise<void> {
    // While the head advances, consensus is live and gossip reports peers that are ahead
    // (noteHeight); asking every peer for its head each second opened a stream per peer per
    // second for nothing (multistream negotiation, peer-store updates: ~4% of a loaded node).
    // The peers are still asked at least every MAX_QUIET_ROUNDS rounds, and every round once
    // the head stands still.
    const before = this.#target.headHeight();
    if (!immediate && this.#polledAt !== null && before > this.#polledAt && this.#quietRounds < MAX_QUIET_ROUNDS) {
      this.#polledAt = before;
      this.#quietRounds++;
      return;
    }
    this.#polledAt = before;
    this.#quietRounds = 0;
    const peers = this.#net.connectedPeers();
    for (const p of [...this.#peerHeights.keys()]) if (!peers.includes(p)) this.#peerHeights.delete(p);
    await Promise.all(
      peers.map(async (peer) => {
        try {
          const s = decodeStatus(await this.#net.request(peer, this.#protocol, encodeStatusRequest(), 256), this.#genesisHash);
          this.#peerHeights.set(peer, s.height);
        } catch (e) {
          if ((e as CodedError).code === SyncErrorCode.OTHER_CHAIN) this.#net.penalize(peer, PENALTY.BAD_BLOCKS, "peer is on another chain");
          this.#log.debug({ peer, err: (e as Error).message }, "status request failed");
        }
      }),
    );
    const head = this.#target.headHeight();
    let best = head;
    for (const h of this.#peerHeights.values()) if (h > best) best = h;
    if (best <= head) {
      this.#gapSince = null;
      return;
    }
    const now = Date.now();
    if (best === head + 1n && !immediate) {
      this.#gapSince ??= now;
      if (now - this.#gapSince < this.#graceMs) return;
    }
    this.#gapSince = null;
    await this.#catchUp();
  }

  /** Asks `peer` (at `peerHeight`) for the blocks from `from`, at most MAX_BLOCKS_PER_REQUEST; a failure surfaces when awaited. */
  #requestBlocks(peer: string, from: bigint, peerHeight: bigint): Promise<Uint8Array> {
    const left = peerHeight - from + 1n;
    const count = Number(left < BigInt(MAX_BLOCKS_PER_REQUEST) ? left : BigInt(MAX_BLOCKS_PER_REQUEST));
    const response = this.#net.request(peer, this.#protocol, encodeBlocksRequest(from, count), MAX_RESPONSE_BYTES);
    response.catch(() => undefined); // a prefetch may be dropped unawaited
    return response;
  }

  /** Fetches and applies batches until no connected peer is ahead, fetching the next batch while applying one. */
  async #catchUp(): Promise<void> {
    this.#syncing = true;
    const started = this.#target.headHeight();
    const startedAt = Date.now();
    let lastReport = startedAt;
    let next: { peer: string; from: bigint; response: Promise<Uint8Array> } | null = null;
    try {
      while (!this.#stopped) {
        const head = this.#target.headHeight();
        const ahead = [...this.#peerHeights].filter(([, h]) => h > head).sort((a, b) => (a[1] > b[1] ? -1 : a[1] < b[1] ? 1 : 0));
        if (ahead.length === 0) break;
        let progressed = false;
        for (const [peer, peerHeight] of ahead) {
          // the batch prefetched from this peer while the previous one was applied, or a new request
          const response = next !== null && next.peer === peer && next.from === head + 1n ? next.response : this.#requestBlocks(peer, head + 1n, peerHeight);
          next = null;
          let batch: { block: Block; commit: Commit }[];
          try {
            batch = decodeBlocks(await response);
          } catch (e) {
            this.#log.warn({ peer, err: (e as Error).message }, "block request failed");
            if (e instanceof CodedError) this.#net.penalize(peer, PENALTY.MALFORMED, `undecodable blocks: ${e.message}`);
            this.#peerHeights.delete(peer);
            continue;
          }
          if (batch.length === 0) {
            this.#peerHeights.delete(peer);
            continue;
          }
          // fetch the following range while this one is verified and applied: at most two batches in memory
          const last = head + BigInt(batch.length);
          if (peerHeight > last) next = { peer, from: last + 1n, response: this.#requestBlocks(peer, last + 1n, peerHeight) };
          try {
            await this.#target.prepare?.(batch.map((b) => b.block));
            for (const [i, { block, commit }] of batch.entries()) {
              if (block.header.height !== head + 1n + BigInt(i)) throw new SyncError(SyncErrorCode.BAD_RESPONSE, `block ${i} of the batch has height ${block.header.height}`);
              if (block.header.height <= this.#target.headHeight()) continue; // consensus committed it meanwhile
              await this.#target.applySynced(block, commit);
              this.#blocksSynced++;
            }
            progressed = true;
            // long catch-ups report their progress every progressMs (5 s): height, target, rate and time left
            const now = Date.now();
            if (now - lastReport >= this.#progressMs) {
              lastReport = now;
              const at = this.#target.headHeight();
              const rate = (Number(at - started) * 1000) / Math.max(1, now - startedAt);
              const left = Number(peerHeight - at);
              this.#log.info({ height: Number(at), target: Number(peerHeight), blocksPerSecond: Math.round(rate), etaSeconds: rate > 0 ? Math.ceil(left / rate) : null }, "syncing blocks from peers");
            }
            break;
          } catch (e) {
            const code = (e as CodedError).code;
            if (typeof code !== "string") throw e;
            next = null;
            this.#log.warn({ peer, code, err: (e as Error).message }, "peer served an invalid block: dropping it");
            this.#net.penalize(peer, PENALTY.BAD_BLOCKS, `invalid block (${code})`);
            this.#peerHeights.delete(peer);
          }
        }
        if (!progressed) break;
      }
    } finally {
      this.#syncing = false;
      const synced = this.#target.headHeight() - started;
      if (synced > 0n) this.#log.info({ from: Number(started), to: Number(this.#target.headHeight()), blocks: Number(synced) }, "caught up from peers");
    }
  }
}

/** A BlockSource over the store's committed blocks: the stored bytes, served without decoding. */
export function storeBlockSource(store: {
  head: { height: bigint; hash: Uint8Array };
  getBlockBytes(h: bigint): Promise<Uint8Array | undefined>;
  getCommitBytes(h: bigint): Promise<Uint8Array | undefined>;
}, genesisHash: Uint8Array): BlockSource {
  return {
    genesisHash,
    head: () => ({ height: store.head.height, hash: store.head.hash }),
    async blockWithCommit(h) {
      if (h > store.head.height) return undefined;
      const [block, commit] = await Promise.all([store.getBlockBytes(h), store.getCommitBytes(h)]);
      return block && commit ? { block, commit } : undefined;
    },
  };
}
