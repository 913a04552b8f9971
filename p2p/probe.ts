/**
 * The probe protocol of proof of bandwidth (docs/protocol.md section 6): a witness downloads
 * bytes that its relay must generate from a fresh nonce, checks every byte as it arrives, and
 * measures throughput and latency.
 *
 *   protocol  /cloudcoin/<chainId>/probe/1, one probe a stream
 *   request   one length-prefixed frame (witness -> relay): nonce (32 B) ‖ length (u32 BE),
 *             MIN_PROBE_BYTES <= length <= MAX_PROBE_BYTES (and <= the relay's own limit)
 *   response  exactly `length` raw bytes (not length-prefixed), then the relay closes its
 *             write side. A refused request (malformed frame, length out of range, too many
 *             probes at once) is answered by a stream reset.
 *   bytes     the AES-256-CTR keystream (IV = 16 zero bytes) under
 *             key = SHA-256("cloudcoin/probe/v1" ‖ nonce ‖ relay public key)
 *
 * The bytes depend on the witness's fresh nonce, so a relay cannot serve them from a cache; they
 * depend on the relay's public key, so two relays cannot share one stream. Generating them costs
 * the relay about as much as a memcpy (AES-NI), so an honest relay is limited by its bandwidth,
 * not by the generator (test/perf/bandwidth.ts measures both).
 *
 * This is off-chain code: timings use the monotonic clock (process.hrtime.bigint). What a witness
 * does with a ProbeResult (signing an attestation) is not part of this module.
 *
 * Hosts: createProbeHost builds a minimal libp2p node (tcp, noise, yamux, identify; no gossip)
 * for the relay and bandwidth-witness plugins, which run as their own processes. serveProbes and
 * probe take any ProbeNode, which a libp2p node satisfies as it is.
 */
import "./polyfill.ts";
import { noise } from "@chainsafe/libp2p-noise";
import { yamux, type YamuxMuxerInit } from "@chainsafe/libp2p-yamux";
import { identify } from "@libp2p/identify";
import type { AbortOptions, Connection, Libp2p, PrivateKey, Stream, StreamHandler, StreamHandlerOptions } from "@libp2p/interface";
import { tcp } from "@libp2p/tcp";
import { lpStream } from "@libp2p/utils";
import { multiaddr, type Multiaddr } from "@multiformats/multiaddr";
import { createLibp2p } from "libp2p";
import { createCipheriv, createHash, randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { CodedError } from "../primitives/errors.ts";
import { loadOrCreatePeerKey } from "./peer-key.ts";

export const probeProtocol = (chainId: string): string => `/cloudcoin/${chainId}/probe/1`;

/** Smallest probe a relay must answer: below this, latency dominates the measurement. */
export const MIN_PROBE_BYTES = 64 * 1024;
/** Largest probe the protocol allows (a relay may set a smaller limit). */
export const MAX_PROBE_BYTES = 64 * 1024 * 1024;
/** nonce (32) ‖ length (u32 BE) */
export const PROBE_REQUEST_BYTES = 36;
/** The relay writes the response in chunks of this size, waiting for the muxer to drain. */
export const PROBE_CHUNK_BYTES = 64 * 1024;

const DOMAIN = new TextEncoder().encode("cloudcoin/probe/v1");
const IV = new Uint8Array(16);

// ---- the bytes ----

/** The AES-256 key of the probe stream: SHA-256("cloudcoin/probe/v1" ‖ nonce ‖ relay). */
export function probeKey(nonce: Uint8Array, relay: Uint8Array): Uint8Array {
  if (nonce.length !== 32) throw new RangeError(`probe nonce must be 32 bytes, got ${nonce.length}`);
  if (relay.length !== 32) throw new RangeError(`relay public key must be 32 bytes, got ${relay.length}`);
  return createHash("sha256").update(DOMAIN).update(nonce).update(relay).digest();
}

/** Zeros that the keystream is generated over (never written to). */
let zeros = new Uint8Array(PROBE_CHUNK_BYTES);
const ZEROS_CAP = 1024 * 1024;

/**
 * The probe byte stream of (nonce, relay): successive calls to next(n) return successive bytes of
 * the AES-256-CTR keystream, so the bytes do not depend on how they are split into chunks.
 * Both sides use it: the relay to send, the witness to check.
 */
export class ProbeStream {
  readonly #cipher: ReturnType<typeof createCipheriv>;
  #position = 0;

  constructor(nonce: Uint8Array, relay: Uint8Array) {
    this.#cipher = createCipheriv("aes-256-ctr", probeKey(nonce, relay), IV);
  }

  /** Bytes produced so far. */
  get position(): number {
    return this.#position;
  }

  /** The next `n` bytes of the stream (a fresh buffer). */
  next(n: number): Uint8Array {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`bad byte count ${n}`);
    this.#position += n;
    if (n > zeros.length && zeros.length < ZEROS_CAP) zeros = new Uint8Array(Math.min(ZEROS_CAP, Math.max(n, zeros.length * 2)));
    if (n <= zeros.length) return this.#cipher.update(zeros.subarray(0, n));
    const out = Buffer.allocUnsafe(n);
    for (let off = 0; off < n; off += zeros.length) {
      const k = Math.min(zeros.length, n - off);
      this.#cipher.update(zeros.subarray(0, k)).copy(out, off);
    }
    return out;
  }
}

/** The probe byte stream of (nonce, relay) (same as `new ProbeStream(nonce, relay)`). */
export function probeBytes(nonce: Uint8Array, relay: Uint8Array): ProbeStream {
  return new ProbeStream(nonce, relay);
}

// ---- the request ----

export const ProbeErrorCode = {
  /** a request frame that is not nonce(32) ‖ length(u32) */
  MALFORMED: "PROBE_MALFORMED",
  /** a length outside MIN_PROBE_BYTES..MAX_PROBE_BYTES, or above the relay's limit */
  LENGTH_OUT_OF_RANGE: "PROBE_LENGTH_OUT_OF_RANGE",
  /** the relay is already serving its maximum of concurrent probes */
  BUSY: "PROBE_BUSY",
} as const;
export type ProbeErrorCode = (typeof ProbeErrorCode)[keyof typeof ProbeErrorCode];
export class ProbeError extends CodedError<ProbeErrorCode> {}

export interface ProbeRequest {
  readonly nonce: Uint8Array;
  readonly length: number;
}

function checkLength(length: number, max = MAX_PROBE_BYTES): void {
  if (!Number.isSafeInteger(length) || length < MIN_PROBE_BYTES || length > max) {
    throw new ProbeError(ProbeErrorCode.LENGTH_OUT_OF_RANGE, `probe length ${length} outside ${MIN_PROBE_BYTES}..${max}`);
  }
}

export function encodeProbeRequest(req: ProbeRequest): Uint8Array {
  if (req.nonce.length !== 32) throw new RangeError(`probe nonce must be 32 bytes, got ${req.nonce.length}`);
  checkLength(req.length);
  const out = new Uint8Array(PROBE_REQUEST_BYTES);
  out.set(req.nonce, 0);
  new DataView(out.buffer).setUint32(32, req.length, false);
  return out;
}

/** Decodes and range-checks a request frame (stateless: the relay's own limit is checked by the server). */
export function decodeProbeRequest(frame: Uint8Array): ProbeRequest {
  if (frame.length !== PROBE_REQUEST_BYTES) throw new ProbeError(ProbeErrorCode.MALFORMED, `probe request of ${frame.length} bytes, expected ${PROBE_REQUEST_BYTES}`);
  const length = new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(32, false);
  checkLength(length);
  return { nonce: frame.slice(0, 32), length };
}

// ---- the network ----

/** What the probe protocol needs of a libp2p node (a Libp2p satisfies it, and so does ProbeHost). */
export interface ProbeNode {
  handle(protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void>;
  unhandle(protocol: string): Promise<void>;
  dialProtocol(peer: Multiaddr, protocol: string, options?: AbortOptions): Promise<Stream>;
}

/**
 * Writes `length` bytes taken from `source` to `stream` in chunks of `chunkBytes`, waiting for the
 * stream to drain whenever the muxer asks it to (so memory stays at a few chunks). Does not close.
 */
export async function writeProbeBytes(
  stream: Stream,
  source: { next(n: number): Uint8Array },
  length: number,
  opts: { chunkBytes?: number; signal?: AbortSignal } = {},
): Promise<void> {
  const chunk = opts.chunkBytes ?? PROBE_CHUNK_BYTES;
  for (let sent = 0; sent < length; ) {
    opts.signal?.throwIfAborted();
    const n = Math.min(chunk, length - sent);
    if (!stream.send(source.next(n))) await stream.onDrain(opts.signal ? { signal: opts.signal } : {});
    sent += n;
  }
}

// ---- relay side ----

export interface ServeProbesOptions {
  /** Probes served at the same time; more are refused (stream reset). Default 4. */
  readonly maxConcurrent?: number;
  /** The largest probe this relay answers (at most MAX_PROBE_BYTES, the default). */
  readonly maxBytes?: number;
  /** How long a witness has to send its request once the stream is open. Default 10 s. */
  readonly requestTimeoutMs?: number;
  /** How long one probe's transfer may take before the relay gives up on the witness. Default 120 s. */
  readonly transferTimeoutMs?: number;
  readonly log?: Logger;
}

export const defaultServeProbesOptions = {
  maxConcurrent: 4,
  maxBytes: MAX_PROBE_BYTES,
  requestTimeoutMs: 10_000,
  transferTimeoutMs: 120_000,
} as const;

export interface ProbeServerStats {
  readonly active: number;
  readonly served: number;
  /** streams that failed after the request was accepted (witness gone, transfer timeout) */
  readonly failed: number;
  /** refused requests by code */
  readonly refused: Readonly<Record<ProbeErrorCode, number>>;
}

export interface ProbeServer {
  stats(): ProbeServerStats;
  /** Unregisters the protocol (probes in flight run to their end). */
  stop(): Promise<void>;
}

/** Registers the relay side of the probe protocol on `node`: answers honest probes for `relayPublicKey`. */
export async function serveProbes(node: ProbeNode, chainId: string, relayPublicKey: Uint8Array, opts: ServeProbesOptions = {}): Promise<ProbeServer> {
  if (relayPublicKey.length !== 32) throw new RangeError(`relay public key must be 32 bytes, got ${relayPublicKey.length}`);
  const o = { ...defaultServeProbesOptions, ...opts };
  if (!Number.isSafeInteger(o.maxConcurrent) || o.maxConcurrent < 1) throw new RangeError(`maxConcurrent must be >= 1, got ${o.maxConcurrent}`);
  if (o.maxBytes < MIN_PROBE_BYTES || o.maxBytes > MAX_PROBE_BYTES) throw new RangeError(`maxBytes must be within ${MIN_PROBE_BYTES}..${MAX_PROBE_BYTES}`);
  const relay = Uint8Array.from(relayPublicKey);
  const protocol = probeProtocol(chainId);
  const refused: Record<ProbeErrorCode, number> = { [ProbeErrorCode.MALFORMED]: 0, [ProbeErrorCode.LENGTH_OUT_OF_RANGE]: 0, [ProbeErrorCode.BUSY]: 0 };
  let active = 0;
  let served = 0;
  let failed = 0;

  const refuse = (stream: Stream, peer: string, e: ProbeError): void => {
    refused[e.code]++;
    o.log?.debug({ peer, code: e.code, reason: e.message }, "probe refused");
    stream.abort(e);
  };

  const serve = async (stream: Stream, connection: Connection): Promise<void> => {
    const peer = connection.remotePeer.toString();
    if (active >= o.maxConcurrent) return refuse(stream, peer, new ProbeError(ProbeErrorCode.BUSY, `already serving ${active} probes`));
    active++;
    try {
      let req: ProbeRequest;
      try {
        const lp = lpStream(stream, { maxDataLength: PROBE_REQUEST_BYTES });
        req = decodeProbeRequest((await lp.read({ signal: AbortSignal.timeout(o.requestTimeoutMs) })).subarray());
        checkLength(req.length, o.maxBytes);
        lp.unwrap();
      } catch (e) {
        return refuse(stream, peer, e instanceof ProbeError ? e : new ProbeError(ProbeErrorCode.MALFORMED, `bad probe request: ${(e as Error).message}`));
      }
      try {
        const signal = AbortSignal.timeout(o.transferTimeoutMs);
        await writeProbeBytes(stream, new ProbeStream(req.nonce, relay), req.length, { signal });
        await stream.close({ signal });
        served++;
      } catch (e) {
        failed++;
        o.log?.debug({ peer, err: (e as Error).message }, "probe transfer failed");
        stream.abort(e as Error);
      }
    } finally {
      active--;
    }
  };

  // libp2p's per-connection stream limit must not refuse before our global cap does.
  await node.handle(protocol, serve, { maxInboundStreams: o.maxConcurrent + 4 });
  return {
    stats: () => ({ active, served, failed, refused: { ...refused } }),
    stop: () => node.unhandle(protocol),
  };
}

// ---- witness side ----

export type ProbeFailure = "mismatch" | "short" | "timeout" | "dial" | "protocol";

export type ProbeResult =
  | {
      readonly ok: true;
      readonly bytes: bigint;
      /** bytes per second: bytes x 1e9 / (ns from sending the request to the last byte) */
      readonly throughput: bigint;
      /** microseconds from sending the request to the first response byte */
      readonly latency: bigint;
      /** the whole probe, dial included */
      readonly elapsedMs: number;
    }
  | {
      readonly ok: false;
      /**
       * mismatch: a byte differs from the expected stream (checked as each chunk arrives);
       * short: the relay ended (or reset) the stream after some but not all bytes;
       * timeout: the probe did not finish within timeoutMs;
       * dial: the relay could not be reached (or its address has no /p2p/<peer id>);
       * protocol: the relay refused (reset before any byte), does not speak the protocol,
       *           or sent more bytes than requested.
       */
      readonly reason: ProbeFailure;
      /** bytes received and verified before the failure */
      readonly bytesOk: number;
      readonly message: string;
    };

export interface ProbeOptions {
  /** Bound on the whole probe, dial included. Default 60 s. */
  readonly timeoutMs?: number;
}

const fail = (reason: ProbeFailure, bytesOk: number, message: string): ProbeResult => ({ ok: false, reason, bytesOk, message });

/** Index of the first differing byte of two equally long arrays. */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return a.length;
}

/**
 * Probes the relay at `relayAddr` (with /p2p/<peer id>): asks for `length` bytes under a fresh
 * nonce, verifies each received chunk against the expected stream as it arrives (a mismatch ends
 * the probe at once), and measures latency and throughput. Never throws for what the relay or the
 * network does (that is a failed ProbeResult); throws only for a bad `length` (ProbeError
 * LENGTH_OUT_OF_RANGE) or a relay key that is not 32 bytes (RangeError). An existing connection
 * to the relay is reused and left open.
 */
export async function probe(
  node: ProbeNode,
  relayAddr: Multiaddr | string,
  chainId: string,
  relayPublicKey: Uint8Array,
  length: number,
  opts: ProbeOptions = {},
): Promise<ProbeResult> {
  checkLength(length);
  const nonce = randomBytes(32);
  const expected = new ProbeStream(nonce, relayPublicKey); // also checks the key's length
  const started = process.hrtime.bigint();
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const signal = AbortSignal.timeout(timeoutMs);
  let addr: Multiaddr;
  try {
    addr = typeof relayAddr === "string" ? multiaddr(relayAddr) : relayAddr;
  } catch (e) {
    return fail("dial", 0, `bad relay address: ${(e as Error).message}`);
  }
  if (!addr.getComponents().some((c) => c.name === "p2p")) return fail("dial", 0, `relay address ${addr.toString()} has no /p2p/<peer id>`);

  let stream: Stream;
  try {
    stream = await node.dialProtocol(addr, probeProtocol(chainId), { signal });
  } catch (e) {
    if (signal.aborted) return fail("timeout", 0, `dial timed out: ${(e as Error).message}`);
    const name = (e as Error).name;
    return fail(name === "UnsupportedProtocolError" ? "protocol" : "dial", 0, `${name}: ${(e as Error).message}`);
  }

  let received = 0;
  let tFirst = 0n;
  let tLast = 0n;
  let tSent = 0n;

  const outcome = new Promise<ProbeResult | "complete">((resolve) => {
    // Listeners go first, then the stream is aborted if need be: abort() dispatches 'close' at once.
    let settled = false;
    const done = (r: ProbeResult | "complete", abort?: string): void => {
      if (settled) return;
      settled = true;
      stream.removeEventListener("message", onMessage);
      stream.removeEventListener("remoteCloseWrite", onEnd);
      stream.removeEventListener("close", onClose);
      signal.removeEventListener("abort", onAbort);
      resolve(r);
      if (abort !== undefined) stream.abort(new Error(abort));
    };
    const onMessage = (evt: { data: Uint8Array | Iterable<Uint8Array> }): void => {
      const now = process.hrtime.bigint();
      if (received === 0) tFirst = now;
      tLast = now;
      const pieces = evt.data instanceof Uint8Array ? [evt.data] : evt.data;
      for (const piece of pieces) {
        const take = Math.min(piece.length, length - received);
        if (take > 0) {
          const got = Buffer.from(piece.buffer, piece.byteOffset, take);
          const want = expected.next(take);
          if (!got.equals(want)) {
            const at = received + firstDifference(got, want);
            return done(fail("mismatch", at, `byte ${at} differs from the expected stream`), "probe bytes mismatch");
          }
          received += take;
        }
        if (take < piece.length) return done(fail("protocol", received, `the relay sent more than the ${length} bytes requested`), "more bytes than requested");
      }
    };
    const onEnd = (): void => done(received === length ? "complete" : fail("short", received, `the relay ended the stream after ${received} of ${length} bytes`));
    const onClose = (evt: { error?: Error }): void => {
      const why = evt.error ? ` (${evt.error.name})` : "";
      if (received === length && evt.error === undefined) done("complete");
      else if (received === 0) done(fail("protocol", 0, `the relay closed the stream without answering${why}`));
      else done(fail("short", received, `the stream ended after ${received} of ${length} bytes${why}`));
    };
    const onAbort = (): void => done(fail("timeout", received, `no complete answer within ${timeoutMs} ms (${received} of ${length} bytes)`), "probe timed out");
    signal.addEventListener("abort", onAbort);
    stream.addEventListener("message", onMessage);
    stream.addEventListener("remoteCloseWrite", onEnd);
    stream.addEventListener("close", onClose);
    if (signal.aborted) onAbort();
    // the relay may have reset the stream while libp2p finished opening it (a refusal)
    else if (stream.status !== "open") onClose({ error: stream.status === "closed" ? undefined : new Error(`stream ${stream.status}`) });
  });

  try {
    // The frame is written by hand (a one-byte varint length, as lpStream writes it): an lpStream
    // wrapper would also buffer the response and hand it back on unwrap.
    const frame = new Uint8Array(1 + PROBE_REQUEST_BYTES);
    frame[0] = PROBE_REQUEST_BYTES;
    frame.set(encodeProbeRequest({ nonce, length }), 1);
    tSent = process.hrtime.bigint();
    if (!stream.send(frame)) await stream.onDrain({ signal });
    await stream.close({ signal });
  } catch (e) {
    // the listeners above settle the outcome (timeout, or the relay's reset)
    stream.abort(e as Error);
  }
  const r = await outcome;
  if (r !== "complete") return r;
  const ns = tLast - tSent > 0n ? tLast - tSent : 1n;
  return {
    ok: true,
    bytes: BigInt(received),
    throughput: (BigInt(received) * 1_000_000_000n) / ns,
    latency: (tFirst - tSent) / 1000n,
    elapsedMs: Number(process.hrtime.bigint() - started) / 1e6,
  };
}

// ---- a minimal host for the plugins ----

export interface ProbeHostOptions {
  /** The libp2p identity; or `keyPath` to load (or create) a persisted one (p2p/peer-key.ts). */
  readonly privateKey?: PrivateKey;
  readonly keyPath?: string;
  /** Listen multiaddrs, e.g. /ip4/127.0.0.1/tcp/0 (none for a witness that only dials). */
  readonly listen: readonly string[];
  /**
   * Muxer settings; default: yamux's own (256 KiB initial, 16 MiB max stream window). Larger
   * windows did not raise loopback throughput (test/perf/bandwidth.ts, figure 1b): the CPU
   * (noise, yamux framing) is the limit there, not the window.
   */
  readonly yamux?: YamuxMuxerInit;
}

/** A libp2p node with tcp, noise, yamux and identify: what the relay and witness plugins run. */
export class ProbeHost implements ProbeNode {
  readonly libp2p: Libp2p;

  constructor(libp2p: Libp2p) {
    this.libp2p = libp2p;
  }

  get peerId(): string {
    return this.libp2p.peerId.toString();
  }

  /** The addresses others can dial, with /p2p/<peer id>. */
  listenAddresses(): string[] {
    return this.libp2p.getMultiaddrs().map((m) => m.toString());
  }

  handle(protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void> {
    return this.libp2p.handle(protocol, handler, options);
  }

  unhandle(protocol: string): Promise<void> {
    return this.libp2p.unhandle(protocol);
  }

  dialProtocol(peer: Multiaddr, protocol: string, options?: AbortOptions): Promise<Stream> {
    return this.libp2p.dialProtocol(peer, protocol, options);
  }

  async stop(): Promise<void> {
    await this.libp2p.stop();
  }
}

export async function createProbeHost(opts: ProbeHostOptions): Promise<ProbeHost> {
  const privateKey = opts.privateKey ?? (opts.keyPath !== undefined ? (await loadOrCreatePeerKey(opts.keyPath)).key : undefined);
  const node = await createLibp2p({
    ...(privateKey ? { privateKey } : {}),
    addresses: { listen: [...opts.listen] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux(opts.yamux)],
    // loopback and private addresses are where devnets live
    connectionGater: { denyDialMultiaddr: () => false },
    services: { identify: identify() },
  });
  return new ProbeHost(node);
}
