/**
 * The libp2p host (docs/architecture.md): TCP, noise, yamux, identify, gossipsub.
 *
 * - The peer key is persisted in the data directory (p2p/peer-key.ts), so the peer id survives
 *   restarts and other nodes can list it in their bootstrap addresses.
 * - Bootstrap peers are dialled at start and redialled with backoff whenever they are not
 *   connected (a restarted peer is found again without operator action).
 * - Gossip messages are unsigned at the libp2p layer (our messages carry their own signatures)
 *   and identified by the SHA-256 of their topic and bytes, so the same message from two peers
 *   is one message, and the same bytes on another topic are another message. Each topic has one handler, run as gossipsub's topic validator: it decodes,
 *   checks stateless then stateful rules, delivers, and returns accept, ignore or reject.
 * - Every reject, oversized message or malformed protocol frame costs the sending peer
 *   penalty points; past the threshold it is disconnected and refused for a while.
 */
import "./polyfill.ts";
import "./libp2p-tuning.ts";
import { noise } from "@chainsafe/libp2p-noise";
import { yamux } from "@chainsafe/libp2p-yamux";
import { gossipsub, TopicValidatorResult, type GossipSub } from "@libp2p/gossipsub";
import { identify } from "@libp2p/identify";
import type { Connection, Libp2p, PeerId, PrivateKey, Stream } from "@libp2p/interface";
import { tcp } from "@libp2p/tcp";
import { lpStream } from "@libp2p/utils";
import { multiaddr, type Multiaddr } from "@multiformats/multiaddr";
import { createLibp2p } from "libp2p";
import { createHash } from "node:crypto";
import type { Logger } from "pino";

/** What a topic handler decides about one message (gossipsub's validation result). */
export type Verdict = "accept" | "ignore" | "reject";

export interface TopicHandler {
  /** Messages larger than this are rejected before decoding. */
  readonly maxBytes: number;
  /**
   * Decodes, checks and (when valid) delivers one message. "reject" penalizes the peer that
   * sent it; "ignore" drops it without blame (stale, duplicate, not checkable yet).
   */
  handle(data: Uint8Array, from: string): Verdict | Promise<Verdict>;
}

/** A request/response protocol: one length-prefixed request, one length-prefixed response. */
export interface RequestHandler {
  readonly maxRequestBytes: number;
  /** The response bytes; throwing a PeerMisbehaviour penalizes the requester. */
  respond(request: Uint8Array, from: string): Promise<Uint8Array>;
}

/** Thrown by handlers for input that is the peer's fault: penalized by `points`. */
export class PeerMisbehaviour extends Error {
  readonly points: number;
  constructor(message: string, points: number = PENALTY.INVALID) {
    super(message);
    this.points = points;
  }
}

/** Penalty points per offence; at BAN_THRESHOLD the peer is disconnected and refused for banMs. */
export const PENALTY = { INVALID: 20, OVERSIZED: 50, MALFORMED: 50, BAD_BLOCKS: 100 } as const;
export const BAN_THRESHOLD = 100;
/** Points decay: this many per second, so an honest peer's rare mistake is forgotten. */
const PENALTY_DECAY_PER_S = 1;

export interface HostOptions {
  readonly privateKey: PrivateKey;
  /** Listen multiaddrs, e.g. /ip4/127.0.0.1/tcp/8646 */
  readonly listen: readonly string[];
  /** Multiaddrs with /p2p/<peer id> of peers to keep connected to. */
  readonly bootstrap: readonly string[];
  readonly topics: ReadonlyMap<string, TopicHandler>;
  readonly protocols: ReadonlyMap<string, RequestHandler>;
  readonly log: Logger;
  /** How long a banned peer is refused (default 10 min). */
  readonly banMs?: number;
  /** Called when a peer connects (e.g. to ask it for its head). */
  readonly onPeerConnected?: (peer: string) => void;
  readonly now?: () => number;
}

export interface PeerSummary {
  readonly peerId: string;
  readonly addresses: string[];
  readonly direction: "inbound" | "outbound";
  readonly penalty: number;
  readonly bootstrap: boolean;
}

interface PeerRecord {
  points: number;
  at: number;
  bannedUntil: number;
  offences: number;
}

/**
 * A gossip message's id: SHA-256 over the topic (length-prefixed) and the bytes. gossipsub keeps
 * one seen-cache for all topics and marks an id seen before the topic validator runs, so an id of
 * the bytes alone let a peer get a real message dropped unvalidated on its own topic by relaying
 * the same bytes on another topic first (where they are rejected or ignored).
 */
export function gossipMessageId(topic: string, data: Uint8Array): Uint8Array {
  const t = Buffer.from(topic, "utf8");
  const len = Buffer.alloc(4);
  len.writeUInt32BE(t.length);
  return createHash("sha256").update(len).update(t).update(data).digest();
}

export class P2PHost {
  readonly #node: Libp2p<{ pubsub: GossipSub; identify: unknown }>;
  readonly #opts: HostOptions;
  readonly #records = new Map<string, PeerRecord>();
  readonly #bootstrap: { addr: Multiaddr; peer: string | undefined; backoffMs: number; nextAt: number }[];
  #redialTimer: NodeJS.Timeout | undefined;
  #stopped = false;

  private constructor(node: Libp2p<{ pubsub: GossipSub; identify: unknown }>, opts: HostOptions) {
    this.#node = node;
    this.#opts = opts;
    this.#bootstrap = opts.bootstrap.map((a) => {
      const addr = multiaddr(a);
      return { addr, peer: addr.getComponents().find((c) => c.name === "p2p")?.value, backoffMs: 250, nextAt: 0 };
    });
  }

  static async start(opts: HostOptions): Promise<P2PHost> {
    const now = opts.now ?? Date.now;
    // The gater reads the ban list of the host created just below.
    let host: P2PHost | undefined;
    const banned = (peerId: PeerId): boolean => host !== undefined && host.isBanned(peerId.toString(), now());
    const maxMessage = Math.max(...[...opts.topics.values()].map((t) => t.maxBytes), 1024);
    const node = await createLibp2p({
      privateKey: opts.privateKey,
      addresses: { listen: [...opts.listen] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionGater: {
        denyDialPeer: banned,
        denyInboundEncryptedConnection: banned,
        denyOutboundEncryptedConnection: banned,
        // loopback and private addresses are where devnets live
        denyDialMultiaddr: () => false,
      },
      services: {
        identify: identify(),
        pubsub: gossipsub({
          globalSignaturePolicy: "StrictNoSign",
          msgIdFn: (m) => gossipMessageId(m.topic, m.data),
          fastMsgIdFn: (m) => Buffer.from(gossipMessageId(m.topic, m.data ?? new Uint8Array())).toString("base64"),
          ignoreDuplicatePublishError: true,
          allowPublishToZeroTopicPeers: true,
          floodPublish: true,
          emitSelf: false,
          // Oversized messages never reach a handler; the handlers' own limits are smaller.
          maxInboundDataLength: maxMessage + 64 * 1024,
          // Loopback devnets put every peer on one IP. Bans are this host's own ledger (penalize),
          // which sees every verdict; gossipsub's score only steers its mesh.
          scoreParams: { IPColocationFactorWeight: 0 },
        }),
      },
    });
    host = new P2PHost(node, opts);
    await host.#wire();
    return host;
  }

  get peerId(): string {
    return this.#node.peerId.toString();
  }

  /** The addresses others can dial, with /p2p/<peer id>. */
  listenAddresses(): string[] {
    return this.#node.getMultiaddrs().map((m) => m.toString());
  }

  async #wire(): Promise<void> {
    const { log, topics, protocols } = this.#opts;
    const pubsub = this.#node.services.pubsub;
    for (const [topic, handler] of topics) {
      pubsub.topicValidators.set(topic, async (peer, message) => {
        const from = peer.toString();
        if (message.data.length > handler.maxBytes) {
          this.penalize(from, PENALTY.OVERSIZED, `oversized message on ${topic}: ${message.data.length} > ${handler.maxBytes}`);
          return TopicValidatorResult.Reject;
        }
        let verdict: Verdict;
        try {
          verdict = await handler.handle(message.data, from);
        } catch (e) {
          log.warn({ err: e, topic }, "topic handler failed");
          verdict = "ignore";
        }
        if (verdict === "reject") this.penalize(from, PENALTY.INVALID, `invalid message on ${topic}`);
        return verdict === "accept" ? TopicValidatorResult.Accept : verdict === "reject" ? TopicValidatorResult.Reject : TopicValidatorResult.Ignore;
      });
      pubsub.subscribe(topic);
    }
    for (const [protocol, handler] of protocols) {
      await this.#node.handle(protocol, (stream: Stream, connection: Connection) => this.#serve(protocol, handler, stream, connection.remotePeer.toString()), {
        maxInboundStreams: 32,
      });
    }
    this.#node.addEventListener("peer:connect", (e) => {
      const peer = e.detail.toString();
      log.debug({ peer }, "peer connected");
      this.#opts.onPeerConnected?.(peer);
    });
    this.#node.addEventListener("peer:disconnect", (e) => {
      const peer = e.detail.toString();
      log.debug({ peer }, "peer disconnected");
      for (const b of this.#bootstrap) if (b.peer === peer) b.nextAt = 0;
    });
    this.#redial();
  }

  async #serve(protocol: string, handler: RequestHandler, stream: Stream, from: string): Promise<void> {
    const lp = lpStream(stream, { maxDataLength: handler.maxRequestBytes });
    try {
      const req = await lp.read({ signal: AbortSignal.timeout(10_000) });
      const res = await handler.respond(req.subarray(), from);
      await lp.write(res, { signal: AbortSignal.timeout(30_000) });
      await stream.close();
    } catch (e) {
      if (e instanceof PeerMisbehaviour) this.penalize(from, e.points, `${protocol}: ${e.message}`);
      else if ((e as { name?: string }).name === "InvalidDataLengthError" || (e as { name?: string }).name === "InvalidMessageLengthError") {
        this.penalize(from, PENALTY.OVERSIZED, `${protocol}: oversized request`);
      } else this.#opts.log.debug({ err: e, protocol, peer: from }, "request failed");
      stream.abort(e as Error);
    }
  }

  /** Sends one request on `protocol` to `peer` and returns the response (at most maxResponseBytes). */
  async request(peer: string, protocol: string, data: Uint8Array, maxResponseBytes: number, timeoutMs = 15_000): Promise<Uint8Array> {
    const target = this.#node.getPeers().find((p) => p.toString() === peer);
    if (!target) throw new Error(`not connected to ${peer}`);
    const signal = AbortSignal.timeout(timeoutMs);
    const stream = await this.#node.dialProtocol(target, protocol, { signal });
    try {
      const lp = lpStream(stream, { maxDataLength: maxResponseBytes });
      await lp.write(data, { signal });
      const res = await lp.read({ signal });
      await stream.close({ signal }).catch(() => undefined);
      return res.subarray();
    } catch (e) {
      stream.abort(e as Error);
      throw e;
    }
  }

  /** Publishes to a topic; false if no peer is subscribed (the message is still marked seen). */
  async publish(topic: string, data: Uint8Array): Promise<boolean> {
    if (this.#stopped) return false;
    try {
      const r = await this.#node.services.pubsub.publish(topic, data);
      return r.recipients.length > 0;
    } catch (e) {
      this.#opts.log.debug({ err: e, topic }, "publish failed");
      return false;
    }
  }

  /** Peers subscribed to `topic`. */
  topicPeers(topic: string): string[] {
    return this.#node.services.pubsub.getSubscribers(topic).map((p) => p.toString());
  }

  /** Adds penalty points; at the threshold the peer is disconnected and banned. */
  penalize(peer: string, points: number, reason: string): void {
    const now = (this.#opts.now ?? Date.now)();
    const r = this.#record(peer, now);
    r.points += points;
    r.offences++;
    this.#opts.log.warn({ peer, points, total: r.points, reason }, "peer penalized");
    if (r.points >= BAN_THRESHOLD && r.bannedUntil <= now) {
      r.bannedUntil = now + (this.#opts.banMs ?? 600_000);
      this.#opts.log.warn({ peer, until: new Date(r.bannedUntil).toISOString() }, "peer banned and disconnected");
      void this.#node.hangUp(this.#peerIdOf(peer) ?? multiaddr(`/p2p/${peer}`)).catch(() => undefined);
    }
  }

  #peerIdOf(peer: string): PeerId | undefined {
    return this.#node.getPeers().find((p) => p.toString() === peer);
  }

  #record(peer: string, now: number): PeerRecord {
    let r = this.#records.get(peer);
    if (!r) {
      r = { points: 0, at: now, bannedUntil: 0, offences: 0 };
      this.#records.set(peer, r);
    }
    r.points = Math.max(0, r.points - ((now - r.at) / 1000) * PENALTY_DECAY_PER_S);
    r.at = now;
    return r;
  }

  isBanned(peer: string, now = (this.#opts.now ?? Date.now)()): boolean {
    const r = this.#records.get(peer);
    return r !== undefined && r.bannedUntil > now;
  }

  /** Banned peers with the time their ban ends (ms since the epoch) and their offence count. */
  banned(): { peerId: string; until: number; offences: number }[] {
    const now = (this.#opts.now ?? Date.now)();
    return [...this.#records].filter(([, r]) => r.bannedUntil > now).map(([peerId, r]) => ({ peerId, until: r.bannedUntil, offences: r.offences }));
  }

  peers(): PeerSummary[] {
    const now = (this.#opts.now ?? Date.now)();
    const boot = new Set(this.#bootstrap.map((b) => b.peer));
    const out = new Map<string, PeerSummary>();
    for (const c of this.#node.getConnections()) {
      const id = c.remotePeer.toString();
      const prev = out.get(id);
      const addresses = [...(prev?.addresses ?? []), c.remoteAddr.toString()];
      out.set(id, { peerId: id, addresses, direction: prev?.direction ?? c.direction, penalty: Math.round(this.#record(id, now).points), bootstrap: boot.has(id) });
    }
    return [...out.values()].sort((a, b) => (a.peerId < b.peerId ? -1 : 1));
  }

  /** Keeps the bootstrap peers connected: dials the missing ones, backing off to 10 s. */
  #redial(): void {
    if (this.#stopped) return;
    const now = Date.now();
    const connected = new Set(this.#node.getPeers().map((p) => p.toString()));
    for (const b of this.#bootstrap) {
      if (b.peer === this.peerId || (b.peer !== undefined && connected.has(b.peer))) {
        b.backoffMs = 250;
        continue;
      }
      if (b.nextAt > now) continue;
      b.nextAt = now + b.backoffMs;
      b.backoffMs = Math.min(b.backoffMs * 2, 10_000);
      this.#node.dial(b.addr, { signal: AbortSignal.timeout(5_000) }).then(
        () => {
          b.backoffMs = 250;
          this.#opts.log.info({ peer: b.peer, addr: b.addr.toString() }, "connected to bootstrap peer");
        },
        (e: Error) => this.#opts.log.debug({ addr: b.addr.toString(), err: e.message }, "bootstrap dial failed"),
      );
    }
    this.#redialTimer = setTimeout(() => this.#redial(), 250);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#redialTimer);
    await this.#node.stop();
  }
}
