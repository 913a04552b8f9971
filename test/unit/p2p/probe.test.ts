/**
 * p2p/probe.ts, the probe protocol of proof of bandwidth: the byte stream (determinism, chunking,
 * a pinned vector and an independent AES check), the request frame, and probes between real
 * libp2p hosts on 127.0.0.1: an honest relay passes; relays serving cached, random or truncated
 * bytes, or nothing at all, fail with the right reason; the relay refuses bad requests and more
 * than its concurrent maximum, and keeps serving honest probes afterwards.
 *
 * One relay host serves every kind of relay, each under its own chain id (so its own protocol);
 * the dishonest ones live here, built from the module's exported pieces.
 */
import t from "tap";
import { generateKeyPair } from "@libp2p/crypto/keys";
import type { Stream } from "@libp2p/interface";
import { peerIdFromPrivateKey } from "@libp2p/peer-id";
import { lpStream } from "@libp2p/utils";
import { multiaddr } from "@multiformats/multiaddr";
import { sha256 } from "@noble/hashes/sha2.js";
import { createCipheriv, randomBytes } from "node:crypto";
import {
  createProbeHost,
  decodeProbeRequest,
  encodeProbeRequest,
  MAX_PROBE_BYTES,
  MIN_PROBE_BYTES,
  probe,
  probeBytes,
  ProbeErrorCode,
  probeKey,
  probeProtocol,
  ProbeStream,
  PROBE_REQUEST_BYTES,
  serveProbes,
  writeProbeBytes,
  type ProbeHost,
  type ProbeResult,
} from "../../../p2p/probe.ts";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const concat = (parts: Uint8Array[]): Uint8Array => Buffer.concat(parts);
const nonceA = new Uint8Array(32).fill(1);
const nonceB = new Uint8Array(32).fill(2);
const relayKey = new Uint8Array(32).map((_, i) => i);
const otherRelayKey = new Uint8Array(32).map((_, i) => 255 - i);

t.test("ProbeStream: deterministic, independent of chunking, bound to nonce and relay", async (t) => {
  const whole = new ProbeStream(nonceA, relayKey).next(110);
  const s = new ProbeStream(nonceA, relayKey);
  t.same(hex(concat([s.next(10), s.next(100)])), hex(whole), "next(10) + next(100) = next(110)");
  t.equal(s.position, 110);
  // odd splits across AES blocks, and chunks larger than the internal zero buffer
  const big = new ProbeStream(nonceA, relayKey).next(3 * 1024 * 1024 + 7);
  const parts: Uint8Array[] = [];
  const p = probeBytes(nonceA, relayKey);
  for (const n of [1, 15, 17, 65_536, 1, 2 * 1024 * 1024 + 3, 0, 65_535]) parts.push(p.next(n));
  const got = concat(parts);
  t.equal(got.length, 1 + 15 + 17 + 65_536 + 1 + 2 * 1024 * 1024 + 3 + 65_535);
  t.ok(Buffer.from(big.subarray(0, got.length)).equals(got), "any chunking yields the same bytes");
  t.not(hex(new ProbeStream(nonceB, relayKey).next(64)), hex(whole.subarray(0, 64)), "another nonce, other bytes");
  t.not(hex(new ProbeStream(nonceA, otherRelayKey).next(64)), hex(whole.subarray(0, 64)), "another relay, other bytes");
  t.throws(() => new ProbeStream(new Uint8Array(31), relayKey), RangeError);
  t.throws(() => new ProbeStream(nonceA, new Uint8Array(33)), RangeError);

  // the construction, checked independently: key = sha256(domain ‖ nonce ‖ relay) (noble), and the
  // CTR keystream block i is AES-256(key, 128-bit big-endian counter i) (ECB over counter blocks)
  const key = sha256(concat([new TextEncoder().encode("cloudcoin/probe/v1"), nonceA, relayKey]));
  t.equal(hex(probeKey(nonceA, relayKey)), hex(key));
  const counters = new Uint8Array(48);
  counters[15] = 0;
  counters[31] = 1;
  counters[47] = 2;
  const ecb = createCipheriv("aes-256-ecb", key, null).setAutoPadding(false);
  t.equal(hex(whole.subarray(0, 48)), hex(concat([ecb.update(counters), ecb.final()])));
  // pinned, so that a change of the construction cannot pass unnoticed
  t.equal(hex(whole.subarray(0, 16)), "a1b5662a6d3ab935a4dd41ab1e0eb35f");
});

t.test("request frame: nonce ‖ u32 BE length within the protocol's limits", async (t) => {
  const frame = encodeProbeRequest({ nonce: nonceA, length: 1_000_000 });
  t.equal(frame.length, PROBE_REQUEST_BYTES);
  t.equal(hex(frame.subarray(32)), "000f4240");
  const back = decodeProbeRequest(frame);
  t.same([hex(back.nonce), back.length], [hex(nonceA), 1_000_000]);
  t.throws(() => decodeProbeRequest(frame.subarray(0, 35)), { code: ProbeErrorCode.MALFORMED });
  t.throws(() => decodeProbeRequest(concat([frame, new Uint8Array(1)])), { code: ProbeErrorCode.MALFORMED });
  const withLength = (n: number) => {
    const f = frame.slice();
    new DataView(f.buffer).setUint32(32, n, false);
    return f;
  };
  t.equal(decodeProbeRequest(withLength(MIN_PROBE_BYTES)).length, MIN_PROBE_BYTES);
  t.equal(decodeProbeRequest(withLength(MAX_PROBE_BYTES)).length, MAX_PROBE_BYTES);
  t.throws(() => decodeProbeRequest(withLength(MIN_PROBE_BYTES - 1)), { code: ProbeErrorCode.LENGTH_OUT_OF_RANGE });
  t.throws(() => decodeProbeRequest(withLength(MAX_PROBE_BYTES + 1)), { code: ProbeErrorCode.LENGTH_OUT_OF_RANGE });
  t.throws(() => encodeProbeRequest({ nonce: nonceA, length: MAX_PROBE_BYTES + 1 }), { code: ProbeErrorCode.LENGTH_OUT_OF_RANGE });
});

// ---- real hosts ----

/** A relay that reads the request like an honest one and then misbehaves. */
function dishonest(host: ProbeHost, chainId: string, answer: (stream: Stream, nonce: Uint8Array, length: number) => Promise<void>): Promise<void> {
  return host.handle(probeProtocol(chainId), async (stream) => {
    try {
      const lp = lpStream(stream, { maxDataLength: PROBE_REQUEST_BYTES });
      const req = decodeProbeRequest((await lp.read({ signal: AbortSignal.timeout(5_000) })).subarray());
      lp.unwrap();
      await answer(stream, req.nonce, req.length);
    } catch (e) {
      stream.abort(e as Error);
    }
  });
}

/** Sends raw bytes on the probe protocol; resolves with whether the relay reset the stream and how much it sent. */
async function rawRequest(host: ProbeHost, addr: string, chainId: string, bytes: Uint8Array): Promise<{ reset: boolean; received: number }> {
  const stream = await host.dialProtocol(multiaddr(addr), probeProtocol(chainId), { signal: AbortSignal.timeout(5_000) });
  let received = 0;
  stream.addEventListener("message", (e) => void (received += e.data.byteLength));
  const closed = new Promise<boolean>((resolve) => {
    stream.addEventListener("close", (e) => resolve(e.error !== undefined));
    setTimeout(() => resolve(false), 5_000).unref();
  });
  stream.send(bytes);
  await stream.close().catch(() => undefined);
  const reset = await closed;
  if (stream.status === "open") stream.abort(new Error("test done"));
  return { reset, received };
}

const lpFrame = (payload: Uint8Array): Uint8Array => concat([Uint8Array.of(payload.length), payload]);
const failure = (r: ProbeResult) => (r.ok ? "ok" : r.reason);

t.test("probes between real hosts on 127.0.0.1", async (t) => {
  const relay = await createProbeHost({ listen: ["/ip4/127.0.0.1/tcp/0"] });
  const witness = await createProbeHost({ listen: [] });
  t.teardown(async () => {
    await witness.stop();
    await relay.stop();
  });
  const addr = relay.listenAddresses()[0]!;
  t.match(addr, /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3Koo/, "listen addresses carry /p2p/<peer id>");
  t.equal(addr.split("/p2p/")[1], relay.peerId);

  const honest = await serveProbes(relay, "honest", relayKey, { maxConcurrent: 2, maxBytes: 8 * 1024 * 1024 });

  let firstNonce: Uint8Array | undefined;
  await dishonest(relay, "cached", async (stream, nonce, length) => {
    firstNonce ??= nonce;
    await writeProbeBytes(stream, new ProbeStream(firstNonce, relayKey), length);
    await stream.close();
  });
  await dishonest(relay, "random", async (stream, _nonce, length) => {
    await writeProbeBytes(stream, { next: (n) => randomBytes(n) }, length);
    await stream.close();
  });
  await dishonest(relay, "short", async (stream, nonce, length) => {
    await writeProbeBytes(stream, new ProbeStream(nonce, relayKey), length / 2);
    await stream.close();
  });
  await dishonest(relay, "other-key", async (stream, nonce, length) => {
    // honest bytes, but for another relay's key: a relay cannot pass off another's stream
    await writeProbeBytes(stream, new ProbeStream(nonce, otherRelayKey), length);
    await stream.close();
  });
  await dishonest(relay, "silent", async (stream) => {
    await new Promise((resolve) => stream.addEventListener("close", resolve));
  });

  await t.test("honest relay: every byte checked, throughput and latency measured", async (t) => {
    const length = 4 * 1024 * 1024;
    const r = await probe(witness, addr, "honest", relayKey, length, { timeoutMs: 20_000 });
    if (!r.ok) return t.fail(`probe failed: ${r.reason} ${r.message}`);
    t.equal(r.bytes, BigInt(length));
    t.ok(r.throughput > 0n, `throughput ${r.throughput} B/s`);
    t.ok(r.latency > 0n, `latency ${r.latency} µs`);
    t.ok(r.elapsedMs > 0);
    const small = await probe(witness, multiaddr(addr), "honest", relayKey, MIN_PROBE_BYTES, { timeoutMs: 20_000 });
    t.equal(failure(small), "ok", "the smallest probe, to a Multiaddr");
    t.equal(honest.stats().served, 2);
  });

  await t.test("dishonest relays are caught, each with its reason", async (t) => {
    const length = 1024 * 1024;
    const first = await probe(witness, addr, "cached", relayKey, length, { timeoutMs: 20_000 });
    t.equal(failure(first), "ok", "the cached relay's first answer is honest");
    const cached = await probe(witness, addr, "cached", relayKey, length, { timeoutMs: 20_000 });
    t.equal(failure(cached), "mismatch", "replaying the bytes of an earlier nonce");
    if (!cached.ok) t.ok(cached.bytesOk < 64, `caught at byte ${cached.bytesOk}`);
    const random = await probe(witness, addr, "random", relayKey, length, { timeoutMs: 20_000 });
    t.equal(failure(random), "mismatch", "random bytes");
    t.equal(failure(await probe(witness, addr, "other-key", relayKey, length, { timeoutMs: 20_000 })), "mismatch", "another relay's stream");
    const short = await probe(witness, addr, "short", relayKey, length, { timeoutMs: 20_000 });
    t.equal(failure(short), "short", "half the bytes, then the end of the stream");
    if (!short.ok) t.equal(short.bytesOk, length / 2, "the half it sent was verified");
    const t0 = performance.now();
    const silent = await probe(witness, addr, "silent", relayKey, length, { timeoutMs: 500 });
    const waited = performance.now() - t0;
    t.equal(failure(silent), "timeout", "a relay that never answers");
    t.ok(waited >= 450 && waited < 3_000, `gave up after ${Math.round(waited)} ms`);
    t.equal(failure(await probe(witness, addr, "no-such-chain", relayKey, length, { timeoutMs: 5_000 })), "protocol", "a relay that does not speak the protocol");
    const noPeer = await probe(witness, addr.split("/p2p/")[0]!, "honest", relayKey, length, { timeoutMs: 5_000 });
    t.equal(failure(noPeer), "dial", "an address without /p2p/<peer id>");
    // a peer nobody runs, on a port nobody listens on
    const nobody = peerIdFromPrivateKey(await generateKeyPair("Ed25519")).toString();
    const gone = await probe(witness, `/ip4/127.0.0.1/tcp/1/p2p/${nobody}`, "honest", relayKey, length, { timeoutMs: 5_000 });
    t.equal(failure(gone), "dial", "nobody listening");
  });

  await t.test("the relay refuses bad requests and keeps serving honest probes", async (t) => {
    const before = honest.stats().refused;
    const over = await probe(witness, addr, "honest", relayKey, 16 * 1024 * 1024, { timeoutMs: 5_000 });
    t.equal(failure(over), "protocol", "over this relay's limit: refused");
    const req = encodeProbeRequest({ nonce: nonceA, length: MIN_PROBE_BYTES });
    const withLength = (n: number) => {
      const f = req.slice();
      new DataView(f.buffer).setUint32(32, n, false);
      return f;
    };
    const cases: [string, Uint8Array][] = [
      ["over the protocol's maximum", lpFrame(withLength(MAX_PROBE_BYTES + 1))],
      ["under the minimum", lpFrame(withLength(MIN_PROBE_BYTES - 1))],
      ["a frame too short", lpFrame(req.subarray(0, 20))],
      ["a frame too long", concat([Uint8Array.of(0xe8, 0x07), new Uint8Array(1000)])],
    ];
    for (const [what, bytes] of cases) {
      const r = await rawRequest(witness, addr, "honest", bytes);
      t.ok(r.reset, `${what}: stream reset`);
      t.equal(r.received, 0, `${what}: no bytes served`);
    }
    const after = honest.stats().refused;
    t.equal(after[ProbeErrorCode.LENGTH_OUT_OF_RANGE] - before[ProbeErrorCode.LENGTH_OUT_OF_RANGE], 3);
    t.equal(after[ProbeErrorCode.MALFORMED] - before[ProbeErrorCode.MALFORMED], 2);
    t.equal(failure(await probe(witness, addr, "honest", relayKey, 1024 * 1024, { timeoutMs: 20_000 })), "ok", "an honest probe afterwards");
  });

  await t.test("the concurrency cap holds", async (t) => {
    const length = 4 * 1024 * 1024;
    const both = await Promise.all([1, 2].map(() => probe(witness, addr, "honest", relayKey, length, { timeoutMs: 20_000 })));
    t.same(both.map(failure), ["ok", "ok"], "up to the cap, probes run side by side");
    // two probes that the witness does not read (paused: no window updates) hold both slots
    const held: Stream[] = [];
    for (let i = 0; i < 2; i++) {
      const s = await witness.dialProtocol(multiaddr(addr), probeProtocol("honest"), { signal: AbortSignal.timeout(5_000) });
      s.pause();
      s.send(lpFrame(encodeProbeRequest({ nonce: randomBytes(32), length })));
      held.push(s);
    }
    await until(() => honest.stats().active === 2, "both slots taken");
    const busyBefore = honest.stats().refused[ProbeErrorCode.BUSY];
    const third = await probe(witness, addr, "honest", relayKey, length, { timeoutMs: 5_000 });
    t.equal(failure(third), "protocol", "a third probe is refused");
    t.equal(honest.stats().refused[ProbeErrorCode.BUSY], busyBefore + 1);
    t.equal(honest.stats().active, 2);
    for (const s of held) s.abort(new Error("test releases the slot"));
    await until(() => honest.stats().active === 0, "slots released when the witnesses go");
    t.equal(failure(await probe(witness, addr, "honest", relayKey, length, { timeoutMs: 20_000 })), "ok", "served again once a slot is free");
  });

  await honest.stop();
  t.equal(failure(await probe(witness, addr, "honest", relayKey, MIN_PROBE_BYTES, { timeoutMs: 5_000 })), "protocol", "stopped: the protocol is gone");
});

async function until(cond: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
